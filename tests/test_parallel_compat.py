"""The private internals of other projects that gilfree.parallel relies on
(all of them in gilfree.parallel._compat): fail loudly when they change.

loky: retiring one worker past its timeout without breaking the pool, and
telling a broken or busy executor.  CPython: ``threading._register_atexit``
(an exit hook that runs before loky's) and multiprocessing's registry of
child processes (cleaned in a child forked with ``os.fork``).
"""

import os
import threading

import pytest

from gilfree.parallel import _compat

loky = pytest.importorskip("loky")


def test_loky_is_a_version_the_internals_were_checked_against():
    version = tuple(int(p) for p in loky.__version__.split(".")[:2])
    assert version in _compat.LOKY_TESTED, (
        f"loky {loky.__version__} is installed: check gilfree.parallel._compat against it "
        "(and this file), then add it to LOKY_TESTED")


def test_the_loky_internals_used_are_there():
    from loky.process_executor import _RecycledWorkerPid, _ResultItem

    assert issubclass(_RecycledWorkerPid, int)
    assert _ResultItem(0, exception=ValueError("x")).exception is not None
    ex = loky.ProcessPoolExecutor(1)
    try:
        assert ex.submit(abs, -1).result() == 1
        for attr in ("_result_queue", "_executor_manager_thread", "_pending_work_items",
                     "_processes", "_flags"):
            assert hasattr(ex, attr), attr
        assert hasattr(ex._executor_manager_thread, "recycling_warned")
        assert _compat.executor_usable(ex)
        assert not _compat.executor_busy(ex)
    finally:
        ex.shutdown(wait=True)
    assert not _compat.executor_usable(ex)


def test_the_cpython_internals_used_are_there():
    from multiprocessing import process

    assert callable(threading._register_atexit)
    assert isinstance(process._children, set)
    assert process.current_process()._parent_pid is None or isinstance(
        process.current_process()._parent_pid, int)


def test_a_forked_child_forgets_its_parents_processes():
    import multiprocessing

    p = multiprocessing.get_context("spawn").Process(target=abs, args=(-1,))
    p.start()
    try:
        from multiprocessing import process

        assert p in process._children
        pid = os.fork()
        if pid == 0:  # the child: the parent's process is not its child
            code = 0 if p not in process._children else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        p.join(30)
