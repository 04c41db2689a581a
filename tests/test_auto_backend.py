"""``pmap(..., backend="auto")`` and ``imap``: the results are serial's, no
task runs twice, unpicklable work goes to threads, and ``last_plan()`` /
the DEBUG log say what was chosen.

Which backend wins depends on timings; tests that need one path force it
(by the planner's constants or its decision function), never by asserting
a time.
"""

import itertools
import logging
import threading
import time

import numpy as np
import pytest

import gilfree
from gilfree import _config
from gilfree.parallel import Plan, TaskExitError, imap, last_plan, pmap
from gilfree.parallel import _auto


def square(x):
    return x * x


def spin(x, n=3000):
    s = 0
    for i in range(n):
        s += i % 7
    return s + x


def nap(x):
    time.sleep(0.002)
    return x


def record_call(item):
    """Append the item to its file: counts calls in any process."""
    path, x = item
    with open(path, "a", encoding="ascii") as fh:
        fh.write(f"{x}\n")
    return spin(x, 2000)


def boom_at_37(x):
    if x == 37:
        raise ValueError("item 37 is bad")
    return spin(x, 500)


def exit_at_5(x):
    if x == 5:
        raise SystemExit(3)
    return x


@pytest.fixture
def force(monkeypatch):
    """Make the planner measure everything and then choose ``backend``."""

    def choose(backend):
        monkeypatch.setattr(_config, "AUTO_SERIAL_BELOW_SECONDS", 0.0)
        monkeypatch.setattr(_config, "AUTO_IO_CPU_SHARE", 0.0)
        # short probes: the maps below go on after them
        monkeypatch.setattr(_config, "AUTO_SERIAL_PROBE_SECONDS", 0.002)
        monkeypatch.setattr(_config, "AUTO_THREAD_PROBE_SECONDS", 0.002)
        monkeypatch.setattr(_config, "AUTO_THREAD_PROBE_MIN_TASK", 0.0)
        monkeypatch.setattr(_auto, "_decide", lambda est, est_proc, picklable: (backend, ""))

    return choose


@pytest.mark.parametrize("make", [
    lambda: list(range(-300, 300)),
    lambda: (x for x in range(-300, 300)),  # no length
    lambda: np.arange(-300, 300),
    lambda: [],
    lambda: [7],
], ids=["list", "generator", "array", "empty", "one"])
def test_results_equal_serial(make):
    want = [square(x) for x in make()]
    assert pmap(square, make(), backend="auto") == want
    assert list(imap(square, make(), backend="auto")) == want
    assert sorted(pmap(square, make(), backend="auto", ordered=False)) == sorted(want)


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
def test_every_task_runs_once_whatever_is_chosen(tmp_path, force, backend):
    force(backend)
    path = str(tmp_path / "calls.txt")
    items = [(path, x) for x in range(400)]
    out = pmap(record_call, items, backend="auto", n_workers=2)
    assert out == [spin(x, 2000) for x in range(400)]
    with open(path, encoding="ascii") as fh:
        calls = sorted(int(line) for line in fh)
    assert calls == list(range(400))  # each once: probe results were kept
    plan = last_plan()
    assert plan.backend == backend
    assert 0 < plan.probe_tasks < 400


def test_every_task_runs_once_unforced():
    calls = []
    lock = threading.Lock()

    def counted(x):
        with lock:
            calls.append(x)
        return spin(x, 1000)

    out = pmap(counted, range(500), backend="auto")
    assert out == [spin(x, 1000) for x in range(500)]
    assert sorted(calls) == list(range(500))


def test_short_maps_run_serially_without_probing():
    before = threading.active_count()
    assert pmap(square, range(100), backend="auto") == [x * x for x in range(100)]
    plan = last_plan()
    assert isinstance(plan, Plan)
    assert plan.backend == "serial" and plan.n_workers == 1
    assert plan.probe_tasks == 100 and plan.gil_share is None and plan.picklable is None
    assert threading.active_count() == before


def test_unpicklable_work_falls_back_to_threads(monkeypatch):
    # processes would win (no start-up, tasks hold the GIL) but cannot be used
    monkeypatch.setattr(_config, "AUTO_SERIAL_BELOW_SECONDS", 0.0)
    monkeypatch.setattr(_config, "AUTO_IO_CPU_SHARE", 0.0)
    monkeypatch.setattr(_config, "AUTO_PROCESS_START_SECONDS", 0.0)
    monkeypatch.setattr(_config, "AUTO_PROCESS_MAP_SECONDS", 0.0)
    monkeypatch.setattr(_auto, "process_pool_running", lambda n: True)
    # tasks that take turns (the lock): so measured, but not left to timing
    monkeypatch.setattr(_auto.TaskSpans, "gil_share", lambda self, *measured: 1.0)
    lock = threading.Lock()  # cannot be pickled

    def holds_a_lock(x):
        with lock:
            return spin(x, 4000)

    out = pmap(holds_a_lock, range(600), backend="auto", n_workers=2)
    assert out == [spin(x, 4000) for x in range(600)]
    plan = last_plan()
    assert plan.picklable is False
    assert plan.backend == "threads", plan.reason
    assert "pickle" in plan.reason


@pytest.fixture
def least_probes(monkeypatch):
    """Probes of the least size whatever the timings: the serial batches
    stop after the second task, the threads are timed on two tasks each,
    and the map goes on after them."""
    monkeypatch.setattr(_config, "AUTO_SERIAL_BELOW_SECONDS", 0.0)
    monkeypatch.setattr(_config, "AUTO_IO_CPU_SHARE", 0.0)
    monkeypatch.setattr(_config, "AUTO_PROBE_SHARE", 0.0)
    monkeypatch.setattr(_config, "AUTO_SERIAL_PROBE_MIN_SECONDS", 0.0)
    monkeypatch.setattr(_config, "AUTO_THREAD_PROBE_MIN_TASK", 0.0)


@pytest.mark.parametrize("make", [
    lambda: list(range(100)),
    lambda: (x for x in range(100)),  # no length
], ids=["list", "generator"])
@pytest.mark.parametrize("lazy", [False, True])
def test_probes_scale_down_to_two_tasks_per_thread(least_probes, make, lazy):
    run = (lambda *a, **k: list(imap(*a, **k))) if lazy else pmap
    assert run(spin, make(), backend="auto", n_workers=2) == [spin(x) for x in range(100)]
    plan = last_plan()
    # the first call, one more timed serially, then two tasks on each thread
    # (or 16 on one: spin() holds the GIL, which one thread may keep for
    # the switch interval), in chunks of one task
    assert 6 <= plan.probe_tasks < 100, plan
    assert plan.task_seconds > 0 and plan.backend in ("serial", "threads")


def test_pickling_is_not_measured_when_processes_cannot_win(least_probes, monkeypatch):
    monkeypatch.setattr(_config, "AUTO_PROCESS_START_SECONDS", 1e6)
    monkeypatch.setattr(_auto, "process_pool_running", lambda n: False)

    def no_pickling(*args):
        raise AssertionError("pickling measured")

    monkeypatch.setattr(_auto, "measure_pickling", no_pickling)
    assert pmap(spin, range(100), backend="auto", n_workers=2) == [spin(x) for x in range(100)]
    plan = last_plan()
    assert plan.picklable is None and plan.pickle_seconds is None
    assert "processes cannot win" in plan.reason and "pickling not measured" in plan.reason
    assert "processes" not in plan.estimates and plan.backend in ("serial", "threads")


def test_pickling_is_measured_when_processes_could_win(least_probes, monkeypatch):
    monkeypatch.setattr(_config, "AUTO_PROCESS_START_SECONDS", 0.0)
    monkeypatch.setattr(_config, "AUTO_PROCESS_MAP_SECONDS", 0.0)
    monkeypatch.setattr(_auto, "process_pool_running", lambda n: True)
    monkeypatch.setattr(_auto.TaskSpans, "gil_share", lambda self, *measured: 1.0)
    monkeypatch.setattr(_auto, "_decide", lambda est, est_proc, picklable: ("serial", ""))
    assert pmap(spin, range(100), backend="auto", n_workers=2) == [spin(x) for x in range(100)]
    plan = last_plan()
    assert plan.picklable is True and plan.pickle_bytes > 0
    assert "processes" in plan.estimates and "pickling" in plan.reason


def test_gil_share_leaves_out_time_kept_off_a_core():
    timed = _auto.TaskSpans(square)
    # spans: [clock, start, (end, cpu, run-queue wait, tasks)]
    # two threads, each on the CPU half of its span: they took turns ...
    timed.spans = {1: [None, 0.0, (1.0, 0.5, 0.0, 4)], 2: [None, 0.0, (1.0, 0.5, 0.0, 4)]}
    assert timed.gil_share(1.0) == pytest.approx(1.0)
    # ... unless the other half they waited for a core (a busy machine)
    timed.spans = {1: [None, 0.0, (1.0, 0.5, 0.5, 4)], 2: [None, 0.0, (1.0, 0.5, 0.5, 4)]}
    assert timed.gil_share(1.0) == pytest.approx(0.0)
    timed.spans = {1: [None, 0.0, (1.0, 0.5, 0.0, 4)]}
    assert timed.gil_share(1.0) is None  # one thread ran every task


def test_gil_share_is_at_least_what_the_threads_achieved():
    """Busy threads can still be slow together (handing the GIL over costs
    time): the share follows the threads' speed-up (their tasks per second
    times the serial time of a task), above 1 when they were slower than
    one thread."""
    timed = _auto.TaskSpans(square)
    timed.spans = {1: [None, 0.0, (1.0, 1.0, 0.0, 4)], 2: [None, 0.0, (1.0, 1.0, 0.0, 4)]}
    assert timed.gil_share(1.0) == pytest.approx(0.0)  # both busy all along
    assert timed.gil_share(1.0, 0.25) == pytest.approx(0.0)  # 8 tasks of 0.25 s in 1 s
    assert timed.gil_share(1.0, 0.1875) == pytest.approx(1 / 3)  # 1.5x: Amdahl's g
    assert timed.gil_share(1.0, 0.1) == pytest.approx(1.5)  # 0.8x: slower than serial
    # threads that took turns (one after the other, each busy in its turn)
    timed.spans = {1: [None, 0.0, (1.0, 1.0, 0.0, 4)], 2: [None, 1.0, (2.0, 1.0, 0.0, 4)]}
    assert timed.gil_share(1.0, 0.25) == pytest.approx(1.0)
    # four threads on two cores: Amdahl at the two cores they had
    timed.spans = {k: [None, 0.0, (1.0, 0.5, 0.5, 2)] for k in range(4)}
    assert timed.gil_share(1.0, 0.25, cores=2) == pytest.approx(0.0)
    assert timed.gil_share(1.0, 0.125, cores=4) == pytest.approx(1.0)


def test_timing_stops_once_decided():
    timed = _auto.TaskSpans(square, parties=1)
    assert [timed(x) for x in range(3)] == [0, 1, 4]
    assert timed.finished(2) == (3, 1)
    timed.measuring = False
    timed(5)
    assert timed.finished() == (3, 1)


def test_a_cut_feed_leaves_the_rest_of_the_input():
    it = iter(range(10))
    feed = _auto._Feed(it, cuttable=True)
    assert list(itertools.islice(feed, 4)) == [0, 1, 2, 3] and feed.taken == 4
    feed.cut = True
    assert list(feed) == [] and list(it) == list(range(4, 10))


def test_task_time_and_cpu_share_come_from_batches_the_run_queue_clock_saw():
    # [tasks, wall, cpu, run-queue wait]: the second batch was kept off a
    # core before the clock started (it would look like a task that waits)
    batches = [[1, 0.002, 0.002, 0.0], [1, 0.050, 0.001, 0.0], [2, 0.004, 0.002, 0.002]]
    assert _auto._measured(batches, 2) == batches[2:]
    task, share = _auto._task_time(_auto._measured(batches, 2))
    assert task == pytest.approx(0.001) and share == pytest.approx(1.0)
    assert _auto._measured(batches, None) == batches[1:]  # no clock: after the first call
    assert _auto._measured(batches[:1], None) == batches[:1]


def test_one_stalled_batch_does_not_make_a_task_look_waiting():
    # the second batch lost 45 ms the run-queue clock did not see (stolen
    # by a virtual machine's host, say): the third shows the task's share
    batches = [[1, 1e-4, 1e-4, 0.0], [512, 0.046, 0.001, 0.0], [1024, 0.002, 0.002, 0.0]]
    task, share = _auto._task_time(batches[1:])
    assert share == pytest.approx(1.0) and task == pytest.approx(0.003 / 1536)
    assert not _auto._waits(batches[1:])
    # tasks that wait do so in every batch
    waiting = [[1, 0.004, 1e-4, 0.0], [1, 0.002, 5e-5, 0.0], [2, 0.004, 1e-4, 0.0]]
    task, share = _auto._task_time(waiting[1:])
    assert share == pytest.approx(0.025) and task == pytest.approx(0.002)
    assert _auto._waits(waiting[1:])
    assert not _auto._waits(waiting[1:2])  # one batch is not enough to tell


def test_decide_prefers_serial_unless_another_clearly_wins():
    assert _auto._decide({"serial": 1.0, "threads": 0.95}, 2.0, True)[0] == "serial"
    assert _auto._decide({"serial": 1.0, "threads": 0.5}, 2.0, True)[0] == "threads"
    assert _auto._decide({"serial": 1.0, "threads": 1.0, "processes": 0.55}, 0.55,
                         True)[0] == "processes"
    best, note = _auto._decide({"serial": 1.0, "threads": 1.0}, 0.55, False)
    assert best == "threads" and "pickling" in note
    # pickling not measured (processes could not win): no fallback note
    assert _auto._decide({"serial": 1.0, "threads": 0.98}, 1.5, None) == ("serial", "")


def test_waiting_tasks_get_many_threads():
    gilfree.pmap(nap, range(5), backend="threads")  # warm
    out = pmap(nap, range(300), backend="auto")
    assert out == list(range(300))
    plan = last_plan()
    assert plan.backend == "threads"
    assert plan.n_workers > gilfree.usable_cores()
    assert plan.cpu_share < _config.AUTO_IO_CPU_SHARE
    # an explicit n_workers is kept
    pmap(nap, range(300), backend="auto", n_workers=3)
    assert last_plan().n_workers == 3


def test_last_plan_and_debug_log(caplog):
    with caplog.at_level(logging.DEBUG, logger="gilfree.parallel"):
        pmap(square, range(10), backend="auto")
    plan = last_plan()
    assert gilfree.parallel.last_plan is last_plan
    msgs = [r.getMessage() for r in caplog.records if r.name == "gilfree.parallel"]
    assert any("serial" in m and plan.reason in m for m in msgs), msgs


def test_one_worker_is_serial():
    assert pmap(square, range(50), backend="auto", n_workers=1) == [x * x for x in range(50)]
    assert last_plan().backend == "serial" and "1 worker" in last_plan().reason


@pytest.mark.parametrize("backend", ["serial", "threads"])
def test_errors_name_the_item_of_the_whole_input(force, backend):
    force(backend)
    with pytest.raises(ValueError, match="item 37 is bad") as info:
        pmap(boom_at_37, range(200), backend="auto", n_workers=2)
    assert info.value.gilfree_index == 37
    assert any("item 37 " in n for n in info.value.__notes__)


def test_errors_in_the_serial_probe_name_the_item():
    with pytest.raises(ValueError) as info:
        pmap(boom_at_37, range(40), backend="auto")
    assert info.value.gilfree_index == 37


def test_system_exit_in_a_task_ends_the_map_with_task_exit_error():
    with pytest.raises(TaskExitError) as info:
        pmap(exit_at_5, range(20), backend="auto")
    assert info.value.index == 5 and isinstance(info.value.__cause__, SystemExit)


def test_imap_is_lazy_and_closes():
    it = imap(square, itertools.count(), backend="auto")
    assert list(itertools.islice(it, 5)) == [0, 1, 4, 9, 16]
    it.close()


@pytest.mark.parametrize("close", ["close", "del"])
def test_closing_an_auto_imap_on_threads_stops_its_workers(least_probes, no_leaks, close):
    # least probes: the map is on threads from its third task on
    it = imap(spin, range(100_000), backend="auto", n_workers=2)
    assert list(itertools.islice(it, 40)) == [spin(x) for x in range(40)]
    if close == "close":
        it.close()
    else:
        del it


def test_progress_counts_every_task_once():
    seen = []
    pmap(spin, range(300), backend="auto", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (300, 300)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_timeout_and_retries_go_through(force):
    force("threads")
    attempts = {}
    lock = threading.Lock()

    def flaky(x):
        with lock:
            attempts[x] = attempts.get(x, 0) + 1
            first = attempts[x] == 1
        if x % 50 == 3 and first:
            raise OSError("try again")
        return spin(x, 1000)

    out = pmap(flaky, range(200), backend="auto", retries=1, timeout=30, n_workers=2)
    assert out == [spin(x, 1000) for x in range(200)]
    assert sum(attempts.values()) == 200 + 4


@pytest.mark.parametrize("kwargs", [
    {"chunksize": 0},
    {"chunksize": "big"},
    {"n_workers": 0},
    {"timeout": -1},
    {"retries": -1},
    {"ordered": "yes"},
    {"initargs": (1,)},
])
def test_bad_arguments_get_the_message_of_other_backends(kwargs):
    with pytest.raises((TypeError, ValueError)) as want:
        pmap(square, range(3), backend="threads", **kwargs)
    with pytest.raises(type(want.value)) as got:
        pmap(square, range(3), backend="auto", **kwargs)
    assert str(got.value) == str(want.value)
    with pytest.raises(type(want.value)):
        imap(square, range(3), backend="auto", **kwargs)  # checked at the call


def test_bad_func_and_iterable_and_client():
    with pytest.raises(TypeError) as want:
        pmap(1, range(3), backend="threads")
    with pytest.raises(TypeError, match=str(want.value).replace("(", r"\(").replace(")", r"\)")):
        pmap(1, range(3), backend="auto")
    with pytest.raises(TypeError, match="iterable"):
        pmap(square, 5, backend="auto")
    with pytest.raises(ValueError, match="client= is only used by backend='dask'"):
        pmap(square, range(3), backend="auto", client="tcp://127.0.0.1:1")
