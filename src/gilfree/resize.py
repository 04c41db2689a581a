"""Image resizing, one image or a batch, GIL-free.

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
The output never depends on the engine's thread count.

Shapes, not sizes
    The output is given as ``shape=(rows, cols)``, NumPy's (and
    scikit-image's) order: ``resize(img, (240, 320))`` returns an array of
    shape ``(240, 320[, C])``.  Pillow's ``Image.resize(size)`` and
    ``cv2.resize(src, dsize)`` take ``(width, height)``: port
    ``im.resize((w, h))`` as ``resize(a, (h, w))``.  The former keyword
    ``size=`` (also ``(height, width)``) is a deprecated alias.

Methods from Pillow and OpenCV
    ``method`` is one of the strings above, or a member of Pillow's
    ``PIL.Image.Resampling`` enum (recognised by its class, without
    importing Pillow).  A bare int is refused: Pillow's legacy constants
    (``Image.BICUBIC == 3``) and OpenCV's (``cv2.INTER_AREA == 3``) are
    plain ints that collide, so an int could silently mean the wrong
    filter.  Convert them with :func:`pillow_method` or :func:`cv2_method`.
    The default is ``"bicubic"``, Pillow's default for ``Image.resize``.

Empty images
    An image with no rows or no columns resizes to an image of zeros of the
    requested shape, as Pillow returns a black image (OpenCV refuses it).
    An empty batch (N = 0) gives an empty batch.

The compiled engines work on whole batches: ``resize_batch`` runs its
images in parallel when there are at least as many images as threads, and
the rows of each image in parallel otherwise.  The tap tables are computed
once per call (and cached per size pair and method).
"""

import functools

import numpy as np

from . import _config
from . import _resize_plan as plan
from ._validation import as_typed_array, check_out, check_shape, describe, renamed_argument

__all__ = ["METHODS", "cv2_method", "pillow_method", "resize", "resize_batch"]

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
#: The default method: Pillow's default for ``Image.resize``.
DEFAULT_METHOD = "bicubic"

#: Pillow's resampling filters (``PIL.Image.Resampling``, and the legacy
#: module constants ``Image.NEAREST`` ...), value -> (name, gilfree method or
#: None, nearest gilfree method, why there is no equivalent).
PILLOW_FILTERS = {
    0: ("NEAREST", "nearest", None, None),
    1: ("LANCZOS", "lanczos", None, None),
    2: ("BILINEAR", "bilinear", None, None),
    3: ("BICUBIC", "bicubic", None, None),
    4: ("BOX", "box", None, None),
    5: ("HAMMING", "hamming", None, None),
    6: ("MKS2013", None, "lanczos", "Magic Kernel Sharp 2013 is not implemented"),
    7: ("MKS2021", None, "lanczos", "Magic Kernel Sharp 2021 is not implemented"),
}

#: OpenCV's interpolation flags (``cv2.INTER_*``), value -> (name, gilfree
#: method or None, nearest gilfree method, why there is no equivalent).
CV2_FLAGS = {
    0: ("INTER_NEAREST", None, "nearest",
        "OpenCV's INTER_NEAREST samples floor(i * scale), without the half-pixel "
        "offset; gilfree's 'nearest' is Pillow's NEAREST, which samples the pixel "
        "centres like cv2.INTER_NEAREST_EXACT"),
    1: ("INTER_LINEAR", None, "bilinear",
        "OpenCV's INTER_LINEAR uses 2 taps whatever the scale (no antialiasing when "
        "shrinking) and 11-bit fixed point weights; gilfree's 'bilinear' is Pillow's, "
        "whose filter widens with the reduction"),
    2: ("INTER_CUBIC", None, "bicubic",
        "OpenCV's INTER_CUBIC is the a = -0.75 cubic on 4 taps without antialiasing; "
        "gilfree's 'bicubic' is Pillow's a = -0.5 cubic, widened when shrinking"),
    3: ("INTER_AREA", "area", None, None),
    4: ("INTER_LANCZOS4", None, "lanczos",
        "OpenCV's INTER_LANCZOS4 is an 8-tap (a = 4) Lanczos without antialiasing; "
        "gilfree's 'lanczos' is Pillow's a = 3 Lanczos, widened when shrinking"),
    5: ("INTER_LINEAR_EXACT", None, "bilinear",
        "OpenCV's INTER_LINEAR_EXACT is its bit-exact 2-tap bilinear without "
        "antialiasing; gilfree's 'bilinear' is Pillow's"),
    6: ("INTER_NEAREST_EXACT", "nearest", None, None),
}


def _int_code(code, name):
    if isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
        raise TypeError(f"{name} must be an int constant; got {describe(code)}")
    return int(code)


def pillow_method(code):
    """The gilfree ``method`` of a Pillow resampling filter.

    Parameters
    ----------
    code : int or PIL.Image.Resampling
        ``Image.Resampling.BICUBIC``, or a legacy constant such as
        ``Image.BICUBIC`` (a plain int in Pillow >= 10.1) or its value 3.

    Returns
    -------
    str
        ``"nearest"`` (NEAREST = 0), ``"lanczos"`` (LANCZOS = 1),
        ``"bilinear"`` (2), ``"bicubic"`` (3), ``"box"`` (4) or
        ``"hamming"`` (5): the same filter, bit-exact for uint8.

    Raises
    ------
    ValueError
        For a filter gilfree does not implement (MKS2013 = 6,
        MKS2021 = 7), naming it and the nearest supported method, and for
        values Pillow does not define.

    Examples
    --------
    >>> import gilfree
    >>> gilfree.pillow_method(3)   # PIL.Image.BICUBIC
    'bicubic'
    """
    return _method_in(PILLOW_FILTERS, _int_code(code, "code"),
                      "a Pillow resampling filter; Pillow's are",
                      "Pillow's Resampling.{name} ({value}) has no gilfree equivalent ({why}); "
                      "the nearest supported method is {nearest!r}")


def _method_in(table, value, what, unsupported):
    """``table[value]``'s gilfree method (a table of ``code: (name, method,
    nearest method, why not)``); ValueError for a code not in the table
    (``what`` names the table) or one gilfree lacks (``unsupported``, a
    format string of name, value, why and nearest)."""
    if value not in table:
        raise ValueError(f"code={value} is not {what} "
                         + ", ".join(f"{v[0]} = {k}" for k, v in table.items()))
    name, method, nearest, why = table[value]
    if method is None:
        raise ValueError(unsupported.format(name=name, value=value, why=why, nearest=nearest))
    return method


def cv2_method(code):
    """The gilfree ``method`` of an OpenCV interpolation flag.

    Parameters
    ----------
    code : int or str
        An ``cv2.INTER_*`` constant (a plain int: ``cv2.INTER_AREA == 3``)
        or its name (``"INTER_AREA"``, also ``"cv2.INTER_AREA"``).

    Returns
    -------
    str
        ``"area"`` for ``INTER_AREA`` (3; downscaling only, as OpenCV's
        average of covered pixels) and ``"nearest"`` for
        ``INTER_NEAREST_EXACT`` (6; the pixel-centre nearest neighbour,
        which is Pillow's NEAREST).

    Raises
    ------
    ValueError
        For the flags gilfree has no equivalent of (``INTER_NEAREST``,
        ``INTER_LINEAR``, ``INTER_CUBIC``, ``INTER_LANCZOS4``,
        ``INTER_LINEAR_EXACT``): the message names the flag, how it differs
        and the nearest supported method.  Unknown values too.

    Examples
    --------
    >>> import gilfree
    >>> gilfree.cv2_method(3)      # cv2.INTER_AREA
    'area'
    """
    if isinstance(code, str):
        key = code.strip()
        key = key[4:] if key.startswith("cv2.") else key
        by_name = {v[0]: k for k, v in CV2_FLAGS.items()}
        if key not in by_name:
            raise ValueError(
                f"code={code!r} is not an OpenCV interpolation flag; expected one of "
                + ", ".join(f"{v[0]!r}" for v in CV2_FLAGS.values())
            )
        value = by_name[key]
    else:
        value = _int_code(code, "code")
    return _method_in(CV2_FLAGS, value, "an OpenCV interpolation flag; OpenCV's are",
                      "cv2.{name} ({value}) has no gilfree equivalent: {why}. "
                      "The nearest supported method is {nearest!r}")


def _pillow_member(method):
    """The Pillow filter value of a ``PIL.Image.Resampling`` member, else
    None (recognised by its class, so Pillow is never imported)."""
    cls = type(method)
    if (cls.__name__ == "Resampling" and cls.__module__ == "PIL.Image"
            and isinstance(method, int)):
        return int(method)
    return None


def normalize_method(method, name="method"):
    """``method`` as one of :data:`METHODS`: a method string, or a Pillow
    ``Image.Resampling`` member.  Bare ints are ambiguous and refused."""
    if isinstance(method, str):
        if method in METHODS:
            return method
        hint = ""
        low = method.strip().lower()
        if low in METHODS:
            hint = f" (names are lower case: {low!r})"
        elif method.strip().startswith(("INTER_", "cv2.INTER_")):
            hint = f" (an OpenCV flag name: convert it with gilfree.cv2_method({method!r}))"
        elif low in ("linear", "cubic", "lanczos4", "antialias"):
            hint = {"linear": " (did you mean 'bilinear'?)", "cubic": " (did you mean 'bicubic'?)",
                    "lanczos4": " (gilfree's 'lanczos' is Pillow's 3-lobe LANCZOS)",
                    "antialias": " (Pillow's old ANTIALIAS is 'lanczos')"}[low]
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, METHODS))}; got {method!r}{hint}"
        )
    value = _pillow_member(method)
    if value is not None:
        return pillow_method(value)
    if isinstance(method, (int, np.integer)) and not isinstance(method, (bool, np.bool_)):
        v = int(method)
        pil = PILLOW_FILTERS.get(v)
        cv = CV2_FLAGS.get(v)
        meaning = []
        if pil:
            meaning.append(f"Pillow's {pil[0]}")
        if cv:
            meaning.append(f"OpenCV's {cv[0]}")
        raise ValueError(
            f"{name}={v} is a bare int, which gilfree does not guess: "
            + (f"{v} is {' and '.join(meaning)}. " if meaning else "")
            + "Pass a method name ("
            + (f"{pil[1]!r}, " if pil and pil[1] else "")
            + f"one of {', '.join(map(repr, METHODS))}), a PIL.Image.Resampling member, "
            f"gilfree.pillow_method({v}) for a Pillow constant or gilfree.cv2_method({v}) "
            "for an OpenCV one"
        )
    raise TypeError(
        f"{name} must be a method name, one of {', '.join(map(repr, METHODS))}, or a "
        f"PIL.Image.Resampling member; got {describe(method)}"
    )
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
    return arr, np.ascontiguousarray(arr4)


def _run(src, shape, method, engine, n_threads, out=None):
    """Resize the 4-D C-contiguous batch ``src`` to ``shape``; returns 4-D
    (``out``, a checked 4-D view of the caller's buffer, when given)."""
    N, H, W, C = src.shape
    oh, ow = shape
    empty = H == 0 or W == 0
    if method == "area" and (oh > H or ow > W) and not empty:
        raise ValueError(
            f"method='area' only shrinks images (OpenCV's INTER_AREA averages the input pixels "
            f"each output pixel covers); shape={shape} enlarges the input of shape {(H, W)}. "
            "Use method='bilinear', 'bicubic' or 'lanczos' to enlarge (or 'nearest')."
        )
    _, mod, nt = _config.select("resize", engine, n_threads)
    if out is None:
        out = np.empty((N, oh, ow, C), dtype=src.dtype)
    if empty or N == 0:
        out[...] = 0  # Pillow: an image without pixels resizes to a black image
    elif (oh, ow) == (H, W):
        np.copyto(out, src)
    elif method == "nearest":
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
        u8 = src.dtype == np.uint8  # fixed point weights (int32), else float64
        none = (_NO_TAPS_B, _NO_TAPS_I if u8 else _NO_TAPS_F)
        pad = _config.RESIZE_TAP_PAD if u8 else 1
        xb, xk = _pillow_axis(W, ow, method, u8, pad) if hpass else none
        yb, yk = _pillow_axis(H, oh, method, u8, 1) if vpass else none
        conv = mod.conv_u8 if u8 else mod.conv_float
        conv(src, out, xb, xk, yb, yk, int(hpass), int(vpass), vfirst, nt)
    return out


def _shape_of(func, shape, size):
    """The output shape of ``func`` from ``shape`` or its deprecated alias
    ``size`` (warned at the caller's caller: the user's line)."""
    if size is not None:
        order = ""
        try:
            h, w = check_shape(size, "size")
            order = (f" (gilfree's size was already (height, width) = ({h}, {w}); Pillow's and "
                     f"OpenCV's (width, height) size ({w}, {h}) is shape=({h}, {w}))")
        except (TypeError, ValueError):
            pass
        shape = renamed_argument(func, "size", "shape", size, shape, note=order, stacklevel=4)
    if shape is None:
        raise TypeError(f"{func}() missing the output shape: pass shape=(rows, cols)")
    return check_shape(shape, "shape")


def resize(image, shape=None, method=DEFAULT_METHOD, *, size=None, engine="auto",
           n_threads=None):
    """Resize one image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64; C in 1..4 channels.  An image
        with no rows or columns gives zeros (Pillow's black image).
    shape : (int, int)
        Output ``(rows, cols)``, i.e. ``(height, width)``, both >= 1: NumPy
        order, the reverse of Pillow's and OpenCV's ``(width, height)``
        size.  Also the second positional argument.
    method : str or PIL.Image.Resampling, default "bicubic"
        ``"nearest"``, ``"box"``, ``"bilinear"``, ``"hamming"``,
        ``"bicubic"``, ``"lanczos"``: Pillow's filter of that name (a
        ``PIL.Image.Resampling`` member is accepted too); ``"area"``:
        OpenCV's INTER_AREA (downscaling only).  The default is Pillow's
        default.  Ints are refused as ambiguous: see :func:`pillow_method`
        and :func:`cv2_method`.  The module documentation says how exact
        each one is.
    size : (int, int), optional
        Deprecated alias of ``shape`` (same ``(height, width)`` order);
        raises a FutureWarning.
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.
    n_threads : int, optional
        Threads for the compiled engines (None: the default, see
        :func:`gilfree.threads`).  Never changes the result.

    Returns
    -------
    ndarray, shape (rows, cols) or (rows, cols, C), the image's dtype

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    >>> gilfree.resize(img, (240, 320)).shape       # Pillow: im.resize((320, 240))
    (240, 320, 3)
    """
    shape = _shape_of("gilfree.resize", shape, size)
    method = normalize_method(method)
    arr, src = _prepare(image, "image", batch=False)
    out = _run(src, shape, method, engine, n_threads)
    return out[0] if arr.ndim == 3 else out[0, :, :, 0]


def resize_batch(images, shape=None, method=DEFAULT_METHOD, *, size=None, out=None,
                 engine="auto", n_threads=None):
    """Resize a stack of images of one shape to another shape, in one call.

    Parameters
    ----------
    images : array_like, shape (N, H, W) or (N, H, W, C)
        uint8, uint16, float32 or float64; C in 1..4.  (A list of images of
        different shapes: call :func:`resize` per image, e.g. on threads.)
    shape : (int, int)
        Output ``(rows, cols)`` of every image (NumPy order, as for
        :func:`resize`).
    method
        As for :func:`resize` (default ``"bicubic"``, Pillow's).
    size : (int, int), optional
        Deprecated alias of ``shape``; raises a FutureWarning.
    out : ndarray, optional
        Where to write the result: shape (N, rows, cols[, C]) as returned,
        the input dtype, C-contiguous, writeable, not overlapping
        ``images``; returned.  Reusing one buffer across batches saves the
        page faults of a fresh output per call.
    engine, n_threads
        As for :func:`resize`.  The compiled engines run the images in
        parallel when there are at least ``n_threads`` of them, else the
        rows of each image.

    Returns
    -------
    ndarray, shape (N, rows, cols) or (N, rows, cols, C), the input dtype
    """
    shape = _shape_of("gilfree.resize_batch", shape, size)
    method = normalize_method(method)
    arr, src = _prepare(images, "images", batch=True)
    dst = None
    if out is not None:
        full = src.shape[:1] + tuple(shape) + src.shape[3:]
        dst = check_out(out, full if arr.ndim == 4 else full[:3], src.dtype).reshape(full)
    res = _run(src, shape, method, engine, n_threads, dst)
    if out is not None:
        return out
    return res if arr.ndim == 4 else res[..., 0]
