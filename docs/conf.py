"""Sphinx configuration of gilfree's documentation.

Sphinx with MyST Markdown pages, numpydoc docstrings, an autosummary API
reference (one generated page per public name) and the pydata theme.  Build:

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

The docs are built from the *installed* package (like the tests): ``src/``
is not put on ``sys.path``.
"""

import importlib
import os
import re
from datetime import date

import gilfree

project = "gilfree"
author = "gilfree developers"
copyright = f"{date.today().year}, {author}"
release = gilfree.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "sphinx_design",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
# signatures show defaults as written (np.float64), not their repr
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Checks on every documented object; a failure is a warning, and the CI
# build turns warnings into errors.  GL08: the object has no docstring.
numpydoc_validation_checks = {"GL08"}
# ... on the public names themselves: a method or attribute listed on its
# class's page is summarised there, and tests/test_docs.py checks the names.
numpydoc_validation_exclude = {r"^gilfree\.(\w+\.)*[A-Z]\w*\.\w+$"}

# -- doctest ------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import gilfree
"""

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gilfree {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting-started": [], "changelog": []}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# -- pages and names that other work adds -------------------------------------
# A toctree line or an API name listed here is dropped from the page source
# when its target does not exist in this tree yet (a page still being
# written, a function not yet merged); once it exists it is built like any
# other, and the -W build checks it.
OPTIONAL_PAGES = {"contributing", "guide/compare"}
OPTIONAL_NAMES = {
    "gilfree.compare",
    "gilfree.parzen_density",
    "gilfree.get_tuning",
    "gilfree.set_tuning",
    "gilfree.tuning",
    "gilfree.parallel.last_plan",
    "gilfree.parallel.Plan",
    "gilfree.distributed.parzen_density",
}

_HERE = os.path.dirname(os.path.abspath(__file__))


def _page_exists(docname):
    return os.path.exists(os.path.join(_HERE, docname + ".md"))


def _name_exists(fullname):
    module, _, attr = fullname.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), attr)
    except ImportError:
        return False


def _current_module_lines(text):
    """Yield (line, fullname or None) for the lines of an autosummary list."""
    module = None
    for line in text.splitlines(keepends=True):
        m = re.match(r"\s*(?:\.\. currentmodule::|```\{currentmodule\})\s*(\S+)", line)
        if m:
            module = m.group(1).strip("`")
        entry = line.strip()
        if module and re.fullmatch(r"~?[A-Za-z_][\w.]*", entry or "-"):
            yield line, f"{module}.{entry.lstrip('~')}"
        else:
            yield line, None


def _drop_absent(app, docname, source):
    text = source[0]
    kept = []
    for line, fullname in _current_module_lines(text):
        if fullname in OPTIONAL_NAMES and not _name_exists(fullname):
            continue
        stripped = line.strip()
        if stripped in OPTIONAL_PAGES or any(
            stripped == os.path.relpath(p, os.path.dirname(docname) or ".") for p in OPTIONAL_PAGES
        ):
            target = os.path.normpath(os.path.join(os.path.dirname(docname), stripped))
            if not _page_exists(target):
                continue
        kept.append(line)
    source[0] = "".join(kept)


def _patch_autosummary_generate():
    """Keep autosummary's stub generation (which reads the page files
    itself, before any source-read event) from trying absent optional names."""
    from sphinx.ext.autosummary import generate

    find = getattr(generate, "find_autosummary_in_lines", None)
    if find is None or getattr(find, "_gilfree", False):
        return  # another Sphinx: absent optional names then warn, visibly

    def find_present(*args, **kwargs):
        return [
            e for e in find(*args, **kwargs)
            if e.name not in OPTIONAL_NAMES or _name_exists(e.name)
        ]

    find_present._gilfree = True
    generate.find_autosummary_in_lines = find_present


def setup(app):
    _patch_autosummary_generate()
    app.connect("source-read", _drop_absent)
