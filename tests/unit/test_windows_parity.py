"""Per-window tables of `analyse_windows` against R mwa 0.5.0 on the shipped wakes tables.

Input is R's own wakes table for each config, so this isolates matching, imbalance, estimation
and SUTVA from the wake counting.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchedwake.windows import analyse_windows

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
CONFIGS = json.loads((FIX / "configs.json").read_text())
COUNT_COLS = ["eventID", "t_window", "spat_window", "treatment", "dependent_pre", "SO_pre", "MO_pre",
              "dependent_post", "SO_post", "MO_post"]
EST_VALUE_COLS_EXCLUDED = {"t_window", "spat_window"}


def read_ref(name: str, kind: str) -> pd.DataFrame:
    """An R table with every value parsed exactly (R wrote %.17g; "NA" is missing)."""
    raw = pd.read_csv(FIX / "ref" / f"{name}__{kind}.csv", dtype=str, keep_default_na=False)
    return pd.DataFrame({c: [math.nan if v == "NA" else float(v) for v in raw[c]] for c in raw.columns})


def read_wakes(name: str) -> pd.DataFrame:
    w = read_ref(name, "wakes")
    for c in COUNT_COLS:
        w[c] = w[c].astype(np.int64)
    return w


def run(config: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no window of the fixtures may fail with a warning
        return analyse_windows(
            read_wakes(config["name"]),
            match_columns=config["match_columns"],
            estimation=config["estimation"],
            formula=config["formula"],
            weighted=config["weighted"],
            estimation_controls=config["estimation_controls"],
            tcm=config["tcm"],
        )


@pytest.fixture(scope="module", params=CONFIGS, ids=[c["name"] for c in CONFIGS])
def result(request):
    return request.param["name"], run(request.param)


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].to_numpy(dtype=float, na_value=np.nan)


def test_estimates_match_r(result):
    name, res = result
    ref = read_ref(name, "estimates")
    got = res.estimates
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        a, b = _num(got, col), _num(ref, col)
        if col in EST_VALUE_COLS_EXCLUDED:
            np.testing.assert_array_equal(a, b, err_msg=col)
            continue
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"NA pattern of {col}")
        ok = ~np.isnan(b)
        tol = 1e-9 * np.maximum(np.abs(a[ok]), np.abs(b[ok])) + 1e-12
        assert np.all(np.abs(a[ok] - b[ok]) <= tol), (col, a[ok], b[ok])


def test_estimates_have_fitted_windows(result):
    """Guard against a vacuous pass: the fixtures do contain estimable windows."""
    name, res = result
    ref = read_ref(name, "estimates")
    n_fitted = int(ref["estimate"].notna().sum())
    assert n_fitted >= 1
    assert int(res.estimates["estimate"].notna().sum()) == n_fitted


def test_matching_matches_r_exactly(result):
    name, res = result
    ref = read_ref(name, "matching")
    got = res.matching
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        a, b = _num(got, col), _num(ref, col)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        assert same.all(), (col, a[~same], b[~same])


def test_sutva_matches_r_exactly(result):
    name, res = result
    ref = read_ref(name, "SUTVA")
    got = res.sutva
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        np.testing.assert_array_equal(_num(got, col), _num(ref, col), err_msg=col)


def test_match_details_shapes():
    """matched has one row per wake row; bins one row per window with a column per variable in M."""
    config = next(c for c in CONFIGS if c["name"] == "syn_days")
    wakes = read_wakes("syn_days")
    res = analyse_windows(wakes, match_columns=config["match_columns"], weighted=True, tcm=True,
                          match_details=True)
    assert list(res.matched.columns) == ["eventID", "t_window", "spat_window", "treatment", "matched"]
    assert len(res.matched) == len(wakes)
    per_window = res.matched.groupby(["t_window", "spat_window"], sort=True)["matched"].agg(["sum"])
    counts = res.matching.set_index(["t_window", "spat_window"])
    np.testing.assert_array_equal(per_window["sum"].to_numpy(),
                                  (counts["control_post"] + counts["treatment_post"]).to_numpy())
    assert list(res.bins.columns) == ["t_window", "spat_window", "cov1", "cov2", "cov3",
                                      "dependent_trend", "SO_pre", "MO_pre"]
    assert len(res.bins) == len(res.matching)
