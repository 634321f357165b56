"""The per-window part of `mwa`'s ``slideWakeMatch`` (docs/mwa_reference.md §2.5–2.8, §3).

For every (t, s) window present in the wakes table: imbalance before matching, coarsened exact
matching, the effect estimate on the matched wakes, imbalance after matching, and the SUTVA
shares. Deliberate departures from R 0.5.0, each a fix of a crash in R:

* windows are the (t, s) pairs actually present (Q13), not a stepped grid;
* a window without matched strata, or whose negative-binomial fit fails, gets NA estimates and
  a :class:`WindowWarning` instead of aborting the run (Q10);
* ``match_default=False`` uses all wakes of the window with weight 1 (Q11);
* with estimation controls the difference formula is fitted as (post − pre) ~ controls +
  treatment (Q6).

Extensions (defaults reproduce R): ``estimation="poisson"`` and ``vcov="HC1"``/``"cluster"``
(see :mod:`matchedwake.estimation`). :func:`window_designs` exposes each window's matched
sample, strata and design, from the same code path as :func:`analyse_windows`, so that
permutation inference and balance diagnostics refit exactly what the tables report.

As in R, lm/att windows with aliased coefficients (e.g. dependent_pre all zero) are NA without
a warning, and glm.nb iteration limits only warn (:class:`NegBinWarning`) and keep the numbers.
The ``matched`` table lists the wake rows window by window in the t-major table order.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cem import Windows, as_match_variable, cem_windows, on_half_lattice
from .estimation import (
    DEFAULT_BLAS_THREADS,
    FORMULA_LEVEL,
    FORMULAS,
    ROBUST_VCOV_ESTIMATIONS,
    VCOV_TYPES,
    WindowFit,
    build_design,
    check_blas_threads,
    estimate,
)
from .estimation import blas_threads as _limit_blas
from .imbalance import l1_lcs_windows
from .rmath import r_round

__all__ = ["WindowTables", "WindowDesign", "WindowWarning", "NegBinWarning", "analyse_windows",
           "matching_variables", "window_designs"]

ESTIMATIONS = ("lm", "att", "nb", "poisson")


#: ``na_reason`` of a window where CEM found no stratum with both treatment and control wakes.
NO_MATCH = "no matched strata"


class WindowWarning(UserWarning):
    """A window could not be estimated; its estimates are NA."""


class NegBinWarning(UserWarning):
    """glm.nb hit an iteration limit in a window (R warns and keeps the estimates; so do we)."""


@dataclass
class WindowTables:
    """R's ``estimates``, ``matching`` and ``SUTVA`` tables (t-major), plus ``matched`` and
    ``bins`` when match details were requested (else None)."""

    estimates: pd.DataFrame
    matching: pd.DataFrame
    sutva: pd.DataFrame
    matched: pd.DataFrame | None = None
    bins: pd.DataFrame | None = None


def matching_variables(match_columns, tcm: bool) -> list[str]:
    """M: the user's match columns, then dependent_trend (and SO_pre, MO_pre with TCM)."""
    out: list[str] = []
    for c in list(match_columns) + ["dependent_trend"] + (["SO_pre", "MO_pre"] if tcm else []):
        if c not in out:
            out.append(c)
    return out


def _estimate_columns(estimation: str, controls: list[str]) -> list[str]:
    cols = ["t_window", "spat_window", "estimate", "pvalue"]
    if estimation == "lm":
        cols.append("adj.r.squared")
    for c in controls:
        cols += [f"{c}.coef", f"{c}.pval"]
    return cols + ["intercept", "intercept.pval"]


@dataclass
class WindowDesign:
    """One window's matching and matched-sample design, as the estimator saw it.

    Row arrays (``rows``, ``matched``, ``weights``, ``strata``) cover all wakes of the window
    (``rows`` are positions in the wakes table); ``y``, ``X`` (treatment is the last column)
    and ``cluster`` cover the matched rows ``rows[matched]`` and are None when nothing matched.
    ``fit`` is the window's estimate (None if nothing matched or fitting was not requested).
    """

    t_window: float
    spat_window: float
    rows: np.ndarray
    matched: np.ndarray
    weights: np.ndarray
    strata: np.ndarray
    y: np.ndarray | None
    X: np.ndarray | None
    control_index: np.ndarray
    cluster: np.ndarray | None
    fit: WindowFit | None
    l1_pre: float
    lcs_pre: float
    l1_post: float
    lcs_post: float
    bins: dict


def _check_options(wakes, match_columns, estimation, formula, estimation_controls, tcm, vcov,
                   cluster_column):
    """Validate the analysis options against the wakes table; return (M, controls, cem_vars)."""
    if estimation not in ESTIMATIONS:
        raise ValueError(f"estimation must be one of {ESTIMATIONS}, got {estimation!r}")
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {FORMULAS!r}, got {formula!r}")
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")
    if vcov != "classical" and estimation not in ROBUST_VCOV_ESTIMATIONS:
        raise ValueError(f"vcov={vcov!r} is available for estimation 'lm', 'att' and 'poisson' "
                         f"only, not {estimation!r}")
    if vcov == "cluster":
        if cluster_column is None:
            raise ValueError("vcov='cluster' needs cluster_column")
        if cluster_column not in wakes.columns:
            raise ValueError(f"wakes table lacks the cluster column {cluster_column!r}")
        if wakes[cluster_column].isna().any():
            raise ValueError(f"cluster column {cluster_column!r} has missing values")
    elif cluster_column is not None:
        raise ValueError("cluster_column is only used with vcov='cluster'")
    match_columns = list(match_columns)
    if not match_columns:
        raise ValueError("at least one match column is required")
    controls = list(dict.fromkeys(estimation_controls))
    m_vars = matching_variables(match_columns, tcm)
    required = ["t_window", "spat_window", "treatment", "dependent_pre", "dependent_post",
                "SO_pre", "SO_post", "MO_pre", "MO_post"] + m_vars + controls
    missing = [c for c in dict.fromkeys(required) if c not in wakes.columns]
    if missing:
        raise ValueError(f"wakes table lacks columns: {missing}")
    for c in controls:
        dt = wakes[c].dtype
        if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)) \
                or isinstance(dt, pd.CategoricalDtype):
            raise ValueError(f"estimation control {c!r} must be numeric")
    # cem drops the outcome columns and the estimation controls from the coarsening
    drop = {"dependent_post", "dependent_pre", *controls}
    cem_vars = [v for v in m_vars if v not in drop]
    return m_vars, controls, cem_vars


def window_designs(
    wakes: pd.DataFrame,
    *,
    match_columns: list[str],
    estimation: str = "lm",
    formula: str = FORMULA_LEVEL,
    weighted: bool = False,
    estimation_controls: list[str] = (),
    tcm: bool = False,
    match_default: bool = True,
    match_details: bool = False,
    vcov: str = "classical",
    cluster_column: str | None = None,
    fit: bool = True,
    blas_threads: int | None = DEFAULT_BLAS_THREADS,
):
    """Yield a :class:`WindowDesign` per (t, s) window in table order (t-major, s ascending).

    This is the single code path behind :func:`analyse_windows`; ``fit=False`` skips the
    estimation (for balance diagnostics). Warns (:class:`WindowWarning`) for windows without
    matched strata or with a failed GLM fit. While the windows are iterated, BLAS runs on at
    most ``blas_threads`` threads (None: the library default).
    """
    m_vars, controls, cem_vars = _check_options(wakes, match_columns, estimation, formula,
                                                estimation_controls, tcm, vcov, cluster_column)
    check_blas_threads(blas_threads)
    return _designs(wakes, m_vars, controls, cem_vars, estimation, formula, weighted,
                    match_default, match_details, vcov, cluster_column, fit, blas_limit=blas_threads)


def _designs(*args, blas_limit):
    """The generator behind :func:`window_designs` (options already validated, so that errors
    surface at the call, not at the first iteration). The BLAS limit is set once, from the first
    window until the iteration ends or the generator is closed: changing OpenBLAS's thread count
    per window costs more than the fits."""
    with _limit_blas(blas_limit):
        yield from _compute_designs(*args)


def _window_blocks(t_all: np.ndarray, s_all: np.ndarray):
    """The runs of equal (t, s) in the wakes table — (first rows, stop rows, the runs in table
    order: t-major, s ascending) — or None when a window is split over several runs."""
    n = t_all.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.flatnonzero((t_all[1:] != t_all[:-1]) | (s_all[1:] != s_all[:-1])) + 1
    first = np.concatenate(([0], change))
    block_t, block_s = t_all[first], s_all[first]
    by_block = np.lexsort((block_s, block_t))
    keys = np.column_stack([block_t, block_s])[by_block]
    if first.size > 1 and not np.all((keys[1:] != keys[:-1]).any(axis=1)):
        return None
    return first, np.append(first[1:], n), by_block


def _window_order(t_all: np.ndarray, s_all: np.ndarray) -> np.ndarray:
    """``np.lexsort((s_all, t_all))``. A wakes table from ``sliding_wake`` comes in contiguous
    blocks, one per window (s-major); then only the blocks are sorted, not the rows."""
    blocks = _window_blocks(t_all, s_all)
    if blocks is None:
        return np.lexsort((s_all, t_all))  # a window in several blocks: sort the rows
    first, stop, by_block = blocks
    if by_block.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(first[b], stop[b]) for b in by_block])


def _as_numbers(column: pd.Series) -> np.ndarray:
    """A count column as numbers without a copy when it is a plain numpy column (the fits convert
    the rows they use); other columns as floats."""
    if isinstance(column.dtype, np.dtype) and np.issubdtype(column.dtype, np.number):
        return column.to_numpy()
    return column.to_numpy(dtype=float)


def _compute_designs(wakes, m_vars, controls, cem_vars, estimation, formula, weighted,
                     match_default, match_details, vcov, cluster_column, fit):
    """One :class:`WindowDesign` per window, in table order.

    When every window is one block of the wakes table (as sliding_wake writes it), the windows
    are matched where they lie, in the table's own order, without reordering any column; else
    the rows are sorted into table order first.
    """
    t_all = wakes["t_window"].to_numpy()
    s_all = wakes["spat_window"].to_numpy()
    blocks = _window_blocks(t_all, s_all)
    if blocks is not None:  # window i of the batch is block i; they are visited in by_block order
        order = None
        first, stop, visit = blocks
    else:
        order = np.lexsort((s_all, t_all))  # stable: rows keep their wakes order inside a window
        t_all, s_all = t_all[order], s_all[order]
        change = np.flatnonzero((t_all[1:] != t_all[:-1]) | (s_all[1:] != s_all[:-1])) + 1
        first = np.concatenate(([0], change))
        stop = np.append(first[1:], t_all.size)
        visit = np.arange(first.size)

    def col(values: np.ndarray) -> np.ndarray:
        return values if order is None else values[order]

    trt = col(wakes["treatment"].to_numpy(dtype=np.int64))
    post = col(_as_numbers(wakes["dependent_post"]))
    pre = col(_as_numbers(wakes["dependent_pre"]))
    mvals: dict[str, np.ndarray] = {}
    is_factor: dict[str, bool] = {}
    for v in m_vars:
        arr, fac = as_match_variable(wakes[v])
        mvals[v] = col(arr)
        is_factor[v] = fac
    ctl_vals = [col(wakes[c].to_numpy(dtype=float)) for c in controls]
    clusters = None
    if vcov == "cluster":
        clusters = col(pd.factorize(wakes[cluster_column])[0])
    m_list = [mvals[v] for v in m_vars]
    m_fac = [is_factor[v] for v in m_vars]
    cem_factors = {v for v in cem_vars if is_factor[v]}
    if first.size == 0:
        return
    # Which matching variables hold only multiples of ½ (counts, the trend), known once for all windows.
    halves = {v: False if is_factor[v] else on_half_lattice(mvals[v]) for v in m_vars}
    windows = Windows(starts=first, lengths=stop - first)
    # Matching and imbalance of chunks of windows at once (each exactly as alone), then the fits.
    located = []  # per window: (the chunk's matching, index in the chunk, first row of the chunk)
    start = 0
    for chunk in _chunks(windows.lengths):
        a0 = int(windows.starts[start])
        rows = slice(a0, a0 + chunk.n_rows)
        m = _match_windows(trt[rows], [x[rows] for x in m_list], m_fac,
                           {v: mvals[v][rows] for v in cem_vars}, cem_factors, chunk, match_default,
                           match_details, [halves[v] for v in m_vars], halves)
        located += [(m, i, a0) for i in range(chunk.count)]
        start += chunk.count
    for window in visit.tolist():
        m, w, a0 = located[window]
        a, b = int(first[window]), int(stop[window])
        t_val, s_val = t_all[a], s_all[a]
        matched, weights, strata = m.matched[a - a0:b - a0], m.weights[a - a0:b - a0], m.strata[a - a0:b - a0]
        idx = a0 + m.md_rows[m.md_start[w]:m.md_start[w] + m.n_md[w]]
        y = X = cidx = cl = None
        window_fit = None
        if not m.estimated[w]:
            warnings.warn(f"window t={t_val}, s={s_val}: {NO_MATCH}; estimates set to NA",
                          WindowWarning, stacklevel=5)
            cidx = np.empty(0, dtype=int)
        else:
            y, X, cidx = build_design(post[idx], pre[idx], trt[idx], [c[idx] for c in ctl_vals], formula)
            cl = clusters[idx] if clusters is not None else None
            if fit:
                window_fit = estimate(estimation, y, X, cidx, weights[matched], weighted, vcov, cl)
                if estimation in ("nb", "poisson") and not window_fit.ok:
                    warnings.warn(f"window t={t_val}, s={s_val}: {window_fit.reason}; estimates "
                                  "set to NA", WindowWarning, stacklevel=5)
                elif estimation == "nb" and window_fit.reason:
                    warnings.warn(f"window t={t_val}, s={s_val}: glm.nb: {window_fit.reason} "
                                  "(estimates kept, as R keeps them)", NegBinWarning, stacklevel=5)
        yield WindowDesign(t_window=t_val, spat_window=s_val,
                           rows=np.arange(a, b) if order is None else order[a:b], matched=matched,
                           weights=weights, strata=strata, y=y, X=X, control_index=cidx,
                           cluster=cl, fit=window_fit, l1_pre=float(m.l1_pre[w]),
                           lcs_pre=float(m.lcs_pre[w]), l1_post=float(m.l1_post[w]),
                           lcs_post=float(m.lcs_post[w]), bins=m.bins[w])


#: Rows matched together: large enough that per-window overheads vanish, small enough that the
#: temporaries of a chunk stay in cache and are reused rather than mapped afresh for every window.
_CHUNK_ROWS = 1 << 16


def _chunks(lengths: np.ndarray):
    """Consecutive windows grouped into :class:`Windows` batches of at most ``_CHUNK_ROWS`` rows
    (a larger window is a batch of its own)."""
    total = 0
    run: list[int] = []
    for n in lengths.tolist():
        if run and total + n > _CHUNK_ROWS:
            yield Windows.from_lengths(run)
            run, total = [], 0
        run.append(n)
        total += n
    if run:
        yield Windows.from_lengths(run)


@dataclass
class _Matched:
    """Matching and imbalance of one batch of windows: per row (``matched``, ``weights``,
    ``strata``), the matched rows window by window (``md_rows``, ``md_start``, ``n_md``), and per
    window L1/LCS before and after, whether it can be estimated, and its bins text."""

    matched: np.ndarray
    weights: np.ndarray
    strata: np.ndarray
    md_rows: np.ndarray
    md_start: np.ndarray
    n_md: np.ndarray
    estimated: np.ndarray
    l1_pre: np.ndarray
    lcs_pre: np.ndarray
    l1_post: np.ndarray
    lcs_post: np.ndarray
    bins: list


def _match_windows(trt, m_list, m_fac, cem_data, cem_factors, windows: Windows, match_default,
                   match_details, m_halves, halves) -> _Matched:
    n = trt.size
    l1_pre, lcs_pre = l1_lcs_windows(trt, m_list, windows, m_fac, m_halves)
    if match_default:
        res = cem_windows(trt, cem_data, windows, cem_factors, describe_bins=match_details, halves=halves)
        matched, weights, strata = res.matched, res.weights, res.strata
        n_strata, bins = res.n_matched_strata, res.bins
    else:
        matched, weights, strata = np.ones(n, dtype=bool), np.ones(n), np.zeros(n, dtype=np.int64)
        n_strata, bins = np.ones(windows.count, dtype=np.int64), [{} for _ in range(windows.count)]
    md_rows = np.flatnonzero(matched)  # matched rows of all windows, window by window
    n_md = np.bincount(windows.row_window[md_rows], minlength=windows.count)
    l1_post = np.full(windows.count, math.nan)
    lcs_post = np.full(windows.count, math.nan)
    estimated = (n_strata > 0) & (n_md > 0)
    if estimated.any():
        sel = md_rows if estimated.all() else md_rows[estimated[windows.row_window[md_rows]]]
        l1_post[estimated], lcs_post[estimated] = l1_lcs_windows(
            trt[sel], [x[sel] for x in m_list], Windows.from_lengths(n_md[estimated]), m_fac, m_halves)
    return _Matched(matched=matched, weights=weights, strata=strata, md_rows=md_rows,
                    md_start=np.cumsum(n_md) - n_md, n_md=n_md, estimated=estimated, l1_pre=l1_pre,
                    lcs_pre=lcs_pre, l1_post=l1_post, lcs_post=lcs_post, bins=bins)


def analyse_windows(
    wakes: pd.DataFrame,
    *,
    match_columns: list[str],
    estimation: str = "lm",
    formula: str = FORMULA_LEVEL,
    weighted: bool = False,
    estimation_controls: list[str] = (),
    tcm: bool = False,
    match_default: bool = True,
    match_details: bool = False,
    vcov: str = "classical",
    cluster_column: str | None = None,
    blas_threads: int | None = DEFAULT_BLAS_THREADS,
) -> WindowTables:
    """Match and estimate every (t, s) window of a wakes table (after deleteSUTVA).

    ``wakes`` has R's wake columns (eventID, t_window, spat_window, treatment, dependent_pre,
    dependent_trend, SO_pre, MO_pre, dependent_post, SO_post, MO_post) plus the covariates
    (and ``cluster_column`` for ``vcov="cluster"``). ``estimates`` has R's columns, then
    ``na_reason``: None for an estimated window, else why its estimates are NA (:data:`NO_MATCH`
    or the estimator's reason, e.g. "coefficients aliased"). ``blas_threads`` caps the BLAS
    threads of each fit (see :func:`window_designs`).
    """
    m_vars, controls, _ = _check_options(wakes, match_columns, estimation, formula,
                                         estimation_controls, tcm, vcov, cluster_column)
    n_ctl = len(controls)
    lm = estimation == "lm"
    t_vals, s_vals, row_parts, matched_parts, bins_rows, na_reasons = [], [], [], [], [], []
    n_est = 2 + lm + 2 * n_ctl + 2  # estimate, pvalue[, adj.r.squared], controls, intercept
    est_values: list[list[float]] = []
    imbalance: list[tuple[float, float, float, float]] = []
    for w in window_designs(wakes, match_columns=match_columns, estimation=estimation,
                            formula=formula, weighted=weighted,
                            estimation_controls=estimation_controls, tcm=tcm,
                            match_default=match_default, match_details=match_details, vcov=vcov,
                            cluster_column=cluster_column, blas_threads=blas_threads):
        fit = w.fit
        if fit is not None and fit.ok:
            values = [fit.estimate, fit.pvalue] + ([fit.adj_r_squared] if lm else [])
            for k in range(n_ctl):
                values += [float(fit.control_coef[k]), float(fit.control_pval[k])]
            est_values.append(values + [fit.intercept, fit.intercept_pval])
            na_reasons.append(None)
        else:
            est_values.append([math.nan] * n_est)
            na_reasons.append(fit.reason if fit is not None else NO_MATCH)
        t_vals.append(w.t_window)
        s_vals.append(w.spat_window)
        imbalance.append((w.l1_pre, w.lcs_pre, w.l1_post, w.lcs_post))
        row_parts.append(w.rows)
        matched_parts.append(w.matched)
        if match_details:
            bins_rows.append([w.t_window, w.spat_window] + [w.bins.get(v, pd.NA) for v in m_vars])

    # Per-window counts and shares, all windows at once (rows window by window, t-major).
    n_win = len(row_parts)
    rows_all = np.concatenate(row_parts) if n_win else np.zeros(0, dtype=np.int64)
    matched_all = np.concatenate(matched_parts) if n_win else np.zeros(0, dtype=bool)
    sizes = np.array([r.size for r in row_parts], dtype=np.int64)
    window_start = np.cumsum(sizes) - sizes  # every window has rows

    def per_window(mask: np.ndarray) -> np.ndarray:
        return np.add.reduceat(mask, window_start, dtype=np.int64) if n_win else np.zeros(0, dtype=np.int64)

    treated = (wakes["treatment"].to_numpy(dtype=np.int64) == 1)[rows_all]
    n_treated, n_matched_treated = per_window(treated), per_window(treated & matched_all)
    n_matched = per_window(matched_all)
    imb = np.array(imbalance, dtype=float).reshape(n_win, 4)
    window_t = pd.Series(t_vals, dtype=wakes["t_window"].dtype)
    window_s = pd.Series(s_vals, dtype=wakes["spat_window"].dtype)

    est = np.array(est_values, dtype=float).reshape(n_win, n_est)
    estimates = pd.DataFrame({"t_window": window_t, "spat_window": window_s,
                              **{c: est[:, j] for j, c in enumerate(_estimate_columns(estimation, controls)[2:])}})
    estimates["na_reason"] = pd.Series(na_reasons, dtype=object)
    matching = pd.DataFrame({
        "t_window": window_t, "spat_window": window_s,
        "control_pre": sizes - n_treated, "treatment_pre": n_treated,
        "L1_pre": r_round(imb[:, 0], 3), "commonSupport_pre": r_round(imb[:, 1], 1),
        "control_post": n_matched - n_matched_treated, "treatment_post": n_matched_treated,
        "L1_post": r_round(imb[:, 2], 3), "commonSupport_post": r_round(imb[:, 3], 1)})
    # SUTVA shares on all wakes of the window (not only the matched ones), R-rounded to 3 places
    before = {c: (_as_numbers(wakes[c]) > 0)[rows_all] for c in ("SO_pre", "SO_post", "MO_pre", "MO_post")}
    shares = {}
    for kind in ("SO", "MO"):
        pre_, post_ = before[f"{kind}_pre"], before[f"{kind}_post"]
        for name, mask in ((f"{kind}_pre", pre_), (f"{kind}_post", post_), (kind, pre_ | post_)):
            shares[name] = r_round(per_window(mask) / sizes, 3)
    sutva = pd.DataFrame({"t_window": window_t, "spat_window": window_s,
                          **{c: shares[c] for c in ("SO_pre", "SO_post", "SO", "MO_pre", "MO_post", "MO")}})
    t_all = wakes["t_window"].to_numpy()
    s_all = wakes["spat_window"].to_numpy()
    matched_df = bins_df = None
    if match_details:
        matched_df = pd.DataFrame({
            "eventID": wakes["eventID"].to_numpy()[rows_all],
            "t_window": t_all[rows_all],
            "spat_window": s_all[rows_all],
            "treatment": wakes["treatment"].to_numpy()[rows_all],
            "matched": matched_all.astype(np.int64),
        })
        bins_df = pd.DataFrame(bins_rows, columns=["t_window", "spat_window"] + m_vars)
    return WindowTables(estimates=estimates, matching=matching, sutva=sutva,
                        matched=matched_df, bins=bins_df)
