"""The ``tiles`` workload: not available until its kernel lands."""

from .._core import Unavailable, register

register(Unavailable("tiles", "Slide tiling with background filtering and resize", "the tiling kernel has not landed yet (issue 5)"))
