"""gilfree is typed (PEP 561): stubs next to the public modules, checked.

- the installed package holds ``py.typed`` and its ``.pyi`` stubs;
- the stubs are strictly typed and agree with the installed runtime
  (``tests/typing/run_stubtest.py``: ``mypy --strict`` on the stubs, then
  ``mypy.stubtest``: names, signatures, defaults, classes);
- a typed use of the public API (``tests/typing/usage.py``) passes
  ``mypy --strict`` with its ``assert_type`` checks, and runs;
- wrong calls are caught (the checker really reads the stubs).
"""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gilfree

ROOT = Path(__file__).resolve().parents[1]
TYPING = ROOT / "tests" / "typing"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the test extra: pip install '.[test]')",
)

#: The stubs the wheel must hold (paths inside the package).
STUBS = (
    "__init__.pyi",
    "_typing.pyi",
    "bench/__init__.pyi",
    "cli.pyi",
    "distributed/__init__.pyi",
    "dtw.pyi",
    "kde.pyi",
    "parallel/__init__.pyi",
    "parzen.pyi",
    "resample.pyi",
    "resize.pyi",
    "tiles.pyi",
)


def _run(cmd, cwd, timeout=600):
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return res.returncode, res.stdout + res.stderr


def _mypy(tmp_path, *files):
    """mypy with the project's [tool.mypy] settings (strict), from the repository
    root, so that ``import gilfree`` is the installed package's stubs."""
    return _run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                 "--cache-dir", str(tmp_path / "mypy-cache"), *map(str, files)], cwd=ROOT)


def test_installed_package_is_typed():
    pkg = Path(gilfree.__file__).parent
    assert (pkg / "py.typed").is_file(), f"no py.typed in the installed package {pkg}"
    missing = [s for s in STUBS if not (pkg / s).is_file()]
    assert not missing, f"stubs missing from the installed package {pkg}: {missing}"


def test_stubs_match_the_runtime():
    rc, out = _run([sys.executable, str(TYPING / "run_stubtest.py")], cwd=ROOT)
    assert rc == 0, f"the stubs disagree with the installed package:\n{out}"
    assert "Success" in out


def test_typed_usage_passes_mypy_strict(tmp_path):
    rc, out = _mypy(tmp_path, TYPING / "usage.py")
    assert rc == 0, f"mypy --strict on tests/typing/usage.py:\n{out}"


def test_typed_usage_runs():
    rc, out = _run([sys.executable, "-W", "error", str(TYPING / "usage.py")], cwd=TYPING,
                   timeout=300)
    assert rc == 0, out
    assert "usage.py: ok" in out


def test_wrong_calls_are_type_errors(tmp_path):
    bad = tmp_path / "bad_usage.py"
    bad.write_text(textwrap.dedent("""
        import numpy as np
        import gilfree

        x = np.zeros((10, 2))
        gilfree.kde(x, x, 0.5, engine="cuda")            # not an engine
        gilfree.kde(x, x, 0.5, kernel="triangle")         # not a kernel
        gilfree.resize(x, 32)                             # shape is a pair
        n: str = gilfree.get_num_threads()                # an int
        gilfree.pmap(lambda s: s.upper(), [1, 2])         # items are ints
        r: list[str] = gilfree.pmap(abs, [-1, 2])         # results are ints
        gilfree.parzen(x, x, 0.5, weight=None)            # no such parameter
    """))
    rc, out = _mypy(tmp_path, bad)
    assert rc == 1, out
    lines = {int(m.group(1)) for m in re.finditer(r"bad_usage\.py:(\d+): error:", out)}
    assert lines == set(range(6, 13)), out
