"""Index and weight tables of the image resamplers.

Every engine of ``resize`` runs the same inner loops on the same tables, so
the tables are computed once here, in Python and NumPy, and handed to the
engine.  They reproduce the arithmetic of the two reference libraries:

Pillow's convolution resampler (``Image.resize`` with BOX, BILINEAR,
HAMMING, BICUBIC, LANCZOS; no ``box``, no ``reducing_gap``)
    Per axis, ``scale = in / out``, ``filterscale = max(scale, 1)``,
    ``support = filter_support * filterscale``; output index ``i`` has its
    centre at ``(i + 0.5) * scale`` and takes the input samples from
    ``int(center - support + 0.5)`` up to (excluding)
    ``int(center + support + 0.5)``, clipped to the image, with weights
    ``filter((j - center + 0.5) / filterscale)`` (computed as a product with
    ``1 / filterscale``) divided by their sum.  8-bit images use the weights
    as fixed point numbers with 22 fraction bits, rounded half away from
    zero.  Pillow first resamples rows (horizontal pass) then columns and
    skips the pass of an axis whose size does not change.
    The transcendental filters (hamming, lanczos) are evaluated with the C
    library's ``sin``/``cos`` through :mod:`math` (NumPy's vectorised
    ``sin`` may differ in the last bit, which can move a fixed point weight).

Pillow's NEAREST
    Source index ``int(x)`` of the sample position ``x = (i + 0.5) * scale``;
    for 8-bit and float images Pillow accumulates the position by repeated
    addition of ``scale`` (starting from ``scale / 2``), for 16-bit images
    it multiplies.  Both are reproduced.

OpenCV's ``INTER_AREA`` (downscaling)
    Integer factors on both axes: the plain block mean.  Otherwise the
    overlap table of ``computeResizeAreaTab``: each output pixel covers
    ``scale = in / out`` input pixels, partial pixels at both ends weighted
    by their covered fraction (weights stored as float32, as OpenCV does).

The tables are small (proportional to the output size times the number of
taps) and independent of the image content: ``resize_batch`` computes them
once for the whole batch.  The slide-tiling kernels reuse them.
"""

import math

import numpy as np

__all__ = [
    "PILLOW_FILTERS",
    "pillow_vertical_first",
    "area_is_integer",
    "area_table",
    "nearest_index",
    "pillow_coefficients",
]

#: Filter support (half width, in input pixels at scale 1) of Pillow's filters.
PILLOW_FILTERS = {"box": 0.5, "bilinear": 1.0, "hamming": 1.0, "bicubic": 2.0, "lanczos": 3.0}

#: Fixed point fraction bits of Pillow's 8-bit resampler.
PRECISION_BITS = 22

# Pillow writes these two constants as C floats (0.54f, 0.46f).
_HAMMING_A = float(np.float32(0.54))
_HAMMING_B = float(np.float32(0.46))


def _sinc_pillow(x):
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _hamming_one(x):
    if x < 0.0:
        x = -x
    if x == 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    x = x * math.pi
    return math.sin(x) / x * (_HAMMING_A + _HAMMING_B * math.cos(x))


def _lanczos_one(x):
    if -3.0 <= x < 3.0:
        return _sinc_pillow(x) * _sinc_pillow(x / 3)
    return 0.0


def _filter(method, x):
    """Pillow's filter functions on a float64 array, elementwise, with the
    same floating-point operations in the same order as Pillow's C code."""
    if method == "box":
        return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)
    if method == "bilinear":
        ax = np.abs(x)
        return np.where(ax < 1.0, 1.0 - ax, 0.0)
    if method == "bicubic":
        a = -0.5
        ax = np.abs(x)
        near = ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1
        far = (((ax - 5) * ax + 8) * ax - 4) * a
        return np.where(ax < 1.0, near, np.where(ax < 2.0, far, 0.0))
    one = _hamming_one if method == "hamming" else _lanczos_one
    flat = [one(v) for v in x.ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(x.shape)


def pillow_coefficients(in_size, out_size, method, *, fixed_point=False, pad_to=1):
    """Taps of one axis of Pillow's convolution resampler.

    Returns ``(bounds, weights)``: ``bounds`` int32 (out, 2) holds the first
    input index and the number of taps of each output index, ``weights``
    (out, k) float64 (or int32 fixed point with 22 fraction bits) the tap
    weights, zero beyond each output's tap count.

    ``pad_to > 1`` (integer weights only; applied when an output has at
    least ``pad_to`` taps) widens every output's window to the same ``k``, a
    multiple of ``pad_to`` (at most ``in_size``), by moving its start left
    where the image ends and adding zero weights: the inner loop then has a
    fixed trip count and vectorises, and the integer sums are unchanged.
    """
    support0 = PILLOW_FILTERS[method]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support0 * filterscale
    ss = 1.0 / filterscale
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.trunc(center - support + 0.5).astype(np.int64)
    np.maximum(xmin, 0, out=xmin)
    xmax = np.trunc(center + support + 0.5).astype(np.int64)
    np.minimum(xmax, in_size, out=xmax)
    count = xmax - xmin
    kmax = max(int(count.max()), 1)
    taps = np.arange(kmax)
    arg = ((xmin[:, None] + taps[None, :]).astype(np.float64) - center[:, None] + 0.5) * ss
    valid = taps[None, :] < count[:, None]
    w = np.where(valid, _filter(method, arg), 0.0)
    total = np.add.accumulate(w, axis=1)[:, -1]  # sequential, as Pillow sums its weights
    nz = total != 0.0
    w = np.where(nz[:, None], w / np.where(nz, total, 1.0)[:, None], w)
    if not fixed_point:
        bounds = np.stack([xmin, count], axis=1).astype(np.int32)
        return bounds, np.ascontiguousarray(w)
    scaled = w * float(1 << PRECISION_BITS)
    wi = np.where(w < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled)).astype(np.int32)
    if pad_to > 1 and kmax >= pad_to:
        k = min(-(-kmax // pad_to) * pad_to, in_size)
        start = np.minimum(xmin, in_size - k)
        shift = xmin - start
        padded = np.zeros((out_size, k), dtype=np.int32)
        rows, cols = np.nonzero(valid)
        padded[rows, shift[rows] + cols] = wi[rows, cols]
        bounds = np.stack([start, np.full(out_size, k)], axis=1).astype(np.int32)
        return bounds, padded
    bounds = np.stack([xmin, count], axis=1).astype(np.int32)
    return bounds, np.ascontiguousarray(wi)


def pillow_vertical_first(H, W, oh, ow):
    """Whether Pillow (>= 13) runs the vertical pass first: the height
    shrinks, by more than twice as many pixels as the width does."""
    return oh < H and (H - oh) > 2 * (W - ow)


def nearest_index(in_size, out_size, *, accumulate=True):
    """Source index of each output index under Pillow's NEAREST, int64 (out,).

    ``accumulate`` follows Pillow's 8-bit / float path (position advanced by
    repeated addition); ``False`` its 16-bit path (position multiplied).
    """
    a = in_size / out_size
    if accumulate:
        steps = np.full(out_size, a, dtype=np.float64)
        steps[0] = a * 0.5
        pos = np.add.accumulate(steps)  # strictly sequential sums
    else:
        pos = a * (np.arange(out_size, dtype=np.float64) + 0.5)
    idx = np.floor(pos).astype(np.int64)  # pos >= 0: int() truncation
    return np.clip(idx, 0, in_size - 1)


def area_is_integer(in_size, out_size):
    """OpenCV's test for its integer-factor INTER_AREA path on one axis:
    ``1 / (out / in)`` within DBL_EPSILON of an integer.  Returns the
    integer factor or 0."""
    scale = 1.0 / (out_size / in_size)
    k = round(scale)  # cvRound: ties to even, as Python's round
    return int(k) if abs(scale - k) < np.finfo(np.float64).eps else 0


def area_table(in_size, out_size):
    """OpenCV's INTER_AREA overlap table of one axis, as CSR arrays.

    Returns ``(offsets int64 (out+1,), source int32 (nnz,), alpha float32
    (nnz,))``: output ``i`` sums ``alpha[t] * x[source[t]]`` for ``t`` in
    ``offsets[i]:offsets[i+1]``, in that order.
    """
    scale = 1.0 / (out_size / in_size)
    offsets = [0]
    src = []
    alpha = []
    for dx in range(out_size):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, in_size - fsx1)
        sx1 = math.ceil(fsx1)
        sx2 = min(math.floor(fsx2), in_size - 1)
        sx1 = min(sx1, sx2)
        if sx1 - fsx1 > 1e-3:
            src.append(sx1 - 1)
            alpha.append((sx1 - fsx1) / cell)
        for sx in range(sx1, sx2):
            src.append(sx)
            alpha.append(1.0 / cell)
        if fsx2 - sx2 > 1e-3:
            src.append(sx2)
            alpha.append(min(min(fsx2 - sx2, 1.0), cell) / cell)
        offsets.append(len(src))
    return (
        np.asarray(offsets, dtype=np.int64),
        np.asarray(src, dtype=np.int32),
        np.asarray(alpha, dtype=np.float64).astype(np.float32),
    )
