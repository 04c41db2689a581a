"""Tuning constants: every chunk size, threshold, budget and timeout of
gilfree, in one place.

Other modules read them as ``gilfree._config.NAME`` when they run, so a
change made through :func:`gilfree.set_tuning` (for the names in
:data:`TUNABLE`) or a test's ``monkeypatch.setattr(_config, NAME, ...)``
takes effect at the next call.  Constants marked "compiled" have twins in
``ext/*.pyx`` or in the Numba engines' compiled code; the engine contract
test (``tests/test_engine_contract.py``) checks that both sides agree, and
they are not changeable at run time.
"""

# -- Kernels -----------------------------------------------------------------

#: Samples per inner block of the Parzen kernels (compiled: ext/parzen.pyx).
PARZEN_BLOCK = 256
#: Relative difference under which two dimensions' spreads count as equal
#: when the Parzen index picks its strip dimensions (the compiled and the
#: NumPy plan then pick the same dimension although they round differently;
#: compiled: ext/parzen.pyx).
PARZEN_SPREAD_TIE_RTOL = 1e-9
#: Parzen strips per widest half window along the key dimension (finer
#: strips visit fewer non-candidates but cost more binary searches).
PARZEN_STRIPS_PER_WINDOW = 4
#: Fewest samples per Parzen strip on average (caps the number of strips).
PARZEN_MIN_STRIP_SAMPLES = 32
#: Parzen uses at most one thread per this many (point, sample) pairs.
PARZEN_MIN_PAIRS_PER_THREAD = 2**17
#: Fewest points for which Parzen sorts the samples into strips; below it
#: every sample is visited (sorting would cost more than it saves).
PARZEN_INDEX_MIN_POINTS = 64
#: Parzen width lookup table: buckets per width, and at least this many.
PARZEN_LUT_PER_WIDTH = 8
PARZEN_LUT_MIN = 64
#: Below this many points per thread, Parzen splits each point's samples
#: across threads (unweighted counts only: integer sums are exact).
PARZEN_POINTS_PER_THREAD = 4
#: Fewest samples worth giving a thread of their own when splitting a point.
PARZEN_MIN_SPLIT_SAMPLES = 4096
#: Memory budget (bytes) of one temporary block in the numpy engines.
NUMPY_BLOCK_BYTES = 32 * 2**20

#: 8-bit horizontal resize taps are padded to a multiple of this many when an
#: output has at least this many taps (fixed trip count: the dot product
#: vectorises; zero weights leave the integer sums unchanged).
RESIZE_TAP_PAD = 8
#: Cached tap tables of the image resamplers (one per axis size, method).
RESIZE_PLAN_CACHE = 256
#: Output samples per parallel task of resample_poly (compiled:
#: ext/resample.pyx).
RESAMPLE_POLY_CHUNK = 1024
#: Cached resample_poly filters (one per reduced up/down ratio).
RESAMPLE_FILTER_CACHE = 64
#: The Numba resample_poly's blocked kernel: outputs times channels computed
#: side by side per tap (the length of its row of sums), and at least this
#: many consecutive outputs per slot of a block.
NUMBA_POLY_LANES = 96
NUMBA_POLY_SLOT = 64
#: Filters with more taps per phase than this, or slots whose input window
#: is longer than NUMBA_POLY_BLOCK_MAX_SPAN samples (large up and down), use
#: one dot product per output: a block's window would leave the caches.
NUMBA_POLY_BLOCK_MAX_TAPS = 128
NUMBA_POLY_BLOCK_MAX_SPAN = 4096
#: The Numba resize's horizontal pass: image rows per block (a multiple of
#: 16: they are transposed 16 at a time), and the most bytes of scratch a
#: task's blocks may take (wider images go row by row).
NUMBA_RESIZE_ROWS = 64
NUMBA_RESIZE_BLOCK_BYTES = 4 << 20
#: Parallel tasks per thread when the engines split rows or samples into
#: chunks (compiled: ext/resample.pyx).
RESIZE_CHUNKS_PER_THREAD = 4

#: Slide tiling: bytes of image (plus staged patches) one band of tile rows
#: may span; a memmap is read, processed and released band by band.
TILES_BAND_BYTES = 32 * 2**20
#: Slide tiling: ``tiles()`` reads the image once and collects the kept
#: patches per band when a resized patch has at most this fraction of a
#: tile's pixels (the extra memory is then at most the output itself);
#: otherwise it measures every tile first, allocates the exact output and
#: reads the bands holding kept tiles a second time.
TILES_ONE_PASS_MAX_RATIO = 0.25
#: Slide tiling: with an engine that can (Cython), a C-contiguous image is
#: processed in one parallel region per pass, its bands' pages released as
#: their last tile is done, instead of one region per band.
TILES_ONE_REGION = True

#: The exp-family KDE kernels need the sample count padded to a multiple of
#: this (compiled: ext/kde.pyx LANES); every variant's number of partial
#: sums (SIMD_TUNING) divides it.
KDE_LANES = 32
#: Samples per partial sum of the KDE kernels (ext/kde.pyx CHUNK): each
#: point's sum is formed chunk by chunk in this fixed order, whatever the
#: thread count.
KDE_CHUNK = 4096
#: Points per task of the exp-family KDE kernels (ext/kde.pyx PBLOCK): a
#: chunk of samples stays in cache while this many points use it.
KDE_POINT_BLOCK = 32
#: KDE kernels use at most one thread per this many (point, sample,
#: bandwidth, dimension) terms: waking a thread team costs more than a
#: tiny call (one point in a quadrature loop).
KDE_MIN_PAIRS_PER_THREAD = 2**15
#: gaussian_kde from this many dimensions on forms the (point, sample)
#: distances by matrix products (BLAS) instead of the compiled pair loop
#: (gilfree._kde_highdim).
KDE_GEMM_MIN_DIM = 64
#: ... for the points whose rounding bound on a term's relative error (from
#: the cancellation in |q|^2 + |x|^2 - 2 q.x) stays below this; the others
#: use the compiled kernel, which forms every difference exactly.
KDE_GEMM_MAX_TERM_ERROR = 1e-11
#: gaussian_kde whitens by forward substitution column by column up to this
#: many dimensions, beyond by blocks of this many columns and matrix products.
KDE_WHITEN_BLOCK = 64
#: Compact KDE kernels prune with a 2-D grid of cells of edge >= the widest
#: bandwidth; at most this many cells per sample (and KDE_MAX_CELLS overall).
KDE_CELLS_PER_SAMPLE = 2
KDE_MAX_CELLS = 2**22
#: Relative widening of the compact kernels' scan window beyond the widest
#: bandwidth (covers float32 rounding of the distance test).
KDE_WINDOW_MARGIN = 1e-5
#: The python engine with n_threads > 1 runs chunks of points on a process
#: pool; fewest points per chunk.
KDE_PYTHON_MIN_POINTS_PER_TASK = 16
#: Subsequence DTW (gilfree.dtw): the accumulated cost matrix is computed in
#: tiles of (rows / row blocks) x DTW_BLOCK_COLS signal columns, one row band
#: per thread, pipelined along the signal.  Narrower tiles are used for short
#: signals so that every row block still gets DTW_MIN_BLOCKS_PER_ROW_BLOCK
#: tiles.
DTW_BLOCK_COLS = 2048
DTW_MIN_BLOCK_COLS = 64
DTW_MIN_BLOCKS_PER_ROW_BLOCK = 8
#: Fewest template rows per row block: fewer rows than this per thread and
#: the wavefront uses fewer row blocks (threads) than asked.
DTW_MIN_ROWS_PER_BLOCK = 16
#: Column-block width of the NumPy engine's anti-diagonal sweep.
DTW_NUMPY_BLOCK_COLS = 4096
#: Fewest match ends worth backtracking on several threads (a path is a few
#: hundred steps: below this, starting threads costs more than it saves).
DTW_PARALLEL_PATHS_MIN = 4096

#: Tuning constants that differ between the SIMD variants of the compiled
#: kernels (baseline SSE2, AVX2 + FMA with 16 vector registers, AVX-512 with
#: 32): one dict per variant.  The C side (ext/_tuning.pxd) holds the same
#: numbers; every kernel module exports its build's as ``TUNING`` and the
#: tests check both agree.
#:
#: - ``kde_acc_f64`` / ``kde_acc_f32``: partial sums of the exp-family KDE
#:   sample loops (two vectors' worth: enough independent exps in flight to
#:   keep the FMA units busy, few enough to stay in registers on AVX2).
SIMD_TUNING = {
    "baseline": {"kde_acc_f64": 4, "kde_acc_f32": 8,
                 # resample_sets: interleaved sets of channel sums in
                 # resample_poly's inner product (ext/resample.pyx)
                 "resample_sets": 2,
                 # resize_rows: image rows the horizontal pass of the
                 # convolution resamplers computes at once (ext/_resize_core.pxi);
                 # resize_u8_blocks: 1 if the 8-bit one goes by such blocks too
                 # (else row by row)
                 "resize_rows": 16, "resize_u8_blocks": 0},
    "avx2": {"kde_acc_f64": 8, "kde_acc_f32": 16,
             "resample_sets": 2, "resize_rows": 16, "resize_u8_blocks": 0},
    "avx512": {"kde_acc_f64": 16, "kde_acc_f32": 32,
               "resample_sets": 4, "resize_rows": 16, "resize_u8_blocks": 1},
}

# -- Parallel map (gilfree.parallel) -----------------------------------------

#: NumPy arrays at least this large (bytes) in the arguments of process tasks
#: travel through shared memory instead of being pickled.
PARALLEL_SHARE_MIN_BYTES = 2**20
#: Shared buffers of arrays whose chunks have all finished are kept and their
#: pages reused for later arrays of about the same size (False: freed at
#: once).  At most PARALLEL_SHARE_POOL_MAX_BYTES and
#: PARALLEL_SHARE_POOL_MAX_BUFFERS idle buffers are kept (and at most an
#: eighth of RLIMIT_NOFILE: each holds two descriptors), each for
#: PARALLEL_SHARE_POOL_IDLE_SECONDS after its last use.
PARALLEL_SHARE_POOL = True
PARALLEL_SHARE_POOL_MAX_BYTES = 2**30
PARALLEL_SHARE_POOL_MAX_BUFFERS = 1024
PARALLEL_SHARE_POOL_IDLE_SECONDS = 20.0
#: Shared arrays one processes map may have in flight (each costs the caller
#: one or two file descriptors); also at most a quarter of RLIMIT_NOFILE.
PARALLEL_SHARE_MAX_BUFFERS = 256
#: prefetch_bytes="auto" of pmap/imap: bytes of arrays the chunks in flight
#: may hold (at most an eighth of the physical memory).
PARALLEL_PREFETCH_BYTES = 512 * 2**20
#: Target duration (seconds) of one chunk of tasks, per kind of backend:
#: long enough to amortise the per-chunk cost, short enough to balance load.
PARALLEL_TARGET_CHUNK_SECONDS = {"serial": 0.01, "threads": 0.01, "processes": 0.05}
#: Auto chunking never puts more tasks than this in one chunk.
PARALLEL_MAX_AUTO_CHUNK = 20_000
#: With a known input length, auto chunks leave at least this many chunks per
#: worker for what remains (load balance at the tail).
PARALLEL_TAIL_CHUNKS_PER_WORKER = 4
#: ... but never shorter than this fraction of the target duration.
PARALLEL_TAIL_MIN_FRACTION = 0.25
#: Tasks in the first auto chunks (the probes) when the input has a length.
PARALLEL_PROBE_TASKS = 8
#: Auto chunk sizes grow at most this factor per measurement.
PARALLEL_CHUNK_GROWTH = 16384
#: Chunks submitted but not finished, per worker (bounded prefetch).
PARALLEL_INFLIGHT_PER_WORKER = 2
#: Chunks finished or running but not yet yielded, per worker (ordered mode).
PARALLEL_PENDING_PER_WORKER = 4
#: The Python fallback of the process workers' task loop (used when the
#: compiled gilfree._cy._runloop is missing) reads the map's stop word once
#: per stride of tasks: the stride doubles while one lasts under
#: PARALLEL_STRIDE_FAST seconds (up to PARALLEL_STRIDE_MAX tasks) and halves
#: when one lasts over PARALLEL_STRIDE_SLOW.
PARALLEL_STRIDE_MAX = 64
PARALLEL_STRIDE_FAST = 0.0005
PARALLEL_STRIDE_SLOW = 0.005
#: Retry back-off: base * 2**attempt seconds, capped, with +-25 % jitter.
PARALLEL_RETRY_BACKOFF_BASE = 0.1
PARALLEL_RETRY_BACKOFF_MAX = 30.0
#: A process task past its timeout is first interrupted inside its worker
#: (Python code); if it is still running this much later it is killed.
PARALLEL_TIMEOUT_GRACE = 1.0
#: Idle process workers exit after this many seconds (the pool is reused
#: between maps until then).
PARALLEL_WORKER_IDLE_TIMEOUT = 300.0
#: How often (seconds) the caller checks timeouts and Ctrl-C while waiting.
PARALLEL_POLL_INTERVAL = 0.05

# -- pmap(backend="auto") and gilfree.compare --------------------------------

#: backend="auto" times the first tasks serially (results kept) and then,
#: unless they mostly wait, the next ones on two threads; each of these
#: probes takes about this share of the predicted serial time of the rest
#: of the map (within the bounds below), so that on short maps they cost
#: little.
AUTO_PROBE_SHARE = 0.03
#: The serial probe: batches of 1, 1, 2, 4, ... tasks until the batches
#: after the first (which may pay a compile) have taken at least this many
#: seconds ...
AUTO_SERIAL_PROBE_MIN_SECONDS = 0.001
#: ... and at most this many (the share above, bounded).
AUTO_SERIAL_PROBE_SECONDS = 0.01
#: ... or only this many seconds when those batches mostly waited (I/O,
#: sleep: threads, nothing more to measure).
AUTO_IO_PROBE_SECONDS = 0.002
#: The timed first tasks on threads (which measure how much of a task holds
#: the GIL): two tasks on each of two threads at least, about
#: AUTO_PROBE_SHARE of the rest, at most this many serial seconds of tasks.
AUTO_THREAD_PROBE_SECONDS = 0.05
#: Tasks shorter than this (seconds) are not probed on threads: per-task
#: hand-offs would cost more than a GIL-free task could gain.
AUTO_THREAD_PROBE_MIN_TASK = 100e-6
#: What is left after the serial probe runs serially when it should take
#: less than this (no pool is worth starting).
AUTO_SERIAL_BELOW_SECONDS = 0.02
#: Tasks whose CPU time is below this share of their wall time mostly wait
#: (I/O, sleep): threads, with up to AUTO_MAX_IO_WORKERS of them when
#: n_workers is None.
AUTO_IO_CPU_SHARE = 0.5
AUTO_MAX_IO_WORKERS = 32
#: A parallel backend is chosen only when its predicted time beats serial
#: by this factor (else serial: nothing started, nothing pickled).
AUTO_MIN_GAIN = 1.1
#: Predicted start-up of a process pool (seconds, when no pool of that size
#: is running yet; multiplied by load average / cores when above 1), and the
#: fixed cost of one processes map on a running pool.
AUTO_PROCESS_START_SECONDS = 1.0
AUTO_PROCESS_MAP_SECONDS = 0.05
#: Items (and their results) pickled, as one list each, to measure the
#: pickling cost per item.
AUTO_PICKLE_SAMPLE = 64
#: gilfree.compare: share of budget_s spent timing serial runs of a sample
#: to size the measured subset.
COMPARE_PROBE_SHARE = 0.05


# -- Dask scale-out (gilfree.parallel backend "dask", gilfree.distributed) ---

#: Target duration of one chunk of map tasks on Dask: a task costs the
#: scheduler a few milliseconds, so chunks are longer than on processes.
PARALLEL_TARGET_CHUNK_SECONDS["dask"] = 0.1
#: NumPy arrays at least this large (bytes) in a Dask map's items are
#: scattered to the workers once and referenced by every task.
DASK_SCATTER_MIN_BYTES = 2**20
#: Times a Dask map resubmits a chunk lost with its workers (its result,
#: or the function or arrays scattered for it) -- a rerun, not a retry.
DASK_LOST_RESUBMITS = 5
#: Times a task the scheduler gave up on (KilledWorker) is resubmitted when
#: the caller gives no ``retries`` (the gilfree.distributed adapters).
DASK_KILLED_RESUBMITS = 2
#: Seconds a broadcast scatter may take before gilfree scatters to one
#: worker instead (the others then fetch from it).
DASK_BROADCAST_TIMEOUT = 10.0
#: Seconds to wait for a LocalCluster gilfree started to close.
DASK_CLOSE_TIMEOUT = 20.0
#: Seconds to wait for a new LocalCluster's workers to come up.
DASK_START_TIMEOUT = 60.0
#: Chunks per worker in gilfree.distributed's kernel scale-out: one coarse
#: chunk per worker (stumpy's ``stumped`` model), sized by its threads.
DISTRIBUTED_CHUNKS_PER_WORKER = 1
#: gilfree.distributed.tiles: a slide is cut into row bands of whole tile
#: rows when it would otherwise be a larger task than the cohort's share of
#: one worker slot divided by this (so uneven cohorts balance) ...
DISTRIBUTED_TILES_PARTS_PER_WORKER = 4
#: ... but never into bands that read fewer bytes of image than this (each
#: task costs the scheduler a few milliseconds).
DISTRIBUTED_TILES_MIN_PART_BYTES = 64 * 2**20

# -- What users may change at run time (gilfree.set_tuning) ------------------

#: ``gilfree.set_tuning`` keyword -> (kind, smallest value); the keyword is
#: the constant's name in lower case.  Only constants read when a call runs
#: and that never change a result: memory budgets, when to start threads,
#: when to scatter or share arrays, and how long to wait for a cluster.
TUNABLE = {
    "tiles_band_bytes": ("int", 1),
    "kde_min_pairs_per_thread": ("int", 1),
    "parzen_min_pairs_per_thread": ("int", 1),
    "parallel_share_min_bytes": ("int", 1),
    "dask_scatter_min_bytes": ("int", 1),
    "dask_start_timeout": ("seconds", 0),
    "dask_close_timeout": ("seconds", 0),
}

__all__ = [name for name in dir() if name.isupper()]  # every constant above
