"""Thread counts as the ecosystem sets them: threadpoolctl, OMP_NUM_THREADS,
gilfree.threads / set_num_threads, CPU affinity and cgroup CPU quotas.

Thread limits are checked by what the kernels report they ran with: every
OpenMP parallel region of the Cython engines records the size of its team
(``_omp_team_size`` of each extension module), and the Numba engines record
the thread count Numba launches their ``prange`` loops with.
"""

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import gilfree
from gilfree import _config

threadpoolctl = pytest.importorskip("threadpoolctl")

COMPILED = ("cython", "numba")


# --------------------------------------------------------------------------
# the kernels, each with an input large enough to run its parallel regions
# --------------------------------------------------------------------------

_rng = np.random.default_rng(0)
_X2 = _rng.standard_normal((6000, 2))
_Q2 = _rng.standard_normal((1500, 2))
_SIG = _rng.standard_normal((20_000, 3))
_IMGS = _rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
_SLIDE = _rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
_TEMPLATE = _rng.standard_normal((128, 3))
_STRIDES = [_rng.standard_normal((int(n), 3)) for n in _rng.integers(50, 300, 400)]


def _dtw(engine, n_threads):
    from gilfree import dtw

    dtw.subsequence_cost_matrix(_TEMPLATE, _SIG[:4000], engine=engine, n_threads=n_threads)


#: kernel family -> call(engine, n_threads); n_threads=None: the default
KERNELS = {
    "parzen": lambda e, n: gilfree.parzen_density(_X2, _Q2, [0.3, 0.5], engine=e, n_threads=n),
    "parzen_counts": lambda e, n: gilfree.parzen_counts(_X2, _Q2, 0.4, engine=e, n_threads=n),
    "kde": lambda e, n: gilfree.kde(_X2, _Q2, 0.3, engine=e, n_threads=n),
    "kde_compact": lambda e, n: gilfree.kde(_X2, _Q2, 0.3, kernel="epanechnikov", engine=e,
                                            n_threads=n),
    "gaussian_kde": lambda e, n: gilfree.gaussian_kde(_X2.T, engine=e, n_threads=n)(_Q2.T),
    "resize": lambda e, n: gilfree.resize_batch(_IMGS, (64, 48), "bicubic", engine=e,
                                                n_threads=n),
    "resize_area": lambda e, n: gilfree.resize_batch(_IMGS, (64, 64), "area", engine=e,
                                                     n_threads=n),
    "resize_one": lambda e, n: gilfree.resize(_IMGS[0], (100, 90), "lanczos", engine=e,
                                              n_threads=n),
    "resample_poly": lambda e, n: gilfree.resample_poly(_SIG, 125, 256, engine=e, n_threads=n),
    "resample_linear": lambda e, n: gilfree.resample_linear(_SIG, 7777, engine=e, n_threads=n),
    "resample_linear_many": lambda e, n: gilfree.resample_linear_many(_STRIDES, 200, engine=e,
                                                                      n_threads=n),
    "tiles": lambda e, n: gilfree.tiles(_SLIDE, 64, threshold=200, min_fraction=0.1,
                                        out_shape=16, engine=e, n_threads=n),
    "dtw": _dtw,
}

#: the engine registry's name of each kernel's family
FAMILY = {"parzen_counts": "parzen", "kde_compact": "kde", "gaussian_kde": "kde",
          "resize_area": "resize", "resize_one": "resize", "resample_poly": "resample",
          "resample_linear": "resample", "resample_linear_many": "resample"}


def _probe(engine, family):
    """A function returning and resetting (largest, last) team size."""
    if engine == "numba":
        _config.get_engine(family, "numba")
        from gilfree import _numba

        return lambda: _numba.team_size(reset=True)
    mod = _config.get_engine(family, "cython")[1]
    return lambda: mod._omp_team_size(True)


def _run_and_report(kernel, engine, n_threads):
    family = FAMILY.get(kernel, kernel)
    probe = _probe(engine, family)
    probe()
    KERNELS[kernel](engine, n_threads)
    return probe()


@pytest.fixture(scope="module", autouse=True)
def _compiled_once():
    """Run every kernel once (Numba compiles on first use)."""
    for kernel in KERNELS:
        for engine in COMPILED:
            KERNELS[kernel](engine, 2)


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_every_kernel_runs_one_thread_inside_limits(kernel, engine):
    """Inside threadpool_limits(1) and inside gilfree.threads(1), every kernel
    resolves and runs one thread; outside, the same call with two threads
    reports two (so the probe sees real teams)."""
    family = FAMILY.get(kernel, kernel)
    largest, _ = _run_and_report(kernel, engine, 2)
    assert largest == 2, f"{kernel}/{engine}: the probe saw {largest} threads for n_threads=2"
    for scope in (lambda: threadpoolctl.threadpool_limits(1),
                  lambda: threadpoolctl.threadpool_limits(1, user_api="openmp"),
                  lambda: gilfree.threads(1)):
        with scope():
            assert _config.select(family, engine, None)[2] == 1
            assert gilfree.get_num_threads() == 1
            largest, last = _run_and_report(kernel, engine, None)
        assert largest <= 1 and last <= 1, f"{kernel}/{engine} ran {largest} threads"
    # an explicit n_threads is never capped
    with threadpoolctl.threadpool_limits(1):
        largest, _ = _run_and_report(kernel, engine, 2)
    assert largest == 2


def test_blas_limits_do_not_limit_gilfree():
    default = gilfree.get_num_threads()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert gilfree.get_num_threads() == default


def test_threadpoolctl_sees_gilfrees_openmp_runtime():
    """``import gilfree`` loads the OpenMP runtime of its extensions, so a
    threadpool_limits block entered before the first kernel call reaches it."""
    code = textwrap.dedent("""
        import threadpoolctl, gilfree
        from gilfree import _config
        apis = {i["user_api"] for i in threadpoolctl.threadpool_info()}
        with threadpoolctl.threadpool_limits(1):
            name, mod, nt = _config.select("resize", "cython", None)
            print("openmp" in apis, nt)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_clean_env()).stdout.split()
    assert out == ["True", "1"]


def test_limits_are_per_thread_as_openmps_are():
    """omp_set_num_threads (what threadpoolctl calls) sets the calling
    thread's OpenMP value: another thread keeps the default."""
    default = gilfree.get_num_threads()
    seen = []
    with threadpoolctl.threadpool_limits(1):
        t = threading.Thread(target=lambda: seen.append(gilfree.get_num_threads()))
        t.start()
        t.join()
        assert gilfree.get_num_threads() == 1
    assert seen == [default]
    assert gilfree.get_num_threads() == default


def test_limit_caps_the_other_defaults():
    with gilfree.threads(2), threadpoolctl.threadpool_limits(1):
        assert gilfree.get_num_threads() == 1
    with _config.inner_threads(2), threadpoolctl.threadpool_limits(1):
        assert gilfree.get_num_threads() == 1


# --------------------------------------------------------------------------
# OMP_NUM_THREADS, GILFREE_NUM_THREADS: in a fresh process
# --------------------------------------------------------------------------


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "GILFREE_NUM_THREADS", "NUMBA_NUM_THREADS")}
    env.update(extra)
    return env


_CHILD = textwrap.dedent("""
    import numpy as np, gilfree
    from gilfree import _config, _numba
    x = np.random.default_rng(0).standard_normal((20000, 3))
    img = np.zeros((2, 128, 128), np.uint8)
    mods = {f: _config.get_engine(f, "cython")[1] for f in ("resample", "resize", "parzen")}
    for m in mods.values():
        m._omp_team_size(True)
    gilfree.resample_poly(x, 3, 7, engine="cython")
    gilfree.resize_batch(img, (30, 30), engine="cython")
    gilfree.parzen_density(x[:, :2], x[:500, :2], 0.5, engine="cython")
    gilfree.resample_linear(x, 999, engine="numba")
    print(gilfree.get_num_threads(), *[m._omp_team_size(True)[0] for m in mods.values()],
          _numba.team_size()[0])
""")


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "GILFREE_NUM_THREADS"])
def test_environment_variable_sets_the_default(var):
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         env=_clean_env(**{var: "1"}), check=True).stdout.split()
    assert out == ["1"] * 5


def test_without_environment_the_default_is_the_usable_cores():
    if _config.usable_cores() < 2:
        pytest.skip("needs 2 usable cores")
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         env=_clean_env(), check=True).stdout.split()
    cores = str(_config.usable_cores())
    assert out == [cores] * 5


# --------------------------------------------------------------------------
# gilfree.threads / set_num_threads / get_num_threads
# --------------------------------------------------------------------------


def test_threads_scopes_nest_and_restore():
    default = gilfree.get_num_threads()
    with gilfree.threads(3) as n:
        assert n == 3 and gilfree.get_num_threads() == 3
        with gilfree.threads(1):
            assert gilfree.get_num_threads() == 1
            assert gilfree.resolve_n_threads(5) == 5  # explicit wins
        assert gilfree.get_num_threads() == 3
        with gilfree.threads(None):  # back to the default inside
            assert gilfree.get_num_threads() == default
    assert gilfree.get_num_threads() == default
    with pytest.raises(RuntimeError), gilfree.threads(2):
        raise RuntimeError("boom")
    assert gilfree.get_num_threads() == default


def test_threads_negative_counts_from_the_end():
    cores = gilfree.usable_cores()
    with gilfree.threads(-1):
        assert gilfree.get_num_threads() == cores


@pytest.mark.parametrize("bad,kind", [(0, ValueError), (1.5, TypeError), ("2", TypeError),
                                      (True, TypeError), (-10_000, ValueError)])
def test_threads_and_set_num_threads_check_their_argument(bad, kind):
    with pytest.raises(kind, match=r"\bn\b"):
        with gilfree.threads(bad):
            pass
    with pytest.raises(kind, match=r"\bn\b"):
        gilfree.set_num_threads(bad)


def test_set_num_threads_is_thread_local():
    default = gilfree.get_num_threads()
    seen = {}

    def worker():
        seen["before"] = gilfree.get_num_threads()
        gilfree.set_num_threads(1)
        seen["after"] = gilfree.get_num_threads()

    ctx = contextvars.copy_context()  # keep this test's setting out of the others

    def main():
        gilfree.set_num_threads(3)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        return gilfree.get_num_threads()

    assert ctx.run(main) == 3
    assert seen == {"before": default, "after": 1}
    assert gilfree.get_num_threads() == default


def test_set_num_threads_none_resets():
    def main():
        gilfree.set_num_threads(1)
        assert gilfree.get_num_threads() == 1
        gilfree.set_num_threads(None)
        return gilfree.get_num_threads()

    assert contextvars.copy_context().run(main) == _config.resolve_n_threads(None)


def test_threads_is_contextvar_safe_across_asyncio_tasks():
    async def task(n, steps):
        with gilfree.threads(n):
            out = []
            for _ in range(steps):
                await asyncio.sleep(0)  # the other task runs in between
                out.append(gilfree.get_num_threads())
            return out

    async def main():
        return await asyncio.gather(task(1, 5), task(3, 5))

    a, b = asyncio.run(main())
    assert a == [1] * 5 and b == [3] * 5


def test_a_kernel_in_a_threads_block_on_another_thread():
    """A worker thread's own threads(1) block limits its kernels; the
    caller's thread is not affected."""
    results = {}

    def worker():
        with gilfree.threads(1):
            results["n"] = _config.select("resample", "cython", None)[2]

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert results["n"] == 1
    assert _config.select("resample", "cython", None)[2] == gilfree.get_num_threads()


def test_gilfree_threads_inside_a_parallel_worker_wins_over_the_fair_share():
    def task(_):
        with gilfree.threads(1):
            return gilfree.get_num_threads()

    assert gilfree.pmap(task, range(4), backend="threads", n_workers=2) == [1] * 4


# --------------------------------------------------------------------------
# usable cores: affinity and cgroup quotas
# --------------------------------------------------------------------------


def test_usable_cores_follows_cpu_affinity():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity")
    cpu = sorted(os.sched_getaffinity(0))[0]
    code = textwrap.dedent(f"""
        import os
        os.sched_setaffinity(0, {{{cpu}}})
        import gilfree
        print(gilfree.usable_cores(), gilfree.get_num_threads())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_clean_env(), check=True).stdout.split()
    assert out == ["1", "1"]


def _write(root, rel, text):
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


_MOUNT_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
_MOUNT_V1 = (
    "31 23 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "32 23 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
)


def test_cgroup_v2_quota_of_the_process_and_its_ancestors(tmp_path):
    _write(tmp_path, "/proc/self/cgroup", "0::/user.slice/job.scope\n")
    _write(tmp_path, "/proc/self/mountinfo", _MOUNT_V2)
    _write(tmp_path, "/sys/fs/cgroup/user.slice/job.scope/cpu.max", "max 100000\n")
    _write(tmp_path, "/sys/fs/cgroup/user.slice/cpu.max", "250000 100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) == 2.5
    _write(tmp_path, "/sys/fs/cgroup/user.slice/job.scope/cpu.max", "50000 100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) == 0.5


def test_cgroup_v2_in_a_container_namespace(tmp_path):
    """With a private cgroup namespace the process is at "/" of its mount,
    whose cpu.max is the container's limit."""
    _write(tmp_path, "/proc/self/cgroup", "0::/\n")
    _write(tmp_path, "/proc/self/mountinfo", _MOUNT_V2)
    _write(tmp_path, "/sys/fs/cgroup/cpu.max", "200000 100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) == 2.0
    _write(tmp_path, "/sys/fs/cgroup/cpu.max", "max 100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) is None


def test_cgroup_v1_cfs_quota(tmp_path):
    _write(tmp_path, "/proc/self/cgroup",
           "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n")
    _write(tmp_path, "/proc/self/mountinfo", _MOUNT_V1)
    base = "/sys/fs/cgroup/cpu,cpuacct/docker/abc"
    _write(tmp_path, base + "/cpu.cfs_quota_us", "150000\n")
    _write(tmp_path, base + "/cpu.cfs_period_us", "100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) == 1.5
    _write(tmp_path, base + "/cpu.cfs_quota_us", "-1\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) is None


def test_cgroup_v1_mount_root_is_the_containers_cgroup(tmp_path):
    """Docker without a cgroup namespace: /proc/self/cgroup names the host
    path, the container's mount root is that path."""
    _write(tmp_path, "/proc/self/cgroup", "3:cpu,cpuacct:/docker/abc\n")
    _write(tmp_path, "/proc/self/mountinfo",
           "31 23 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "400000\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) == 4.0


def test_no_cgroup_files_no_limit(tmp_path):
    assert _config.cgroup_cpu_limit(str(tmp_path)) is None
    _write(tmp_path, "/proc/self/cgroup", "0::/\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) is None  # no mountinfo
    _write(tmp_path, "/proc/self/mountinfo", _MOUNT_V2)
    _write(tmp_path, "/sys/fs/cgroup/cpu.max", "garbage\n")
    assert _config.cgroup_cpu_limit(str(tmp_path)) is None


def test_this_machines_cgroup_reading_does_not_fail():
    limit = _config.cgroup_cpu_limit()
    assert limit is None or limit > 0


@pytest.mark.parametrize("quota,expected", [(1.0, 1), (1.5, 2), (0.2, 1), (64.0, None)])
def test_usable_cores_is_capped_by_the_quota(monkeypatch, quota, expected):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(_config, "cgroup_cpu_limit", lambda prefix="": quota)
    monkeypatch.setattr(_config, "_cgroup_cache", {})
    want = affinity if expected is None else min(affinity, expected)
    assert _config.usable_cores() == want
    assert _config.resolve_n_threads(-1) == want


# --------------------------------------------------------------------------
# exports
# --------------------------------------------------------------------------


def test_map_errors_are_exported_at_the_top_level():
    from gilfree import parallel

    for name in ("ParallelError", "WorkerCrashedError", "TaskTimeoutError",
                 "BackendUnavailableError"):
        assert getattr(gilfree, name) is getattr(parallel, name)
        assert name in gilfree.__all__
    assert issubclass(gilfree.TaskTimeoutError, TimeoutError)
    assert issubclass(gilfree.WorkerCrashedError, gilfree.ParallelError)
    with pytest.raises(gilfree.TaskTimeoutError):
        gilfree.pmap(_sleepy, [0.0, 0.6], backend="threads", n_workers=2, timeout=0.2,
                     chunksize=1)


def _sleepy(seconds):
    import time

    time.sleep(seconds)
    return seconds


def test_thread_functions_are_exported():
    for name in ("threads", "set_num_threads", "get_num_threads", "usable_cores",
                 "resolve_n_threads"):
        assert name in gilfree.__all__ and callable(getattr(gilfree, name))
