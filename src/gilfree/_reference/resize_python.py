"""The pure-Python engine of the image resamplers: plain, GIL-holding loops
over pixels and taps on Python numbers (float32 steps through NumPy
scalars).  Slow; the obviously-right twin used by the tests and what a
process pool runs as the pure-Python fallback.  Same signatures and tables
as the other engines.
"""

import numpy as np

PRECISION_BITS = 22
HALF = 1 << (PRECISION_BITS - 1)


def _clip8(ss):
    v = ss >> PRECISION_BITS
    return 0 if v < 0 else (255 if v > 255 else v)


def _store(v, dtype):
    if dtype == np.uint16:
        i = int(v + 0.5) if v >= 0.0 else int(v - 0.5)
        return min(max(i, 0), 65535)
    if dtype == np.float32:
        return float(np.float32(v))
    return v


def _h(rows, xb, xk, fixed, dtype):
    """rows: list of rows, each a list of pixels, each a list of C values."""
    out = []
    for row in rows:
        orow = []
        for x in range(len(xb)):
            start, n = xb[x]
            pix = []
            for c in range(len(row[0])):
                if fixed:
                    ss = HALF
                    for t in range(n):
                        ss += row[start + t][c] * xk[x][t]
                    pix.append(_clip8(ss))
                else:
                    ss = 0.0
                    for t in range(n):
                        ss += row[start + t][c] * xk[x][t]
                    pix.append(_store(ss, dtype))
            orow.append(pix)
        out.append(orow)
    return out


def _v(rows, yb, yk, fixed, dtype):
    out = []
    W = len(rows[0])
    C = len(rows[0][0])
    for y in range(len(yb)):
        start, n = yb[y]
        orow = []
        for x in range(W):
            pix = []
            for c in range(C):
                if fixed:
                    ss = HALF
                    for t in range(n):
                        ss += rows[start + t][x][c] * yk[y][t]
                    pix.append(_clip8(ss))
                else:
                    ss = 0.0
                    for t in range(n):
                        ss += rows[start + t][x][c] * yk[y][t]
                    pix.append(_store(ss, dtype))
            orow.append(pix)
        out.append(orow)
    return out


def _conv(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, fixed):
    xb, xk, yb, yk = xb.tolist(), xk.tolist(), yb.tolist(), yk.tolist()
    for i in range(src.shape[0]):
        rows = src[i].tolist()
        if vfirst:
            rows = _h(_v(rows, yb, yk, fixed, src.dtype), xb, xk, fixed, src.dtype)
        else:
            if hpass:
                rows = _h(rows, xb, xk, fixed, src.dtype)
            if vpass:
                rows = _v(rows, yb, yk, fixed, src.dtype)
        out[i] = np.asarray(rows, dtype=out.dtype).reshape(out.shape[1:])


def conv_u8(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, n_threads):
    _conv(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, True)


def conv_float(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, n_threads):
    _conv(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, False)


def nearest(src, out, xi, yi, n_threads):
    xi, yi = xi.tolist(), yi.tolist()
    for n in range(src.shape[0]):
        img = src[n].tolist()
        rows = [[img[y][x] for x in xi] for y in yi]
        out[n] = np.asarray(rows, dtype=out.dtype).reshape(out.shape[1:])


def _saturate(v, dtype):
    """OpenCV's saturate_cast from float: round half to even, clip."""
    hi = 255 if dtype == np.uint8 else 65535
    return min(max(int(round(v)), 0), hi)


def area_fast(src, out, kx, ky, addhalf, n_threads):
    N, oh, ow, C = out.shape
    scale32 = np.float32(1.0) / np.float32(kx * ky)
    for n in range(N):
        img = src[n].tolist()
        for i in range(oh):
            for j in range(ow):
                for c in range(C):
                    s = 0
                    for a in range(ky):
                        for b in range(kx):
                            s += img[i * ky + a][j * kx + b][c]
                    if out.dtype.kind == "u":
                        if addhalf:
                            out[n, i, j, c] = (s + 2) >> 2
                        else:
                            out[n, i, j, c] = _saturate(float(np.float32(s) * scale32), out.dtype)
                    else:
                        out[n, i, j, c] = s * (1.0 / (kx * ky))


def area_table(src, out, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    wt = np.float64 if out.dtype == np.float64 else np.float32
    N, oh, ow, C = out.shape
    xofs, xsrc, yofs, ysrc = xofs.tolist(), xsrc.tolist(), yofs.tolist(), ysrc.tolist()
    xal = [wt(a) for a in xal.tolist()]
    yal = [wt(a) for a in yal.tolist()]
    for n in range(N):
        img = src[n]
        for dy in range(oh):
            acc = [[wt(0)] * C for _ in range(ow)]
            for e in range(yofs[dy], yofs[dy + 1]):
                row = img[ysrc[e]]
                beta = yal[e]
                for dx in range(ow):
                    for c in range(C):
                        b = wt(0)
                        for t in range(xofs[dx], xofs[dx + 1]):
                            b = b + wt(row[xsrc[t], c]) * xal[t]
                        acc[dx][c] = acc[dx][c] + beta * b
            for dx in range(ow):
                for c in range(C):
                    v = acc[dx][c]
                    out[n, dy, dx, c] = (
                        _saturate(float(v), out.dtype) if out.dtype.kind == "u" else v
                    )
