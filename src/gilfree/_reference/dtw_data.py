"""Synthetic gait data for the DTW tests and benchmarks.

A smooth 3-axis gyroscope stride template (deg/s, body frame, one stride
from the ``gyr_ml`` minimum before terminal contact to the next one) and
long 6-axis recordings made of it: each stride is the template stretched by
a random factor, with random amplitude, plus sensor noise; walking bouts are
separated by standing still.  Deterministic for a given seed.
"""

import numpy as np

#: Body-frame axis names of the synthetic recordings (gaitmap's convention).
AXES = ("acc_pa", "acc_ml", "acc_si", "gyr_pa", "gyr_ml", "gyr_si")
#: The template's columns.
TEMPLATE_AXES = ("gyr_pa", "gyr_si", "gyr_ml")
#: Sampling rate of template and recordings.
SAMPLING_RATE_HZ = 204.8
#: Divide data and template by this before matching (deg/s -> about +-1).
SCALE = 500.0


def _bump(u, centre, width):
    return np.exp(-(((u - centre) / width) ** 2))


def _stride_shape(u):
    """(len(u), 6) one stride at phases u in [0, 1] (columns as AXES)."""
    gyr_ml = (
        -240.0 * (_bump(u, 0.0, 0.06) + _bump(u, 1.0, 0.06))
        + 430.0 * _bump(u, 0.30, 0.09)
        - 140.0 * _bump(u, 0.58, 0.08)
        + 60.0 * _bump(u, 0.75, 0.12)
    )
    gyr_pa = -110.0 * _bump(u, 0.05, 0.07) + 90.0 * _bump(u, 0.33, 0.1) - 40.0 * _bump(u, 0.6, 0.1)
    gyr_si = -60.0 * _bump(u, 0.08, 0.08) + 75.0 * _bump(u, 0.28, 0.1) + 25.0 * _bump(u, 0.7, 0.15)
    acc_pa = 9.0 * _bump(u, 0.25, 0.06) - 6.0 * _bump(u, 0.6, 0.05)
    acc_ml = 2.0 * np.sin(2 * np.pi * u)
    acc_si = 9.81 + 12.0 * _bump(u, 0.62, 0.03) - 4.0 * _bump(u, 0.3, 0.1)
    return np.stack([acc_pa, acc_ml, acc_si, gyr_pa, gyr_ml, gyr_si], axis=1)


def template(n_samples=200):
    """(n_samples, 3) float64 template, columns ``TEMPLATE_AXES``, deg/s."""
    u = np.linspace(0.0, 1.0, n_samples)
    shape = _stride_shape(u)
    return np.ascontiguousarray(shape[:, [AXES.index(a) for a in TEMPLATE_AXES]])


def recording(n_samples, *, seed=0, template_samples=200, stretch=(0.8, 1.3), noise=8.0,
              bout_strides=(20, 80), pause_s=(2.0, 8.0)):
    """(n_samples, 6) float64 recording (columns ``AXES``) and the true
    stride borders (k, 2) int64 [start, end)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_samples, len(AXES)))
    borders = []
    pos = 0
    still = np.array([0.0, 0.0, 9.81, 0.0, 0.0, 0.0])
    while pos < n_samples:
        pause = int(rng.uniform(*pause_s) * SAMPLING_RATE_HZ)
        stop = min(n_samples, pos + pause)
        out[pos:stop] = still
        pos = stop
        for _ in range(int(rng.integers(*bout_strides))):
            if pos >= n_samples:
                break
            length = int(round(template_samples * rng.uniform(*stretch)))
            u = np.linspace(0.0, 1.0, length, endpoint=False)
            stride = _stride_shape(u) * rng.uniform(0.85, 1.15)
            stride[:, 2] += 9.81 * (1 - stride[:, 2].mean() / 9.81)  # keep gravity
            stop = min(n_samples, pos + length)
            out[pos:stop] = stride[: stop - pos]
            if stop - pos == length:
                borders.append((pos, stop))
            pos = stop
    out += rng.normal(0.0, noise, out.shape) * np.array([0.05, 0.05, 0.05, 1, 1, 1])
    return out, np.asarray(borders, dtype=np.int64).reshape(-1, 2)
