"""The source tree builds a release-grade sdist and wheel.

Fast tests (the normal suite) check the build script's decisions (target
architecture, SIMD variants, flags, the OpenMP search) and its failures (no
``.pyx`` sources, no compiler), and the sdist's contents.

The ``packaging`` tests (also ``slow``: ``.ci/run`` runs them in their own
step with ``--runslow -m packaging``) build from a clean copy of the tree:
``python -m build`` (an sdist, then a wheel built from that sdist, in an
isolated build environment), check that the wheel holds every compiled
module and no debug information, ask ``auditwheel`` which manylinux tag it
needs and repair it, install it in a fresh virtual environment and run the
every-engine smoke test there (``python -m gilfree._smoke``, which is also
cibuildwheel's test command); and build without OpenMP, which must succeed
with one warning line and give a ``gilfree info`` that says the kernels are
single-threaded.
"""

import importlib.util
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import gilfree

ROOT = Path(__file__).resolve().parents[1]
IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
HINT = 'pip install "gilfree[bench]"'
# build settings of the developer's shell that would change what is built
BUILD_ENV_VARS = ("GILFREE_DISABLE_OPENMP", "GILFREE_NO_SIMD_VARIANTS", "GILFREE_MARCH_NATIVE",
                  "GILFREE_DEBUG_SYMBOLS", "GILFREE_REQUIRE_OPENMP", "GILFREE_LIBOMP_PREFIX")

packaging = pytest.mark.packaging


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup_module_():
    """setup.py imported as a module (``setup()`` only runs as __main__)."""
    spec = importlib.util.spec_from_file_location("gilfree_setup_script", ROOT / "setup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _source_files():
    """Files of the source tree: git's tracked and untracked-but-not-ignored
    files, or (outside a git checkout, e.g. an unpacked sdist) a walk that
    leaves out build products."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], capture_output=True, check=True, timeout=60).stdout
        names = [n for n in out.decode().split("\0") if n]
        if names:
            return [n for n in names if (ROOT / n).is_file()]
    except (OSError, subprocess.SubprocessError):
        pass
    skip_dirs = {".git", "build", "dist", "__pycache__", ".hypothesis", ".benchmarks",
                 "bench-out", ".venv"}
    names = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs and not d.endswith(".egg-info")]
        for f in filenames:
            rel = Path(dirpath, f).relative_to(ROOT)
            if rel.suffix in (".so", ".pyd", ".o") or (rel.parts[0] == "ext" and rel.suffix == ".c"):
                continue
            names.append(rel.as_posix())
    return names


def clean_copy(dest):
    """Copy the source tree (no build products) to ``dest``; return it."""
    dest = Path(dest)
    for name in _source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest


def build_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in BUILD_ENV_VARS}
    env.update(extra)
    return env


def run(cmd, *, timeout, env=None, cwd=None, check=True):
    t0 = time.perf_counter()
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=cwd)
    res.seconds = time.perf_counter() - t0
    if check and res.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {res.returncode}\n"
                    f"--- stdout (end)\n{res.stdout[-4000:]}\n--- stderr (end)\n{res.stderr[-4000:]}")
    return res


def pip_wheel_no_isolation(src, out, env):
    """``pip wheel`` of a source tree with this environment's setuptools,
    Cython and NumPy (fast: nothing is downloaded)."""
    return run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "--no-cache-dir", "-w", out, src], timeout=900, env=env, check=False)


def elf_section_names(path):
    """Section names of an ELF file (32/64-bit, either byte order)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff = struct.unpack_from(end + "Q", data, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
    else:
        shoff = struct.unpack_from(end + "I", data, 0x20)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)

    def header(i):
        base = shoff + i * shentsize
        name = struct.unpack_from(end + "I", data, base)[0]
        if is64:
            offset, size = struct.unpack_from(end + "QQ", data, base + 0x18)
        else:
            offset, size = struct.unpack_from(end + "II", data, base + 0x10)
        return name, offset, size

    _, str_off, str_size = header(shstrndx)
    strtab = data[str_off:str_off + str_size]
    names = []
    for i in range(shnum):
        name = header(i)[0]
        names.append(strtab[name:strtab.index(b"\0", name)].decode())
    return names


def debug_sections(names):
    return [n for n in names if n.startswith((".debug", ".zdebug", ".gnu.debuglto"))]


def expected_cy_modules(with_variants):
    """``gilfree._cy`` module names a build of this tree must produce."""
    names = []
    for pyx in sorted((ROOT / "ext").glob("*.pyx")):
        names.append(pyx.stem)
        if with_variants and not pyx.stem.startswith("_"):
            names += [f"{pyx.stem}_avx2", f"{pyx.stem}_avx512"]
    assert names, "ext/ has no .pyx sources"
    return sorted(names)


def venv_bin(venv, name):
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = ".exe" if os.name == "nt" else ""
    return Path(venv) / sub / (name + exe)


# --------------------------------------------------------------------------
# the build script's decisions (fast)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("plat,archflags,want", [
    ("linux-x86_64", "", "x86_64"),
    ("linux-aarch64", "", "aarch64"),
    ("win-amd64", "", "amd64"),
    ("win-arm64", "", "arm64"),
    ("macosx-11.0-arm64", "", "arm64"),
    ("macosx-10.9-x86_64", "-arch arm64", "arm64"),
    ("macosx-10.9-universal2", "-arch arm64 -arch x86_64", "universal2"),
])
def test_target_machine_follows_cross_build_settings(setup_module_, monkeypatch, plat,
                                                     archflags, want):
    monkeypatch.setattr(setup_module_.sysconfig, "get_platform", lambda: plat)
    monkeypatch.setenv("ARCHFLAGS", archflags)
    assert setup_module_.target_machine() == want


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "universal2", "ppc64le", "s390x",
                                     "x86", "x86_64"])
def test_x86_flags_only_for_x86_64_targets(setup_module_, monkeypatch, machine):
    mod = setup_module_
    monkeypatch.delenv("GILFREE_NO_SIMD_VARIANTS", raising=False)
    monkeypatch.delenv("GILFREE_MARCH_NATIVE", raising=False)
    monkeypatch.setattr(mod, "target_machine", lambda: machine)
    monkeypatch.chdir(ROOT)  # the generated variant sources go to build/ as in a build
    exts = mod.declared_extensions()
    variants = {e.gf_variant for e in exts}
    if machine == "x86_64":
        assert variants == {"baseline", "avx2", "avx512"}
    else:
        assert variants == {"baseline"}
    for ext in exts:
        cflags, lflags, macros = mod.build_flags("gcc", ext, ["-fopenmp"], ["-fopenmp"], False)
        arch_flags = [f for f in cflags + lflags if f.startswith(("-m", "-march"))]
        if ext.gf_variant == "baseline":
            assert not arch_flags, (ext.name, arch_flags)
        else:
            assert arch_flags == mod.SIMD_VARIANTS[ext.gf_variant], ext.name
        assert ("GILFREE_SIMD_VARIANT", f'"{ext.gf_variant}"') in macros


def test_release_and_debug_flags(setup_module_):
    mod = setup_module_
    ext = mod.Extension("gilfree._cy.parzen", ["ext/parzen.pyx"])
    ext.gf_module, ext.gf_variant = "parzen", "baseline"
    c, l, _ = mod.build_flags("gcc", ext, [], [], False)
    assert "-g0" in c and "-g" not in c
    assert ("-Wl,-S" if sys.platform == "darwin" else "-Wl,--strip-debug") in l
    c, l, _ = mod.build_flags("gcc", ext, [], [], True)
    assert "-g" in c and "-g0" not in c and not [f for f in l if "strip" in f or f == "-Wl,-S"]
    # MSVC: its own spelling only, no debug info unless asked, OpenMP by /openmp
    c, l, m = mod.build_flags("msvc", ext, ["/openmp"], [], False)
    assert not [f for f in c + l if f.startswith("-")]
    assert "/openmp" in c and "/std:c11" in c and "/Z7" not in c
    assert ("GILFREE_BUILD_OPENMP", "1") in m
    c, l, _ = mod.build_flags("msvc", ext, [], [], True)
    assert "/Z7" in c and "/DEBUG" in l


def test_openmp_search_on_macos_tries_homebrew_and_conda(setup_module_, monkeypatch, tmp_path):
    mod = setup_module_
    prefixes = {}
    for name in ("custom", "conda", "brew_arm", "brew_intel", "empty"):
        p = tmp_path / name
        (p / "include").mkdir(parents=True)
        (p / "lib").mkdir()
        if name != "empty":
            (p / "include" / "omp.h").write_text("/* */\n")
        prefixes[name] = str(p)
    monkeypatch.setenv("GILFREE_LIBOMP_PREFIX", prefixes["custom"])
    monkeypatch.setenv("CONDA_PREFIX", prefixes["conda"])
    monkeypatch.setattr(mod, "HOMEBREW_LIBOMP", (prefixes["brew_arm"], prefixes["empty"],
                                                 prefixes["brew_intel"]))
    cands = mod.openmp_candidates("darwin")
    assert cands[0] == (["-fopenmp"], ["-fopenmp"])
    want = [prefixes[k] for k in ("custom", "conda", "brew_arm", "brew_intel")]
    assert len(cands) == 2 + len(want)
    for (cflags, lflags), prefix in zip(cands[1:-1], want):
        assert cflags == ["-Xpreprocessor", "-fopenmp", f"-I{prefix}/include"]
        assert lflags == [f"-L{prefix}/lib", "-lomp", f"-Wl,-rpath,{prefix}/lib"]
    assert cands[-1] == (["-Xpreprocessor", "-fopenmp"], ["-lomp"])
    # elsewhere only -fopenmp
    assert mod.openmp_candidates("linux") == [(["-fopenmp"], ["-fopenmp"])]


def test_openmp_disabled_by_environment(setup_module_, monkeypatch):
    monkeypatch.setenv("GILFREE_DISABLE_OPENMP", "1")
    c, l, why = setup_module_.probe_openmp(object(), "gcc")
    assert c is None and l is None and "GILFREE_DISABLE_OPENMP=1" in why


class _FakeCompiler:
    compiler_type = "unix"
    include_dirs = []

    def __init__(self, cc):
        self.compiler_so = [cc, "-fPIC"]
        self.linker_so = [cc, "-shared"]
        self.compiler = [cc]


def test_compiler_check_messages(setup_module_, tmp_path):
    mod = setup_module_
    with pytest.raises(SystemExit) as info:
        mod.check_compiler(_FakeCompiler(str(tmp_path / "no-such-cc")))
    msg = str(info.value)
    assert msg.startswith("gilfree setup: error: no C compiler") and "CC" in msg
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\necho 'probe.c:1:10: fatal error: Python.h: No such file or "
                      "directory' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(SystemExit) as info:
        mod.check_compiler(_FakeCompiler(str(broken)))
    msg = str(info.value)
    assert "cannot compile a Python extension" in msg and "Python.h" in msg
    assert "\n" not in msg


def test_build_without_pyx_sources_fails_loudly(tmp_path):
    src = clean_copy(tmp_path / "src")
    for pyx in (src / "ext").glob("*.pyx"):
        pyx.unlink()
    res = pip_wheel_no_isolation(src, tmp_path / "out", build_env())
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "gilfree setup: error: no Cython sources (ext/*.pyx)" in out
    assert not list(tmp_path.glob("out/*.whl"))


def test_build_without_a_compiler_fails_with_one_clear_message(tmp_path):
    src = clean_copy(tmp_path / "src")
    res = pip_wheel_no_isolation(src, tmp_path / "out",
                                 build_env(CC=str(tmp_path / "no-such-cc")))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    lines = [ln for ln in out.splitlines() if "gilfree setup: error:" in ln]
    assert len(lines) == 1 and "no C compiler" in lines[0], out[-3000:]
    assert "Traceback" not in out
    # the check runs before anything is copied or compiled
    assert "copying src" not in out and "building 'gilfree" not in out


def _check_sdist(sdist):
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for f in ("pyproject.toml", "setup.py", "LICENSE", "README.md", "MANIFEST.in", "PKG-INFO"):
        assert f in names, f"sdist lacks {f}"
    want_ext = {f"ext/{p.name}" for p in (ROOT / "ext").iterdir()
                if p.suffix in (".pyx", ".pxd", ".pxi", ".h")}
    assert want_ext and want_ext <= names, f"sdist lacks {sorted(want_ext - names)}"
    tracked = {n for n in _source_files() if n.startswith("src/")}
    assert tracked <= names, f"sdist lacks {sorted(tracked - names)}"
    built = [n for n in names if n.endswith((".c", ".so", ".pyd", ".o", ".pyc"))]
    assert not built, f"sdist ships build products: {built}"
    assert not [n for n in names if n.startswith("build/")]
    return names


def test_sdist_holds_every_source(tmp_path):
    src = clean_copy(tmp_path / "src")
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir",
         tmp_path / "dist", src], timeout=300, env=build_env())
    (sdist,) = (tmp_path / "dist").glob("gilfree-*.tar.gz")
    names = _check_sdist(sdist)
    assert "tests/test_packaging.py" in names


def test_installed_extensions_are_complete_and_stripped():
    """The build this suite runs against: every module, no debug info."""
    cy = Path(gilfree.__file__).parent / "_cy"
    ext_suffix = sysconfig.get_config_var("EXT_SUFFIX")
    variants = IS_X86_64 and os.environ.get("GILFREE_NO_SIMD_VARIANTS") != "1"
    for name in expected_cy_modules(variants):
        assert (cy / f"{name}{ext_suffix}").is_file(), f"gilfree._cy.{name} is not installed"
    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("GILFREE_DEBUG_SYMBOLS") == "1":
        pytest.skip("GILFREE_DEBUG_SYMBOLS=1: a build with debug information")
    for so in cy.glob(f"*{ext_suffix}"):
        names = elf_section_names(so)
        assert ".text" in names and ".dynsym" in names
        assert not debug_sections(names), f"{so.name} has debug sections {debug_sections(names)}"
        if shutil.which("readelf"):  # the parser agrees with binutils
            out = subprocess.run(["readelf", "-SW", str(so)], capture_output=True, text=True,
                                 check=True).stdout
            listed = re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", out, flags=re.M)
            assert listed[1:] == names[1:], (listed, names)


# --------------------------------------------------------------------------
# sdist -> wheel -> fresh venv (slow: .ci/run's packaging step)
# --------------------------------------------------------------------------


def _summary(**facts):
    path = os.environ.get("GILFREE_PACKAGING_SUMMARY")
    if not path:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.exists() else {}
    data.update(facts)
    p.write_text(json.dumps(data, indent=2))


@pytest.mark.slow
@packaging
def test_sdist_to_wheel_release_build(tmp_path):
    timings = {}
    src = clean_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    # no --sdist/--wheel: build makes the sdist, then the wheel FROM the sdist,
    # each in an isolated environment with build-system.requires only
    res = run([sys.executable, "-m", "build", "--outdir", dist, src], timeout=1200,
              env=build_env())
    timings["build sdist+wheel"] = round(res.seconds, 1)
    log = res.stdout + res.stderr
    assert "WARNING: building WITHOUT OpenMP" not in log or \
        os.environ.get("GILFREE_ALLOW_NO_OPENMP") == "1", "the release build lost OpenMP"
    (sdist,) = dist.glob("gilfree-*.tar.gz")
    (wheel,) = dist.glob("gilfree-*.whl")
    _check_sdist(sdist)

    # the wheel: platform-specific, every compiled module, no debug info
    assert not wheel.name.endswith("-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        ext_suffix = sysconfig.get_config_var("EXT_SUFFIX")
        have = sorted(n[len("gilfree/_cy/"):-len(ext_suffix)] for n in names
                      if n.startswith("gilfree/_cy/") and n.endswith(ext_suffix))
        assert have == expected_cy_modules(IS_X86_64), f"compiled modules in the wheel: {have}"
        for want in ("gilfree/__init__.py", "gilfree/__main__.py", "gilfree/cli.py",
                     "gilfree/_smoke.py", "gilfree/bench/schema.json"):
            assert want in names
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        so_bytes = 0
        if sys.platform.startswith("linux"):
            unpacked = tmp_path / "unpacked"
            for n in names:
                if n.endswith(ext_suffix):
                    zf.extract(n, unpacked)
                    so_bytes += (unpacked / n).stat().st_size
                    dbg = debug_sections(elf_section_names(unpacked / n))
                    assert not dbg, f"{n} is not stripped: {dbg}"
    assert f"Version: {gilfree.__version__}" in meta
    assert "License-Expression: BSD-3-Clause" in meta
    for v in ("3.10", "3.11", "3.12", "3.13", "3.14"):
        assert f"Programming Language :: Python :: {v}" in meta
    _summary(wheel=wheel.name, wheel_bytes=wheel.stat().st_size, sdist_bytes=sdist.stat().st_size,
             extension_bytes=so_bytes, extensions=len(have))

    # manylinux: the tag auditwheel says the wheel needs, and the repaired wheel
    to_install = wheel
    if sys.platform.startswith("linux"):
        show = run([sys.executable, "-m", "auditwheel", "show", wheel], timeout=300)
        text = " ".join((show.stdout + show.stderr).split())
        tag = re.search(r'constrains the platform tag to "([^"]+)"', text) or \
            re.search(r'following platform tag: "(manylinux[^"]+)"', text)
        assert tag, text
        tag = tag.group(1)
        assert re.fullmatch(r"manylinux_\d+_\d+_" + re.escape(platform.machine()), tag), tag
        repaired = tmp_path / "repaired"
        res = run([sys.executable, "-m", "auditwheel", "repair", "--plat", tag, "-w", repaired,
                   wheel], timeout=600)
        timings["auditwheel repair"] = round(res.seconds, 1)
        (to_install,) = repaired.glob("*.whl")
        assert tag in to_install.name
        _summary(manylinux_tag=tag, repaired_wheel=to_install.name,
                 repaired_wheel_bytes=to_install.stat().st_size)

    # a fresh virtual environment (no system site-packages): install, smoke-test
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    py = venv_bin(venv, "python")
    res = run([py, "-m", "pip", "install", "-q", to_install], timeout=900, cwd=tmp_path)
    timings["fresh venv install"] = round(res.seconds, 1)
    where = run([py, "-c", "import gilfree; print(gilfree.__file__)"], timeout=120,
                cwd=tmp_path).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where
    smoke = [py, "-m", "gilfree._smoke"]
    if os.environ.get("GILFREE_ALLOW_NO_OPENMP") != "1":
        smoke.append("--require-openmp")
    res = run(smoke, timeout=900, cwd=tmp_path, env=build_env())
    timings["smoke (every engine)"] = round(res.seconds, 1)
    assert "smoke: passed" in res.stdout
    assert res.stdout.count("\nok  ") >= 6 * 3  # every kernel, several engines each

    # the command without the bench extra
    version = run([venv_bin(venv, "gilfree"), "--version"], timeout=120, cwd=tmp_path)
    assert version.stdout.strip() == f"gilfree {gilfree.__version__}"
    info = run([py, "-m", "gilfree", "info"], timeout=300, cwd=tmp_path)
    assert "OpenMP: on" in info.stdout or os.environ.get("GILFREE_ALLOW_NO_OPENMP") == "1"
    bench = run([venv_bin(venv, "gilfree"), "bench", "--list"], timeout=120, cwd=tmp_path,
                check=False)
    assert bench.returncode == 2, bench.stdout + bench.stderr
    assert HINT in bench.stderr and "Traceback" not in bench.stderr
    _summary(timings=timings)


@pytest.mark.slow
@packaging
def test_build_without_openmp_warns_once_and_info_says_single_threaded(tmp_path):
    src = clean_copy(tmp_path / "src")
    env = build_env(GILFREE_DISABLE_OPENMP="1", GILFREE_NO_SIMD_VARIANTS="1")
    res = run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
               tmp_path / "dist", src], timeout=900, env=env)
    log = (res.stdout + res.stderr).splitlines()
    warnings = [ln for ln in log if "WARNING" in ln and "OpenMP" in ln]
    assert len(warnings) == 1, warnings
    assert "single-threaded" in warnings[0] and "GILFREE_DISABLE_OPENMP=1" in warnings[0]
    (wheel,) = (tmp_path / "dist").glob("gilfree-*.whl")
    site = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
        timeout=300)
    # this interpreter's dependencies, the no-OpenMP gilfree in front of them
    env = dict(os.environ, PYTHONPATH=str(site))
    info = run([sys.executable, "-m", "gilfree", "info"], timeout=300, env=env, cwd=tmp_path)
    assert "OpenMP: OFF: the Cython kernels are single-threaded" in info.stdout
    cfg = json.loads(run([sys.executable, "-m", "gilfree", "info", "--json"], timeout=300,
                         env=env, cwd=tmp_path).stdout)
    assert cfg["build"]["openmp"] is False
    # (this build has no SIMD variants: the baseline is what the CPU gets)
    smoke = run([sys.executable, "-m", "gilfree._smoke", "--engines", "cython,python"],
                timeout=600, env=dict(env, GILFREE_SIMD="baseline"), cwd=tmp_path)
    assert "OpenMP OFF" in smoke.stdout and "refused, built without OpenMP" in smoke.stdout
    where = run([sys.executable, "-c", "import gilfree; print(gilfree.__file__)"], timeout=60,
                env=env, cwd=tmp_path).stdout.strip()
    assert Path(where).resolve().is_relative_to(site.resolve())


def test_cibuildwheel_configuration():
    """The wheel matrix docs/platforms.md promises, tested by the smoke module."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    cibw = cfg["tool"]["cibuildwheel"]
    assert cibw["build"] == [f"cp3{v}-*" for v in range(10, 15)]
    assert "gilfree._smoke --require-openmp" in cibw["test-command"]
    assert cibw["environment"]["GILFREE_REQUIRE_OPENMP"] == "1"
    assert cibw["linux"]["archs"] == ["x86_64", "aarch64"]
    assert "libomp" in cibw["macos"]["before-all"]
    assert cibw["macos"]["environment"]["GILFREE_REQUIRE_OPENMP"] == "1"
    assert "MACOSX_DEPLOYMENT_TARGET" in cibw["macos"]["environment"]
    assert cibw["windows"]["archs"] == ["AMD64"]
    assert "delvewheel repair" in cibw["windows"]["repair-wheel-command"]
    classifiers = cfg["project"]["classifiers"]
    for v in range(10, 15):
        assert f"Programming Language :: Python :: 3.{v}" in classifiers
    assert importlib.util.find_spec("gilfree._smoke") is not None
