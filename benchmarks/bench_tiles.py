"""Slide-tiling benchmarks (targets measured as ratios in one run).

The slide: a synthetic 20,000 x 20,000 x 3 uint8 whole-slide image (tissue
blobs on a white background, about 30 % tissue) written as a ``.npy`` to
pytest's temporary directory (about 1.2 GB, created when these
benchmarks run and removed afterwards), opened with ``np.load(mmap_mode="r")``.
256 x 256 tiles, stride 256, ``luma < 220`` foreground, min_fraction 0.5,
kept tiles shrunk to 64 x 64.

- ``tiles-slide``: the seed approach (a 2-process ``ProcessPoolExecutor``,
  spawned, ``executor.map`` of a per-tile function that crops with NumPy,
  computes Pillow's luma fraction and resizes kept tiles with Pillow
  ``BOX``; the workers open the slide afresh for every pass, as gilfree
  does) vs ``gilfree.tiles`` on 2 threads.  Target >= 10x the seed as
  specified (``map``'s default of one tile per task), identical kept set
  (and, for ``method="box"``, identical patches); the ratio against the
  seed with 64 tiles per task is recorded too.
- ``tiles-threads``: 2 threads >= 1.7x 1 thread, page cache warm.
- ``tiles-probe``: the same call on 1 thread in slide pixels per second
  (every pixel is measured; kept tiles are also shrunk), as a fraction of
  the tiles probe (the luma rule per RGB pixel): target >= 0.8.
- ``tiles-memory``: peak resident memory of the same call measured in a
  subprocess: <= 512 MB beyond the output array; ``iter_tiles`` with
  batch_size 256: <= 256 MB peak for the whole process.

Run: ``python -m pytest benchmarks/bench_tiles.py --benchmark-only``.
"""

import multiprocessing
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import gilfree
from gilfree.bench._memory import CHILD_HELPERS, run_measured
from gilfree.bench.workloads.tiles import seed_pool, seed_tile, synthetic_slide

SLIDE = "tiles-slide"
THREADS = "tiles-threads"
MEMORY = "tiles-memory"
SHAPE = (20_000, 20_000)
KW = dict(threshold=220, min_fraction=0.5, out_shape=64)


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiles-slide") / "slide.npy"
    mm = synthetic_slide(SHAPE, path=str(path), seed=5)
    ref = gilfree.tiles(mm, 256, method="box", engine="cython", **KW)
    yield str(path), mm, ref
    del mm
    path.unlink()


def _same_kept_set(got, ref):
    np.testing.assert_array_equal(got.coords, ref.coords)
    np.testing.assert_array_equal(got.fraction, ref.fraction)


@pytest.mark.parametrize("chunksize", [1, 64])
def test_seed_2_processes(benchmark, ratios, slide, chunksize):
    path, _, ref = slide
    benchmark.group = SLIDE
    ctx = multiprocessing.get_context("spawn")  # no fork after OpenMP threads ran
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        list(ex.map(seed_tile, [path] * 4, [0] * 4, [0] * 4))  # start, import, open
        got = benchmark.pedantic(seed_pool, args=(ex, path, SHAPE, chunksize), rounds=2,
                                 iterations=1)
    _same_kept_set(got, ref)
    np.testing.assert_array_equal(got.patches, ref.patches)  # Pillow BOX, bit-exact
    ratios.record(benchmark, SLIDE, f"seed-2proc-chunk{chunksize}")
    benchmark.extra_info["kept"] = int(len(got.coords))


@pytest.mark.parametrize("engine", ["cython", "numba"])
@pytest.mark.parametrize("method", ["box", "area"])
def test_gilfree_2_threads(benchmark, ratios, slide, engine, method):
    path, mm, ref = slide
    benchmark.group = SLIDE
    gilfree.tiles(mm[:1024], 256, method=method, engine=engine, n_threads=2, **KW)  # compile
    got = benchmark.pedantic(gilfree.tiles, args=(mm, 256),
                             kwargs=dict(method=method, engine=engine, n_threads=2, **KW),
                             rounds=5, iterations=1, warmup_rounds=1)
    _same_kept_set(got, ref)
    if method == "box":
        np.testing.assert_array_equal(got.patches, ref.patches)
    tuned = ratios.median(SLIDE, "seed-2proc-chunk64")
    if tuned is not None:
        benchmark.extra_info["x_vs_seed-2proc-chunk64"] = round(
            tuned / benchmark.stats.stats.median, 2)
    ratios.check(benchmark, SLIDE, f"{engine}-{method}-2threads",
                 faster_than="seed-2proc-chunk1", at_least=10)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_threads(benchmark, ratios, slide, n_threads):
    _, mm, ref = slide
    benchmark.group = THREADS
    got = benchmark.pedantic(gilfree.tiles, args=(mm, 256),
                             kwargs=dict(engine="cython", n_threads=n_threads, **KW),
                             rounds=5, iterations=1, warmup_rounds=1)
    _same_kept_set(got, ref)
    if n_threads == 1:
        ratios.record(benchmark, THREADS, "cython-1thread")
    else:
        ratios.check(benchmark, THREADS, "cython-2threads", faster_than="cython-1thread",
                     at_least=1.7)


_MEMORY_SCRIPT = CHILD_HELPERS + textwrap.dedent("""
    import json, sys
    import numpy as np
    import gilfree

    path, mode = sys.argv[1], sys.argv[2]
    kw = dict(threshold=220, min_fraction=0.5, out_shape=64)
    slide = np.load(path, mmap_mode="r")
    gilfree.tiles(np.zeros((512, 512, 3), np.uint8), 256, **kw)  # load the kernels first
    reset_peak()
    base = status("VmRSS:")
    t0 = time.monotonic()
    if mode == "tiles":
        t = gilfree.tiles(slide, 256, **kw)
        out, k = t.patches.nbytes, len(t.coords)
    else:
        out = k = 0
        for batch in gilfree.iter_tiles(slide, 256, batch_size=256, **kw):
            k += len(batch.coords)
    t1 = time.monotonic()
    print(json.dumps({"t0": t0, "t1": t1, "base": base, "hwm": status("VmHWM:"), "out": out,
                      "k": k}))
""")


def _measure_memory(path, mode, tmp_path):
    """Peak resident memory of the call in a fresh process: the larger of
    its VmHWM and its resident set sampled from this process every 0.2 ms
    (gilfree.bench._memory explains why both)."""
    script = tmp_path / "memory.py"
    script.write_text(_MEMORY_SCRIPT)
    return run_measured([sys.executable, str(script), path, mode])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_tiles(benchmark, slide, tmp_path):
    path, _, ref = slide
    benchmark.group = MEMORY
    m = benchmark.pedantic(_measure_memory, args=(path, "tiles", tmp_path), rounds=1,
                           iterations=1)
    assert m["k"] == len(ref.coords)
    beyond = (m["peak"] - m["base"] - m["out"]) / 2**20
    benchmark.extra_info.update(peak_beyond_output_mb=round(beyond, 1),
                                hwm_beyond_output_mb=round(
                                    (m["hwm"] - m["base"] - m["out"]) / 2**20, 1),
                                samples=m["samples"],
                                output_mb=round(m["out"] / 2**20, 1),
                                slide_mb=round(np.prod(SHAPE) * 3 / 2**20))
    assert beyond <= 512, f"peak {beyond:.0f} MB beyond the output; target <= 512 MB"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_iter_tiles(benchmark, slide, tmp_path):
    path, _, ref = slide
    benchmark.group = MEMORY
    m = benchmark.pedantic(_measure_memory, args=(path, "iter", tmp_path), rounds=1,
                           iterations=1)
    assert m["k"] == len(ref.coords)
    total = m["peak"] / 2**20
    benchmark.extra_info.update(peak_total_mb=round(total, 1), samples=m["samples"],
                                peak_beyond_start_mb=round((m["peak"] - m["base"]) / 2**20, 1))
    assert total <= 256, f"iter_tiles peaked at {total:.0f} MB in total; target <= 256 MB"


@pytest.mark.parametrize("engine", ["cython", "numba"])
def test_vs_probe(benchmark, ratios, slide, engine):
    _, mm, _ = slide
    benchmark.group = "tiles-probe"
    run = lambda: gilfree.tiles(mm, 256, engine=engine, n_threads=1, **KW)  # noqa: E731
    benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=1)
    ratios.probe(benchmark, "tiles 20000^2 RGB, 256 -> 64", engine, run,
                 SHAPE[0] * SHAPE[1], "tiles", target=0.8, repeats=2)
