"""Run workloads and collect a JSON-ready record (schema in ``schema.json``)."""

import datetime
import gc
import platform
import time

from .._config import usable_cores
from ._core import KINDS, BenchError, amdahl_fit, amdahl_speedup, get_workload, measure, summarise, all_workloads

SCHEMA = "gilfree-bench/1"
PREDICT_AT = (8, 16, 64)
#: below this 1-worker time, thread start-up dominates: no Amdahl fit
MIN_FIT_SECONDS = 1e-3


def default_workers(cores=None):
    """1, 2, 4, ... up to the usable cores, always ending at the cores."""
    cores = cores or usable_cores()
    out, p = [], 1
    while p < cores:
        out.append(p)
        p *= 2
    out.append(cores)
    return out


def machine_info():
    """System facts as the tutorial printed them, plus the build."""
    from .._info import show_config

    cfg = show_config()
    return {
        "python": cfg["python"],
        "compiler": cfg.get("build", {}).get("compiler", "n/a"),
        "os": platform.platform(),
        "cpu": cfg["cpu"],
        "machine": platform.machine(),
        "cores": cfg["usable_cores"],
        "simd": cfg["simd"],
        "numba_threading_layer": cfg.get("numba_threading_layer"),
        "openmp": bool(cfg.get("build", {}).get("openmp")),
        "numpy": cfg["numpy"],
        "numba": cfg["numba"],
        "gilfree": cfg["gilfree"],
    }


def _close_all(approaches):
    for ap in approaches:
        if ap.close is not None:
            try:
                ap.close()
            except Exception:  # noqa: BLE001 - closing a pool must not hide the results
                pass


def run_workload(wl, *, workers, quick, repeats, min_time, max_time, on_step=None,
                 dask_client=None):
    """Measure every approach of one workload; returns its record.  With a
    ``dask_client``, the workload's Dask approaches run too."""
    params = wl.params(quick)
    data = wl.setup(params)
    reference = wl.reference(data)
    approaches = wl.approaches(data, workers)
    if dask_client is not None:
        n = len(dask_client.nthreads())
        approaches = approaches + list(
            wl.dask_approaches(data, dask_client, [p for p in workers if p <= n]))
    record = {
        "name": wl.name,
        "title": wl.title,
        "description": wl.description,
        "params": params,
        "baseline": wl.baseline,
        "results": [],
        "amdahl": {},
    }
    try:
        for ap in approaches:
            if on_step is not None:
                on_step(wl.name, ap)
            gc.collect()
            # warm-up: JIT compilation, pool start-up and caches; timed apart
            t0 = time.perf_counter()
            result = ap.run()
            warm = time.perf_counter() - t0
            ok = ap.check(result) if ap.check is not None else wl.same(result, reference)
            if not ok:
                raise BenchError(
                    f"{wl.name}: approach {ap.name!r} with {ap.workers} worker(s) gave a "
                    "different result than the reference; its timing is not reported"
                )
            times = [] if ap.warmup else [warm]
            # (a warm-up longer than max_time, e.g. a first JIT compile,
            # still needs one timed run)
            if len(times) < repeats and (warm < max_time or not times):
                _, more = measure(ap.run, repeats=repeats - len(times), min_time=min_time,
                                  max_time=max_time - sum(times))
                times += more
            entry = {
                "approach": ap.name,
                "kind": ap.kind,
                "workers": ap.workers,
                "warmup": warm * ap.scale if ap.warmup else 0.0,
                "estimated": ap.estimated,
                "note": ap.note,
                "checked": True,
            }
            entry.update(summarise(times, ap.scale))
            record["results"].append(entry)
    finally:
        _close_all(approaches)
    _derive(record)
    return record


def _derive(record):
    """Speed-up vs the baseline, efficiency and the Amdahl fit per approach."""
    res = record["results"]
    base = [r for r in res if r["approach"] == record["baseline"] and r["workers"] == 1]
    t_base = base[0]["median"] if base else None
    by_name = {}
    for r in res:
        by_name.setdefault(r["approach"], []).append(r)
    for name, rows in by_name.items():
        one = [r for r in rows if r["workers"] == 1]
        t1 = one[0]["median"] if one else None
        points = [(r["workers"], r["median"]) for r in rows]
        if t1 is None and rows[0]["kind"] == "python-threads" and t_base:
            # a thread pool of one is the serial loop
            t1 = t_base
            points.append((1, t_base))
        for r in rows:
            r["speedup"] = (t_base / r["median"]) if t_base else None
            r["efficiency"] = (t1 / r["median"] / r["workers"]) if t1 else None
            # compile time: what the first run cost beyond a measured run
            r["jit"] = max(0.0, r["warmup"] - r["median"]) if r["kind"] in ("numba",) else 0.0
        workers = [p for p, _ in points]
        if len(set(workers)) >= 2 and 1 in workers and t1 >= MIN_FIT_SECONDS:
            f = amdahl_fit(workers, [t for _, t in points])
            if f is not None:
                record["amdahl"][name] = {
                    "serial_fraction": f,
                    "predicted_speedup": {str(p): amdahl_speedup(f, p) for p in PREDICT_AT},
                }
    kinds = {k: i for i, k in enumerate(KINDS)}
    res.sort(key=lambda r: (kinds.get(r["kind"], len(kinds)), r["approach"], r["workers"]))


def start_dask_cluster(workers):
    """The LocalCluster of ``--backend dask``: one single-threaded worker
    process per core up to the largest worker count, on 127.0.0.1."""
    try:
        from ..distributed import local_cluster
        client = local_cluster(n_workers=max(workers), threads_per_worker=1)
    except ImportError as exc:
        raise BenchError(f"--backend dask needs dask.distributed ({exc}); install it with: "
                         "pip install 'gilfree[dask]'") from None
    return client


def run(names=None, *, workers=None, quick=False, repeats=3, min_time=0.5, max_time=None,
        on_step=None, on_workload=None, backend="local"):
    """Run the named workloads (all available ones by default).

    ``backend="dask"`` also runs each workload's Dask approaches through a
    LocalCluster started for the run and closed at its end.

    Returns the JSON-ready record: ``schema``, ``created``, ``machine``,
    ``settings``, ``workloads`` (measured) and ``unavailable``.
    """
    if backend not in ("local", "dask"):
        raise BenchError(f"backend must be 'local' or 'dask'; got {backend!r}")
    if workers is None:
        workers = default_workers()
    workers = sorted(set(int(w) for w in workers))
    if not workers or workers[0] < 1:
        raise BenchError(f"workers must be positive integers; got {workers}")
    if max_time is None:
        # seconds of timed runs per approach: the slow baselines (seconds
        # per run) get one or two runs, the fast kernels their repeats
        max_time = 5.0 if quick else 6.0
    chosen = all_workloads() if not names else [get_workload(n) for n in names]
    out = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {"quick": quick, "workers": workers, "repeats": repeats},
        "workloads": [],
        "unavailable": [],
    }
    out["settings"]["backend"] = backend
    client = start_dask_cluster(workers) if backend == "dask" else None
    try:
        for wl in chosen:
            ok, why = wl.available()
            if not ok:
                out["unavailable"].append({"name": wl.name, "reason": why})
                continue
            if on_workload is not None:
                on_workload(wl)
            out["workloads"].append(
                run_workload(wl, workers=workers, quick=quick, repeats=repeats,
                             min_time=min_time, max_time=max_time, on_step=on_step,
                             dask_client=client)
            )
    finally:
        if client is not None:
            client.close()
    return out
