"""BLAS threads are set explicitly while windows are fitted, and the numbers do not depend on them."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from matchedwake.estimation import blas_threads
from matchedwake.simulate import simulate_events
from matchedwake.wakes import sliding_wake
from matchedwake.windows import analyse_windows, window_designs

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


def _blas_thread_counts() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_limit_holds_inside_and_is_restored_after():
    with threadpool_limits(limits=2):
        before = _blas_thread_counts()
        assert before == {2}, "numpy is linked to a BLAS that threadpoolctl sees"
        limit = blas_threads(1)
        assert _blas_thread_counts() == before  # nothing happens before the with block
        with limit:
            assert _blas_thread_counts() == {1}
        assert _blas_thread_counts() == before
        with blas_threads(None):  # None: the library's own setting, untouched
            assert _blas_thread_counts() == before
        # A whole analysis leaves the caller's setting as it found it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analyse_windows(_WAKES, match_columns=["cov1"], weighted=True)
            list(window_designs(_WAKES, match_columns=["cov1"], blas_threads=1))
        assert _blas_thread_counts() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_limits_are_refused_with_the_argument_name(bad):
    with pytest.raises(ValueError, match="blas_threads must be a positive integer or None"):
        blas_threads(bad)
    with pytest.raises(ValueError, match="blas_threads must be a positive integer or None"):
        analyse_windows(_WAKES, match_columns=["cov1"], blas_threads=bad)


def test_large_windows_are_fitted_on_one_thread_whatever_the_caller_set():
    # One window of 20,000 wakes (far above OpenBLAS's single-thread cut-off for its
    # matrix-vector products). With two BLAS threads the partial sums are added in another
    # order and the estimate moves in the last bits (measured: 2.7e-16); the engine fixes one
    # thread, so its numbers are those of a single-threaded run even when the caller allows two.
    rng = np.random.default_rng(2)
    n = 20_000
    wakes = pd.DataFrame({
        "t_window": 10.0, "spat_window": 5.0, "treatment": rng.integers(0, 2, n),
        "dependent_pre": rng.gamma(2.0, 1.3, n), "dependent_post": rng.gamma(2.0, 1.7, n),
        "SO_pre": 0, "SO_post": 0, "MO_pre": 0, "MO_post": 0,
        "dependent_trend": rng.normal(0, 1, n), "cov1": rng.normal(0, 1, n)})
    opts = dict(match_columns=["cov1"], weighted=True)
    with threadpool_limits(limits=1):
        single = analyse_windows(wakes, blas_threads=None, **opts)
    with threadpool_limits(limits=2):
        two = analyse_windows(wakes, blas_threads=None, **opts)
        engine = analyse_windows(wakes, **opts)
    assert np.isfinite(single.estimates["estimate"][0])
    assert engine.estimates.equals(single.estimates)
    if not two.estimates.equals(single.estimates):  # the effect the limit guards against
        assert abs(two.estimates["estimate"][0] - single.estimates["estimate"][0]) < 1e-12


_DATA = simulate_events(n_treatment=60, n_control=200, n_dependent=600, days=200, box_km=30,
                        effect=1.0, seed=4)
_WAKES, _ = sliding_wake(_DATA, (5, 15, 5), (2, 6, 2), *TYPES, ["cov1"])


def test_window_tables_do_not_depend_on_the_blas_setting():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = analyse_windows(_WAKES, match_columns=["cov1"], weighted=True, blas_threads=1)
        lib = analyse_windows(_WAKES, match_columns=["cov1"], weighted=True, blas_threads=None)
    assert one.estimates["pvalue"].notna().sum() >= 5
    assert one.estimates.equals(lib.estimates) and one.matching.equals(lib.matching)


def test_parameters_record_the_numerics_the_last_bits_depend_on():
    import matchedwake

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = matchedwake.matched_wake(_DATA, (5, 15, 5), (2, 6, 2), *TYPES, ["cov1"])
    numerics = res.parameters["run"]["numerics"]
    assert numerics["numpy"] == np.__version__
    from importlib.metadata import version
    assert numerics["matchedwake"] == version("qip-wake")
    # numpy's own BLAS (the one the fits run on; scipy may load a second one later) is recorded
    numpy_blas = [(lib["internal_api"], lib["version"], lib.get("architecture"))
                  for lib in threadpool_info()
                  if lib["user_api"] == "blas" and "numpy" in lib["filepath"]]
    recorded = [(b["library"], b["version"], b["kernel"]) for b in numerics["blas"]]
    assert numpy_blas and set(numpy_blas) <= set(recorded)
    assert all(kernel for name, _, kernel in recorded if name == "openblas"), "OpenBLAS names its kernel"


def test_limit_reaches_a_blas_loaded_after_the_first_limit():
    """scipy brings its own OpenBLAS; a limit set after it loaded must hold it too, even when the
    engine had already made its threadpoolctl controller (fresh interpreter: scipy not loaded)."""
    code = """
import numpy
from threadpoolctl import threadpool_info, threadpool_limits
from matchedwake.estimation import blas_threads
with threadpool_limits(limits=2):
    with blas_threads(1):
        pass
    import scipy.linalg  # loads scipy's OpenBLAS
    libs = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert len(libs) == 2, libs
    with blas_threads(1):
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {1}
    assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
