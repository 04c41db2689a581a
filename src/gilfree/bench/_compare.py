"""``gilfree.compare``: your own function on serial, threads and processes.

Runs ``pmap(func, items, backend=...)`` on each backend and worker count,
checks every result against the serial one, measures what decides between
the backends (the share of a task that holds the GIL, its CPU share,
pickling cost per item and per result, process start-up and first-call
costs, the chunk size) and recommends one, with the reason.  The record is
a ``gilfree bench`` results record (schema ``gilfree-bench/2``) with one
workload, so its table, JSON and plots are the bench's own.
"""

import dataclasses
import math
import numbers
import time

from .. import _config
from .._config import _check_integral, usable_cores
from ..parallel import available_backends, pmap
from ..parallel._api import imap
from ..parallel._auto import last_plan
from ..parallel._measure import (cpu_share, gil_share, io_workers, measure_pickling,
                                 process_pool_running, ThreadClock)
from ..parallel._checks import resolve_n_workers
from ..parallel._errors import item_repr
from ._core import _equal, measure
from ._report import _fmt_time, plot, render, save
from ._runner import (_derive, _load_average, default_workers, new_record, result_entry,
                      workload_record)

__all__ = ["CompareResult", "compare"]

#: the kind of each backend's rows in the results record
_KINDS = {"serial": "python", "threads": "python-threads", "processes": "python-processes",
          "auto": "gilfree"}
#: simpler first: a backend within COMPARE_TIE of a faster one is preferred
_SIMPLER = {"serial": 0, "threads": 1, "processes": 2}
#: relative difference under which two medians count as a tie
_TIE = 0.05


def _noop(x):
    """A task that does nothing: its map times the process pool's start-up."""
    return x


def _check_budget(budget_s):
    if isinstance(budget_s, bool) or not isinstance(budget_s, numbers.Real):
        raise TypeError(f"budget_s must be a positive number of seconds; got {budget_s!r} of "
                        f"type {type(budget_s).__name__}")
    budget_s = float(budget_s)
    if not (budget_s > 0) or math.isinf(budget_s):
        raise ValueError(f"budget_s must be a positive, finite number of seconds; got "
                         f"{budget_s}")
    return budget_s


def _check_repeats(repeats):
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral):
        raise TypeError(f"repeats must be an int >= 1 (timed runs per backend and worker "
                        f"count); got {repeats!r} of type {type(repeats).__name__}")
    if repeats < 1:
        raise ValueError(f"repeats must be an int >= 1 (timed runs per backend and worker "
                         f"count); got {repeats}")
    return int(repeats)


def _check_backends(backends):

    if isinstance(backends, str):
        backends = (backends,)
    try:
        backends = list(backends)
    except TypeError:
        raise TypeError(f"backends must be a sequence of backend names such as ('serial', "
                        f"'threads', 'processes'); got {backends!r}") from None
    known = ["serial", "threads", "processes", "auto"] + [
        b for b in available_backends() if b not in ("serial", "threads", "processes")]
    if not backends:
        raise ValueError("backends must name at least one backend; got an empty sequence")
    out = []
    for b in backends:
        if not isinstance(b, str) or b not in known:
            raise ValueError(f"backends: unknown backend {b!r}; expected names among "
                             f"{', '.join(map(repr, known))}")
        if b not in out:
            out.append(b)
    if "serial" not in out:
        out.insert(0, "serial")  # the reference of the result check and of speed-ups
    return out


def _check_workers(workers):

    if workers is None:
        return default_workers()
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
        workers = [workers]
    try:
        seq = list(workers)
    except TypeError:
        raise TypeError(f"workers must be None, a worker count or a sequence of them; got "
                        f"{workers!r}") from None
    if not seq:
        raise ValueError("workers must name at least one worker count; got an empty sequence")
    out = set()
    for w in seq:
        _check_integral(w, "workers")
        out.add(resolve_n_workers(w))
    return sorted(out | {1})


@dataclasses.dataclass
class CompareResult:
    """What :func:`gilfree.compare` measured.

    Printing it shows the table (rich in a terminal, HTML in Jupyter).

    Attributes
    ----------
    record : dict
        The ``gilfree bench`` results record (schema ``gilfree-bench/2``)
        with one workload; its ``"compare"`` entry holds the causes, the
        recommendation and the result check.
    recommendation : dict or None
        ``backend``, ``workers``, ``chunksize`` and ``reason`` (one line);
        None when nothing could be timed (e.g. results differ from serial).
    causes : dict
        The measurements behind it (see ``gilfree bench`` docs page
        "compare").
    differs : list of dict
        Backends whose results differ from serial (not timed).
    paths : list of pathlib.Path
        Files written to ``out``.
    """

    record: dict
    recommendation: dict
    causes: dict
    differs: list
    paths: list = dataclasses.field(default_factory=list)

    @property
    def rows(self):
        """The timed rows (dicts as in the results record)."""
        return self.record["workloads"][0]["results"]

    def fastest(self):
        """The fastest timed row, or None."""
        rows = [r for r in self.rows if r["approach"] != "auto"]
        return min(rows, key=lambda r: r["median"]) if rows else None

    def median(self, backend, workers=None):
        """Median seconds of ``backend`` (at its fastest worker count, or
        at ``workers``); None if not timed."""
        rows = [r for r in self.rows if r["approach"] == backend
                and (workers is None or r["workers"] == workers)]
        return min(r["median"] for r in rows) if rows else None

    def lines(self):
        """The causes, problems and recommendation, as printed under the
        table."""
        return _cause_lines(self.record["workloads"][0]["compare"])

    def __rich_console__(self, console, options):
        render(self.record, console)
        yield from self.lines()

    def _printed(self, **kwargs):
        """A rich Console (140 columns, into a string) that printed this."""
        import io

        from rich.console import Console

        console = Console(file=io.StringIO(), width=140, **kwargs)
        console.print(self)
        return console

    def __str__(self):
        try:
            return self._printed(force_terminal=False, color_system=None).file.getvalue()
        except ImportError:
            return _plain(self)

    def __repr__(self):
        rec = self.recommendation
        what = (f"{rec['backend']} x{rec['workers']}" if rec else "no recommendation")
        return f"<CompareResult {self.record['workloads'][0]['name']}: {what}>"

    def _repr_html_(self):
        try:
            console = self._printed(record=True)
        except ImportError:
            import html

            return f"<pre>{html.escape(_plain(self))}</pre>"
        return console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")

    def save(self, out):
        """Write ``results.json`` and the bench's plots to the directory
        ``out`` (plots only when matplotlib is installed); returns the paths."""

        paths = [save(self.record, out)]
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            pass
        else:
            paths += plot(self.record, out)
        self.paths = paths
        return paths


def _plain(result):
    wl = result.record["workloads"][0]
    out = [f"{wl['name']}: {wl['size']}",
           f"{'backend':<10} {'workers':>7} {'median s':>12} {'speed-up':>9}"]
    for r in wl["results"]:
        sp = r.get("speedup")
        out.append(f"{r['approach']:<10} {r['workers']:>7} "
                   f"{('~' if r['estimated'] else '') + format(r['median'], '.4g'):>12} "
                   f"{'-' if sp is None else format(sp, '.2f') + 'x':>9}")
    return "\n".join(out + result.lines())


def _cause_lines(c):
    out = ["Causes (measured on this machine):"]
    t = c.get("task_seconds")
    if t is not None:
        out.append(f"  task: {_fmt_time(t)} per item, serially, on a core (CPU {c['cpu_share']:.0%} "
                   "of it" + (", the rest waits" if c["cpu_share"] < 0.95 else "") + ")")
    g = c.get("gil_share")
    out.append("  GIL-bound share: " + (f"{g:.0%} of a task (2 threads vs 1 on the same items)"
                                        if g is not None else c.get("gil_note", "not measured")))
    pk = c.get("pickling") or {}
    if pk.get("picklable"):
        out.append(f"  pickling per item: {_fmt_time(pk['item_seconds'])}, "
                   f"{pk['item_bytes']:.0f} B; per result: {_fmt_time(pk['result_seconds'])}, "
                   f"{pk['result_bytes']:.0f} B (function {pk['func_bytes']} B)")
    elif pk:
        out.append(f"  pickling: {pk['error']}: processes cannot run it")
    for p, s in sorted((c.get("process_startup") or {}).items(), key=lambda kv: int(kv[0])):
        out.append(f"  process pool start-up, {p} workers: "
                   + (_fmt_time(s) if s is not None else "a pool was already running"))
    for key, s in sorted((c.get("first_call") or {}).items()):
        out.append(f"  first-call cost ({key}): {_fmt_time(s)}")
    ch = c.get("chunksize")
    if ch:
        out.append(f"  chunk size: {ch}")
    if c.get("estimated"):
        out.append(f"  ~ estimated: timed on {c['measured_items']} of {c['items']} items "
                   f"(evenly spaced) and scaled, to stay within budget_s={c['budget_s']:g}")
    for d in c.get("differs", ()):
        out.append(f"  RESULTS DIFFER: {d['message']} (not timed)")
    for s in c.get("skipped", ()):
        out.append(f"  not measured: {s['backend']}: {s['reason']}")
    rec = c.get("recommendation")
    if rec:
        out.append(f"Recommendation: backend={rec['backend']!r}, n_workers={rec['workers']}, "
                   f"chunksize={rec['chunksize']!r} — {rec['reason']}")
    else:
        out.append(f"Recommendation: none — {c.get('no_recommendation', 'nothing was timed')}")
    return out


def _same(a, b):
    """Whether two results are equal (arrays and frames by value)."""

    if a is b:
        return True
    eq = getattr(a, "equals", None)  # pandas
    if callable(eq) and type(a) is type(b):
        try:
            return bool(eq(b))
        except Exception:  # noqa: BLE001 - fall through to the other checks
            pass
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return _equal(a, b)
    except Exception:  # noqa: BLE001 - objects NumPy cannot compare
        try:
            return bool(a == b)
        except Exception:  # noqa: BLE001
            return False


def _first_difference(got, ref):

    if len(got) != len(ref):
        return f"{len(got)} results instead of {len(ref)}"
    try:
        if got == ref:  # at C speed for plain values
            return None
    except Exception:  # noqa: BLE001 - arrays and frames: one by one below
        pass
    for i, (x, y) in enumerate(zip(got, ref)):
        if not _same(x, y):
            return f"item {i}: {item_repr(x)} instead of {item_repr(y)}"
    return None


def _serial_probe(func, items, seconds):
    """Time ``func`` serially on the first items (batches of 1, 2, 4, ...)
    until the batches after the first took ``seconds``: per-task time,
    CPU share, first-call cost."""

    batches, start = [], 0
    size = 1
    while start < len(items):
        batch = items[start:start + size]
        clock, t0 = ThreadClock(), time.perf_counter()
        for x in batch:
            func(x)
        wall = time.perf_counter() - t0
        batches.append((len(batch), wall) + clock.since())
        start += len(batch)
        if len(batches) >= 2 and sum(b[1] for b in batches[1:]) >= seconds:
            break
        size *= 2
    later = batches[1:] or batches
    n = sum(b[0] for b in later)
    wall = sum(b[1] for b in later)
    # less the time without a core on a busy machine (never below the CPU time)
    task = sum(max(b[2], b[1] - b[3]) for b in later) / n
    cpu = cpu_share(wall, sum(b[2] for b in later), sum(b[3] for b in later))
    return task, cpu, max(0.0, batches[0][1] - task)


def _auto_chunk(backend, task, n_items, workers):
    """The chunk size pmap's auto-chunking settles on (before its tail rule
    shortens the last chunks)."""
    target = _config.PARALLEL_TARGET_CHUNK_SECONDS.get(backend, 0.01)
    size = int(max(1, min(target / max(task, 1e-9), _config.PARALLEL_MAX_AUTO_CHUNK)))
    tail = -(-n_items // (workers * _config.PARALLEL_TAIL_CHUNKS_PER_WORKER))
    return max(1, min(size, max(tail, int(_config.PARALLEL_TAIL_MIN_FRACTION * target
                                          / max(task, 1e-9))))), target


def compare(func, items, *, backends=("serial", "threads", "processes"), workers=None,
            chunksize="auto", repeats=3, budget_s=30, out=None):
    """Time ``pmap(func, items)`` on each backend and worker count, and say
    which to use and why.

    Every backend's results are checked against the serial results first;
    a backend whose results differ is reported, not timed.  When timing
    everything would take longer than ``budget_s``, the backends are timed
    on an evenly spaced sample of the items and the times scaled to all of
    them (marked ``~`` as estimated).

    Parameters
    ----------
    func : callable
        Called as ``func(item)``, as by :func:`gilfree.pmap`.
    items : iterable
        The items (read once into a list: every backend gets the same).
    backends : sequence of str
        Backends to time, among ``"serial"``, ``"threads"``,
        ``"processes"``, ``"auto"`` (``pmap(backend="auto")`` itself) and
        registered names.  ``serial`` is always timed: it is the reference.
    workers : int, sequence of int or None
        Worker counts for the parallel backends; None is 1, 2, 4, ... up to
        the usable cores (plus more threads when the tasks mostly wait).
    chunksize : "auto" or int
        Passed to :func:`gilfree.pmap`.
    repeats : int
        Timed runs per backend and worker count, after an untimed first
        run (start-up, first-call costs, the result check).
    budget_s : float
        Seconds the whole comparison should take (roughly).
    out : str or path-like, optional
        Directory for ``results.json`` (the ``gilfree bench`` schema) and
        the plots.

    Returns
    -------
    CompareResult

    Raises
    ------
    TypeError, ValueError
        What :func:`gilfree.pmap` rejects, with its message; and
        ``budget_s <= 0``, an empty ``items``, an unknown backend name.

    Examples
    --------
    >>> import gilfree
    >>> r = gilfree.compare(abs, range(-50, 50), backends=("serial", "threads"),
    ...                     budget_s=2)          # doctest: +SKIP
    >>> r.recommendation["backend"]              # doctest: +SKIP
    'serial'
    """

    budget_s = _check_budget(budget_s)
    repeats = _check_repeats(repeats)
    backends = _check_backends(backends)
    counts = _check_workers(workers)
    # what pmap rejects, compare rejects with pmap's message (made, not started)
    imap(func, [], backend="threads", n_workers=max(counts), chunksize=chunksize).close()
    try:
        items = list(items)
    except TypeError:
        imap(func, items, backend="threads").close()  # pmap's message for a non-iterable
        raise
    if not items:
        raise ValueError("items must hold at least one item; got an empty iterable")

    t_start = time.perf_counter()
    load_before = _load_average()
    cores = usable_cores()
    n = len(items)
    probe_s = min(0.5, budget_s * _config.COMPARE_PROBE_SHARE)
    task, cpu_share, first_serial = _serial_probe(func, items, probe_s)
    if workers is None and cpu_share < _config.AUTO_IO_CPU_SHARE:
        top = io_workers(cpu_share, cores)
        p = counts[-1]
        while p < top:
            p = min(top, 2 * p)
            counts.append(p)
    parallel = [b for b in backends if b not in ("serial", "auto")]
    rows_plan = [("serial", 1)]
    for b in parallel:
        for p in counts:
            if p < 2:
                continue  # one worker is the serial row (pmap runs it serially)
            if b != "threads" and p > cores and workers is None:
                continue  # more workers than cores are for waiting tasks: threads only
            rows_plan.append((b, p))
    if "auto" in backends:
        rows_plan.append(("auto", None))

    # the sample that fits the budget
    spent = time.perf_counter() - t_start
    n_proc_counts = len({p for b, p in rows_plan if b == "processes"})
    overhead = spent + n_proc_counts * _config.AUTO_PROCESS_START_SECONDS
    per_item_all = len(rows_plan) * (repeats + 1) * task
    room = 0.8 * budget_s - overhead
    n_sub = n
    if per_item_all * n > room:
        least = min(n, 8 * max(counts))
        n_sub = max(least, int(room / per_item_all)) if room > 0 else least
        n_sub = min(n, n_sub)
    if n_sub < n:
        step = n / n_sub
        sub = [items[int(i * step)] for i in range(n_sub)]
    else:
        sub = items
    scale = n / len(sub)
    max_time = 0.0

    causes = {"items": n, "measured_items": len(sub), "estimated": scale != 1.0,
              "budget_s": budget_s, "task_seconds": task, "cpu_share": cpu_share,
              "gil_share": None, "pickling": None, "process_startup": {},
              "first_call": {"serial": first_serial}, "chunksize": None, "differs": [],
              "skipped": [], "recommendation": None}
    results, reference = [], None
    for k, (backend, p) in enumerate(rows_plan):
        # what is left of the budget, shared by the rows left
        left = 0.9 * budget_s - (time.perf_counter() - t_start)
        max_time = max(0.0, left) / (len(rows_plan) - k)
        kw = {} if backend == "serial" else {"n_workers": p}
        if backend == "processes":
            pk = causes["pickling"]
            if pk is None:
                pk = causes["pickling"] = measure_pickling(func, *_sample(sub, reference))
            if not pk["picklable"]:
                if not any(s["backend"] == "processes" for s in causes["skipped"]):
                    causes["skipped"].append({"backend": "processes", "reason": pk["error"]})
                continue
            if str(p) not in causes["process_startup"]:
                warm = process_pool_running(p)
                t0 = time.perf_counter()
                pmap(_noop, range(p), backend="processes", n_workers=p, chunksize=1)
                causes["process_startup"][str(p)] = None if warm else time.perf_counter() - t0

        def run(backend=backend, kw=kw):
            return pmap(func, sub, backend=backend, chunksize=chunksize, **kw)

        t0 = time.perf_counter()
        try:
            got = run()
        except Exception as exc:
            if backend == "serial":
                raise
            causes["skipped"].append({"backend": f"{backend} x{p}",
                                      "reason": f"raised {type(exc).__name__}: {exc}"})
            continue
        warm_s = time.perf_counter() - t0
        if backend == "serial":
            reference = got
        else:
            diff = _first_difference(got, reference)
            if diff is not None:
                causes["differs"].append({"backend": backend, "workers": p,
                                          "message": f"{backend} x{p or 'auto'}: {diff}"})
                continue
        _, times = measure(run, repeats=repeats, min_time=0.0, max_time=max_time)
        note = ""
        if backend == "auto":
            plan = last_plan()
            p = plan.n_workers if plan is not None else 1
            note = f"chose {plan.backend} x{plan.n_workers}" if plan is not None else ""
        entry = result_entry(backend, _KINDS.get(backend, "python-threads"), p or 1,
                             warm_s * scale, note,
                             "" if backend in ("serial", "auto") else "serial", times, scale)
        results.append(entry)
        if backend == "processes":
            causes["first_call"][f"processes x{p}"] = max(0.0, warm_s - entry["median"] / scale)
        if backend == "serial":
            again = run()
            diff = _first_difference(again, reference)
            if diff is not None:
                causes["differs"].append({"backend": "serial", "workers": 1, "message":
                                          f"serial results change from one run to the next "
                                          f"({diff}): the function depends on state it "
                                          "changes"})
                results = []
                break
    # causes from the rows
    serial_rows = [r for r in results if r["approach"] == "serial"]
    t1 = serial_rows[0]["median"] if serial_rows else None
    two = [r for r in results if r["approach"] == "threads" and r["workers"] == 2]
    if t1 and two:
        causes["gil_share"] = gil_share(t1, two[0]["median"])
    else:
        causes["gil_note"] = ("not measured (needs the threads backend at 2 workers"
                              + (f"; this machine has {cores} usable core)" if cores < 2 else ")"))
    if causes["pickling"] is None and reference is not None:
        causes["pickling"] = measure_pickling(func, *_sample(sub, reference))
    if chunksize == "auto":
        parts = []
        for b in parallel:
            ps = [r["workers"] for r in results if r["approach"] == b]
            if ps:
                size, target = _auto_chunk(b, task, len(sub), max(ps))
                parts.append(f"{b} ~{size} tasks per chunk (auto: chunks of about "
                             f"{target * 1e3:g} ms)")
        causes["chunksize"] = "; ".join(parts) or "auto"
    else:
        causes["chunksize"] = f"{chunksize} tasks per chunk (as given)"
    rec = _recommend(results, causes, chunksize)
    causes["recommendation"] = rec
    if rec is None:
        causes["no_recommendation"] = (
            "results differ from serial on every backend" if causes["differs"]
            else "no backend could be timed")

    name = getattr(func, "__qualname__", None) or type(func).__name__
    module = getattr(func, "__module__", None) or ""
    wl = workload_record(
        name, f"gilfree.compare of {module + '.' if module else ''}{name}",
        "pmap(func, items) on each backend and worker count",
        {"items": n, "measured_items": len(sub), "chunksize": chunksize, "backends": backends},
        f"{n:,} items" + (f" (~ timed on {len(sub):,})" if scale != 1.0 else ""), "serial",
        "items", n)
    wl.update(results=results, compare=causes)
    _derive(wl, cores=cores, applies=cpu_share >= _config.AUTO_IO_CPU_SHARE,
            note="the tasks mostly wait (I/O, sleep): more workers do not divide a fixed "
                 "amount of computation")
    record = new_record({"quick": False, "workers": sorted({r["workers"] for r in results} or {1}),
                         "repeats": repeats, "min_time": 0.0, "max_time": max_time,
                         "backend": "local", "budget_s": budget_s}, [wl])
    record["run"] = {"wall_seconds": time.perf_counter() - t_start, "jit_seconds": 0.0,
                     "load_average": [load_before, _load_average()]}
    result = CompareResult(record, rec, causes, causes["differs"])
    if out is not None:
        result.save(out)
    return result


def _sample(sub, reference):
    """Evenly spaced items and their results, for the pickling measurement."""
    step = max(1, len(sub) // _config.AUTO_PICKLE_SAMPLE)
    k = _config.AUTO_PICKLE_SAMPLE
    return sub[::step][:k], list(reference or ())[::step][:k]


def _recommend(rows, causes, chunksize):
    rows = [r for r in rows if r["approach"] in _SIMPLER]
    if not rows:
        return None
    fastest = min(rows, key=lambda r: r["median"])
    near = [r for r in rows if r["median"] <= fastest["median"] * (1 + _TIE)]
    pick = min(near, key=lambda r: (_SIMPLER[r["approach"]], r["workers"], r["median"]))
    serial = next(r for r in rows if r["approach"] == "serial")
    speed = serial["median"] / pick["median"]
    g, cpu = causes.get("gil_share"), causes["cpu_share"]
    pk = causes.get("pickling") or {}
    task = causes["task_seconds"]
    b = pick["approach"]
    if b == "serial":
        best_other = min((r for r in rows if r["approach"] != "serial"),
                         key=lambda r: r["median"], default=None)
        why = (f"no parallel backend beat it by {_TIE:.0%}"
               + (f" (best: {best_other['approach']} x{best_other['workers']}, "
                  f"{serial['median'] / best_other['median']:.2f}x)" if best_other else ""))
        if pk.get("picklable") and pk.get("item_seconds") is not None:
            why += (f"; a task takes {_fmt_time(task)} and pickling it and its result "
                    f"{_fmt_time(pk['item_seconds'] + (pk['result_seconds'] or 0))}")
        elif g is not None:
            why += f"; GIL-bound share {g:.0%}"
    elif b == "threads":
        why = f"{speed:.2f}x over serial"
        if cpu < _config.AUTO_IO_CPU_SHARE:
            why += f"; the tasks wait {1 - cpu:.0%} of their time, so many threads overlap"
        elif g is not None:
            why += f"; GIL-bound share {g:.0%}" + (
                " (the task releases the GIL)" if g < 0.3 else
                " (the task holds the GIL much of the time)" if g > 0.7 else "")
        why += "; no pickling, no process start-up"
    else:
        why = f"{speed:.2f}x over serial"
        if g is not None:
            why += f"; GIL-bound share {g:.0%}" + (
                " (the task holds the GIL, so threads do not help)" if g > 0.7 else "")
        if pk.get("item_seconds") is not None:
            per = pk["item_seconds"] + (pk["result_seconds"] or 0)
            why += f"; pickling costs {_fmt_time(per)} per task ({per / task:.1%} of a task)"
    if fastest is not pick:
        why += (f" ({fastest['approach']} x{fastest['workers']} was within {_TIE:.0%}; the "
                "simpler one is recommended)")
    return {"backend": b, "workers": pick["workers"], "chunksize": chunksize,
            "median": pick["median"], "reason": why}
