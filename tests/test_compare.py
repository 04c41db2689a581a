"""``gilfree.compare`` and ``gilfree bench --func``: the table, the JSON
(the bench's schema), the recommendation, the result check and bad input.
Small sizes and budgets; no assertion on a time."""

import itertools
import json
import os
import subprocess
import sys
import threading
from importlib import resources

import pytest

import gilfree
from gilfree.bench import _compare
from gilfree.parallel import pmap


def square(x):
    return x * x


def spin(x):
    s = 0
    for i in range(300):
        s += i % 7
    return s + x


def on_main_thread(_):
    return threading.current_thread() is threading.main_thread()


_counter = itertools.count()


def changes_its_state(x):
    return x + next(_counter)


@pytest.fixture(scope="module")
def small():
    return gilfree.compare(spin, range(200), backends=("serial", "threads"), workers=[1, 2],
                           repeats=2, budget_s=5)


def test_table_names_every_backend_and_the_recommendation(small):
    text = str(small)
    for word in ("serial", "threads", "median", "speed-up", "Causes", "GIL-bound share",
                 "pickling per item", "chunk size", "Recommendation"):
        assert word in text, word
    assert "cores" in text and "SIMD" in text  # the machine is recorded with the timings
    html = small._repr_html_()
    assert html.lstrip().startswith("<") and "Recommendation" in html and "threads" in html
    assert "CompareResult" in repr(small)


def test_rows_are_checked_and_derived(small):
    rows = small.rows
    assert {(r["approach"], r["workers"]) for r in rows} == {("serial", 1), ("threads", 2)}
    for r in rows:
        assert r["checked"] and r["median"] > 0 and len(r["times"]) >= 1
        assert r["speedup"] is not None and r["throughput"] is not None
    t = small.causes
    assert t["task_seconds"] > 0 and 0 <= t["cpu_share"] <= 1
    assert 0 <= t["gil_share"] <= 1
    assert t["pickling"]["picklable"] and t["pickling"]["item_bytes"] > 0


def test_recommendation_is_the_fastest_or_within_the_tie(small):
    rec = small.recommendation
    assert rec["backend"] in ("serial", "threads")
    assert isinstance(rec["workers"], int) and rec["reason"]
    fastest = small.fastest()
    assert rec["median"] <= fastest["median"] * (1 + _compare._TIE)


def _row(approach, workers, median):
    return {"approach": approach, "workers": workers, "median": median}


def test_recommend_prefers_the_simpler_of_near_ties():
    causes = {"gil_share": 0.02, "cpu_share": 1.0, "task_seconds": 1e-3,
              "pickling": {"picklable": True, "item_seconds": 1e-6, "result_seconds": 1e-6}}
    rows = [_row("serial", 1, 1.0), _row("threads", 2, 0.52), _row("processes", 2, 0.5)]
    rec = _compare._recommend(rows, causes, "auto")
    assert (rec["backend"], rec["workers"]) == ("threads", 2)
    assert "releases the GIL" in rec["reason"] and "within" in rec["reason"]
    causes["gil_share"] = 0.97
    rows = [_row("serial", 1, 1.0), _row("threads", 2, 1.0), _row("processes", 2, 0.55)]
    rec = _compare._recommend(rows, causes, 16)
    assert (rec["backend"], rec["chunksize"]) == ("processes", 16)
    assert "holds the GIL" in rec["reason"] and "pickling" in rec["reason"]
    rows = [_row("serial", 1, 1.0), _row("threads", 2, 0.98)]
    assert _compare._recommend(rows, causes, "auto")["backend"] == "serial"


def test_json_and_plots_follow_the_bench_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    r = gilfree.compare(square, range(300), backends=("serial", "threads"), workers=[1, 2],
                        repeats=1, budget_s=3, out=tmp_path)
    record = json.loads((tmp_path / "results.json").read_text())
    schema = json.loads(resources.files("gilfree.bench").joinpath("schema.json").read_text())
    jsonschema.validate(record, schema)
    wl = record["workloads"][0]
    assert wl["baseline"] == "serial" and wl["work"] == 300
    assert wl["compare"]["recommendation"]["backend"] == r.recommendation["backend"]
    assert record["machine"]["simd"] and record["machine"]["cpu"]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["square-scaling.png", "square-times.png"]
    assert set(r.paths) >= {tmp_path / "results.json"}


def test_a_backend_whose_results_differ_is_reported_not_timed():
    r = gilfree.compare(on_main_thread, range(40), backends=("serial", "threads"),
                        workers=[1, 2], repeats=1, budget_s=3)
    assert [x["approach"] for x in r.rows] == ["serial"]
    assert r.differs and r.differs[0]["backend"] == "threads"
    assert "item 0: False instead of True" in r.differs[0]["message"]
    assert "RESULTS DIFFER" in str(r)
    assert r.recommendation["backend"] == "serial"


def test_a_function_that_changes_its_own_state_is_not_timed():
    r = gilfree.compare(changes_its_state, range(30), backends=("serial", "threads"),
                        workers=[1, 2], repeats=1, budget_s=3)
    assert r.rows == [] and r.recommendation is None
    assert "change from one run to the next" in r.differs[0]["message"]
    assert "Recommendation: none" in str(r)


def test_a_small_budget_times_a_sample_and_marks_it_estimated():
    r = gilfree.compare(spin, range(20000), backends=("serial", "threads"), workers=[1, 2],
                        repeats=1, budget_s=0.5)
    c = r.causes
    assert c["estimated"] and c["measured_items"] < 20000
    assert all(row["estimated"] for row in r.rows)
    assert "~" in str(r) and "estimated" in str(r)


def test_unpicklable_function_skips_processes_with_the_reason():
    lock = threading.Lock()

    def locked(x):
        with lock:
            return x

    r = gilfree.compare(locked, range(20), workers=[1, 2], repeats=1, budget_s=3)
    assert "processes" not in {x["approach"] for x in r.rows}
    skipped = r.causes["skipped"]
    assert skipped and skipped[0]["backend"] == "processes"
    assert "cannot be pickled" in skipped[0]["reason"]


def test_processes_and_auto_rows(tmp_path):
    r = gilfree.compare(spin, range(400), backends=("serial", "processes", "auto"),
                        workers=[1, 2], repeats=1, budget_s=10)
    names = {x["approach"] for x in r.rows}
    assert names == {"serial", "processes", "auto"}
    c = r.causes
    assert "2" in c["process_startup"] and "processes x2" in c["first_call"]
    auto = [x for x in r.rows if x["approach"] == "auto"][0]
    assert auto["kind"] == "gilfree" and auto["note"].startswith("chose ")


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"budget_s": 0}, ValueError, "budget_s"),
    ({"budget_s": -1.5}, ValueError, "budget_s"),
    ({"budget_s": "1"}, TypeError, "budget_s"),
    ({"backends": ("serial", "gpu")}, ValueError, "backends.*'gpu'"),
    ({"backends": ()}, ValueError, "backends"),
    ({"repeats": 0}, ValueError, "repeats"),
])
def test_bad_arguments_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gilfree.compare(square, range(3), **kwargs)


def test_empty_items_is_a_value_error():
    with pytest.raises(ValueError, match="items"):
        gilfree.compare(square, [])
    with pytest.raises(ValueError, match="items"):
        gilfree.compare(square, iter(()))


@pytest.mark.parametrize("func, kwargs", [
    (1, {}),
    (square, {"chunksize": 0}),
    (square, {"chunksize": "big"}),
])
def test_what_pmap_rejects_is_rejected_with_its_message(func, kwargs):
    with pytest.raises((TypeError, ValueError)) as want:
        pmap(func, range(3), **kwargs)
    with pytest.raises(type(want.value)) as got:
        gilfree.compare(func, range(3), **kwargs)
    assert str(got.value) == str(want.value)
    with pytest.raises(TypeError) as want:
        pmap(square, 5)
    with pytest.raises(TypeError) as got:
        gilfree.compare(square, 5)
    assert str(got.value) == str(want.value)


def test_worker_counts_are_checked_as_pmap_checks_n_workers():
    with pytest.raises(ValueError) as want:
        pmap(square, range(3), n_workers=0)
    with pytest.raises(ValueError) as got:
        gilfree.compare(square, range(3), workers=[1, 0])
    assert str(got.value) == str(want.value)


def _cli(args, tmp_path):
    (tmp_path / "mywork.py").write_text(
        "def f(x):\n    return x * 3\n\n\ndef items():\n    return list(range(100))\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = "import sys\nfrom gilfree.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)


def test_cli_bench_func(tmp_path):
    out = _cli(["bench", "--func", "mywork:f", "--items", "mywork:items", "--backends",
                "serial,threads", "--workers", "1,2", "--repeats", "1", "--budget", "3",
                "--out", str(tmp_path / "res"), "--no-plots"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Recommendation" in out.stdout and "threads" in out.stdout
    record = json.loads((tmp_path / "res" / "results.json").read_text())
    assert record["workloads"][0]["name"] == "f"


@pytest.mark.parametrize("args, match", [
    (["--func", "mywork:f"], "--func and --items go together"),
    (["--func", "mywork", "--items", "mywork:items"], "pkg.module:name"),
    (["--func", "nosuchmodule:f", "--items", "mywork:items"], "cannot import"),
    (["--func", "mywork:g", "--items", "mywork:items"], "no attribute"),
    (["--func", "mywork:f", "--items", "mywork:items", "--backends", "gpu"], "backends"),
    (["--func", "mywork:f", "--items", "mywork:items", "--budget", "0"], "seconds"),
])
def test_cli_bench_func_bad_input(tmp_path, args, match):
    out = _cli(["bench", *args], tmp_path)
    assert out.returncode == 2
    assert match in out.stderr and "Traceback" not in out.stderr
