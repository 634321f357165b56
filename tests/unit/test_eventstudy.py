"""Event study: disjoint rings and time bins from the cumulative wakes, leads and lags."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from matchedwake import matched_wake
from matchedwake.estimation import fit_lm
from matchedwake.windows import WindowWarning
from qipstudy.calibration import simulate_study_world
from qipstudy.eventstudy import EVENT_STUDY_COLUMNS, _disjoint, event_study, plot_event_study

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


def tiny_wakes():
    """Four projects (1, 2 treated), windows t ∈ {10, 20} × s ∈ {3, 6}, cumulative counts."""
    # per project: pre[t][s], post[t][s] (cumulative in both t and s)
    pre = {1: [[1, 2], [2, 4]], 2: [[0, 1], [1, 1]], 3: [[1, 1], [1, 3]], 4: [[0, 0], [2, 2]]}
    post = {1: [[2, 3], [3, 6]], 2: [[1, 1], [1, 2]], 3: [[0, 1], [1, 1]], 4: [[0, 1], [0, 1]]}
    rows = []
    for s_i, s in enumerate((3.0, 6.0)):
        for t_i, t in enumerate((10.0, 20.0)):
            for e in (1, 2, 3, 4):
                rows.append({"eventID": e, "t_window": t, "spat_window": s, "treatment": int(e <= 2),
                             "dependent_pre": pre[e][t_i][s_i], "dependent_trend": 0.0, "SO_pre": 0,
                             "MO_pre": 0, "dependent_post": post[e][t_i][s_i], "SO_post": 0,
                             "MO_post": 0, "x": 1.0})
    return pd.DataFrame(rows)


def test_disjoint_cells_by_hand():
    c = np.array([[[1, 2], [2, 4]]], float)  # one project: t × s cumulative
    # ring 1 bin 1: 1; ring 2 bin 1: 2−1; ring 1 bin 2: 2−1; ring 2 bin 2: (4−2)−(2−1)
    np.testing.assert_array_equal(_disjoint(c)[0], [[1, 1], [1, 1]])


def test_tiny_event_study_by_hand():
    table, _ = event_study(tiny_wakes(), match_columns=["x"])
    assert list(table.columns) == EVENT_STUDY_COLUMNS
    # bins: −2 (lead, lags 11..20 before), −1 (reference, lags 0..10), 1, 2 (lags 1..10, 11..20)
    ring1 = table[table["ring"] == 1].set_index("bin")
    assert ring1.index.tolist() == [-2, -1, 1, 2]
    assert ring1.loc[-2, ["lag_from", "lag_to"]].tolist() == [-20.0, -11.0]
    assert ring1.loc[-1, "period"] == "reference" and ring1.loc[-1, "estimate"] == 0.0
    # ring 1 (disc 0–3 km): reference = pre(10,3): 1, 0, 1, 0; lead bin = pre(20,3) − pre(10,3):
    # 1, 1, 0, 2; lag 1 = post(10,3): 2, 1, 0, 0; lag 2 = post(20,3) − post(10,3): 1, 0, 1, 0.
    # One stratum, equal weights: estimate = mean(treated) − mean(control) of (cell − reference)
    lead = np.mean([1 - 1, 1 - 0]) - np.mean([0 - 1, 2 - 0])
    lag1 = np.mean([2 - 1, 1 - 0]) - np.mean([0 - 1, 0 - 0])
    lag2 = np.mean([1 - 1, 0 - 0]) - np.mean([1 - 1, 0 - 0])
    np.testing.assert_allclose(ring1.loc[[-2, 1, 2], "estimate"], [lead, lag1, lag2])
    # ring 2 (3–6 km) lag 2: post(20,6) − post(10,6) − [post(20,3) − post(10,3)] minus its
    # reference pre(10,6) − pre(10,3)
    ring2 = table[table["ring"] == 2].set_index("bin")
    cell = {1: (6 - 3) - (3 - 2), 2: (2 - 1) - (1 - 1), 3: (1 - 1) - (1 - 0), 4: (1 - 1) - (0 - 0)}
    ref = {1: 2 - 1, 2: 1 - 0, 3: 1 - 1, 4: 0 - 0}
    d = {e: cell[e] - ref[e] for e in cell}
    assert ring2.loc[2, "estimate"] == pytest.approx(np.mean([d[1], d[2]]) - np.mean([d[3], d[4]]))
    assert (table["n_treated"] == 2).all() and (table["n_control"] == 2).all()


def test_every_bin_equals_the_engines_weighted_lm_with_hc1():
    df = simulate_study_world(seed=2, n_treatment=80, n_control=240)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        r = matched_wake(df, (10, 30, 10), (3, 9, 3), *TYPES, ["base_dist", "terrain"], weighted=True)
    table, _ = event_study(r.wakes, match_columns=["base_dist", "terrain"])
    from qipstudy.eventstudy import _cells, _match_projects

    ids, t_vals, s_vals, pre, post, first = _cells(r.wakes)
    g, w = _match_projects(first, ["base_dist", "terrain"])
    keep = w > 0
    pc, qc = _disjoint(pre)[keep], _disjoint(post)[keep]
    X = np.column_stack([np.ones(keep.sum()), g[keep].astype(float)])
    checks = [(2, 2, qc[:, 1, 1] - pc[:, 0, 1]), (1, -3, pc[:, 2, 0] - pc[:, 0, 0]),
              (3, 3, qc[:, 2, 2] - pc[:, 0, 2])]
    for ring, b, y in checks:
        fit = fit_lm(y, X, w[keep], vcov="HC1")
        row = table[(table["ring"] == ring) & (table["bin"] == b)].iloc[0]
        assert row["estimate"] == pytest.approx(fit.estimate, rel=1e-10, abs=1e-12)
        assert row["pvalue"] == pytest.approx(fit.pvalue, rel=1e-8)
        assert row["std_error"] == pytest.approx(abs(fit.estimate / fit.t_value), rel=1e-8)


def test_planted_effect_shows_in_its_rings_and_bins_and_leads_are_flat():
    # 2 extra events per treated project, uniform in the 6-km disc over post days 1..20
    df = simulate_study_world(seed=5, n_treatment=300, n_control=600, effect=2.0,
                              effect_radius_km=6.0, effect_days=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        r = matched_wake(df, (10, 30, 10), (3, 9, 3), *TYPES, ["base_dist", "terrain"], weighted=True)
    result, tests = event_study(r.wakes, match_columns=["base_dist", "terrain"])
    table = result.set_index(["ring", "bin"])
    # expected per (ring, bin): 2 × area share × time share; rings 0–3: 1/4, 3–6: 3/4; bins 1, 2
    # each half of the 20 days; nothing beyond 6 km or after day 20
    expected = {(1, 1): 0.25, (1, 2): 0.25, (2, 1): 0.75, (2, 2): 0.75, (1, 3): 0.0, (2, 3): 0.0,
                (3, 1): 0.0, (3, 2): 0.0, (3, 3): 0.0}
    for cell, value in expected.items():
        row = table.loc[cell]
        assert abs(row["estimate"] - value) < 3 * row["std_error"], (cell, row["estimate"], value)
    assert table.loc[(2, 2), "pvalue"] < 1e-4
    assert tests["leads"].tolist() == [2, 2, 2, 6]
    assert (tests["pvalue"] > 0.01).all()


def test_event_study_figure_and_errors(tmp_path):
    table, tests = event_study(tiny_wakes(), match_columns=["x"])
    fig = plot_event_study(table, title="tiny", lead_test=tests)
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    fig.savefig(tmp_path / "es.png")
    with pytest.raises(ValueError, match="no project-level match column"):
        event_study(tiny_wakes(), match_columns=["dependent_trend"])
    with pytest.raises(ValueError, match="needs a cluster column"):
        event_study(tiny_wakes(), match_columns=["x"], vcov="cluster")
    w = tiny_wakes()
    w = w[~((w["eventID"] == 1) & (w["t_window"] == 20.0))]  # incomplete at t = 20
    assert event_study(w, match_columns=["x"])[0]["n_treated"].iloc[0] == 1
