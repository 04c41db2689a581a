"""Peak resident memory of a child process, measured from outside (Linux).

``VmHWM`` alone under-reports short peaks of file-backed pages: the kernel
raises the high-water mark only at some events (unmapping, exit), not when
pages are dropped with ``madvise(MADV_DONTNEED)``.  So the parent polls the
child's ``/proc/<pid>/statm`` (resident pages) every ``interval`` seconds
while it runs, and the result is the larger of that sampled peak and the
child's own ``VmHWM``.

The child marks the measured region by printing one JSON line with
``t0`` and ``t1`` (``time.monotonic()``, the same clock in both processes),
its resident set ``base`` at ``t0`` and its ``VmHWM`` at ``t1`` (bytes),
plus anything else it wants to report.
"""

import json
import os
import subprocess
import time

__all__ = ["CHILD_HELPERS", "run_measured"]

#: Code a child script can start with: ``status(key)`` in bytes.
CHILD_HELPERS = '''
import time

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
'''


def run_measured(cmd, *, interval=2e-4, timeout=600):
    """Run ``cmd``; return the child's JSON report plus ``sampled_peak``
    (max resident bytes seen between its ``t0`` and ``t1``) and ``peak``
    (the larger of that and its ``VmHWM``)."""
    page = os.sysconf("SC_PAGE_SIZE")
    samples = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    statm = f"/proc/{proc.pid}/statm"
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            try:
                with open(statm) as f:
                    rss = int(f.read().split()[1]) * page
                samples.append((time.monotonic(), rss))
            except (OSError, ValueError, IndexError):
                pass
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(cmd, timeout)
            time.sleep(interval)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"measured child failed ({proc.returncode}):\n{err}")
    report = json.loads(out.strip().splitlines()[-1])
    inside = [r for t, r in samples if report["t0"] <= t <= report["t1"]]
    report["sampled_peak"] = max(inside) if inside else 0
    report["samples"] = len(inside)
    report["peak"] = max(report["sampled_peak"], report.get("hwm", 0))
    return report
