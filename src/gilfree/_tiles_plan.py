"""Shared pieces of the slide-tiling engines.

The public module ``gilfree.tiles`` validates the call once and hands every
engine the same description of the work:

``geom`` (int64 vector, layout below)
    tile size, how foreground is decided, the keep rule and how a kept tile
    becomes a patch (copied, or resized with one of ``gilfree.resize``'s
    algorithms whose tables follow in the call).
``thr_f`` (float64)
    the threshold of float images in the compared domain (see below).

Foreground rule (``G_FG``):

- ``FG_ALL``: every pixel counts (no threshold, no mask): fraction 1.
- ``FG_MASK``: ``mask[y, x]`` (uint8 0/1 in the engines).
- ``FG_LUMA``: ``luma < threshold``.  One or two channels: luma is channel
  0.  Three or four channels (RGB, RGBA; alpha ignored): for integer images
  Pillow's ``convert("L")`` formula ``(19595 R + 38470 G + 7471 B + 32768)
  >> 16``; the engines compare ``19595 R + 38470 G + 7471 B < G_THR`` with
  ``G_THR = 65536 * ceil(threshold) - 32768``, which is the same test
  exactly (for one channel, ``value < G_THR = ceil(threshold)``).  For float
  images, ``luma = (19595 R + 38470 G + 7471 B) / 65536`` and the engines
  compare ``19595.0 R + 38470.0 G + 7471.0 B < thr_f = 65536 * threshold``
  in float64, summed left to right (one channel: ``float64(value) <
  threshold``).

Padding: pixels of a tile beyond the image have the fill value on every
channel; they are foreground when ``G_PADFG`` is 1 (decided once, by the
rule above applied to the fill value; never with a mask).

A listed tile ``j`` is kept when ``counts[j] >= G_MINCOUNT`` (counts are
measured first when ``G_MEASURE`` is 1; otherwise every listed tile is
written).  A kept tile's patch goes to ``out[j]``.  The count of a dropped
tile may be partial (the compiled engines stop counting, row by row, once
the tile can no longer reach ``G_MINCOUNT``): only kept tiles' counts are
ever reported.
"""

import numpy as np

# geom layout -------------------------------------------------------------
G_TH = 0          # tile height
G_TW = 1          # tile width
G_FG = 2          # FG_ALL / FG_MASK / FG_LUMA
G_THR = 3         # integer threshold in the compared domain (integer images)
G_PADFG = 4       # padded pixels are foreground (0/1)
G_MINCOUNT = 5    # keep iff count >= this
G_MEASURE = 6     # count foreground pixels before keeping (0/1)
G_RMODE = 7       # R_COPY / R_CONV / R_NEAREST / R_AREA_FAST / R_AREA_TABLE
G_HPASS = 8       # convolution: horizontal pass runs
G_VPASS = 9       # convolution: vertical pass runs
G_VFIRST = 10     # convolution: vertical pass first
G_KX = 11         # integer area factors
G_KY = 12
G_ADDHALF = 13    # OpenCV's (sum + 2) >> 2 path of a 2x2 area reduction
G_OH = 14         # patch height
G_OW = 15         # patch width
G_LEN = 16

FG_ALL = 0
FG_MASK = 1
FG_LUMA = 2

R_NONE = -1  # count only (the one-region kernel's first pass)
R_COPY = 0
R_CONV = 1
R_NEAREST = 2
R_AREA_FAST = 3
R_AREA_TABLE = 4

#: Pillow's convert("L") weights (sum 65536).
LUMA_WEIGHTS = (19595, 38470, 7471)

__all__ = [name for name in dir() if name.startswith(("G_", "FG_", "R_"))] + [
    "LUMA_WEIGHTS",
    "foreground",
    "origins",
    "resize_stack",
]


def origins(n, t, s, padded):
    """Tile origins along one axis of length ``n`` (tile ``t``, stride ``s``):
    ``range(0, n - t + 1, s)``, or ``range(0, n, s)`` when padded tiles are
    kept.  int64."""
    stop = n if padded else n - t + 1
    return np.arange(0, max(stop, 0), s, dtype=np.int64)


def foreground(pixels, fgmode, thr_i, thr_f):
    """Foreground flags of ``pixels`` (..., C) under the luma rule, bool
    (...).  The NumPy statement of the rule every engine implements."""
    if fgmode == FG_ALL:
        return np.ones(pixels.shape[:-1], dtype=bool)
    integer = pixels.dtype.kind == "u"
    thr = thr_i if integer else thr_f
    if pixels.shape[-1] < 3:
        return pixels[..., 0].astype(np.int64 if integer else np.float64) < thr
    # uint8: 19595 R + 38470 G + 7471 B <= 255 * 65536 fits int32 exactly
    acc = (np.int32 if pixels.dtype == np.uint8 else np.int64) if integer else np.float64
    s = pixels[..., 0].astype(acc) * acc(LUMA_WEIGHTS[0])
    for c in (1, 2):  # R, then G, then B: the engines' order of the sums
        s += pixels[..., c].astype(acc) * acc(LUMA_WEIGHTS[c])
    return s < thr


def resize_stack(rs, src, dst, geom, tables):
    """Copy or resize the tile stack ``src`` (n, th, tw, C) into ``dst``
    (n, oh, ow, C) with the resize engine module ``rs`` (numpy or python)."""
    xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal = tables
    mode = int(geom[G_RMODE])
    hp, vp, vf = int(geom[G_HPASS]), int(geom[G_VPASS]), int(geom[G_VFIRST])
    if mode == R_COPY:
        dst[...] = src
    elif mode == R_CONV:
        if src.dtype == np.uint8:
            rs.conv_u8(src, dst, xb, xki, yb, yki, hp, vp, vf, 1)
        else:
            rs.conv_float(src, dst, xb, xkf, yb, ykf, hp, vp, vf, 1)
    elif mode == R_NEAREST:
        rs.nearest(src, dst, xi, yi, 1)
    elif mode == R_AREA_FAST:
        rs.area_fast(src, dst, int(geom[G_KX]), int(geom[G_KY]), int(geom[G_ADDHALF]), 1)
    else:
        rs.area_table(src, dst, xofs, xsrc, xal, yofs, ysrc, yal, 1)
