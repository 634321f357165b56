"""Full `matched_wake` runs against R mwa 0.5.0 on the parity fixtures (all four tables)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matchedwake
from matchedwake.windows import WindowWarning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
CONFIGS = json.loads((FIXTURES / "configs.json").read_text())
WAKE_COUNTS = ["eventID", "t_window", "spat_window", "treatment", "dependent_pre",
               "dependent_trend", "SO_pre", "MO_pre", "dependent_post", "SO_post", "MO_post"]


def read_ref(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return raw.apply(lambda col: col.map(lambda v: np.nan if v == "NA" else float(v)))


def run(cfg):
    data = pd.read_csv(FIXTURES / cfg["input"], dtype={"timestamp": str})
    return matchedwake.matched_wake(
        data, tuple(cfg["t_window"]), tuple(cfg["spat_window"]), tuple(cfg["treatment"]),
        tuple(cfg["control"]), tuple(cfg["dependent"]), cfg["match_columns"],
        t_unit=cfg["t_unit"], estimation=cfg["estimation"], formula=cfg["formula"],
        weighted=cfg["weighted"], estimation_controls=tuple(cfg["estimation_controls"]),
        tcm=cfg["tcm"], delete_sutva=cfg["delete_sutva"])


@pytest.fixture(scope="module", params=CONFIGS, ids=[c["name"] for c in CONFIGS])
def case(request):
    return request.param, run(request.param)


def _ref(cfg, table):
    return read_ref(FIXTURES / "ref" / f"{cfg['name']}__{table}.csv")


def _same_shape(got, ref):
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)


def test_estimates(case):
    cfg, res = case
    ref = _ref(cfg, "estimates")
    # R's columns in R's order, then our trailing na_reason (set exactly where R's estimate is NA)
    assert list(res.estimates.columns) == list(ref.columns) + ["na_reason"]
    _same_shape(res.estimates[list(ref.columns)], ref)
    np.testing.assert_array_equal(res.estimates["na_reason"].notna().to_numpy(), np.isnan(ref["estimate"]))
    for col in ref.columns:
        g = res.estimates[col].to_numpy(dtype=float)
        r = ref[col].to_numpy()
        if col in ("t_window", "spat_window"):
            np.testing.assert_array_equal(g, r, err_msg=col)
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r), err_msg=f"{col}: NA pattern")
        ok = ~np.isnan(r)
        tol = 1e-9 * np.maximum(np.abs(g[ok]), np.abs(r[ok])) + 1e-12
        assert np.all(np.abs(g[ok] - r[ok]) <= tol), col


@pytest.mark.parametrize("table,attr", [("matching", "matching"), ("SUTVA", "sutva")])
def test_matching_and_sutva_exact(case, table, attr):
    cfg, res = case
    ref = _ref(cfg, table)
    got = getattr(res, attr)
    _same_shape(got, ref)
    for col in ref.columns:
        np.testing.assert_array_equal(got[col].to_numpy(dtype=float), ref[col].to_numpy(),
                                      err_msg=col)


def test_wakes(case):
    cfg, res = case
    ref = _ref(cfg, "wakes")
    _same_shape(res.wakes, ref)
    for col in WAKE_COUNTS:
        np.testing.assert_array_equal(res.wakes[col].to_numpy(dtype=float), ref[col].to_numpy(),
                                      err_msg=col)
    for col in ref.columns[len(WAKE_COUNTS):]:
        np.testing.assert_allclose(res.wakes[col].to_numpy(dtype=float), ref[col].to_numpy(),
                                   rtol=1e-12, atol=0, err_msg=col)


def test_parameters_and_incomplete(case):
    cfg, res = case
    p = res.parameters
    assert p["formula"] == cfg["formula"] and p["weighted"] == cfg["weighted"]
    assert p["t_window"] == cfg["t_window"] and p["tcm"] == cfg["tcm"]  # JSON-able: lists
    assert p["match_columns"] == cfg["match_columns"]
    assert sorted(res.incomplete) == sorted(res.wakes["t_window"].astype(int).unique())
    assert res.matched is None and res.bins is None


def test_na_windows_are_counted_and_warned_by_reason():
    """syn_days: the windows R reports as NA are exactly the ones we flag, listed in one warning."""
    cfg = next(c for c in CONFIGS if c["name"] == "syn_days")
    ref = _ref(cfg, "estimates")
    na = np.isnan(ref["estimate"].to_numpy())
    with pytest.warns(WindowWarning) as caught:
        res = run(cfg)
    windows = ", ".join(f"({t:g}, {s:g})" for t, s in zip(ref["t_window"][na][:8], ref["spat_window"][na][:8]))
    summary = [str(w.message) for w in caught if " windows have NA estimates" in str(w.message)]
    assert summary == [(f"{na.sum()} of {len(ref)} windows have NA estimates (column na_reason); coefficients "
                        f"aliased: {na.sum()} window(s) (t, s) = {windows} and {na.sum() - 8} more")]
    assert res.parameters["run"]["na_reasons"] == {"coefficients aliased": int(na.sum())}
    assert res.parameters["run"]["n_windows"] == len(ref) == 25
