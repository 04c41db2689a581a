"""The ``resample`` workloads: gait signals and stride templates.

``resample``: thousands of strides (150-300 samples x 3 gyroscope channels)
each resampled linearly to 200 points, as stride templates are built — a
Python loop of ``np.interp`` (serial, threads, processes) vs
``gilfree.resample_linear_many``.

``resample-poly``: a long 6-channel IMU recording taken from 204.8 Hz to
100 Hz — ``scipy.signal.resample_poly`` vs ``gilfree.resample_poly``.
"""

import numpy as np

import gilfree

from .._core import Approach, Workload, engine_approaches, register
from .._pools import process_map, split, thread_map


def interp_loop(strides, num):
    """The usual Python loop: np.interp per stride and channel."""
    out = np.empty((len(strides), num, strides[0].shape[1]))
    for k, s in enumerate(strides):
        L = s.shape[0]
        t = np.linspace(0, L - 1, num)
        grid = np.arange(L)
        for c in range(s.shape[1]):
            out[k, :, c] = np.interp(t, grid, s[:, c])
    return out


def _pooled(mapper, strides, num, workers):
    parts = mapper(interp_loop, [(c, num) for c in split(strides, workers)], workers)
    return np.concatenate(parts)


class ResampleStrides(Workload):
    name = "resample"
    title = "Strides resampled to 200 points"
    description = ("k strides of 150-300 samples x 3 channels, each linearly resampled to 200 "
                   "points: np.interp loop serial / threads / processes vs resample_linear_many")
    unit = "samples"

    def params(self, quick):
        return {"strides": 400 if quick else 10_000, "min_len": 150, "max_len": 300,
                "channels": 3, "num": 200}

    def summary(self, params):
        return (f"{params['strides']:,} strides of {params['min_len']}-{params['max_len']} "
                f"samples x {params['channels']} channels to {params['num']} points")

    def work(self, params, data):
        strides, _ = data
        return sum(s.size for s in strides)

    def setup(self, params):
        rng = np.random.default_rng(2029)
        lengths = rng.integers(params["min_len"], params["max_len"] + 1, params["strides"])
        return [rng.standard_normal((int(n), params["channels"])) for n in lengths], params["num"]

    def reference(self, data):
        strides, num = data
        return gilfree.resample_linear_many(strides, num, engine="numpy")

    def approaches(self, data, workers):
        strides, num = data
        out = [Approach("python", "python", 1, lambda: interp_loop(strides, num))]
        for p in workers:
            if p > 1:
                out.append(Approach("python threads", "python-threads", p,
                                    lambda p=p: _pooled(thread_map, strides, num, p),
                                    serial="python"))
            out.append(Approach("python processes", "python-processes", p,
                                lambda p=p: _pooled(process_map, strides, num, p)))
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.resample_linear_many(strides, num, engine="numpy")))
        out += engine_approaches(
            lambda e, p: gilfree.resample_linear_many(strides, num, engine=e, n_threads=p),
            workers)
        return out


class ResamplePoly(Workload):
    name = "resample-poly"
    title = "IMU recording, 204.8 Hz to 100 Hz"
    description = ("6-channel signal resampled by 1000/2048 with a Kaiser polyphase FIR: "
                   "scipy.signal.resample_poly vs gilfree.resample_poly")
    requires = ("scipy",)
    baseline = "scipy"
    unit = "samples"

    def summary(self, params):
        return (f"{params['samples']:,} samples x {params['channels']} channels, "
                f"up {params['up']} / down {params['down']}")

    def work(self, params, data):
        return params["samples"] * params["channels"]

    def params(self, quick):
        return {"samples": 12_600 if quick else 126_000, "channels": 6, "up": 1000, "down": 2048}

    def setup(self, params):
        rng = np.random.default_rng(2030)
        x = np.cumsum(rng.standard_normal((params["samples"], params["channels"])), axis=0)
        return x, params["up"], params["down"]

    def reference(self, data):
        from scipy.signal import resample_poly

        x, up, down = data
        return resample_poly(x, up, down, axis=0)

    def same(self, result, reference):
        scale = np.abs(reference).max()
        return result.shape == reference.shape and np.abs(result - reference).max() <= 1e-10 * scale

    def approaches(self, data, workers):
        from scipy.signal import resample_poly

        x, up, down = data
        out = [Approach("scipy", "competitor", 1, lambda: resample_poly(x, up, down, axis=0))]
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.resample_poly(x, up, down, engine="numpy")))
        out += engine_approaches(
            lambda e, p: gilfree.resample_poly(x, up, down, engine=e, n_threads=p), workers)
        return out


register(ResampleStrides())
register(ResamplePoly())
