"""The ``resize`` workload: a folder of images resized to 64x64 before
training (e.g. 1,431 chest X-rays; here random 8-bit images).

Pillow serial (the baseline), Pillow on a thread pool and on a process pool
(what the seed pipeline does: the images are pickled to the workers and
back), gilfree's ``resize`` called per image from a thread pool, and
``resize_batch`` with each engine at each thread count.  Every approach must
return Pillow's pixels exactly.
"""

import numpy as np

import gilfree

from .._core import Approach, Workload, engine_approaches, register
from .._pools import process_map, split, thread_map


def pillow_resize(images, size):
    """Pillow BILINEAR on each (H, W) uint8 image; returns a stacked array."""
    from PIL import Image

    h, w = size
    return np.stack([np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.BILINEAR))
                     for a in images])


def _pooled(mapper, images, size, workers):
    chunks = split(list(images), workers)
    parts = mapper(pillow_resize, [(c, size) for c in chunks], workers)
    return np.concatenate(parts)


def _gilfree_threads(images, size, workers):
    def one(chunk, size):
        return np.stack([gilfree.resize(a, size, "bilinear", n_threads=1) for a in chunk])

    return np.concatenate(thread_map(one, [(c, size) for c in split(list(images), workers)],
                                     workers))


class Resize(Workload):
    name = "resize"
    title = "Image batch resized to 64x64"
    description = ("N uint8 images to 64x64 with Pillow's bilinear filter: Pillow serial / "
                   "threads / processes vs gilfree (bit-identical output)")
    requires = ("PIL",)
    baseline = "pillow"
    unit = "pixels"

    def summary(self, params):
        h, w = params["size"]
        return (f"{params['images']} images of {params['height']} x {params['width']} px "
                f"to {h} x {w}")

    def work(self, params, data):
        return params["images"] * params["height"] * params["width"]

    def params(self, quick):
        if quick:
            return {"images": 16, "height": 256, "width": 256, "size": [64, 64], "numpy_images": 4}
        return {"images": 200, "height": 1024, "width": 1024, "size": [64, 64], "numpy_images": 10}

    def setup(self, params):
        rng = np.random.default_rng(2028)
        imgs = rng.integers(0, 256, (params["images"], params["height"], params["width"]),
                            dtype=np.uint8)
        return imgs, tuple(params["size"]), params["numpy_images"]

    def reference(self, data):
        imgs, size, _ = data
        return pillow_resize(imgs, size)

    def approaches(self, data, workers):
        imgs, size, k = data
        n = imgs.shape[0]
        ref_sub = pillow_resize(imgs[:k], size)
        out = [Approach("pillow", "competitor", 1, lambda: pillow_resize(imgs, size))]
        for p in workers:
            if p > 1:
                out.append(Approach("pillow threads", "competitor", p,
                                    lambda p=p: _pooled(thread_map, imgs, size, p),
                                    serial="pillow"))
            out.append(Approach("pillow processes", "competitor", p,
                                lambda p=p: _pooled(process_map, imgs, size, p)))
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.resize_batch(imgs[:k], size, "bilinear",
                                                         engine="numpy"),
                            scale=n / k, note=f"estimated from {k} of {n} images",
                            check=lambda r: np.array_equal(r, ref_sub)))
        for p in workers:
            out.append(Approach("gilfree.resize on threads", "gilfree", p,
                                lambda p=p: _gilfree_threads(imgs, size, p)))
        out += engine_approaches(
            lambda e, p: gilfree.resize_batch(imgs, size, "bilinear", engine=e, n_threads=p),
            workers)
        return out

    def dask_approaches(self, data, client, workers):
        from ... import distributed as gd

        imgs, size, _ = data
        return [Approach("gilfree.distributed", "dask", p,
                         lambda p=p: gd.resize_batch(imgs, size, "bilinear", client=client,
                                                     n_workers=p),
                         note="images split over Dask workers")
                for p in workers]


register(Resize())
