"""The bytes an array view spans: one walk over its shape and strides.

Used wherever a view travels as (buffer, offset, shape, strides): the
shared-memory transport of :mod:`gilfree.parallel`, the memory-mapped
slides of :mod:`gilfree.distributed` and the page releases of slide
tiling.
"""

__all__ = ["address_span", "byte_span"]


def byte_span(shape, strides, itemsize):
    """``(lo, hi)``: the lowest byte offset (<= 0) and one past the highest
    that a view of ``shape`` and ``strides`` touches, relative to its first
    element; ``(0, 0)`` for an empty view.

    Parameters
    ----------
    shape, strides : sequence of int
        The view's shape and strides (in bytes; negative ones allowed).
    itemsize : int
        Bytes per element.
    """
    lo = hi = 0
    for n, st in zip(shape, strides):
        if n == 0:
            return 0, 0
        if st >= 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    return lo, hi + itemsize


def address_span(a):
    """``(lo, hi)``: the lowest address and one past the highest that the
    array ``a`` touches (``lo == hi`` when it is empty)."""
    start = a.__array_interface__["data"][0]
    lo, hi = byte_span(a.shape, a.strides, a.itemsize)
    return start + lo, start + hi
