"""gilfree.parallel under fault injection: regression tests of an audit.

Each section is one defect the audit found (on processes, threads and, in
test_dask.py, Dask): a worker unmapping memory under a running task, another
local user's shared memory being mapped and unpickled, a child process
sharing (and freeing) its parent's buffers after fork, memory and
descriptors growing for a whole map, BaseException ending worker threads
silently, Ctrl-C in the consumer's loop body not stopping the workers, a
non-dumpable caller, platforms without /proc or POSIX shared memory, and an
imap that copies at creation or leaves pools behind.

Whatever could hang runs in a subprocess or a thread with a time limit.
"""

import errno
import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import gilfree
from conftest import gilfree_shm
from gilfree.parallel import (
    SharedMemoryIdentityError,
    TaskExitError,
    TaskTimeoutError,
    imap,
    pmap,
)
from gilfree.parallel import _shared

BACKENDS = ("serial", "threads", "processes")
MIB = 2**20


def _run_script(code, *args, timeout=120, env=None, cwd=None, prefix=()):
    """Run ``code`` in a fresh interpreter; (returncode, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def _within(seconds, fn, *args, **kwargs):
    """Run ``fn`` in a thread; fail (instead of hanging) past ``seconds``.
    Returns what it returned or raises what it raised."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{getattr(fn, '__name__', fn)} hung for {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------
# 1. A view given to a task keeps its memory: no use after unmap
# --------------------------------------------------------------------------

BIG = 4 * MIB


def _read_until_after(a, out):
    """Read ``a`` again and again until the test says that the map has ended
    (``out + ".ended"``), and for 0.7 s more (while the worker cleans up:
    its reaper runs every 0.5 s); then write its sum to ``out``."""
    open(out + ".started", "w").close()
    total = None
    end = time.monotonic() + 60
    while time.monotonic() < end:
        total = float(a.sum())
        if os.path.exists(out + ".ended"):
            end = min(end, time.monotonic() + 0.7)
        time.sleep(0.02)
    with open(out + ".tmp", "w") as fh:
        fh.write(repr(total))
    os.replace(out + ".tmp", out)  # the test waits for ``out``: whole, never empty
    return total


def _wait_for(path, seconds=30):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.path.exists(path)


def _ends_or_reads_item(arg):
    """Item 0 ends the map once item 1 is reading (it raises, or sleeps past
    the timeout, or returns at once for a consumer that breaks); item 1
    reads its array until the map has ended, and a while longer."""
    a, x, how, out = arg
    if x == 0:
        _wait_for(out.replace("sum-0", "sum-1") + ".started")
        if how == "raise":
            raise ValueError("item 0 ends the map")
        if how == "timeout":
            time.sleep(30)
        return -1.0
    if how == "timeout":  # this task must outlive the map, not time out itself
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    return _read_until_after(a, out)


def _make_closure_task(a):
    def task(arg):
        x, how, out = arg
        return _ends_or_reads_item((a, x, how, out))

    return task


def _pid_after_a_while(_):
    time.sleep(0.1)
    return os.getpid()


def _both_workers_up():
    """Both workers of the pool answer (a pool just restarted by an earlier
    test may have one still starting: it would leave both chunks to one)."""
    pids = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        pids = set(pmap(_pid_after_a_while, range(4), backend="processes", n_workers=2,
                        chunksize=1))
    assert len(pids) == 2


@pytest.mark.parametrize("where", ["items", "closure"])
@pytest.mark.parametrize("how", ["raise", "timeout", "break", "close"])
def test_map_ending_early_never_unmaps_memory_under_a_running_task(tmp_path, no_leaks, where,
                                                                   how):
    _both_workers_up()
    a = np.random.default_rng(1).random(BIG // 8)
    outs = [str(tmp_path / f"sum-{x}") for x in range(2)]
    if where == "items":
        func = _ends_or_reads_item
        items = [(a, x, how, outs[x]) for x in range(2)]
    else:
        func = _make_closure_task(a)
        items = [(x, how, outs[x]) for x in range(2)]
    kwargs = dict(backend="processes", n_workers=2, chunksize=1)
    if how in ("raise", "timeout"):
        expected = ValueError if how == "raise" else TaskTimeoutError
        with pytest.raises(expected):
            pmap(func, items, timeout=2.0 if how == "timeout" else None, **kwargs)
    elif how == "close":
        it = imap(func, items, **kwargs)
        assert next(it) == -1.0
        it.close()
    else:
        for r in imap(func, items, **kwargs):
            assert r == -1.0
            break
    # the other task goes on reading after the map ended, and finishes
    assert os.path.exists(outs[1] + ".started")
    open(outs[1] + ".ended", "w").close()
    assert _wait_for(outs[1]), "the reading task never finished (its worker died?)"
    with open(outs[1]) as fh:
        assert float(fh.read()) == pytest.approx(float(a.sum()))
    # and the next map, innocent, runs (no worker died of a SIGSEGV)
    b = np.full(BIG // 8, 2.0)
    assert pmap(_sum, [b, b[::2]], **kwargs) == [2.0 * b.size, 1.0 * b.size]


_KEPT = []


def _keep(a):
    _KEPT.append(a)
    time.sleep(0.1)  # both workers take one
    return float(a.sum())


def _sum(a):
    return float(a.sum())


def _kept_sums(_):
    time.sleep(0.1)
    return [float(k.sum()) for k in _KEPT]


def _forget_kept(_):
    time.sleep(0.1)
    _KEPT.clear()
    return 0


def test_a_view_kept_by_a_task_keeps_its_data_for_later_maps(no_leaks):
    kw = dict(backend="processes", n_workers=2, chunksize=1)
    n = 300_000  # 2.4 MB: the next map's arrays fit the same pooled buffers
    first = [np.full(n, 1.0), np.full(n, 2.0)]
    try:
        assert pmap(_keep, first, **kw) == [1.0 * n, 2.0 * n]
        # arrays of the same size: they would reuse the first map's buffers
        # (and overwrite what the kept views show) if those went to the pool
        for _ in range(3):
            assert pmap(_sum, [np.full(n, 3.0), np.full(n, 4.0)], **kw) == [3.0 * n, 4.0 * n]
        seen = set()
        for sums in pmap(_kept_sums, range(6), **kw):
            seen.update(sums)
        assert seen and seen <= {1.0 * n, 2.0 * n}, f"kept views changed: {seen}"
    finally:
        pmap(_forget_kept, range(6), **kw)


# --------------------------------------------------------------------------
# 2. Never map or unpickle what another local user created
# --------------------------------------------------------------------------

NOBODY = 65534


def _setpriv_prefix():
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux) to run code as another user")
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user with setpriv")
    return (setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


_ATTACKER = """
import os, pickle, sys

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[1],))

payload = pickle.dumps(Evil())
for spec in sys.argv[2:]:
    name, size = spec.rsplit(":", 1)
    fd = os.open("/dev/shm/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
    os.write(fd, payload.ljust(int(size), b"\\0"))
    os.close(fd)
print("replaced", len(sys.argv) - 2)
"""


def _big_payload_task(payload):
    """A function whose pickle is over 1 MiB (sent through shared memory)."""
    def task(x):
        return len(payload) + x

    return task


@pytest.mark.parametrize("which", ["board", "function"])
def test_shared_memory_replaced_by_another_user_is_refused(tmp_path, monkeypatch, no_leaks,
                                                           which):
    """The map's segments are unlinked and re-created by uid 65534 with a
    pickle that would create a file if it were loaded: the chunk fails with a
    clear error and nothing of it is loaded."""
    prefix = _setpriv_prefix()
    from gilfree.parallel import _processes as _backends

    monkeypatch.setattr(_shared, "_transport", "named")
    os.chmod(tmp_path, 0o777)
    marker = tmp_path / "pwned"
    real = _backends.ProcessBackend._get_executor
    replaced = []

    def replace_then_start(self):
        board, fn = self.run.segments._own
        victim = board if which == "board" else fn
        path = f"/dev/shm/{victim.name}"
        size = os.stat(path).st_size
        os.unlink(path)  # as if the map had ended
        rc, out, err = _run_script(_ATTACKER, str(marker), f"{victim.name}:{size}",
                                   prefix=prefix, cwd=str(tmp_path))
        assert rc == 0, err
        replaced.append(path)
        # the attacker's file is not the map's to unlink
        self.run.segments._own = [s for s in self.run.segments._own if s is not victim]
        victim._finalizer.detach()
        try:
            victim.mm.close()
        except BufferError:  # the board: unmapped when the map lets go of it
            pass
        real(self)

    monkeypatch.setattr(_backends.ProcessBackend, "_get_executor", replace_then_start)
    func = _big_payload_task(os.urandom(2 * MIB))
    try:
        with pytest.raises(SharedMemoryIdentityError, match=f"owned by uid {NOBODY}") as info:
            pmap(func, range(4), backend="processes", n_workers=2, chunksize=1)
    finally:
        for path in replaced:
            os.unlink(path)
    assert "nothing was read from it" in str(info.value)
    assert any("could not start the chunk" in n for n in info.value.__notes__)
    assert not marker.exists(), "another user's pickle was loaded"
    monkeypatch.undo()
    assert pmap(func, range(3), backend="processes", n_workers=2) == [2 * MIB + x
                                                                      for x in range(3)]


_RACER = """
import os, pickle, sys, time

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[1],))

payload = pickle.dumps(Evil())
prefix = "gilfree_" + sys.argv[2] + "_"
seen = {}
made = 0
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    now = set(n for n in os.listdir("/dev/shm") if n.startswith(prefix))
    for n in now:
        if n not in seen:
            try:
                seen[n] = os.stat("/dev/shm/" + n).st_size
            except OSError:
                pass
    for n, size in list(seen.items()):
        if n not in now:  # unlinked by its map: re-create it, with a pickle
            try:
                fd = os.open("/dev/shm/" + n, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
                os.write(fd, payload.ljust(size, b"\\0"))
                os.close(fd)
                made += 1
            except OSError:
                pass
            del seen[n]
    time.sleep(0.001)
print("re-created", made)
"""


def _fails_at_0(payload):
    def task(x):
        if x == 0:
            raise ValueError("ends the map while chunks are queued")
        time.sleep(0.02)
        return len(payload) + x

    return task


def test_another_user_recreating_segment_names_during_maps(tmp_path, monkeypatch):
    """A second local user re-creates every gilfree segment name as soon as
    it is unlinked (with a pickle that creates a file) while maps end early
    with chunks still queued: no worker ever loads it."""
    prefix = _setpriv_prefix()
    monkeypatch.setattr(_shared, "_transport", "named")
    os.chmod(tmp_path, 0o777)
    marker = tmp_path / "pwned"
    racer = subprocess.Popen([*prefix, sys.executable, "-c", _RACER, str(marker),
                              str(os.getpid()), "5"], cwd=str(tmp_path),
                             stdout=subprocess.PIPE, text=True)
    try:
        func = _fails_at_0(os.urandom(2 * MIB))
        deadline = time.monotonic() + 3
        maps = 0
        while time.monotonic() < deadline:
            with pytest.raises((ValueError, SharedMemoryIdentityError)):
                pmap(func, range(40), backend="processes", n_workers=2, chunksize=1)
            maps += 1
        time.sleep(1.0)  # chunks queued by the last maps start meanwhile
    finally:
        out, _ = racer.communicate(timeout=30)
        for p in os.listdir("/dev/shm"):  # what the racer made is its own
            if p.startswith(f"gilfree_{os.getpid()}_"):
                st = os.stat(f"/dev/shm/{p}")
                if st.st_uid == NOBODY:
                    os.unlink(f"/dev/shm/{p}")
    assert maps >= 3
    assert not marker.exists(), f"another user's pickle was loaded ({out.strip()})"


def test_the_fast_transport_is_closed_to_other_users(tmp_path):
    """A memfd reaches workers through /proc/<pid>/fd, which the kernel opens
    only to processes of the same user: another user is refused."""
    prefix = _setpriv_prefix()
    if _shared.transport() != "memfd":
        pytest.skip("the memfd transport is not in use (not available, or disabled)")
    os.chmod(tmp_path, 0o777)
    big = np.ones(300_000)
    it = imap(lambda x: (time.sleep(0.5), float(big[x]))[1], range(4), backend="processes",
              n_workers=2, chunksize=1)
    try:
        assert next(it) == 1.0
        fds = [fd for kind, fd, *_ in gilfree_shm() if kind == "fd"]
        assert fds
        code = """
import os, sys
denied = 0
for fd in sys.argv[2:]:
    try:
        os.close(os.open(f"/proc/{sys.argv[1]}/fd/{fd}", os.O_RDONLY))
    except PermissionError:
        denied += 1
print(denied)
"""
        rc, out, err = _run_script(code, str(os.getpid()), *fds, prefix=prefix,
                                   cwd=str(tmp_path))
        assert rc == 0, err
        assert int(out) == len(fds)
    finally:
        it.close()


# --------------------------------------------------------------------------
# 3. After fork the child owns nothing of its parent's
# --------------------------------------------------------------------------

_FORK_SCRIPT = """
import multiprocessing, os, sys, time
import numpy as np
import gilfree
from gilfree.parallel import pmap
from gilfree.parallel._shared import POOL

def total(a):
    return float(a.sum())

def maps_with(value, seconds):
    data = [np.full(300_000, value), np.full(300_000, value + 0.5)]
    want = [300_000 * value, 300_000 * (value + 0.5)]
    bad = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = pmap(total, data, backend="processes", n_workers=2, chunksize=1)
        bad += got != want
    return bad

def in_mp_child():
    sys.exit(0 if maps_with(7.0, 0.8) == 0 else 3)

h = gilfree.shared(np.arange(300_000.0))
assert maps_with(1.0, 0.1) == 0
assert POOL.nbytes >= 2 * 8 * 300_000, "the buffers should wait in the pool"
seg = h.segment_name
pid = os.fork()
if pid == 0:
    mine = gilfree.shared(np.ones(10))  # the child's own
    bad = maps_with(5.0, 1.0)  # at the same time as the parent's
    sys.exit(0 if bad == 0 else 3)  # a normal exit: finalizers and atexit run
bad = maps_with(1.0, 1.0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, f"the child read wrong data: {status}"
assert bad == 0, f"{bad} of the parent's maps read the child's data"
assert os.path.exists(f"/dev/shm/{seg}"), "the child unlinked the parent's segment"
assert pmap(lambda i: float(h[i]), [0, 299_999], backend="processes", n_workers=2) == \\
    [0.0, 299_999.0]
# through multiprocessing's fork start method, while the parent maps too
child = multiprocessing.get_context("fork").Process(target=in_mp_child)
child.start()
bad = maps_with(2.0, 0.8)
child.join(120)
assert child.exitcode == 0, f"the multiprocessing child read wrong data: {child.exitcode}"
assert bad == 0, f"{bad} of the parent's maps read the child's data"
assert maps_with(3.0, 0.2) == 0
assert os.path.exists(f"/dev/shm/{seg}")
h.release()
print("OK")
"""


def test_a_forked_child_owns_nothing_of_its_parent():
    rc, out, err = _run_script(_FORK_SCRIPT, timeout=240)
    assert rc == 0 and "OK" in out, err[-3000:]
    assert "Exception ignored" not in err, err[-3000:]


# --------------------------------------------------------------------------
# 4. Memory and descriptors stay bounded
# --------------------------------------------------------------------------

_ULIMIT_SCRIPT = """
import resource
import numpy as np
import gilfree

resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
data = np.zeros((1200, 2**17))  # 1,200 rows of 1 MiB (pages never touched: no RAM)
data[:, 0] = np.arange(1200)
out = gilfree.Parallelize(data, lambda row: row[0] + row[-1] + 1.0, num_cores=2)
assert out.shape == (1200, 1), out.shape
assert (out[:, 0] == np.arange(1200) + 1.0).all()
print("OK")
"""


def test_parallelize_over_many_large_rows_under_a_low_descriptor_limit():
    rc, out, err = _run_script(_ULIMIT_SCRIPT, timeout=300)
    assert rc == 0 and "OK" in out, err[-3000:]


def _first(a):
    return float(a[0])


class _Sampler:
    """Peak shared memory (bytes of this process's gilfree memfds and
    segments), open descriptors and RSS, sampled in a thread."""

    def __init__(self):
        self.shm = self.fds = self.rss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _shm_bytes(self):
        total = 0
        for kind, *rest in gilfree_shm():
            path = rest[0] if kind == "segment" else (
                f"/proc/self/fd/{rest[0]}" if kind == "fd" else None)
            if path is None:
                continue
            try:
                total += os.stat(path).st_size
            except OSError:
                pass
        return total

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            self.shm = max(self.shm, self._shm_bytes())
            self.fds = max(self.fds, me.num_fds())
            self.rss = max(self.rss, me.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_imap_over_a_generator_of_large_arrays_stays_bounded(backend, no_leaks):
    psutil = pytest.importorskip("psutil")
    from gilfree.parallel._shared import POOL

    n, size = 300, 2**20  # 300 distinct arrays of 8 MB: 2.4 GB in all
    budget = 64 * MIB

    def arrays():
        for i in range(n):
            yield np.full(size, float(i))

    POOL.clear()
    gc.collect()
    me = psutil.Process()
    fds0, rss0 = me.num_fds(), me.memory_info().rss
    with _Sampler() as peak:
        for i, r in enumerate(imap(_first, arrays(), backend=backend, n_workers=2,
                                   prefetch_bytes=budget)):
            assert r == float(i)
    assert i == n - 1
    print(f"{backend}: peak shared {peak.shm / MIB:.0f} MiB, descriptors +{peak.fds - fds0},"
          f" RSS +{(peak.rss - rss0) / MIB:.0f} MiB")
    # the budget, plus one chunk's share and one array over it
    assert peak.shm <= 2 * budget + 16 * MIB
    assert peak.fds - fds0 <= 60
    assert peak.rss - rss0 <= 4 * budget + 64 * MIB


def test_default_read_ahead_is_bounded_in_bytes():
    from gilfree import _config
    from gilfree.parallel._checks import _check_prefetch

    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert _check_prefetch("auto") == min(_config.PARALLEL_PREFETCH_BYTES, phys // 8)
    assert _check_prefetch(10 * MIB) == 10 * MIB


@pytest.mark.parametrize("code, expected, match", [
    (errno.EMFILE, OSError, r"too many open files \(this process may open \d+ files"),
    (errno.ENOMEM, MemoryError, "out of memory while creating shared memory for the map's"),
    (errno.ENOSPC, MemoryError, "out of shared memory"),
])
def test_descriptor_and_memory_exhaustion_are_reported_as_such(monkeypatch, no_leaks, code,
                                                               expected, match):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if _shared.transport() == "memfd":
        monkeypatch.setattr(os, "memfd_create", refuse)
    else:
        monkeypatch.setattr(_shared._posixshmem, "shm_open", refuse)
    big = np.ones(300_000)
    with pytest.raises(expected, match=match):
        pmap(_sum, [big], backend="processes", n_workers=2)


# --------------------------------------------------------------------------
# 5 and 7. Every BaseException of user code in a worker ends the map clearly
# --------------------------------------------------------------------------


class _OwnBaseException(BaseException):
    pass


_RAISE = {
    "SystemExit": lambda: SystemExit(2),
    "KeyboardInterrupt": KeyboardInterrupt,
    "GeneratorExit": GeneratorExit,
    "own": lambda: _OwnBaseException("custom"),
}


def _raises_at_3(arg):
    x, kind = arg
    if x == 3:
        raise _RAISE[kind]()
    return x


def _init_raises(kind):
    raise _RAISE[kind]()


@pytest.mark.parametrize("kind", list(_RAISE))
@pytest.mark.parametrize("backend", BACKENDS)
def test_base_exception_in_a_task_ends_the_map_with_a_clear_error(backend, kind, no_leaks):
    items = [(x, kind) for x in range(8)]
    with pytest.raises(TaskExitError) as info:
        _within(60, pmap, _raises_at_3, items, backend=backend, n_workers=2, chunksize=1)
    err = info.value
    name = {"own": "_OwnBaseException"}.get(kind, kind)
    assert err.index == 3 and err.exc_type.__name__ == name
    assert f"the task of item 3 ((3, {kind!r})) raised {name}(" in str(err)
    assert "not taken for this program's own exit or Ctrl-C" in str(err)
    assert type(err.__cause__).__name__ == name
    # and the backend works afterwards
    assert pmap(abs, [-1, -2], backend=backend, n_workers=2) == [1, 2]


@pytest.mark.parametrize("backend, kind", [
    ("serial", "SystemExit"), ("serial", "KeyboardInterrupt"),
    ("threads", "SystemExit"), ("threads", "KeyboardInterrupt"),  # hung, on threads
    ("processes", "SystemExit"),  # (each costs a pool of its own: one is enough)
])
def test_base_exception_in_the_initializer_ends_the_map_with_a_clear_error(backend, kind,
                                                                           no_leaks):
    with pytest.raises(TaskExitError) as info:
        _within(60, pmap, abs, range(6), backend=backend, n_workers=2,
                initializer=_init_raises, initargs=(kind,))
    assert f"initializer= raised {kind}(" in str(info.value)
    assert "no task ran there" in str(info.value)
    assert info.value.index is None
    assert pmap(abs, [-1, -2], backend=backend, n_workers=2) == [1, 2]


def test_a_serial_task_raising_keyboard_interrupt_in_the_main_thread_is_not_ctrl_c(no_leaks):
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(TaskExitError, match="item 3"):
        pmap(_raises_at_3, [(x, "KeyboardInterrupt") for x in range(5)], backend="serial")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


# --------------------------------------------------------------------------
# 6. Ctrl-C in the consumer's loop body stops the workers
# --------------------------------------------------------------------------

_CONSUMER_SCRIPT = """
import signal, sys, time
import numpy as np
import gilfree

signal.signal(signal.SIGINT, signal.default_int_handler)
backend = sys.argv[1]
big = np.ones(2**19)  # 4 MiB: shared memory on processes

def task(x):
    if x == 0:
        return 0.0
    time.sleep(30)
    return float(big[x])

for r in gilfree.imap(task, range(8), backend=backend, n_workers=2, chunksize=1):
    print("in-body", flush=True)
    time.sleep(30)  # Ctrl-C lands here, outside gilfree's generator
"""


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_ctrl_c_in_the_consumer_loop_body_stops_the_workers(backend, tmp_path):
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-c", _CONSUMER_SCRIPT, backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "in-body" not in proc.stdout.readline():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.5)  # the other tasks are running
        family = psutil.Process(proc.pid).children(recursive=True)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        elapsed = time.monotonic() - t0
        gone, alive = psutil.wait_procs(family, timeout=3)
        assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
        assert not alive, f"workers left: {alive}"
        assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# --------------------------------------------------------------------------
# 8. A caller that is not dumpable gets the named transport
# --------------------------------------------------------------------------

_NON_DUMPABLE_SCRIPT = """
import ctypes, os
import numpy as np
import gilfree
from gilfree.parallel._shared import transport

big = np.arange(400_000.0)

def a_map():
    got = gilfree.pmap(lambda i: float(big[i]), [0, 399_999], backend="processes",
                       n_workers=2)
    assert got == [0.0, 399_999.0], got
    return transport()

before = a_map()  # while dumpable
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE, 0 (as after a setuid change)
assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE
print(before, a_map(), os.geteuid())
"""


def test_a_non_dumpable_caller_uses_the_named_transport(tmp_path):
    rc, out, err = _run_script(_NON_DUMPABLE_SCRIPT, timeout=180)
    assert rc == 0, err[-3000:]
    before, after, _ = out.split()
    assert before == _shared.transport()  # (the subprocess inherits the environment)
    assert after == "named"


def test_a_non_dumpable_caller_without_ptrace_rights_still_maps(tmp_path):
    """Without CAP_SYS_PTRACE (root keeps it, so it is dropped here; any other
    user lacks it), workers cannot open a non-dumpable caller's
    /proc/<pid>/fd: the named transport is used instead."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux) to drop CAP_SYS_PTRACE")
    if os.geteuid() != 0:
        pytest.skip("runs as a user without CAP_SYS_PTRACE already: see the test above")
    prefix = (setpriv, "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace")
    rc, out, err = _run_script(_NON_DUMPABLE_SCRIPT, timeout=180, prefix=prefix)
    assert rc == 0, err[-3000:]
    assert out.split()[1] == "named"


# --------------------------------------------------------------------------
# 9. Platforms without /proc, memfd or POSIX shared memory
# --------------------------------------------------------------------------


@pytest.fixture
def fresh_transport(monkeypatch):
    """The transport is chosen again (and again after the test)."""
    monkeypatch.setattr(_shared, "_transport", None)
    yield
    _shared._reset_transport()


def _no_proc(monkeypatch):
    real = os.path.isdir
    monkeypatch.setattr(os.path, "isdir",
                        lambda p: False if str(p).startswith("/proc") else real(p))


@pytest.mark.parametrize("missing", ["proc", "memfd"])
def test_without_proc_or_memfd_maps_use_named_shared_memory(monkeypatch, fresh_transport,
                                                            no_leaks, missing):
    if missing == "proc":
        _no_proc(monkeypatch)
    else:
        monkeypatch.delattr(os, "memfd_create", raising=False)
    assert _shared.transport() == "named"
    big = np.arange(300_000.0)
    h = gilfree.shared(np.arange(10.0))
    assert pmap(lambda i: float(big[i]) + h[1], [0, 299_999], backend="processes",
                n_workers=2) == [1.0, 300_000.0]
    h.release()


def test_without_posix_shared_memory_processes_say_not_supported(monkeypatch,
                                                                  fresh_transport):
    monkeypatch.setattr(_shared, "_posixshmem", None)
    for call in (pmap, imap):  # at the call, not at the first next()
        with pytest.raises(NotImplementedError, match="not supported on this platform"):
            call(abs, [1], backend="processes", n_workers=2)
    with pytest.raises(NotImplementedError, match="not supported on this platform"):
        gilfree.shared(np.ones(3))
    assert pmap(abs, [-1, -2], backend="threads", n_workers=2) == [1, 2]


def test_transport_can_be_chosen_with_an_environment_variable(monkeypatch, fresh_transport):
    monkeypatch.setenv("GILFREE_SHM_TRANSPORT", "named")
    assert _shared.transport() == "named"
    monkeypatch.setattr(_shared, "_transport", None)
    monkeypatch.setenv("GILFREE_SHM_TRANSPORT", "fast")
    with pytest.raises(ValueError, match="GILFREE_SHM_TRANSPORT must be 'auto', 'memfd' or "
                                         "'named'; got 'fast'"):
        _shared.transport()


def test_dask_worker_liveness_does_not_read_proc(monkeypatch):
    pytest.importorskip("distributed")
    import builtins

    from gilfree.parallel import _cluster as _dask

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real_open = builtins.open
        ours = os.path.dirname(gilfree.__file__) + os.sep  # gilfree's own code, not its caller's

        def no_proc_open(path, *args, **kwargs):
            if (str(path).startswith("/proc/")
                    and sys._getframe(1).f_code.co_filename.startswith(ours)):
                raise FileNotFoundError(path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", no_proc_open)
        assert _dask._alive(child.pid)
        t0 = time.monotonic()
        _dask._reap([child.pid], 0.2)  # a stuck worker is killed, not taken for dead
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert time.monotonic() - t0 < 5
        assert not _dask._alive(child.pid)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# --------------------------------------------------------------------------
# 10. An imap copies nothing before its first next() and frees everything
#     when closed, collected or at exit; short-lived threads leave no pools
# --------------------------------------------------------------------------


def test_an_imap_copies_nothing_until_the_first_next(no_leaks):
    from gilfree.parallel._shared import POOL

    big = np.random.default_rng(3).random(BIG // 8)
    before, pooled = gilfree_shm(), POOL.nbytes
    it = imap(lambda x: float(big[x]), range(6), backend="processes", n_workers=2)
    assert gilfree_shm() == before and POOL.nbytes == pooled  # nothing yet
    assert next(it) == float(big[0])
    assert gilfree_shm() != before  # now the function's array is shared
    it.close()
    # the rest: no_leaks


def test_an_imap_started_and_dropped_frees_everything_without_gc(no_leaks):
    big = np.random.default_rng(4).random(BIG // 8)
    gc.disable()
    try:
        it = imap(lambda x: float(big[x]), range(100), backend="processes", n_workers=2)
        assert next(it) == float(big[0])
        del it  # refcount: closed at once
        from gilfree.parallel import _api

        assert not list(_api._ACTIVE)
    finally:
        gc.enable()


def test_an_unpicklable_function_is_reported_when_imap_is_called():
    lock = threading.Lock()
    with pytest.raises(TypeError, match="closure variable 'lock'"):
        imap(lambda x: (lock, x), range(3), backend="processes", n_workers=2)


_EXIT_SCRIPT = """
import time
import numpy as np
import gilfree

big = np.ones(2**19)

def task(x):
    if x:
        time.sleep(60)
    return float(big[x])

it = gilfree.imap(task, range(6), backend="processes", n_workers=2, chunksize=1)
print(next(it), flush=True)
# the interpreter exits with the iterator open and tasks running
"""


def test_interpreter_exit_with_an_open_imap_is_quick_and_clean():
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-c", _EXIT_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GILFREE_SHM_TRANSPORT": "named"})
    try:
        line = proc.stdout.readline()
        assert line.strip() == "1.0", proc.stderr.read()
        family = psutil.Process(proc.pid).children(recursive=True)
        t0 = time.monotonic()
        proc.wait(timeout=60)
        elapsed = time.monotonic() - t0
        gone, alive = psutil.wait_procs(family, timeout=5)
        assert elapsed < 10, f"exiting took {elapsed:.1f} s (waited for the tasks?)"
        assert not alive, f"workers left: {alive}"
        assert not gilfree_shm(proc.pid), "segments left"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_maps_from_many_short_lived_threads_share_one_pool(no_leaks):
    psutil = pytest.importorskip("psutil")

    def one_map():
        assert pmap(abs, range(-20, 0), backend="processes", n_workers=2) == \
            list(range(20, 0, -1))

    threads = [threading.Thread(target=one_map) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    gc.collect()
    time.sleep(0.5)
    workers = [p for p in psutil.Process().children(recursive=True)
               if p.status() != psutil.STATUS_ZOMBIE
               and "resource_tracker" not in " ".join(p.cmdline())
               and "semaphore_tracker" not in " ".join(p.cmdline())]
    assert len(workers) <= 2, f"{len(workers)} worker processes alive: {workers}"
