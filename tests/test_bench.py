"""`gilfree bench`: the CLI end to end, the Amdahl fit, and --compare."""

import json
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from gilfree import bench
from gilfree.bench import amdahl_fit, amdahl_speedup


def _gilfree(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "gilfree.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _schema():
    return json.loads(resources.files("gilfree.bench").joinpath("schema.json").read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    res = _gilfree("bench", "--quick", "--repeats", "1", "--out", str(out))
    return res, out


def test_quick_run_exits_zero(quick_run):
    res, _ = quick_run
    assert res.returncode == 0, res.stderr


def test_results_json_validates_against_schema(quick_run):
    import jsonschema

    _, out = quick_run
    record = json.loads((out / "results.json").read_text())
    jsonschema.validate(record, _schema())
    assert record["schema"] == bench.SCHEMA
    assert record["machine"]["cores"] >= 1
    for wl in record["workloads"]:
        assert all(r["checked"] for r in wl["results"])
        assert any(r["approach"] == wl["baseline"] and r["workers"] == 1 for r in wl["results"])


def test_plots_are_valid_pngs(quick_run):
    _, out = quick_run
    record = json.loads((out / "results.json").read_text())
    for wl in record["workloads"]:
        for suffix in ("times", "scaling"):
            png = out / f"{wl['name']}-{suffix}.png"
            data = png.read_bytes()
            assert len(data) > 1000
            assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_lists_every_available_workload(quick_run):
    res, _ = quick_run
    available = [w.name for w in bench.all_workloads() if w.available()[0]]
    assert available, "no workload is available"
    for name in available:
        assert f"{name}:" in res.stdout
    for w in bench.all_workloads():
        if not w.available()[0]:
            assert f"{w.name}: unavailable" in res.stdout


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


@pytest.mark.parametrize("f", [0.0, 0.05, 0.3, 1.0])
def test_amdahl_fit_recovers_serial_fraction(f):
    workers = [1, 2, 4, 8, 16]
    t1 = 3.0
    times = [t1 * (f + (1 - f) / p) for p in workers]
    assert amdahl_fit(workers, times) == pytest.approx(f, abs=1e-12)
    # with noise, still close
    rng = np.random.default_rng(0)
    noisy = [t * (1 + 0.01 * rng.standard_normal()) for t in times]
    noisy[0] = t1
    assert amdahl_fit(workers, noisy) == pytest.approx(f, abs=0.03)
    assert amdahl_speedup(f, 1) == pytest.approx(1.0)


def test_amdahl_fit_needs_one_worker_and_two_counts():
    assert amdahl_fit([2, 4], [1.0, 0.5]) is None
    assert amdahl_fit([1], [1.0]) is None


def _synthetic(path, scale):
    rec = {
        "schema": bench.SCHEMA, "created": "2026-11-21T00:00:00+00:00",
        "machine": {"python": "3", "compiler": "gcc", "os": "linux", "cpu": "x", "cores": 2,
                    "simd": "avx2", "openmp": True, "numpy": "2", "numba": "0", "gilfree": "0"},
        "settings": {"quick": True, "workers": [1, 2], "repeats": 1},
        "workloads": [{
            "name": "parzen", "title": "t", "params": {}, "baseline": "python", "amdahl": {},
            "results": [
                {"approach": a, "kind": k, "workers": w, "times": [t * scale], "median": t * scale,
                 "min": t * scale, "max": t * scale, "warmup": 0.0, "jit": 0.0,
                 "estimated": False, "checked": True, "speedup": None, "efficiency": None}
                for a, k, w, t in [("python", "python", 1, 1.0), ("cython", "cython", 2, 0.001)]
            ],
        }],
        "unavailable": [],
    }
    path.write_text(json.dumps(rec))
    return rec


def test_compare_prints_ratios(tmp_path):
    import jsonschema

    a = _synthetic(tmp_path / "a.json", 1.0)
    _synthetic(tmp_path / "b.json", 0.5)
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
