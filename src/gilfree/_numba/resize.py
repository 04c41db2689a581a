"""Numba engine of the image resamplers (same tables, same per-row
algorithm and the same arithmetic as ext/_resize_core.pxi).

Compiled lazily on first call (``cache=True`` keeps the machine code across
sessions).  Threads: whole images per thread when there are at least as many
images as threads, else the rows of each image in chunks.
"""

import numpy as np
from numba import njit, prange

from .._config import RESIZE_CHUNKS_PER_THREAD
from ._common import numba_threads

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")

PRECISION_BITS = 22
HALF = 1 << (PRECISION_BITS - 1)
OP_H = 0
OP_V = 1


def _plan(H, W, C, oh, ow, yb, hpass, vpass, vfirst):
    """The pass schedule as an int64 array (see GfConvPlan in
    ext/_resize_core.pxi): nsteps, then per step (op, from_tmp, to_tmp,
    rows, hrow0), then vshift, vrowlen, tmp_len, acc_len."""
    steps = []
    vshift = 0
    tmp_len = 0
    if hpass and vpass and vfirst:
        steps = [(OP_V, 0, 1, oh, 0), (OP_H, 1, 0, oh, 0)]
        vrowlen = W * C
        tmp_len = oh * W * C
    elif hpass and vpass:
        r0 = int(yb[0, 0])
        r1 = int(yb[oh - 1, 0] + yb[oh - 1, 1])
        steps = [(OP_H, 0, 1, r1 - r0, r0), (OP_V, 1, 0, oh, 0)]
        vshift = r0
        vrowlen = ow * C
        tmp_len = (r1 - r0) * ow * C
    elif hpass:
        steps = [(OP_H, 0, 0, H, 0)]
        vrowlen = ow * C
    elif vpass:
        steps = [(OP_V, 0, 0, oh, 0)]
        vrowlen = W * C
    else:
        vrowlen = W * C
    acc_len = vrowlen if vpass else 1
    if hpass:
        acc_len = max(acc_len, W * C)
    flat = [len(steps)]
    for i in range(2):
        flat.extend(steps[i] if i < len(steps) else (0, 0, 0, 0, 0))
    flat.extend([vshift, vrowlen, tmp_len, acc_len])
    return np.asarray(flat, dtype=np.int64)


@njit(inline="always", **_JIT)
def _clip8(v):
    v = v >> PRECISION_BITS
    if v < 0:
        return np.uint8(0)
    if v > 255:
        return np.uint8(255)
    return np.uint8(v)


@njit(**_JIT)
def _hrow_u8(s, so, d, do, C, W, ow, xb, xk, wide):
    kx = xk.shape[1]
    if kx >= 8:
        if C == 1:
            for x in range(W):
                wide[x] = s[so + x]
        else:
            for c in range(C):
                for x in range(W):
                    wide[c * W + x] = s[so + x * C + c]
        if C == 1:
            for x in range(ow):
                n = xb[x, 1]
                a0 = xb[x, 0]
                k = xk[x, :n]
                a = wide[a0:a0 + n]  # views: no index wraparound, vectorises
                ss = np.int32(HALF)
                for t in range(n):
                    ss += np.int32(a[t] * k[t])
                d[do + x] = _clip8(ss)
            return
        for x in range(ow):
            n = xb[x, 1]
            k = xk[x, :n]
            for c in range(C):
                a0 = c * W + xb[x, 0]
                a = wide[a0:a0 + n]  # views: no index wraparound, vectorises
                ss = np.int32(HALF)
                for t in range(n):
                    ss += np.int32(a[t] * k[t])
                d[do + C * x + c] = _clip8(ss)
    else:
        for x in range(ow):
            p = so + C * xb[x, 0]
            n = xb[x, 1]
            for c in range(C):
                ss = np.int32(HALF)
                for t in range(n):
                    ss += np.int32(s[p + C * t + c]) * xk[x, t]
                d[do + C * x + c] = _clip8(ss)


@njit(**_JIT)
def _vrow_u8(s, so, rowlen, d, do, n, k, acc):
    for j in range(rowlen):
        acc[j] = HALF
    for t in range(n):
        w = k[t]
        row = s[so + t * rowlen:so + (t + 1) * rowlen]
        for j in range(rowlen):
            acc[j] += np.int32(np.int32(row[j]) * w)
    for j in range(rowlen):
        d[do + j] = _clip8(acc[j])


@njit(inline="always", **_JIT)
def _round_u16(v):
    """Pillow's ROUND_UP (half away from zero), saturated to uint16."""
    i = np.int64(v + 0.5) if v >= 0.0 else np.int64(v - 0.5)
    if i < 0:
        i = 0
    if i > 65535:
        i = 65535
    return i


@njit(**_JIT)
def _hrow_f(s, so, d, do, C, ow, xb, xk, is_u16):
    for x in range(ow):
        p = so + C * xb[x, 0]
        n = xb[x, 1]
        for c in range(C):
            ss = 0.0
            for t in range(n):
                ss += s[p + C * t + c] * xk[x, t]
            if is_u16:
                d[do + C * x + c] = _round_u16(ss)
            else:
                d[do + C * x + c] = ss


@njit(**_JIT)
def _vrow_f(s, so, rowlen, d, do, n, k, acc, is_u16):
    for j in range(rowlen):
        acc[j] = 0.0
    for t in range(n):
        w = k[t]
        base = so + t * rowlen
        for j in range(rowlen):
            acc[j] += s[base + j] * w
    for j in range(rowlen):
        if is_u16:
            d[do + j] = _round_u16(acc[j])
        else:
            d[do + j] = acc[j]


@njit(**_JIT)
def _pass_u8(op, s, so, d, do, r, W, C, ow, rl, xb, xk, yb, yk, acc):
    if op == OP_H:
        _hrow_u8(s, so, d, do, C, W, ow, xb, xk, acc)
    else:
        _vrow_u8(s, so, rl, d, do, yb[r, 1], yk[r], acc)


@njit(**_JIT)
def _pass_f(op, s, so, d, do, r, W, C, ow, rl, xb, xk, yb, yk, acc, is_u16):
    if op == OP_H:
        _hrow_f(s, so, d, do, C, ow, xb, xk, is_u16)
    else:
        _vrow_f(s, so, rl, d, do, yb[r, 1], yk[r], acc, is_u16)


@njit(**_JIT)
def _offsets(plan, step, r, io, oo, W, C, ow, yb):
    """(op, from_tmp, to_tmp, source offset, destination offset) of row r."""
    base = 1 + 5 * step
    op = plan[base]
    from_tmp = plan[base + 1]
    to_tmp = plan[base + 2]
    hrow0 = plan[base + 4]
    vshift = plan[11]
    rl = plan[12]
    if op == OP_H:
        so = (r + hrow0) * W * C
        do = r * ow * C
    else:
        so = (yb[r, 0] - (vshift if from_tmp else 0)) * rl
        do = r * rl
    if not from_tmp:
        so += io
    if not to_tmp:
        do += oo
    return op, from_tmp, to_tmp, so, do


@njit(**_JIT)
def _conv_row_u8(plan, step, r, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk):
    op, from_tmp, to_tmp, so, do = _offsets(plan, step, r, io, oo, W, C, ow, yb)
    rl = plan[12]
    # four explicit calls: the image may be read-only, tmp and out are not
    if from_tmp:
        if to_tmp:
            _pass_u8(op, tmp, so, tmp, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)
        else:
            _pass_u8(op, tmp, so, out, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)
    else:
        if to_tmp:
            _pass_u8(op, img, so, tmp, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)
        else:
            _pass_u8(op, img, so, out, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)


@njit(**_JIT)
def _conv_row_f(plan, step, r, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk, is_u16):
    op, from_tmp, to_tmp, so, do = _offsets(plan, step, r, io, oo, W, C, ow, yb)
    rl = plan[12]
    if from_tmp:
        if to_tmp:
            _pass_f(op, tmp, so, tmp, do, r, W, C, ow, rl, xb, xk, yb, yk, acc, is_u16)
        else:
            _pass_f(op, tmp, so, out, do, r, W, C, ow, rl, xb, xk, yb, yk, acc, is_u16)
    else:
        if to_tmp:
            _pass_f(op, img, so, tmp, do, r, W, C, ow, rl, xb, xk, yb, yk, acc, is_u16)
        else:
            _pass_f(op, img, so, out, do, r, W, C, ow, rl, xb, xk, yb, yk, acc, is_u16)


@njit(**_JIT)
def _conv_rows_u8(plan, step, r0, r1, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk):
    """Rows r0..r1 of one step, kept out of the parallel kernel so that the
    hot loops compile as in a plain function (they vectorise there)."""
    for r in range(r0, r1):
        _conv_row_u8(plan, step, r, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk)


@njit(parallel=True, **_JIT)
def _conv_kernel_u8(src, out, xb, xk, yb, yk, plan, n_threads):
    N, H, W, C = src.shape
    oh, ow = out.shape[1], out.shape[2]
    img = src.reshape(-1)
    res = out.reshape(-1)
    isz = H * W * C
    osz = oh * ow * C
    nsteps = plan[0]
    # scratch allocated before the parallel loops, one row per task (an
    # allocation inside a prange body is slow here)
    if N >= n_threads:
        tmps = np.empty((n_threads, plan[13] + 1), dtype=np.uint8)
        accs = np.empty((n_threads, plan[14]), dtype=np.int32)
        for th in prange(n_threads):
            for n in range(N * th // n_threads, N * (th + 1) // n_threads):
                for step in range(nsteps):
                    _conv_rows_u8(plan, step, 0, plan[4 + 5 * step], img, n * isz, tmps[th],
                                   res, n * osz, accs[th], W, C, ow, xb, xk, yb, yk)
    else:
        tmp = np.empty(plan[13] + 1, dtype=np.uint8)
        nchunks = n_threads * RESIZE_CHUNKS_PER_THREAD
        accs = np.empty((nchunks, plan[14]), dtype=np.int32)
        for n in range(N):
            for step in range(nsteps):
                rows = plan[4 + 5 * step]
                for ch in prange(nchunks):
                    _conv_rows_u8(plan, step, rows * ch // nchunks, rows * (ch + 1) // nchunks,
                                   img, n * isz, tmp, res, n * osz, accs[ch], W, C, ow, xb, xk,
                                   yb, yk)


@njit(**_JIT)
def _conv_rows_f(plan, step, r0, r1, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk, is_u16):
    """Rows r0..r1 of one step, kept out of the parallel kernel so that the
    hot loops compile as in a plain function (they vectorise there)."""
    for r in range(r0, r1):
        _conv_row_f(plan, step, r, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk, is_u16)


@njit(parallel=True, **_JIT)
def _conv_kernel_f(src, out, xb, xk, yb, yk, plan, n_threads, is_u16):
    N, H, W, C = src.shape
    oh, ow = out.shape[1], out.shape[2]
    img = src.reshape(-1)
    res = out.reshape(-1)
    isz = H * W * C
    osz = oh * ow * C
    nsteps = plan[0]
    # scratch allocated before the parallel loops, one row per task (an
    # allocation inside a prange body is slow here)
    if N >= n_threads:
        tmps = np.empty((n_threads, plan[13] + 1), dtype=out.dtype)
        accs = np.empty((n_threads, plan[14]), dtype=np.float64)
        for th in prange(n_threads):
            for n in range(N * th // n_threads, N * (th + 1) // n_threads):
                for step in range(nsteps):
                    _conv_rows_f(plan, step, 0, plan[4 + 5 * step], img, n * isz, tmps[th],
                                   res, n * osz, accs[th], W, C, ow, xb, xk, yb, yk, is_u16)
    else:
        tmp = np.empty(plan[13] + 1, dtype=out.dtype)
        nchunks = n_threads * RESIZE_CHUNKS_PER_THREAD
        accs = np.empty((nchunks, plan[14]), dtype=np.float64)
        for n in range(N):
            for step in range(nsteps):
                rows = plan[4 + 5 * step]
                for ch in prange(nchunks):
                    _conv_rows_f(plan, step, rows * ch // nchunks, rows * (ch + 1) // nchunks,
                                   img, n * isz, tmp, res, n * osz, accs[ch], W, C, ow, xb, xk,
                                   yb, yk, is_u16)


@njit(parallel=True, **_JIT)
def _nearest_kernel(src, out, xi, yi):
    N, oh, ow, C = out.shape
    for t in prange(N * oh):
        n = t // oh
        i = t % oh
        y = yi[i]
        for j in range(ow):
            x = xi[j]
            for c in range(C):
                out[n, i, j, c] = src[n, y, x, c]


@njit(parallel=True, **_JIT)
def _area_fast_kernel(src, out, kx, ky, addhalf, is_int, hi, n_threads):
    N, H, W, C = src.shape
    oh, ow = out.shape[1], out.shape[2]
    rl = W * C
    img = src.reshape(-1)
    fscale = np.float32(1.0) / np.float32(kx * ky)
    dscale = 1.0 / (kx * ky)
    nchunks = n_threads * RESIZE_CHUNKS_PER_THREAD
    iaccs = np.empty((nchunks, rl), dtype=np.int64)
    faccs = np.empty((nchunks, rl), dtype=np.float64)
    for ch in prange(nchunks):
        iacc = iaccs[ch]
        facc = faccs[ch]
        for t in range(N * oh * ch // nchunks, N * oh * (ch + 1) // nchunks):
            n = t // oh
            i = t % oh
            base = ((n * H + i * ky) * W) * C
            if is_int:
                for j in range(rl):
                    iacc[j] = img[base + j]
                for a in range(1, ky):
                    for j in range(rl):
                        iacc[j] += img[base + a * rl + j]
                for x in range(ow):
                    for c in range(C):
                        s = np.int64(0)
                        for b in range(kx):
                            s += iacc[(x * kx + b) * C + c]
                        if addhalf:
                            out[n, i, x, c] = (s + 2) >> 2
                        else:
                            v = np.rint(np.float32(s) * fscale)
                            if v < 0:
                                v = np.float32(0)
                            if v > hi:
                                v = np.float32(hi)
                            out[n, i, x, c] = v
            else:
                for j in range(rl):
                    facc[j] = img[base + j]
                for a in range(1, ky):
                    for j in range(rl):
                        facc[j] += img[base + a * rl + j]
                for x in range(ow):
                    for c in range(C):
                        s = 0.0
                        for b in range(kx):
                            s += facc[(x * kx + b) * C + c]
                        out[n, i, x, c] = s * dscale


@njit(parallel=True, **_JIT)
def _area_tab_kernel(src, out, xofs, xsrc, xal, yofs, ysrc, yal, wt, is_int, hi, n_threads):
    N, H, W, C = src.shape
    oh, ow = out.shape[1], out.shape[2]
    xa = xal.astype(wt)
    ya = yal.astype(wt)
    zero = wt(0)
    nchunks = n_threads * RESIZE_CHUNKS_PER_THREAD
    accs = np.empty((nchunks, ow, C), dtype=wt)
    bufs = np.empty((nchunks, ow, C), dtype=wt)
    for ch in prange(nchunks):
        acc = accs[ch]
        buf = bufs[ch]
        for t in range(N * oh * ch // nchunks, N * oh * (ch + 1) // nchunks):
            n = t // oh
            dy = t % oh
            acc[:, :] = zero
            for e in range(yofs[dy], yofs[dy + 1]):
                sy = ysrc[e]
                beta = ya[e]
                for x in range(ow):
                    for c in range(C):
                        b = zero
                        for k in range(xofs[x], xofs[x + 1]):
                            b = b + wt(src[n, sy, xsrc[k], c]) * xa[k]
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
                        out[n, dy, x, c] = v
                    else:
                        out[n, dy, x, c] = acc[x, c]


def conv_u8(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, n_threads):
    plan = _plan(*src.shape[1:], *out.shape[1:3], yb, hpass, vpass, vfirst)
    with numba_threads(n_threads) as nt:
        _conv_kernel_u8(src, out, xb, xk, yb, yk, plan, nt)


def conv_float(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, n_threads):
    plan = _plan(*src.shape[1:], *out.shape[1:3], yb, hpass, vpass, vfirst)
    with numba_threads(n_threads) as nt:
        _conv_kernel_f(src, out, xb, xw, yb, yw, plan, nt, out.dtype == np.uint16)


def nearest(src, out, xi, yi, n_threads):
    with numba_threads(n_threads):
        _nearest_kernel(src, out, xi, yi)


def _hi(dtype):
    return 255 if dtype == np.uint8 else 65535


def area_fast(src, out, kx, ky, addhalf, n_threads):
    with numba_threads(n_threads) as nt:
        _area_fast_kernel(src, out, kx, ky, bool(addhalf), out.dtype.kind == "u", _hi(out.dtype),
                          nt)


def area_table(src, out, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    wt = np.float64 if out.dtype == np.float64 else np.float32
    with numba_threads(n_threads) as nt:
        _area_tab_kernel(src, out, xofs, xsrc, xal, yofs, ysrc, yal, wt,
                         out.dtype.kind == "u", _hi(out.dtype), nt)
