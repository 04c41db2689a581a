"""The ``gilfree`` command: ``--version``, ``python -m gilfree``, and what
happens without the optional ``bench`` extra (a message naming the extra and
exit status 2, never a traceback)."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gilfree

HINT = 'pip install "gilfree[bench]"'


def run(args, *, block=(), timeout=180, env=None):
    """Run the CLI in a fresh interpreter; ``block`` names modules made
    unimportable there (as if the bench extra were not installed)."""
    code = (
        "import sys\n"
        f"for name in {list(block)!r}:\n"
        "    sys.modules[name] = None\n"
        "from gilfree.cli import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)


def console_script():
    bindir = Path(sys.executable).parent
    for name in ("gilfree", "gilfree.exe"):
        if (bindir / name).exists():
            return str(bindir / name)
    pytest.fail(f"the gilfree console script is not installed next to {sys.executable}")


def test_version_is_the_installed_metadata():
    want = importlib.metadata.version("gilfree")
    assert gilfree.__version__ == want
    for cmd in ([console_script(), "--version"], [sys.executable, "-m", "gilfree", "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"gilfree {want}"


def test_python_m_gilfree_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "gilfree", "info", "--json"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["gilfree"] == gilfree.__version__
    assert "build" in cfg and "engines" in cfg
    usage = subprocess.run([sys.executable, "-m", "gilfree"], capture_output=True, text=True,
                           timeout=120)
    assert usage.returncode == 2 and "usage: gilfree" in usage.stderr


NO_BENCH_EXTRA = ("rich", "rich.console", "rich.progress", "rich.table", "matplotlib",
                  "matplotlib.pyplot")


@pytest.mark.parametrize("args", [
    ["bench", "--list"],
    ["bench", "--quick", "parzen"],
    ["bench"],
    ["bench", "--compare", "a.json", "b.json"],
])
def test_bench_without_the_extra_names_it_and_exits_2(args):
    out = run(args, block=NO_BENCH_EXTRA)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert HINT in out.stderr and "rich" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1


def test_bench_out_without_matplotlib_fails_before_running(tmp_path):
    out = run(["bench", "--quick", "parzen", "--out", str(tmp_path)],
              block=("matplotlib", "matplotlib.pyplot"))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert HINT in out.stderr and "matplotlib" in out.stderr and "--no-plots" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not any(tmp_path.iterdir()), "nothing may run before the missing extra is reported"


def test_bench_list_without_matplotlib_works():
    out = run(["bench", "--list"], block=("matplotlib", "matplotlib.pyplot"))
    assert out.returncode == 0, out.stderr
    assert "parzen" in out.stdout


def test_info_needs_no_extra():
    out = run(["info"], block=NO_BENCH_EXTRA)
    assert out.returncode == 0, out.stderr
    assert "OpenMP" in out.stdout and "Engines per kernel" in out.stdout


def test_info_says_single_threaded_without_openmp(monkeypatch, capsys):
    """What ``gilfree info`` prints for a build without OpenMP (the real such
    build is made and checked by test_packaging's no-OpenMP build)."""
    from gilfree import _info, cli

    real = _info.show_config

    def fake(**kw):
        cfg = real(**kw)
        cfg["build"] = dict(cfg["build"], openmp=False, openmp_version=0)
        return cfg

    monkeypatch.setattr(_info, "show_config", fake)
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    assert "OpenMP: OFF: the Cython kernels are single-threaded" in text


def test_unknown_command_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "gilfree", "frobnicate"], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 2
    assert "invalid choice" in out.stderr and "Traceback" not in out.stderr


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`gilfree info | head -1`: the pipe closes before the output ends."""
    proc = subprocess.Popen([sys.executable, "-m", "gilfree", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # the reader leaves
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
    assert b"BrokenPipeError" not in err
