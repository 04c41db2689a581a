"""Typed use of gilfree's public API, checked by ``mypy --strict`` (and run).

``tests/test_typing.py`` type-checks this file against the installed
package's stubs with ``mypy --strict`` (``assert_type`` fails the check when
a stub's return type differs from what is written here), then runs it, so
that every call written here is also a valid call at run time.  Small inputs
and the NumPy engine keep the run short.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import gilfree
import gilfree.bench
import gilfree.dtw
import gilfree.parallel
from gilfree import KernelDensity, Tiles, gaussian_kde
from gilfree.parallel import SharedArray

RNG = np.random.default_rng(0)


def square(x: int) -> int:
    return x * x


def to_text(x: float) -> str:
    return f"{x:.1f}"


def config() -> None:
    assert_type(gilfree.__version__, str)
    assert_type(gilfree.get_num_threads(), int)
    assert_type(gilfree.usable_cores(), int)
    assert_type(gilfree.resolve_n_threads(-1), int)
    with gilfree.threads(1) as n:
        assert_type(n, int | None)
        assert gilfree.get_num_threads() == 1
    gilfree.set_num_threads(None)
    info = gilfree.show_config("dicts", probe_numba=False)
    assert_type(info, dict[str, Any])
    assert_type(gilfree.get_tuning(), dict[str, int | float])
    with gilfree.tuning(tiles_band_bytes=8 * 2**20) as tuned:
        assert tuned["tiles_band_bytes"] == 8 * 2**20
    try:
        gilfree.kde([0.0, 1.0], [0.5], 1.0, engine="numpy")
    except gilfree.EngineUnavailableError as exc:  # a RuntimeError
        assert_type(exc, gilfree.EngineUnavailableError)


def density() -> None:
    x = RNG.standard_normal((200, 2))
    q = x[:5]
    assert_type(gilfree.parzen_density(x, q, [0.5, 1.0], engine="numpy"), NDArray[np.float64])
    assert_type(gilfree.parzen_counts(x, q, 0.5, engine="numpy"), NDArray[np.int64])
    d64 = gilfree.kde(x, q, 0.3, kernel="epanechnikov", engine="numpy")
    assert_type(d64, NDArray[np.float64])
    d32 = gilfree.kde(x, q, [0.3, 0.6], dtype=np.float32, log=True, engine="numpy")
    assert_type(d32, NDArray[np.float32])
    assert d32.dtype == np.float32 and d32.shape == (5, 2)
    by_name = gilfree.kde(x, q, 0.3, dtype="float32", weights=None, engine="numpy")
    assert_type(by_name, NDArray[np.float32])  # a dtype name picks the overload too
    assert by_name.dtype == np.float32

    est = gaussian_kde(x.T, bw_method="silverman", engine="numpy")
    assert_type(est.evaluate(q.T), NDArray[np.floating[Any]])
    assert_type(est(q.T), NDArray[np.floating[Any]])
    assert_type(est.logpdf(q.T), NDArray[np.floating[Any]])
    assert_type(est.neff, float)
    assert_type(est.factor, float)
    assert_type(est.resample(10, seed=1), NDArray[np.float64])
    assert_type(est.marginal(0), gaussian_kde)
    assert_type(est.integrate_gaussian(np.zeros(2), np.eye(2)), float)
    est.set_bandwidth(0.5)
    est.set_bandwidth(lambda k: 0.4)

    kd = KernelDensity(bandwidth="scott", kernel="gaussian", engine="numpy").fit(x)
    assert_type(kd, KernelDensity)
    assert_type(kd.score_samples(q), NDArray[np.floating[Any]])
    assert_type(kd.bandwidth_, float)
    assert_type(kd.sample(3, random_state=0), NDArray[np.float64])
    assert_type(kd.get_params(), dict[str, Any])
    assert_type(kd.set_params(bandwidth=0.5), KernelDensity)


def images() -> None:
    img8 = RNG.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    assert_type(gilfree.resize(img8, (32, 48), engine="numpy"), NDArray[np.uint8])
    imgf = RNG.random((64, 96)).astype(np.float32)
    assert_type(gilfree.resize(imgf, (32, 48), "area", engine="numpy"), NDArray[np.float32])
    half = [s // 2 for s in imgf.shape]  # a list works as a shape too
    assert gilfree.resize(imgf, half, engine="numpy").shape == (32, 48)
    listed: Any = imgf.tolist()
    assert_type(gilfree.resize(listed, (32, 48), engine="numpy"), NDArray[Any])
    batch = np.stack([img8, img8])
    out = np.empty((2, 16, 24, 3), np.uint8)
    assert_type(gilfree.resize_batch(batch, (16, 24), out=out, engine="numpy"), NDArray[np.uint8])
    method: str = gilfree.pillow_method(3)  # a method name
    assert method == "bicubic"
    assert gilfree.cv2_method("INTER_AREA") == "area"

    t = gilfree.tiles(img8, 32, threshold=200, min_fraction=0.0, out_shape=16, engine="numpy",
                      mask=None, pad=None, method="area", n_threads=1)
    assert_type(t, Tiles)
    assert_type(t.coords, NDArray[np.int64])
    assert_type(t.fraction, NDArray[np.float64])
    coords, fraction, patches = t
    batches = gilfree.iter_tiles(img8, (32, 32), batch_size=2, engine="numpy")
    assert_type(batches, Iterator[Tiles])
    assert sum(len(b.coords) for b in batches) == len(coords)


def signals() -> None:
    sig = RNG.standard_normal((100, 3))
    assert_type(gilfree.resample_linear(sig, 50, engine="numpy"), NDArray[np.float64])
    n = np.int64(25)  # NumPy integers count as ints
    assert gilfree.resample_linear(sig, n, axis=np.int64(0), engine="numpy").shape == (25, 3)
    many = gilfree.resample_linear_many([sig, sig[:80]], 40, engine="numpy")
    assert_type(many, NDArray[np.float64])
    f32 = sig.astype(np.float32)
    assert_type(gilfree.resample_poly(f32, 1000, 2048, engine="numpy"), NDArray[np.float32])
    poly = gilfree.resample_poly(sig, 2, 3, engine="numpy")
    assert_type(poly, NDArray[np.float64])  # float64 in, float64 out
    assert poly.dtype == np.float64
    assert_type(gilfree.resample_poly(sig.tolist(), 2, 3, engine="numpy"), NDArray[Any])

    tpl = RNG.standard_normal((20, 3))
    cost = gilfree.dtw.subsequence_cost_matrix(tpl, sig, engine="numpy")
    assert_type(cost, NDArray[np.float64])
    template = gilfree.dtw.DtwTemplate(tpl, 100.0, columns=["x", "y", "z"])
    est = gilfree.dtw.BarthDtw(template, snap_to_min_win_ms=None, max_cost=None,
                               find_matches_method="find_peaks")
    seg = est.segment(sig, 100.0, columns=["x", "y", "z"], engine="numpy")
    assert_type(seg, gilfree.dtw.BarthDtw)
    matches = seg.matches_start_end_
    if isinstance(matches, np.ndarray):  # a dict per sensor for multi-sensor data
        assert_type(matches, NDArray[np.int64])
    swept = gilfree.dtw.sweep(sig, 100.0, {"max_cost": [None, 5.0], "snap_to_min_win_ms": [None]}, template,
                              columns=["x", "y", "z"], engine="numpy")
    assert_type(swept, list[gilfree.dtw.BarthDtw])


def parallel() -> None:
    assert_type(gilfree.pmap(square, range(10)), list[int])
    assert_type(gilfree.pmap(to_text, [1.0, 2.5], backend="serial", chunksize=1), list[str])
    it = gilfree.imap(square, iter(range(5)), ordered=False, progress=False)
    assert_type(it, Generator[int, None, None])
    assert sorted(it) == [0, 1, 4, 9, 16]
    with contextlib.closing(gilfree.imap(square, range(100), backend="threads")) as lazy:
        assert next(lazy) == 0
    every = gilfree.pmap(square, range(4), backend="serial", n_workers=1, chunksize=2, ordered=True,
                         timeout=None, retries=0, initializer=None, initargs=(), inner_threads=None,
                         client=None, prefetch_bytes="auto")
    assert_type(every, list[int])
    done: list[tuple[int, int | None]] = []
    gilfree.pmap(square, range(3), progress=lambda n, total: done.append((n, total)))

    arr = gilfree.shared(np.zeros(10, dtype=np.float64))
    assert_type(arr, SharedArray[np.float64])
    with arr:
        assert_type(arr.is_shared, bool)
        assert_type(arr.segment_name, str | None)
        private = arr.copy()  # an ordinary, writeable array
        assert_type(private, NDArray[np.float64])
        private[0] = 1.0

    rows = gilfree.Parallelize([1.0, 2.0], lambda s: [s, s * 2], num_cores=1, backend="serial")
    assert_type(rows, NDArray[Any])
    subjects = RNG.random((4, 3))
    means = gilfree.Parallelize(subjects, lambda row: row.mean(), backend="serial")
    assert means.shape == (4, 1)
    points = gilfree.sweep(lambda a, b: a + b, {"a": [1, 2], "b": [10]}, backend="serial")
    assert_type(points, list[tuple[dict[str, Any], Any]])
    kd = gilfree.with_params(KernelDensity(), {"bandwidth": 0.2})
    assert_type(kd, KernelDensity)

    assert_type(gilfree.parallel.available_backends(), list[str])
    assert_type(gilfree.pmap(square, range(20), backend="auto"), list[int])
    plan = gilfree.parallel.last_plan()
    assert plan is not None
    assert_type(plan.backend, str)
    try:
        gilfree.pmap(square, range(3), timeout=10.0, retries=0)
    except gilfree.TaskTimeoutError as exc:
        assert_type(exc.index, int | None)
    except gilfree.WorkerCrashedError as exc:
        assert_type(exc.candidates, list[int])


def bench() -> None:
    class Squares(gilfree.bench.Workload):
        name = "typing-squares"
        title = "squares"

        def params(self, quick: bool) -> dict[str, Any]:
            return {"n": 10}

        def setup(self, params: dict[str, Any]) -> Any:
            return list(range(params["n"]))

        def reference(self, data: Any) -> Any:
            return [x * x for x in data]

        def approaches(self, data: Any, workers: Sequence[int]) -> list[gilfree.bench.Approach]:
            return [gilfree.bench.Approach("serial", "python", 1, lambda: [x * x for x in data])]

    wl = gilfree.bench.register(Squares())
    assert_type(wl, Squares)
    assert_type(gilfree.bench.get_workload("typing-squares"), gilfree.bench.Workload)
    assert_type(gilfree.bench.default_workers(2), list[int])
    fit = gilfree.bench.amdahl_fit([1, 2, 4], [1.0, 0.55, 0.3])
    if fit is not None:
        assert_type(fit.speedup(8), float)


def deprecated_names() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = gilfree.resample(np.arange(4.0), 3)  # type: ignore[deprecated]
        dens = gilfree.parzen([0.0, 1.0], [0.5], 1.0)  # type: ignore[deprecated]
    assert_type(out, NDArray[np.float64])
    assert_type(dens, NDArray[np.float64])


def compare() -> None:
    result = gilfree.compare(square, range(20), backends=("serial", "threads"), budget_s=2)
    assert_type(result.median("serial"), float | None)


def checked_not_run(x: NDArray[np.float64], img: NDArray[np.uint16]) -> None:
    """Type-checked by mypy, never called (the distributed adapters want a Dask
    cluster).  A call ending in ``# type: ignore[code]`` is one the stubs must
    refuse: mypy --strict reports an unused ignore when a stub accepts it."""
    import gilfree.distributed as gd

    assert_type(gd.kde(x, x, 0.5), NDArray[np.float64])
    assert_type(gd.kde(x, x, 0.5, dtype=np.float32, client="tcp://127.0.0.1:8786"), NDArray[np.float32])
    assert_type(gd.parzen_counts(x, x, 0.5, engine="numba", n_workers=2, retries=1), NDArray[np.int64])
    assert_type(gd.parzen_density(x, x, [0.5, 1.0], weights=None), NDArray[np.float64])
    assert_type(gd.resize_batch(img, (8, 8), "area", size=None), NDArray[np.uint16])
    assert_type(gd.tiles([img, "slide.tif"], 16, mask=[None, "mask.tif"], pad=0.0), list[Tiles])
    swept = gd.dtw_sweep(x, 100.0, {"max_cost": [1.0]}, columns=["x"], retries=None)
    assert_type(swept, list[gilfree.dtw.BarthDtw])
    assert_type(gd.scale_items(square, [1, 2], threads_arg=None, client=None), list[int])
    assert_type(gilfree.dtw.sweep(x, 100.0, [{"max_cost": [1.0]}], n_threads=2), list[gilfree.dtw.BarthDtw])
    assert_type(gilfree.iter_tiles(img, 16, batch_size=8, mask=None), Iterator[Tiles])
    assert_type(gilfree.resize(img, (8, 8), size=None, n_threads=2), NDArray[np.uint16])

    # wrong keywords and values
    gd.kde(x, x, 0.5, n_threads=2)  # type: ignore[call-overload]  # a cluster adapter has no n_threads
    gd.parzen_counts(x, x, 0.5, n_threads=2)  # type: ignore[call-arg]
    gd.parzen_density(x, x, 0.5, wieghts=None)  # type: ignore[call-arg]
    gd.resize_batch(img, (8, 8), out=img)  # type: ignore[call-overload]
    gd.tiles([img], 16, engine="cuda")  # type: ignore[arg-type]
    gd.dtw_sweep(x, 100.0, {}, n_workers="2")  # type: ignore[arg-type]
    gd.scale_items(square, [1], engine="numpy")  # type: ignore[call-arg]
    gilfree.kde(x, x, 0.5, client=None)  # type: ignore[call-overload]
    gilfree.parzen_counts(x, x, 0.5, weights=None)  # type: ignore[call-arg]
    gilfree.tiles(img, 16, batch_size=4)  # type: ignore[call-arg]  # iter_tiles only
    gilfree.resample_linear(x, 10, engine="cuda")  # type: ignore[arg-type]
    gilfree.pmap(square, [1], chunk_size=2)  # type: ignore[call-arg]
    gilfree.imap(square, [1], progress="yes")  # type: ignore[arg-type]
    gilfree.sweep(square, {"x": [1]}, ordered=True)  # type: ignore[call-arg]
    gilfree.set_tuning(tiles_band_bytes="8M")  # type: ignore[arg-type]


def main() -> None:
    config()
    density()
    images()
    signals()
    parallel()
    bench()
    deprecated_names()
    compare()
    print("usage.py: ok")


if __name__ == "__main__":
    main()
