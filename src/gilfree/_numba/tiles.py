"""Numba engine of slide tiling (same signatures, same per-tile algorithm
and arithmetic as ext/tiles.pyx).

The listed tiles of a band are split into static chunks, several per
thread; each chunk owns a tile buffer and the resize scratch, and handles
its tiles one after the other, fused: count the foreground, keep or drop,
copy the kept tile (padded) and resize it with the same row loops as
``gilfree._numba.resize`` (the convolution rows are that module's; the
area and nearest loops are restated per tile here, with the same
arithmetic).  One kernel per patch recipe, compiled on first use and
cached.
"""

import numpy as np
from numba import njit, prange

from .. import _tiles_plan as tp
from ._common import numba_threads
from . import resize as _nr

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")

#: Static chunks of tiles per thread (each chunk owns its scratch).
CHUNKS_PER_THREAD = 4

K_U8 = 0
K_U16 = 1
K_FLOAT = 2

FG_ALL = tp.FG_ALL
FG_MASK = tp.FG_MASK

#: This engine leaves releasing memmap pages (``release``) to the caller.
RELEASES_PAGES = False


def _kind(dtype):
    return K_U8 if dtype == np.uint8 else (K_U16 if dtype == np.uint16 else K_FLOAT)


@njit(**_JIT)
def _count_mask_row(row, n):
    c = 0
    for i in range(n):
        c += row[i] != 0
    return c


@njit(**_JIT)
def _count_u8_rgb(row, n, C, t32):
    """Foreground pixels of n pixels of C = 3 or 4 channels (int32 exact).
    ``row`` is a 1-D contiguous view: no index wraparound, so it vectorises."""
    c = 0
    if C == 3:
        for i in range(n):
            s = (np.int32(19595) * np.int32(row[3 * i]) + np.int32(38470) * np.int32(row[3 * i + 1])
                 + np.int32(7471) * np.int32(row[3 * i + 2]))
            c += s < t32
    else:
        for i in range(n):
            s = (np.int32(19595) * np.int32(row[4 * i]) + np.int32(38470) * np.int32(row[4 * i + 1])
                 + np.int32(7471) * np.int32(row[4 * i + 2]))
            c += s < t32
    return c


@njit(**_JIT)
def _count_row(row, n, C, kind, thr, thr_f):
    """Foreground pixels of the n pixels of a contiguous row (luma rule)."""
    c = 0
    if kind == K_U8:
        if C >= 3:
            return _count_u8_rgb(row, n, C, np.int32(min(thr, 16777216)))
        t32 = np.int32(min(thr, 256))
        for i in range(n):
            c += np.int32(row[C * i]) < t32
    elif kind == K_U16:
        if C >= 3:
            for i in range(n):
                s = (np.int64(19595) * np.int64(row[C * i])
                     + np.int64(38470) * np.int64(row[C * i + 1])
                     + np.int64(7471) * np.int64(row[C * i + 2]))
                c += s < thr
        else:
            for i in range(n):
                c += np.int64(row[C * i]) < thr
    else:
        if C >= 3:
            for i in range(n):
                f = (19595.0 * np.float64(row[C * i]) + 38470.0 * np.float64(row[C * i + 1])
                     + 7471.0 * np.float64(row[C * i + 2]))
                c += f < thr_f
        else:
            for i in range(n):
                c += np.float64(row[C * i]) < thr_f
    return c


@njit(**_JIT)
def _count_tile(band, mask, y, x, th, tw, fg, thr, thr_f, pad_fg, kind, need):
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
            cnt += _count_row(p[o:o + vw * C], vw, C, kind, thr, thr_f)
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
def _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
    if g[tp.G_MEASURE] == 0:
        return True
    c = _count_tile(band, mask, ys[j], xs[j], g[tp.G_TH], g[tp.G_TW], g[tp.G_FG], g[tp.G_THR],
                    thr_f, g[tp.G_PADFG], kind, g[tp.G_MINCOUNT])
    counts[j] = c
    return c >= g[tp.G_MINCOUNT]


@njit(parallel=True, **_JIT)
def _measure_kernel(band, mask, ys, xs, counts, g, thr_f, kind):
    th, tw = g[tp.G_TH], g[tp.G_TW]
    for j in prange(ys.shape[0]):
        counts[j] = _count_tile(band, mask, ys[j], xs[j], th, tw, g[tp.G_FG], g[tp.G_THR], thr_f,
                                g[tp.G_PADFG], kind, g[tp.G_MINCOUNT])


def _chunks(n, n_threads):
    return max(1, min(n, n_threads * CHUNKS_PER_THREAD))


@njit(parallel=True, **_JIT)
def _copy_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, kind, nchunks):
    n = ys.shape[0]
    th, tw = g[tp.G_TH], g[tp.G_TW]
    for ch in prange(nchunks):
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, out[j])


@njit(parallel=True, **_JIT)
def _nearest_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xi, yi, kind, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    oh, ow = out.shape[1], out.shape[2]
    tiles = np.empty((nchunks, th, tw, C), dtype=band.dtype)
    for ch in prange(nchunks):
        tile = tiles[ch]
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile)
                for i in range(oh):
                    for x in range(ow):
                        for c in range(C):
                            out[j, i, x, c] = tile[yi[i], xi[x], c]


@njit(**_JIT)
def _conv_tile_u8(plan, tile, tmp, res, oo, acc, W, C, ow, xb, xk, yb, yk):
    for step in range(plan[0]):
        _nr._conv_rows_u8(plan, step, 0, plan[4 + 5 * step], tile, 0, tmp, res, oo, acc, W, C, ow,
                          xb, xk, yb, yk)


@njit(**_JIT)
def _conv_tile_f(plan, tile, tmp, res, oo, acc, W, C, ow, xb, xk, yb, yk, is_u16):
    for step in range(plan[0]):
        _nr._conv_rows_f(plan, step, 0, plan[4 + 5 * step], tile, 0, tmp, res, oo, acc, W, C, ow,
                         xb, xk, yb, yk, is_u16)


@njit(parallel=True, **_JIT)
def _conv_u8_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xb, xk, yb, yk, plan,
                    kind, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    ow = out.shape[2]
    osz = out.shape[1] * ow * C
    res = out.reshape(-1)
    tiles = np.empty((nchunks, th * tw * C), dtype=np.uint8)
    tmps = np.empty((nchunks, plan[13] + 1), dtype=np.uint8)
    accs = np.empty((nchunks, plan[14]), dtype=np.int32)
    for ch in prange(nchunks):
        tile = tiles[ch]
        tile3 = tile.reshape((th, tw, C))
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile3)
                _conv_tile_u8(plan, tile, tmps[ch], res, j * osz, accs[ch], tw, C, ow, xb, xk, yb,
                              yk)


@njit(parallel=True, **_JIT)
def _conv_f_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xb, xk, yb, yk, plan,
                   kind, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    ow = out.shape[2]
    osz = out.shape[1] * ow * C
    res = out.reshape(-1)
    is_u16 = kind == K_U16
    tiles = np.empty((nchunks, th * tw * C), dtype=band.dtype)
    tmps = np.empty((nchunks, plan[13] + 1), dtype=band.dtype)
    accs = np.empty((nchunks, plan[14]), dtype=np.float64)
    for ch in prange(nchunks):
        tile = tiles[ch]
        tile3 = tile.reshape((th, tw, C))
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile3)
                _conv_tile_f(plan, tile, tmps[ch], res, j * osz, accs[ch], tw, C, ow, xb, xk, yb,
                             yk, is_u16)


@njit(inline="always", **_JIT)
def _area_store(dst, i, x, c, s, addhalf, fscale, hi):
    """OpenCV's rounding of an integer block sum (as gf_area_fast_row)."""
    if addhalf:
        dst[i, x, c] = (s + 2) >> 2
    else:
        v = np.rint(np.float32(s) * fscale)
        if v < 0:
            v = np.float32(0)
        if v > hi:
            v = np.float32(hi)
        dst[i, x, c] = v


@njit(**_JIT)
def _area_fast_tile(img, dst, tw, C, kx, ky, addhalf, is_int, hi, iacc, facc):
    """dst (oh, ow, C) = the ky x kx block means of the flat tile img: the
    ky rows summed per column first, then kx columns per output, in that
    order (the float sums follow gf_area_fast_row exactly)."""
    oh, ow = dst.shape[0], dst.shape[1]
    rl = tw * C
    fscale = np.float32(1.0) / np.float32(kx * ky)
    dscale = 1.0 / (kx * ky)
    for i in range(oh):
        base = i * ky * rl
        if is_int:
            row = img[base:base + rl]
            for j in range(rl):
                iacc[j] = row[j]
            for a in range(1, ky):
                row = img[base + a * rl:base + (a + 1) * rl]
                for j in range(rl):
                    iacc[j] += row[j]
            if C == 3:
                for x in range(ow):
                    s0 = s1 = s2 = np.int64(0)
                    for b in range(kx):
                        k = (x * kx + b) * 3
                        s0 += iacc[k]
                        s1 += iacc[k + 1]
                        s2 += iacc[k + 2]
                    _area_store(dst, i, x, 0, s0, addhalf, fscale, hi)
                    _area_store(dst, i, x, 1, s1, addhalf, fscale, hi)
                    _area_store(dst, i, x, 2, s2, addhalf, fscale, hi)
            elif C == 1:
                for x in range(ow):
                    s0 = np.int64(0)
                    for b in range(kx):
                        s0 += iacc[x * kx + b]
                    _area_store(dst, i, x, 0, s0, addhalf, fscale, hi)
            else:
                for x in range(ow):
                    for c in range(C):
                        s = np.int64(0)
                        for b in range(kx):
                            s += iacc[(x * kx + b) * C + c]
                        _area_store(dst, i, x, c, s, addhalf, fscale, hi)
        else:
            row = img[base:base + rl]
            for j in range(rl):
                facc[j] = row[j]
            for a in range(1, ky):
                row = img[base + a * rl:base + (a + 1) * rl]
                for j in range(rl):
                    facc[j] += row[j]
            for x in range(ow):
                for c in range(C):
                    f = 0.0
                    for b in range(kx):
                        f += facc[(x * kx + b) * C + c]
                    dst[i, x, c] = f * dscale


@njit(parallel=True, **_JIT)
def _area_fast_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, kind, hi, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    kx, ky, addhalf = g[tp.G_KX], g[tp.G_KY], g[tp.G_ADDHALF] != 0
    is_int = kind != K_FLOAT
    tiles = np.empty((nchunks, th * tw * C), dtype=band.dtype)
    iaccs = np.empty((nchunks, tw * C), dtype=np.int64)
    faccs = np.empty((nchunks, tw * C), dtype=np.float64)
    for ch in prange(nchunks):
        tile = tiles[ch]
        tile3 = tile.reshape((th, tw, C))
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile3)
                _area_fast_tile(tile, out[j], tw, C, kx, ky, addhalf, is_int, hi, iaccs[ch],
                                faccs[ch])


@njit(**_JIT)
def _area_tab_tile(src, dst, xofs, xsrc, xa, yofs, ysrc, ya, wt, is_int, hi, acc, buf):
    """OpenCV's fractional INTER_AREA of one tile src (th, tw, C) into dst."""
    oh, ow, C = dst.shape
    zero = wt(0)
    for dy in range(oh):
        acc[:, :] = zero
        for e in range(yofs[dy], yofs[dy + 1]):
            sy = ysrc[e]
            beta = ya[e]
            for x in range(ow):
                for c in range(C):
                    b = zero
                    for k in range(xofs[x], xofs[x + 1]):
                        b = b + wt(src[sy, xsrc[k], c]) * xa[k]
                    buf[x, c] = b
            for x in range(ow):
                for c in range(C):
                    acc[x, c] = acc[x, c] + beta * buf[x, c]
        for x in range(ow):
            for c in range(C):
                if is_int:
                    v = np.rint(acc[x, c])
                    if v < 0:
                        v = zero
                    if v > hi:
                        v = wt(hi)
                    dst[dy, x, c] = v
                else:
                    dst[dy, x, c] = acc[x, c]


@njit(parallel=True, **_JIT)
def _area_tab_kernel(band, mask, ys, xs, counts, g, thr_f, padval, out, xofs, xsrc, xal, yofs,
                     ysrc, yal, wt, kind, hi, nchunks):
    n = ys.shape[0]
    th, tw, C = g[tp.G_TH], g[tp.G_TW], band.shape[2]
    ow = out.shape[2]
    is_int = kind != K_FLOAT
    xa = xal.astype(wt)
    ya = yal.astype(wt)
    tiles = np.empty((nchunks, th, tw, C), dtype=band.dtype)
    accs = np.empty((nchunks, ow, C), dtype=wt)
    bufs = np.empty((nchunks, ow, C), dtype=wt)
    for ch in prange(nchunks):
        tile = tiles[ch]
        for j in range(n * ch // nchunks, n * (ch + 1) // nchunks):
            if _keep(band, mask, ys, xs, counts, g, thr_f, kind, j):
                _load_tile(band, ys[j], xs[j], th, tw, padval, tile)
                _area_tab_tile(tile, out[j], xofs, xsrc, xa, yofs, ysrc, ya, wt, is_int, hi,
                               accs[ch], bufs[ch])


def measure(band, mask, ys, xs, counts, geom, thr_f, release, n_threads):
    with numba_threads(n_threads):
        _measure_kernel(band, mask, ys, xs, counts, geom, thr_f, _kind(band.dtype))


def _hi(dtype):
    return 255 if dtype == np.uint8 else 65535


def patches(band, mask, ys, xs, counts, geom, thr_f, release, padval, out,
            xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    kind = _kind(band.dtype)
    mode = int(geom[tp.G_RMODE])
    n = ys.shape[0]
    with numba_threads(n_threads) as nt:
        nch = _chunks(n, nt)
        args = (band, mask, ys, xs, counts, geom, thr_f, padval, out)
        if mode == tp.R_COPY:
            _copy_kernel(*args, kind, nch)
        elif mode == tp.R_NEAREST:
            _nearest_kernel(*args, xi, yi, kind, nch)
        elif mode == tp.R_AREA_FAST:
            _area_fast_kernel(*args, kind, _hi(band.dtype), nch)
        elif mode == tp.R_AREA_TABLE:
            wt = np.float64 if band.dtype == np.float64 else np.float32
            _area_tab_kernel(*args, xofs, xsrc, xal, yofs, ysrc, yal, wt, kind, _hi(band.dtype),
                             nch)
        else:
            th, tw, C = int(geom[tp.G_TH]), int(geom[tp.G_TW]), band.shape[2]
            plan = _nr._plan(th, tw, C, out.shape[1], out.shape[2], yb,
                             int(geom[tp.G_HPASS]), int(geom[tp.G_VPASS]), int(geom[tp.G_VFIRST]))
            if band.dtype == np.uint8:
                _conv_u8_kernel(*args, xb, xki, yb, yki, plan, kind, nch)
            else:
                _conv_f_kernel(*args, xb, xkf, yb, ykf, plan, kind, nch)
