"""``gilfree bench``: GIL-free threads against multiprocessing, measured.

Built-in workloads live in :mod:`gilfree.bench.workloads`; each compares
serial Python, Python on thread and process pools, NumPy, and gilfree's
Numba and Cython kernels at several worker counts, checks every result
against a reference, and reports speed-up, efficiency and Amdahl's serial
fraction.  See ``schema.json`` for the results file.
"""

from ._core import (Approach, BenchError, Unavailable, Workload, amdahl_fit, amdahl_speedup,
                    get_workload, register, all_workloads)
from ._runner import SCHEMA, default_workers, run

__all__ = [
    "Approach",
    "BenchError",
    "SCHEMA",
    "Unavailable",
    "Workload",
    "amdahl_fit",
    "amdahl_speedup",
    "default_workers",
    "get_workload",
    "register",
    "run",
    "all_workloads",
]
