"""Build the Cython kernels of gilfree.

Every ``ext/<name>.pyx`` becomes ``gilfree._cy.<name>``.  Hot kernel modules
(those without a leading underscore) are additionally compiled into SIMD
variants (``<name>_avx2``, ``<name>_avx512``) when the *target* is x86-64 and
the compiler is GCC or Clang; ``gilfree._cy`` picks the best variant the
running CPU supports at import.  Other targets (aarch64, arm64 macOS,
universal2) and MSVC get the portable build only: the compiler's own
auto-vectorisation, and never an x86 flag.

What happens where:

- ``setup()`` time (also for an sdist): the list of extension modules.  It
  fails loudly when ``ext/`` holds no ``.pyx`` source (a broken checkout or
  sdist would otherwise give a wheel without its kernels).
- ``build_ext`` (runs first in ``build``): checks that the C compiler can
  build a Python extension (one clear error if not), probes OpenMP, sets the
  flags, runs Cython, compiles.

OpenMP is probed by compiling, linking and (unless cross-compiling) running
a small program: ``-fopenmp`` (GCC, LLVM Clang), then on macOS Apple Clang's
``-Xpreprocessor -fopenmp -lomp`` with libomp from ``$GILFREE_LIBOMP_PREFIX``,
conda (``$CONDA_PREFIX``) or Homebrew (``/opt/homebrew/opt/libomp``,
``/usr/local/opt/libomp``).  Without OpenMP the build still succeeds, prints
one warning line, the kernels run on one thread, and ``gilfree info`` says so.

Environment variables (build time):

``GILFREE_DISABLE_OPENMP=1``   build without OpenMP.
``GILFREE_REQUIRE_OPENMP=1``   fail instead of building without OpenMP
                               (release wheels).
``GILFREE_LIBOMP_PREFIX=DIR``  a libomp install (``DIR/include/omp.h``,
                               ``DIR/lib/libomp.*``) to try first.
``GILFREE_NO_SIMD_VARIANTS=1`` build only the portable baseline.
``GILFREE_MARCH_NATIVE=1``     add ``-march=native`` (not portable).
``GILFREE_DEBUG_SYMBOLS=1``    keep debug information; by default the
                               build is a stripped release build (``-g0``
                               and, on ELF/Mach-O, a link-time strip of
                               debug sections).
``GILFREE_BUILD_JOBS=N``       parallel Cython/compiler jobs (default: CPUs).
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
EXT_DIR = Path("ext")
GEN_DIR = Path("build") / "gilfree_variants"

# SIMD variants (x86-64 targets, GCC/Clang): name -> extra compiler flags.
SIMD_VARIANTS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512cd", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma"],
}

# Extra compiler flags per kernel module (GCC/Clang spelling; applied to all
# SIMD variants of the module).  The image resamplers reproduce Pillow's and
# OpenCV's floating-point sums operation by operation: no fused multiply-add.
# (MSVC does not contract a * b + c into an FMA under its default
# /fp:precise, so it needs no flag.)
MODULE_FLAGS = {
    "resize": ["-ffp-contract=off"],
    "resample": ["-ffp-contract=off"],
    # dtw: the local cost sum((t - s)**2) rounds exactly like NumPy and Numba
    # (the accumulated cost matrix is compared bit for bit across engines)
    "dtw": ["-ffp-contract=off"],
    "tiles": ["-ffp-contract=off"],
}

_OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d %d\n", n, omp_get_max_threads());
    return n > 0 ? 0 : 1;
}
"""

_COMPILER_PROBE = r"""
#include <Python.h>
int gilfree_probe(void) { return (int)sizeof(Py_ssize_t); }
"""


def _log(msg):
    sys.stderr.write(f"gilfree setup: {msg}\n")
    sys.stderr.flush()


def _fail(msg):
    raise SystemExit(f"gilfree setup: error: {msg}")


def _env_flag(name):
    return os.environ.get(name, "").strip() == "1"


# --------------------------------------------------------------------------
# Target
# --------------------------------------------------------------------------


def target_machine():
    """The CPU architecture the extensions are built *for* (lower case).

    ``sysconfig.get_platform()`` honours ``_PYTHON_HOST_PLATFORM``, which
    cross builds set (cibuildwheel on macOS, crossenv); macOS builds also
    follow ``ARCHFLAGS``.  Several architectures at once (universal2) give
    ``"universal2"``: no architecture-specific flag is safe then.
    """
    plat = sysconfig.get_platform().lower()
    if plat.startswith("macosx"):
        archs = re.findall(r"-arch\s+(\S+)", os.environ.get("ARCHFLAGS", ""))
        if len(set(archs)) > 1:
            return "universal2"
        if archs:
            return archs[0].lower()
    if plat == "win32":
        return "x86"
    return plat.rsplit("-", 1)[-1]


def _is_x86_64(machine):
    return machine in ("x86_64", "amd64", "x64")


def simd_variants(machine):
    """The SIMD variants to build for a target (compiler permitting)."""
    if _env_flag("GILFREE_NO_SIMD_VARIANTS") or not _is_x86_64(machine):
        return {}
    return SIMD_VARIANTS


# --------------------------------------------------------------------------
# Extension list (setup() time: no compiler needed)
# --------------------------------------------------------------------------


def _variant_source(name, variant):
    """A .pyx whose only content includes the kernel source, so that Cython
    generates a module with its own name (``parzen_avx2``) from one source."""
    GEN_DIR.mkdir(parents=True, exist_ok=True)
    path = GEN_DIR / f"{name}_{variant}.pyx"
    text = (
        "# cython: language_level=3\n"
        f"# generated by setup.py: the {variant} build of ext/{name}.pyx\n"
        f'include "{name}.pyx"\n'
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def declared_extensions():
    """One Extension per module to build; flags are set by BuildExt."""
    sources = sorted((HERE / EXT_DIR).glob("*.pyx"))
    if not sources:
        _fail(
            f"no Cython sources (ext/*.pyx) in {HERE / EXT_DIR}: this checkout or sdist is "
            "incomplete, and a wheel built from it would have no compiled kernels. Build "
            "from a complete git checkout or from the published sdist."
        )
    variants = simd_variants(target_machine())
    common = dict(include_dirs=[np.get_include(), str(EXT_DIR)], language="c")
    exts = []
    for pyx in sources:
        name = pyx.stem
        ext = Extension(f"gilfree._cy.{name}", [(EXT_DIR / pyx.name).as_posix()], **common)
        ext.gf_module, ext.gf_variant = name, "baseline"
        exts.append(ext)
        if name.startswith("_"):
            continue
        for variant in variants:
            ext = Extension(f"gilfree._cy.{name}_{variant}",
                            [_variant_source(name, variant).as_posix()], **common)
            ext.gf_module, ext.gf_variant = name, variant
            exts.append(ext)
    return exts


# --------------------------------------------------------------------------
# Build time: compiler check, OpenMP probe, flags
# --------------------------------------------------------------------------


def _install_hint():
    if sys.platform == "darwin":
        return "install Apple's command line tools (`xcode-select --install`)"
    if sys.platform == "win32":
        return ("install the Microsoft C++ Build Tools (the 'Desktop development with C++' "
                "workload)")
    return ("install a C compiler and the Python headers (Debian/Ubuntu: `apt install gcc "
            "python3-dev`; Fedora: `dnf install gcc python3-devel`)")


def _first_error(text, limit=3):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    return " | ".join(errors[:limit]) or "no output"


def _run_quiet(cmd, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_compiler(compiler):
    """Fail with one clear message unless the compiler can build an extension.

    Returns the compiler family: ``"msvc"`` or ``"gcc"`` (GCC, Clang, MinGW).
    """
    if compiler.compiler_type == "msvc":
        try:
            if not getattr(compiler, "initialized", True):
                compiler.initialize()
        except Exception as exc:  # noqa: BLE001 - any failure here means "no MSVC"
            _fail(f"no usable Microsoft C compiler ({exc}); {_install_hint()}, or install a "
                  "prebuilt gilfree wheel (`pip install --only-binary gilfree gilfree`).")
        return "msvc"
    cc = list(compiler.compiler_so)
    exe = cc[0]
    if shutil.which(exe) is None:
        _fail(f"no C compiler: {exe!r} was not found (set CC to choose another). gilfree's "
              f"kernels are C extensions: {_install_hint()}, or install a prebuilt gilfree "
              "wheel (`pip install --only-binary gilfree gilfree`).")
    tmp = Path(tempfile.mkdtemp(prefix="gilfree-cc-"))
    try:
        src = tmp / "probe.c"
        src.write_text(_COMPILER_PROBE)
        incs = [f"-I{d}" for d in compiler.include_dirs]
        steps = (
            ("compile", [*cc, *incs, "-c", str(src), "-o", str(tmp / "probe.o")]),
            ("link", [*compiler.linker_so, str(tmp / "probe.o"), "-o", str(tmp / "probe.so")]),
        )
        for what, cmd in steps:
            try:
                res = _run_quiet(cmd)
            except (OSError, subprocess.SubprocessError) as exc:
                res = None
                detail = str(exc)
            else:
                detail = _first_error(res.stdout + "\n" + res.stderr)
            if res is None or res.returncode != 0:
                _fail(f"the C compiler {exe!r} cannot {what} a Python extension here "
                      f"({detail}); {_install_hint()}.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "gcc"


#: Homebrew's libomp (keg-only): Apple Silicon, then Intel.
HOMEBREW_LIBOMP = ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp")


def libomp_prefixes():
    """Places holding a libomp for Apple Clang (``include/omp.h``), most
    specific first: ``$GILFREE_LIBOMP_PREFIX``, conda's ``$CONDA_PREFIX``,
    Homebrew."""
    seen, out = set(), []
    for prefix in (os.environ.get("GILFREE_LIBOMP_PREFIX"), os.environ.get("CONDA_PREFIX"),
                   *HOMEBREW_LIBOMP):
        if prefix and prefix not in seen and (Path(prefix) / "include" / "omp.h").exists():
            seen.add(prefix)
            out.append(prefix)
    return out


def openmp_candidates(platform=None):
    """(compile flags, link flags) to try, in order, for a GCC-like compiler."""
    cands = [(["-fopenmp"], ["-fopenmp"])]
    if (platform or sys.platform) == "darwin":
        for prefix in libomp_prefixes():
            lib = f"{prefix}/lib"
            cands.append((["-Xpreprocessor", "-fopenmp", f"-I{prefix}/include"],
                          [f"-L{lib}", "-lomp", f"-Wl,-rpath,{lib}"]))
        cands.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
    return cands


def _cross_compiling():
    """True when the target cannot run on this machine (then the probe only links)."""
    import platform

    host = platform.machine().lower()
    target = target_machine()
    if target == "universal2":
        return True
    same = {("amd64", "x86_64"), ("x86_64", "amd64"), ("arm64", "aarch64"), ("aarch64", "arm64")}
    return target != host and (host, target) not in same


def probe_openmp(compiler, family):
    """Return ``(compile_flags, link_flags, why_not)``; flags are None without OpenMP."""
    if _env_flag("GILFREE_DISABLE_OPENMP"):
        return None, None, "disabled by GILFREE_DISABLE_OPENMP=1"
    if family == "msvc":
        return ["/openmp"], [], None
    cc = list(compiler.compiler)
    tmp = Path(tempfile.mkdtemp(prefix="gilfree-omp-"))
    run_probe = not _cross_compiling()
    tried = []
    try:
        src = tmp / "probe.c"
        src.write_text(_OPENMP_PROBE)
        exe = tmp / "probe"
        for cflags, lflags in openmp_candidates():
            tried.append(" ".join(cflags + lflags))
            try:
                res = _run_quiet([*cc, *cflags, str(src), "-o", str(exe), *lflags], 120)
            except (OSError, subprocess.SubprocessError):
                continue
            if res.returncode != 0:
                continue
            if run_probe:
                try:
                    run = _run_quiet([str(exe)], 60)
                except (OSError, subprocess.SubprocessError):
                    continue
                if run.returncode != 0:
                    continue
                said = run.stdout.strip()
            else:
                said = "cross-compiling: linked, not run"
            _log(f"OpenMP: compile with {' '.join(cflags)}, link with {' '.join(lflags)} "
                 f"(probe: {said})")
            return cflags, lflags, None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    hint = ("brew install libomp, or set GILFREE_LIBOMP_PREFIX" if sys.platform == "darwin"
            else "e.g. gcc, or clang with libomp-dev")
    return None, None, (f"{compiler.compiler[0]} has no working OpenMP; tried "
                        f"{'; '.join(tried)} ({hint})")


def build_flags(family, ext, omp_c, omp_l, debug):
    """(compile args, link args, macros) of one extension."""
    openmp = bool(omp_c)
    if family == "msvc":
        cflags = ["/O2", "/std:c11"] + list(omp_c)
        lflags = list(omp_l)
        if debug:
            cflags.append("/Z7")
            lflags.append("/DEBUG")
    else:
        cflags = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
        cflags += ["-g"] if debug else ["-g0"]
        if _env_flag("GILFREE_MARCH_NATIVE"):
            cflags.append("-march=native")
        cflags += SIMD_VARIANTS.get(ext.gf_variant, [])
        cflags += MODULE_FLAGS.get(ext.gf_module, [])
        cflags += list(omp_c)
        lflags = list(omp_l)
        if not debug:
            # -g0 keeps debug info out of our objects; this also drops what
            # the toolchain's own objects or a user's CFLAGS would bring in
            lflags.append("-Wl,-S" if sys.platform == "darwin" else "-Wl,--strip-debug")
    macros = [
        ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
        ("GILFREE_BUILD_OPENMP", "1" if openmp else "0"),
        ("GILFREE_SIMD_VARIANT", f'"{ext.gf_variant}"'),
    ]
    if ext.gf_module == "_build_info":
        import Cython

        macros += [
            ("GILFREE_CYTHON_VERSION", f'"{Cython.__version__}"'),
            ("GILFREE_BUILD_NUMPY_VERSION", f'"{np.__version__}"'),
        ]
    return cflags, lflags, macros


class BuildExt(build_ext):
    """Check the compiler, probe OpenMP, set flags, cythonize, compile in parallel."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = _jobs()

    def build_extensions(self):
        family = check_compiler(self.compiler)
        omp_c, omp_l, why_not = probe_openmp(self.compiler, family)
        if omp_c is None:
            if _env_flag("GILFREE_REQUIRE_OPENMP"):
                _fail(f"OpenMP is required (GILFREE_REQUIRE_OPENMP=1) but {why_not}.")
            _log(f"WARNING: building WITHOUT OpenMP ({why_not}): the Cython kernels will be "
                 "single-threaded.")
            omp_c, omp_l = [], []
        debug = _env_flag("GILFREE_DEBUG_SYMBOLS")
        if family == "msvc":
            # SIMD variants use GCC/Clang flags and cpuid builtins: MSVC builds
            # the portable baseline only
            self.extensions[:] = [e for e in self.extensions if e.gf_variant == "baseline"]
        variants = sorted({e.gf_variant for e in self.extensions})
        _log(f"{len(self.extensions)} modules for {target_machine()} ({family}; variants: "
             f"{', '.join(variants)}; {'debug symbols kept' if debug else 'stripped release'})")
        toolchain = [getattr(self.compiler, a, None) for a in ("compiler_so", "linker_so")]
        for ext in self.extensions:
            cflags, lflags, macros = build_flags(family, ext, omp_c, omp_l, debug)
            ext.extra_compile_args = cflags
            ext.extra_link_args = lflags
            ext.define_macros = macros
            # setuptools rebuilds a module only when a source is newer than
            # it: a stamp of the compiler and flags, rewritten when they
            # change, makes another compiler or OpenMP setting rebuild it
            ext.depends = [*ext.depends, _stamp(ext.name, [toolchain, cflags, lflags, macros])]
        self._cythonize()
        super().build_extensions()
        self._remove_stale_modules()

    def _remove_stale_modules(self):
        """Drop compiled modules left in the build tree by an earlier build
        with other settings (e.g. SIMD variants), so no wheel packs them."""
        if self.inplace:
            return
        built = {Path(self.get_ext_filename(self.get_ext_fullname(e.name))).name
                 for e in self.extensions}
        cy_dir = Path(self.build_lib) / "gilfree" / "_cy"
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        for path in cy_dir.glob(f"*{suffix}"):
            if path.name not in built:
                _log(f"removing {path.name}, left by an earlier build")
                path.unlink()

    def _cythonize(self):
        from Cython.Build import cythonize

        # Cython's worker pool is started with fork on Linux only (elsewhere
        # spawn would re-run the build script)
        jobs = _jobs() if sys.platform.startswith("linux") else 0
        generated = cythonize(
            list(self.extensions),
            include_path=[str(EXT_DIR)],
            compiler_directives={
                "language_level": 3,
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
                "embedsignature": True,
            },
            nthreads=jobs if jobs > 1 else 0,
            quiet=True,
        )
        by_name = {e.name: e for e in generated}
        for ext in self.extensions:
            ext.sources = by_name[ext.name].sources


class Build(build):
    """``build`` with ``build_ext`` first: a missing compiler is reported
    before anything else is copied or printed."""

    sub_commands = sorted(build.sub_commands, key=lambda cmd: cmd[0] != "build_ext")


def _stamp(name, config):
    GEN_DIR.mkdir(parents=True, exist_ok=True)
    path = GEN_DIR / f"{name}.flags"
    text = repr(config) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path.as_posix()


def _jobs():
    try:
        n = int(os.environ.get("GILFREE_BUILD_JOBS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else (os.cpu_count() or 1)


if __name__ == "__main__":  # also under PEP 517 backends, which run this file as __main__
    setup(ext_modules=declared_extensions(), cmdclass={"build": Build, "build_ext": BuildExt})
