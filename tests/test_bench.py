"""`gilfree bench`: the CLI end to end (table, JSON, plots), the scaling
verdicts (Amdahl), --compare, and the benchmark suites' collection."""

import json
import pathlib
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from gilfree import bench
from gilfree.bench import _report, amdahl_fit, amdahl_speedup, scaling_verdict
from gilfree.bench._runner import _derive

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _gilfree(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "gilfree.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _schema():
    return json.loads(resources.files("gilfree.bench").joinpath("schema.json").read_text())


# --------------------------------------------------------------------------
# `gilfree bench --quick --out DIR`, end to end
# --------------------------------------------------------------------------


# The tests of this run are marked slow: the run takes about a minute
# (.ci/run runs them in their own step, with --runslow -m slow).
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    res = _gilfree("bench", "--quick", "--repeats", "1", "--out", str(out), timeout=600)
    assert res.returncode == 0, res.stderr
    return res, out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_results_json_validates_against_schema(quick_run):
    import jsonschema

    _, _, record = quick_run
    jsonschema.validate(record, _schema())
    assert record["schema"] == bench.SCHEMA
    assert record["machine"]["cores"] >= 1
    for wl in record["workloads"]:
        assert all(r["checked"] for r in wl["results"])
        assert any(r["approach"] == wl["baseline"] and r["workers"] == 1 for r in wl["results"])


@pytest.mark.slow
def test_every_available_workload_runs_in_quick_mode(quick_run):
    res, _, record = quick_run
    available = [w.name for w in bench.all_workloads() if w.available()[0]]
    assert available, "no workload is available"
    assert [wl["name"] for wl in record["workloads"]] == available
    for name in available:
        assert f"{name}:" in res.stdout
    for w in bench.all_workloads():
        if not w.available()[0]:
            assert f"{w.name}: unavailable" in res.stdout
    assert "Run took" in res.stdout
    assert len(record["run"]["load_average"]) == 2


def test_a_busy_machine_is_named():
    record = _record([], cores=2)
    record["run"]["load_average"] = [0.2, 0.4]
    assert _report.busy_note(record) == ""
    record["run"]["load_average"] = [3.0, 5.5]
    assert "load average 3.0-5.5 on 2 cores" in _report.busy_note(record)


@pytest.mark.slow
def test_record_names_versions_simd_and_cpu(quick_run):
    import numpy

    _, _, record = quick_run
    m = record["machine"]
    for lib in ("numpy", "numba", "scipy", "Pillow", "OpenCV", "scikit-learn", "gaitmap",
                "joblib", "loky", "dask"):
        assert lib in m["versions"]
    assert m["versions"]["numpy"] == numpy.__version__
    from gilfree import _cy

    assert m["simd"] == _cy.simd_level()
    assert m["cpu"] and m["compiler"]
    assert isinstance(m["cpu_details"]["flags"], list)


@pytest.mark.slow
def test_throughput_is_work_over_median(quick_run):
    _, _, record = quick_run
    units = {wl["name"]: wl["unit"] for wl in record["workloads"]}
    assert units["resize"] == "pixels" and units["kde"] == "pairs"
    assert units["dtw-sweep"] == "cells" and units["io"] == "tasks"
    for wl in record["workloads"]:
        assert wl["work"] > 0, wl["name"]
        assert "probe" in wl and wl["probe"] is None  # no workload has a ceiling probe yet
        for r in wl["results"]:
            assert r["throughput"] == pytest.approx(wl["work"] / r["median"])


@pytest.mark.slow
def test_table_shows_throughput_and_keeps_the_tilde(quick_run):
    res, _, record = quick_run
    assert "M pixels/s" in res.stdout or "G pixels/s" in res.stdout
    assert "tasks/s" in res.stdout
    estimated = [r for wl in record["workloads"] for r in wl["results"] if r["estimated"]]
    assert estimated and "~" in res.stdout


@pytest.mark.slow
def test_no_amdahl_fit_from_two_worker_counts(quick_run):
    res, _, record = quick_run
    assert "f = 1.000" not in res.stdout
    for wl in record["workloads"]:
        for name, v in wl["amdahl"].items():
            if len(v["workers"]) < 3:
                assert v["status"] != "fit" and v["serial_fraction"] is None, (wl["name"], name)
                assert v["predicted_speedup"] == {}
    io = next(wl for wl in record["workloads"] if wl["name"] == "io")
    assert io["amdahl"] and {v["status"] for v in io["amdahl"].values()} == {"not-applicable"}
    assert "Amdahl's law does not apply" in res.stdout


# --- the plots of that run -------------------------------------------------


@pytest.fixture(scope="module")
def quick_figures(quick_run):
    """The Figures the run's PNGs were drawn from (made from its record)."""
    _, out, record = quick_run
    return record, dict(_report.figures(record))


def _axes(fig, gid):
    found = [ax for ax in fig.axes if ax.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, f"{ax.get_gid()}: no legend"
    return [t.get_text() for t in legend.get_texts()]


@pytest.mark.slow
def test_every_plot_file_is_written(quick_run):
    _, out, record = quick_run
    for wl in record["workloads"]:
        for suffix in ("times", "scaling"):
            data = (out / f"{wl['name']}-{suffix}.png").read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


@pytest.mark.slow
def test_time_plot_draws_every_approach_with_a_legend(quick_figures):
    record, figs = quick_figures
    for wl in record["workloads"]:
        ax = _axes(figs[f"{wl['name']}-times.png"], "times")
        approaches = {r["approach"] for r in wl["results"]}
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert {lab.rsplit(" (", 1)[0] for lab in labels} == approaches, wl["name"]
        legend = _legend_texts(ax)
        kinds = {r["kind"] for r in wl["results"]}
        for label, cat_kinds, _ in _report.CATEGORIES:
            assert (label in legend) == bool(kinds & set(cat_kinds)), (wl["name"], label)
        # estimated values keep their "~", and say what the speed-up is against
        for r in wl["results"]:
            texts = [t.get_text() for t in ax.texts if t.get_gid() == f"label:{r['approach']}"]
            assert len(texts) == 1
            assert texts[0].strip().startswith("~") == r["estimated"], (wl["name"], texts[0])
            assert f"vs {wl['baseline']})" in texts[0]
        assert "seconds" in ax.get_xlabel()
        title = ax.get_title()
        assert wl["name"] in title and wl["size"] in title


@pytest.mark.slow
def test_scaling_plot_draws_every_approach_on_integer_worker_ticks(quick_figures):
    record, figs = quick_figures
    for wl in record["workloads"]:
        fig = figs[f"{wl['name']}-scaling.png"]
        left, right = _axes(fig, "speedup"), _axes(fig, "scaling")
        approaches = {r["approach"] for r in wl["results"]}
        drawn = {t.lstrip("~") for t in _legend_texts(left)}
        assert drawn == approaches, wl["name"]
        lines = {ln.get_gid() for ln in left.get_lines()}
        assert {f"approach:{a}" for a in approaches} <= lines
        est = {r["approach"] for r in wl["results"] if r["estimated"]}
        assert {t[1:] for t in _legend_texts(left) if t.startswith("~")} == est
        counts = sorted({r["workers"] for r in wl["results"]})
        for ax in (left, right):
            ticks = list(ax.xaxis.get_majorticklocs())
            assert all(float(t).is_integer() for t in ticks), ticks
            assert len(ax.xaxis.get_minorticklocs()) == 0
            assert "workers" in ax.get_xlabel()
        assert ticks and set(ticks) <= set(counts)
        assert [int(t) for t in left.xaxis.get_majorticklocs()] == counts
        assert f"vs {wl['baseline']}" in left.get_ylabel() and "(x" in left.get_ylabel()
        # approaches with two or more worker counts (own or serial form) scale on the right
        multi = {n for n in wl["amdahl"]}
        assert {t.lstrip("~") for t in _legend_texts(right)} >= multi
        assert "ideal (speed-up = workers)" in _legend_texts(right)
        note = [t.get_text() for t in right.texts if t.get_gid() == "amdahl-note"]
        assert len(note) == 1
        suptitle = fig._suptitle.get_text()
        assert wl["name"] in suptitle and wl["size"] in suptitle


# --------------------------------------------------------------------------
# the CLI's other commands
# --------------------------------------------------------------------------


def test_list_names_every_workload():
    res = _gilfree("bench", "--list", timeout=120)
    assert res.returncode == 0, res.stderr
    for name in ("parzen", "kde", "resize", "tiles", "dtw-sweep", "parallelize", "io"):
        assert name in res.stdout


def test_unknown_workload_lists_valid_ones():
    res = _gilfree("bench", "nope", timeout=120)
    assert res.returncode != 0
    assert "unknown workload(s) nope" in res.stderr and "parzen" in res.stderr


@pytest.mark.parametrize("workers", ["0", "-1", "a,b", "1,0"])
def test_bad_workers_are_rejected(workers):
    res = _gilfree("bench", "--workers", workers, "io", timeout=120)
    assert res.returncode != 0
    assert "--workers" in res.stderr


# --------------------------------------------------------------------------
# Amdahl's law: fitted from 3+ counts, with a residual and bounded predictions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("f", [0.0, 0.05, 0.3, 0.9])
def test_amdahl_fit_recovers_serial_fraction(f):
    workers = [1, 2, 4, 8, 16]
    t1 = 3.0
    times = [t1 * (f + (1 - f) / p) for p in workers]
    fit = amdahl_fit(workers, times)
    assert fit.serial_fraction == pytest.approx(f, abs=1e-12)
    assert fit.residual == pytest.approx(0.0, abs=1e-12)
    # with noise, still close, and the residual shows the noise
    rng = np.random.default_rng(0)
    noisy = [t * (1 + 0.01 * rng.standard_normal()) for t in times]
    noisy[0] = t1
    fit = amdahl_fit(workers, noisy)
    assert fit.serial_fraction == pytest.approx(f, abs=0.03)
    assert 0 < fit.residual < 0.03
    assert amdahl_speedup(f, 1) == pytest.approx(1.0)


def test_amdahl_fit_needs_one_worker_and_three_counts():
    assert amdahl_fit([1, 2], [1.0, 0.5]) is None
    assert amdahl_fit([2, 4, 8], [1.0, 0.5, 0.25]) is None
    assert amdahl_fit([1], [1.0]) is None
    assert amdahl_fit([1, 2, 4], [1.0, 0.55, 0.3]) is not None


def _times(f, counts, t1=1.0):
    return [(p, t1 * (f + (1 - f) / p)) for p in counts]


def test_verdict_two_counts_is_no_fit_but_a_measured_speedup():
    v = scaling_verdict([(1, 1.0), (2, 0.55)], cores=2)
    assert v["status"] == "too-few-counts"
    assert v["serial_fraction"] is None and v["predicted_speedup"] == {}
    assert v["best_workers"] == 2 and v["best_speedup"] == pytest.approx(1 / 0.55)
    assert "1.82x on 2 workers" in v["message"] and "3 or more" in v["message"]


def test_verdict_slower_parallel_runs_say_no_speedup():
    for pts in ([(1, 1.0), (2, 1.05)], [(1, 1.0), (2, 1.3), (4, 1.6)]):
        v = scaling_verdict(pts, cores=4)
        assert v["status"] == "no-speedup"
        assert v["message"].startswith("no speed-up measured")
        assert v["serial_fraction"] is None and "1.000" not in v["message"]


def test_verdict_fit_predicts_at_most_4x_the_largest_count():
    v = scaling_verdict(_times(0.1, [1, 2, 4]), cores=4)
    assert v["status"] == "fit"
    assert v["serial_fraction"] == pytest.approx(0.1)
    assert v["residual"] == pytest.approx(0.0, abs=1e-12)
    assert sorted(int(p) for p in v["predicted_speedup"]) == [8, 16]
    assert v["predicted_speedup"]["16"] == pytest.approx(amdahl_speedup(0.1, 16))
    assert "residual" in v["message"]
    v = scaling_verdict(_times(0.1, [1, 2, 3]), cores=3)
    assert sorted(int(p) for p in v["predicted_speedup"]) == [6, 12]


def test_verdict_counts_above_the_cores_are_not_fitted():
    v = scaling_verdict(_times(0.1, [1, 2, 4, 8]), cores=2)
    assert v["status"] == "too-few-counts" and v["workers"] == [1, 2]
    assert "above the 2 usable cores" in v["message"]


def test_verdict_poor_fit_gives_no_prediction():
    v = scaling_verdict([(1, 1.0), (2, 0.5), (4, 0.9)], cores=4)
    assert v["status"] == "poor-fit"
    assert v["residual"] > 0.1 and v["predicted_speedup"] == {}
    assert v["serial_fraction"] is not None


def test_verdict_superlinear_and_too_short_and_not_applicable():
    v = scaling_verdict([(1, 1.0), (2, 0.4), (4, 0.15)], cores=4)
    assert v["status"] == "superlinear" and v["serial_fraction"] is None
    v = scaling_verdict([(1, 1e-4), (2, 6e-5), (4, 4e-5)], cores=4)
    assert v["status"] == "too-short"
    v = scaling_verdict(_times(0.0, [1, 2, 4]), cores=4, applies=False, note="waits")
    assert v["status"] == "not-applicable" and v["message"] == "waits"


def _row(approach, kind, workers, t, *, estimated=False, serial=""):
    return {"approach": approach, "kind": kind, "workers": workers, "times": [t], "median": t,
            "min": t, "max": t, "warmup": 0.0, "estimated": estimated, "note": "",
            "serial": serial, "checked": True}


def _workload(rows, *, name="parzen", baseline="python"):
    return {"name": name, "title": "a title", "description": "", "params": {"n": 1},
            "size": "1 sample", "baseline": baseline, "unit": "pairs", "work": 1000.0,
            "results": rows, "amdahl": {}, "probe": None}


def test_derive_uses_the_serial_form_as_the_1_worker_time():
    wl = _workload([
        _row("python", "python", 1, 1.0),
        _row("python threads", "python-threads", 2, 1.1, serial="python"),
        _row("python threads", "python-threads", 4, 1.2, serial="python"),
        _row("cython", "cython", 1, 0.01),
        _row("cython", "cython", 2, 0.0055),
        _row("cython", "cython", 4, 0.003),
    ])
    _derive(wl, cores=4)
    threads = [r for r in wl["results"] if r["approach"] == "python threads"]
    assert threads[0]["efficiency"] == pytest.approx(1.0 / 1.1 / 2)
    assert wl["amdahl"]["python threads"]["status"] == "no-speedup"
    assert wl["amdahl"]["python threads"]["workers"] == [1, 2, 4]
    assert wl["amdahl"]["cython"]["status"] == "fit"
    assert "python" not in wl["amdahl"]  # one worker count: nothing to say
    for r in wl["results"]:
        assert r["throughput"] == pytest.approx(1000.0 / r["median"])


def _record(workloads, cores=4, workers=(1, 2, 4)):
    return {
        "schema": bench.SCHEMA, "created": "2026-11-21T00:00:00+00:00",
        "machine": {"python": "3", "compiler": "gcc 12", "os": "linux", "cpu": "x",
                    "cpu_details": {"vendor": None, "family": None, "model": None, "flags": []},
                    "machine": "x86_64", "cores": cores, "simd": "avx2", "simd_cap": None,
                    "numba_threading_layer": "omp", "openmp": True, "numpy": "2", "numba": "0",
                    "gilfree": "0", "versions": {k: None for k in (
                        "numpy", "numba", "scipy", "Pillow", "OpenCV", "scikit-learn",
                        "gaitmap", "joblib", "loky", "dask")}},
        "settings": {"quick": True, "workers": list(workers), "repeats": 1},
        "workloads": workloads, "unavailable": [], "run": {"wall_seconds": 1.0,
                                                           "jit_seconds": 0.0},
    }


def test_render_and_plot_a_fitted_run(tmp_path):
    import jsonschema
    import matplotlib.pyplot as plt
    from rich.console import Console

    before = plt.get_fignums()

    wl = _workload([
        _row("python", "python", 1, 2.0, estimated=True),
        *[_row("cython", "cython", p, t) for p, t in _times(0.05, [1, 2, 4], 0.02)],
        *[_row("python processes", "python-processes", p, t)
          for p, t in [(1, 2.2), (2, 2.5), (4, 2.6)]],
    ])
    _derive(wl, cores=4)
    record = _record([wl])
    jsonschema.validate(record, _schema())
    console = Console(record=True, width=200)
    _report.render(record, console)
    text = console.export_text()
    assert "cython: serial fraction f = 0.050" in text and "at 16 workers" in text
    assert "at 32" not in text and "at 64" not in text
    assert "python processes: no speed-up measured" in text
    assert "~2 s" in text
    figs = dict(_report.figures(record))
    right = _axes(figs["parzen-scaling.png"], "scaling")
    assert "amdahl:cython" in {ln.get_gid() for ln in right.get_lines()}
    fit_line = next(ln for ln in right.get_lines() if ln.get_gid() == "amdahl:cython")
    assert max(fit_line.get_xdata()) == 4  # drawn over the measured counts only
    assert [int(t) for t in right.xaxis.get_majorticklocs()] == [1, 2, 4]
    assert len(_report.plot(record, tmp_path)) == 2
    assert plt.get_fignums() == before  # no pyplot figures left open


# --------------------------------------------------------------------------
# --compare
# --------------------------------------------------------------------------


def _synthetic(path, scale, schema=None):
    wl = _workload([_row("python", "python", 1, 1.0 * scale),
                    _row("cython", "cython", 2, 0.001 * scale)])
    _derive(wl, cores=2)
    rec = _record([wl], cores=2, workers=(1, 2))
    if schema:
        rec["schema"] = schema
    path.write_text(json.dumps(rec))
    return rec


def test_compare_prints_ratios(tmp_path):
    import jsonschema

    a = _synthetic(tmp_path / "a.json", 1.0)
    _synthetic(tmp_path / "b.json", 0.5, schema="gilfree-bench/1")  # an older file
    jsonschema.validate(a, _schema())
    res = _gilfree("bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                   timeout=120)
    assert res.returncode == 0, res.stderr
    assert "2.00" in res.stdout and "cython" in res.stdout


def test_compare_rejects_foreign_files(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    _synthetic(tmp_path / "b.json", 1.0)
    res = _gilfree("bench", "--compare", str(tmp_path / "x.json"), str(tmp_path / "b.json"),
                   timeout=120)
    assert res.returncode != 0
    assert "not a gilfree bench results file" in res.stderr


# --------------------------------------------------------------------------
# the pytest-benchmark suites in benchmarks/
# --------------------------------------------------------------------------


@pytest.mark.skipif(not (ROOT / "benchmarks" / "conftest.py").exists(),
                    reason="needs the repository's benchmarks/ folder")
def test_benchmark_suites_are_collected_from_benchmarks_only():
    res = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--benchmark-only",
                          "--collect-only", "-q"], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    ids = [ln for ln in res.stdout.splitlines() if "::" in ln]
    files = {ln.split("::")[0] for ln in ids}
    expected = {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert files == expected
    assert len(ids) == len(set(ids))  # nothing collected twice
    # a file named on the command line is collected once too
    res = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/bench_resample.py",
                          "--collect-only", "-q"], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    ids = [ln for ln in res.stdout.splitlines() if "::" in ln]
    assert ids and len(ids) == len(set(ids))
