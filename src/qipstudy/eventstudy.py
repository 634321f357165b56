"""Event study: the effect in disjoint time bins and spatial rings, with pre-period leads.

The MWA grid is cumulative: the 30-day, 9-km window contains the 10-day, 3-km one, so
neighbouring windows share most of their events and a pattern over the grid says little about
*when* and *where* an effect arises. The wakes table holds every cumulative count, so
differences give the counts of disjoint cells: ring k = (s_{k−1}, s_k] km (the first ring is
the disc [0, s_1]) and time bin j = lags t_{j−1}+1 … t_j after the start (post) or before it
(pre). The pre window of mwa covers lags 0 … t (t+1 units), so the pre bin nearest the start is
lags 0 … t_1 and holds the start day itself.

Design. One sample for all cells: the projects whose wakes are complete in every window of the
grid. They are coarsened-exact-matched once, on the project-level match columns only (not on the
pre-trend, the prior wakes or the pre counts — matching on those would force the leads to zero
and hide what they are meant to show). For every ring and bin the outcome is the cell's count
minus the count of the same ring's reference bin (the pre bin nearest the start, "−1"); the
estimate is the CEM-weighted treated–control difference of that change (WLS on an intercept and
the treatment), with HC1 (or cluster-robust) standard errors. Post bins are the effect by
distance and time since the start; pre bins further back ("leads") are a placebo: under
parallel trends (conditional on the matching covariates) they are zero, and the joint Wald test
of all leads of a ring (covariance from the stacked scores of the bins) is the parallel-trends
check.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.cem import as_match_variable, cem  # noqa: E402

__all__ = ["event_study", "event_study_of_run", "lead_tests", "plot_event_study", "EVENT_STUDY_COLUMNS"]

EVENT_STUDY_COLUMNS = ["ring", "ring_inner", "ring_outer", "bin", "period", "lag_from", "lag_to",
                       "estimate", "std_error", "ci_low", "ci_high", "pvalue", "n_treated",
                       "n_control"]
_WAKE_LEVEL = ("dependent_trend", "SO_pre", "MO_pre")


def _cells(wakes: pd.DataFrame):
    """Per-project cumulative pre/post counts (projects × t × s) of the projects complete in
    every window, with their wake rows (for covariates and treatment)."""
    t_vals = np.sort(wakes["t_window"].unique())
    s_vals = np.sort(wakes["spat_window"].unique())
    n_cells = t_vals.size * s_vals.size
    per = wakes.groupby("eventID")["t_window"].size()
    ids = per.index[per.to_numpy() == n_cells].to_numpy()
    if ids.size == 0:
        raise ValueError("event study: no project has a complete wake in every window of the grid "
                         "(shrink the largest temporal window)")
    sub = wakes[wakes["eventID"].isin(ids)]
    ti = np.searchsorted(t_vals, sub["t_window"].to_numpy())
    si = np.searchsorted(s_vals, sub["spat_window"].to_numpy())
    pi = np.searchsorted(ids, sub["eventID"].to_numpy())
    pre = np.zeros((ids.size, t_vals.size, s_vals.size))
    post = np.zeros_like(pre)
    pre[pi, ti, si] = sub["dependent_pre"].to_numpy(dtype=float)
    post[pi, ti, si] = sub["dependent_post"].to_numpy(dtype=float)
    first = sub.drop_duplicates("eventID").set_index("eventID").loc[ids]
    return ids, t_vals, s_vals, pre, post, first


def _disjoint(c: np.ndarray) -> np.ndarray:
    """Cumulative counts over (t, s) → counts of disjoint (time bin, ring) cells."""
    d = np.diff(c, axis=2, prepend=0.0)
    return np.diff(d, axis=1, prepend=0.0)


def _match_projects(first: pd.DataFrame, match_columns: Sequence[str]):
    cols = [c for c in match_columns if c not in _WAKE_LEVEL]
    if not cols:
        raise ValueError("event study: no project-level match column (only window-level ones given)")
    missing = [c for c in cols if c not in first.columns]
    if missing:
        raise ValueError(f"event study: the wakes table lacks the match columns {missing}")
    data, factors = {}, set()
    for c in cols:
        values, is_factor = as_match_variable(first[c])
        data[c] = values
        if is_factor:
            factors.add(c)
    g = first["treatment"].to_numpy(dtype=np.int64)
    res = cem(g, data, factors, describe_bins=False)
    return g, res.weights


def _wls_scores(D: np.ndarray, g: np.ndarray, w: np.ndarray):
    """WLS of every column of D on (1, g) with weights w > 0: treatment coefficients and the
    per-row scores of the treatment coefficient (for sandwich covariances)."""
    X = np.column_stack([np.ones(g.size), g.astype(float)])
    xtwx = X.T @ (X * w[:, None])
    bread = np.linalg.inv(xtwx)
    beta = bread @ (X.T @ (w[:, None] * D))
    resid = D - X @ beta
    psi = (X * w[:, None]) @ bread.T  # row i: bread @ x_i w_i
    scores = psi[:, 1][:, None] * resid  # n × bins, treatment component
    return beta[1], scores


def _sandwich(scores: np.ndarray, vcov: str, cluster, n: int, k: int = 2):
    if vcov == "HC1":
        return scores.T @ scores * (n / (n - k)), n - k
    if vcov == "cluster":
        codes, uniq = pd.factorize(np.asarray(cluster), use_na_sentinel=False)
        n_g = uniq.size
        if n_g < 2:
            raise ValueError("event study: cluster-robust standard errors need at least two clusters")
        summed = np.zeros((n_g, scores.shape[1]))
        np.add.at(summed, codes, scores)
        return summed.T @ summed * (n_g / (n_g - 1) * (n - 1) / (n - k)), n_g - 1
    raise ValueError(f"event study: vcov must be 'HC1' or 'cluster', got {vcov!r}")


def event_study(wakes: pd.DataFrame, *, match_columns: Sequence[str], vcov: str = "HC1",
                cluster_column: str | None = None, weighted: bool = True,
                level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Event-study estimates per spatial ring and time bin (module docstring), and the joint
    lead tests (:func:`lead_tests`): returns ``(estimates, lead_tests)``.

    Columns (:data:`EVENT_STUDY_COLUMNS`): ring (1 = innermost), ring_inner/ring_outer (km),
    bin (−J … −1 before the start, 1 … J after; −1 is the reference, estimate 0 by
    construction, no standard error), period (lead / reference / lag), lag_from/lag_to (in the
    run's time unit, negative before the start), estimate, std_error, ci_low/ci_high (``level``),
    pvalue (t distribution, df n−2 for HC1 or G−1 for clusters), n_treated/n_control (matched
    projects).
    """
    if vcov == "cluster" and (cluster_column is None or cluster_column not in wakes.columns):
        raise ValueError(f"event study: vcov='cluster' needs a cluster column of the wakes table, "
                         f"got {cluster_column!r}")
    ids, t_vals, s_vals, pre, post, first = _cells(wakes)
    g, w = _match_projects(first, match_columns)
    if not weighted:
        w = (w > 0).astype(float)
    keep = w > 0
    if not (keep & (g == 1)).any() or not (keep & (g == 0)).any():
        raise ValueError("event study: matching left no treated or no control project")
    pre_cells, post_cells = _disjoint(pre)[keep], _disjoint(post)[keep]
    g, w = g[keep], w[keep]
    cluster = first[cluster_column].to_numpy()[keep] if vcov == "cluster" else None
    n_t, n_s = t_vals.size, s_vals.size
    ref = pre_cells[:, 0, :]  # lags 0..t_1 before the start, per ring
    # columns: for each ring, leads j = J..2 (bin −j), then lags j = 1..J
    blocks, meta = [], []
    for k in range(n_s):
        for j in range(n_t - 1, 0, -1):
            blocks.append(pre_cells[:, j, k] - ref[:, k])
            meta.append((k, -(j + 1), "lead", -t_vals[j], -(t_vals[j - 1] + 1)))
        for j in range(n_t):
            blocks.append(post_cells[:, j, k] - ref[:, k])
            meta.append((k, j + 1, "lag", (t_vals[j - 1] + 1) if j else 1, t_vals[j]))
    D = np.column_stack(blocks)
    beta, scores = _wls_scores(D, g, w)
    V, df = _sandwich(scores, vcov, cluster, g.size)
    se = np.sqrt(np.maximum(np.diag(V), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = beta / se
    from scipy import special, stats  # deferred: scipy.stats costs ~0.7 s at import

    pval = 2.0 * special.stdtr(df, -np.abs(tval))
    q = float(stats.t.ppf(0.5 + level / 2, df))
    n_tr, n_co = int((g == 1).sum()), int((g == 0).sum())
    rows = []
    for k in range(n_s):
        inner = float(s_vals[k - 1]) if k else 0.0
        rows.append([k + 1, inner, float(s_vals[k]), -1, "reference", -float(t_vals[0]), 0.0,
                     0.0, math.nan, math.nan, math.nan, math.nan, n_tr, n_co])
    for c, (k, b, period, lag_from, lag_to) in enumerate(meta):
        inner = float(s_vals[k - 1]) if k else 0.0
        rows.append([k + 1, inner, float(s_vals[k]), b, period, float(lag_from), float(lag_to),
                     float(beta[c]), float(se[c]), float(beta[c] - q * se[c]),
                     float(beta[c] + q * se[c]), float(pval[c]), n_tr, n_co])
    table = pd.DataFrame(rows, columns=EVENT_STUDY_COLUMNS)
    table = table.sort_values(["ring", "bin"], kind="stable").reset_index(drop=True)
    return table, lead_tests(beta, V, meta, df, s_vals)


def event_study_of_run(mwa_dir, *, vcov: str = "HC1",
                       cluster_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`event_study` of the run in ``mwa_dir`` (its wakes, match columns and weighting)."""
    from qipstudy.robustness import inference_options, load_run

    wakes, parameters = load_run(mwa_dir)
    options = inference_options(parameters)
    return event_study(wakes, match_columns=options["match_columns"], vcov=vcov,
                       cluster_column=cluster_column, weighted=options.get("weighted", True))


def lead_tests(beta, V, meta, df, s_vals) -> pd.DataFrame:
    """Joint Wald tests that all leads are zero, per ring and over all rings: F = b'V⁻¹b / L
    with (L, df) degrees of freedom."""
    from scipy import stats

    leads = np.array([m[2] == "lead" for m in meta])
    ring = np.array([m[0] for m in meta])
    rows = []
    groups = [(f"ring {k + 1} ({(s_vals[k - 1] if k else 0):g}–{s_vals[k]:g})", leads & (ring == k))
              for k in range(len(s_vals))] + [("all rings", leads)]
    for name, sel in groups:
        n_l = int(sel.sum())
        if n_l == 0:
            rows.append([name, 0, math.nan, math.nan, math.nan, math.nan])
            continue
        b = beta[sel]
        v = V[np.ix_(sel, sel)]
        try:
            wald = float(b @ np.linalg.solve(v, b))
        except np.linalg.LinAlgError:
            wald = float(b @ np.linalg.pinv(v) @ b)
        f = wald / n_l
        rows.append([name, n_l, f, n_l, df, float(stats.f.sf(f, n_l, df))])
    return pd.DataFrame(rows, columns=["rings", "leads", "F", "df1", "df2", "pvalue"])


def plot_event_study(table: pd.DataFrame, *, t_unit: str = "days", title: str = "",
                     lead_test: pd.DataFrame | None = None) -> plt.Figure:
    """One panel per ring: estimate and confidence interval per time bin, leads left of the
    start (grey), lags right (blue), the reference bin as a hollow point at 0."""
    rings = sorted(table["ring"].unique())
    n = len(rings)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False,
                             sharey=True, layout="constrained")
    tests = lead_test
    for ax, r in zip(axes.flat, rings):
        part = table[table["ring"] == r]
        x = (part["lag_from"] + part["lag_to"]) / 2.0
        for period, color in (("lead", "0.45"), ("lag", "#2c6fbb")):
            sel = (part["period"] == period).to_numpy()
            ax.errorbar(x[sel], part["estimate"][sel],
                        yerr=[part["estimate"][sel] - part["ci_low"][sel],
                              part["ci_high"][sel] - part["estimate"][sel]],
                        fmt="o", color=color, capsize=2, markersize=4, label=period)
        ref = (part["period"] == "reference").to_numpy()
        ax.plot(x[ref], part["estimate"][ref], "o", mfc="white", mec="black", label="reference")
        ax.axhline(0, color="black", linewidth=0.7)
        ax.axvline(0.5, color="#c0392b", linewidth=0.8, linestyle="--")
        inner, outer = part["ring_inner"].iloc[0], part["ring_outer"].iloc[0]
        head = f"ring {inner:g}–{outer:g} km"
        if tests is not None and len(tests) >= r:
            p = tests.iloc[r - 1]["pvalue"]
            head += f" (leads = 0: p = {p:.2f})" if np.isfinite(p) else ""
        ax.set_title(head, fontsize=9)
        ax.set_xlabel(f"{t_unit} since the project start (bin midpoints)")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes.flat[0].set_ylabel("treated − control change vs bin −1")
    axes.flat[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
