"""The ``processes`` backend: the chunks of a map on loky worker processes
(the pool of :mod:`._pool`), functions and items pickled with cloudpickle,
large arrays through shared memory, a control board per map through which
the caller sees which item each worker runs."""

import concurrent.futures
import contextlib
import os
import secrets
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool

import cloudpickle

from .. import _config
from .._compat import loky as _loky
from .._compat.pythread import register_exit_hook
from ._backends import Backend, Outcome
from ._errors import TaskKilled, WorkerCrashedError, describe_exitcode, item_repr
from ._pool import _pools_at_exit, _release_pool, acquire
from ._worker import process_chunk


class _WorkerWatch:
    """Which worker process runs which chunk (the board's slots), and what
    happens to it: a task past its timeout interrupted, then its worker
    retired alone or killed; a dead worker's items named.  The part of
    :class:`ProcessBackend` that deals with its worker processes."""

    def running(self, chunk):
        s = self._slot(chunk)
        if s is None:
            return None
        pid, pos, attempt, started = s
        return pos, attempt, started / 1e9

    def on_timeout(self, chunk):
        s = self._slot(chunk)
        if s is None:
            return None
        pid, pos, attempt, started = s
        if chunk.id in self._killed:
            return "killed"
        retired = self._retire_worker(chunk, pid, started)
        if retired:
            return retired
        self._killed[chunk.id] = (chunk, pos, attempt)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # loky's pool breaks: crash_error tells
        return "killed"

    def _retire_worker(self, chunk, pid, started):
        """Kill the worker running ``chunk``'s task without breaking loky's
        pool (see :func:`gilfree._compat.loky.retire_worker`).  Returns "killed",
        "finished" (the task ended meanwhile) or None (the caller kills the
        worker and the pool breaks)."""

        def still_in_task():
            s = self._slot(chunk)
            return s is not None and s[0] == pid and s[3] == started

        def mark():
            s = self._slot(chunk)
            self._killed[chunk.id] = (chunk, s[1], s[2])
            self._retired.add(chunk.id)

        def unmark():
            self._retired.discard(chunk.id)
            self._killed.pop(chunk.id, None)

        return _loky.retire_worker(self._ex, pid, chunk.future, still_in_task, mark, unmark,
                                     TaskKilled(pid))

    def crash_error(self, exc, chunk, inflight):
        """The error for a broken pool; ``err.culprit`` is ``(chunk, pos,
        attempt)`` of the task that broke it, when known."""
        if isinstance(exc, TaskKilled) and chunk.id in self._retired:
            self._retired.discard(chunk.id)
            ch, pos, attempt = self._killed.pop(chunk.id)
            err = self.run.timeout_error(ch, pos, attempt, killed="alone")
            err.culprit = (ch, pos, attempt)
            err.pool_intact = True
            return err
        if self._killed:
            ch, pos, attempt = next(iter(self._killed.values()))
            err = self.run.timeout_error(ch, pos, attempt, killed=True)
            err.__cause__ = exc
            err.culprit = (ch, pos, attempt)
            return err
        running = []
        attempts = {}
        for ch in inflight:
            s = self._slot(ch)
            if s is not None:
                running.append((ch, s[1], s[0]))
                attempts[ch.id] = s[2]
        codes = {}
        for _, _, pid in running:
            p = self._procs.get(pid)
            code = None
            if p is not None:
                for _ in range(20):  # the exit code can lag the broken pipe
                    code = p.exitcode
                    if code is not None:
                        break
                    time.sleep(0.01)
            codes[pid] = code
        culprits = [r for r in running if codes.get(r[2]) not in (None, -signal.SIGKILL)]
        if len(culprits) != 1:
            culprits = running if len(running) == 1 else []
        candidates = sorted(ch.start + pos for ch, pos, _ in running)
        if culprits:
            ch, pos, pid = culprits[0]
            index = ch.start + pos
            err = WorkerCrashedError(
                f"the worker process (pid {pid}) running the task of item {index} "
                f"({item_repr(ch.items[pos])}) died: {describe_exitcode(codes.get(pid))}. "
                "A segmentation fault, os._exit() or the out-of-memory killer ends a worker "
                "this way; the pool will be restarted for the next map",
                index=index, candidates=candidates, exitcode=codes.get(pid),
            )
            err.culprit = (ch, pos, attempts.get(ch.id, 0))
        else:
            which = (
                f"items {candidates} were running" if candidates
                else "no task was running (the worker died between tasks)"
            )
            err = WorkerCrashedError(
                f"a worker process died and the item responsible could not be singled out: "
                f"{which}. The pool will be restarted for the next map",
                candidates=candidates,
            )
        err.__cause__ = exc
        return err


class ProcessBackend(_WorkerWatch, Backend):
    """Worker processes of a loky executor shared by the maps of this process.

    Functions and arguments travel with cloudpickle (lambdas and closures
    work); NumPy arrays of 1 MiB or more and :func:`shared` arrays travel
    through shared memory.  Workers are started by loky (a fresh
    interpreter, never a fork of this process), with the inner thread
    limits in their environment before they import anything, and ignore
    SIGINT: the caller handles Ctrl-C by killing them.  A worker that dies
    gives a :class:`WorkerCrashedError` naming the item it was running; a
    task past its timeout is interrupted inside its worker, and killed with
    its worker process if it does not stop (loky replaces that worker; the
    others go on).
    """

    name = "processes"
    isolated = True
    shares_memory = False
    stops_tasks = True
    soft_timeouts = True
    needs_pickling = True
    timeout_mode = "alarm"
    target_chunk_seconds = _config.PARALLEL_TARGET_CHUNK_SECONDS["processes"]

    def start(self):
        run = self.run
        self._init_blob = None if run.initializer is None else cloudpickle.dumps(
            (run.initializer, tuple(run.initargs)))
        self._procs = {}
        self._killed = {}
        self._retired = set()  # chunks whose worker was killed alone
        self._launch_lock = threading.Lock()
        self._closing = False
        self._token = secrets.token_hex(8)
        n_slots = max(1, run.max_inflight)
        self._free = list(range(n_slots - 1, -1, -1))
        seg = run.segments.new_buffer(8 * (1 + 4 * n_slots), "the map's control board")
        self._board_ref = seg.ref
        self._board = memoryview(seg.mm).cast("q")
        blob = run.fn_blob
        if len(blob) >= _config.PARALLEL_SHARE_MIN_BYTES:
            fseg = run.segments.new_buffer(len(blob), "the pickled function")
            fseg.write_bytes(blob)
            self._fn_ref = ("buf", (fseg.ref, len(blob)))
        else:
            self._fn_ref = ("bytes", blob)
        self._pool = None
        self._get_executor()

    def _get_executor(self):
        self._pool = acquire(self.n_workers, self._init_blob, self.run.inner)
        self._ex = self._pool.ex

    def restart(self):
        """After a worker died and broke loky's pool (loky cannot replace a
        single dead worker): a new pool for the chunks resubmitted."""
        self._killed = {}
        self._retired = set()
        old, self._pool = self._pool, None
        if old is not None:
            _release_pool(old, kill=True)
        self._get_executor()

    def _snapshot_processes(self):
        self._procs.update(_loky.worker_processes(self._ex))

    def submit(self, chunk):
        run = self.run
        items_blob, entries = run.dump_items(chunk)
        chunk.state = [entries, ()]  # shared arrays it uses; buffers a worker kept
        slot = self._free.pop()
        chunk.slot = slot
        b = 1 + 4 * slot
        self._board[b : b + 4] = memoryview(bytes(32)).cast("q")
        args = (process_chunk, self._token, self._board_ref, self._fn_ref, slot, items_blob,
                run.spec, chunk.base_attempt)
        self._launch(chunk, args)

    def _launch(self, chunk, args):
        """Hand the chunk to loky."""
        done = self.run.done
        with self._launch_lock:
            if self._closing:
                fut = concurrent.futures.Future()
                fut.cancel()
            else:
                try:
                    fut = self._ex.submit(*args)
                except BrokenProcessPool as exc:
                    # a worker died after the previous chunk was handed out,
                    # before its own chunk reported it: this chunk is lost
                    # with the pool and reports the crash as those chunks do
                    fut = concurrent.futures.Future()
                    fut.set_exception(exc)
            chunk.future = fut
        register_exit_hook(_pools_at_exit)
        self._snapshot_processes()
        fut.add_done_callback(lambda f: done(chunk, f))

    def outcome(self, chunk, fut):
        try:
            exc = fut.exception()
        except concurrent.futures.CancelledError:
            return Outcome(cancelled=True)
        if exc is not None:
            if isinstance(exc, (BrokenProcessPool, TaskKilled)):
                return Outcome(crash=exc)
            cls = type(exc).__name__
            if cls == "ShutdownExecutorError":
                return Outcome(cancelled=True)
            return Outcome([], (0, "setup", exc, None, 0), 0.0, "a worker process")
        n, blob, failure, elapsed, pid, retained = fut.result()
        if chunk.state is not None:
            chunk.state[1] = retained
        if n < 0:
            return Outcome(cancelled=True)
        return Outcome.unpickle(blob, failure, elapsed, f"worker process {pid}")

    def release(self, chunk):
        """The scheduler is done with ``chunk`` (it reported, or was lost
        with its worker): the buffers only it used are reused or freed."""
        fut, chunk.future = chunk.future, None  # (the future's callback refers to the chunk)
        if fut is not None and not fut.done():
            fut.cancel()
        state, chunk.state = chunk.state, None
        if state is not None:
            entries, retained = state
            self.run.segments.release(entries, retained)
        if chunk.slot is not None:
            self._free.append(chunk.slot)
            chunk.slot = None

    def _slot(self, chunk):
        if chunk.slot is None:
            return None
        b = 1 + 4 * chunk.slot
        board = self._board
        started = board[b + 2]
        pid, pos, attempt = board[b], board[b + 1], board[b + 3]
        if not started or board[b + 2] != started:
            return None
        return pid, pos, attempt, started

    def shutdown(self, abort=False):
        board = getattr(self, "_board", None)
        if board is not None:
            board[0] = 1  # workers stop between items; their caches let go
        for_cancel = getattr(self.run, "inflight_chunks", lambda: [])()
        lock = getattr(self, "_launch_lock", None)
        if lock is not None:
            with lock:  # no chunk is handed to loky from now on
                self._closing = True
        for ch in for_cancel:
            fut, ch.future = ch.future, None
            if fut is not None:
                fut.cancel()
        if abort:
            self._snapshot_processes()
            for p in list(self._procs.values()):
                with contextlib.suppress(Exception):  # pragma: no cover - already gone
                    if p.exitcode is None:
                        p.kill()
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            _release_pool(pool, kill=abort)
        if board is not None:
            board.release()
            self._board = None
