"""Signal resampling benchmarks (targets as ratios in one run).

- ``resample-strides``: 10,000 strides of 150-300 samples x 3 channels, each
  linearly resampled to 200 points.  Target: ``resample_linear_many`` >= 20x a
  Python loop of ``np.interp``.
- ``resample-poly``: 126,000 x 6 samples from 204.8 Hz to 100 Hz (up 1000,
  down 2048).  Target: ``resample_poly`` >= 2x ``scipy.signal.resample_poly``.

- ``resample-probe``: ``resample_poly`` on 1 thread in filter taps per
  second (taps x channels per output sample), as a fraction of the
  resample probe.  Goal >= 0.8; asserted: the levels measured on
  2026-12-07 and 2026-12-08 less a margin for a shared host
  (``PROBE_FLOOR``).

gilfree runs on all usable cores (the default) and on 1 thread; results are
checked against the competitor's.
"""

import numpy as np
import pytest

import gilfree
from gilfree.bench.workloads.resample import interp_loop

signal = pytest.importorskip("scipy.signal")

GSTRIDES = "resample-strides"
GPOLY = "resample-poly"
#: Asserted fractions of the resample probe per engine (goal 0.8; measured on
#: Zen 5, AVX-512 and the AVX2 build: Cython 0.65-0.94, Numba 0.48-0.62 on a
#: busy host).
PROBE_FLOOR = {"cython": 0.6, "numba": 0.4}


@pytest.fixture(scope="module")
def strides():
    rng = np.random.default_rng(2029)
    lengths = rng.integers(150, 301, 10_000)
    return [rng.standard_normal((int(n), 3)) for n in lengths]


@pytest.fixture(scope="module")
def strides_ref(strides):
    return interp_loop(strides, 200)


@pytest.fixture(scope="module")
def imu():
    rng = np.random.default_rng(2030)
    return np.cumsum(rng.standard_normal((126_000, 6)), axis=0)


def test_strides_python_loop(benchmark, ratios, strides, strides_ref):
    benchmark.group = GSTRIDES
    got = benchmark.pedantic(interp_loop, args=(strides, 200), rounds=3, iterations=1)
    np.testing.assert_array_equal(got, strides_ref)
    ratios.record(benchmark, GSTRIDES, "python-np.interp")


@pytest.mark.parametrize("threads", [None, 1])
def test_strides_resample_many(benchmark, ratios, strides, strides_ref, threads):
    benchmark.group = GSTRIDES
    gilfree.resample_linear_many(strides[:10], 200, n_threads=threads)
    got = benchmark.pedantic(gilfree.resample_linear_many, args=(strides, 200),
                             kwargs=dict(n_threads=threads), rounds=10, iterations=1)
    assert np.abs(got - strides_ref).max() <= 1e-12 * np.abs(strides_ref).max()
    name = f"gilfree-{threads or 'all'}"
    if threads is None:
        ratios.check(benchmark, GSTRIDES, name, faster_than="python-np.interp", at_least=20.0)
    else:
        ratios.record(benchmark, GSTRIDES, name)


def test_strides_resample_many_reused_out(benchmark, ratios, strides, strides_ref):
    """The same call writing into one reused buffer (``out=``): no fresh
    48 MB output per call, so no first-touch page faults, which on the
    development VM cost 3 ms to 60 ms per call, more than the kernel."""
    benchmark.group = GSTRIDES
    out = np.empty((len(strides), 200, 3))
    gilfree.resample_linear_many(strides, 200, out=out)
    got = benchmark.pedantic(gilfree.resample_linear_many, args=(strides, 200),
                             kwargs=dict(out=out), rounds=10, iterations=1)
    assert got is out and np.abs(got - strides_ref).max() <= 1e-12 * np.abs(strides_ref).max()
    ratios.check(benchmark, GSTRIDES, "gilfree-all-out", faster_than="python-np.interp",
                 at_least=20.0)


def test_poly_scipy(benchmark, ratios, imu):
    benchmark.group = GPOLY
    benchmark.pedantic(signal.resample_poly, args=(imu, 1000, 2048), rounds=10, iterations=1)
    ratios.record(benchmark, GPOLY, "scipy")


@pytest.mark.parametrize("threads", [None, 1])
def test_poly_gilfree(benchmark, ratios, imu, threads):
    benchmark.group = GPOLY
    gilfree.resample_poly(imu, 1000, 2048, n_threads=threads)
    got = benchmark.pedantic(gilfree.resample_poly, args=(imu, 1000, 2048),
                             kwargs=dict(n_threads=threads), rounds=10, iterations=1)
    ref = signal.resample_poly(imu, 1000, 2048)
    assert np.abs(got - ref).max() <= 1e-10 * np.abs(imu).max()
    name = f"gilfree-{threads or 'all'}"
    if threads is None:
        ratios.check(benchmark, GPOLY, name, faster_than="scipy", at_least=2.0)
    else:
        ratios.record(benchmark, GPOLY, name)


@pytest.mark.parametrize("engine", ["cython", "numba"])
def test_poly_vs_probe(benchmark, ratios, imu, engine):
    from gilfree import _probes

    benchmark.group = "resample-probe"
    run = lambda: gilfree.resample_poly(imu, 1000, 2048, engine=engine,  # noqa: E731
                                        n_threads=1)
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    taps, per_output = _probes.resample_poly_taps(imu.shape[0], 1000, 2048, imu.shape[1])
    ratios.probe(benchmark, "resample_poly 204.8 -> 100 Hz", engine, run, taps,
                 "resample-poly", target=PROBE_FLOOR[engine], taps=per_output)
