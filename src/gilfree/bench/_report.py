"""Tables, JSON, plots and run-to-run comparison for ``gilfree bench``."""

import json
import pathlib

from ._core import BenchError
from ._runner import READABLE_SCHEMAS, SCHEMA, one_worker_times

__all__ = ["compare", "figures", "load", "plot", "render", "save"]


def _fmt_time(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _fmt_x(v):
    return "-" if v is None else f"{v:,.1f}x" if v >= 10 else f"{v:.2f}x"


_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _fmt_rate(v, unit):
    """Throughput with an SI prefix: ``"222 M pairs/s"``."""
    if v is None:
        return "-"
    for scale, prefix in _SI:
        if v >= scale:
            return f"{v / scale:.3g} {prefix} {unit}/s"
    return f"{v:.3g} {unit}/s"


def _tilde(r):
    return "~" if r.get("estimated") else ""


def machine_line(m):
    """The machine in one line: CPU, cores, SIMD variant, compiler."""
    d = m.get("cpu_details") or {}
    cpu = m["cpu"]
    if d.get("family"):
        vendor = f"{d['vendor']} " if d.get("vendor") else ""
        cpu += f" ({vendor}family {d['family']} model {d.get('model')})"
    simd = m["simd"] + (f" (capped by GILFREE_SIMD={m['simd_cap']})" if m.get("simd_cap") else "")
    return f"{cpu}, {m['cores']} cores, SIMD {simd}, {m['compiler']}"


def _versions_line(m):
    v = m.get("versions") or {}
    have = [f"{k} {x}" for k, x in v.items() if x]
    missing = [k for k, x in v.items() if not x]
    return ("Libraries: " + ", ".join(have)
            + (f"; not installed: {', '.join(missing)}" if missing else ""))


def render(record, console):
    """Print the machine, one table per workload, and what the worker
    counts say about scaling."""
    from rich.table import Table

    m = record["machine"]
    console.print(
        f"[bold]Machine[/bold]: {machine_line(m)} ({m['machine']}); {m['os']}\n"
        f"Python {m['python']}, OpenMP {'on' if m['openmp'] else 'OFF'}, Numba {m['numba']} "
        f"(threading layer {m['numba_threading_layer']}), NumPy {m['numpy']}, "
        f"gilfree {m['gilfree']}",
        highlight=False,
    )
    if m.get("versions"):
        console.print(_versions_line(m), highlight=False)
    busy = busy_note(record)
    if busy:
        console.print(f"[yellow]{busy}[/yellow]", highlight=False)
    for wl in record["workloads"]:
        size = wl.get("size") or ", ".join(f"{k}={v}" for k, v in wl["params"].items())
        unit = wl.get("unit")
        table = Table(title=f"{wl['name']}: {wl['title']} ({size})", title_justify="left")
        cols = [("approach", "left"), ("workers", "right"), ("median", "right"),
                ("min–max", "right")]
        if unit:
            cols.append(("throughput", "right"))
        cols += [(f"speed-up vs {wl['baseline']}", "right"), ("efficiency", "right"),
                 ("notes", "left")]
        for col, just in cols:
            table.add_column(col, justify=just)
        for r in wl["results"]:
            notes = []
            if r.get("jit"):
                notes.append(f"JIT compile {_fmt_time(r['jit'])} (excluded)")
            if r.get("note"):
                notes.append(r["note"])
            eff = r.get("efficiency")
            row = [r["approach"], str(r["workers"]), _tilde(r) + _fmt_time(r["median"]),
                   f"{_tilde(r)}{_fmt_time(r['min'])}–{_fmt_time(r['max'])}"]
            if unit:
                tp = r.get("throughput")
                row.append("-" if tp is None else _tilde(r) + _fmt_rate(tp, unit))
            row += [_fmt_x(r.get("speedup")), "-" if eff is None else f"{eff:.0%}",
                    "; ".join(notes)]
            table.add_row(*row)
        console.print(table)
        for line in scaling_lines(wl, m.get("cores")):
            console.print(line, highlight=False)
        probe = wl.get("probe")
        if probe and probe.get("fraction") is not None:
            console.print(f"Ceiling probe: {_fmt_rate(probe['throughput'], unit)} "
                          f"({probe.get('description', '')}); {probe['approach']} reaches "
                          f"{probe['fraction']:.0%} of it", highlight=False)
        console.print()
    for u in record["unavailable"]:
        console.print(f"[yellow]{u['name']}[/yellow]: unavailable — {u['reason']}")
    run = record.get("run")
    if run:
        jit = run.get("jit_seconds") or 0.0
        console.print(f"Run took {run['wall_seconds']:.1f} s"
                      + (f", of which about {jit:.1f} s compiling Numba kernels (the first run "
                         "after an install; cached afterwards)" if jit >= 0.5 else ""),
                      highlight=False)


def busy_note(record):
    """A warning when other processes kept the cores busy during the run
    (1-minute load average above half the cores), else ''."""
    loads = [x for x in (record.get("run") or {}).get("load_average") or () if x is not None]
    cores = record["machine"].get("cores") or 1
    if not loads or max(loads) <= 0.5 * cores:
        return ""
    return (f"Busy machine: load average {min(loads):.1f}-{max(loads):.1f} on {cores} cores "
            "during the run; other processes took CPU time, so the timings are slower and "
            "noisier than on an idle machine (multi-worker rows most)")


def scaling_lines(wl, cores=None):
    """The scaling notes of one workload, as printed under its table."""
    verdicts = wl.get("amdahl") or {}
    if not verdicts:
        return []
    # results files of schema 1 held {"serial_fraction", "predicted_speedup"}
    if any("status" not in v for v in verdicts.values()):
        return [f"  {name}: serial fraction f = {v.get('serial_fraction', 0):.3f} (two-point "
                "fit of an older results file)" for name, v in verdicts.items()]
    statuses = {v["status"] for v in verdicts.values()}
    if statuses == {"not-applicable"}:
        return ["[bold]Scaling[/bold]: " + next(iter(verdicts.values()))["message"]]
    lines = ["[bold]Scaling[/bold] (Amdahl's law T(p) = T1 (f + (1 - f)/p), fitted only from "
             "3 or more worker counts within the usable cores; speed-ups over each "
             "approach's own 1-worker time):"]
    few = {n: v for n, v in verdicts.items() if v["status"] == "too-few-counts"
           and v.get("best_speedup") is not None}
    if few:
        counts = sorted({tuple(v["workers"]) for v in few.values()})
        shown = "; ".join(", ".join(map(str, c)) for c in counts)
        lines.append(f"  not fitted: worker counts {shown} only"
                     + (f" (this machine has {cores} usable cores)" if cores else "")
                     + " — measured:")
        for name, v in few.items():
            p, s = v["best_workers"], v["best_speedup"]
            lines.append(f"    {name}: {s:.2f}x on {p} workers ({s / p:.0%} efficiency)")
    for name, v in verdicts.items():
        if name not in few:
            lines.append(f"  {name}: {v['message']}")
    return lines


def save(record, out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=False))
    return path


def load(path):
    try:
        data = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read benchmark results from {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS:
        raise BenchError(
            f"{path} is not a gilfree bench results file (expected schema {SCHEMA!r}, "
            f"got {data.get('schema') if isinstance(data, dict) else type(data).__name__!r})"
        )
    return data


#: bar colours of the time plot: (legend label, kinds, colour)
CATEGORIES = (
    ("pure Python (serial, threads, processes)", ("python", "python-threads",
                                                  "python-processes"), "#8c8c8c"),
    ("the library people use today", ("competitor",), "#e08214"),
    ("gilfree's NumPy engine", ("numpy",), "#4daf4a"),
    ("gilfree compiled (Numba, Cython)", ("numba", "cython", "gilfree"), "#3b7dd8"),
    ("Dask cluster", ("dask",), "#984ea3"),
)


def _category(kind):
    return next((i for i, (_, kinds, _) in enumerate(CATEGORIES) if kind in kinds),
                len(CATEGORIES) - 1)


def _integer_worker_axis(ax, counts):
    """x axis of worker counts: ticks at the measured counts only, integer
    labels, log2 spacing when they span 8x or more."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    counts = sorted(set(int(c) for c in counts))
    lo, hi = counts[0], counts[-1]
    if hi / lo >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xlim(lo / 1.3, hi * 1.3)
    else:
        ax.set_xlim(lo - 0.25 * max(1, hi - lo), hi + 0.25 * max(1, hi - lo))
    ax.xaxis.set_major_locator(FixedLocator(counts))
    ax.xaxis.set_major_formatter(FixedFormatter([str(c) for c in counts]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("workers (threads or processes)")


def _times_axis(ax):
    """Log y axis labelled 0.5x, 2x, 100x: ticks at 1, 2 and 5 times the
    powers of ten over a short range, at the powers of ten otherwise."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    lo, hi = ax.get_ylim()
    if hi / lo < 100:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_locator(NullLocator())


def _scaling_note(wl, cores):
    """One or two lines about Amdahl's law for the scaling panel."""
    import textwrap

    verdicts = (wl.get("amdahl") or {}).values()
    statuses = {v.get("status") for v in verdicts}
    if not verdicts:
        text = "no approach was measured at two or more worker counts"
    elif statuses == {"not-applicable"}:
        text = next(iter(verdicts))["message"]
    elif statuses & {"fit", "poor-fit"}:
        text = ("dotted: Amdahl's law fitted to the measured worker counts "
                "(shown over the measured range only)")
    elif max(len(v["workers"]) for v in verdicts) < 3:
        counts = sorted({p for v in verdicts for p in v["workers"]})
        text = (f"Amdahl's law not fitted: {len(counts)} worker counts "
                f"({', '.join(map(str, counts))}) measured"
                + (f" within {cores} usable cores" if cores else "") + "; it needs 3 or more")
    else:
        reasons = {"no-speedup": "no speed-up measured", "too-short": "runs under 1 ms",
                   "superlinear": "faster than linear", "too-few-counts": "too few counts"}
        text = "Amdahl's law not fitted: " + "; ".join(
            reasons[st] for st in reasons if st in statuses)
    return "\n".join(textwrap.wrap(text, 70))


def _time_figure(wl, machine):
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullLocator

    baseline = wl["baseline"]
    # each approach at its fastest worker count
    rows = sorted((min(rows, key=lambda r: r["median"])
                   for rows in one_worker_times(wl["results"])[0].values()),
                  key=lambda r: r["median"], reverse=True)
    fig = Figure(figsize=(11.5, 0.4 * len(rows) + 2.2), layout="constrained")
    ax = fig.subplots()
    ax.set_gid("times")
    labels = [f"{r['approach']} ({r['workers']} worker{'s' if r['workers'] != 1 else ''})"
              for r in rows]
    times = [r["median"] for r in rows]
    colours = [CATEGORIES[_category(r["kind"])][2] for r in rows]
    bars = ax.barh(range(len(rows)), times, color=colours,
                   hatch=["//" if r["estimated"] else "" for r in rows], edgecolor="white")
    ax.set_yticks(range(len(rows)), labels=labels, fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("median time per run (seconds, log scale)")
    unit = wl.get("unit")
    for bar, r in zip(bars, rows):
        sp = r.get("speedup")
        text = f" {_tilde(r)}{_fmt_time(r['median'])}"
        if sp:
            text += f"  ({_fmt_x(sp)} vs {baseline})"
        if unit and r.get("throughput"):
            text += f"  {_tilde(r)}{_fmt_rate(r['throughput'], unit)}"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center",
                fontsize=7, gid=f"label:{r['approach']}")
    ax.set_xlim(min(times) / 2, max(times) * 400)
    used = sorted({_category(r["kind"]) for r in rows})
    handles = [Patch(color=CATEGORIES[i][2], label=CATEGORIES[i][0]) for i in used]
    if any(r["estimated"] for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="//",
                             label="~ estimated from a subset of the input, scaled"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{wl['name']}: {wl['title']}\n{wl.get('size', '')}\n"
                 f"each approach at its fastest worker count; (x vs {baseline}) = speed-up "
                 f"over {baseline} on 1 worker\n{machine}", fontsize=8)
    return fig


def _scaling_figure(wl, machine, cores):
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    from ._core import amdahl_speedup

    baseline = wl["baseline"]
    by_name, t1s = one_worker_times(wl["results"])
    base = [r for r in wl["results"] if r["approach"] == baseline and r["workers"] == 1]
    t_base = base[0]["median"] if base else None
    fig = Figure(figsize=(12, 6.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.set_gid("speedup")
    right.set_gid("scaling")
    colours = matplotlib.colormaps["tab10"].colors
    all_counts = sorted({r["workers"] for r in wl["results"]})

    # left: every approach, speed-up over the baseline on 1 worker
    for i, (name, rows) in enumerate(by_name.items()):
        rows = sorted(rows, key=lambda r: r["workers"])
        est = any(r["estimated"] for r in rows)
        ys = [(t_base / r["median"]) if t_base else r["median"] for r in rows]
        left.plot([r["workers"] for r in rows], ys, "o-" if len(rows) > 1 else "o",
                  color=colours[i % len(colours)], mfc="none" if est else None,
                  label=("~" if est else "") + name, gid=f"approach:{name}")
    if t_base:
        left.axhline(1.0, color="k", lw=0.8, ls="--")
        left.set_ylabel(f"speed-up vs {baseline} on 1 worker (x, log scale)")
    else:
        left.set_ylabel("median time per run (seconds, log scale)")
    left.set_yscale("log")
    _times_axis(left)
    _integer_worker_axis(left, all_counts)
    left.set_title("every approach measured (open markers: ~ estimated)", fontsize=9)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    left.grid(alpha=0.3)

    # right: scaling of each approach over its own 1-worker time
    counts = set()
    for i, (name, rows) in enumerate(by_name.items()):
        t1 = t1s.get(name)
        pts = sorted({(r["workers"], r["median"]) for r in rows} | ({(1, t1)} if t1 else set()))
        if t1 is None or len({p for p, _ in pts}) < 2:
            continue
        colour = colours[i % len(colours)]
        xs = [p for p, _ in pts]
        counts.update(xs)
        est = any(r["estimated"] for r in rows)
        right.plot(xs, [t1 / t for _, t in pts], "o-", color=colour, mfc="none" if est else None,
                   label=("~" if est else "") + name, gid=f"approach:{name}")
        v = (wl.get("amdahl") or {}).get(name) or {}
        if v.get("status") in ("fit", "poor-fit") and v.get("serial_fraction") is not None:
            ps = np.linspace(1, max(v["workers"]), 60)
            f = v["serial_fraction"]
            right.plot(ps, [amdahl_speedup(f, p) for p in ps], ":", color=colour,
                       label=f"{name}: Amdahl f = {f:.2f} (residual {v['residual']:.0%})",
                       gid=f"amdahl:{name}")
    if counts:
        hi = max(counts)
        right.plot([1, hi], [1, hi], "k--", lw=1, label="ideal (speed-up = workers)")
        _integer_worker_axis(right, counts)
        if right.get_xscale() == "log":
            # log-log: the ideal line and the segments between measured
            # counts stay straight lines, as on linear axes
            from matplotlib.ticker import FuncFormatter

            right.set_yscale("log", base=2)
            right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    else:
        _integer_worker_axis(right, all_counts)
    right.set_ylabel("speed-up over the same approach on 1 worker (x)")
    right.set_title("scaling with workers", fontsize=9)
    right.text(0.02, 0.98, _scaling_note(wl, cores), transform=right.transAxes, va="top",
               fontsize=7, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"},
               gid="amdahl-note")
    right.grid(alpha=0.3)
    fig.suptitle(f"{wl['name']}: {wl['title']} — {wl.get('size', '')}\n{machine}", fontsize=9)
    return fig


def figures(record):
    """The plots of a results record as matplotlib Figures:
    ``[(file name, Figure), ...]``, two per workload (``<name>-times.png``
    and ``<name>-scaling.png``).  They are made without pyplot (no GUI
    backend, no global figure list): dropping them frees them."""
    m = record["machine"]
    machine = machine_line(m)
    if busy_note(record):
        loads = [x for x in record["run"]["load_average"] if x is not None]
        machine += f" — busy: load average up to {max(loads):.1f}"
    out = []
    for wl in record["workloads"]:
        out.append((f"{wl['name']}-times.png", _time_figure(wl, machine)))
        out.append((f"{wl['name']}-scaling.png", _scaling_figure(wl, machine, m.get("cores"))))
    return out


def plot(record, out_dir):
    """Write the PNGs of :func:`figures` to ``out_dir``; returns their paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures(record):
        p = out / name
        fig.savefig(p, dpi=100)
        paths.append(p)
    return paths


def compare(a, b, console):
    """Print, per workload/approach/workers, how much faster run B is than A."""
    from rich.table import Table

    table = Table(title="B vs A: time ratio A/B (> 1: B is faster)", title_justify="left")
    for col in ("workload", "approach", "workers", "A median", "B median", "A/B"):
        table.add_column(col, justify="left" if col in ("workload", "approach") else "right")
    index = {(wl["name"], r["approach"], r["workers"]): r["median"]
             for wl in a["workloads"] for r in wl["results"]}
    rows = 0
    for wl in b["workloads"]:
        for r in wl["results"]:
            key = (wl["name"], r["approach"], r["workers"])
            if key in index:
                ta, tb = index[key], r["median"]
                table.add_row(wl["name"], r["approach"], str(r["workers"]), _fmt_time(ta),
                              _fmt_time(tb), f"{ta / tb:.2f}")
                rows += 1
    if rows == 0:
        raise BenchError("the two result files have no workload/approach/workers in common")
    console.print(table)
    return rows
