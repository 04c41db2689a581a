"""Every public name has a docstring and a place in the API reference.

The public names are the ``__all__`` of gilfree and of its public modules.
The API reference is the autosummary lists in ``docs/api/*.md``: a name is
documented when a listed entry (module of the page's ``currentmodule`` plus
the entry) is that object.  The docs build (``sphinx-build -W``) renders
those lists; this test keeps them complete without building them.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

PUBLIC_MODULES = [
    "gilfree",
    "gilfree.dtw",
    "gilfree.parallel",
    "gilfree.distributed",
    "gilfree.bench",
]

API_DIR = Path(__file__).resolve().parents[1] / "docs" / "api"

pytestmark = pytest.mark.skipif(
    not API_DIR.is_dir(), reason="docs/api is not in this tree (an sdist)"
)


def _public_names():
    for modname in PUBLIC_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:  # an optional dependency of the module
            pytest.skip(f"{modname} cannot be imported here: {exc}")
        for name in module.__all__:
            yield modname, name


def _resolve(fullname):
    """The object a dotted name refers to, or a sentinel when absent."""
    parts = fullname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _ABSENT
        return obj
    return _ABSENT


_ABSENT = object()


def _documented_entries():
    """Fully qualified names listed in the API reference's autosummaries."""
    entries = {}
    for page in sorted(API_DIR.glob("*.md")):
        module = None
        in_autosummary = False
        for line in page.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\s*\.\. currentmodule::\s*(\S+)", line)
            if m:
                module = m.group(1)
                continue
            if re.match(r"\s*\.\. autosummary::", line):
                in_autosummary = True
                continue
            if in_autosummary:
                stripped = line.strip()
                if stripped.startswith(":") or not stripped:
                    continue
                if line.startswith("```") or not line.startswith("   "):
                    in_autosummary = False
                    continue
                entries[f"{module}.{stripped.lstrip('~')}"] = page.name
    return entries


def _same(a, b):
    return a is b or (a == b if isinstance(a, str) else False)


def test_api_reference_lists_every_public_name():
    entries = _documented_entries()
    assert entries, f"no autosummary entries found under {API_DIR}"
    objects = [(name, _resolve(name)) for name in entries]
    missing = []
    for modname, name in _public_names():
        obj = getattr(importlib.import_module(modname), name)
        if f"{modname}.{name}" in entries or getattr(obj, "__name__", None) in PUBLIC_MODULES:
            continue  # listed, or a public module with a page of its own
        if not any(_same(obj, other) for _, other in objects):
            missing.append(f"{modname}.{name}")
    assert not missing, (
        "public names missing from the API reference (add them to an autosummary "
        f"list in docs/api/*.md): {', '.join(missing)}"
    )


def test_api_reference_names_exist():
    """An entry that names nothing would break the docs build."""
    from_conf = _optional_names()
    absent = [
        f"{name} (docs/api/{page})"
        for name, page in _documented_entries().items()
        if _resolve(name) is _ABSENT and name not in from_conf
    ]
    assert not absent, f"API reference entries that do not exist: {', '.join(absent)}"


def _optional_names():
    """docs/conf.py's OPTIONAL_NAMES: names listed before they are merged."""
    text = (API_DIR.parent / "conf.py").read_text(encoding="utf-8")
    block = re.search(r"OPTIONAL_NAMES = \{(.*?)\}", text, re.S)
    return set(re.findall(r'"([\w.]+)"', block.group(1))) if block else set()


def _has_own_docstring(obj, modname, name):
    if inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj):
        doc = inspect.getdoc(obj)
        if inspect.isclass(obj) and doc and doc == inspect.getdoc(obj.__mro__[1]):
            return False  # inherited only
        return bool(doc and doc.strip())
    # data: a "#:" comment on the line before its assignment, in the module
    # that assigns it
    for source_mod in _defining_modules(modname):
        try:
            lines = inspect.getsource(source_mod).splitlines()
        except (OSError, TypeError):
            continue
        for i, line in enumerate(lines):
            if re.match(rf"{re.escape(name)}\s*(:[^=]*)?=", line):
                return i > 0 and lines[i - 1].lstrip().startswith("#:")
    return False


def _defining_modules(modname):
    """The module and its private submodules (where re-exported data live)."""
    module = importlib.import_module(modname)
    yield module
    prefix = modname + "."
    for other in list(importlib.sys.modules.values()):
        if getattr(other, "__name__", "").startswith(prefix):
            yield other


def test_every_public_name_has_a_docstring():
    lacking = []
    for modname, name in _public_names():
        obj = getattr(importlib.import_module(modname), name)
        if not _has_own_docstring(obj, modname, name):
            lacking.append(f"{modname}.{name}")
    assert not lacking, f"public names without a docstring: {', '.join(lacking)}"


def test_public_modules_have_docstrings():
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        assert (module.__doc__ or "").strip(), f"{modname} has no module docstring"


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        else:
            yield from (s for s in action.option_strings if s not in ("-h", "--help"))


def test_cli_reference_lists_every_option():
    from gilfree.cli import build_parser

    text = (API_DIR.parent / "cli.md").read_text(encoding="utf-8")
    missing = sorted({o for o in _options(build_parser()) if f"`{o}" not in text})
    assert not missing, f"options missing from docs/cli.md: {', '.join(missing)}"
