"""Run workloads and collect a JSON-ready record (schema in ``schema.json``)."""

import datetime
import gc
import os
import platform
import time
from importlib import metadata

from .._config import usable_cores
from .._info import cpuinfo, numba_threading_layer, show_config
from ._core import KINDS, BenchError, get_workload, measure, scaling_verdict, summarise, all_workloads

#: the schema name and version written in every results file (``"schema"``)
SCHEMA = "gilfree-bench/2"
#: earlier results files that ``--compare`` still reads
READABLE_SCHEMAS = ("gilfree-bench/1", SCHEMA)

#: kinds whose throughput is gilfree's (for the ceiling-probe fraction)
GILFREE_KINDS = ("numba", "cython", "gilfree")

#: seconds of timed runs per approach: (min_time, max_time).  An approach
#: runs ``repeats`` times, more while its total stays below min_time (up to
#: 5x repeats), fewer once it passes max_time (slow baselines).
TIMING = {False: (0.5, 6.0), True: (0.1, 1.0)}

#: the libraries a run records the versions of (None: not installed):
#: the competitors, the pools, and the engines' foundations
VERSIONS = {
    "numpy": ("numpy",),
    "numba": ("numba",),
    "llvmlite": ("llvmlite",),
    "scipy": ("scipy",),
    "Pillow": ("pillow", "Pillow"),
    "OpenCV": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
               "opencv-contrib-python"),
    "scikit-learn": ("scikit-learn",),
    "gaitmap": ("gaitmap",),
    "pandas": ("pandas",),
    "joblib": ("joblib",),
    "loky": ("loky",),
    "dask": ("dask",),
    "distributed": ("distributed",),
    "threadpoolctl": ("threadpoolctl",),
    "matplotlib": ("matplotlib",),
}


def default_workers(cores=None):
    """1, 2, 4, ... up to the usable cores, always ending at the cores."""
    cores = cores or usable_cores()
    out, p = [], 1
    while p < cores:
        out.append(p)
        p *= 2
    out.append(cores)
    return out


def _load_average():
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def library_versions():
    """Installed version of each library in :data:`VERSIONS` (None if absent)."""
    out = {}
    for name, dists in VERSIONS.items():
        out[name] = None
        for dist in dists:
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


#: CPU flags worth recording next to a timing (what the SIMD variants use)
_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
          "neon", "asimd", "sve")


def cpu_details():
    """Vendor, family, model number and SIMD flags from /proc/cpuinfo
    (empty where there is none)."""
    info = cpuinfo()
    flags = set((info.get("flags") or info.get("features") or "").split())
    return {
        "vendor": info.get("vendor_id") or info.get("cpu implementer"),
        "family": info.get("cpu family"),
        "model": info.get("model"),
        "flags": [f for f in _FLAGS if f in flags],
    }


def threading_layer():
    """The Numba threading layer this process uses (after a parallel Numba
    function ran, it is known without compiling a probe)."""
    try:
        import numba

        return numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        pass
    except ImportError as exc:
        return f"unavailable ({exc})"
    try:
        return numba_threading_layer()
    except Exception as exc:  # noqa: BLE001 - a diagnostic, reported rather than raised
        return f"unavailable ({type(exc).__name__}: {exc})"


def machine_info():
    """System facts, the build, the SIMD variant in use and the versions of
    every library the run compares with."""
    # the Numba threading layer is read after the run (see threading_layer),
    # when the kernels have picked it: probing it here would compile a
    # parallel function just for that
    cfg = show_config(mode="dicts", probe_numba=False)
    build = cfg.get("build", {})
    return {
        "python": cfg["python"],
        "compiler": build.get("compiler", "n/a"),
        "os": platform.platform(),
        "cpu": cfg["cpu"],
        "cpu_details": cpu_details(),
        "machine": platform.machine(),
        "cores": cfg["usable_cores"],
        "simd": cfg["simd"],
        "simd_cap": os.environ.get("GILFREE_SIMD") or None,
        "numba_threading_layer": None,
        "openmp": bool(build.get("openmp")),
        "cython": build.get("cython"),
        "numpy": cfg["numpy"],
        "numba": cfg["numba"],
        "gilfree": cfg["gilfree"],
        "versions": library_versions(),
    }


def new_record(settings, workloads=()):
    """A results record of this machine, now, with these run settings."""
    return {"schema": SCHEMA,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "settings": settings, "workloads": list(workloads),
            "unavailable": []}


def workload_record(name, title, description, params, size, baseline, unit, work):
    """One workload's entry of a results record, before its rows."""
    return {"name": name, "title": title, "description": description, "params": params,
            "size": size, "baseline": baseline, "unit": unit, "work": work, "results": [],
            "amdahl": {}, "probe": None}


def result_entry(approach, kind, workers, warmup, note, serial, times, scale):
    """One checked row of a workload's results: times scaled by ``scale``
    (< 1 run on a subset), with their median, min and max."""
    return {"approach": approach, "kind": kind, "workers": workers, "warmup": warmup,
            "estimated": scale != 1.0, "note": note, "serial": serial, "checked": True,
            **summarise(times, scale)}


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
    work = wl.work(params, data)
    approaches = wl.approaches(data, workers)
    if dask_client is not None:
        n = len(dask_client.nthreads())
        approaches = approaches + list(
            wl.dask_approaches(data, dask_client, [p for p in workers if p <= n]))
    # one full collection per workload, then freeze what exists: the
    # collection before each approach then scans only what came since
    # (a full one over the imported libraries costs tens of ms each time)
    gc.collect()
    gc.freeze()
    record = workload_record(wl.name, wl.title, wl.description, params, wl.summary(params),
                             wl.baseline, wl.unit, work)
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
            record["results"].append(result_entry(
                ap.name, ap.kind, ap.workers, warm * ap.scale if ap.warmup else 0.0, ap.note,
                ap.serial, times, ap.scale))
        probe = wl.ceiling(data)
    finally:
        _close_all(approaches)
        gc.unfreeze()
    _derive(record, cores=usable_cores(), applies=wl.amdahl_applies, note=wl.amdahl_note)
    if probe is not None:
        record["probe"] = _probe(record, probe)
    return record


def _probe(record, probe):
    """The best gilfree throughput as a fraction of the ceiling probe's."""
    ours = [r for r in record["results"] if r["kind"] in GILFREE_KINDS and r.get("throughput")]
    best = max(ours, key=lambda r: r["throughput"], default=None)
    tp = probe.get("throughput")
    return {
        "throughput": tp,
        "fraction": (best["throughput"] / tp) if best and tp else None,
        "approach": best["approach"] if best else None,
        "workers": best["workers"] if best else None,
        "description": probe.get("description", ""),
    }


def one_worker_times(results):
    """``({approach: its rows}, {approach: its 1-worker median})``; an
    approach measured only from 2 workers takes its serial form's (a pool
    of one worker runs the serial loop)."""
    by_name = {}
    for r in results:
        by_name.setdefault(r["approach"], []).append(r)
    out = {}
    for name, rows in by_name.items():
        one = [r for r in rows if r["workers"] == 1]
        if not one and rows[0].get("serial"):
            one = [r for r in by_name.get(rows[0]["serial"], ()) if r["workers"] == 1]
        if one:
            out[name] = one[0]["median"]
    return by_name, out


def _derive(record, *, cores=None, applies=True, note=""):
    """Throughput, speed-up vs the baseline, efficiency, and what the
    worker counts of each approach say about its scaling (Amdahl)."""
    res = record["results"]
    base = [r for r in res if r["approach"] == record["baseline"] and r["workers"] == 1]
    t_base = base[0]["median"] if base else None
    work = record.get("work")
    by_name, t1s = one_worker_times(res)
    for name, rows in by_name.items():
        t1 = t1s.get(name)
        points = [(r["workers"], r["median"]) for r in rows]
        if t1 is not None and all(r["workers"] != 1 for r in rows):
            points.append((1, t1))  # the 1-worker time of its serial form
        for r in rows:
            r["throughput"] = (work / r["median"]) if work and r["median"] > 0 else None
            r["speedup"] = (t_base / r["median"]) if t_base else None
            r["efficiency"] = (t1 / r["median"] / r["workers"]) if t1 else None
            # compile time: what the first run cost beyond a measured run
            r["jit"] = max(0.0, r["warmup"] - r["median"]) if r["kind"] in ("numba",) else 0.0
        if len({p for p, _ in points}) >= 2:
            record["amdahl"][name] = scaling_verdict(points, cores=cores, applies=applies,
                                                     note=note)
    kinds = {k: i for i, k in enumerate(KINDS)}
    res.sort(key=lambda r: (kinds.get(r["kind"], len(kinds)), r["approach"], r["workers"]))


def start_dask_cluster(workers):
    """The LocalCluster of ``--backend dask``: one single-threaded worker
    process per core up to the largest worker count, on 127.0.0.1."""
    try:
        from ..distributed import local_cluster
        return local_cluster(n_workers=max(workers), threads_per_worker=1)
    except ImportError as exc:
        raise BenchError(f"--backend dask needs dask.distributed ({exc}); install it with: "
                         "pip install 'gilfree[dask]'") from None


def run(names=None, *, workers=None, quick=False, repeats=3, min_time=None, max_time=None,
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
    lo, hi = TIMING[bool(quick)]
    min_time = lo if min_time is None else min_time
    max_time = hi if max_time is None else max_time
    start = time.perf_counter()
    load_before = _load_average()
    chosen = all_workloads() if not names else [get_workload(n) for n in names]
    out = new_record({"quick": quick, "workers": workers, "repeats": repeats,
                      "min_time": min_time, "max_time": max_time, "backend": backend})
    from ._pools import shutdown_processes

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
            if not quick:
                # fresh workers for the next workload: at the default sizes a
                # worker that held a large input (hundreds of MB) would
                # otherwise be restarted by loky's memory check in the middle
                # of a timed run; --quick keeps them (small inputs, and the
                # start-up it saves is a fair part of its minute)
                shutdown_processes()
    finally:
        shutdown_processes()
        if client is not None:
            client.close()
    out["machine"]["numba_threading_layer"] = threading_layer()
    out["run"] = {
        "wall_seconds": time.perf_counter() - start,
        # other processes competing for the cores slow and spread the timings
        "load_average": [load_before, _load_average()],
        "jit_seconds": sum(r["jit"] for wl in out["workloads"] for r in wl["results"]),
    }
    return out
