"""gilfree.parallel when things go wrong: dead workers, stuck tasks, Ctrl-C.

Everything that could hang runs with strict time limits; Ctrl-C runs in a
subprocess (its own session, like a terminal's foreground job) so that the
test suite never receives the signal.
"""

import ctypes
import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from gilfree.parallel import TaskTimeoutError, WorkerCrashedError, pmap

BACKENDS = ("serial", "threads", "processes")
ISOLATED = {"processes"}  # backends whose workers can die without killing the caller


def _segments(pid=None):
    return set(glob.glob(f"/dev/shm/gilfree_{pid or os.getpid()}_*"))


def exits_at_5(x):
    if x == 5:
        os._exit(7)
    time.sleep(0.01)
    return x


def segfaults_at_7(x):
    if x == 7:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    time.sleep(0.01)
    return x


def stuck_in_c_at_2(x):
    """Ignores the in-worker timeout interrupt (as code stuck in C would)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        if x == 2:
            time.sleep(20)
        return x
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


def with_big_array(arg):
    a, x = arg
    return float(a[x])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task, index, code", [(exits_at_5, 5, 7),
                                               (segfaults_at_7, 7, -signal.SIGSEGV)])
def test_dead_worker_names_the_item_and_pool_recovers(backend, task, index, code, no_leaks):
    if backend not in ISOLATED:
        pytest.skip(f"a {backend!r} task that kills its process kills the caller too")
    big = np.arange(400_000.0)  # shared automatically: must be unlinked after the crash
    t0 = time.perf_counter()
    with pytest.raises(WorkerCrashedError) as info:
        pmap(lambda x: task(x) + big[x], range(20), backend=backend, n_workers=2, chunksize=1)
    assert time.perf_counter() - t0 < 10
    err = info.value
    assert err.index == index and err.exitcode == code
    assert f"item {index}" in str(err)
    # the pool is usable again
    assert pmap(abs, range(-3, 3), backend=backend, n_workers=2) == [3, 2, 1, 0, 1, 2]


def crashes_at_3000(x):
    if x == 3000:
        os._exit(3)
    return x


def test_crash_among_trivial_tasks_names_the_exact_item(no_leaks):
    # fast tasks run in strides that read the stop word once, but the position
    # of every task is still on the board: the crash names its exact item
    with pytest.raises(WorkerCrashedError) as info:
        pmap(crashes_at_3000, range(6000), backend="processes", n_workers=2)
    assert info.value.index == 3000 and info.value.exitcode == 3


@pytest.mark.parametrize("compiled", [True, False])
def test_worker_loop_writes_every_position_and_stops_between_tasks(compiled, monkeypatch):
    # the process workers' plain loop, run here on a board of our own: the
    # compiled loop and the Python one (a build without compiled modules)
    import mmap

    from gilfree import _config
    from gilfree.parallel import _worker

    if not compiled:
        monkeypatch.setattr(_worker, "_run_board", False)
    else:  # a silently degraded install must not pass
        assert _worker._compiled_loop(), "gilfree._cy._runloop (ext/_runloop.pyx) is not built"
    mm = mmap.mmap(-1, 8 * 9)
    board = memoryview(mm).cast("q")
    seen = []

    def task(x):
        seen.append(board[2 + 4 * 1])  # slot 1: pid, position, start time, attempt
        if x == 700:
            raise KeyError(x)
        return x * 2

    ctl = _worker.BoardCtl(board, 1)
    failure = _worker._run_plain_board(task, list(range(1000)), ctl, board)
    assert failure[0] == 700 and failure[1] == "error" and isinstance(failure[2], KeyError)
    assert seen == list(range(701)) and ctl.results == [2 * x for x in range(700)]

    def stops_at_300(x):
        if x == 300:
            board[0] = 1  # what the caller does when the map ends
        return x

    ctl = _worker.BoardCtl(board, 1)
    assert _worker._run_plain_board(stops_at_300, list(range(1000)), ctl, board) is None
    assert 301 <= len(ctl.results) <= 301 + _config.PARALLEL_STRIDE_MAX


def _pid_of_worker(_):
    time.sleep(0.2)  # long enough for both workers to take one
    return os.getpid()


def test_task_stuck_in_c_is_killed_with_its_worker(no_leaks):
    before = set(pmap(_pid_of_worker, range(4), backend="processes", n_workers=2,
                      chunksize=1))
    t0 = time.perf_counter()
    with pytest.raises(TaskTimeoutError, match="killed with its worker") as info:
        pmap(stuck_in_c_at_2, range(6), backend="processes", n_workers=2, timeout=0.3,
             chunksize=1)
    assert info.value.index == 2
    assert time.perf_counter() - t0 < 8
    assert pmap(abs, [-1, -2], backend="processes", n_workers=2) == [1, 2]
    # only the stuck task's worker was replaced: the other one lives on (the
    # new one may take a moment to start on a busy machine)
    after = set()
    deadline = time.monotonic() + 20
    while len(after) < 2 and time.monotonic() < deadline:
        after = set(pmap(_pid_of_worker, range(4), backend="processes", n_workers=2,
                         chunksize=1))
    assert len(before) == len(after) == 2 and len(before & after) == 1


def test_no_segments_left_after_a_failed_map(no_leaks):
    big = np.ones(300_000)

    def fails(arg):
        a, x = arg
        if x == 3:
            raise ValueError("nope")
        return float(a.sum())

    with pytest.raises(ValueError):
        pmap(fails, [(big, x) for x in range(8)], backend="processes", n_workers=2)


def crashes_once_at_3(arg):
    """Item 3's worker dies on the first attempt only (a marker file)."""
    x, marker = arg
    if x == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    time.sleep(0.01)
    return x * 10


def stuck_once_at_2(arg):
    """Item 2 is stuck in C (ignores the interrupt) on its first attempt only."""
    x, marker = arg
    if x == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        return stuck_in_c_at_2(x)
    return x * 10


def test_retries_rerun_a_task_whose_worker_crashed(tmp_path, no_leaks):
    big = np.arange(300_000.0)  # shared: still readable by the new pool
    marker = str(tmp_path / "crashed")
    got = pmap(lambda a: crashes_once_at_3(a) + big[a[0]], [(x, marker) for x in range(12)],
               backend="processes", n_workers=2, chunksize=1, retries=1)
    assert got == [x * 10 + x for x in range(12)]
    assert os.path.exists(marker)


def test_retries_exhausted_on_crashes_raise_worker_crashed(no_leaks):
    with pytest.raises(WorkerCrashedError, match="item 5") as info:
        pmap(exits_at_5, range(10), backend="processes", n_workers=2, chunksize=1,
             retries=1)
    assert info.value.index == 5 and info.value.exitcode == 7
    assert any("all 2 attempts" in n for n in getattr(info.value, "__notes__", []))
    assert pmap(abs, [-1, -2], backend="processes", n_workers=2) == [1, 2]


def test_pool_found_broken_when_submitting_reports_a_crash(monkeypatch, no_leaks):
    """loky's pool can break (a worker died) after one chunk was handed out
    and before its future says so: the next submit raises loky's error,
    which must end as a WorkerCrashedError like any other crash."""
    from concurrent.futures.process import BrokenProcessPool

    from gilfree.parallel import _processes as _backends

    real = _backends.ProcessBackend._get_executor
    calls = []

    class _Breaking:
        def __init__(self, ex):
            self._ex = ex

        def submit(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise BrokenProcessPool("a worker died (simulated)")
            return self._ex.submit(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._ex, name)

    def get_executor(self):
        real(self)
        self._ex = _Breaking(self._ex)

    monkeypatch.setattr(_backends.ProcessBackend, "_get_executor", get_executor)
    # (a task running at that moment may be named as the culprit, or none)
    with pytest.raises(WorkerCrashedError, match="died") as info:
        pmap(abs, range(-8, 0), backend="processes", n_workers=2, chunksize=1)
    assert isinstance(info.value.__cause__, BrokenProcessPool)
    monkeypatch.undo()
    assert pmap(abs, [-1, -2], backend="processes", n_workers=2) == [1, 2]


def test_task_killed_past_its_timeout_is_retried(tmp_path, no_leaks):
    marker = str(tmp_path / "stuck")
    got = pmap(stuck_once_at_2, [(x, marker) for x in range(6)], backend="processes",
               n_workers=2, chunksize=1, timeout=0.3, retries=1)
    assert got == [x * 10 for x in range(6)]
    assert os.path.exists(marker)


def _reap(proc):
    """After a failed test: kill the script only (not its process group, which
    holds the resource tracker that unlinks its segments), then whatever of
    its family outlives it by a few seconds."""
    if proc.poll() is not None:
        return
    try:
        import psutil

        family = psutil.Process(proc.pid).children(recursive=True)
    except Exception:
        family = []
    proc.kill()
    proc.wait()
    if family:
        import psutil

        _, alive = psutil.wait_procs(family, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


_CTRL_C_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    import gilfree

    # as in a terminal, whatever the test runner inherited (a shell starts
    # background jobs with SIGINT ignored, and children inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backend = sys.argv[1]
    big = np.ones(2**19)  # 4 MiB: goes to shared memory on the processes backend
    keep = gilfree.shared(np.arange(1000.0))  # an explicit handle, also cleaned up

    def task(x):
        print("task-started", flush=True)
        time.sleep(30)
        return float(big[x]) + keep[0]

    gilfree.pmap(task, range(8), backend=backend, n_workers=2, chunksize=1)
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_stops_everything_quickly(backend, tmp_path):
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "ctrl_c.py"
    script.write_text(_CTRL_C_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), backend], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "task-started" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the tasks never started"
        time.sleep(0.3)
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True)
        segments = _segments(proc.pid)
        assert segments, "the map should have made shared-memory segments"
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
        print(f"{backend}: stopped {elapsed:.2f} s after SIGINT")
        assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
        gone, alive = psutil.wait_procs(family, timeout=3)
        assert not alive, f"orphans left: {alive}"
        assert not _segments(proc.pid), f"leaked segments: {_segments(proc.pid)}"
        assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        _reap(proc)
        proc.stdout.close()
        proc.stderr.close()


_KILLED_SCRIPT = textwrap.dedent(
    """
    import time
    import numpy as np
    import gilfree

    keep = gilfree.shared(np.arange(100_000.0))
    big = np.ones(2**19)

    def task(x):
        print("task-started", flush=True)
        time.sleep(30)
        return float(big[x])

    gilfree.pmap(task, range(4), backend="processes", n_workers=2, chunksize=1)
    """
)


def test_segments_removed_even_if_the_caller_is_killed(tmp_path):
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 60
        while "task-started" not in proc.stdout.readline():
            assert proc.poll() is None and time.monotonic() < deadline
        family = psutil.Process(proc.pid).children(recursive=True)
        assert _segments(proc.pid)
        proc.kill()  # SIGKILL: no finally, no atexit in the caller
        proc.wait(timeout=10)
        # multiprocessing's resource tracker unlinks what was registered, and
        # the workers exit when their pipes to the dead caller close
        for _ in range(100):
            if not _segments(proc.pid):
                break
            time.sleep(0.05)
        assert not _segments(proc.pid), f"left: {_segments(proc.pid)}"
        gone, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"orphans left: {alive}"
    finally:
        _reap(proc)
        proc.stdout.close()
