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
    assert list(got.columns) == list(ref.columns) + ["na_reason"]  # R's columns, then ours
    assert len(got) == len(ref)
    np.testing.assert_array_equal(got["na_reason"].notna().to_numpy(), np.isnan(ref["estimate"].to_numpy()))
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


# ---------------------------------------------------------------------------------------------
# Behaviour on hand-made wakes tables (the fixes to R's crashes and the table layout)

from matchedwake.estimation import build_design, fit_lm  # noqa: E402
from matchedwake.windows import NegBinWarning, WindowWarning  # noqa: E402


def make_wakes(windows, n=40, seed=0):
    """A wakes table with R's columns: `windows` is a list of (t, s); rows s-major as R has them."""
    rng = np.random.default_rng(seed)
    parts = []
    for t, s in sorted(windows, key=lambda ts: (ts[1], ts[0])):
        trt = np.tile([1, 0], n // 2)
        pre = rng.poisson(2.0, n)
        parts.append(pd.DataFrame({
            "eventID": np.arange(1, n + 1), "t_window": t, "spat_window": s, "treatment": trt,
            "dependent_pre": pre, "dependent_trend": rng.integers(-1, 2, n).astype(float),
            "SO_pre": rng.poisson(0.2, n), "MO_pre": rng.poisson(0.2, n),
            "dependent_post": pre + trt + rng.poisson(1.0, n),
            "SO_post": rng.poisson(0.2, n), "MO_post": rng.poisson(0.2, n),
            "cov": np.round(rng.uniform(0, 1, n), 3), "ctl": rng.normal(size=n),
        }))
    return pd.concat(parts, ignore_index=True)


def test_tables_are_t_major_over_actual_window_values():
    wakes = make_wakes([(2, 0.1), (2, 0.3), (4, 0.1), (4, 0.3), (4, 0.7)])
    res = analyse_windows(wakes, match_columns=["cov"])
    expected = [(2, 0.1), (2, 0.3), (4, 0.1), (4, 0.3), (4, 0.7)]
    for table in (res.estimates, res.matching, res.sutva):
        assert list(zip(table["t_window"], table["spat_window"])) == expected


def test_sutva_fractions_by_hand():
    wakes = make_wakes([(3, 5)], n=8)
    wakes["SO_pre"] = [1, 0, 0, 0, 0, 0, 2, 0]
    wakes["SO_post"] = [1, 1, 0, 0, 0, 0, 0, 0]
    wakes["MO_pre"] = [0, 0, 0, 0, 0, 0, 0, 0]
    wakes["MO_post"] = [0, 0, 0, 1, 1, 1, 0, 0]
    res = analyse_windows(wakes, match_columns=["cov"])
    row = res.sutva.iloc[0]
    # SO_pre 2/8, SO_post 2/8, SO (rows 0, 1, 6) 3/8 = 0.375; MO_post 3/8
    assert (row.SO_pre, row.SO_post, row.SO, row.MO_pre, row.MO_post, row.MO) == \
           (0.25, 0.25, 0.375, 0.0, 0.375, 0.375)


def test_window_without_matched_strata_is_na_with_warning():
    wakes = make_wakes([(2, 1), (2, 2)])
    sel = wakes["spat_window"] == 2
    wakes.loc[sel, "cov"] = np.where(wakes.loc[sel, "treatment"] == 1, 0.0, 1.0)
    with pytest.warns(WindowWarning, match="t=2, s=2"):
        res = analyse_windows(wakes, match_columns=["cov"])
    est = res.estimates.set_index("spat_window")
    assert est.loc[2, ["estimate", "pvalue", "adj.r.squared", "intercept", "intercept.pval"]].isna().all()
    assert est.loc[1, ["estimate", "pvalue"]].notna().all()
    assert est.loc[2, "na_reason"] == "no matched strata" and est.loc[1, "na_reason"] is None
    m = res.matching.set_index("spat_window").loc[2]
    assert (m.control_post, m.treatment_post) == (0, 0)
    assert (m.control_pre, m.treatment_pre) == (20, 20)
    assert m.L1_pre == 1.0 and m.commonSupport_pre == 0.0
    assert math.isnan(m.L1_post) and math.isnan(m.commonSupport_post)


def test_match_default_false_uses_all_wakes_with_unit_weights():
    wakes = make_wakes([(2, 1)])
    res = analyse_windows(wakes, match_columns=["cov"], match_default=False, weighted=True)
    m = res.matching.iloc[0]
    assert (m.control_post, m.treatment_post) == (m.control_pre, m.treatment_pre) == (20, 20)
    assert (m.L1_post, m.commonSupport_post) == (m.L1_pre, m.commonSupport_pre)
    y, X, cidx = build_design(wakes.dependent_post, wakes.dependent_pre, wakes.treatment)
    ref = fit_lm(y, X, None, cidx)
    assert res.estimates.estimate.iloc[0] == ref.estimate
    assert res.estimates.pvalue.iloc[0] == ref.pvalue


def test_weighted_lm_uses_cem_weights_on_matched_rows():
    from matchedwake.cem import cem as run_cem

    wakes = make_wakes([(2, 1)], n=60, seed=4)
    res = analyse_windows(wakes, match_columns=["cov"], weighted=True)
    g = wakes.treatment.to_numpy()
    m = run_cem(g, {"cov": wakes["cov"].to_numpy(float), "dependent_trend": wakes.dependent_trend.to_numpy(float)})
    md = wakes[m.matched]
    y, X, cidx = build_design(md.dependent_post, md.dependent_pre, md.treatment)
    ref = fit_lm(y, X, m.weights[m.matched], cidx)
    assert ref.ok
    assert res.estimates.estimate.iloc[0] == ref.estimate
    assert res.estimates["adj.r.squared"].iloc[0] == ref.adj_r_squared


def test_estimation_control_columns_and_att_layout():
    wakes = make_wakes([(2, 1), (4, 1)])
    res = analyse_windows(wakes, match_columns=["cov"], estimation_controls=["ctl"])
    assert list(res.estimates.columns) == ["t_window", "spat_window", "estimate", "pvalue", "adj.r.squared",
                                           "ctl.coef", "ctl.pval", "intercept", "intercept.pval", "na_reason"]
    att = analyse_windows(wakes, match_columns=["cov"], estimation="att", estimation_controls=["ctl"])
    assert list(att.estimates.columns) == ["t_window", "spat_window", "estimate", "pvalue",
                                           "ctl.coef", "ctl.pval", "intercept", "intercept.pval", "na_reason"]
    np.testing.assert_allclose(att.estimates.estimate, res.estimates.estimate, rtol=1e-12)
    diff = analyse_windows(wakes, match_columns=["cov"], estimation_controls=["ctl"],
                           formula="dependent_post - dependent_pre ~ treatment")
    assert diff.estimates[["estimate", "ctl.coef"]].notna().all().all()


def test_failed_nb_window_is_na_with_warning():
    wakes = make_wakes([(2, 1)], n=10)
    wakes["cov"] = 0.5
    wakes["dependent_trend"] = 0.0
    wakes["dependent_post"] = np.where(wakes.treatment == 1, [6, 9, 7, 8, 5] * 2, 0)[:10]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = analyse_windows(wakes, match_columns=["cov"], estimation="nb")
    msgs = [str(w.message) for w in caught if issubclass(w.category, WindowWarning)]
    assert len(msgs) == 1 and "t=2, s=1" in msgs[0]
    assert list(res.estimates.columns) == ["t_window", "spat_window", "estimate", "pvalue",
                                           "intercept", "intercept.pval", "na_reason"]
    assert res.estimates.iloc[0, 2:-1].isna().all()
    assert res.estimates["na_reason"].iloc[0] == msgs[0].split(": ", 1)[1].rsplit("; estimates set to NA", 1)[0]


def test_nb_window_estimated():
    rng = np.random.default_rng(11)
    wakes = make_wakes([(2, 1)], n=400, seed=11)
    # a high baseline keeps zero counts rare, so the identity-link start stays valid
    mu = 8.0 + 0.8 * wakes.dependent_pre + 3.0 * wakes.treatment
    wakes["dependent_post"] = rng.negative_binomial(5.0, 5.0 / (5.0 + mu))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegBinWarning)
        res = analyse_windows(wakes, match_columns=["cov"], estimation="nb")
    assert res.estimates[["estimate", "pvalue", "intercept"]].notna().all().all()
    assert 1.5 < res.estimates.estimate.iloc[0] < 4.5


def test_input_validation():
    wakes = make_wakes([(2, 1)])
    with pytest.raises(ValueError, match="estimation"):
        analyse_windows(wakes, match_columns=["cov"], estimation="glm")
    with pytest.raises(ValueError, match="formula"):
        analyse_windows(wakes, match_columns=["cov"], formula="dependent_post ~ treatment")
    wakes["txt"] = "a"
    with pytest.raises(ValueError, match="numeric"):
        analyse_windows(wakes, match_columns=["cov"], estimation_controls=["txt"])
    with pytest.raises(ValueError, match="lacks"):
        analyse_windows(wakes, match_columns=["nope"])
