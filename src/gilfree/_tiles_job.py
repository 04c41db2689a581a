"""Planning a tiling call: the checks of :func:`gilfree.tiles` and what
follows from them alone -- tile grid, foreground and keep rules, the patch
recipe (resize tables) and the bands the image is read in.  Running the
plan with an engine is :mod:`gilfree.tiles`' part."""

import math
import numbers

import numpy as np

from . import _config
from . import _resize_plan as rplan
from . import _tiles_plan as tp
from .resize import METHODS as _METHODS
from .resize import _area_axis, _nearest_axis, _pillow_axis, normalize_method
from ._validation import as_typed_array, check_shape, describe

DTYPES = (np.uint8, np.uint16, np.float32, np.float64)

_DTYPE_HINT = (
    "slides are tiled as uint8, uint16, float32 or float64; convert first, e.g. "
    "image.astype(np.float32)"
)


def _check_size(value, name):
    """A tile size or stride: an int or a pair (height, width) of them, >= 1."""
    return check_shape(value, name, allow_int=True, labels=("height", "width"),
                       hint="a positive int or a pair (height, width) of them",
                       length_error=TypeError)


def _real(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {describe(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return v


def _check_threshold(threshold, dtype):
    t = _real(threshold, "threshold")
    lo, hi = (0.0, 1.0) if dtype.kind == "f" else (0, int(np.iinfo(dtype).max) + 1)
    if not lo <= t <= hi:
        if dtype.kind == "f":
            raise ValueError(
                f"threshold must be in [0, 1] for a {dtype} image (float images are taken to "
                f"be scaled to [0, 1]); got {threshold!r}. Scale the image (e.g. image / 255) "
                "or the threshold, or pass a boolean mask instead"
            )
        raise ValueError(
            f"threshold must be in [{lo}, {hi}] for a {dtype} image (luma < threshold is "
            f"foreground); got {threshold!r}"
        )
    return threshold


def _check_pad(pad, dtype, C):
    """The fill value per channel as a (C,) array of the image's dtype."""
    try:
        p = np.asarray(pad)
    except (TypeError, ValueError):
        p = np.asarray(None, dtype=object)
    if p.dtype.kind not in "iuf":
        raise TypeError(
            f"pad must be None (drop border tiles), a number or one number per channel; "
            f"got {describe(pad)}"
        )
    if p.ndim == 0:
        p = np.repeat(p, C)
    elif p.shape != (C,):
        raise ValueError(
            f"pad must be one fill value or one per channel ({C}); got shape {p.shape}"
        )
    if dtype.kind == "u":
        info = np.iinfo(dtype)
        for v in p.tolist():
            if not (float(v).is_integer() and info.min <= v <= info.max):
                raise ValueError(
                    f"pad must be an integer in [{info.min}, {info.max}] for a {dtype} image; "
                    f"got {v!r}"
                )
    return np.ascontiguousarray(p.astype(dtype))


_NO_TAPS_B = np.zeros((1, 2), dtype=np.int32)
_NO_TAPS_I = np.zeros((1, 1), dtype=np.int32)
_NO_TAPS_F = np.zeros((1, 1), dtype=np.float64)
_NO_IDX = np.zeros(1, dtype=np.int64)
_NO_OFS = np.zeros(2, dtype=np.int64)
_NO_SRC = np.zeros(1, dtype=np.int32)
_NO_AL = np.zeros(1, dtype=np.float32)
_NO_MASK = np.zeros((1, 1), dtype=np.uint8)
for _a in (_NO_TAPS_B, _NO_TAPS_I, _NO_TAPS_F, _NO_IDX, _NO_OFS, _NO_SRC, _NO_AL, _NO_MASK):
    _a.flags.writeable = False


def _resize_spec(th, tw, C, dtype, out_shape):
    """(rmode, oh, ow, geom entries, tables) turning a (th, tw) tile into a
    patch; the tables are ``gilfree.resize``'s (cached per size pair)."""
    spec = {"hp": 0, "vp": 0, "vf": 0, "kx": 0, "ky": 0, "addhalf": 0}
    xb, xki, xkf, yb, yki, ykf = (_NO_TAPS_B, _NO_TAPS_I, _NO_TAPS_F) * 2
    xi = yi = _NO_IDX
    xofs, xsrc, xal, yofs, ysrc, yal = (_NO_OFS, _NO_SRC, _NO_AL) * 2
    if out_shape is None or out_shape[0] == (th, tw):
        mode, (oh, ow) = tp.R_COPY, (th, tw)
    else:
        (oh, ow), method = out_shape
        if method == "nearest":
            mode = tp.R_NEAREST
            acc = dtype != np.uint16
            xi = _nearest_axis(tw, ow, acc)
            yi = _nearest_axis(th, oh, acc)
        elif method == "area":
            fx = rplan.area_is_integer(tw, ow)
            fy = rplan.area_is_integer(th, oh)
            if fx and fy:
                mode = tp.R_AREA_FAST
                spec.update(kx=fx, ky=fy,
                            addhalf=int(dtype.kind == "u" and fx == 2 and fy == 2 and C != 2))
            else:
                mode = tp.R_AREA_TABLE
                xofs, xsrc, xal = _area_axis(tw, ow)
                yofs, ysrc, yal = _area_axis(th, oh)
        else:
            mode = tp.R_CONV
            hp, vp = ow != tw, oh != th
            spec.update(hp=int(hp), vp=int(vp),
                        vf=int(hp and vp and rplan.pillow_vertical_first(th, tw, oh, ow)))
            if dtype == np.uint8:
                if hp:
                    xb, xki = _pillow_axis(tw, ow, method, True, _config.RESIZE_TAP_PAD)
                if vp:
                    yb, yki = _pillow_axis(th, oh, method, True, 1)
            else:
                if hp:
                    xb, xkf = _pillow_axis(tw, ow, method, False, 1)
                if vp:
                    yb, ykf = _pillow_axis(th, oh, method, False, 1)
    tables = (xb, xki, xkf, yb, yki, ykf, xi, yi, xofs, xsrc, xal, yofs, ysrc, yal)
    return mode, oh, ow, spec, tables


class TilePlan:
    """One validated tiling call: geometry, foreground rule, patch recipe,
    bands (no engine, nothing read)."""

    def __init__(self, image, size, stride, threshold, mask, min_fraction, out_shape, method,
                 pad):
        arr = as_typed_array(image, "image", DTYPES, hint=_DTYPE_HINT)
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"image must be 2-D (H, W) or 3-D (H, W, C); got {arr.ndim}-D with shape "
                f"{arr.shape}"
            )
        self.squeeze = arr.ndim == 2
        arr3 = arr[:, :, None] if self.squeeze else arr
        H, W, C = arr3.shape
        if not 1 <= C <= 4:
            raise ValueError(
                f"image must have 1 to 4 channels (the last axis: gray, gray+alpha, RGB, RGBA); "
                f"got {C} in shape {arr.shape}"
            )
        if H == 0 or W == 0:
            raise ValueError(f"image must not be empty; got shape {arr.shape}")
        self.arr, self.dtype = arr3, arr3.dtype
        self.H, self.W, self.C = H, W, C
        th, tw = _check_size(size, "size")
        sh, sw = (th, tw) if stride is None else _check_size(stride, "stride")
        self.th, self.tw, self.sh, self.sw = th, tw, sh, sw
        self.padded = pad is not None
        if not self.padded and (th > H or tw > W):
            raise ValueError(
                f"size {(th, tw)} is larger than the image ({H}, {W}): no whole tile fits. "
                "Pass a smaller size, or pad=<fill value> to keep padded border tiles"
            )
        self.padval = _check_pad(pad, self.dtype, C) if self.padded else np.zeros(C, self.dtype)

        # foreground rule
        self.mask8 = None
        thr_i, thr_f = 0, 0.0
        if mask is not None:
            if threshold is not None:
                raise ValueError(
                    "give either threshold (luma < threshold is foreground) or mask, not both"
                )
            m = np.asarray(mask)
            if m.dtype != np.bool_:
                raise TypeError(
                    f"mask must be a boolean array of shape ({H}, {W}); got dtype {m.dtype} "
                    "(use e.g. mask > 0 or mask.astype(bool))"
                )
            if m.shape != (H, W):
                raise ValueError(
                    f"mask must have the image's shape ({H}, {W}); got shape {m.shape}"
                )
            self.mask8 = m.view(np.uint8)
            self.fg, pad_fg = tp.FG_MASK, 0
        elif threshold is not None:
            t = _check_threshold(threshold, self.dtype)
            self.fg = tp.FG_LUMA
            if self.dtype.kind == "u":
                ti = math.ceil(t)  # integer luma: luma < t  <=>  luma < ceil(t)
                thr_i = 65536 * ti - 32768 if C >= 3 else ti
            else:
                thr_f = 65536.0 * float(t) if C >= 3 else float(t)
            pad_fg = int(tp.foreground(self.padval[None, :], self.fg, thr_i, thr_f)[0])
        else:
            self.fg, pad_fg = tp.FG_ALL, 1
        self.thr_f = thr_f

        # keep rule: fraction = count / npix >= min_fraction  <=>  count >= min_count
        mf = _real(min_fraction, "min_fraction")
        if not 0.0 <= mf <= 1.0:
            raise ValueError(f"min_fraction must be in [0, 1]; got {min_fraction!r}")
        self.npix = npix = th * tw
        c = min(max(math.ceil(mf * npix), 0), npix)
        while c > 0 and (c - 1) / npix >= mf:
            c -= 1
        while c < npix and c / npix < mf:
            c += 1
        self.min_count = 0 if self.fg == tp.FG_ALL else c

        # patch recipe
        if out_shape is None:
            if method is not None:
                normalize_method(method)
            recipe = None
        else:
            osz = check_shape(out_shape, "out_shape", allow_int=True)
            if method is None:
                raise ValueError(
                    f"out_shape needs a resampling method, one of "
                    f"{', '.join(map(repr, _METHODS))}; got method=None"
                )
            method = normalize_method(method)
            if method == "area" and (osz[0] > th or osz[1] > tw):
                raise ValueError(
                    f"method='area' only shrinks (OpenCV's INTER_AREA); out_shape={osz} "
                    f"enlarges the tile {(th, tw)}. Use 'bilinear', 'bicubic', 'lanczos' or "
                    "'nearest' to enlarge"
                )
            recipe = (osz, method)
        rmode, oh, ow, rs, self.tables = _resize_spec(th, tw, C, self.dtype, recipe)
        self.rmode, self.oh, self.ow = rmode, oh, ow
        g = np.zeros(tp.G_LEN, dtype=np.int64)
        g[tp.G_TH], g[tp.G_TW], g[tp.G_FG] = th, tw, self.fg
        g[tp.G_THR], g[tp.G_PADFG] = thr_i, pad_fg
        g[tp.G_MINCOUNT], g[tp.G_MEASURE], g[tp.G_RMODE] = self.min_count, 1, rmode
        g[tp.G_HPASS], g[tp.G_VPASS], g[tp.G_VFIRST] = rs["hp"], rs["vp"], rs["vf"]
        g[tp.G_KX], g[tp.G_KY], g[tp.G_ADDHALF] = rs["kx"], rs["ky"], rs["addhalf"]
        g[tp.G_OH], g[tp.G_OW] = oh, ow
        self.geom = g

        # grid and bands
        self.rows = tp.origins(H, th, sh, self.padded)
        self.cols = tp.origins(W, tw, sw, self.padded)
        self.n_grid = len(self.rows) * len(self.cols)
        self._ys = self._xs = None

    # ---------------------------------------------------------------- bands

    def bands(self, staged):
        """Tile-row ranges (i0, i1) of about TILES_BAND_BYTES each, counting
        the image rows a band spans and ``staged`` patch slots per tile."""
        n_r, n_c = len(self.rows), len(self.cols)
        rowbytes = self.W * (self.C * self.dtype.itemsize + (1 if self.mask8 is not None else 0))
        budget = _config.TILES_BAND_BYTES
        patch_bytes = self.oh * self.ow * self.C * self.dtype.itemsize
        per_row = self.sh * rowbytes + (n_c * patch_bytes if staged else 0)
        b = (budget - (self.th - self.sh) * rowbytes) // max(per_row, 1)
        b = int(max(1, min(n_r, b)))
        return [(i0, min(i0 + b, n_r)) for i0 in range(0, n_r, b)]

    def band(self, i0, i1):
        """The band's arrays: image rows (bh, W, C) and mask rows, C-contiguous,
        and the origins of its tiles relative to the band."""
        r_lo = int(self.rows[i0])
        r_hi = min(int(self.rows[i1 - 1]) + self.th, self.H)
        view = self.arr[r_lo:r_hi]
        band = np.ascontiguousarray(view)  # (a copy only when it is not contiguous)
        mview = None if self.mask8 is None else self.mask8[r_lo:r_hi]
        mband = _NO_MASK if mview is None else np.ascontiguousarray(mview)
        n_c = len(self.cols)
        if self._ys is None:  # the origins of every tile, row-major, computed once
            self._ys = np.repeat(self.rows, n_c)
            self._xs = np.tile(self.cols, len(self.rows))
        ys = self._ys[i0 * n_c:i1 * n_c] - r_lo
        xs = self._xs[i0 * n_c:i1 * n_c]
        return band, mband, ys, xs, (view, mview)

    def geom_for(self, measure, min_count):
        g = self.geom.copy()
        g[tp.G_MEASURE] = measure
        g[tp.G_MINCOUNT] = min_count
        return g

    def coords_of(self, flat):
        n_c = len(self.cols)
        return np.stack([self.rows[flat // n_c], self.cols[flat % n_c]], axis=1).astype(np.int64)

    def empty_patches(self, k):
        return np.empty((k, self.oh, self.ow, self.C), dtype=self.dtype)
