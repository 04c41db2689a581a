"""The engine contract: what every engine module of a kernel family provides.

A kernel family (``parzen``, ``kde``, ...) has up to four engines: Cython
(``gilfree._cy.<family>``, loaded through the SIMD dispatcher), Numba
(``gilfree._numba.<family>``), NumPy (``gilfree._reference.<family>``) and
plain Python (``gilfree._reference.<family>_python``); ``register_kernel``
in the family's module says which exist and what ``auto`` prefers.  Each
engine module defines every function of its family's :data:`CONTRACT`
entry, called positionally with the listed parameters (arrays are
allocated and validated by the family's wrapper; outputs are written into
``out``-style arguments; ``n_threads`` is already resolved).  An engine
module lacking one is reported as unavailable (``gilfree info`` says which
function is missing) instead of failing mid-call.

``optional`` functions exist in some engines only; the wrapper checks for
them (e.g. the Cython tiles engine's one-region ``run_image``, the Cython
``probe`` loops of ``gilfree._probes``).  ``constants`` are the
``gilfree._config`` names whose values are compiled into the Cython module
too: it exports them in a ``CONSTANTS`` dict, and the contract test checks
every built SIMD variant against ``_config``.  Every Cython module also
exports ``OPENMP`` (bool) and ``SIMD_VARIANT`` (str).
"""

from typing import NamedTuple

__all__ = ["CONTRACT", "COMPILED_ATTRIBUTES", "Family", "missing"]


class Family(NamedTuple):
    """One kernel family's contract (parameter lists as space-separated names)."""

    functions: dict
    optional: dict = {}
    constants: tuple = ()


_RESIZE_TABLES = "xb xki xkf yb yki ykf xi yi xofs xsrc xal yofs ysrc yal"

CONTRACT = {
    "parzen": Family(
        {"parzen_counts": "plan q out n_split n_threads",
         "parzen_weighted": "plan q out n_threads"},
        optional={"strip_plan": "x hwmax strips_per_window min_strip_samples",
                  "candidates": "plan q", "probe": "xs q plan repeats"},
        constants=("PARZEN_BLOCK", "PARZEN_SPREAD_TIE_RTOL")),
    "kde": Family(
        {"exp_sum": "xs w q c sq out n_threads",
         "exp_logsum": "xs lw q c sq out n_threads",
         "compact_sum": "xs w cell_start grid ax0 ax1 nx ny q thr inv_h kernel out n_threads"},
        optional={"run_points": "func_name before q after H",
                  "probe": "xs w q ck sq repeats"},
        constants=("KDE_LANES", "KDE_CHUNK", "KDE_POINT_BLOCK")),
    "resize": Family(
        {"conv_u8": "src out xb xk yb yk hpass vpass vfirst n_threads",
         "conv_float": "src out xb xw yb yw hpass vpass vfirst n_threads",
         "nearest": "src out xi yi n_threads",
         "area_fast": "src out kx ky addhalf n_threads",
         "area_table": "src out xofs xsrc xal yofs ysrc yal n_threads"},
        optional={"probe": "src out weights repeats"}),
    "resample": Family(
        {"linear": "x out n_threads",
         "linear_many": "data offsets out n_threads",
         "linear_list": "arrays out rest n_threads",
         "poly": "x out hr up down pre n_threads"},
        optional={"probe": "x h out repeats"},
        constants=("RESAMPLE_POLY_CHUNK", "RESIZE_CHUNKS_PER_THREAD")),
    "tiles": Family(
        {"measure": "band mask ys xs counts geom thr_f release n_threads",
         "patches": f"band mask ys xs counts geom thr_f release padval out {_RESIZE_TABLES} "
                    "n_threads"},
        optional={"run_image": "image mask ys xs counts geom thr_f band_end band_release "
                               f"band_left padval out {_RESIZE_TABLES} n_threads",
                  "probe": "rgb threshold repeats"}),
    "dtw": Family(
        {"accumulate": "t sT full last dirs block_cols row_blocks n_threads",
         "trace_paths": "dirs M block_cols ends lengths n_threads",
         "fill_paths": "dirs M block_cols ends offsets out n_threads",
         "select_by_distance": "peaks order distance keep"},
        optional={"probe": "tT sr repeats"}),
}

#: attributes every Cython engine module exports, and their types
COMPILED_ATTRIBUTES = {"OPENMP": bool, "SIMD_VARIANT": str}


def missing(family, module):
    """Names of the contract functions of ``family`` that ``module`` lacks."""
    return [f for f in CONTRACT[family].functions if not callable(getattr(module, f, None))]
