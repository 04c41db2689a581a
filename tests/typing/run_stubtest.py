"""Check gilfree's type stubs against the installed package with mypy's stubtest.

Usage: ``python tests/typing/run_stubtest.py`` (from anywhere; CI runs it,
and ``tests/test_typing.py`` runs it in a subprocess).

The stubs (``*.pyi``) of the *installed* gilfree are copied, alone, into a
temporary directory that mypy searches first (``mypy_path``), so mypy reads
only the stubs: the implementation modules carry no annotations and are not
type-checked.  stubtest then imports the installed package and compares
every public name, signature, default and class in the stubs with the
runtime objects; names in the runtime's ``__all__`` missing from a stub are
errors too.  ``stubtest-allowlist.txt`` (next to this file) lists what
stubtest cannot check, each entry with its reason.

Exit status: stubtest's (0 when the stubs match).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALLOWLIST = HERE / "stubtest-allowlist.txt"


def installed_package_dir():
    spec = importlib.util.find_spec("gilfree")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("run_stubtest: gilfree is not installed in this interpreter")
    return Path(next(iter(spec.submodule_search_locations)))


def copy_stubs(pkg, dest):
    """Copy gilfree's .pyi files and py.typed (their layout kept) under dest/gilfree."""
    files = [p for p in pkg.rglob("*") if p.suffix == ".pyi" or p.name == "py.typed"]
    if not any(p.name == "__init__.pyi" and p.parent == pkg for p in files):
        raise SystemExit(f"run_stubtest: no gilfree/__init__.pyi in the installed package {pkg}")
    if not (pkg / "py.typed").is_file():
        raise SystemExit(f"run_stubtest: no py.typed marker in the installed package {pkg}")
    for src in files:
        out = dest / "gilfree" / src.relative_to(pkg)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
    return len(files)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pkg = installed_package_dir()
    with tempfile.TemporaryDirectory(prefix="gilfree-stubtest-") as tmp:
        tmp = Path(tmp)
        stubs = tmp / "stubs"
        n = copy_stubs(pkg, stubs)
        config = tmp / "mypy.ini"
        config.write_text(f"[mypy]\nmypy_path = {stubs}\n")
        print(f"run_stubtest: {n} stub files from {pkg}", flush=True)
        # run outside the source tree, so that `import gilfree` is the installed package
        env = dict(os.environ)
        env.pop("MYPYPATH", None)
        # 1. the stubs themselves are strictly typed
        files = sorted(str(p.relative_to(stubs)) for p in stubs.rglob("*.pyi"))
        strict = [sys.executable, "-m", "mypy", "--config-file", str(config), "--strict",
                  "--no-incremental", *files]
        print("run_stubtest: mypy --strict on the stubs", flush=True)
        rc = subprocess.run(strict, cwd=stubs, env=env).returncode
        if rc:
            return rc
        # 2. they agree with the installed package
        cmd = [sys.executable, "-m", "mypy.stubtest", "gilfree",
               "--mypy-config-file", str(config), "--allowlist", str(ALLOWLIST), *argv]
        print("run_stubtest: stubtest against the installed package", flush=True)
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
