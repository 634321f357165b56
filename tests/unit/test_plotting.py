"""Heatmaps and the balance figure: geometry, hatching classes, NA handling, single windows, ax=,
minimum-support hatching and legends, and degenerate (constant) covariates."""
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from matchedwake import matched_wake  # noqa: E402
from matchedwake.inference import ConstantCovariateWarning, balance_table  # noqa: E402
from matchedwake.plotting import (  # noqa: E402
    HATCH_DASHED,
    HATCH_NONE,
    HATCH_SOLID,
    MATCHED_COUNTS,
    THIN_SUPPORT,
    plot_balance,
    plot_r_style,
    plot_tiles,
    support_rule,
    thin_support,
    with_matched_counts,
)
from matchedwake.result import MatchedWakeResult  # noqa: E402
from matchedwake.rmath import r_pretty  # noqa: E402
from matchedwake.simulate import simulate_events  # noqa: E402
from matchedwake.windows import WindowWarning  # noqa: E402

NA = math.nan


def grid(ts, ss, est, p):
    rows = [(t, s) for t in ts for s in ss]
    return pd.DataFrame({"t_window": [r[0] for r in rows], "spat_window": [r[1] for r in rows],
                         "estimate": est, "pvalue": p})


# t = 10, 20 (rows) x s = 2.5, 5, 7.5 (columns), t-major like R
EST = grid([10, 20], [2.5, 5.0, 7.5],
           [NA, 0.4, 0.7, 1.0, -0.2, 0.3],
           [NA, 0.2, 0.07, 0.05, 0.1, 0.001])
# classes: NA -> solid, 0.2 -> solid, 0.07 -> dashed, 0.05 -> clear (p <= alpha1),
#          0.1 -> dashed (p <= alpha2), 0.001 -> clear
EXPECTED = {(10, 2.5): HATCH_SOLID, (10, 5.0): HATCH_SOLID, (10, 7.5): HATCH_DASHED,
            (20, 2.5): HATCH_NONE, (20, 5.0): HATCH_DASHED, (20, 7.5): HATCH_NONE}


def cells(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle) and str(p.get_gid()).startswith("mwa-hatch")]


def contour(ax):
    found = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(found) == 1
    return found[0]


def test_r_style_hatch_classes_and_geometry(tmp_path):
    fig = plot_r_style(EST)
    ax = fig.axes[0]
    rects = cells(ax)
    assert len(rects) == 6
    got = {r.mwa_window: r.get_gid() for r in rects}
    assert got == {(float(t), float(s)): g for (t, s), g in EXPECTED.items()}
    for r in rects:
        t, s = r.mwa_window
        i, j = [2.5, 5.0, 7.5].index(s), [10.0, 20.0].index(t)
        # R: windows at (i / (nx - 1), j / (ny - 1)); half-widths 1/4 (x) and 1/2 (y)
        assert r.get_x() == pytest.approx(i * 0.5 - 0.25) and r.get_width() == pytest.approx(0.5)
        assert r.get_y() == pytest.approx(j * 1.0 - 0.5) and r.get_height() == pytest.approx(1.0)
        assert r.get_visible() == (r.get_gid() != HATCH_NONE)
        assert r.get_linestyle() == ("--" if r.get_gid() == HATCH_DASHED else "-")
    lines = {c.get_gid(): c for c in ax.collections if isinstance(c, LineCollection)
             and not isinstance(c, ContourSet)}
    assert set(lines) == {"mwa-hatch-lines-solid", "mwa-hatch-lines-dashed"}
    # every dashed hatch segment lies inside one of the two dashed cells, at 45 degrees on paper
    dashed = [r for r in rects if r.get_gid() == HATCH_DASHED]
    for seg in lines["mwa-hatch-lines-dashed"].get_segments():
        (x0, y0), (x1, y1) = seg
        assert any(r.get_x() - 1e-9 <= min(x0, x1) and max(x0, x1) <= r.get_x() + r.get_width() + 1e-9
                   and r.get_y() - 1e-9 <= min(y0, y1) and max(y0, y1) <= r.get_y() + r.get_height() + 1e-9
                   for r in dashed)
        p0, p1 = ax.transData.transform([(x0, y0), (x1, y1)])
        assert abs(p1[0] - p0[0]) == pytest.approx(abs(p1[1] - p0[1]), rel=1e-6)
    # R's density = 3: the 45-degree lines are 1/3 inch apart (perpendicular), i.e. their
    # intercepts X - Y (in inches) differ by multiples of sqrt(2)/3
    inch = [ax.transData.transform(s)[0] / fig.dpi for s in lines["mwa-hatch-lines-solid"].get_segments()]
    c = np.unique(np.round([p[0] - p[1] for p in inch], 6))
    step = math.sqrt(2) / 3
    assert np.diff(c).min() == pytest.approx(step, rel=1e-4)
    np.testing.assert_allclose((c - c[0]) / step, np.round((c - c[0]) / step), atol=1e-4)
    assert ax.get_xlabel() == "Spatial window in kilometers"
    assert ax.get_ylabel() == "Temporal window in days"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2.5", "5", "7.5"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10", "20"]
    assert ax.get_xlim() == pytest.approx((-0.25, 1.25)) and ax.get_ylim() == pytest.approx((-0.5, 1.5))
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_r_style_levels_palette_and_na_as_zero():
    fig = plot_r_style(EST)
    cs = contour(fig.axes[0])
    # plot_nas: the NA window counts as 0; range of the padded values is [-0.2, 1.0]
    np.testing.assert_array_equal(cs.levels, r_pretty(-0.2, 1.0, 20))
    fc = cs.get_facecolor()
    assert len(fc) == len(cs.levels) - 1
    assert fc[0][0] == pytest.approx(0.3) and fc[-1][0] == pytest.approx(0.9)
    # gray.colors: equally spaced in gamma-2.2 space
    g = np.array([c[0] for c in fc]) ** 2.2
    np.testing.assert_allclose(np.diff(g), np.diff(g)[0], rtol=1e-6)
    assert len(fig.axes) == 2  # plot + colour key


def test_r_style_without_na_and_with_zlim():
    est = EST.copy()
    est.loc[0, "estimate"] = NA
    est["estimate"] = est["estimate"].clip(lower=0.1)  # all finite values in [0.1, 1.0]
    cs = contour(plot_r_style(est, plot_nas=False).axes[0])
    np.testing.assert_array_equal(cs.levels, r_pretty(0.1, 1.0, 20))
    cs = contour(plot_r_style(est, plot_nas=True).axes[0])
    assert cs.levels[0] == 0.0  # the NA window is drawn as 0
    cs = contour(plot_r_style(est, zlim=(-2, 2)).axes[0])
    np.testing.assert_array_equal(cs.levels, r_pretty(-2, 2, 20))
    with pytest.raises(ValueError):
        plot_r_style(est, zlim=(1, 0))


def test_r_style_adjustment_changes_hatching():
    est = grid([2, 4], [1, 2], [1.0, 2.0, 3.0, 4.0], [0.01, 0.04, 0.03, 0.005])
    def classes(adjust):
        return [r.get_gid() for r in sorted(cells(plot_r_style(est, adjust=adjust).axes[0]),
                                             key=lambda r: r.mwa_window)]
    assert classes("none") == [HATCH_NONE] * 4
    # bonferroni 0.04, 0.16, 0.12, 0.02; holm 0.03, 0.06, 0.06, 0.02
    assert classes("bonferroni") == [HATCH_NONE, HATCH_SOLID, HATCH_SOLID, HATCH_NONE]
    assert classes("holm") == [HATCH_NONE, HATCH_DASHED, HATCH_DASHED, HATCH_NONE]


def test_r_style_single_window(tmp_path):
    one = pd.DataFrame({"t_window": [7], "spat_window": [5], "estimate": [-0.036],
                        "pvalue": [0.77]})
    fig = plot_r_style(one, t_unit="hours")
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
    assert list(ax.get_xticks()) == [0.5] and list(ax.get_yticks()) == [0.5]
    assert ax.get_ylabel() == "Temporal window in hours"
    (r,) = cells(ax)
    assert r.get_gid() == HATCH_SOLID
    assert (r.get_x(), r.get_y(), r.get_width(), r.get_height()) == (0.0, 0.0, 1.0, 1.0)
    fig.savefig(tmp_path / "one.png")


def test_r_style_one_row_grid():
    est = grid([5], [1, 2, 3], [0.1, 0.2, 0.3], [0.01, 0.5, NA])
    ax = plot_r_style(est).axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    assert ax.get_xlim() == pytest.approx((-0.25, 1.25))
    assert [r.get_gid() for r in sorted(cells(ax), key=lambda r: r.mwa_window)] == [
        HATCH_NONE, HATCH_SOLID, HATCH_SOLID]


def test_all_na_without_plot_nas_draws_only_hatching():
    est = grid([2, 4], [1, 2], [NA] * 4, [NA] * 4)
    ax = plot_r_style(est, plot_nas=False).axes[0]
    assert not [c for c in ax.collections if isinstance(c, ContourSet)]
    assert all(r.get_gid() == HATCH_SOLID for r in cells(ax))


def test_small_multiples_with_ax():
    fig = Figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    assert plot_r_style(EST, ax=a1) is fig
    assert plot_tiles(EST, ax=a2, title="tiles") is fig
    assert len(cells(a1)) == 6
    assert a2.get_title() == "tiles" and a2.get_legend() is not None


def test_tiles_classes_labels_and_na(tmp_path):
    fig = plot_tiles(EST, t_unit="days")
    ax = fig.axes[0]
    labels = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text()
              for t in ax.texts if t.get_gid() == "tile-label"}
    # significant windows: (t=20, s=2.5) -> 1.00 and (t=20, s=7.5) -> 0.30 at (column, row)
    assert labels == {(0, 1): "1.00", (2, 1): "0.30"}
    hatched = {(p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches if p.get_gid() == "tile-hatch"}
    assert hatched == {(2.0, 0.0), (1.0, 1.0)}
    assert all(p.get_hatch() == "///" for p in ax.patches if p.get_gid() == "tile-hatch")
    na = [(t.get_position(), t.get_text()) for t in ax.texts if t.get_gid() == "tile-na"]
    assert na == [((0, 0), "NA")]
    mesh = ax.collections[0]
    arr = mesh.get_array()
    assert np.ma.is_masked(arr) and bool(np.ma.getmaskarray(arr).ravel()[0])
    assert mesh.norm.vmin == -1.0 and mesh.norm.vmax == 1.0  # symmetric around 0
    assert ax.get_xlabel() == "Spatial window (km)" and ax.get_ylabel() == "Temporal window (days)"
    fig.savefig(tmp_path / "tiles.png")


def test_tiles_single_window_and_adjust():
    one = pd.DataFrame({"t_window": [7], "spat_window": [5], "estimate": [0.5], "pvalue": [0.04]})
    ax = plot_tiles(one).axes[0]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "tile-label"] == ["0.50"]
    est = grid([2, 4], [1, 2], [1.0, 2.0, 3.0, 4.0], [0.01, 0.04, 0.03, 0.005])
    ax = plot_tiles(est, adjust="holm").axes[0]
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "tile-label") == ["1.00", "4.00"]
    assert len([p for p in ax.patches if p.get_gid() == "tile-hatch"]) == 2


def test_result_methods_use_parameters():
    res = MatchedWakeResult(EST, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
                            {"t_unit": "mins", "alpha1": 0.1, "alpha2": 0.2})
    ax = res.plot().axes[0]
    assert ax.get_ylabel() == "Temporal window in mins"
    got = {r.mwa_window: r.get_gid() for r in cells(ax)}
    # with alpha1 = 0.1, alpha2 = 0.2: 0.07 and 0.1 are significant, 0.2 is dashed
    assert got[(10.0, 7.5)] == HATCH_NONE and got[(20.0, 5.0)] == HATCH_NONE
    assert got[(10.0, 5.0)] == HATCH_DASHED
    ax = res.plot_tiles().axes[0]
    assert ax.get_ylabel() == "Temporal window (mins)"


def test_empty_estimates_raise():
    with pytest.raises(ValueError, match="empty"):
        plot_r_style(EST.iloc[:0])


# ------------------------------------------------------------------ degenerate balance inputs
TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))


@pytest.fixture(scope="module")
def small_run():
    """A small simulated study with a constant and a near-constant (97 % zeros) covariate."""
    df = simulate_events(60, 60, 500, days=200, box_km=30, seed=9)
    df["const"] = 3.0  # constant everywhere: SD 0, the case that crashed plot_balance
    rng = np.random.default_rng(2)
    df["rare"] = np.where(rng.uniform(size=len(df)) < 0.03, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        return matched_wake(df, (5, 10, 5), (2, 4, 2), *TYPES, ["cov1", "const", "rare"], tcm=False)


def test_constant_covariate_has_undefined_smd_a_warning_and_no_crash(small_run, tmp_path):
    with pytest.warns(ConstantCovariateWarning) as caught:
        bal = balance_table(small_run)
    messages = [str(w.message) for w in caught]
    assert ("balance: matching variable 'const' is constant in 4 of 4 windows (standard deviation 0: SMD "
            "undefined there). A covariate without spread cannot be balanced or matched on: check how it "
            "was built.") in messages
    const = bal[bal["variable"] == "const"]
    assert len(const) == 4 and const["smd_status"].eq("constant").all()
    assert const["smd_pre"].isna().all() and const["smd_post"].isna().all()  # was 0 and -inf before
    assert (const["sd_pooled"] == 0).all()
    assert const["mean_treated_pre"].tolist() == [3.0] * 4  # the means themselves are still reported
    ok = bal[bal["variable"] == "cov1"]
    assert ok["smd_status"].eq("ok").all() and np.isfinite(ok["smd_pre"]).all()
    fig = plot_balance(bal)  # raised "Axis limits cannot be NaN or Inf"
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert np.isfinite([lo, hi]).all() and hi == pytest.approx(-lo)
    finite = bal[["smd_pre", "smd_post"]].abs().to_numpy()
    assert hi == pytest.approx(1.1 * max(np.nanmax(finite), 0.1))
    notes = {t.get_text() for t in ax.texts if t.get_gid() == "balance-note"}
    assert "no spread (SD 0) in every window: SMD undefined" in notes
    fig.savefig(tmp_path / "balance.png")


def test_near_constant_covariate_keeps_its_smd_and_is_drawn_as_diamonds(small_run):
    with pytest.warns(ConstantCovariateWarning, match=r"'rare' is near-constant in \d of 4 windows \(at least "
                                                      r"95% of the wakes share one value: SMD fragile\)\.$"):
        bal = balance_table(small_run)
    rare = bal[bal["variable"] == "rare"]
    near = rare[rare["smd_status"] == "near-constant"]
    assert len(near) >= 1 and np.isfinite(near["smd_pre"]).all()
    # by hand: the share of the most frequent value among the window's wakes
    wk = small_run.wakes
    first = near.iloc[0]
    x = wk.loc[(wk.t_window == first.t_window) & (wk.spat_window == first.spat_window), "rare"].to_numpy()
    assert max((x == 0).mean(), (x == 1).mean()) >= 0.95
    fig = plot_balance(bal)
    diamonds = [c for c in fig.axes[0].collections if c.get_gid() == "balance-near-constant"]
    assert len(diamonds) == 2 and len(diamonds[1].get_offsets()) == len(near)
    assert any("◆ near-constant window" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_separated_covariate_and_tables_without_status_column():
    bal = pd.DataFrame({
        "t_window": [10, 10, 20, 20], "spat_window": [3, 3, 3, 3], "variable": ["a", "b", "a", "b"],
        "factor": [False] * 4, "smd_pre": [0.2, np.inf, -0.1, np.nan], "smd_post": [0.05, -np.inf, 0.0, np.nan],
        "L1_pre": [0.5, 0.5, np.nan, np.nan], "L1_post": [0.3, 0.3, np.nan, np.nan]})
    fig = plot_balance(bal)  # a CSV from before smd_status: infinite SMDs must not set the limits
    assert fig.axes[0].get_xlim() == pytest.approx((-0.22, 0.22))
    texts = {t.get_text() for a in fig.axes for t in a.texts if t.get_gid() == "balance-note"}
    assert "no spread (SD 0) in every window: SMD undefined" in texts
    assert "1 window(s) without matched strata: no L1 after matching" in texts
    empty = plot_balance(bal.iloc[:0])
    assert [t.get_text() for a in empty.axes for t in a.texts] == ["no windows: nothing to show"] * 2


def test_separated_groups_are_undefined_not_infinite(small_run):
    wakes = small_run.wakes.copy()
    wakes["sep"] = wakes["treatment"].astype(float)  # treated all 1, controls all 0: SD 0 within groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bal = balance_table(wakes, match_columns=["cov1", "sep"])
    sep = bal[bal["variable"] == "sep"]
    assert sep["smd_status"].eq("separated").all() and sep["smd_pre"].isna().all()
    assert sep["mean_treated_pre"].eq(1.0).all() and sep["mean_control_pre"].eq(0.0).all()


# ------------------------------------------------------------------ minimum support
MATCHING = pd.DataFrame({  # R mwa's matching table: treatment_post / control_post are the matched wakes
    "t_window": [10, 10, 10, 20, 20, 20], "spat_window": [2.5, 5.0, 7.5] * 2,
    "control_pre": [90] * 6, "treatment_pre": [40] * 6, "L1_pre": [0.5] * 6, "commonSupport_pre": [10.0] * 6,
    "control_post": [0, 30, 12, 9, 10, 50], "treatment_post": [0, 3, 10, 20, 10, 40],
    "L1_post": [0.2] * 6, "commonSupport_post": [50.0] * 6})
# thin at (10, 10): (t=10, s=2.5) 0/0, (10, 5) 3 treated, (20, 2.5) 9 control;
# (10, 7.5) and (20, 5) have 10/12 and 10/10
THIN = {(10.0, 2.5), (10.0, 5.0), (20.0, 2.5)}


def test_matched_counts_join_and_thin_rule():
    est = with_matched_counts(EST, MATCHING)
    assert est[list(MATCHED_COUNTS)].values.tolist() == [[0, 0], [3, 30], [10, 12], [20, 9], [10, 10], [40, 50]]
    assert list(est.columns[:4]) == list(EST.columns)  # the engine's columns stay first
    flags = thin_support(est, (10, 10))
    assert {(t, s) for t, s, f in zip(est.t_window, est.spat_window, flags) if f} == THIN
    assert thin_support(est, 0).sum() == 0 and thin_support(est, (0, 10)).sum() == 2
    assert support_rule((10, 5)) == "fewer than 10 matched treated or 5 matched control wakes"
    with pytest.raises(ValueError, match=r"matching table has no row for 1 window\(s\) of the estimates "
                                         r"\(t=20, s=7.5\): both must come from the same run"):
        with_matched_counts(EST, MATCHING.iloc[:5])
    with pytest.raises(ValueError, match="no column"):
        with_matched_counts(EST, MATCHING.drop(columns="control_post"))
    with pytest.raises(ValueError, match="with_matched_counts"):
        thin_support(EST, 10)
    with pytest.raises(ValueError, match="min_matched"):
        thin_support(est, "10")


def thin_patches(ax):
    return {p.mwa_window for p in ax.patches if p.get_gid() == THIN_SUPPORT}


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_tiles_hatch_thin_windows_with_a_legend_entry():
    est = with_matched_counts(EST, MATCHING)
    ax = plot_tiles(est, min_matched=(10, 10)).axes[0]
    assert thin_patches(ax) == THIN
    assert all(p.get_hatch() == "xx" for p in ax.patches if p.get_gid() == THIN_SUPPORT)
    labels = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text()
              for t in ax.texts if t.get_gid() == "tile-label"}
    # (t=20, s=2.5) is significant but rests on 9 control wakes: its value is bracketed
    assert labels == {(0, 1): "(1.00)", (2, 1): "0.30"}
    assert legend_texts(ax) == ["framed, value shown: p ≤ 0.05", "hatched: 0.05 < p ≤ 0.1",
                                "no frame, no value: p > 0.1", "grey: no estimate (NA)",
                                "thin support: fewer than 10 matched treated or 10 matched control wakes"]
    plain = plot_tiles(est).axes[0]  # without min_matched nothing is flagged
    assert thin_patches(plain) == set() and not any("thin" in t for t in legend_texts(plain))


def test_r_style_hatch_thin_windows_and_names_every_hatching():
    est = with_matched_counts(EST, MATCHING)
    fig = plot_r_style(est, min_matched=(10, 10))
    ax = fig.axes[0]
    assert thin_patches(ax) == THIN
    assert len(cells(ax)) == 6  # the significance hatching is unchanged
    assert legend_texts(ax) == ["solid hatching: p > 0.1, or no estimate (drawn as 0)",
                                "dashed hatching: 0.05 < p ≤ 0.1", "no hatching: p ≤ 0.05",
                                "thin support: fewer than 10 matched treated or 10 matched control wakes"]
    fig.canvas.draw()  # the custom legend handles render
    one_class = plot_r_style(EST, alpha1=0.05, alpha2=0.05, plot_nas=False).axes[0]
    assert legend_texts(one_class) == ["solid hatching: p > 0.05, or no estimate", "no hatching: p ≤ 0.05"]
    assert plot_r_style(EST, legend=False).axes[0].get_legend() is None
