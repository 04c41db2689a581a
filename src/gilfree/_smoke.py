"""Smoke test of an installed gilfree: every engine of every kernel.

``python -m gilfree._smoke`` runs each registered kernel family once per
engine (numba, cython, numpy, python) on small inputs, at 1 and 2 threads for
the compiled engines, and compares every result with the NumPy engine's.  It
also checks that the Cython module loaded for each kernel is the SIMD variant
the CPU should get (a wheel missing a variant would otherwise fall back
silently) and, with ``--require-openmp``, that the extensions have OpenMP.

It needs only gilfree's required dependencies, so it runs on a freshly
installed wheel: the cibuildwheel test command and the packaging tests use it.
Exit status 0 when every check passes, 1 otherwise (each failure on its own
line).
"""

import argparse
import sys
import time

import numpy as np

__all__ = ["main", "run"]


def _cases():
    """kernel -> [(label, call(engine, n_threads) -> result, exact)]."""
    import gilfree
    from gilfree import dtw

    rng = np.random.default_rng(20240607)
    x = np.round(rng.standard_normal((400, 2)) * 16) / 16
    q = np.round(rng.standard_normal((25, 2)) * 16) / 16
    w = rng.random(400) + 0.5
    widths = np.array([0.25, 0.5, 1.0])
    sig = rng.standard_normal((301, 2))
    img8 = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    imgf = rng.random((29, 31)).astype(np.float32)
    slide = rng.integers(0, 256, (48, 60, 3), dtype=np.uint8)
    slide[:, :20] = 250  # bright background on the left: those tiles are dropped
    tmpl = rng.standard_normal((12, 3))
    long_sig = rng.standard_normal((150, 3))

    def tiles_call(e, t):
        r = gilfree.tiles(slide, (12, 10), (9, 10), threshold=200, min_fraction=0.3,
                          out_size=(6, 5), method="area", engine=e, n_threads=t)
        return (r.coords, r.fraction, r.patches)

    return {
        "parzen": [
            ("parzen_counts", lambda e, t: gilfree.parzen_counts(
                x, q, widths, engine=e, n_threads=t), True),
            ("parzen weighted", lambda e, t: gilfree.parzen_density(
                x, q, widths, weights=w, engine=e, n_threads=t), False),
        ],
        "kde": [
            ("kde gaussian", lambda e, t: gilfree.kde(
                x, q, [0.3, 0.7], kernel="gaussian", engine=e, n_threads=t), False),
            ("kde epanechnikov float32", lambda e, t: gilfree.kde(
                x, q, 0.8, kernel="epanechnikov", weights=w, dtype=np.float32,
                engine=e, n_threads=t), False),
        ],
        "resample": [
            ("resample linear", lambda e, t: gilfree.resample(
                sig, 173, engine=e, n_threads=t), False),
            ("resample_poly 3/2", lambda e, t: gilfree.resample_poly(
                sig, 3, 2, engine=e, n_threads=t), False),
        ],
        "resize": [
            ("resize uint8 bilinear", lambda e, t: gilfree.resize(
                img8, (19, 23), "bilinear", engine=e, n_threads=t), True),
            ("resize float32 lanczos", lambda e, t: gilfree.resize(
                imgf, (41, 17), "lanczos", engine=e, n_threads=t), False),
            ("resize uint8 area", lambda e, t: gilfree.resize(
                img8, (12, 15), "area", engine=e, n_threads=t), True),
        ],
        "tiles": [("tiles area", tiles_call, True)],
        "dtw": [
            ("subsequence_cost_matrix", lambda e, t: dtw.subsequence_cost_matrix(
                tmpl, long_sig, engine=e, n_threads=t), False),
        ],
    }


def _same(got, want, exact):
    if isinstance(want, tuple):
        return all(_same(g, w, exact) for g, w in zip(got, want, strict=True))
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    if exact or not np.issubdtype(want.dtype, np.floating):
        return bool(np.array_equal(got, want))
    rtol = 1e-4 if want.dtype == np.float32 else 1e-9
    return bool(np.allclose(got, want, rtol=rtol, atol=rtol * float(np.abs(want).max(initial=0))))


def _check_build(require_openmp, failures, say):
    from gilfree import _cy

    try:
        info = _cy.build_module()
    except ImportError as exc:
        failures.append(f"build: the compiled extensions are missing ({exc})")
        return
    b = info.build_info()
    level = _cy.simd_level()
    say(f"build: {b['compiler']}, Cython {b['cython']}, OpenMP "
        f"{'on' if b['openmp'] else 'OFF'}, SIMD level {level}")
    if require_openmp and not b["openmp"]:
        failures.append("build: the extensions were built without OpenMP")


def run(*, require_openmp=False, engines=None, say=print):
    """Run every check; return the list of failures (empty when all pass).

    ``engines``: only these engines (default: every engine of every kernel);
    the NumPy engine always runs, as the reference.
    """
    from gilfree import _config, _cy

    failures = []
    _check_build(require_openmp, failures, say)
    cases = _cases()
    registered = _config.kernels()
    for kernel in registered:
        if kernel not in cases:
            failures.append(f"{kernel}: registered kernel without a smoke case")
    for kernel, checks in cases.items():
        if kernel not in registered:
            failures.append(f"{kernel}: smoke case for a kernel that is not registered")
            continue
        available = _config.available_engines(kernel)
        for engine, ok in available.items():
            if ok is not True and (engines is None or engine in engines):
                failures.append(f"{kernel}/{engine}: not available ({ok})")
        if available.get("cython") is True:
            mod = _cy.load(kernel)
            if getattr(mod, "SIMD_VARIANT", None) != _cy.simd_level():
                failures.append(f"{kernel}/cython: loaded variant {mod.SIMD_VARIANT!r}, "
                                f"the CPU should get {_cy.simd_level()!r} ({mod.__name__})")
        for label, call, exact in checks:
            try:
                want = call("numpy", 1)
            except Exception as exc:  # noqa: BLE001 - reported as a failure line
                failures.append(f"{kernel}/numpy {label}: {type(exc).__name__}: {exc}")
                continue
            for engine in available:
                if (engine == "numpy" or available[engine] is not True
                        or (engines is not None and engine not in engines)):
                    continue
                single = engine == "cython" and not _cy.load(kernel).OPENMP
                for nt in ((1,) if engine == "python" else (1, 2)):
                    t0 = time.perf_counter()
                    if single and nt > 1:
                        # a build without OpenMP refuses more than one thread, saying why
                        try:
                            call(engine, nt)
                        except _config.EngineUnavailableError:
                            say(f"ok  {kernel:<9} {engine:<7} {label} (n_threads={nt}: "
                                "refused, built without OpenMP)")
                        else:
                            failures.append(f"{kernel}/{engine} {label} n_threads={nt}: a "
                                            "build without OpenMP accepted 2 threads")
                        continue
                    try:
                        got = call(engine, nt)
                    except Exception as exc:  # noqa: BLE001 - reported as a failure line
                        failures.append(f"{kernel}/{engine} {label} n_threads={nt}: "
                                        f"{type(exc).__name__}: {exc}")
                        continue
                    if not _same(got, want, exact):
                        failures.append(f"{kernel}/{engine} {label} n_threads={nt}: result "
                                        "differs from the numpy engine's")
                    else:
                        say(f"ok  {kernel:<9} {engine:<7} {label} (n_threads={nt}, "
                            f"{time.perf_counter() - t0:.2f} s)")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m gilfree._smoke",
        description="Run every engine of every gilfree kernel on small inputs.")
    parser.add_argument("--require-openmp", action="store_true",
                        help="fail when the compiled extensions have no OpenMP")
    parser.add_argument("--engines", metavar="NAME,...",
                        help="only these engines (default: all; numpy always runs)")
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)
    engines = None
    if args.engines:
        engines = {e.strip() for e in args.engines.split(",") if e.strip()}
        from gilfree._config import ENGINES

        unknown = engines - set(ENGINES)
        if unknown:
            parser.error(f"--engines: unknown engine(s) {', '.join(sorted(unknown))}; "
                         f"expected some of {', '.join(ENGINES)}")
    import gilfree

    say = (lambda msg: None) if args.quiet else print
    say(f"gilfree {gilfree.__version__} from {gilfree.__file__}")
    failures = run(require_openmp=args.require_openmp, engines=engines, say=say)
    for line in failures:
        print(f"FAIL {line}", file=sys.stderr)
    print(f"smoke: {'FAILED' if failures else 'passed'} "
          f"({len(failures)} failure(s))", file=sys.stderr if failures else sys.stdout)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
