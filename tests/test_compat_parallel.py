"""The private internals of other projects that gilfree.parallel relies on
(all of them in gilfree._compat): fail loudly when they change.

loky (``_compat.loky``): retiring one worker past its timeout without
breaking the pool, telling a broken or busy executor, its workers' pids.
CPython (``_compat.pythread``): ``PyThreadState_SetAsyncExc``,
``threading._register_atexit`` (an exit hook that runs before loky's) and
multiprocessing's registry of child processes (cleaned in a child forked
with ``os.fork``).  Linux (``_compat.linux``): memfd through /proc, the
populate advice of madvise, the transparent huge page settings.
"""

import mmap
import os
import sys
import threading
import time

import pytest

from gilfree._compat import linux, pythread
from gilfree._compat import loky as _compat

loky = pytest.importorskip("loky")


def test_loky_is_a_version_the_internals_were_checked_against():
    version = tuple(int(p) for p in loky.__version__.split(".")[:2])
    assert version in _compat.LOKY_TESTED, (
        f"loky {loky.__version__} is installed: check gilfree._compat.loky against it "
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


def test_loky_workers_are_listed():
    ex = loky.ProcessPoolExecutor(1)
    try:
        pid = ex.submit(os.getpid).result()
        assert pid in _compat.worker_processes(ex)
    finally:
        ex.shutdown(wait=True)


def test_the_python_version_was_checked():
    assert sys.version_info[:2] in pythread.CPYTHON_TESTED, (
        f"Python {sys.version_info[:2]}: check gilfree._compat.pythread against it, then add "
        "it to CPYTHON_TESTED")


def test_an_async_exception_interrupts_a_thread():
    class Stop(Exception):
        pass

    seen = []

    def spin():
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pass
        except Stop:
            seen.append("stopped")

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    assert pythread.set_async_exc(t.ident, Stop) == 1, "PyThreadState_SetAsyncExc failed"
    t.join(10)
    assert seen == ["stopped"]
    assert pythread.set_async_exc(t.ident, Stop) == 0  # the thread is gone


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _kernel():
    return tuple(int(p) for p in os.uname().release.split("-")[0].split(".")[:2])


@linux_only
def test_memfds_are_shared_through_proc():
    assert linux.memfd_usable(), "memfd_create, /proc/<pid>/fd or PR_GET_DUMPABLE failed"
    fd = os.memfd_create("gilfree_compat_test", os.MFD_CLOEXEC)
    try:
        os.write(fd, b"gilfree")
        with open(linux.fd_path(os.getpid(), fd), "rb") as f:
            assert f.read() == b"gilfree"
    finally:
        os.close(fd)


@linux_only
@pytest.mark.skipif(_kernel() < (5, 14), reason="MADV_POPULATE_* needs Linux 5.14")
def test_the_populate_advice_works():
    mm = mmap.mmap(-1, 1 << 20)
    try:
        assert linux.populate_write(mm, len(mm)), "madvise(MADV_POPULATE_WRITE) failed"
        assert linux.populate_read(mm, 0, len(mm)), "madvise(MADV_POPULATE_READ) failed"
    finally:
        mm.close()


@linux_only
def test_the_transparent_huge_page_settings_are_read():
    if not os.path.isdir(linux.THP):
        pytest.skip("no transparent huge pages in this kernel")
    assert isinstance(linux.shmem_huge_pages_on_advice(), bool)
