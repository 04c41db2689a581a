"""Numba engine of the image resamplers (same tables, same per-row
algorithm and the same arithmetic as ext/_resize_core.pxi; its twin on
purpose: the engine contract wants both engines, and the Cython one is
compiled ahead of time).

One generic function per job: Numba specialises it per pixel type, and the
per-type differences (the accumulator, the store: clip to 8 bits, round to
16 bits, or a cast) are chosen at compile time by the small ``@overload``
helpers below, so a specialisation compiles only its own path.  The row loops
are plain functions that ``gilfree._numba.tiles`` calls for each tile, and
the parallel kernels only split the work (the loops vectorise best outside a
``prange`` body).  Compiled lazily on first call (``cache=True`` keeps the
machine code across sessions).  Threads: whole images per thread when there
are at least as many images as threads, else the rows of each image in
chunks.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .._config import NUMBA_RESIZE_BLOCK_BYTES as BLOCK_BYTES
from .._config import NUMBA_RESIZE_ROWS as ROWS
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
    rows, hrow0), then vshift, vrowlen, tmp_len, acc_len and the rows of
    a block of the horizontal pass (ROWS, or 0: row by row)."""
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
    rows = ROWS if hpass and ((ow + W) * ROWS + W * 16) * C * 8 <= BLOCK_BYTES else 0
    if hpass:
        acc_len = max(acc_len, W * C, ((ow + W) * rows + W * 16) * C if rows else 0)
    flat = [len(steps)]
    for i in range(2):
        flat.extend(steps[i] if i < len(steps) else (0, 0, 0, 0, 0))
    flat.extend([vshift, vrowlen, tmp_len, acc_len, rows])
    return np.asarray(flat, dtype=np.int64)


# Compile-time choices by pixel type (each specialisation gets its own code).

def _first(acc):
    """The start of a sum in ``acc``'s type: Pillow's rounding half for the
    22-bit fixed-point (uint8) sums, zero for the float64 ones."""


@overload(_first)
def _ov_first(acc):
    if isinstance(acc.dtype, types.Integer):
        return lambda acc: np.int32(HALF)
    return lambda acc: 0.0


def _mac(ss, px, w):
    """``ss + px * w`` as the Cython engine computes it: int32 for the
    fixed-point sums (wrapping as there), float64 otherwise."""


@overload(_mac)
def _ov_mac(ss, px, w):
    if isinstance(w, types.Integer):
        return lambda ss, px, w: np.int32(ss + np.int32(px) * w)
    return lambda ss, px, w: ss + np.float64(px) * w


def _ordered(acc):
    """True for float sums (their order is Pillow's), False for integer ones."""


@overload(_ordered)
def _ov_ordered(acc):
    flag = not isinstance(acc.dtype, types.Integer)
    return lambda acc: flag


def _put(d, i, v):
    """Store a pass's sum: uint8 drops the fixed point and clips, uint16
    rounds half away from zero (Pillow's ROUND_UP) and saturates, floats
    are cast."""


@overload(_put)
def _ov_put(d, i, v):
    if d.dtype == types.uint8:
        def put_u8(d, i, v):
            v = v >> PRECISION_BITS
            d[i] = 0 if v < 0 else (255 if v > 255 else v)
        return put_u8
    if d.dtype == types.uint16:
        def put_u16(d, i, v):
            r = np.int64(v + 0.5) if v >= 0.0 else np.int64(v - 0.5)
            d[i] = 0 if r < 0 else (65535 if r > 65535 else r)
        return put_u16

    def put(d, i, v):
        d[i] = v
    return put


def _cast(a, v):
    """``v`` in the element type of the array ``a``."""


@overload(_cast)
def _ov_cast(a, v):
    ty = a.dtype
    return lambda a, v: ty(v)


@njit(**_JIT)
def _hrow(s, so, d, do, C, W, ow, xb, xk, wide):
    """One row, horizontal pass: d[do + x*C+c] = sum_t s[so + (start+t)*C+c] * k[t].
    The row is first copied into planar ``wide`` (W*C samples of the sum's
    type), so that each output is a contiguous dot product: integer sums
    vectorise over the taps; float sums keep Pillow's order, tap by tap, so
    four outputs with as many taps are summed side by side (four independent
    chains of additions)."""
    if C == 1:
        row = s[so:so + W]
        for x in range(W):
            wide[x] = row[x]
    else:
        for c in range(C):
            for x in range(W):
                wide[c * W + x] = s[so + x * C + c]
    first = _first(wide)
    x = 0
    while x < ow:
        n = xb[x, 1]
        if _ordered(wide) and x + 4 <= ow and xb[x + 3, 1] == n and xb[x + 1, 1] == n \
                and xb[x + 2, 1] == n:
            for c in range(C):
                a0, a1 = wide[c * W + xb[x, 0]:], wide[c * W + xb[x + 1, 0]:]
                a2, a3 = wide[c * W + xb[x + 2, 0]:], wide[c * W + xb[x + 3, 0]:]
                s0 = s1 = s2 = s3 = first
                for t in range(n):
                    s0 = _mac(s0, a0[t], xk[x, t])
                    s1 = _mac(s1, a1[t], xk[x + 1, t])
                    s2 = _mac(s2, a2[t], xk[x + 2, t])
                    s3 = _mac(s3, a3[t], xk[x + 3, t])
                _put(d, do + C * x + c, s0)
                _put(d, do + C * (x + 1) + c, s1)
                _put(d, do + C * (x + 2) + c, s2)
                _put(d, do + C * (x + 3) + c, s3)
            x += 4
            continue
        k = xk[x, :n]
        for c in range(C):
            a = wide[c * W + xb[x, 0]:c * W + xb[x, 0] + n]  # views: no wraparound, vectorises
            ss = first
            for t in range(n):
                ss = _mac(ss, a[t], k[t])
            _put(d, do + C * x + c, ss)
        x += 1


def _transpose16(s, so, rl, blk):
    """The 16 rows s[so + r*rl : so + (r+1)*rl] into ``blk`` (their type),
    column by column: blk[j*16 + r] = row r's sample j."""


@overload(_transpose16)
def _ov_transpose16(s, so, rl, blk):
    # uint8 and float32 only (_hblocks): the samples of four 8-bit rows as
    # one 32-bit word (of two 32-bit rows as one 64-bit word), the words of a
    # column side by side: contiguous loads and stores, so the loop vectorises
    bits = s.dtype.bitwidth
    per = 4 if bits == 8 else 2
    u = np.uint32 if bits == 8 else np.uint64
    b_ty = np.uint8 if bits == 8 else np.uint32

    def pack(s, so, rl, blk):
        q = s[so:so + 16 * rl].view(b_ty)
        b = blk[:16 * rl].view(u)
        for j in range(rl):
            for g in range(16 // per):
                v = u(0)
                for i in range(per):
                    v |= u(q[(g * per + i) * rl + j]) << u(i * bits)
                b[j * (16 // per) + g] = v
    return pack


def _pixels(acc, s):
    """``acc``'s memory as an array of ``s``'s type."""


@overload(_pixels)
def _ov_pixels(acc, s):
    ty = s.dtype
    return lambda acc, s: acc.view(ty)


@njit(**_JIT)
def _hblock(s, so, d, do, C, W, ow, xb, xk, acc, R):
    """Horizontal pass of the R rows at s[so] (output rows at d[do]; R =
    ROWS, passed at run time so that the lane loops stay loops LLVM
    vectorises).  The rows are transposed into a block (16 at a time, then
    interleaved: blk[j*R + r] = row r's sample j), so that each tap is one
    multiply-add of a contiguous vector of R samples into R sums -- the
    probe's loop -- four taps per pass over the sums.  Each lane does the
    same operations in the same order as _hrow, so the results are the
    same."""
    rl, orl = W * C, ow * C
    sums = acc[:orl * R]
    px = _pixels(acc[orl * R:], s)
    blk, b16 = px[:rl * R], px[rl * R:rl * (R + 16)]
    m = b16.itemsize * 2  # 64-bit words of 16 samples
    bw, b16w = blk.view(np.uint64), b16.view(np.uint64)
    for g in range(R // 16):
        _transpose16(s, so + g * 16 * rl, rl, b16)
        for j in range(rl):
            for q in range(m):
                bw[(j * R // 16 + g) * m + q] = b16w[j * m + q]
    f = _first(acc)
    for x in range(ow):
        n, k = xb[x, 1], xk[x]
        for c in range(C):
            a = blk[(xb[x, 0] * C + c) * R:(xb[x, 0] * C + c + n * C) * R]
            sx = sums[(x * C + c) * R:(x * C + c + 1) * R]
            for r in range(R):
                sx[r] = f
            t, tc = 0, C * R  # four taps per pass over the sums, in tap order
            while t + 4 <= n:
                w0, w1, w2, w3 = k[t], k[t + 1], k[t + 2], k[t + 3]
                a0, a1 = a[t * tc:t * tc + R], a[(t + 1) * tc:(t + 1) * tc + R]
                a2, a3 = a[(t + 2) * tc:(t + 2) * tc + R], a[(t + 3) * tc:(t + 3) * tc + R]
                for r in range(R):
                    sx[r] = _mac(_mac(_mac(_mac(sx[r], a0[r], w0), a1[r], w1), a2[r], w2),
                                 a3[r], w3)
                t += 4
            for t in range(t, n):
                w, at = k[t], a[t * tc:t * tc + R]
                for r in range(R):
                    sx[r] = _mac(sx[r], at[r], w)
    for r in range(R):
        o = d[do + r * orl:do + (r + 1) * orl]
        for i in range(orl):
            _put(o, i, sums[i * R + r])


def _hblocks(s, so, d, do, r0, r1, C, W, ow, xb, xk, acc, R):
    """Rows r0.. of a horizontal pass by blocks of R rows (uint8 and float32
    images; other types are left to the row loop, so that the block code is
    compiled only for these two); returns the first row left."""


@overload(_hblocks)
def _ov_hblocks(s, so, d, do, r0, r1, C, W, ow, xb, xk, acc, R):
    if s.dtype not in (types.uint8, types.float32):
        return lambda s, so, d, do, r0, r1, C, W, ow, xb, xk, acc, R: r0

    def blocks(s, so, d, do, r0, r1, C, W, ow, xb, xk, acc, R):
        while R > 0 and r0 + R <= r1:
            _hblock(s, so, d, do, C, W, ow, xb, xk, acc, R)
            r0, so, do = r0 + R, so + R * W * C, do + R * ow * C
        return r0
    return blocks


@njit(**_JIT)
def _vrow(s, so, rowlen, d, do, n, k, acc):
    """One output row, vertical pass, from the n rows of ``rowlen`` samples
    at s[so]: each row weighted into the row of sums ``acc``."""
    first = _first(acc)
    for j in range(rowlen):
        acc[j] = first
    for t in range(n):
        w = k[t]
        row = s[so + t * rowlen:so + (t + 1) * rowlen]
        for j in range(rowlen):
            acc[j] = _mac(acc[j], row[j], w)
    for j in range(rowlen):
        _put(d, do + j, acc[j])


@njit(**_JIT)
def _pass(op, s, so, d, do, r, W, C, ow, rl, xb, xk, yb, yk, acc):
    if op == OP_H:
        _hrow(s, so, d, do, C, W, ow, xb, xk, acc)
    else:
        _vrow(s, so, rl, d, do, yb[r, 1], yk[r], acc)


@njit(**_JIT)
def _conv_rows(plan, step, r0, r1, img, io, tmp, out, oo, acc, W, C, ow, xb, xk, yb, yk):
    """Rows r0..r1 of step ``step`` of one image (flat, at img[io]) into
    ``out`` (at out[oo]) or ``tmp``, by the plan of ``_plan``; kept out of the
    parallel kernels so that the hot loops compile as in a plain function."""
    base = 1 + 5 * step
    op, from_tmp, to_tmp, hrow0 = plan[base], plan[base + 1], plan[base + 2], plan[base + 4]
    vshift, rl = plan[11], plan[12]
    d = tmp if to_tmp else out
    if op == OP_H and not from_tmp:
        # blocks of ROWS rows, then the rest row by row (one call site: the
        # block code is large to compile; the horizontal pass reads tmp only
        # after a vertical one, in upscales, where it is the smaller pass)
        r0 = _hblocks(img, io + (r0 + hrow0) * W * C, d, r0 * ow * C + (0 if to_tmp else oo),
                      r0, r1, C, W, ow, xb, xk, acc, plan[15])
    for r in range(r0, r1):
        if op == OP_H:
            so, do = (r + hrow0) * W * C, r * ow * C
        else:
            so, do = (yb[r, 0] - (vshift if from_tmp else 0)) * rl, r * rl
        if not to_tmp:
            do += oo
        # two explicit calls: the image may be read-only, tmp is not
        if from_tmp:
            _pass(op, tmp, so, d, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)
        else:
            _pass(op, img, so + io, d, do, r, W, C, ow, rl, xb, xk, yb, yk, acc)


@njit(parallel=True, **_JIT)
def _conv_kernel(src, out, xb, xk, yb, yk, plan, n_threads):
    N, H, W, C = src.shape
    oh, ow = out.shape[1], out.shape[2]
    img = src.reshape(-1)
    res = out.reshape(-1)
    isz = H * W * C
    osz = oh * ow * C
    nsteps = plan[0]
    # scratch allocated before the parallel loops, one row per task (an
    # allocation inside a prange body is slow here); sums in the type of the
    # weights (int32 fixed point for uint8, float64 otherwise)
    if N >= n_threads:
        tmps = np.empty((n_threads, plan[13] + 1), dtype=out.dtype)
        accs = np.empty((n_threads, plan[14]), dtype=xk.dtype)
        for th in prange(n_threads):
            for n in range(N * th // n_threads, N * (th + 1) // n_threads):
                for step in range(nsteps):
                    _conv_rows(plan, step, 0, plan[4 + 5 * step], img, n * isz, tmps[th], res,
                               n * osz, accs[th], W, C, ow, xb, xk, yb, yk)
    else:
        tmp = np.empty(plan[13] + 1, dtype=out.dtype)
        nchunks = n_threads * RESIZE_CHUNKS_PER_THREAD
        accs = np.empty((nchunks, plan[14]), dtype=xk.dtype)
        for n in range(N):
            for step in range(nsteps):
                rows = plan[4 + 5 * step]
                for ch in prange(nchunks):
                    _conv_rows(plan, step, rows * ch // nchunks, rows * (ch + 1) // nchunks, img,
                               n * isz, tmp, res, n * osz, accs[ch], W, C, ow, xb, xk, yb, yk)


@njit(**_JIT)
def _nearest_row(src, dst, i, xi, yi):
    """Row i of dst (oh, ow, C) from src (H, W, C) by the nearest indices."""
    sy, di = src[yi[i]], dst[i]
    for j in range(dst.shape[1]):
        for c in range(dst.shape[2]):
            di[j, c] = sy[xi[j], c]


@njit(parallel=True, **_JIT)
def _nearest_kernel(src, out, xi, yi):
    oh = out.shape[1]
    for t in prange(out.shape[0] * oh):
        _nearest_row(src[t // oh], out[t // oh], t % oh, xi, yi)


def _area_put(dst, i, x, c, s, kx, ky, addhalf, hi):
    """OpenCV's rounding of a block sum (as gf_area_fast_row): integer sums
    of 2 x 2 blocks add 2 and shift, other integer sums are scaled in
    float32, rounded and saturated; float sums are scaled in float64."""


@overload(_area_put)
def _ov_area_put(dst, i, x, c, s, kx, ky, addhalf, hi):
    if isinstance(s, types.Integer):
        def put_int(dst, i, x, c, s, kx, ky, addhalf, hi):
            if addhalf:
                dst[i, x, c] = (s + 2) >> 2
            else:
                v = np.rint(np.float32(s) * (np.float32(1.0) / np.float32(kx * ky)))
                dst[i, x, c] = 0 if v < 0 else (hi if v > hi else v)
        return put_int

    def put_float(dst, i, x, c, s, kx, ky, addhalf, hi):
        dst[i, x, c] = s * (1.0 / (kx * ky))
    return put_float


@njit(**_JIT)
def _area_fast_row(img, base, rl, kx, ky, dst, i, addhalf, hi, acc):
    """Row i of dst (oh, ow, C) = the ky x kx block means of the ky rows of
    ``rl`` samples at img[base] (flat): the rows summed per column first, into
    the row of sums ``acc`` (int32/int64 for integer pixels, float64 for
    floats), then kx columns per output, in that order (as gf_area_fast_row)."""
    row = img[base:base + rl]
    for j in range(rl):
        acc[j] = row[j]
    for a in range(1, ky):
        row = img[base + a * rl:base + (a + 1) * rl]
        for j in range(rl):
            acc[j] += row[j]
    C = dst.shape[2]
    s0 = _cast(acc, 0)
    for x in range(dst.shape[1]):
        for c in range(C):
            s = s0
            for b in range(kx):
                s += acc[(x * kx + b) * C + c]
            _area_put(dst, i, x, c, s, kx, ky, addhalf, hi)


@njit(parallel=True, **_JIT)
def _area_fast_kernel(src, out, kx, ky, addhalf, hi, accs):
    N, H, W, C = src.shape
    oh = out.shape[1]
    img = src.reshape(-1)
    nchunks = accs.shape[0]
    for ch in prange(nchunks):
        _area_fast_rows(img, out, N * oh * ch // nchunks, N * oh * (ch + 1) // nchunks, H * W * C,
                        W * C, kx, ky, addhalf, hi, accs[ch])


@njit(**_JIT)
def _area_fast_rows(img, out, t0, t1, isz, rl, kx, ky, addhalf, hi, acc):
    """Output rows t0..t1 of the batch ``out`` (N, oh, ow, C), counted over
    the images (flat in img, isz samples each)."""
    oh = out.shape[1]
    for t in range(t0, t1):
        n, i = t // oh, t % oh
        _area_fast_row(img, n * isz + i * ky * rl, rl, kx, ky, out[n], i, addhalf, hi, acc)


def _area_round(dst, dy, x, c, v, hi):
    """A fractional area sum stored: rounded and saturated for integer
    pixels, cast for floats."""


@overload(_area_round)
def _ov_area_round(dst, dy, x, c, v, hi):
    if isinstance(dst.dtype, types.Integer):
        def put_int(dst, dy, x, c, v, hi):
            r = np.rint(v)
            dst[dy, x, c] = 0 if r < 0 else (hi if r > hi else r)
        return put_int

    def put(dst, dy, x, c, v, hi):
        dst[dy, x, c] = v
    return put


@njit(**_JIT)
def _area_tab_row(src, dst, dy, xofs, xsrc, xa, yofs, ysrc, ya, hi, acc, buf):
    """Row dy of OpenCV's fractional INTER_AREA of src (H, W, C) into dst
    (oh, ow, C); sums in the type of the weights xa, ya (float32, float64 for
    float64 pixels), acc and buf (ow, C) scratch of that type."""
    ow, C = dst.shape[1], dst.shape[2]
    acc[:, :] = 0
    for e in range(yofs[dy], yofs[dy + 1]):
        sy = src[ysrc[e]]
        beta = ya[e]
        for x in range(ow):
            for c in range(C):
                b = _cast(xa, 0)
                for k in range(xofs[x], xofs[x + 1]):
                    b = b + _cast(xa, sy[xsrc[k], c]) * xa[k]
                buf[x, c] = b
        for x in range(ow):
            for c in range(C):
                acc[x, c] = acc[x, c] + beta * buf[x, c]
    for x in range(ow):
        for c in range(C):
            _area_round(dst, dy, x, c, acc[x, c], hi)


@njit(parallel=True, **_JIT)
def _area_tab_kernel(src, out, xofs, xsrc, xa, yofs, ysrc, ya, hi, accs, bufs):
    oh = out.shape[1]
    nchunks = accs.shape[0]
    for ch in prange(nchunks):
        for t in range(out.shape[0] * oh * ch // nchunks, out.shape[0] * oh * (ch + 1) // nchunks):
            _area_tab_row(src[t // oh], out[t // oh], t % oh, xofs, xsrc, xa, yofs, ysrc, ya, hi,
                          accs[ch], bufs[ch])


def conv_u8(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, n_threads):
    plan = _plan(*src.shape[1:], *out.shape[1:3], yb, hpass, vpass, vfirst)
    with numba_threads(n_threads) as nt:
        _conv_kernel(src, out, xb, xk, yb, yk, plan, nt)


def conv_float(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, n_threads):
    conv_u8(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, n_threads)


def nearest(src, out, xi, yi, n_threads):
    with numba_threads(n_threads):
        _nearest_kernel(src, out, xi, yi)


def _hi(dtype):
    return 255 if dtype == np.uint8 else 65535


def area_sums(dtype, kx, ky):
    """The dtype of the integer-factor area sums: int32 while it cannot
    overflow (uint8, uint16 and small blocks), int64 beyond, float64 for
    floats."""
    if dtype.kind != "u":
        return np.float64
    return np.int32 if kx * ky * _hi(dtype) < 2 ** 31 else np.int64


def area_weights(dtype, xal, yal):
    """The fractional area tables in the sums' type (float64 pixels: float64)."""
    wt = np.float64 if dtype == np.float64 else np.float32
    return xal.astype(wt, copy=False), yal.astype(wt, copy=False)


def area_fast(src, out, kx, ky, addhalf, n_threads):
    with numba_threads(n_threads) as nt:
        accs = np.empty((nt * RESIZE_CHUNKS_PER_THREAD, src.shape[2] * src.shape[3]),
                        dtype=area_sums(src.dtype, kx, ky))
        _area_fast_kernel(src, out, kx, ky, bool(addhalf), _hi(out.dtype), accs)


def area_table(src, out, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    xa, ya = area_weights(out.dtype, xal, yal)
    with numba_threads(n_threads) as nt:
        shape = (nt * RESIZE_CHUNKS_PER_THREAD, out.shape[2], out.shape[3])
        _area_tab_kernel(src, out, xofs, xsrc, xa, yofs, ysrc, ya, _hi(out.dtype),
                         np.empty(shape, xa.dtype), np.empty(shape, xa.dtype))
