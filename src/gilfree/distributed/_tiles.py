"""Slide tiling on a Dask cluster: :func:`tiles` of a list of slides
(arrays, memmaps, ``.npy`` or TIFF paths), a memmap travelling as its file
and a path opened on the worker."""

import collections
import importlib
import mmap
import os

import numpy as np

from .. import _config
from .._memory import byte_span
from .._tiles_job import TilePlan as _plan_tiling
from .._validation import renamed_argument
from ..parallel._errors import add_note
from ..resize import normalize_method
from ..tiles import Tiles
from ._core import _require, _run, split_bounds

#: the module (``gilfree.tiles`` is also the name of its function), whose
#: ``tiles`` is looked up when a worker runs a part
_tiles_module = importlib.import_module("gilfree.tiles")

#: A view of a file's bytes, reopened read-only on a worker: the file's
#: path, the view's dtype, shape and strides, and the file offset of its
#: first byte (so a memmap, or any view of one, travels without its data).
_MappedView = collections.namedtuple("_MappedView",
                                     ["filename", "dtype", "shape", "strides", "offset"])

#: A slide file opened on a worker: ``kind`` is "npy" or "tiff".
_SlideFile = collections.namedtuple("_SlideFile", ["kind", "path"])

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".ome.tif", ".svs")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _mapped_view(a):
    """``a`` as a :data:`_MappedView` when its memory is a file mapped by an
    ``np.memmap`` (also what ``np.load(mmap_mode=...)`` and
    ``tifffile.memmap`` return), else None."""
    root = a
    while isinstance(root, np.ndarray):
        # the memmap np.memmap() created: its buffer is the mmap itself, its
        # ``offset`` the file offset of its first byte (views copy the
        # parent's ``offset``, so only the root's is that of its data)
        if isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap):
            break
        root = root.base
    else:
        return None
    if getattr(root, "filename", None) is None or a.size == 0:
        return None
    if root.mode in ("r+", "w+"):
        root.flush()  # the workers read the file: write out what was changed through it
    lo = a.__array_interface__["data"][0] + byte_span(a.shape, a.strides, a.itemsize)[0]
    return _MappedView(root.filename, a.dtype.str, a.shape, a.strides,
                       int(root.offset) + lo - root.__array_interface__["data"][0])


def _open_mapped(v):
    """Worker side: the view of a :data:`_MappedView`, read-only, backed by
    a memmap of just the bytes it spans."""
    dtype = np.dtype(v.dtype)
    lo, hi = byte_span(v.shape, v.strides, dtype.itemsize)
    mm = np.memmap(v.filename, dtype=np.uint8, mode="r", offset=v.offset, shape=(hi - lo,))
    return np.ndarray(v.shape, dtype, buffer=mm, offset=-lo, strides=v.strides)


def _open_tiff(path):
    import tifffile  # on the worker only

    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or tiled: not memory-mappable, read whole
        return tifffile.imread(path)


def _open_source(src, rows=None):
    """Worker side: the array a slide (or mask) source stands for, or its
    rows ``(lo, hi)``."""
    if isinstance(src, _MappedView):
        src = _open_mapped(src)
    elif isinstance(src, _SlideFile):
        src = np.load(src.path, mmap_mode="r") if src.kind == "npy" else _open_tiff(src.path)
    return src if rows is None else src[rows[0]:rows[1]]


def _file_kind(path):
    """"npy" or "tiff" by the file's suffix, else by its first bytes."""
    low = path.lower()
    if low.endswith(".npy"):
        return "npy"
    if low.endswith(_TIFF_SUFFIXES):
        return "tiff"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        head = b""
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    raise ValueError(
        f"slide path {path!r} is neither a .npy nor a TIFF file (by its suffix or first "
        "bytes); open other formats yourself and pass the array or an np.memmap"
    )


def _source(obj):
    """``(what travels to the worker, the array the client can check or
    None)`` for a slide or a mask: a path is opened on the worker (a .npy
    header is read here too, to check it); a memmap travels as a
    :data:`_MappedView`; anything else as itself."""
    if isinstance(obj, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(obj))
        kind = _file_kind(path)
        if kind == "npy":
            return _SlideFile("npy", path), np.load(path, mmap_mode="r")
        return _SlideFile("tiff", path), None
    if isinstance(obj, np.ndarray):
        view = _mapped_view(obj)
        return (obj if view is None else view), obj
    return obj, obj


def _tiles_part(part, size, stride, threshold, min_fraction, out_shape, method, pad, engine,
                n_threads):
    """Worker side: the tiles of one slide, or of one band of its tile rows.

    ``part = (slide, slide_rows, mask, mask_rows, shift, last)``: the
    sources and the rows ``(lo, hi)`` to take of each (None: all, or the
    client sent only those rows); ``shift`` is added to the tiles' row
    coordinates, and with ``last`` only tiles whose origin row is at most
    ``last`` (before the shift) are kept.
    """
    src, rows, msrc, mrows, shift, last = part
    image = _open_source(src, rows)
    mask = None if msrc is None else _open_source(msrc, mrows)
    out = _tiles_module.tiles(image, size, stride, threshold=threshold, mask=mask,
                min_fraction=min_fraction, out_shape=out_shape, method=method, pad=pad,
                engine=engine, n_threads=n_threads)
    if last is None and not shift:
        return out
    # a padded band also has origins below its own last tile row (tiles of
    # the next band, here padded): those go
    k = len(out.coords)
    if last is not None:
        k = int(np.searchsorted(out.coords[:, 0], last, side="right"))
    coords = out.coords[:k].copy()
    coords[:, 0] += shift
    return Tiles(coords, out.fraction[:k], out.patches[:k])


def _join_tiles(parts):
    if len(parts) == 1:
        return parts[0]
    return Tiles(np.concatenate([p.coords for p in parts]),
                 np.concatenate([p.fraction for p in parts]),
                 np.concatenate([p.patches for p in parts]))


def _slide_masks(mask, n):
    if isinstance(mask, (list, tuple)):
        if len(mask) != n:
            raise ValueError(
                f"mask must be one boolean array for every slide, or a list of one (or None) "
                f"per slide; got a list of {len(mask)} for {n} slides"
            )
        return list(mask)
    return [mask] * n


def _band_plan(job, weight, cap):
    """Row bands ``(r_lo, r_hi, last origin)`` of whole tile rows cutting a
    checked slide into parts of at most about ``cap`` bytes read."""
    n_r = len(job.rows)
    k = min(n_r, int(-(-weight // cap))) if cap > 0 else 1
    if k < 2:
        return None
    bounds = split_bounds(n_r, [1.0] * k)
    bands = []
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        r_lo, last = int(job.rows[i0]), int(job.rows[i1 - 1])
        bands.append((r_lo, min(last + job.th, job.H), last))
    return bands


def tiles(slides, size, stride=None, *, threshold=None, mask=None, min_fraction=0.0,
          out_shape=None, method="area", pad=None, out_size=None, engine="auto", client=None,
          n_workers=None, retries=None):
    """:func:`gilfree.tiles` of every slide of a list, on a Dask cluster.

    Returns exactly ``[gilfree.tiles(s, size, stride, ...) for s in
    slides]`` (same coordinates, fractions and patches, bit for bit), each
    slide tiled by one worker with all of its threads, or cut into bands of
    whole tile rows tiled by several.

    Parameters
    ----------
    slides : list of array_like, np.memmap, str or os.PathLike
        In-memory images (shape (H, W) or (H, W, C), uint8, uint16, float32
        or float64) go to one worker each (directly, when large).  A memmap
        (or any view of one, e.g. from ``np.load(path, mmap_mode="r")`` or
        ``tifffile.memmap``) never travels with its data: its file, dtype,
        shape, strides and offset do, and the worker maps the file
        read-only.  A path to a ``.npy`` file is opened with
        ``np.load(path, mmap_mode="r")`` on the worker, a TIFF with
        ``tifffile.memmap`` (``tifffile.imread`` when it is compressed or
        tiled).  Files must be readable at the same path on the workers
        (a shared filesystem); a copy-on-write (``mode="c"``) memmap is read
        from its file, without changes made through it.
    size, stride, threshold, min_fraction, out_shape, method, pad, engine
        As for :func:`gilfree.tiles`, the same for every slide.
    out_size : int or (int, int), optional
        Deprecated alias of ``out_shape`` (a FutureWarning).
    mask : array, list or None
        One boolean mask for every slide, or a list with one mask (array,
        memmap, ``.npy`` path, or None) per slide.
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a task lost with its worker.

    Returns
    -------
    list of Tiles
        One per slide, in order.

    Notes
    -----
    The arguments are checked on the client as :func:`gilfree.tiles`
    checks them, with the same errors, slide by slide (a TIFF slide, whose
    header is only read on a worker, is checked there).  A slide larger
    than its share of the cohort (``DISTRIBUTED_TILES_PARTS_PER_WORKER``
    parts per worker, none under ``DISTRIBUTED_TILES_MIN_PART_BYTES`` of
    image) is cut into row bands of whole tile rows: each band is tiled as
    the sub-image of its rows and its coordinates shifted back, which gives
    the same tiles, since every tile depends only on its own pixels.  The
    parts go to the workers largest first, each to the least loaded one.
    """
    out_shape = renamed_argument("gilfree.distributed.tiles", "out_size", "out_shape", out_size,
                                 out_shape,
                                 note=" (the same (height, width) order)", stacklevel=3)
    if isinstance(slides, (str, bytes, os.PathLike, np.ndarray)) or not hasattr(
            slides, "__iter__"):
        raise TypeError(
            "slides must be a list of slides (arrays, memmaps or paths); got "
            f"{type(slides).__name__} (wrap a single slide in a list: [slide])"
        )
    slides = list(slides)
    if not slides:
        return []
    masks = _slide_masks(mask, len(slides))
    try:  # a Pillow enum travels as gilfree's name (a bad one is reported below)
        method = method if method is None else normalize_method(method)
    except (TypeError, ValueError):
        pass
    kwargs = dict(size=size, stride=stride, threshold=threshold, min_fraction=min_fraction,
                  out_shape=out_shape, method=method, pad=pad, engine=engine)

    # the checks of gilfree.tiles, on the client, nothing read
    checked = []  # (slide source, mask source, job or None, weight)
    for i, (slide, m) in enumerate(zip(slides, masks)):
        src, local = _source(slide)
        msrc, mlocal = (None, None) if m is None else _source(m)
        job = None
        if local is not None and (m is None or mlocal is not None):
            try:
                job = _plan_tiling(local, size, stride, threshold, mlocal, min_fraction, out_shape,
                           method, pad)
                if engine != "auto":
                    _config.resolve_engine("tiles", engine)
            except (TypeError, ValueError) as exc:
                add_note(exc, f"gilfree.distributed.tiles: slide {i} of {len(slides)}")
                raise
            if not isinstance(local, np.ndarray):  # array_like: converted once, here
                src = job.arr[..., 0] if job.squeeze else job.arr
            if m is not None and not isinstance(mlocal, np.ndarray):
                msrc = np.asarray(m)
            weight = max(1, job.n_grid) * job.th * job.tw * job.C * job.dtype.itemsize
        elif isinstance(src, _SlideFile):  # a TIFF: its size stands for its work
            try:
                weight = os.path.getsize(src.path)
            except OSError:
                weight = 1
        else:
            weight = max(1, int(getattr(src, "nbytes", 1)))
        checked.append((src, msrc, job, weight))

    with _require().connection(client, n_workers) as (c, workers):
        total = sum(w for *_, w in checked)
        cap = max(total / (len(workers) * _config.DISTRIBUTED_TILES_PARTS_PER_WORKER),
                  _config.DISTRIBUTED_TILES_MIN_PART_BYTES)
        parts, owner, weights = [], [], []
        for i, (src, msrc, job, weight) in enumerate(checked):
            bands = _band_plan(job, weight, cap) if job is not None else None
            if bands is None:
                parts.append((src, None, msrc, None, 0, None))
                owner.append(i)
                weights.append(weight)
                continue
            for r_lo, r_hi, last in bands:
                # in memory: only the band's rows travel; files: the worker
                # takes the band's rows of its mapping
                piece = []
                for a in (src, msrc):
                    if isinstance(a, np.ndarray):
                        piece += [a[r_lo:r_hi], None]
                    else:
                        piece += [a, None if a is None else (r_lo, r_hi)]
                parts.append((*piece, r_lo, last - r_lo))
                owner.append(i)
                weights.append(weight * (r_hi - r_lo) / job.H)
        placement = _largest_first(weights, workers)
        results = _run(c, _tiles_part, parts, placement, kwargs, None, "n_threads", retries,
                       "tiles")
    per_slide = [[] for _ in slides]
    for i, res in zip(owner, results):
        per_slide[i].append(res)
    return [_join_tiles(p) for p in per_slide]


def _largest_first(weights, workers):
    """A worker address per part: parts by decreasing weight, each to the
    worker whose load per thread would be least (LPT scheduling)."""
    addrs = list(workers)
    load = {a: 0.0 for a in addrs}
    placement = [None] * len(weights)
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        a = min(addrs, key=lambda a: (load[a] + weights[i]) / workers[a])
        load[a] += weights[i]
        placement[i] = a
    return placement
