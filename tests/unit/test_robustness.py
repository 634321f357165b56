"""Robustness variants and placebos of the study (qipstudy.robustness)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from qipstudy.robustness import apply_placebo, robustness_summary


def _events():
    dates = pd.to_datetime(["2017-03-01", "2018-06-01", "2020-06-01", "2019-01-01", "2019-02-01"])
    return pd.DataFrame({
        "event_id": ["q1", "q2", "q3", "a1", "a2"],
        "source": ["qip", "qip", "qip", "iati", "iati"],
        "date": dates,
        "timestamp": dates.strftime("%Y-%m-%d"),
        "lat": [0.5, 0.5, 0.5, 0.25, 0.75],
        "lon": [0.5, 0.5, 0.5, 1.25, 1.75],
        "admin1": ["West", "West", "West", "East", "East"],
    })


ADMIN = gpd.GeoDataFrame({"ADM1": ["West", "East", "Elsewhere"]},
                         geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)], crs=4326)
PERIOD = {"period_start": "2017-01-01", "period_end": "2020-12-31"}


def test_shifted_dates_move_only_qips_and_drop_those_leaving_the_period():
    out = apply_placebo(_events(), {"shift_days": -365}, admin=ADMIN, admin1_column="ADM1",
                        study_regions=["West", "East"], **PERIOD)
    qips = out[out["source"] == "qip"].set_index("event_id")
    assert "q1" not in qips.index  # 2017-03-01 minus a year leaves the period
    assert qips.loc["q2", "timestamp"] == "2017-06-01"
    assert list(out.loc[out["source"] == "iati", "timestamp"]) == ["2019-01-01", "2019-02-01"]


def test_uniform_random_locations_fall_in_the_study_regions():
    out = apply_placebo(_events(), {"random_locations": "uniform", "seed": 3}, admin=ADMIN, admin1_column="ADM1",
                        study_regions=["West", "East"], **PERIOD)
    qips = out[out["source"] == "qip"]
    assert ((qips["lon"] > 0) & (qips["lon"] < 2) & (qips["lat"] > 0) & (qips["lat"] < 1)).all()
    for _, row in qips.iterrows():
        expected = "West" if row["lon"] < 1 else "East"
        assert row["admin1"] == expected
    again = apply_placebo(_events(), {"random_locations": "uniform", "seed": 3}, admin=ADMIN,
                          admin1_column="ADM1", study_regions=["West", "East"], **PERIOD)
    pd.testing.assert_frame_equal(out, again)


def test_aid_site_locations_are_drawn_from_other_aid_projects():
    out = apply_placebo(_events(), {"random_locations": "aid_sites", "seed": 1}, admin=ADMIN,
                        admin1_column="ADM1", study_regions=["West", "East"], **PERIOD)
    sites = {(0.25, 1.25, "East"), (0.75, 1.75, "East")}
    for _, row in out[out["source"] == "qip"].iterrows():
        assert (row["lat"], row["lon"], row["admin1"]) in sites


def test_robustness_summary_counts_by_hand():
    main = pd.DataFrame({"t_window": [10, 10, 20], "spat_window": [3, 6, 3],
                         "estimate": [1.0, -0.5, np.nan], "pvalue": [0.01, 0.2, np.nan]})
    variant = pd.DataFrame({"t_window": [10, 10, 20], "spat_window": [3, 6, 3],
                            "estimate": [0.5, 0.4, 2.0], "pvalue": [0.04, 0.01, 0.5]})
    table = robustness_summary({"main": main, "v": variant}, alpha=0.05).set_index("variant")
    assert table.loc["main", "estimated"] == 2 and table.loc["main", "significant"] == 1
    assert table.loc["v", "significant"] == 2 and table.loc["v", "significant_positive"] == 2
    assert table.loc["v", "median_estimate"] == pytest.approx(0.5)
    assert table.loc["v", "sign_agreement"] == pytest.approx(0.5)  # agrees at (10,3), not at (10,6)


def test_event_site_placebo_moves_qips_to_outcome_event_sites():
    ev = _events()
    extra = pd.DataFrame({"event_id": ["e1"], "source": ["acled"], "date": pd.to_datetime(["2019-03-01"]),
                          "timestamp": ["2019-03-01"], "lat": [0.9], "lon": [1.9], "admin1": ["East"]})
    ev = pd.concat([ev, extra], ignore_index=True)
    out = apply_placebo(ev, {"random_locations": "event_sites", "seed": 2}, admin=ADMIN, admin1_column="ADM1",
                        study_regions=["West", "East"], **PERIOD)
    qips = out[out["source"] == "qip"]
    assert (qips[["lat", "lon", "admin1"]].to_numpy().tolist() == [[0.9, 1.9, "East"]] * 3)


def test_robustness_summary_flags_variants_that_are_not_comparable():
    est = pd.DataFrame({"t_window": [10, 20, 30], "spat_window": [3, 3, 3],
                        "estimate": [1.0, 0.5, 0.2], "pvalue": [0.01, 0.02, 0.5]})
    main = {"estimation": "lm", "weighted": True, "vcov": "classical"}
    settings = {"main": main,
                "negative_binomial": {**main, "estimation": "nb"},
                "poisson": {**main, "estimation": "poisson"},
                "quasi_poisson": {**main, "estimation": "poisson", "vcov": "HC1"},
                "unweighted": {**main, "weighted": False}}
    by_variant = {name: est for name in [*settings, "placebo_dates"]}
    table = robustness_summary(by_variant, alpha=0.05, settings=settings,
                               placebos=["placebo_dates"]).set_index("variant")
    assert table.loc["main", "note"] == "" and table.loc["quasi_poisson", "note"] == ""
    assert table.loc["negative_binomial", "note"].startswith("unweighted, not comparable")
    assert "dispersion fixed at 1" in table.loc["poisson", "note"]
    assert table.loc["unweighted", "note"] == "unweighted"
    assert table.loc["placebo_dates", "note"].startswith("placebo")
    # Holm over the variant's three windows: 0.01·3 = 0.03 ≤ 0.05; 0.02·2 = 0.04 ≤ 0.05
    assert table.loc["main", "significant"] == 2 and table.loc["main", "significant_holm"] == 2
    est2 = est.assign(pvalue=[0.02, 0.03, 0.5])  # Holm: 0.06 → none
    assert robustness_summary({"main": est2}, alpha=0.05)["significant_holm"].iloc[0] == 0
