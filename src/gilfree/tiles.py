"""Slide tiling: cut an image into tiles, drop the background ones, copy or
resize the rest, reading the image once per band of tile rows, on every
core, with the GIL released.

Geometry
    Tile origins are ``range(0, H - th + 1, sh) x range(0, W - tw + 1, sw)``
    in row-major order.  With ``pad=<fill value>`` the grid continues while
    an origin is inside the image (``range(0, H, sh) x range(0, W, sw)``)
    and the parts of those tiles beyond the image hold the fill value.

Foreground
    A boolean ``mask`` of the image's (H, W), or ``luma < threshold`` where
    luma is the first channel of a one- or two-channel image, and for three
    or four channels (RGB, RGBA) Pillow's ``convert("L")``:
    ``(19595 R + 38470 G + 7471 B + 32768) >> 16`` for integer images,
    ``(19595 R + 38470 G + 7471 B) / 65536`` for float images.  Without
    either every pixel counts.  Padded pixels are background with a mask
    and follow the luma rule of the fill value otherwise.  ``fraction`` =
    foreground pixels / tile pixels (float64); a tile is kept iff
    ``fraction >= min_fraction``.

Patches
    ``image[r:r+th, c:c+tw]`` (padded as above), or its
    :func:`gilfree.resize` to ``out_shape`` with ``method``: the same tables
    and arithmetic, so the same numbers as ``gilfree.resize`` of the tile.

Memory
    The image is read in bands of whole tile rows (about
    ``_config.TILES_BAND_BYTES`` each); each band is processed by all
    threads and then released.  For an ``np.memmap`` (also what
    ``tifffile.memmap`` and ``np.load(..., mmap_mode="r")`` return) that is
    a shared file mapping, released means ``madvise(MADV_DONTNEED)``: the
    band's pages leave this process's resident set (the OS page cache may
    keep them; the data are untouched).  Copy-on-write memmaps are never
    advised.  The output is allocated once:

    - every tile kept (``min_fraction=0`` or no foreground rule): the
      output size is known, one pass writes it;
    - resized patches of at most ``TILES_ONE_PASS_MAX_RATIO`` of a tile's
      pixels: one fused pass (count, keep, resize per tile) into one slot
      per tile, of which only the kept ones are written (and so resident);
      the kept patches are then copied into the output, so the extra
      memory is at most the (small) output once more;
    - otherwise two passes: the first counts foreground per tile (a cheap
      pass that stops on a tile once it cannot reach ``min_fraction``), the
      output of exactly the kept count is allocated, the second reads the
      kept tiles again and writes their patches.

    :func:`iter_tiles` always makes one fused pass and holds at most one
    band and one batch.

Parallel regions
    The Cython engine runs a C-contiguous image in one OpenMP region per
    pass: tiles are handed out in row-major order and the thread that
    finishes the last tile of a band drops that band's pages, so only the
    bands in flight are resident (``_config.TILES_ONE_REGION``).  The other
    engines, non-contiguous images (e.g. ``memmap[..., :3]``, whose bands
    are copied) and :func:`iter_tiles` run one kernel call per band; the
    Cython kernel then drops the previous band's pages from one thread while
    the others start on the next.  One region per call matters on a busy
    machine: an idle OpenMP worker spin-waits between regions and, when
    cores are shared, loses its turn, so many short regions can make two
    threads slower than one.

The compiled engines (``cython``, ``numba``) release the GIL for their
whole kernel calls.  The output never depends on the engine, the thread
count or the batch size.
"""

import collections
import contextlib
import mmap

import numpy as np

from . import _config
from . import _tiles_plan as tp
from ._compat import numpy_memmap
from ._memory import address_span
from ._tiles_job import _NO_MASK, DTYPES, TilePlan  # noqa: F401 - DTYPES: tiles.DTYPES
from ._validation import check_positive_int, renamed_argument

__all__ = ["Tiles", "iter_tiles", "tiles"]

_config.register_kernel(
    "tiles",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.tiles",
        "cython": "gilfree._cy.tiles",
        "numpy": "gilfree._reference.tiles",
        "python": "gilfree._reference.tiles_python",
    },
)


class Tiles(collections.namedtuple("Tiles", ["coords", "fraction", "patches"])):
    """The kept tiles, in row-major order of their origins.

    Attributes
    ----------
    coords : ndarray, int64, shape (k, 2)
        Top-left ``(row, col)`` of each kept tile in the image.
    fraction : ndarray, float64, shape (k,)
        Foreground pixels / tile pixels of each kept tile.
    patches : ndarray, shape (k, oh, ow) or (k, oh, ow, C), the image's dtype
        The tiles, or their resized versions (``oh, ow`` = ``out_shape``).
    """

    __slots__ = ()


def _find_mapping(arr):
    """``(mmap, base address, length)`` when ``arr``'s memory is a shared
    file mapping held by an ``np.memmap``, else None."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return None
    a = arr
    while isinstance(a, np.ndarray):
        mm = numpy_memmap.file_mapping(a)
        if mm is not None:
            if getattr(a, "mode", "c") not in ("r", "r+", "w+"):
                return None  # copy-on-write: DONTNEED would drop private pages
            try:
                view = np.frombuffer(mm, dtype=np.uint8)
            except (TypeError, ValueError, BufferError):
                return None
            base = view.__array_interface__["data"][0]
            size = view.size
            del view
            return (mm, base, size) if size else None
        a = a.base
    return None


def _pages_of(lo, hi, size):
    """``(start, length)`` of the mapping's pages from offset ``lo`` (its
    page) up to ``hi``, an offset rounded to a page already or the size."""
    start = max(lo, 0) // mmap.PAGESIZE * mmap.PAGESIZE
    end = min(hi, size)
    return (start, end - start) if end > start else (0, 0)


def _page_up(offset):
    return -(-offset // mmap.PAGESIZE) * mmap.PAGESIZE


def _release(mapping, view):
    """Drop ``view``'s pages from this process's resident set."""
    if mapping is None:
        return
    _, base, size = mapping
    lo, hi = address_span(view)
    start, length = _pages_of(lo - base, _page_up(hi - base), size)
    if length:
        with contextlib.suppress(OSError, ValueError):
            mapping[0].madvise(mmap.MADV_DONTNEED, start, length)


class _Pages:
    """Releases the memmap pages of the bands already processed.

    With an engine that releases pages itself (``RELEASES_PAGES``), each
    kernel call gets the page ranges of the previous band that the current
    band does not use, and drops them from one thread while the others work
    (the release is no serial step); the last band is released here.
    Otherwise every band is released here right after its kernel call.
    """

    def __init__(self, job, mod):
        self.maps = (job.image_map, job.mask_map)
        self.in_kernel = bool(getattr(mod, "RELEASES_PAGES", False)) and any(
            m is not None for m in self.maps)
        self.pending = None

    def before(self, views):
        rel = np.zeros(4, dtype=np.int64)
        if self.pending is None:
            return rel
        for i, (m, prev, cur) in enumerate(zip(self.maps, self.pending, views)):
            if m is None or prev is None:
                continue
            _, base, size = m
            lo, hi = address_span(prev)
            clo = address_span(cur)[0]
            # the whole pages of the previous band below the current band's first page
            hi = min(_page_up(hi - base), (clo - base) // mmap.PAGESIZE * mmap.PAGESIZE)
            start, length = _pages_of(lo - base, hi, size)
            if length:
                rel[2 * i], rel[2 * i + 1] = base + start, length
        return rel

    def after(self, views):
        if self.in_kernel:
            self.pending = views
        else:
            self._release(views)

    def finish(self):
        if self.pending is not None:
            self._release(self.pending)
        self.pending = None

    def _release(self, views):
        for m, v in zip(self.maps, views):
            if v is not None:
                _release(m, v)


class _Job(TilePlan):
    """A planned tiling call run by an engine, band by band or in one
    parallel region, releasing the pages of a memmapped image."""

    def __init__(self, *args):
        super().__init__(*args)
        self.image_map = _find_mapping(self.arr)
        self.mask_map = _find_mapping(self.mask8) if self.mask8 is not None else None

    def call_patches(self, mod, nt, band, mband, ys, xs, counts, geom, out, release):
        mod.patches(band, mband, ys, xs, counts, geom, self.thr_f, release, self.padval, out,
                    *self.tables, nt)

    def call_measure(self, mod, nt, band, mband, ys, xs, counts, release):
        if self.fg == tp.FG_ALL and not release.any():
            counts.fill(self.npix)
        else:
            mod.measure(band, mband, ys, xs, counts, self.geom, self.thr_f, release, nt)

    def finish(self, flat, counts, patches):
        fraction = counts.astype(np.float64) / self.npix
        coords = self.coords_of(flat).reshape(-1, 2)
        if self.squeeze:
            patches = patches[..., 0]
        return Tiles(coords, fraction, patches)

    # ----------------------------------------------------------------- runs

    def run(self, mod, nt):
        if self.n_grid == 0:
            return self.finish(np.zeros(0, np.int64), np.zeros(0, np.int64), self.empty_patches(0))
        one_pass = self.rmode != tp.R_COPY and (
            self.oh * self.ow <= _config.TILES_ONE_PASS_MAX_RATIO * self.npix)
        if self.one_region(mod):
            return self._run_image(mod, nt, one_pass)
        if self.min_count == 0:
            return self._run_all(mod, nt)
        if one_pass:
            return self._run_one_pass(mod, nt)
        return self._run_two_pass(mod, nt)

    # ------------------------------------------- one parallel region per pass

    def one_region(self, mod):
        return (_config.TILES_ONE_REGION and hasattr(mod, "run_image")
                and self.arr.flags.c_contiguous
                and (self.mask8 is None or self.mask8.flags.c_contiguous))

    def band_tables(self, bands, listed=None):
        """``band_end`` (cumulative tile counts), ``band_release`` (page
        ranges to drop when a band is done) and ``band_left`` (tiles per
        band) for the tiles of ``bands`` listed in row-major order: every
        grid tile, or the sorted flat indices ``listed``."""
        n_c = len(self.cols)
        ends = np.array([i1 * n_c for _, i1 in bands], dtype=np.int64)
        if listed is not None:
            ends = np.searchsorted(listed, ends).astype(np.int64)
        rel = np.zeros((len(bands), 4), dtype=np.int64)
        for k, (m, arr) in enumerate(((self.image_map, self.arr), (self.mask_map, self.mask8))):
            if m is None:
                continue
            _, base, size = m
            data = arr.__array_interface__["data"][0] - base
            rowbytes = arr.strides[0]
            for b, (i0, _) in enumerate(bands):
                lo = data + int(self.rows[i0]) * rowbytes
                if b + 1 < len(bands):  # whole pages below the next band's first row
                    hi = (data + int(self.rows[bands[b + 1][0]]) * rowbytes) // mmap.PAGESIZE
                    hi *= mmap.PAGESIZE
                else:
                    hi = _page_up(data + self.H * rowbytes)
                start, length = _pages_of(lo, hi, size)
                if length:
                    rel[b, 2 * k], rel[b, 2 * k + 1] = base + start, length
        left = np.diff(ends, prepend=0)
        return ends, rel, left

    def call_image(self, mod, nt, ys, xs, counts, geom, out, tables):
        mband = self.mask8 if self.mask8 is not None else _NO_MASK
        ends, rel, left = tables
        mod.run_image(self.arr, mband, ys, xs, counts, geom, self.thr_f, ends, rel, left,
                      self.padval, out, *self.tables, nt)

    def _run_image(self, mod, nt, one_pass):
        n_c = len(self.cols)
        ys = np.repeat(self.rows, n_c)
        xs = np.tile(self.cols, len(self.rows))
        counts = np.empty(self.n_grid, np.int64)
        bands = self.bands(staged=False)
        if self.min_count == 0 or one_pass:
            # one pass: every tile kept (straight into the output), or small
            # patches into one slot per tile (only the kept slots are touched)
            slots = self.empty_patches(self.n_grid)
            self.call_image(mod, nt, ys, xs, counts, self.geom_for(1, self.min_count), slots,
                            self.band_tables(bands))
            if self.min_count == 0:
                return self.finish(np.arange(self.n_grid, dtype=np.int64), counts, slots)
            flat = np.flatnonzero(counts >= self.min_count)
            out = np.take(slots, flat, axis=0)
            del slots
            return self.finish(flat, counts[flat], out)
        # two passes: count every tile, allocate the kept ones, write them
        geom = self.geom_for(1, self.min_count)
        geom[tp.G_RMODE] = tp.R_NONE
        dummy = np.empty((1, 1, 1, self.C), dtype=self.dtype)
        self.call_image(mod, nt, ys, xs, counts, geom, dummy, self.band_tables(bands))
        flat = np.flatnonzero(counts >= self.min_count)
        out = self.empty_patches(flat.size)
        if flat.size:
            self.call_image(mod, nt, ys[flat], xs[flat], counts[flat], self.geom_for(0, 0), out,
                            self.band_tables(bands, listed=flat))
        return self.finish(flat, counts[flat], out)

    # ------------------------------------------------ one region per band

    def _run_all(self, mod, nt):
        """Every tile is kept: one pass straight into the output."""
        out = self.empty_patches(self.n_grid)
        counts = np.empty(self.n_grid, np.int64)
        n_c = len(self.cols)
        geom = self.geom_for(1, 0)
        pages = _Pages(self, mod)
        for i0, i1 in self.bands(staged=False):
            band, mband, ys, xs, views = self.band(i0, i1)
            a, b = i0 * n_c, i1 * n_c
            self.call_patches(mod, nt, band, mband, ys, xs, counts[a:b], geom, out[a:b],
                              pages.before(views))
            del band, mband
            pages.after(views)
        pages.finish()
        return self.finish(np.arange(self.n_grid, dtype=np.int64), counts, out)

    def _run_one_pass(self, mod, nt):
        """Fused: count, keep and resize per tile into the band's slots;
        the kept patches of every band are joined at the end."""
        counts = np.empty(self.n_grid, np.int64)
        n_c = len(self.cols)
        geom = self.geom_for(1, self.min_count)
        held = []  # (band slots, kept indices): only the kept slots were written
        pages = _Pages(self, mod)
        for i0, i1 in self.bands(staged=True):
            band, mband, ys, xs, views = self.band(i0, i1)
            a, b = i0 * n_c, i1 * n_c
            slots = self.empty_patches(b - a)
            self.call_patches(mod, nt, band, mband, ys, xs, counts[a:b], geom, slots,
                              pages.before(views))
            del band, mband
            pages.after(views)
            kept = np.flatnonzero(counts[a:b] >= self.min_count)
            if kept.size:
                held.append((slots, kept))
            del slots
        pages.finish()
        flat = np.flatnonzero(counts >= self.min_count)
        out = self.empty_patches(flat.size)
        pos = 0
        while held:  # one copy per kept patch; each band's slots freed once copied
            slots, kept = held.pop(0)
            np.take(slots, kept, axis=0, out=out[pos:pos + kept.size])
            pos += kept.size
            del slots
        return self.finish(flat, counts[flat], out)

    def _run_two_pass(self, mod, nt):
        """Count every tile, allocate exactly the kept patches, then read the
        bands holding kept tiles again and write their patches."""
        counts = np.empty(self.n_grid, np.int64)
        n_c = len(self.cols)
        bands = self.bands(staged=False)
        pages = _Pages(self, mod)
        for i0, i1 in bands:
            band, mband, ys, xs, views = self.band(i0, i1)
            self.call_measure(mod, nt, band, mband, ys, xs, counts[i0 * n_c:i1 * n_c],
                              pages.before(views))
            del band, mband
            pages.after(views)
        pages.finish()
        flat = np.flatnonzero(counts >= self.min_count)
        out = self.empty_patches(flat.size)
        geom = self.geom_for(0, 0)
        pos = 0
        for i0, i1 in bands:
            a, b = i0 * n_c, i1 * n_c
            lo, hi = np.searchsorted(flat, [a, b])
            if hi == lo:
                continue
            band, mband, ys, xs, views = self.band(i0, i1)
            sel = flat[lo:hi] - a
            self.call_patches(mod, nt, band, mband, ys[sel], xs[sel], counts[flat[lo:hi]],
                              geom, out[pos:pos + sel.size], pages.before(views))
            pos += sel.size
            del band, mband
            pages.after(views)
        pages.finish()
        return self.finish(flat, counts[flat], out)

    def batches(self, mod, nt, batch_size):
        """One fused pass; yields Tiles of batch_size kept tiles (the last
        one shorter)."""
        if self.n_grid == 0:
            return
        n_c = len(self.cols)
        geom = self.geom_for(1, self.min_count)
        buf = self.empty_patches(batch_size)
        bflat = np.empty(batch_size, np.int64)
        bcount = np.empty(batch_size, np.int64)
        fill = 0
        pages = _Pages(self, mod)
        try:
            for i0, i1 in self.bands(staged=True):
                band, mband, ys, xs, views = self.band(i0, i1)
                a, b = i0 * n_c, i1 * n_c
                slots = self.empty_patches(b - a)
                counts = np.empty(b - a, np.int64)
                self.call_patches(mod, nt, band, mband, ys, xs, counts, geom, slots,
                                  pages.before(views))
                del band, mband
                pages.after(views)
                kept = np.flatnonzero(counts >= self.min_count)
                at = 0
                while at < kept.size:
                    m = min(batch_size - fill, kept.size - at)
                    idx = kept[at:at + m]
                    buf[fill:fill + m] = slots[idx]
                    bflat[fill:fill + m] = idx + a
                    bcount[fill:fill + m] = counts[idx]
                    fill += m
                    at += m
                    if fill == batch_size:
                        yield self.finish(bflat, bcount, buf)
                        buf = self.empty_patches(batch_size)
                        fill = 0
                del slots
        finally:
            pages.finish()
        if fill:
            yield self.finish(bflat[:fill], bcount[:fill], buf[:fill].copy())


def _out_shape_of(func, out_shape, out_size):
    """``out_shape``, or its deprecated alias ``out_size`` (warned at the
    user's line: the caller of ``func``)."""
    return renamed_argument(func, "out_size", "out_shape", out_size, out_shape,
                            note=" (the same (height, width) order)", stacklevel=4)


def tiles(image, size, stride=None, *, threshold=None, mask=None, min_fraction=0.0,
          out_shape=None, method="area", pad=None, out_size=None, engine="auto",
          n_threads=None):
    """Cut an image into tiles, keep the foreground ones, copy or resize them.

    Parameters
    ----------
    image : array_like or np.memmap, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64; C in 1..4.  Read band by band
        (never copied whole); a memmap larger than memory is fine.
    size : int or (int, int)
        Tile ``(height, width)``.
    stride : int or (int, int), optional
        Step between tile origins (default ``size``: adjacent tiles;
        smaller overlaps, larger skips).
    threshold : number, optional
        Foreground is ``luma < threshold`` (see the module documentation
        for luma).  Integer images: in [0, max + 1]; float images: in
        [0, 1].
    mask : ndarray of bool, shape (H, W), optional
        Foreground pixels (instead of ``threshold``).
    min_fraction : float in [0, 1]
        A tile is kept iff its foreground fraction >= this.
    out_shape : int or (int, int), optional
        Resize every kept tile to this ``(rows, cols)``, i.e. ``(height,
        width)`` (NumPy order; an int: square).
    method : str or PIL.Image.Resampling
        A :func:`gilfree.resize` method for ``out_shape`` (default
        ``"area"``, OpenCV's INTER_AREA: shrinking only).
    pad : number or sequence of C numbers, optional
        Keep border tiles that leave the image, filled with this value.
        By default they are dropped.
    out_size : int or (int, int), optional
        Deprecated alias of ``out_shape`` (same order); raises a
        FutureWarning.
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.
    n_threads : int, optional
        Threads of the compiled engines (None: all usable cores).  Never
        changes the result.

    Returns
    -------
    Tiles
        ``(coords int64 (k, 2), fraction float64 (k,), patches (k, oh, ow[, C]))``,
        row-major by origin; ``patches`` has the image's dtype and no
        channel axis when the image has none.

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> img = np.full((512, 768, 3), 255, np.uint8); img[:256, :256] = 100
    >>> t = gilfree.tiles(img, 256, threshold=220, min_fraction=0.5, out_shape=64)
    >>> t.coords.tolist(), t.fraction.tolist(), t.patches.shape
    ([[0, 0]], [1.0], (1, 64, 64, 3))
    """
    out_shape = _out_shape_of("gilfree.tiles", out_shape, out_size)
    job = _Job(image, size, stride, threshold, mask, min_fraction, out_shape, method, pad)
    _, mod, nt = _config.select("tiles", engine, n_threads)
    return job.run(mod, nt)


def iter_tiles(image, size, stride=None, *, threshold=None, mask=None, min_fraction=0.0,
               out_shape=None, method="area", pad=None, batch_size=256, out_size=None,
               engine="auto", n_threads=None):
    """:func:`tiles` as a lazy stream of batches, for slides bigger than memory.

    Same parameters as :func:`tiles`, plus ``batch_size`` (int >= 1).  The
    arguments are checked at once; the image is then read band by band as
    the batches are consumed, one fused pass, holding at most one band and
    one batch.

    Yields
    ------
    Tiles
        Up to ``batch_size`` kept tiles each (the last batch may be
        shorter), in the order of :func:`tiles`: concatenating the batches
        gives exactly the result of :func:`tiles`.
    """
    out_shape = _out_shape_of("gilfree.iter_tiles", out_shape, out_size)
    job = _Job(image, size, stride, threshold, mask, min_fraction, out_shape, method, pad)
    batch_size = check_positive_int(batch_size, "batch_size")
    _, mod, nt = _config.select("tiles", engine, n_threads)
    return job.batches(mod, nt, batch_size)
