"""The ``dtw-sweep`` workload: not available until its kernel lands."""

from .._core import Unavailable, register

register(Unavailable("dtw-sweep", "Stride-segmentation parameter sweep (subsequence DTW)", "the DTW kernels have not landed yet (issue 6)"))
