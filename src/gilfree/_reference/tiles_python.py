"""The pure-Python engine of slide tiling: plain, GIL-holding loops over
tiles and pixels on Python numbers, the obviously-right twin of the other
engines (same signatures and results) and what a process pool runs as the
pure-Python fallback.  Patches are resized with the pure-Python engine of
``gilfree.resize`` (same tables).
"""

import numpy as np

from .. import _tiles_plan as tp
from . import resize_python as _rs

_W_R, _W_G, _W_B = tp.LUMA_WEIGHTS

#: This engine leaves releasing memmap pages (``release``) to the caller.
RELEASES_PAGES = False


def _is_foreground(pix, fgmode, thr_i, thr_f, integer):
    """The luma rule for one pixel (a list of C Python numbers)."""
    if fgmode == tp.FG_ALL:
        return True
    if len(pix) >= 3:
        if integer:
            return _W_R * pix[0] + _W_G * pix[1] + _W_B * pix[2] < thr_i
        s = float(_W_R) * pix[0] + float(_W_G) * pix[1] + float(_W_B) * pix[2]
        return s < thr_f
    return pix[0] < (thr_i if integer else thr_f)


def _count(band, mask, y, x, geom, thr_f):
    th, tw = int(geom[tp.G_TH]), int(geom[tp.G_TW])
    fgmode, thr_i = int(geom[tp.G_FG]), int(geom[tp.G_THR])
    integer = band.dtype.kind == "u"
    bh, W = band.shape[0], band.shape[1]
    n = 0
    for r in range(th):
        for c in range(tw):
            if y + r >= bh or x + c >= W:
                n += int(geom[tp.G_PADFG])
            elif fgmode == tp.FG_MASK:
                n += 1 if mask[y + r, x + c] else 0
            else:
                pix = band[y + r, x + c].tolist()
                n += 1 if _is_foreground(pix, fgmode, thr_i, thr_f, integer) else 0
    return n


def _tile(band, y, x, th, tw, padval):
    bh, W, C = band.shape
    fill = padval.tolist()
    rows = []
    for r in range(th):
        row = []
        for c in range(tw):
            if y + r < bh and x + c < W:
                row.append(band[y + r, x + c].tolist())
            else:
                row.append(list(fill))
        rows.append(row)
    return np.asarray(rows, dtype=band.dtype).reshape(1, th, tw, C)


def measure(band, mask, ys, xs, counts, geom, thr_f, release, n_threads):
    for j in range(ys.shape[0]):
        counts[j] = _count(band, mask, int(ys[j]), int(xs[j]), geom, thr_f)


def patches(band, mask, ys, xs, counts, geom, thr_f, release, padval, out,
            xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    tables = (xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal)
    th, tw = int(geom[tp.G_TH]), int(geom[tp.G_TW])
    for j in range(ys.shape[0]):
        y, x = int(ys[j]), int(xs[j])
        if geom[tp.G_MEASURE]:
            counts[j] = _count(band, mask, y, x, geom, thr_f)
            if counts[j] < geom[tp.G_MINCOUNT]:
                continue
        dst = np.empty((1,) + out.shape[1:], dtype=out.dtype)
        tp.resize_stack(_rs, _tile(band, y, x, th, tw, padval), dst, geom, tables)
        out[j] = dst[0]
