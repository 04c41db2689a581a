"""Where the Numba engines keep their machine code, warm(), and ``auto``
never choosing a Numba engine that would first compile for seconds."""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import gilfree
from gilfree import _config
from gilfree import _numba_cache as _cache


def test_locator_is_installed_on_this_numba():
    """Loud: if Numba's cache internals change, this fails (the package then
    falls back to Numba's own cache places with a RuntimeWarning)."""
    import numba
    from numba.core import caching

    from gilfree._numba import _common  # noqa: F401  (installs the locator)

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    names = [cls.__name__ for cls in impl._locator_classes]
    assert "GilfreeCacheLocator" in names
    assert names.index("GilfreeCacheLocator") < names.index("InTreeCacheLocator")
    version = tuple(int(v) for v in numba.__version__.split(".")[:2])
    lo, hi = _cache.TESTED_NUMBA
    assert lo <= version <= hi, (
        f"Numba {numba.__version__} is outside the range gilfree's cache hook was tested "
        f"with ({lo} to {hi}): run this file and widen TESTED_NUMBA if it passes"
    )


def test_private_dir_is_created_private(tmp_path):
    path = tmp_path / "a" / "cache"
    assert _cache._private_dir(str(path)) == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def test_private_dir_refuses_what_others_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert _cache._private_dir(str(shared)) is None
    link = tmp_path / "link"
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link.symlink_to(target)
    assert _cache._private_dir(str(link)) is None


@pytest.fixture
def numba_cache_dir(tmp_path, monkeypatch):
    """NUMBA_CACHE_DIR as a fresh directory, also for an imported Numba."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    if "numba" in sys.modules:
        monkeypatch.setattr(sys.modules["numba"].config, "CACHE_DIR", str(tmp_path))
    return tmp_path


def test_numba_cache_dir_wins(numba_cache_dir):
    kind, path = _cache.cache_location(_cache.__file__)
    assert kind == "NUMBA_CACHE_DIR" and path.startswith(str(numba_cache_dir))


def _fake_index(module_name):
    module = os.path.join(os.path.dirname(_cache.__file__), module_name + ".py")
    _, path = _cache.cache_location(module)
    os.makedirs(path, exist_ok=True)
    open(os.path.join(path, f"{module_name}._kernel-250.py311.nbi"), "wb").close()
    return module


def test_has_cached_code_reads_the_index_files(numba_cache_dir):
    module = os.path.join(os.path.dirname(_cache.__file__), "kde.py")
    assert not _cache.has_cached_code(module)
    _fake_index("kde")
    assert _cache.has_cached_code(module)


def test_auto_passes_over_a_cold_numba_engine(numba_cache_dir, monkeypatch):
    """With Cython unavailable and an empty Numba cache, auto takes NumPy
    (ready now) instead of compiling for seconds; once the cache holds the
    kernel's code, auto takes Numba."""
    spec = _config._kernel_spec("kde")
    monkeypatch.setitem(spec, "auto", ("numba", "numpy"))
    monkeypatch.setattr(_config, "_numba_warm", set())
    name, _, _ = _config.select("kde", "auto", 1)
    assert name == "numpy"
    assert _config.resolve_engine("kde", "auto") == "numpy"
    module = _fake_index("kde")
    name, _, _ = _config.select("kde", "auto", 1)
    assert name == "numba"
    # the last engine of the order is taken cold: there is nothing else
    shutil.rmtree(_cache.cache_location(module)[1])
    monkeypatch.setitem(spec, "auto", ("numba",))
    monkeypatch.setattr(_config, "_numba_warm", set())
    assert _config.resolve_engine("kde", "auto") == "numba"


def test_auto_with_cython_never_imports_numba():
    code = ("import sys, numpy as np, gilfree; "
            "x = np.random.default_rng(0).standard_normal((2, 50)); "
            "gilfree.gaussian_kde(x).evaluate(x[:, :3]); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out[-1] == "False"


def test_warm_rejects_unknown_families():
    from gilfree import _numba_warm as _numba

    with pytest.raises(ValueError, match="unknown kernel families"):
        _numba.warm(["kde", "nope"])


def test_warm_runs_the_engines():
    from gilfree import _numba_warm as _numba

    spent = _numba.warm(["resize"])
    assert set(spent) == {"resize"} and spent["resize"] >= 0


_TINY = """
from numba import njit
from ._common import numba_threads  # noqa: F401  (the locator)

@njit(cache=True)
def tiny(x):
    return x * 2.0 + 1.0
"""

_RUN_TINY = """
import json, sys
from gilfree._numba import _tiny_cache_test as m
print(json.dumps([m.tiny(3.0), m.tiny.stats.cache_hits and sum(m.tiny.stats.cache_hits.values())]))
"""


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_read_only_install_caches_in_the_private_directory():
    """A read-only gilfree and an unwritable home: Numba alone would refuse
    to compile ("cannot cache function"); gilfree's functions go to
    <tmp>/gilfree-numba-<uid>, and a second process loads them."""
    # not pytest's tmp_path: its parents are private to this user, and the
    # children may run as another one
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="gilfree-ro-"))
    os.chmod(tmp_path, 0o755)
    src = os.path.dirname(gilfree.__file__)
    site = tmp_path / "site"
    shutil.copytree(src, site / "gilfree", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "gilfree" / "_numba" / "_tiny_cache_test.py").write_text(textwrap.dedent(_TINY))
    home = tmp_path / "home"
    home.mkdir()
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir(mode=0o700)
    prefix = []
    uid = os.geteuid()
    if uid == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make files unwritable")
        uid = 65534
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        os.chown(private_tmp, uid, uid)
        probe = subprocess.run([*prefix, sys.executable, "-c", "import numpy, numba"],
                               cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
        if probe.returncode:
            shutil.rmtree(tmp_path, ignore_errors=True)
            pytest.skip("another user cannot import this environment's numpy and numba (the "
                        "environment is in a directory private to its owner)")
    for root, dirs, files in os.walk(site):
        for name in files + dirs:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode & ~0o222)
    os.chmod(site, 0o555)
    os.chmod(home, 0o555)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(PYTHONPATH=str(site), HOME=str(home), TMPDIR=str(private_tmp))
    try:
        runs = [subprocess.run([*prefix, sys.executable, "-c", _RUN_TINY], env=env,
                               cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
                for _ in range(2)]
        for r in runs:
            assert r.returncode == 0, r.stderr[-2000:]
        first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
        assert first[0] == second[0] == 7.0
        assert not first[1] and second[1] >= 1, (first, second)
        cache = private_tmp / f"gilfree-numba-{uid}"
        assert cache.is_dir() and stat.S_IMODE(cache.stat().st_mode) & 0o077 == 0
        assert any(p.name.endswith(".nbi") for p in cache.rglob("*"))
    finally:
        for root, dirs, _ in os.walk(tmp_path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(tmp_path, ignore_errors=True)
