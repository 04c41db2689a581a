"""The ``parallelize`` workload: not available until its kernel lands."""

from .._core import Unavailable, register

register(Unavailable("parallelize", "Per-subject function over a cohort (Parallelize vs a loop vs gilfree kernels)", "gilfree.parallel has not landed yet (issue 7)"))
