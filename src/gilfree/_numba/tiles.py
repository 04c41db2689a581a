"""Numba engine of slide tiling (same signatures, same per-tile algorithm
and arithmetic as ext/tiles.pyx).

The listed tiles of a band are split into static chunks, several per
thread; each chunk owns a tile buffer and the resize scratch, and handles
its tiles one after the other, fused: count the foreground, keep or drop,
copy the kept tile (padded) and resize it with the row functions of
``gilfree._numba.resize``.  One kernel per patch recipe, compiled on first
use and cached.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .. import _tiles_plan as tp
from ._common import numba_threads
from . import resize as _nr

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")

#: Static chunks of tiles per thread (each chunk owns its scratch).
CHUNKS_PER_THREAD = 4

FG_ALL = tp.FG_ALL
FG_MASK = tp.FG_MASK

#: This engine leaves releasing memmap pages (``release``) to the caller.
RELEASES_PAGES = False


@njit(**_JIT)
def _count_mask_row(row, n):
    c = 0
    for i in range(n):
        c += row[i] != 0
    return c


@njit(inline="always", **_JIT)
def _luma8(row, i):
    return (np.int32(19595) * np.int32(row[i]) + np.int32(38470) * np.int32(row[i + 1])
            + np.int32(7471) * np.int32(row[i + 2]))


def _count_row(row, n, C, thr, thr_f):
    """Foreground pixels of the n pixels of a contiguous 1-D view ``row``
    (the luma rule; no index wraparound, so the loops vectorise).  Each
    pixel type compiles only its own rule."""


@overload(_count_row)
def _ov_count_row(row, n, C, thr, thr_f):
    if row.dtype == types.uint8:
        def count_u8(row, n, C, thr, thr_f):  # int32 is exact for 8 bits
            c = 0
            if C == 1 or C == 2:
                t8 = np.int32(min(thr, 256))
                for i in range(n):
                    c += np.int32(row[C * i]) < t8
                return c
            t32 = np.int32(min(thr, 16777216))
            if C == 3:  # a constant stride for each: the loops vectorise
                for i in range(n):
                    c += _luma8(row, 3 * i) < t32
            else:
                for i in range(n):
                    c += _luma8(row, 4 * i) < t32
            return c
        return count_u8
    if row.dtype == types.uint16:
        def count_u16(row, n, C, thr, thr_f):
            c = 0
            for i in range(n):
                if C >= 3:
                    s = (np.int64(19595) * np.int64(row[C * i]) + np.int64(38470)
                         * np.int64(row[C * i + 1]) + np.int64(7471) * np.int64(row[C * i + 2]))
                else:
                    s = np.int64(row[C * i])
                c += s < thr
            return c
        return count_u16

    def count_float(row, n, C, thr, thr_f):
        c = 0
        for i in range(n):
            if C >= 3:
                f = (19595.0 * np.float64(row[C * i]) + 38470.0 * np.float64(row[C * i + 1])
                     + 7471.0 * np.float64(row[C * i + 2]))
            else:
                f = np.float64(row[C * i])
            c += f < thr_f
        return c
    return count_float


@njit(**_JIT)
def _count_tile(band, mask, y, x, th, tw, fg, thr, thr_f, pad_fg, need):
    """Foreground pixels of the tile at (y, x), or, once the tile cannot
    reach ``need`` any more, the (smaller) count so far."""
    bh, W, C = band.shape
    if fg == FG_ALL:
        return th * tw
    vh = min(th, bh - y)
    vw = min(tw, W - x)
    padpix = th * tw - vh * vw if pad_fg else 0
    rest = vh * vw
    cnt = 0
    m = mask.reshape(-1)
    p = band.reshape(-1)
    for r in range(vh):
        if fg == FG_MASK:
            o = (y + r) * W + x
            cnt += _count_mask_row(m[o:o + vw], vw)
        else:
            o = ((y + r) * W + x) * C
            cnt += _count_row(p[o:o + vw * C], vw, C, thr, thr_f)
        rest -= vw
        if cnt + rest + padpix < need:
            return cnt
    return cnt + padpix


@njit(**_JIT)
def _load_tile(band, y, x, th, tw, padval, dst):
    """dst (th, tw, C) = the tile at (y, x), the fill value beyond the band
    (flat contiguous views: a plain copy loop)."""
    bh, W, C = band.shape
    vh = min(th, bh - y)
    vw = min(tw, W - x)
    p = band.reshape(-1)
    d = dst.reshape(-1)
    rl = tw * C
    n = vw * C
    for r in range(vh):
        o = ((y + r) * W + x) * C
        src = p[o:o + n]
        out = d[r * rl:r * rl + n]
        for k in range(n):
            out[k] = src[k]
        for k in range(n, rl):
            d[r * rl + k] = padval[k % C]
    for k in range(vh * rl, th * rl):
        d[k] = padval[k % C]


@njit(**_JIT)
def _keep(band, mask, ys, xs, counts, g, thr_f, j):
    if g[tp.G_MEASURE] == 0:
        return True
    c = _count_tile(band, mask, ys[j], xs[j], g[tp.G_TH], g[tp.G_TW], g[tp.G_FG], g[tp.G_THR],
                    thr_f, g[tp.G_PADFG], g[tp.G_MINCOUNT])
    counts[j] = c
    return c >= g[tp.G_MINCOUNT]


@njit(parallel=True, **_JIT)
def _measure_kernel(band, mask, ys, xs, counts, g, thr_f):
    th, tw = g[tp.G_TH], g[tp.G_TW]
    for j in prange(ys.shape[0]):
        counts[j] = _count_tile(band, mask, ys[j], xs[j], th, tw, g[tp.G_FG], g[tp.G_THR], thr_f,
                                g[tp.G_PADFG], g[tp.G_MINCOUNT])


def _chunks(n, n_threads):
    return max(1, min(n, n_threads * CHUNKS_PER_THREAD))


@njit(parallel=True, **_JIT)
def _copy_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, nchunks):
    n = ys.shape[0]
    th, tw = g[tp.G_TH], g[tp.G_TW]
    for ch in prange(nchunks):
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, out[j])


@njit(parallel=True, **_JIT)
def _nearest_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xi, yi, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    tiles = np.empty((nchunks, th, tw, C), dtype=band.dtype)
    for ch in prange(nchunks):
        tile = tiles[ch]
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile)
                for i in range(out.shape[1]):
                    _nr._nearest_row(tile, out[j], i, xi, yi)


@njit(**_JIT)
def _conv_tile(plan, tile, tmp, res, oo, acc, W, C, ow, xb, xk, yb, yk):
    for step in range(plan[0]):
        _nr._conv_rows(plan, step, 0, plan[4 + 5 * step], tile, 0, tmp, res, oo, acc, W, C, ow,
                       xb, xk, yb, yk)


@njit(parallel=True, **_JIT)
def _conv_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xb, xk, yb, yk, plan, nchunks):
    """Bilinear, bicubic, lanczos: Pillow's passes on each kept tile (sums
    in the type of the weights: int32 fixed point for uint8, else float64)."""
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    ow = out.shape[2]
    osz = out.shape[1] * ow * C
    res = out.reshape(-1)
    tiles = np.empty((nchunks, th * tw * C), dtype=band.dtype)
    tmps = np.empty((nchunks, plan[13] + 1), dtype=band.dtype)
    accs = np.empty((nchunks, plan[14]), dtype=xk.dtype)
    for ch in prange(nchunks):
        tile = tiles[ch]
        tile3 = tile.reshape((th, tw, C))
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile3)
                _conv_tile(plan, tile, tmps[ch], res, j * osz, accs[ch], tw, C, ow, xb, xk, yb,
                           yk)


@njit(parallel=True, **_JIT)
def _area_fast_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, hi, accs):
    n, nchunks = ys.shape[0], accs.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    kx, ky, addhalf = g[tp.G_KX], g[tp.G_KY], g[tp.G_ADDHALF] != 0
    tiles = np.empty((nchunks, th * tw * C), dtype=band.dtype)
    for ch in prange(nchunks):
        tile = tiles[ch]
        tile3 = tile.reshape((th, tw, C))
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile3)
                for i in range(out.shape[1]):
                    _nr._area_fast_row(tile, i * ky * tw * C, tw * C, kx, ky, out[j], i, addhalf,
                                       hi, accs[ch])


@njit(parallel=True, **_JIT)
def _area_tab_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xofs, xsrc, xa, yofs,
                     ysrc, ya, hi, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    tiles = np.empty((nchunks, th, tw, C), dtype=band.dtype)
    accs = np.empty((nchunks, out.shape[2], C), dtype=xa.dtype)
    bufs = np.empty((nchunks, out.shape[2], C), dtype=xa.dtype)
    for ch in prange(nchunks):
        tile = tiles[ch]
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile)
                for dy in range(out.shape[1]):
                    _nr._area_tab_row(tile, out[j], dy, xofs, xsrc, xa, yofs, ysrc, ya, hi,
                                      accs[ch], bufs[ch])


def measure(band, mask, ys, xs, counts, geom, thr_f, release, n_threads):
    with numba_threads(n_threads):
        _measure_kernel(band, mask, ys, xs, counts, geom, thr_f)


def patches(band, mask, ys, xs, counts, geom, thr_f, release, padval, out,
            xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    mode = int(geom[tp.G_RMODE])
    n = ys.shape[0]
    with numba_threads(n_threads) as nt:
        nch = _chunks(n, nt)
        args = (band, mask, ys, xs, counts, geom, thr_f, padval, out)
        if mode == tp.R_COPY:
            _copy_kernel(*args, nch)
        elif mode == tp.R_NEAREST:
            _nearest_kernel(*args, xi, yi, nch)
        elif mode == tp.R_AREA_FAST:
            sums = _nr.area_sums(band.dtype, int(geom[tp.G_KX]), int(geom[tp.G_KY]))
            _area_fast_kernel(*args, _nr._hi(band.dtype),
                              np.empty((nch, int(geom[tp.G_TW]) * band.shape[2]), sums))
        elif mode == tp.R_AREA_TABLE:
            xa, ya = _nr.area_weights(band.dtype, xal, yal)
            _area_tab_kernel(*args, xofs, xsrc, xa, yofs, ysrc, ya, _nr._hi(band.dtype), nch)
        else:
            th, tw, C = int(geom[tp.G_TH]), int(geom[tp.G_TW]), band.shape[2]
            plan = _nr._plan(th, tw, C, out.shape[1], out.shape[2], yb,
                             int(geom[tp.G_HPASS]), int(geom[tp.G_VPASS]), int(geom[tp.G_VFIRST]))
            xk, yk = (xki, yki) if band.dtype == np.uint8 else (xkf, ykf)
            _conv_kernel(*args, xb, xk, yb, yk, plan, nch)
