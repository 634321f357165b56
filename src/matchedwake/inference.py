"""Honest inference over a grid of correlated windows (an extension; R mwa has none of this).

The paper reports the windows with p ≤ 0.05 out of ~30 nested, strongly correlated tests,
with no multiplicity correction and no check against the model's distributional assumptions.
This module adds:

* :func:`adjust_estimates`: Holm / Benjamini–Hochberg adjusted p-values over the windows that
  have a p-value (R's ``p.adjust`` semantics, NA stays NA).
* Randomization inference (RI) and Westfall–Young max-T family-wise p-values, single-step
  (``pvalue_wy``) and step-down (``pvalue_wy_stepdown``, Westfall & Young 1993, Algorithm 2.8),
  under one of two permutation schemes (``scheme``):

  ``"window_strata"`` (shared keys). For permutation b, a generator seeded with ``[seed, b]``
  draws one uniform key per wake eventID. In each window, within each CEM stratum of the
  *matched* wakes, the stratum's number of treated labels goes to the wakes with the smallest
  keys (ties by table order): a uniform permutation within every stratum that keeps the
  per-stratum treated counts and so the CEM weight of every position (treated 1, control
  n_T,j/n_C,j · M_C/M_T). The keys are shared by all windows, so an event treated in one
  permuted window tends to be treated in the others — but the windows' strata differ, so the
  windows do not see *one* assignment: the permuted statistics are less correlated across
  windows than the observed ones, the max-|t| reference distribution is stochastically too
  large, and the family-wise test is conservative (valid, not exact). Each window's RI p-value
  is exact under exchangeability within that window's strata.

  ``"single_assignment"``. For permutation b, a generator seeded with ``[seed, b]`` draws one
  key per *project* (unique wake eventID) and, within each assignment stratum (below), gives
  the stratum's number of treated projects to the smallest keys: one permuted treatment
  vector for the whole study. Every window then takes its wakes' labels from that vector —
  wakes differ across windows (a project may be incomplete at long t or dropped by
  deleteSUTVA), but each project has one label in all windows where it appears — and is
  re-matched (CEM strata are label-free; which strata are matched and the weights follow the
  new labels) and refitted. So the max-|t| over windows is computed on one assignment, as
  Westfall–Young requires; the test is exact for the sharp null when treatment is exchangeable
  within the assignment strata, and asymptotically valid beyond that because the statistic is
  a (robust) t. Assignment strata: the exact values of ``assignment_strata`` columns and of
  the categorical match columns (e.g. the calendar bin of ``calendar_match``), and, with
  ``assignment_bins`` = k > 1, k quantile bins (over the projects) of every numeric match
  column. Window-level matching variables (dependent_trend, SO_pre, MO_pre) stay at their
  observed values (the TCM split of earlier wakes by type is not recomputed).

  With B permutations:

  * RI p (per window) = (1 + #{b: |t_b| ≥ |t_obs|}) / (B_w + 1), B_w = permutations in which
    the window could be fitted;
  * WY single-step p = (1 + #{b: max_w' |t_b(w')| ≥ |t_obs(w)|}) / (B + 1), the max running
    over the windows of the family (those with an observed t) that could be fitted in b;
  * WY step-down: windows ordered by |t_obs| descending; the max for the j-th runs only over
    the windows ranked j or lower, and p-values are made monotone in that order. Never larger
    than single-step, same family-wise error control.

  Windows without an observed fit have NA p-values and are left out of the family. Comparisons
  allow a relative tolerance of 1e-10, so a draw that reproduces the observed labels counts as
  "at least as extreme" despite rounding. A permutation's result depends only on (seed, b,
  scheme), never on how the permutations are split into jobs: :func:`permutation_draws` over
  ``range(k*m, (k+1)*m)`` is the shardable unit and :func:`combine_permutations` joins shards.

* :func:`clopper_pearson`: exact binomial confidence interval of a rejection rate (for
  calibration numbers).
* :func:`balance_table`: standardized mean differences before and after matching, per window
  and matching variable, next to the L1 imbalance and common support of the matching table.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .adjust import canonical_method, p_adjust
from .cem import as_match_variable, combine_codes
from .estimation import FORMULA_LEVEL, build_design, estimate
from .rmath import r_round
from .windows import WindowDesign, matching_variables, window_designs

__all__ = ["adjust_estimates", "observed_statistics", "permutation_draws",
           "combine_permutations", "permutation_inference", "balance_table", "clopper_pearson",
           "stepdown_maxt", "SCHEMES"]

_REL_TOL = 1e-10
DRAW_COLUMNS = ["permutation", "t_window", "spat_window", "estimate", "t_value"]
SCHEMES = ("window_strata", "single_assignment")
#: wake-level matching variables: they differ by window, so they never define assignment strata
_WAKE_LEVEL = ("dependent_trend", "SO_pre", "MO_pre")


def adjust_estimates(estimates: pd.DataFrame, methods=("holm", "BH")) -> pd.DataFrame:
    """A copy of ``estimates`` with a ``pvalue_<method>`` column per method (e.g. pvalue_holm,
    pvalue_BH), adjusted over the windows that have a p-value; missing stays missing."""
    if isinstance(methods, str):
        methods = (methods,)
    out = estimates.copy()
    p = out["pvalue"].to_numpy(dtype=float, na_value=np.nan)
    for m in methods:
        name = canonical_method(m)
        out[f"pvalue_{name}"] = p_adjust(p, name)
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided confidence interval of a binomial proportion k/n."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    a = 1.0 - level
    from scipy import stats  # scipy.stats costs ~0.7 s at import; only this interval needs it

    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


# ------------------------------------------------------------------ permutation inference
@dataclass
class _PermWindow:
    """What a window needs to be refitted under permuted labels (matched rows only)."""

    t_window: float
    spat_window: float
    fit_ok: bool
    event: np.ndarray  # eventID of each matched row (index into the key vector)
    strata: np.ndarray  # dense stratum id 0..k-1 of each matched row
    stratum_start: np.ndarray  # first position of each stratum in stratum-sorted order
    n_treated: np.ndarray  # treated count per stratum
    control_weight: np.ndarray  # cem weight of a control per stratum
    y: np.ndarray
    X: np.ndarray
    control_index: np.ndarray
    cluster: np.ndarray | None


@dataclass
class _AssignWindow:
    """A window for the single-assignment scheme: every wake row, label-free strata."""

    t_window: float
    spat_window: float
    fit_ok: bool
    project: np.ndarray  # project index (into the study-wide label vector) of each row
    strata: np.ndarray  # CEM stratum of each row (from the coarsened values; label-free)
    n_strata: int
    matching: bool  # False with match_default=False: all rows, weight 1
    y: np.ndarray
    X: np.ndarray
    control_index: np.ndarray
    cluster: np.ndarray | None


@dataclass
class _Setup:
    windows: list[_PermWindow]
    observed: pd.DataFrame
    n_keys: int
    estimation: str
    weighted: bool
    vcov: str
    scheme: str = "window_strata"
    assign_windows: list[_AssignWindow] | None = None
    projects: _PermWindow | None = None  # the projects as one "window" of assignment strata
    min_matched: int = 0


def _prepare(wakes, match_columns, estimation, formula, weighted, estimation_controls, tcm,
             match_default, vcov, cluster_column, scheme="window_strata", assignment_strata=(),
             assignment_bins=0, min_matched=0) -> _Setup:
    """Match every window once and keep what refitting under permuted labels needs."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    min_matched = _check_min_matched(min_matched)
    event_ids = wakes["eventID"].to_numpy(dtype=np.int64)
    windows: list[_PermWindow] = []
    obs_rows = []
    designs = []
    for d in window_designs(wakes, match_columns=match_columns, estimation=estimation,
                            formula=formula, weighted=weighted,
                            estimation_controls=estimation_controls, tcm=tcm,
                            match_default=match_default, vcov=vcov,
                            cluster_column=cluster_column):
        fit = d.fit
        ok = fit is not None and fit.ok and not math.isnan(fit.t_value) \
            and _supported(d.X[:, -1], min_matched)
        obs_rows.append([d.t_window, d.spat_window,
                         fit.estimate if ok else math.nan, fit.pvalue if ok else math.nan,
                         fit.t_value if ok else math.nan])
        windows.append(_perm_window(d, event_ids, ok))
        designs.append((d, ok))
    observed = pd.DataFrame(obs_rows, columns=["t_window", "spat_window", "estimate", "pvalue",
                                               "t_value"])
    n_keys = int(event_ids.max()) + 1 if event_ids.size else 1
    setup = _Setup(windows=windows, observed=observed, n_keys=n_keys, estimation=estimation,
                   weighted=weighted, vcov=vcov, scheme=scheme, min_matched=min_matched)
    if scheme == "single_assignment":
        project_of_event, projects = _assignment_strata(wakes, match_columns, assignment_strata,
                                                        assignment_bins)
        setup.projects = projects
        setup.assign_windows = [
            _assign_window(d, ok, wakes, project_of_event, estimation_controls, formula,
                           match_default, cluster_column)
            for d, ok in designs]
    return setup


def _check_min_matched(min_matched) -> int:
    if isinstance(min_matched, bool) or not isinstance(min_matched, (int, np.integer)) \
            or min_matched < 0:
        raise ValueError(f"min_matched must be a non-negative integer, got {min_matched!r}")
    return int(min_matched)


def _supported(g_matched: np.ndarray, min_matched: int) -> bool:
    """At least ``min_matched`` matched treated and matched control wakes."""
    n_t = int(np.sum(g_matched == 1))
    return n_t >= min_matched and g_matched.size - n_t >= min_matched


def _perm_window(d: WindowDesign, event_ids: np.ndarray, ok: bool) -> _PermWindow:
    m = d.matched
    g = d.X[:, -1] if d.X is not None else np.empty(0)
    _, strata = np.unique(d.strata[m], return_inverse=True)
    strata = strata.astype(np.int64).reshape(-1)
    k = int(strata.max()) + 1 if strata.size else 0
    n_treated = np.bincount(strata, weights=(g == 1), minlength=k).astype(np.int64)
    sizes = np.bincount(strata, minlength=k)
    start = np.concatenate(([0], np.cumsum(sizes)[:-1])) if k else np.empty(0, dtype=np.int64)
    w = d.weights[m]
    cw = np.ones(k)
    ctl = g == 0
    cw[strata[ctl]] = w[ctl]  # every matched stratum holds a control; its weight is per stratum
    return _PermWindow(t_window=d.t_window, spat_window=d.spat_window, fit_ok=ok,
                       event=event_ids[d.rows[m]], strata=strata, stratum_start=start,
                       n_treated=n_treated, control_weight=cw, y=d.y, X=d.X,
                       control_index=d.control_index, cluster=d.cluster)


def _assignment_strata(wakes, match_columns, assignment_strata, assignment_bins):
    """Projects (unique eventIDs) and their assignment strata, as a :class:`_PermWindow` whose
    ``event`` indexes the per-project key vector. Returns (project index per eventID, it)."""
    if isinstance(assignment_bins, bool) or not isinstance(assignment_bins, (int, np.integer)) \
            or assignment_bins < 0:
        raise ValueError(f"assignment_bins must be a non-negative integer, got {assignment_bins!r}")
    columns = list(dict.fromkeys(list(assignment_strata)))
    missing = [c for c in columns if c not in wakes.columns]
    if missing:
        raise ValueError(f"assignment_strata: the wakes table has no column(s) {missing}; "
                         "name columns carried into the wakes table (match columns or the "
                         "cluster column)")
    ids = wakes["eventID"].to_numpy(dtype=np.int64)
    first = pd.Series(np.arange(ids.size)).groupby(ids, sort=True).first().to_numpy()
    labels = wakes["treatment"].to_numpy(dtype=np.int64)
    mixed = pd.Series(labels).groupby(ids, sort=True).nunique().to_numpy() > 1
    if mixed.any():
        bad = np.unique(ids)[mixed][:5].tolist()
        raise ValueError(f"single_assignment: eventIDs {bad} are both treatment and control "
                         "wakes; a study-wide permutation needs one label per project")
    uniq = np.unique(ids)
    project_of_event = np.full(int(uniq.max()) + 1 if uniq.size else 1, -1, dtype=np.int64)
    project_of_event[uniq] = np.arange(uniq.size)
    g = labels[first]
    codes = []
    for c in columns + [c for c in match_columns if c not in columns and c not in _WAKE_LEVEL]:
        values, is_factor = as_match_variable(wakes[c])
        per_project = values[first]
        varies = pd.Series(values).groupby(ids, sort=True).nunique(dropna=False).to_numpy() > 1
        if varies.any():
            if c in columns:
                raise ValueError(f"assignment_strata column {c!r} varies across the windows of a "
                                 "project; use a project-level column")
            continue  # a window-level variable: not an assignment stratum
        if c in columns or is_factor:
            codes.append(per_project)
        elif assignment_bins > 1:
            ok = ~np.isnan(per_project)
            edges = np.unique(np.quantile(per_project[ok], np.linspace(0, 1, assignment_bins + 1)))
            codes.append(np.where(ok, np.searchsorted(edges[1:-1], per_project, side="right"),
                                  np.nan).astype(float))
    strata = combine_codes(codes, uniq.size) if codes else np.zeros(uniq.size, dtype=np.int64)
    k = int(strata.max()) + 1 if strata.size else 0
    sizes = np.bincount(strata, minlength=k)
    start = np.concatenate(([0], np.cumsum(sizes)[:-1])) if k else np.empty(0, dtype=np.int64)
    n_treated = np.bincount(strata, weights=(g == 1), minlength=k).astype(np.int64)
    projects = _PermWindow(t_window=math.nan, spat_window=math.nan, fit_ok=True,
                           event=np.arange(uniq.size), strata=strata, stratum_start=start,
                           n_treated=n_treated, control_weight=np.ones(k), y=np.empty(0),
                           X=np.empty((0, 0)), control_index=np.empty(0, dtype=int), cluster=None)
    return project_of_event, projects


def _assign_window(d: WindowDesign, ok, wakes, project_of_event, estimation_controls, formula,
                   match_default, cluster_column) -> _AssignWindow:
    rows = d.rows
    post = wakes["dependent_post"].to_numpy(dtype=float)[rows]
    pre = wakes["dependent_pre"].to_numpy(dtype=float)[rows]
    controls = [wakes[c].to_numpy(dtype=float)[rows] for c in dict.fromkeys(estimation_controls)]
    g = wakes["treatment"].to_numpy(dtype=float)[rows]
    y, X, cidx = build_design(post, pre, g, controls, formula)
    cluster = None
    if cluster_column is not None:
        cluster = pd.factorize(wakes[cluster_column])[0][rows]
    _, strata = np.unique(d.strata, return_inverse=True)
    strata = strata.astype(np.int64).reshape(-1)
    return _AssignWindow(t_window=d.t_window, spat_window=d.spat_window, fit_ok=ok,
                         project=project_of_event[wakes["eventID"].to_numpy(dtype=np.int64)[rows]],
                         strata=strata, n_strata=int(strata.max()) + 1 if strata.size else 0,
                         matching=bool(match_default), y=y, X=X, control_index=cidx,
                         cluster=cluster)


def permuted_labels(w: _PermWindow, keys: np.ndarray) -> np.ndarray:
    """Treated labels (0/1) after giving each stratum's treated count to its smallest keys."""
    order = np.lexsort((keys[w.event], w.strata))
    s_sorted = w.strata[order]
    rank = np.arange(order.size) - w.stratum_start[s_sorted]
    labels = np.empty(order.size)
    labels[order] = rank < w.n_treated[s_sorted]
    return labels


def _cem_weights(g: np.ndarray, strata: np.ndarray, n_strata: int):
    """cem's matched flag and weights for labels ``g`` on fixed strata (treatment baseline)."""
    n_t = np.bincount(strata, weights=(g == 1), minlength=n_strata)
    n_c = np.bincount(strata, weights=(g == 0), minlength=n_strata)
    good = (n_t > 0) & (n_c > 0)
    matched = good[strata]
    m_t = int(np.sum(matched & (g == 1)))
    m_c = int(np.sum(matched & (g == 0)))
    weights = np.zeros(g.size)
    if m_t == 0 or m_c == 0:
        return matched, weights, False
    ratio = np.zeros(n_strata)
    ratio[good] = n_t[good] / n_c[good]
    weights[matched & (g == 1)] = 1.0
    ctl = matched & (g == 0)
    weights[ctl] = ratio[strata[ctl]] * (m_c / m_t)
    return matched, weights, True


def _fit_assigned(setup: _Setup, w: _AssignWindow, labels: np.ndarray):
    g = labels[w.project]
    if w.matching:
        matched, weights, ok = _cem_weights(g, w.strata, w.n_strata)
        if not ok:
            return None
    else:
        matched = np.ones(g.size, dtype=bool)
        weights = np.ones(g.size)
    if not _supported(g[matched], setup.min_matched):
        return None
    X = w.X[matched].copy()
    X[:, -1] = g[matched]
    cl = w.cluster[matched] if w.cluster is not None else None
    return estimate(setup.estimation, w.y[matched], X, w.control_index, weights[matched],
                    setup.weighted, setup.vcov, cl)


def _draws(setup: _Setup, permutations: Iterable[int], seed: int) -> pd.DataFrame:
    single = setup.scheme == "single_assignment"
    active = [w for w in setup.windows if w.fit_ok]
    active_assign = [w for w in (setup.assign_windows or []) if w.fit_ok]
    perm_col, t_col, s_col, est_col, tv_col = [], [], [], [], []
    X_work = [w.X.copy() for w in active]
    for b in permutations:
        b = int(b)
        if b < 0:
            raise ValueError(f"permutation indices must be non-negative, got {b}")
        rng = np.random.default_rng([int(seed), b])
        if single:
            keys = rng.random(setup.projects.event.size)
            labels = permuted_labels(setup.projects, keys)
            fits = [(w, _fit_assigned(setup, w, labels)) for w in active_assign]
        else:
            keys = rng.random(setup.n_keys)
            fits = []
            for w, X in zip(active, X_work):
                lab = permuted_labels(w, keys)
                X[:, -1] = lab
                cem_w = np.where(lab == 1, 1.0, w.control_weight[w.strata])
                fits.append((w, estimate(setup.estimation, w.y, X, w.control_index, cem_w,
                                         setup.weighted, setup.vcov, w.cluster)))
        for w, fit in fits:
            ok = fit is not None and fit.ok
            perm_col.append(b)
            t_col.append(w.t_window)
            s_col.append(w.spat_window)
            est_col.append(fit.estimate if ok else math.nan)
            tv_col.append(fit.t_value if ok else math.nan)
    return pd.DataFrame({"permutation": np.asarray(perm_col, dtype=np.int64),
                         "t_window": np.asarray(t_col, dtype=float),
                         "spat_window": np.asarray(s_col, dtype=float),
                         "estimate": np.asarray(est_col, dtype=float),
                         "t_value": np.asarray(tv_col, dtype=float),
                         "scheme": pd.Series([setup.scheme] * len(perm_col), dtype=object)})


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def observed_statistics(wakes: pd.DataFrame, *, match_columns, estimation: str = "lm",
                        formula: str = FORMULA_LEVEL, weighted: bool = False,
                        estimation_controls=(), tcm: bool = False, match_default: bool = True,
                        vcov: str = "classical", cluster_column: str | None = None,
                        min_matched: int = 0) -> pd.DataFrame:
    """Per window: estimate, pvalue (as in the estimates table) and the observed t value;
    windows with fewer than ``min_matched`` matched treated or control wakes are NA."""
    return _prepare(wakes, match_columns, estimation, formula, weighted, estimation_controls,
                    tcm, match_default, vcov, cluster_column, min_matched=min_matched).observed


def permutation_draws(wakes: pd.DataFrame, *, match_columns, estimation: str = "lm",
                      formula: str = FORMULA_LEVEL, weighted: bool = False,
                      estimation_controls=(), tcm: bool = False, permutations: Iterable[int],
                      seed: int, match_default: bool = True, vcov: str = "classical",
                      cluster_column: str | None = None, scheme: str = "window_strata",
                      assignment_strata: Sequence[str] = (),
                      assignment_bins: int = 0, min_matched: int = 0) -> pd.DataFrame:
    """Refit every window under the given permutations (the shardable unit of work).

    Long format, one row per (permutation, window) for the windows with an observed fit:
    permutation, t_window, spat_window, estimate, t_value (NaN where the permuted fit fails),
    scheme. Permutation b depends only on (seed, b, scheme), so shards can be combined in any
    split. ``scheme``, ``assignment_strata`` and ``assignment_bins``: see the module docstring.
    ``min_matched``: windows (observed or permuted) with fewer matched treated or control wakes
    are not fitted (NA), so a thinly supported window never enters the family.
    """
    seed = _check_seed(seed)
    setup = _prepare(wakes, match_columns, estimation, formula, weighted, estimation_controls,
                     tcm, match_default, vcov, cluster_column, scheme, assignment_strata,
                     assignment_bins, min_matched)
    return _draws(setup, permutations, seed)


def stepdown_maxt(t_obs: np.ndarray, t_draws: np.ndarray) -> np.ndarray:
    """Westfall–Young step-down max-T p-values.

    ``t_obs``: |t| per window (NaN = not in the family); ``t_draws``: permutations × windows
    |t| (NaN = not fitted in that draw). Windows are ordered by |t_obs| descending; for the
    j-th, a draw counts when the max of its |t| over the windows ranked j or lower reaches
    |t_obs| (relative tolerance 1e-10); p = (1 + count)/(B + 1), then monotone in that order.
    """
    t_obs = np.asarray(t_obs, dtype=float)
    tb = np.asarray(t_draws, dtype=float)
    n_b = tb.shape[0]
    out = np.full(t_obs.size, np.nan)
    family = np.flatnonzero(~np.isnan(t_obs))
    if family.size == 0:
        return out
    order = family[np.argsort(-t_obs[family], kind="stable")]
    filled = np.where(np.isnan(tb[:, order]), -np.inf, tb[:, order]) if n_b else \
        np.empty((0, order.size))
    # successive maxima: q[b, j] = max over the windows ranked j, j+1, … (lower |t_obs|)
    q = np.maximum.accumulate(filled[:, ::-1], axis=1)[:, ::-1] if n_b else filled
    thresh = t_obs[order] * (1.0 - _REL_TOL)
    p = (1.0 + (q >= thresh[None, :]).sum(axis=0)) / (1.0 + n_b)
    out[order] = np.maximum.accumulate(p)
    return out


def combine_permutations(estimates_with_t: pd.DataFrame,
                         draws: pd.DataFrame | Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per window: estimate, pvalue, t_value, pvalue_ri, pvalue_wy, pvalue_wy_stepdown,
    n_permutations.

    ``estimates_with_t`` has t_window, spat_window, estimate, pvalue, t_value (see
    :func:`observed_statistics`, with the same vcov as the draws); ``draws`` is one draws table
    or several shards. A permutation that appears twice for a window (overlapping shards), or
    shards of different schemes, are errors.
    """
    if not isinstance(draws, pd.DataFrame):
        draws = pd.concat(list(draws), ignore_index=True)
    missing = [c for c in DRAW_COLUMNS if c not in draws.columns]
    if missing:
        raise ValueError(f"draws table lacks columns {missing}")
    if "scheme" in draws.columns and draws["scheme"].nunique(dropna=True) > 1:
        raise ValueError(f"draws mix permutation schemes {sorted(draws['scheme'].unique())}; "
                         "combine shards of one scheme")
    obs = estimates_with_t
    for c in ("t_window", "spat_window", "estimate", "pvalue", "t_value"):
        if c not in obs.columns:
            raise ValueError(f"observed table lacks column {c!r}")
    if draws.duplicated(["permutation", "t_window", "spat_window"]).any():
        raise ValueError("draws contain the same permutation twice for a window "
                         "(overlapping shards?)")
    perms = np.unique(draws["permutation"].to_numpy(dtype=np.int64))
    n_b = perms.size
    key_obs = pd.MultiIndex.from_arrays([obs["t_window"].to_numpy(dtype=float),
                                         obs["spat_window"].to_numpy(dtype=float)])
    t_obs = np.abs(obs["t_value"].to_numpy(dtype=float, na_value=np.nan))
    # matrix of |t_b|: permutations × observed windows, NaN where not fitted
    tb = np.full((n_b, len(obs)), np.nan)
    if len(draws):
        key_d = pd.MultiIndex.from_arrays([draws["t_window"].to_numpy(dtype=float),
                                           draws["spat_window"].to_numpy(dtype=float)])
        col = key_obs.get_indexer(key_d)
        row = np.searchsorted(perms, draws["permutation"].to_numpy(dtype=np.int64))
        keep = col >= 0
        tb[row[keep], col[keep]] = np.abs(draws["t_value"].to_numpy(dtype=float)[keep])
    family = ~np.isnan(t_obs)
    tb[:, ~family] = np.nan
    thresh = t_obs * (1.0 - _REL_TOL)  # inf stays inf: only an infinite draw reaches it
    fitted = ~np.isnan(tb)
    with np.errstate(invalid="ignore"):
        exceed = np.where(fitted, tb >= thresh[None, :], False)
    n_ok = fitted.sum(axis=0)
    p_ri = (1.0 + exceed.sum(axis=0)) / (1.0 + n_ok)
    if n_b:
        filled = np.where(fitted, tb, -np.inf)
        max_t = filled.max(axis=1) if filled.shape[1] else np.full(n_b, -np.inf)
    else:
        max_t = np.empty(0)
    p_wy = (1.0 + (max_t[:, None] >= thresh[None, :]).sum(axis=0)) / (1.0 + n_b)
    p_ri[~family] = np.nan
    p_wy[~family] = np.nan
    out = obs[["t_window", "spat_window", "estimate", "pvalue", "t_value"]].copy()
    out["pvalue_ri"] = p_ri
    out["pvalue_wy"] = p_wy
    out["pvalue_wy_stepdown"] = stepdown_maxt(np.where(family, t_obs, np.nan), tb)
    out["n_permutations"] = n_ok.astype(np.int64)
    return out.reset_index(drop=True)


def _options(result) -> dict:
    p = result.parameters
    return dict(match_columns=list(p["match_columns"]), estimation=p.get("estimation", "lm"),
                formula=p.get("formula", FORMULA_LEVEL), weighted=bool(p.get("weighted", False)),
                estimation_controls=list(p.get("estimation_controls", ()) or ()),
                tcm=bool(p.get("tcm", False)), match_default=bool(p.get("match_default", True)),
                vcov=p.get("vcov", "classical"), cluster_column=p.get("cluster_column"))


def permutation_inference(result, n_permutations: int = 999, seed: int = 0, *,
                          scheme: str = "window_strata", assignment_strata: Sequence[str] = (),
                          assignment_bins: int = 0, vcov: str | None = None,
                          cluster_column: str | None = None,
                          min_matched: int = 0) -> pd.DataFrame:
    """RI and Westfall–Young p-values for every window of a :class:`MatchedWakeResult`
    (permutations 0..n_permutations−1), with the run's own estimation options; ``vcov`` (and
    ``cluster_column``) override the run's standard errors for the t statistics."""
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    seed = _check_seed(seed)
    o = _options(result)
    if vcov is not None:
        o["vcov"], o["cluster_column"] = vcov, cluster_column
    setup = _prepare(result.wakes, o["match_columns"], o["estimation"], o["formula"],
                     o["weighted"], o["estimation_controls"], o["tcm"], o["match_default"],
                     o["vcov"], o["cluster_column"], scheme, assignment_strata, assignment_bins,
                     min_matched)
    draws = _draws(setup, range(int(n_permutations)), seed)
    return combine_permutations(setup.observed, draws)


# ------------------------------------------------------------------ balance
class ConstantCovariateWarning(UserWarning):
    """A matching variable is (near-)constant in some windows: its SMD is undefined or fragile."""


#: ``smd_status`` of :func:`balance_table`: why a standardized mean difference is what it is.
SMD_STATUS = {
    "ok": "defined",
    "factor": "factor variable: no mean, matched exactly by CEM",
    "constant": "constant in the window: SD 0, SMD undefined",
    "separated": "constant within treated and within control, different values: SD 0, SMD undefined",
    "near-constant": "near-constant: most wakes share one value, the SMD rests on a few wakes",
    "no data": "no treated or no control wake with a value: SMD undefined",
}
_SD_REL_TOL = 1e-12  # a pooled SD this small relative to the values' magnitude counts as 0


def _smd(mt: float, mc: float, sd: float) -> float:
    """(mt − mc)/sd, NaN unless all three are finite and sd > 0."""
    if not (math.isfinite(mt) and math.isfinite(mc) and math.isfinite(sd)) or sd <= 0:
        return math.nan
    return (mt - mc) / sd


def _modal_share(x: np.ndarray) -> float:
    """Share of the (non-missing) values equal to the most frequent one."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan
    _, counts = np.unique(x, return_counts=True)
    return float(counts.max()) / x.size


def _warn_degenerate(rows: list[list], n_windows: int, near_constant_share: float) -> None:
    """One warning per matching variable that is constant or near-constant in some window."""
    by_var: dict[str, dict[str, int]] = {}
    for row in rows:
        variable, status = row[2], row[-1]
        if status in ("constant", "separated", "near-constant"):
            by_var.setdefault(variable, {}).setdefault(status, 0)
            by_var[variable][status] += 1
    for variable, counts in by_var.items():
        parts = []
        undefined = counts.get("constant", 0) + counts.get("separated", 0)
        if undefined:
            parts.append(f"constant in {undefined} of {n_windows} windows (standard deviation 0: "
                         "SMD undefined there)")
        if counts.get("near-constant"):
            parts.append(f"near-constant in {counts['near-constant']} of {n_windows} windows "
                         f"(at least {near_constant_share:.0%} of the wakes share one value: SMD fragile)")
        advice = (" A covariate without spread cannot be balanced or matched on: check how it was built."
                  if undefined else "")
        warnings.warn(f"balance: matching variable {variable!r} is " + "; ".join(parts) + "." + advice,
                      ConstantCovariateWarning, stacklevel=3)


def balance_table(result_or_wakes, *, match_columns=None, tcm: bool | None = None,
                  estimation_controls=None, match_default: bool | None = None,
                  near_constant_share: float = 0.95) -> pd.DataFrame:
    """Covariate balance per window and matching variable, before and after matching.

    Standardized mean difference (treated − control) / s, with s = √((s²_T + s²_C)/2) from the
    *unmatched* window in both columns, so a change reflects the means and not a changed scale:
    before matching unweighted over all wakes, after matching CEM-weighted over the matched
    wakes. Factor (Categorical) variables have no mean: their SMDs are NaN (CEM matches them
    exactly anyway). L1 and common support before/after are the matching table's (R-rounded).

    Degenerate variables never give an infinite or arbitrary SMD: when s is 0 (the variable is
    constant in the window, or constant within each group) both SMDs are NaN; ``smd_status``
    (keys of :data:`SMD_STATUS`) says why, ``sd_pooled`` holds s, and a
    :class:`ConstantCovariateWarning` names each such variable. A variable whose most frequent
    value covers at least ``near_constant_share`` of the window's wakes keeps its SMD but is
    flagged ``near-constant`` (and warned about): its SD rests on a few wakes.
    Accepts a :class:`MatchedWakeResult` (options from its parameters, overridable) or a wakes
    table with ``match_columns``.
    """
    if not 0 < near_constant_share <= 1:
        raise ValueError(f"near_constant_share must be in (0, 1], got {near_constant_share!r}")
    if hasattr(result_or_wakes, "wakes") and hasattr(result_or_wakes, "parameters"):
        wakes = result_or_wakes.wakes
        o = _options(result_or_wakes)
        match_columns = o["match_columns"] if match_columns is None else match_columns
        tcm = o["tcm"] if tcm is None else tcm
        estimation_controls = (o["estimation_controls"] if estimation_controls is None
                               else estimation_controls)
        match_default = o["match_default"] if match_default is None else match_default
    else:
        wakes = result_or_wakes
        if match_columns is None:
            raise ValueError("balance_table on a wakes table needs match_columns")
    tcm = bool(tcm)
    match_default = True if match_default is None else bool(match_default)
    estimation_controls = list(estimation_controls or ())
    m_vars = matching_variables(list(match_columns), tcm)
    values = {}
    for v in m_vars:
        if v not in wakes.columns:
            raise ValueError(f"wakes table lacks the matching variable {v!r}")
        values[v] = as_match_variable(wakes[v])
    g_all = wakes["treatment"].to_numpy(dtype=np.int64)
    rows = []
    n_windows = 0
    for d in window_designs(wakes, match_columns=match_columns, estimation="lm",
                            estimation_controls=estimation_controls, tcm=tcm,
                            match_default=match_default, fit=False):
        n_windows += 1
        g = g_all[d.rows]
        tr, co = g == 1, g == 0
        m = d.matched
        w = d.weights
        common = [d.t_window, d.spat_window]
        tail = [r_round(d.l1_pre, 3), r_round(d.l1_post, 3), r_round(d.lcs_pre, 1),
                r_round(d.lcs_post, 1)]
        for v in m_vars:
            x_all, is_factor = values[v]
            if is_factor:
                rows.append(common + [v, True] + [math.nan] * 6 + tail + [math.nan, "factor"])
                continue
            x = x_all[d.rows]
            with np.errstate(invalid="ignore", divide="ignore"):
                has_t, has_c = bool((tr & ~np.isnan(x)).any()), bool((co & ~np.isnan(x)).any())
                mt0 = float(np.nanmean(x[tr])) if has_t else math.nan
                mc0 = float(np.nanmean(x[co])) if has_c else math.nan
                vt = np.nanvar(x[tr], ddof=1) if (tr & ~np.isnan(x)).sum() > 1 else 0.0
                vc = np.nanvar(x[co], ddof=1) if (co & ~np.isnan(x)).sum() > 1 else 0.0
                sd = math.sqrt((float(vt) + float(vc)) / 2.0)
                mt1 = mc1 = math.nan
                sel_t, sel_c = m & tr & ~np.isnan(x), m & co & ~np.isnan(x)
                if sel_t.any() and sel_c.any():
                    mt1 = float(np.average(x[sel_t], weights=w[sel_t]))
                    mc1 = float(np.average(x[sel_c], weights=w[sel_c]))
            finite = x[~np.isnan(x)]
            scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
            if not (has_t and has_c):
                status = "no data"
            elif sd <= _SD_REL_TOL * scale:
                status = "constant" if float(np.ptp(finite)) <= _SD_REL_TOL * scale else "separated"
                sd = 0.0
            elif _modal_share(x) >= near_constant_share:
                status = "near-constant"
            else:
                status = "ok"
            rows.append(common + [v, False, mt0, mc0, _smd(mt0, mc0, sd), mt1, mc1,
                                  _smd(mt1, mc1, sd)] + tail + [sd, status])
    _warn_degenerate(rows, n_windows, near_constant_share)
    return pd.DataFrame(rows, columns=[
        "t_window", "spat_window", "variable", "factor", "mean_treated_pre", "mean_control_pre",
        "smd_pre", "mean_treated_post", "mean_control_post", "smd_post", "L1_pre", "L1_post",
        "commonSupport_pre", "commonSupport_post", "sd_pooled", "smd_status"])
