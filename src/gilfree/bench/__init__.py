"""``gilfree bench``: GIL-free threads against multiprocessing, measured.

Built-in workloads live in :mod:`gilfree.bench.workloads`; each compares
serial Python, Python on thread and process pools, the library people use
today, NumPy, and gilfree's Numba and Cython kernels at several worker
counts, checks every result against a reference, and reports time,
throughput, speed-up, efficiency and what the worker counts say about
scaling (Amdahl's law, fitted only where three or more counts allow it).
See ``schema.json`` for the results file.
"""

from ._core import (AmdahlFit, Approach, BenchError, Unavailable, Workload, all_workloads,
                    amdahl_fit, amdahl_speedup, get_workload, register, scaling_verdict)
from ._runner import SCHEMA, default_workers, run

__all__ = [
    "AmdahlFit",
    "Approach",
    "BenchError",
    "SCHEMA",
    "Unavailable",
    "Workload",
    "all_workloads",
    "amdahl_fit",
    "amdahl_speedup",
    "default_workers",
    "get_workload",
    "register",
    "run",
    "scaling_verdict",
]
