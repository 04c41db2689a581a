"""The ``tiles`` workload: a synthetic whole-slide image cut into 256 x 256
tiles, background tiles dropped, the rest shrunk to 64 x 64.

The seed approach is what pathology pipelines run today: a process pool
maps a per-tile Python function that crops the tile with NumPy, computes
its foreground fraction (Pillow's luma formula, ``luma < threshold``) and,
when the tile is kept, resizes it with Pillow's ``BOX`` filter.  gilfree
does the same in one call per engine (``method="box"``: bit-exact with
Pillow), reading the slide in bands with the GIL released.

The slide: white background with a little noise, pink "tissue" blobs
covering about 30 % of it (a smooth random field thresholded at its 70th
percentile), so that tiles at the blob edges are partly foreground.
"""

import os

import numpy as np

import gilfree

from .._core import Approach, Workload, engine_approaches, register
from .._pools import split

#: Foreground threshold, minimum fraction and patch size of the workload.
THRESHOLD = 220
MIN_FRACTION = 0.5
TILE = 256
OUT = 64


def _field(shape, seed, cell=400):
    """A smooth random field on a coarse grid (one value per ``cell``
    pixels) and the level above which 30 % of it lies."""
    rng = np.random.default_rng(seed)
    h0, w0 = shape[0] // cell + 3, shape[1] // cell + 3
    f = rng.standard_normal((h0, w0))
    for _ in range(2):  # two 3x3 box blurs: blob-like, not speckle
        p = np.pad(f, 1, mode="edge")
        f = sum(p[i:i + h0, j:j + w0] for i in range(3) for j in range(3)) / 9.0
    return f, float(np.quantile(f, 0.70)), cell


def _tissue_rows(f, level, r0, r1, width, cell, step=4):
    """Tissue flags of rows r0..r1, all columns: the coarse field
    interpolated bilinearly on a grid of ``step`` pixels, thresholded, and
    repeated to full resolution (blob edges with a ``step``-pixel grain)."""
    ys = (np.arange(r0 // step, -(-r1 // step)) * step + step / 2) / cell
    i0 = np.minimum(ys.astype(np.int64), f.shape[0] - 2)
    a = (ys - i0)[:, None]
    rows = f[i0] * (1 - a) + f[i0 + 1] * a
    xs = (np.arange(-(-width // step)) * step + step / 2) / cell
    j0 = np.minimum(xs.astype(np.int64), f.shape[1] - 2)
    b = xs - j0
    coarse = rows[:, j0] * (1 - b) + rows[:, j0 + 1] * b > level
    full = np.repeat(np.repeat(coarse, step, axis=0), step, axis=1)
    off = r0 - (r0 // step) * step
    return full[off:off + r1 - r0, :width]


def synthetic_slide(shape, *, path=None, seed=0, band=512):
    """A (H, W, 3) uint8 slide: in memory, or written to ``path`` (.npy)
    and returned as a read-only ``np.memmap`` (built band by band: the
    memory used stays about one band)."""
    H, W = shape
    f, level, cell = _field(shape, seed)
    if path is None:
        out = np.empty((H, W, 3), dtype=np.uint8)
    else:
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(H, W, 3))
    tissue_rgb = np.array([205 - 12, 135 - 12, 180 - 12], dtype=np.uint8)
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 24, (band + 7, W + 11, 3), dtype=np.uint8)
    for b, r0 in enumerate(range(0, H, band)):
        r1 = min(r0 + band, H)
        dy, dx = b % 7, (b * 5) % 11  # the noise block, shifted per band
        nz = noise[dy:dy + r1 - r0, dx:dx + W]
        block = 255 - nz
        tissue = _tissue_rows(f, level, r0, r1, W, cell)
        np.add(tissue_rgb, nz, out=block, where=tissue[..., None])
        out[r0:r1] = block
    if path is None:
        return out
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


# -- the seed approach: a per-tile function on a process pool ----------------

_OPEN = {}


def _open(path, token=None):
    """The slide as a memmap, opened once per process and pass (``token``):
    a new token drops the previous mapping, as a pipeline that opens each
    slide it processes pays for mapping its pages again."""
    key = (path, token)
    arr = _OPEN.get(key)
    if arr is None:
        _OPEN.clear()
        arr = _OPEN[key] = np.load(path, mmap_mode="r")
    return arr


def seed_tile(source, r, c, size=TILE, threshold=THRESHOLD, min_fraction=MIN_FRACTION,
              out=OUT, token=None):
    """One tile the way a per-tile pipeline does it: crop with NumPy,
    Pillow's luma, the fraction, and Pillow's BOX resize of a kept tile.
    ``source`` is an array or the path of a ``.npy`` slide (opened once per
    process and ``token`` as a memmap).  Returns ``None`` or
    ``(r, c, fraction, patch)``."""
    from PIL import Image

    img = _open(source, token) if isinstance(source, str) else source
    tile = np.array(img[r:r + size, c:c + size])
    t32 = tile.astype(np.uint32)
    luma = (19595 * t32[..., 0] + 38470 * t32[..., 1] + 7471 * t32[..., 2] + 32768) >> 16
    fraction = np.count_nonzero(luma < threshold) / luma.size
    if fraction < min_fraction:
        return None
    patch = np.asarray(Image.fromarray(tile).resize((out, out), Image.Resampling.BOX))
    return r, c, fraction, patch


def seed_grid(shape, size=TILE):
    H, W = shape[:2]
    return [(r, c) for r in range(0, H - size + 1, size) for c in range(0, W - size + 1, size)]


def seed_collect(results, out=OUT):
    """Assemble the kept tiles of the seed into a gilfree.Tiles."""
    kept = [x for x in results if x is not None]
    coords = np.array([(r, c) for r, c, _, _ in kept], dtype=np.int64).reshape(-1, 2)
    fraction = np.array([f for _, _, f, _ in kept], dtype=np.float64)
    patches = (np.stack([p for _, _, _, p in kept]) if kept
               else np.empty((0, out, out, 3), np.uint8))
    return gilfree.Tiles(coords, fraction, patches)


def _seed_chunk(source, cells, token=None):
    return [seed_tile(source, r, c, token=token) for r, c in cells]


def seed_serial(source, shape):
    return seed_collect(_seed_chunk(source, seed_grid(shape), token=object()))


_PASSES = iter(range(1, 2**62))


def seed_pool(executor, source, shape, chunksize=1):
    """The seed pipeline on a ``concurrent.futures`` process pool:
    ``executor.map`` of the per-tile function over the tiles (one tile per
    task by default, ``chunksize`` tiles per message); the workers open the
    slide afresh for each call."""
    grid = seed_grid(shape)
    rs, cs = zip(*grid)
    n = len(grid)
    token = next(_PASSES)
    return seed_collect(executor.map(seed_tile, [source] * n, rs, cs, [TILE] * n,
                                     [THRESHOLD] * n, [MIN_FRACTION] * n, [OUT] * n,
                                     [token] * n, chunksize=chunksize))


def seed_loky(source, shape, workers):
    """The seed pipeline on loky's reusable process pool (the bench's pools),
    one contiguous share of the tiles per worker."""
    from .._pools import process_pool

    grid = seed_grid(shape)
    token = next(_PASSES)
    parts = process_pool(workers).map(_seed_chunk, [source] * workers, split(grid, workers),
                                      [token] * workers)
    return seed_collect([x for part in parts for x in part])


class TilesWorkload(Workload):
    name = "tiles"
    title = "Slide tiling: filter background, shrink to 64 x 64"
    description = ("a synthetic slide (uint8 RGB memmap, ~30 % tissue) cut into 256 x 256 "
                   "tiles, luma < 220 on >= 50 % of a tile keeps it, kept tiles resized to "
                   "64 x 64 (Pillow BOX); the per-tile Python/NumPy/Pillow seed serially and "
                   "on a process pool vs gilfree.tiles engines")
    requires = ("PIL",)
    unit = "pixels"

    def summary(self, params):
        return (f"{params['height']:,} x {params['width']:,} px RGB slide, "
                f"{params['tile']} px tiles to {params['out']} px")

    def work(self, params, data):
        return params["height"] * params["width"]

    def params(self, quick):
        side = 1536 if quick else 6144
        return {"height": side, "width": side, "tile": TILE, "out": OUT,
                "threshold": THRESHOLD, "min_fraction": MIN_FRACTION}

    def setup(self, params):
        import atexit
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="gilfree-tiles-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        path = os.path.join(tmp, "slide.npy")
        shape = (params["height"], params["width"])
        slide = synthetic_slide(shape, path=path, seed=5)
        return path, slide, shape

    def _ours(self, slide, engine, p):
        return gilfree.tiles(slide, TILE, threshold=THRESHOLD, min_fraction=MIN_FRACTION,
                             out_shape=OUT, method="box", engine=engine, n_threads=p)

    def reference(self, data):
        path, slide, shape = data
        return self._ours(slide, "numpy", 1)

    def approaches(self, data, workers):
        path, slide, shape = data
        out = [Approach("python seed", "python", 1, lambda: seed_serial(path, shape),
                        warmup=False)]
        for p in workers:
            out.append(Approach("python seed processes", "python-processes", p,
                                lambda p=p: seed_loky(path, shape, p)))
        out.append(Approach("numpy", "numpy", 1, lambda: self._ours(slide, "numpy", 1)))
        out += engine_approaches(lambda e, p: self._ours(slide, e, p), workers)
        return out


TilesWorkload.baseline = "python seed"
register(TilesWorkload())
