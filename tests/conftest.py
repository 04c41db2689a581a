"""Shared test configuration.

The tests run against the *installed* package (STYLE.md 9): the source tree's
``src/`` is never on sys.path, and this is checked here.
"""

import os
import pathlib

import numpy as np
import pytest

import gilfree

_SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
if pathlib.Path(gilfree.__file__).resolve().is_relative_to(_SRC):
    raise RuntimeError(
        f"gilfree was imported from the source tree ({gilfree.__file__}); the tests must "
        "run against the installed package: `pip install .` and run pytest from the "
        "repository root without PYTHONPATH=src"
    )

#: Engines every kernel family provides.
ENGINES = ("numba", "cython", "numpy", "python")
#: Thread counts every kernel is checked at.
THREADS = (1, 2)


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture(params=THREADS)
def n_threads(request):
    return request.param


def dyadic(rng, shape, scale=64):
    """Standard-normal values rounded to a 1/scale grid: exact in binary
    floating point, so that window boundaries are hit exactly (real ties)."""
    return np.round(rng.standard_normal(shape) * scale) / scale


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("GILFREE_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
