"""Tables, JSON, plots and run-to-run comparison for ``gilfree bench``."""

import json
import pathlib

from ._core import BenchError
from ._runner import SCHEMA

__all__ = ["compare", "load", "plot", "render", "save"]


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


def render(record, console):
    """Print the machine, one table per workload, and the Amdahl notes."""
    from rich.table import Table

    m = record["machine"]
    console.print(
        f"[bold]Machine[/bold]: {m['cpu']} ({m['machine']}), {m['cores']} usable cores, "
        f"SIMD {m['simd']}; {m['os']}\n"
        f"Python {m['python']}, compiler {m['compiler']}, OpenMP "
        f"{'on' if m['openmp'] else 'OFF'}, Numba {m['numba']} "
        f"(threading layer {m['numba_threading_layer']}), NumPy {m['numpy']}, "
        f"gilfree {m['gilfree']}"
    )
    for wl in record["workloads"]:
        params = ", ".join(f"{k}={v}" for k, v in wl["params"].items())
        table = Table(title=f"{wl['name']}: {wl['title']} ({params})", title_justify="left")
        for col, just in (("approach", "left"), ("workers", "right"), ("median", "right"),
                          ("min–max", "right"), (f"speed-up vs {wl['baseline']}", "right"),
                          ("efficiency", "right"), ("notes", "left")):
            table.add_column(col, justify=just)
        for r in wl["results"]:
            notes = []
            if r.get("jit"):
                notes.append(f"JIT compile {_fmt_time(r['jit'])} (excluded)")
            if r.get("note"):
                notes.append(r["note"])
            eff = r.get("efficiency")
            table.add_row(
                r["approach"], str(r["workers"]),
                ("~" if r["estimated"] else "") + _fmt_time(r["median"]),
                f"{_fmt_time(r['min'])}–{_fmt_time(r['max'])}",
                _fmt_x(r.get("speedup")),
                "-" if eff is None else f"{eff:.0%}",
                "; ".join(notes),
            )
        console.print(table)
        if wl["amdahl"]:
            parts = []
            for name, a in wl["amdahl"].items():
                pred = ", ".join(f"{p}: {v:.1f}x" for p, v in a["predicted_speedup"].items())
                parts.append(f"  {name}: serial fraction f = {a['serial_fraction']:.3f} "
                             f"(predicted speed-up over its 1-worker time at {pred} cores)")
            console.print("[bold]Amdahl fit[/bold] T(p) = T1 (f + (1 - f)/p) — a model "
                          "fitted on this machine's worker counts, not a measurement:\n"
                          + "\n".join(parts))
        console.print()
    for u in record["unavailable"]:
        console.print(f"[yellow]{u['name']}[/yellow]: unavailable — {u['reason']}")


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
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BenchError(
            f"{path} is not a gilfree bench results file (expected schema {SCHEMA!r}, "
            f"got {data.get('schema') if isinstance(data, dict) else type(data).__name__!r})"
        )
    return data


def _best_per_approach(wl):
    """Fastest median per approach (over its worker counts), with workers."""
    best = {}
    for r in wl["results"]:
        b = best.get(r["approach"])
        if b is None or r["median"] < b["median"]:
            best[r["approach"]] = r
    return list(best.values())


def plot(record, out_dir):
    """Two PNGs per workload: time per approach, and scaling with Amdahl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._core import amdahl_speedup

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    m = record["machine"]
    machine = f"{m['cpu']}, {m['cores']} cores"
    for wl in record["workloads"]:
        rows = sorted(_best_per_approach(wl), key=lambda r: r["median"], reverse=True)
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.6))
        labels = [f"{r['approach']} ({r['workers']}w)" for r in rows]
        times = [r["median"] for r in rows]
        bars = ax.barh(labels, times, color=["#888888" if r["kind"].startswith("python")
                                             else "#3b7dd8" for r in rows])
        ax.set_xscale("log")
        ax.set_xlabel("median time (s, log scale)")
        ax.set_title(f"{wl['name']}: time per approach\n{machine}", fontsize=10)
        for bar, r in zip(bars, rows):
            sp = r.get("speedup")
            label = f" {_fmt_time(r['median'])}" + (f"  ({_fmt_x(sp)})" if sp else "")
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label,
                    va="center", fontsize=8)
        ax.set_xlim(min(times) / 2, max(times) * 20)
        fig.tight_layout()
        p = out / f"{wl['name']}-times.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)

        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        by_name = {}
        for r in wl["results"]:
            by_name.setdefault(r["approach"], []).append(r)
        pmax = max(r["workers"] for r in wl["results"])
        ax.plot([1, pmax], [1, pmax], "k--", lw=1, label="ideal")
        for name, rs in by_name.items():
            rs = sorted(rs, key=lambda r: r["workers"])
            if len(rs) < 2 or rs[0]["workers"] != 1:
                continue
            t1 = rs[0]["median"]
            line, = ax.plot([r["workers"] for r in rs], [t1 / r["median"] for r in rs],
                            "o-", label=name)
            fit = wl["amdahl"].get(name)
            if fit:
                import numpy as np

                ps = np.linspace(1, pmax, 50)
                ax.plot(ps, [amdahl_speedup(fit["serial_fraction"], p) for p in ps], ":",
                        color=line.get_color(),
                        label=f"{name} Amdahl f={fit['serial_fraction']:.2f}")
        ax.set_xlabel("workers (threads or processes)")
        ax.set_ylabel("speed-up over the same approach on 1 worker")
        ax.set_title(f"{wl['name']}: scaling\n{machine}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        p = out / f"{wl['name']}-scaling.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def compare(a, b, console):
    """Print, per workload/approach/workers, how much faster run B is than A."""
    from rich.table import Table

    table = Table(title="B vs A: time ratio A/B (> 1: B is faster)", title_justify="left")
    for col in ("workload", "approach", "workers", "A median", "B median", "A/B"):
        table.add_column(col, justify="left" if col in ("workload", "approach") else "right")
    index = {}
    for wl in a["workloads"]:
        for r in wl["results"]:
            index[(wl["name"], r["approach"], r["workers"])] = r["median"]
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
