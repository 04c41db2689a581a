"""The ``gilfree`` command (also ``python -m gilfree``): ``gilfree info``,
``gilfree bench`` (also ``gilfree bench --func pkg.module:function --items
pkg.module:factory`` for your own function) and ``gilfree --version``.

``info`` needs only gilfree's required dependencies.  ``bench`` needs the
``bench`` extra (rich for its table, matplotlib for ``--out`` plots): without
it the command says what to install and exits with status 2.
"""

import argparse
import importlib
import sys

__all__ = ["main"]

#: Exit status of a command that cannot run in this installation.
EXIT_MISSING_EXTRA = 2
_BENCH_EXTRA_HINT = 'pip install "gilfree[bench]"'


class MissingExtraError(Exception):
    """A command needs an optional dependency that is not installed."""


def _require(module, feature):
    """Import ``module`` or raise MissingExtraError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingExtraError(
            f"{feature} needs {top}, which is part of the optional 'bench' extra and is not "
            f"installed here ({type(exc).__name__}: {exc}); install it with: "
            f"{_BENCH_EXTRA_HINT}"
        ) from None


def _parse_workers(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"--workers takes comma-separated positive integers such as 1,2,4; got {text!r}"
        )
    return values


def _positive(kind, expected):
    """An argparse type: ``kind(text)`` > 0 and finite, else "expected ..."."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = 0
        if not (0 < v < float("inf")):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return v

    return parse


def _cmd_info(args):
    import json

    from ._info import show_config

    cfg = show_config(mode="dicts")
    if args.json:
        print(json.dumps(cfg, indent=2, default=str))
        return 0
    b = cfg.get("build", {})
    lines = [
        f"gilfree {cfg['gilfree']}",
        f"Python {cfg['python']} on {cfg['platform']}",
        f"CPU: {cfg['cpu']}, {cfg['usable_cores']} usable cores "
        f"(default n_threads: {cfg['n_threads_default']}), SIMD level in use: {cfg['simd']}",
        f"NumPy {cfg['numpy']}, Numba {cfg['numba']} "
        f"(threading layer: {cfg.get('numba_threading_layer')})",
        "Cython extensions: " + (
            f"built with {b.get('compiler')}, Cython {b.get('cython')}, NumPy {b.get('numpy_build')}"
            if "compiler" in b else f"NOT AVAILABLE ({b.get('error')})"),
        "OpenMP: " + (f"on (_OPENMP {b.get('openmp_version')})" if b.get("openmp") else
                      "OFF: the Cython kernels are single-threaded (built without OpenMP); "
                      "reinstall with a compiler that has OpenMP (gcc; clang with libomp; "
                      "on macOS: brew install libomp)"),
    ]
    if cfg["env"]:
        lines.append("Environment: " + ", ".join(f"{k}={v}" for k, v in cfg["env"].items()))
    lines.append("Engines per kernel (auto picks first):")
    for kernel, engines in cfg["engines"].items():
        parts = [f"{e}: {'yes' if ok is True else 'no (' + ok + ')'}" for e, ok in engines.items()]
        lines.append(f"  {kernel} [auto={cfg['auto'][kernel]}]: " + "; ".join(parts))
    print("\n".join(lines))
    return 0


def _cmd_bench(args, parser):
    # what needs the bench extra is checked here, before anything runs: a
    # missing package is an install problem to name, not a traceback
    Console = _require("rich.console", "gilfree bench").Console
    _require("rich.progress", "gilfree bench")
    _require("rich.table", "gilfree bench")
    if args.out and not args.no_plots and not args.compare and not args.list:
        _require("matplotlib", "gilfree bench --out (its plots; or pass --no-plots)")

    from . import bench
    from .bench import _report

    # a pipe or a file gets a table wide enough to read, not 80 columns
    console = Console(width=None if sys.stdout.isatty() else 140)
    if args.func or args.items:
        return _cmd_bench_func(args, parser, console)
    if args.compare:
        try:
            a, b = (_report.load(p) for p in args.compare)
            _report.compare(a, b, console)
        except bench.BenchError as exc:
            parser.exit(2, f"gilfree bench: error: {exc}\n")
        return 0
    names = list(args.names or [])
    if args.only:
        names += [n.strip() for n in args.only.split(",") if n.strip()]
    valid = [w.name for w in bench.all_workloads()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        parser.exit(2, f"gilfree bench: error: unknown workload(s) {', '.join(unknown)}; "
                       f"valid workloads: {', '.join(valid)}\n")
    if args.list:
        for w in bench.all_workloads():
            ok, why = w.available()
            state = "" if ok else f"  [unavailable: {why}]"
            console.print(f"[bold]{w.name}[/bold]: {w.title}{state}\n"
                          f"    default: {w.describe_size(False)}\n"
                          f"    --quick: {w.describe_size(True)}", highlight=False)
        return 0
    if args.backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            parser.exit(2, f"gilfree bench: error: --backend dask needs dask.distributed "
                           f"({exc}); install it with: pip install 'gilfree[dask]'\n")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def on_step(workload, approach):
            progress.update(task, description=f"{workload}: {approach.name} "
                                              f"({approach.workers} worker(s))")
            progress.advance(task)

        try:
            record = bench.run(names or None, workers=args.workers, quick=args.quick,
                               repeats=args.repeats, on_step=on_step, backend=args.backend)
        except bench.BenchError as exc:  # bench.run has let go of its pools
            parser.exit(1, f"gilfree bench: error: {exc}\n")
    _report.render(record, console)
    if args.out:
        _write_out(record, args, console)
    return 0


def _write_out(record, args, console):
    """``--out DIR``: results.json, and the plots unless ``--no-plots``."""
    from .bench import _report

    console.print(f"results: {_report.save(record, args.out)}")
    if not args.no_plots:
        for p in _report.plot(record, args.out):
            console.print(f"plot: {p}")


def _load_object(spec, option):
    """``pkg.module:name`` -> the object (imported from sys.path)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{option} takes pkg.module:name (a module on the import path and "
                         f"an attribute of it); got {spec!r}")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"{option} {spec}: cannot import {module!r} ({exc}); a module in "
                         "the current directory is found with `python -m gilfree bench ...` "
                         "or PYTHONPATH=.") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{option} {spec}: module {module!r} has no attribute "
                             f"{attr!r}") from None
    return obj


def _cmd_bench_func(args, parser, console):
    """``gilfree bench --func pkg.module:function --items pkg.module:factory``."""
    if not (args.func and args.items):
        parser.exit(2, "gilfree bench: error: --func and --items go together: --func "
                       "pkg.module:function --items pkg.module:factory\n")
    if args.names or args.only or args.list or args.compare or args.backend != "local":
        parser.exit(2, "gilfree bench: error: --func/--items time your own function; they "
                       "take no workload names, --only, --list, --compare or --backend\n")
    from .bench._compare import compare

    try:
        func = _load_object(args.func, "--func")
        factory = _load_object(args.items, "--items")
    except ValueError as exc:
        parser.exit(2, f"gilfree bench: error: {exc}\n")
    items = factory() if callable(factory) else factory
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        with console.status(f"timing {args.func} on {', '.join(backends)}"):
            result = compare(func, items, backends=backends, workers=args.workers,
                             repeats=args.repeats, budget_s=args.budget)
    except (TypeError, ValueError) as exc:
        parser.exit(2, f"gilfree bench: error: {exc}\n")
    console.print(result)
    if args.out:
        _write_out(result.record, args, console)
    return 0


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="gilfree",
        description="GIL-free NumPy kernels: show the build, or benchmark threads vs processes.",
    )
    parser.add_argument("--version", action="version", version=f"gilfree {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_info = sub.add_parser("info", help="show what this installation built and can run")
    p_info.add_argument("--json", action="store_true", help="print the configuration as JSON")
    p_bench = sub.add_parser(
        "bench",
        help="measure serial Python, thread and process pools, NumPy, Numba and Cython",
        description="Run the built-in workloads (all available ones by default) and explain "
                    "the result: speed-up, parallel efficiency and Amdahl's serial fraction.",
    )
    p_bench.add_argument("names", nargs="*", metavar="NAME", help="workloads to run")
    p_bench.add_argument("--only", metavar="NAME,...", help="workloads to run, comma-separated")
    p_bench.add_argument("--list", action="store_true", help="list the workloads and their sizes")
    p_bench.add_argument("--quick", action="store_true",
                         help="small sizes: every workload in well under a minute")
    p_bench.add_argument("--workers", type=_parse_workers, metavar="1,2,4",
                         help="worker counts to measure (default: 1, 2, 4, ... up to the cores)")
    p_bench.add_argument("--repeats", type=_positive(int, "a positive integer"), default=3,
                         help="timed runs per approach after the warm-up (default 3)")
    p_bench.add_argument("--out", metavar="DIR", help="write results.json and PNG plots here")
    p_bench.add_argument("--no-plots", action="store_true", help="with --out: skip the plots")
    p_bench.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                         help="compare two results files instead of running")
    p_bench.add_argument("--backend", choices=("local", "dask"), default="local",
                         help="dask: also run the workloads through a Dask LocalCluster "
                              "(started for the run on 127.0.0.1, closed at its end)")
    p_bench.add_argument("--func", metavar="PKG.MODULE:FUNCTION",
                         help="time your own function instead of the workloads (with --items): "
                              "serial, threads and processes, with the result checked, the "
                              "causes measured and a recommendation")
    p_bench.add_argument("--items", metavar="PKG.MODULE:FACTORY",
                         help="with --func: a function returning the items (or the items)")
    p_bench.add_argument("--backends", default="serial,threads,processes",
                         metavar="serial,threads,processes",
                         help="with --func: the backends to time (also: auto)")
    p_bench.add_argument("--budget", type=_positive(float, "a positive number of seconds"),
                         default=30.0, metavar="SECONDS",
                         help="with --func: seconds the comparison may take; beyond, the "
                              "backends are timed on a sample of the items (default 30)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            return _cmd_info(args)
        return _cmd_bench(args, parser)
    except MissingExtraError as exc:
        sys.stderr.write(f"gilfree {args.command}: error: {exc}\n")
        return EXIT_MISSING_EXTRA
    except BrokenPipeError:  # the reader left (`gilfree info | head`): stop quietly
        import os

        # the interpreter flushes stdout again at exit: point it at nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
