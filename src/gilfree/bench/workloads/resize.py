"""The ``resize`` workload: not available until its kernel lands."""

from .._core import Unavailable, register

register(Unavailable("resize", "Image batch resized to 64x64 (Pillow serial / threads / processes vs gilfree)", "the resize kernels have not landed yet (issue 4)"))
