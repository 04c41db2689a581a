"""NumPy engine of slide tiling (same signatures and results as
ext/tiles.pyx; the fallback and a test oracle).

Counts come from the band's foreground map, a column sum per tile row and
a cumulative sum along the columns; kept tiles are gathered into a padded
stack and resized with the NumPy engine of ``gilfree.resize`` (same
tables), ``TILE_CHUNK`` tiles at a time to bound the temporaries.
``n_threads`` is accepted and ignored.
"""

import numpy as np

from .. import _tiles_plan as tp
from . import resize as _rs

#: Tiles gathered and resized per step of the numpy engine.
TILE_CHUNK = 64

#: This engine leaves releasing memmap pages (``release``) to the caller.
RELEASES_PAGES = False


def _foreground_map(band, mask, geom, thr_f):
    if geom[tp.G_FG] == tp.FG_MASK:
        return mask != 0
    return tp.foreground(band, int(geom[tp.G_FG]), int(geom[tp.G_THR]), thr_f)


def _counts(band, mask, ys, xs, geom, thr_f):
    th, tw = int(geom[tp.G_TH]), int(geom[tp.G_TW])
    bh, W = band.shape[0], band.shape[1]
    if geom[tp.G_FG] == tp.FG_ALL:
        return np.full(ys.shape[0], th * tw, dtype=np.int64)
    fg = _foreground_map(band, mask, geom, thr_f)
    out = np.empty(ys.shape[0], dtype=np.int64)
    y1 = np.minimum(ys + th, bh)
    x1 = np.minimum(xs + tw, W)
    for y in np.unique(ys):
        sel = np.flatnonzero(ys == y)
        colsum = fg[y:y1[sel[0]]].sum(axis=0, dtype=np.int64)
        cs = np.concatenate([[0], np.cumsum(colsum)])
        out[sel] = cs[x1[sel]] - cs[xs[sel]]
    if geom[tp.G_PADFG]:
        out += th * tw - (y1 - ys) * (x1 - xs)
    return out


def _gather(band, ys, xs, th, tw, padval):
    """The tiles at (ys, xs) as a (n, th, tw, C) stack, filled beyond the band."""
    bh, W, C = band.shape
    stack = np.empty((ys.shape[0], th, tw, C), dtype=band.dtype)
    stack[...] = padval
    for j, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
        vh, vw = min(th, bh - y), min(tw, W - x)
        stack[j, :vh, :vw] = band[y:y + vh, x:x + vw]
    return stack


def measure(band, mask, ys, xs, counts, geom, thr_f, release, n_threads):
    """counts[j] = foreground pixels of the tile at (ys[j], xs[j])."""
    counts[:] = _counts(band, mask, ys, xs, geom, thr_f)


def patches(band, mask, ys, xs, counts, geom, thr_f, release, padval, out,
            xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    """Count (if geom[G_MEASURE]), keep iff count >= geom[G_MINCOUNT], and
    copy or resize each kept tile into out[j]."""
    if geom[tp.G_MEASURE]:
        counts[:] = _counts(band, mask, ys, xs, geom, thr_f)
        keep = np.flatnonzero(counts >= geom[tp.G_MINCOUNT])
    else:
        keep = np.arange(ys.shape[0])
    th, tw = int(geom[tp.G_TH]), int(geom[tp.G_TW])
    tables = (xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal)
    for a in range(0, keep.size, TILE_CHUNK):
        sel = keep[a:a + TILE_CHUNK]
        stack = _gather(band, ys[sel], xs[sel], th, tw, padval)
        dst = np.empty((sel.size,) + out.shape[1:], dtype=out.dtype)
        tp.resize_stack(_rs, stack, dst, geom, tables)
        out[sel] = dst
