"""What a process pays on the first calls of the Numba engines.

Run: ``python benchmarks/numba_cold_start.py [--families kde parzen ...]``.

Each scenario starts new processes and calls ``gilfree._numba_warm.warm(family)``
there, which runs every Numba kernel of the family once on tiny inputs (the
specialisations real calls need), and records the seconds per family (wall
clock and the process's CPU time):

- ``new process, empty cache``: ``NUMBA_CACHE_DIR`` is a new empty
  directory, so everything is compiled (and written to the cache);
- ``new process, cache filled``: the same directory again: machine code is
  loaded;
- ``loky worker``: a new worker of a process pool (the cache filled);
- ``Dask worker``: a worker process of a new ``LocalCluster`` (filled cache);
- ``read-only install``: a copy of the installed package with every file
  read-only and a read-only home directory, ``NUMBA_CACHE_DIR`` unset:
  Numba's own cache places are unwritable, gilfree's private fallback
  directory (``<tmp>/gilfree-numba-<uid>``) is used; first and second
  process.

Prints a Markdown table and writes ``results/numba_cold_start.json``
(or to ``--json PATH``).  The machine, SIMD level and compiler are recorded.
"""

import argparse
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import gilfree
from gilfree import _numba_warm as _numba
t_import = time.perf_counter() - t0
out = {"import": t_import}
for fam in sys.argv[1:]:
    w0, c0 = time.perf_counter(), time.process_time()
    _numba.warm([fam])
    out[fam] = [time.perf_counter() - w0, time.process_time() - c0]
print(json.dumps(out))
"""


def _child_warm(families):
    """Run in a pool worker: what the worker pays."""
    import time as _t

    out = {}
    from gilfree import _numba_warm as _numba

    for fam in families:
        w0, c0 = _t.perf_counter(), _t.process_time()
        _numba.warm([fam])
        out[fam] = [_t.perf_counter() - w0, _t.process_time() - c0]
    return out


def _run(env, families, cwd=None, prefix=()):
    res = subprocess.run([*prefix, sys.executable, "-c", CHILD, *families], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _readonly_copy(dst):
    import gilfree

    src = os.path.dirname(gilfree.__file__)
    target = os.path.join(dst, "site", "gilfree")
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    for root, dirs, files in os.walk(os.path.join(dst, "site")):
        for name in files + dirs:
            p = os.path.join(root, name)
            mode = os.stat(p).st_mode
            os.chmod(p, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    os.chmod(os.path.join(dst, "site"), 0o555)
    home = os.path.join(dst, "home")
    os.makedirs(home)
    os.chmod(home, 0o555)
    return os.path.join(dst, "site"), home


def main(argv=None):
    from gilfree._numba_warm import FAMILIES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="*", default=list(FAMILIES))
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                   "numba_cold_start.json"))
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args(argv)
    fams = args.families
    import gilfree

    info = gilfree.show_config(mode="dicts", probe_numba=False)
    rows = {}
    tmp = tempfile.mkdtemp(prefix="gilfree-cold-")
    try:
        cache = os.path.join(tmp, "cache")
        os.makedirs(cache)
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        rows["new process, empty cache"] = _run(env, fams)
        rows["new process, cache filled"] = _run(env, fams)

        os.environ["NUMBA_CACHE_DIR"] = cache  # inherited by the pool workers
        from loky import get_reusable_executor

        ex = get_reusable_executor(max_workers=1, reuse=False)
        t0 = time.perf_counter()
        got = ex.submit(_child_warm, fams).result()
        got["start + first task"] = time.perf_counter() - t0
        rows["loky worker, cache filled"] = got
        ex.shutdown(wait=True)

        if not args.skip_dask:
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                pass
            else:
                with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cl, Client(cl) as client:
                    rows["Dask worker, cache filled"] = client.submit(
                        _child_warm, fams, pure=False).result()

        site, home = _readonly_copy(os.path.join(tmp, "ro"))
        env_ro = {k: v for k, v in os.environ.items()
                  if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
        private = os.path.join(tmp, "private-tmp")
        os.makedirs(private, mode=0o700)
        prefix = ()
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # root writes through read-only modes: run the children as nobody
            os.chown(private, 65534, 65534)
            os.chmod(tmp, 0o755)
            prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        env_ro.update(PYTHONPATH=site, HOME=home, TMPDIR=private)
        rows["read-only install, first process"] = _run(env_ro, fams, cwd=tmp, prefix=prefix)
        rows["read-only install, second process"] = _run(env_ro, fams, cwd=tmp, prefix=prefix)
    finally:
        for root, dirs, _ in os.walk(tmp):
            for d in dirs:
                try:
                    os.chmod(os.path.join(root, d), 0o755)
                except OSError:
                    pass
        os.chmod(tmp, 0o755)
        shutil.rmtree(tmp, ignore_errors=True)

    head = "| scenario | " + " | ".join(fams) + " |"
    print(f"CPU: {platform.processor() or platform.machine()}, SIMD {info.get('simd')}, "
          f"{info['build'].get('compiler')}; Numba {info.get('numba')}; "
          "seconds wall (CPU)")
    print(head)
    print("|" + "---|" * (len(fams) + 1))
    for name, got in rows.items():
        cells = []
        for f in fams:
            v = got.get(f)
            cells.append(f"{v[0]:.2f} ({v[1]:.2f})" if v else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    with open(args.json, "w") as fh:
        json.dump({"machine": {"cpu": platform.processor(), "simd": info.get("simd"),
                               "compiler": info["build"].get("compiler"),
                               "numba": info.get("numba")},
                   "families": fams, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
