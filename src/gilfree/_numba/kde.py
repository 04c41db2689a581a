"""Numba engine of the kernel density sums (same algorithm as ext/kde.pyx).

The ``exp`` here is the same pure-arithmetic one as ``ext/_vmath.pxd``
(range reduction, polynomial, exponent from integer bits through LLVM
bitcasts), so LLVM vectorises the sample loops without SVML.  Compiled
lazily on first call (``cache=True`` keeps the machine code); importing this
module compiles nothing.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .._compat.numba_llvm import bits_f32 as _bits_f32
from .._compat.numba_llvm import bits_f64 as _bits_f64
from .._compat.numba_llvm import f32_bits as _f32_bits
from .._compat.numba_llvm import f64_bits as _f64_bits
from .._config import KDE_CHUNK, KDE_LANES, KDE_POINT_BLOCK
from ._common import numba_threads

LANES = KDE_LANES
CHUNK = KDE_CHUNK
PBLOCK = KDE_POINT_BLOCK
_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")

_TOPHAT, _EPANECHNIKOV, _LINEAR, _COSINE = 0, 1, 2, 3

# --------------------------------------------------------------------------
# bit casts and the vectorisable exp
# --------------------------------------------------------------------------


_F = np.float32
_SHIFT64 = 6755399441055744.0  # 1.5 * 2**52
_SHIFT32 = _F(12582912.0)  # 1.5 * 2**23
_LOG2E32 = _F(1.44269504)
_LN2HI32 = _F(0.693359375)
_LN2LO32 = _F(-2.12194440e-4)
_E32 = tuple(_F(v) for v in (0.0013836842, 0.008374816, 0.041668225, 0.1666642,
                              0.4999999, 1.0, 1.0))
_E32_0, _E32_1, _E32_2, _E32_3, _E32_4, _E32_5, _E32_6 = _E32
_EXPF_MIN = _F(-87.5)
_ONE32 = _F(1.0)
_HALFPI32 = _F(1.57079637)
_S32 = tuple(_F(v) for v in (1.6059044e-10, -2.5052108e-08, 2.7557319e-06, -1.9841270e-04,
                              8.3333333e-03, -1.6666667e-01, 1.0))
_S32_0, _S32_1, _S32_2, _S32_3, _S32_4, _S32_5, _S32_6 = _S32


# The coefficient literals of the double exp (ext/_vmath.pxd), as floats.
_E64 = tuple(float.fromhex(h) for h in (
    "0x1.ad60386dfbc41p-26", "0x1.28b2f27b95634p-22", "0x1.71df48513acdcp-19",
    "0x1.a01992f5f6254p-16", "0x1.a01a010f3b93bp-13", "0x1.6c16c187720ccp-10",
    "0x1.1111111130fbap-7", "0x1.555555554f3bdp-5", "0x1.55555555554a2p-3",
    "0x1.0000000000010p-1", "0x1.0p0", "0x1.0p0"))
(_E64_0, _E64_1, _E64_2, _E64_3, _E64_4, _E64_5, _E64_6, _E64_7, _E64_8, _E64_9, _E64_10,
 _E64_11) = _E64
_S64 = tuple(float.fromhex(h) for h in (
    "0x1.71b8ef6dcf572p-66", "-0x1.2f49b46814157p-57", "0x1.952c77030ad4ap-49",
    "-0x1.ae7f3e733b81fp-41", "0x1.6124613a86d09p-33", "-0x1.ae64567f544e4p-26",
    "0x1.71de3a556c734p-19", "-0x1.a01a01a01a01ap-13", "0x1.1111111111111p-7",
    "-0x1.5555555555555p-3", "0x1.0p0"))
(_S64_0, _S64_1, _S64_2, _S64_3, _S64_4, _S64_5, _S64_6, _S64_7, _S64_8, _S64_9,
 _S64_10) = _S64


@njit(inline="always", **_JIT)
def _exp64(x):
    # Horner chains here and in _sinhalfpi64 written out on purpose: a loop over
    # the coefficient tuple trips Numba's IR checks when inlined by Numba, and
    # left to LLVM ran at 0.80 of the KDE probe against 1.19 (Zen 5, 2026-12-08)
    kd = x * 1.4426950408889634 + _SHIFT64
    ki = _f64_bits(kd)
    kd = kd - _SHIFT64
    r = x - kd * 6.93147180369123816490e-01
    r = r - kd * 1.90821492927058770002e-10
    p = _E64_0
    p = p * r + _E64_1
    p = p * r + _E64_2
    p = p * r + _E64_3
    p = p * r + _E64_4
    p = p * r + _E64_5
    p = p * r + _E64_6
    p = p * r + _E64_7
    p = p * r + _E64_8
    p = p * r + _E64_9
    p = p * r + _E64_10
    p = p * r + _E64_11
    s = _bits_f64((ki + 1023) << 52)
    e = p * s
    # 0 below the normal range, by a bit mask rather than a conditional
    # expression (a branch-free select that the vectoriser keeps, and whose
    # inlined phi nodes Numba's IR checks do not warn about)
    return _bits_f64(_f64_bits(e) & -np.int64(x >= -708.7))


@njit(inline="always", **_JIT)
def _exp32(x):
    kd = x * _LOG2E32 + _SHIFT32
    ki = _f32_bits(kd)
    kd = kd - _SHIFT32
    r = x - kd * _LN2HI32
    r = r - kd * _LN2LO32
    p = _E32_0
    p = p * r + _E32_1
    p = p * r + _E32_2
    p = p * r + _E32_3
    p = p * r + _E32_4
    p = p * r + _E32_5
    p = p * r + _E32_6
    s = _bits_f32(np.int32((np.int64(ki) + 127) << 23))
    e = p * s
    return _bits_f32(np.int32(_f32_bits(e) & -np.int32(x >= _EXPF_MIN)))  # 0 below, as _exp64


@njit(inline="always", **_JIT)
def _sinhalfpi64(y):
    x = 1.5707963267948966 * y
    z = x * x
    p = _S64_0
    p = p * z + _S64_1
    p = p * z + _S64_2
    p = p * z + _S64_3
    p = p * z + _S64_4
    p = p * z + _S64_5
    p = p * z + _S64_6
    p = p * z + _S64_7
    p = p * z + _S64_8
    p = p * z + _S64_9
    p = p * z + _S64_10
    return x * p


@njit(inline="always", **_JIT)
def _sinhalfpi32(y):
    x = _HALFPI32 * y
    z = x * x
    p = _S32_0
    p = p * z + _S32_1
    p = p * z + _S32_2
    p = p * z + _S32_3
    p = p * z + _S32_4
    p = p * z + _S32_5
    p = p * z + _S32_6
    return x * p


def _vexp(x):
    """exp(x) for x <= 0 in x's precision (0 below the normal range)."""


def _vsin(y):
    """sin(pi/2 y) for y in [0, 1] in y's precision."""


@overload(_vexp, inline="always", jit_options=_JIT)
def _ov_vexp(x):
    if x == types.float32:
        return lambda x: _exp32(x)
    if x == types.float64:
        return lambda x: _exp64(x)
    return None


@overload(_vsin, inline="always", jit_options=_JIT)
def _ov_vsin(y):
    if y == types.float32:
        return lambda y: _sinhalfpi32(y)
    if y == types.float64:
        return lambda y: _sinhalfpi64(y)
    return None


# --------------------------------------------------------------------------
# exp-family kernels
#
# Numba/LLVM vectorises a loop best when it is a plain loop from 0 over
# contiguous slices (indices provably >= 0: no wrap-around selects, no
# gathers).  So each chunk of samples is done in loops of that shape: the
# distances of the chunk into a buffer, then one reduction loop per
# bandwidth.  ``reassoc`` lets LLVM split those reductions over vector lanes;
# the order is fixed by the compiled code, the same for every thread count.
# --------------------------------------------------------------------------

_JIT_SUM = dict(_JIT, fastmath={"contract", "reassoc"})


@njit(inline="always", **_JIT_SUM)
def _chunk_args(xs, q, p, sq, a, b, tb):
    """tb[:b-a] = squared distances (distances if sq) of point p to samples a..b."""
    nb = b - a
    t = tb[:nb]
    x = xs[0, a:b]
    qc = q[p, 0]
    for i in range(nb):
        v = qc - x[i]
        t[i] = v * v
    for c in range(1, xs.shape[0]):
        x = xs[c, a:b]
        qc = q[p, c]
        for i in range(nb):
            v = qc - x[i]
            t[i] = t[i] + v * v
    if sq:
        for i in range(nb):
            t[i] = np.sqrt(t[i])
    return t


@njit(inline="always", **_JIT_SUM)
def _fused(xs, w, q, p, ck, sq, a, b):
    """sum_{a <= i < b} w[i] exp(ck * arg_i) for d <= 3 in one loop per pair
    (the dimension and ``sq`` fixed per loop, so each loop vectorises)."""
    d = xs.shape[0]
    ww = w[a:b]
    nb = b - a
    x0 = xs[0, a:b]
    q0 = q[p, 0]
    s = ww[0] - ww[0]
    if d == 1:
        if sq:
            for i in range(nb):
                v0 = q0 - x0[i]
                s += ww[i] * _vexp(ck * np.sqrt(v0 * v0))
        else:
            for i in range(nb):
                v0 = q0 - x0[i]
                s += ww[i] * _vexp(ck * (v0 * v0))
        return s
    x1 = xs[1, a:b]
    q1 = q[p, 1]
    if d == 2:
        if sq:
            for i in range(nb):
                v0 = q0 - x0[i]
                v1 = q1 - x1[i]
                s += ww[i] * _vexp(ck * np.sqrt(v0 * v0 + v1 * v1))
        else:
            for i in range(nb):
                v0 = q0 - x0[i]
                v1 = q1 - x1[i]
                s += ww[i] * _vexp(ck * (v0 * v0 + v1 * v1))
        return s
    x2 = xs[2, a:b]
    q2 = q[p, 2]
    if sq:
        for i in range(nb):
            v0 = q0 - x0[i]
            v1 = q1 - x1[i]
            v2 = q2 - x2[i]
            s += ww[i] * _vexp(ck * np.sqrt(v0 * v0 + v1 * v1 + v2 * v2))
    else:
        for i in range(nb):
            v0 = q0 - x0[i]
            v1 = q1 - x1[i]
            v2 = q2 - x2[i]
            s += ww[i] * _vexp(ck * (v0 * v0 + v1 * v1 + v2 * v2))
    return s


@njit(**_JIT_SUM)
def _exp_chunk(xs, w, q, p, c, sq, a, b, tb, dst, doff):
    if c.shape[0] == 1 and xs.shape[0] <= 3:
        # one bandwidth, few dimensions: one fused loop (the C engine's shape)
        dst[doff] += np.float64(_fused(xs, w, q, p, -c[0], sq, a, b))
        return
    t = _chunk_args(xs, q, p, sq, a, b, tb)
    ww = w[a:b]
    zero = ww[0] - ww[0]
    for k in range(c.shape[0]):
        ck = -c[k]
        s = zero
        for i in range(t.shape[0]):
            s += ww[i] * _vexp(ck * t[i])
        dst[doff + k] += np.float64(s)


@njit(parallel=True, **_JIT)
def _exp_sum_kernel(xs, w, q, c, sq, out, few):
    n = xs.shape[1]
    m = q.shape[0]
    H = c.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    nblk = (m + PBLOCK - 1) // PBLOCK
    flat = out.reshape(m * H)
    flat[:] = 0.0
    if not few:
        for blk in prange(nblk):
            tb = np.empty(CHUNK, dtype=xs.dtype)
            p0 = blk * PBLOCK
            p1 = min(m, p0 + PBLOCK)
            for ch in range(nch):
                a = ch * CHUNK
                b = min(n, a + CHUNK)
                for p in range(p0, p1):
                    _exp_chunk(xs, w, q, p, c, sq, a, b, tb, flat, p * H)
    else:
        parts = np.zeros(m * nch * H, dtype=np.float64)
        for task in prange(m * nch):
            tb = np.empty(CHUNK, dtype=xs.dtype)
            p = task // nch
            ch = task % nch
            a = ch * CHUNK
            b = min(n, a + CHUNK)
            _exp_chunk(xs, w, q, p, c, sq, a, b, tb, parts, task * H)
        for p in range(m):
            for k in range(H):
                s = 0.0
                for ch in range(nch):
                    s = s + parts[(p * nch + ch) * H + k]
                flat[p * H + k] = s


@njit(**_JIT_SUM)
def _max_chunk(xs, lw, q, p, c, sq, a, b, tb, mx, moff):
    t = _chunk_args(xs, q, p, sq, a, b, tb)
    ll = lw[a:b]
    for k in range(c.shape[0]):
        ck = -c[k]
        v = mx[moff + k]
        for i in range(t.shape[0]):
            u = ll[i] + ck * t[i]
            v = u if u > v else v
        mx[moff + k] = v


@njit(**_JIT_SUM)
def _lse_chunk(xs, lw, q, p, c, sq, shift, soff, a, b, tb, dst, doff):
    t = _chunk_args(xs, q, p, sq, a, b, tb)
    ll = lw[a:b]
    zero = ll[0] - ll[0]
    for k in range(c.shape[0]):
        ck = -c[k]
        sk = shift[soff + k]
        s = zero
        for i in range(t.shape[0]):
            s += _vexp((ll[i] + ck * t[i]) - sk)
        dst[doff + k] += np.float64(s)


@njit(parallel=True, **_JIT)
def _exp_logsum_few_kernel(xs, lw, q, c, sq, out):
    """_exp_logsum_kernel for a few points: one task per (point, chunk), so
    the threads share one point's samples; bitwise the blocked result (the
    maximum is order-free, the chunks' sums are added in chunk order)."""
    n = xs.shape[1]
    m = q.shape[0]
    H = c.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    pmax = np.full(m * nch * H, -np.inf, dtype=xs.dtype)
    for task in prange(m * nch):
        tb = np.empty(CHUNK, dtype=xs.dtype)
        p = task // nch
        a = (task % nch) * CHUNK
        b = min(n, a + CHUNK)
        _max_chunk(xs, lw, q, p, c, sq, a, b, tb, pmax, task * H)
    shift = np.empty(m * H, dtype=xs.dtype)
    for p in range(m):
        for k in range(H):
            v = pmax[p * nch * H + k]
            for ch in range(1, nch):
                u = pmax[(p * nch + ch) * H + k]
                v = u if u > v else v
            shift[p * H + k] = v
    parts = np.zeros(m * nch * H, dtype=np.float64)
    for task in prange(m * nch):
        tb = np.empty(CHUNK, dtype=xs.dtype)
        p = task // nch
        a = (task % nch) * CHUNK
        b = min(n, a + CHUNK)
        _lse_chunk(xs, lw, q, p, c, sq, shift, p * H, a, b, tb, parts, task * H)
    for p in range(m):
        for k in range(H):
            s = 0.0
            for ch in range(nch):
                s = s + parts[(p * nch + ch) * H + k]
            out[p, k] = np.float64(shift[p * H + k]) + np.log(s)


@njit(parallel=True, **_JIT)
def _exp_logsum_kernel(xs, lw, q, c, sq, out):
    n = xs.shape[1]
    m = q.shape[0]
    H = c.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    nblk = (m + PBLOCK - 1) // PBLOCK
    for blk in prange(nblk):
        tb = np.empty(CHUNK, dtype=xs.dtype)
        mx = np.full(PBLOCK * H, -np.inf, dtype=xs.dtype)
        sums = np.zeros(PBLOCK * H, dtype=np.float64)
        p0 = blk * PBLOCK
        p1 = min(m, p0 + PBLOCK)
        for ch in range(nch):
            a = ch * CHUNK
            b = min(n, a + CHUNK)
            for p in range(p0, p1):
                _max_chunk(xs, lw, q, p, c, sq, a, b, tb, mx, (p - p0) * H)
        for ch in range(nch):
            a = ch * CHUNK
            b = min(n, a + CHUNK)
            for p in range(p0, p1):
                _lse_chunk(xs, lw, q, p, c, sq, mx, (p - p0) * H, a, b, tb, sums,
                           (p - p0) * H)
        for p in range(p0, p1):
            for k in range(H):
                j = (p - p0) * H + k
                out[p, k] = np.float64(mx[j]) + np.log(sums[j])


def _few_points(m, n, H, n_threads):
    nch = -(-n // CHUNK)
    nblk = -(-m // PBLOCK)
    return n_threads > 1 and nch > 1 and nblk < 4 * n_threads and m * nch * H <= (1 << 22)


def exp_sum(xs, w, q, c, sq, out, n_threads):
    if xs.shape[1] % LANES:
        raise ValueError(f"exp_sum: the sample count must be padded to a multiple of {LANES}")
    if q.shape[0] == 0 or c.shape[0] == 0 or xs.shape[1] == 0:
        out[...] = 0.0
        return
    with numba_threads(n_threads):
        _exp_sum_kernel(xs, w, q, c, bool(sq), out,
                        _few_points(q.shape[0], xs.shape[1], c.shape[0], n_threads))


def exp_logsum(xs, lw, q, c, sq, out, n_threads):
    if xs.shape[1] % LANES:
        raise ValueError(f"exp_logsum: the sample count must be padded to a multiple of {LANES}")
    if q.shape[0] == 0 or c.shape[0] == 0:
        return
    with numba_threads(n_threads):
        if _few_points(q.shape[0], xs.shape[1], c.shape[0], n_threads):
            _exp_logsum_few_kernel(xs, lw, q, c, bool(sq), out)
        else:
            _exp_logsum_kernel(xs, lw, q, c, bool(sq), out)


# --------------------------------------------------------------------------
# compact kernels with grid pruning
# --------------------------------------------------------------------------


@njit(**_JIT_SUM)
def _compact_run(xs, w, q, p, a, b, kernel, thr, inv_h, tb, rb, acc):
    """acc[k] += sum over samples a..b (b - a <= CHUNK) of their kernel terms."""
    t = _chunk_args(xs, q, p, False, a, b, tb)
    nb = t.shape[0]
    ww = w[a:b]
    r = rb[:nb]
    if kernel == _LINEAR or kernel == _COSINE:
        for i in range(nb):
            r[i] = np.sqrt(t[i])
    zero = ww[0] - ww[0]
    one = zero + 1
    for k in range(thr.shape[0]):
        tk = thr[k]
        ik = inv_h[k]
        s = zero
        if kernel == _TOPHAT:
            for i in range(nb):
                s += ww[i] if t[i] < tk else zero
        elif kernel == _EPANECHNIKOV:
            for i in range(nb):
                u = ww[i] * (one - t[i] * ik)
                s += u if t[i] < tk else zero
        elif kernel == _LINEAR:
            for i in range(nb):
                u = ww[i] * (one - r[i] * ik)
                s += u if t[i] < tk else zero
        else:
            for i in range(nb):
                u = one - r[i] * ik
                u = u if u > zero else zero
                u = ww[i] * _vsin(u)
                s += u if t[i] < tk else zero
        acc[k] += np.float64(s)


@njit(inline="always", **_JIT)
def _cell(v, o, inv_s, ncell):
    f = np.floor((v - o) * inv_s)
    if f < -1:
        return -1
    if f > ncell:
        return ncell
    return np.int64(f)


@njit(parallel=True, **_JIT)
def _compact_kernel(xs, w, cell_start, grid, ax0, ax1, nx, ny, q, thr, inv_h, kernel, out):
    m = q.shape[0]
    H = thr.shape[0]
    o0 = grid[0]
    o1 = grid[1]
    inv_s = grid[2]
    reach = grid[3]
    for p in prange(m):
        acc = np.zeros(H, dtype=np.float64)
        tb = np.empty(CHUNK, dtype=xs.dtype)
        rb = np.empty(CHUNK, dtype=xs.dtype)
        v = np.float64(q[p, ax0])
        gx0 = max(_cell(v - reach, o0, inv_s, nx), 0)
        gx1 = min(_cell(v + reach, o0, inv_s, nx), nx - 1)
        if ny > 1:
            v = np.float64(q[p, ax1])
            gy0 = max(_cell(v - reach, o1, inv_s, ny), 0)
            gy1 = min(_cell(v + reach, o1, inv_s, ny), ny - 1)
        else:
            gy0 = 0
            gy1 = 0
        if gx0 <= gx1 and gy0 <= gy1:
            for gx in range(gx0, gx1 + 1):
                a = cell_start[gx * ny + gy0]
                b = cell_start[gx * ny + gy1 + 1]
                while a < b:
                    e = min(b, a + CHUNK)
                    _compact_run(xs, w, q, p, a, e, kernel, thr, inv_h, tb, rb, acc)
                    a = e
        for k in range(H):
            out[p, k] = acc[k]


def compact_sum(xs, w, cell_start, grid, ax0, ax1, nx, ny, q, thr, inv_h, kernel, out,
                n_threads):
    if q.shape[0] == 0 or thr.shape[0] == 0:
        return
    with numba_threads(n_threads):
        _compact_kernel(xs, w, cell_start, grid, int(ax0), int(ax1), int(nx), int(ny), q,
                        thr, inv_h, int(kernel), out)
