"""NumPy engine of the image resamplers (same tables and arithmetic as
ext/resize.pyx, vectorised over pixels; the fallback and a test oracle).

Every function takes 4-D C-contiguous arrays ``src`` (N, H, W, C) and
``out`` (N, oh, ow, C) of the same dtype and the tables of
``gilfree._resize_plan``; ``n_threads`` is accepted and ignored.  Sums run
over taps in order, one tap at a time over all pixels, so floating-point
results follow the compiled engines' order.
"""

import numpy as np

PRECISION_BITS = 22


def _round_u16(acc):
    """Pillow's ROUND_UP (half away from zero) then saturation to uint16."""
    r = np.trunc(np.where(acc >= 0, acc + 0.5, acc - 0.5))
    return np.clip(r, 0, 65535).astype(np.uint16)


def _store(acc, dtype):
    if dtype == np.uint16:
        return _round_u16(acc)
    return acc.astype(dtype)


def _hpass_u8(img, xb, xk):
    """img (rows, W, C) uint8 -> (rows, ow, C) uint8, Pillow fixed point."""
    W = img.shape[1]
    acc = np.full((img.shape[0], xb.shape[0], img.shape[2]), 1 << (PRECISION_BITS - 1), np.int64)
    for t in range(xk.shape[1]):
        w = np.where(t < xb[:, 1], xk[:, t], 0).astype(np.int64)
        idx = np.minimum(xb[:, 0] + t, W - 1)
        acc += img[:, idx, :].astype(np.int64) * w[None, :, None]
    return np.clip(acc >> PRECISION_BITS, 0, 255).astype(np.uint8)


def _vpass_u8(img, yb, yk):
    """The vertical pass: the horizontal one on the transposed image."""
    return _hpass_u8(img.transpose(1, 0, 2), yb, yk).transpose(1, 0, 2)


def _hpass_f(img, xb, xw):
    acc = np.zeros((img.shape[0], xb.shape[0], img.shape[2]), np.float64)
    for t in range(xw.shape[1]):
        sel = np.flatnonzero(t < xb[:, 1])
        if sel.size == 0:
            break
        acc[:, sel, :] += img[:, xb[sel, 0] + t, :] * xw[sel, t][None, :, None]
    return _store(acc, img.dtype)


def _vpass_f(img, yb, yw):
    return _hpass_f(img.transpose(1, 0, 2), yb, yw).transpose(1, 0, 2)


def _rows_needed(yb, H, vpass):
    if not vpass:
        return 0, H
    return int(yb[0, 0]), int(yb[-1, 0] + yb[-1, 1])


def _conv(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, hfun, vfun):
    H = src.shape[1]
    if vfirst:  # Pillow >= 13 when the height shrinks much more than the width
        for i in range(src.shape[0]):
            out[i] = hfun(vfun(src[i], yb, yk), xb, xk)
        return
    r0, r1 = _rows_needed(yb, H, vpass)
    shifted = yb.copy()
    shifted[:, 0] -= r0
    for i in range(src.shape[0]):
        img = src[i, r0:r1] if hpass else src[i]
        if hpass:
            img = hfun(img, xb, xk)
        if vpass:
            img = vfun(img, shifted if hpass else yb, yk)
        out[i] = img


def conv_u8(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, n_threads):
    """Pillow's convolution resampler on uint8 (fixed point weights);
    ``vfirst``: columns first (both passes needed)."""
    _conv(src, out, xb, xk, yb, yk, hpass, vpass, vfirst, _hpass_u8, _vpass_u8)


def conv_float(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, n_threads):
    """Pillow's convolution resampler on uint16 / float32 / float64
    (float64 weights and sums; each pass stored in the image's dtype)."""
    _conv(src, out, xb, xw, yb, yw, hpass, vpass, vfirst, _hpass_f, _vpass_f)


def nearest(src, out, xi, yi, n_threads):
    """out[n, i, j] = src[n, yi[i], xi[j]]."""
    out[...] = src[:, yi][:, :, xi]


def _finish_int(acc32, out):
    """OpenCV's saturate_cast from float: round half to even, clip."""
    hi = 255 if out.dtype == np.uint8 else 65535
    out[...] = np.clip(np.rint(acc32), 0, hi).astype(out.dtype)


def area_fast(src, out, kx, ky, addhalf, n_threads):
    """Integer-factor INTER_AREA: block means of ky x kx pixels.

    Integer images: ``rint(float32(sum) * float32(1 / (kx*ky)))``, or
    ``(sum + 2) >> 2`` when ``addhalf`` (OpenCV's 2x2 path).  Float images:
    ``sum * (1 / (kx*ky))`` with a float64 sum.
    """
    N, oh, ow, C = out.shape
    block = src[:, : oh * ky, : ow * kx, :].reshape(N, oh, ky, ow, kx, C)
    if out.dtype.kind == "u":
        s = block.astype(np.int64).sum(axis=(2, 4))
        if addhalf:
            out[...] = (s + 2) >> 2
        else:
            scale = np.float32(1.0) / np.float32(kx * ky)
            _finish_int(s.astype(np.float32) * scale, out)
    else:
        s = np.zeros((N, oh, ow, C), np.float64)
        for a in range(ky):
            for b in range(kx):
                s += block[:, :, a, :, b, :]
        out[...] = (s * (1.0 / (kx * ky))).astype(out.dtype)


def area_table(src, out, xofs, xsrc, xal, yofs, ysrc, yal, n_threads):
    """Fractional INTER_AREA with OpenCV's overlap tables (CSR per axis):
    rows first (float32 for uint8/uint16/float32, float64 for float64),
    then the weighted sum of rows, in table order."""
    wt = np.float64 if out.dtype == np.float64 else np.float32
    N, H, W, C = src.shape
    ow = xofs.shape[0] - 1
    oh = yofs.shape[0] - 1
    xcnt = np.diff(xofs)
    ycnt = np.diff(yofs)
    xal = xal.astype(wt)
    yal = yal.astype(wt)
    hbuf = np.zeros((N, H, ow, C), wt)
    for t in range(int(xcnt.max())):
        sel = np.flatnonzero(t < xcnt)
        pos = xofs[sel] + t
        hbuf[:, :, sel, :] += src[:, :, xsrc[pos], :].astype(wt) * xal[pos][None, None, :, None]
    acc = np.zeros((N, oh, ow, C), wt)
    for t in range(int(ycnt.max())):
        sel = np.flatnonzero(t < ycnt)
        pos = yofs[sel] + t
        acc[:, sel] += yal[pos][None, :, None, None] * hbuf[:, ysrc[pos]]
    if out.dtype.kind == "u":
        _finish_int(acc, out)
    else:
        out[...] = acc.astype(out.dtype)
