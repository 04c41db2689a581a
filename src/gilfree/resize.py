"""Image resizing, one image or a batch, GIL-free (KERNELS.md section 3).

Methods and the reference each one reproduces:

``"box"``, ``"bilinear"``, ``"hamming"``, ``"bicubic"``, ``"lanczos"``
    Pillow's convolution resampler, ``Image.fromarray(a).resize((w, h),
    filter)`` (no ``box``, no ``reducing_gap``): separable, rows first, then
    columns (columns first when the height shrinks by more than twice as
    many pixels as the width, as Pillow >= 13 does), the filter widened by
    the downscaling factor.  uint8 uses
    Pillow's 22-bit fixed point weights and rounds each pass to 8 bits:
    bit-exact with Pillow modes ``L`` and ``RGB``.  float32 matches mode
    ``F`` (float64 sums, float32 between the passes).  uint16 matches mode
    ``I;16`` (float64 sums, each pass rounded half away from zero), except
    that values above 65535 from overshooting filters saturate, where
    Pillow wraps them.  float64 is the float32 algorithm kept in float64.
``"nearest"``
    Pillow's NEAREST.
``"area"``
    OpenCV's ``cv2.resize(..., interpolation=cv2.INTER_AREA)`` for
    downscaling: the mean of the input pixels each output pixel covers,
    partial pixels weighted by overlap; OpenCV's rounding for integer dtypes
    (round half to even; its ``(sum + 2) >> 2`` for a 2x2 reduction).
    Enlarging with ``area`` is an error: OpenCV then silently switches to a
    bilinear variant.

Channels are resampled independently.  (Pillow premultiplies alpha for
``RGBA``/``LA`` images; gilfree does not, which equals Pillow's ``RGBX``.)
Sizes are ``(height, width)``.  The output never depends on the engine's
thread count.

The compiled engines work on whole batches: ``resize_batch`` runs its
images in parallel when there are at least as many images as threads, and
the rows of each image in parallel otherwise.  The tap tables are computed
once per call (and cached per size pair and method).
"""

import functools

import numpy as np

from . import _config
from . import _resize_plan as plan
from ._validation import as_typed_array, check_out, check_size, describe

__all__ = ["METHODS", "resize", "resize_batch"]

_config.register_kernel(
    "resize",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.resize",
        "cython": "gilfree._cy.resize",
        "numpy": "gilfree._reference.resize",
        "python": "gilfree._reference.resize_python",
    },
)

#: The resampling methods, in order of increasing filter width (area last).
METHODS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos", "area")
DTYPES = (np.uint8, np.uint16, np.float32, np.float64)

_DTYPE_HINT = (
    "convert first, e.g. images.astype(np.float32); bool, complex and other integer "
    "dtypes are not resampled"
)


def _readonly(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=_config.RESIZE_PLAN_CACHE)
def _pillow_axis(in_size, out_size, method, fixed_point, pad_to):
    return _readonly(
        *plan.pillow_coefficients(in_size, out_size, method, fixed_point=fixed_point, pad_to=pad_to)
    )


@functools.lru_cache(maxsize=_config.RESIZE_PLAN_CACHE)
def _nearest_axis(in_size, out_size, accumulate):
    return _readonly(plan.nearest_index(in_size, out_size, accumulate=accumulate))[0]


@functools.lru_cache(maxsize=_config.RESIZE_PLAN_CACHE)
def _area_axis(in_size, out_size):
    return _readonly(*plan.area_table(in_size, out_size))


_NO_TAPS_B = np.zeros((1, 2), dtype=np.int32)
_NO_TAPS_I = np.zeros((1, 1), dtype=np.int32)
_NO_TAPS_F = np.zeros((1, 1), dtype=np.float64)
_readonly(_NO_TAPS_B, _NO_TAPS_I, _NO_TAPS_F)


def _check_method(method):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}; got {describe(method)}"
        )


def _prepare(images, name, batch):
    arr = as_typed_array(images, name, DTYPES, hint=_DTYPE_HINT)
    if batch:
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"{name} must be 3-D (N, H, W) or 4-D (N, H, W, C); "
                f"got {arr.ndim}-D with shape {arr.shape}"
                + (" (use resize() for one image)" if arr.ndim == 2 else "")
            )
        arr4 = arr if arr.ndim == 4 else arr[..., None]
    else:
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"{name} must be 2-D (H, W) or 3-D (H, W, C); got {arr.ndim}-D with shape "
                f"{arr.shape}" + (" (use resize_batch() for a stack of images)" if arr.ndim == 4 else "")
            )
        arr4 = arr[None] if arr.ndim == 3 else arr[None, :, :, None]
    N, H, W, C = arr4.shape
    if not 1 <= C <= 4:
        raise ValueError(
            f"{name} must have 1 to 4 channels (the last axis of a colour image); "
            f"got {C} in shape {arr.shape}"
        )
    if N == 0 or H == 0 or W == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr, np.ascontiguousarray(arr4)


def _run(src, size, method, engine, n_threads, out=None):
    """Resize the 4-D C-contiguous batch ``src`` to ``size``; returns 4-D
    (``out``, a checked 4-D view of the caller's buffer, when given)."""
    N, H, W, C = src.shape
    oh, ow = size
    if method == "area" and (oh > H or ow > W):
        raise ValueError(
            f"method='area' only shrinks images (OpenCV's INTER_AREA averages the input pixels "
            f"each output pixel covers); the size {size} enlarges the input of size {(H, W)}. "
            "Use method='bilinear', 'bicubic' or 'lanczos' to enlarge (or 'nearest')."
        )
    _, mod, nt = _config.select("resize", engine, n_threads)
    if (oh, ow) == (H, W):
        if out is None:
            return src.copy()
        np.copyto(out, src)
        return out
    if out is None:
        out = np.empty((N, oh, ow, C), dtype=src.dtype)
    if method == "nearest":
        acc = src.dtype != np.uint16
        mod.nearest(src, out, _nearest_axis(W, ow, acc), _nearest_axis(H, oh, acc), nt)
    elif method == "area":
        fx = plan.area_is_integer(W, ow)
        fy = plan.area_is_integer(H, oh)
        if fx and fy:
            addhalf = src.dtype.kind == "u" and fx == 2 and fy == 2 and C != 2
            mod.area_fast(src, out, fx, fy, int(addhalf), nt)
        else:
            xofs, xsrc, xal = _area_axis(W, ow)
            yofs, ysrc, yal = _area_axis(H, oh)
            mod.area_table(src, out, xofs, xsrc, xal, yofs, ysrc, yal, nt)
    else:
        hpass = ow != W
        vpass = oh != H
        vfirst = int(hpass and vpass and plan.pillow_vertical_first(H, W, oh, ow))
        if src.dtype == np.uint8:
            xb, xk = _pillow_axis(W, ow, method, True, _config.RESIZE_TAP_PAD) if hpass else (
                _NO_TAPS_B, _NO_TAPS_I)
            yb, yk = _pillow_axis(H, oh, method, True, 1) if vpass else (_NO_TAPS_B, _NO_TAPS_I)
            mod.conv_u8(src, out, xb, xk, yb, yk, int(hpass), int(vpass), vfirst, nt)
        else:
            xb, xw = _pillow_axis(W, ow, method, False, 1) if hpass else (_NO_TAPS_B, _NO_TAPS_F)
            yb, yw = _pillow_axis(H, oh, method, False, 1) if vpass else (_NO_TAPS_B, _NO_TAPS_F)
            mod.conv_float(src, out, xb, xw, yb, yw, int(hpass), int(vpass), vfirst, nt)
    return out


def resize(image, size, method="bilinear", *, engine="auto", n_threads=None):
    """Resize one image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64; C in 1..4 channels.
    size : (int, int)
        Output ``(height, width)``, both >= 1.
    method : {"nearest", "box", "bilinear", "hamming", "bicubic", "lanczos", "area"}
        Pillow's resampler of that name, or ``"area"``: OpenCV's INTER_AREA
        (downscaling only).  See the module documentation for exactness.
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.
    n_threads : int, optional
        Threads for the compiled engines (None: all usable cores).  Never
        changes the result.

    Returns
    -------
    ndarray, shape (height, width) or (height, width, C), the image's dtype

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    >>> gilfree.resize(img, (64, 64)).shape
    (64, 64, 3)
    """
    size = check_size(size)
    _check_method(method)
    arr, src = _prepare(image, "image", batch=False)
    out = _run(src, size, method, engine, n_threads)
    return out[0] if arr.ndim == 3 else out[0, :, :, 0]


def resize_batch(images, size, method="bilinear", *, out=None, engine="auto", n_threads=None):
    """Resize a stack of images of one size to another size, in one call.

    Parameters
    ----------
    images : array_like, shape (N, H, W) or (N, H, W, C)
        uint8, uint16, float32 or float64; C in 1..4.  (A list of images of
        different sizes: call :func:`resize` per image, e.g. on threads.)
    size : (int, int)
        Output ``(height, width)``.
    method
        As for :func:`resize`.
    out : ndarray, optional
        Where to write the result: shape (N, height, width[, C]) as
        returned, the input dtype, C-contiguous, writeable, not overlapping
        ``images``; returned.  Reusing one buffer across batches saves the
        page faults of a fresh output per call.
    engine, n_threads
        As for :func:`resize`.  The compiled engines run the images in
        parallel when there are at least ``n_threads`` of them, else the
        rows of each image.

    Returns
    -------
    ndarray, shape (N, height, width) or (N, height, width, C), the input dtype
    """
    size = check_size(size)
    _check_method(method)
    arr, src = _prepare(images, "images", batch=True)
    dst = None
    if out is not None:
        shape = src.shape[:1] + tuple(size) + src.shape[3:]
        dst = check_out(out, shape if arr.ndim == 4 else shape[:3], src.dtype).reshape(shape)
    res = _run(src, size, method, engine, n_threads, dst)
    if out is not None:
        return out
    return res if arr.ndim == 4 else res[..., 0]
