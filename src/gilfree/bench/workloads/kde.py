"""The ``kde`` workload: not available until its kernel lands."""

from .._core import Unavailable, register

register(Unavailable("kde", "Exact Gaussian KDE at arbitrary points", "the KDE kernels have not landed yet (issue 3)"))
