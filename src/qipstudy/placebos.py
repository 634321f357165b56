"""Placebos as distributions: many placebo draws give a reference distribution for the grid.

One placebo run is one draw: a single "no significant windows" or "three significant windows"
is hard to read without knowing how many a placebo produces by chance, and a placebo whose
sites have no events nearby (uniform random points) is not estimable at all. Here a draw moves
every treated project (QIP) to a site drawn at random, with replacement, from a pool of places
where events do occur:

* ``"aid_sites"``: the sites of the control projects (the spatial pattern of aid);
* ``"event_sites"``: the sites of the outcome provider's events (all types: the event density).
  These are chosen on the outcome's own geography, so the reference includes what placement at
  hotspots alone produces — a stricter reference than aid sites.

The project keeps its start date; it takes over the site's location and every location-based
column (coordinates, covariates, admin names), so covariates need not be recomputed. The real
QIPs' sites are left without a treated project. Each draw runs the study's MWA with the given
settings (e.g. HC1 standard errors) and records every window; draw d uses the seed
``[seed, d]``, so draws can be sharded into jobs and combined in any split
(:func:`placebo_draws` is the shardable unit, :func:`placebo_reference` combines).

:func:`placebo_reference` compares the main run with the draws: per window, the draws'
estimate distribution and a placebo p-value from |t|; over the grid, the number of
significant windows, significant positive windows, max |t| and the mean estimate, each with
the draws' mean and 90 % range and the share of draws at least as extreme as the main run.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.inference import observed_statistics  # noqa: E402
from matchedwake.windows import NegBinWarning, WindowWarning  # noqa: E402
from qipstudy.covariates import COVARIATE_COLUMNS  # noqa: E402
from qipstudy.estimate import run_mwa  # noqa: E402
from qipstudy.robustness import inference_options, load_run  # noqa: E402

log = logging.getLogger(__name__)

__all__ = ["SITE_POOLS", "location_columns", "move_treated", "placebo_draws", "placebo_shard",
           "placebo_reference", "placebo_reference_of_run", "plot_placebo_reference", "DRAW_COLUMNS"]

SITE_POOLS = ("aid_sites", "event_sites")
DRAW_COLUMNS = ["draw", "t_window", "spat_window", "estimate", "pvalue", "t_value",
                "matched_treated"]
#: columns that describe a place (moved with the site); the study's covariates are all places
_PLACE_COLUMNS = ("lat", "lon", "admin1", "admin2", "admin3") + COVARIATE_COLUMNS


def location_columns(covariates: pd.DataFrame, match_columns: Sequence[str]) -> list[str]:
    """The columns a placebo site carries: coordinates, admin names and every match column
    that is a function of the place (all of the study's), as present in the table."""
    cols = [c for c in _PLACE_COLUMNS if c in covariates.columns]
    cols += [c for c in match_columns if c in covariates.columns and c not in cols]
    return cols


def _roles(covariates: pd.DataFrame, settings: Mapping):
    t_col, t_val = settings["treatment"]
    c_col, c_val = settings["control"]
    for col in (t_col, c_col):
        if col not in covariates.columns:
            raise ValueError(f"placebo: the covariates table has no column {col!r} (mwa.treatment/control)")
    treated = (covariates[t_col] == t_val).to_numpy()
    control = (covariates[c_col] == c_val).to_numpy()
    return treated, control


def move_treated(covariates: pd.DataFrame, settings: Mapping, *, pool: str, draw: int, seed: int,
                 columns: Sequence[str]) -> pd.DataFrame:
    """The covariates table with every treated row moved to a random site of ``pool``
    (the site's ``columns`` copied over; dates, ids and row order unchanged)."""
    if pool not in SITE_POOLS:
        raise ValueError(f"placebo pool must be one of {SITE_POOLS}, got {pool!r}")
    treated, control = _roles(covariates, settings)
    sites = np.flatnonzero(control if pool == "aid_sites" else ~(treated | control))
    if sites.size == 0:
        raise ValueError(f"placebo pool {pool!r}: the table has no such sites")
    rng = np.random.default_rng([int(seed), int(draw)])
    chosen = sites[rng.integers(0, sites.size, int(treated.sum()))]
    out = covariates.copy()
    rows = np.flatnonzero(treated)
    for c in columns:
        values = out[c].to_numpy(copy=True)
        values[rows] = values[chosen]
        out[c] = values
    return out


def placebo_draws(covariates: pd.DataFrame, outcome: str, settings: Mapping, *,
                  draws: Iterable[int], seed: int, pool: str = "aid_sites", vcov: str = "HC1",
                  cluster_column: str | None = None) -> pd.DataFrame:
    """Run the MWA of ``outcome`` with ``settings`` (the study's mwa block; ``vcov`` and
    ``cluster_column`` replace its standard errors) once per draw; long format
    (:data:`DRAW_COLUMNS`), one row per (draw, window)."""
    columns = location_columns(covariates, settings["match_columns"])
    settings = {**settings, "vcov": vcov, "cluster_column": cluster_column if vcov == "cluster" else None}
    frames = []
    for d in draws:
        if int(d) < 0:
            raise ValueError(f"placebo draw indices must be non-negative, got {d}")
        moved = move_treated(covariates, settings, pool=pool, draw=int(d), seed=seed, columns=columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WindowWarning)
            warnings.simplefilter("ignore", NegBinWarning)
            result = run_mwa(moved, outcome, settings)
        est = result.estimates
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WindowWarning)
            obs = observed_statistics(result.wakes, **inference_options(result.parameters))
        frames.append(pd.DataFrame({
            "draw": int(d), "t_window": est["t_window"].astype(float),
            "spat_window": est["spat_window"].astype(float), "estimate": est["estimate"],
            "pvalue": est["pvalue"], "t_value": obs["t_value"].to_numpy(),
            "matched_treated": result.matching["treatment_post"].to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=DRAW_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DRAW_COLUMNS]


def placebo_shard(covariates: pd.DataFrame, outcome: str, settings: Mapping, *, shard: int,
                  n_shards: int, n_draws: int, seed: int, pool: str = "aid_sites",
                  vcov: str = "HC1", cluster_column: str | None = None) -> pd.DataFrame:
    """Draws shard·m … (shard+1)·m − 1 of ``n_draws`` (m = ceil(n_draws / n_shards))."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard must be in 0..{n_shards - 1}, got {shard}")
    per = -(-n_draws // n_shards)
    return placebo_draws(covariates, outcome, settings, seed=seed, pool=pool, vcov=vcov,
                         cluster_column=cluster_column,
                         draws=range(shard * per, min((shard + 1) * per, n_draws)))


def _grid_stats(table: pd.DataFrame, alpha: float) -> dict:
    fitted = table.dropna(subset=["estimate"])
    sig = fitted["pvalue"] <= alpha
    return {"significant_windows": float(sig.sum()),
            "significant_positive_windows": float((sig & (fitted["estimate"] > 0)).sum()),
            "max_abs_t": float(fitted["t_value"].abs().max()) if len(fitted) else np.nan,
            "mean_estimate": float(fitted["estimate"].mean()) if len(fitted) else np.nan,
            "estimable_windows": float(len(fitted))}


def placebo_reference(observed: pd.DataFrame, draws: pd.DataFrame | Iterable[pd.DataFrame], *,
                      alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(windows, grid): the main run against the placebo draws.

    ``observed``: the main run per window (t_window, spat_window, estimate, pvalue, t_value —
    with the same standard errors as the draws). windows: per window the observed estimate, the
    draws' mean, SD, 2.5 % and 97.5 % quantiles, the share of estimable draws and the placebo
    p-value (1 + #{|t_d| ≥ |t_obs|}) / (1 + draws estimable there). grid: per statistic the
    observed value, the draws' mean, 5 % and 95 % quantiles and the one-sided placebo p-value
    (1 + #{draw ≥ observed}) / (1 + draws); for the mean estimate two-sided in |·|.
    """
    if not isinstance(draws, pd.DataFrame):
        draws = pd.concat(list(draws), ignore_index=True)
    missing = [c for c in DRAW_COLUMNS if c not in draws.columns]
    if missing:
        raise ValueError(f"placebo draws lack columns {missing}")
    if draws.duplicated(["draw", "t_window", "spat_window"]).any():
        raise ValueError("placebo draws contain the same draw twice for a window (overlapping shards?)")
    n_draws = int(draws["draw"].nunique())
    if n_draws == 0:
        raise ValueError("no placebo draws to compare with")
    rows = []
    for (t, s), part in draws.groupby(["t_window", "spat_window"], sort=True):
        obs = observed[(observed["t_window"] == t) & (observed["spat_window"] == s)]
        est_obs = float(obs["estimate"].iloc[0]) if len(obs) else np.nan
        t_obs = abs(float(obs["t_value"].iloc[0])) if len(obs) else np.nan
        e = part["estimate"].dropna()
        tv = part["t_value"].abs().dropna()
        p = (1.0 + float((tv >= t_obs * (1 - 1e-10)).sum())) / (1.0 + tv.size) \
            if np.isfinite(t_obs) and tv.size else np.nan
        rows.append({"t_window": t, "spat_window": s, "estimate": est_obs,
                     "placebo_mean": float(e.mean()) if e.size else np.nan,
                     "placebo_sd": float(e.std(ddof=1)) if e.size > 1 else np.nan,
                     "placebo_q025": float(e.quantile(0.025)) if e.size else np.nan,
                     "placebo_q975": float(e.quantile(0.975)) if e.size else np.nan,
                     "estimable_share": e.size / n_draws, "pvalue_placebo": p})
    windows = pd.DataFrame(rows)
    per_draw = pd.DataFrame([_grid_stats(part, alpha) for _, part in draws.groupby("draw")])
    observed_stats = _grid_stats(observed, alpha)
    grid_rows = []
    for stat, value in observed_stats.items():
        values = per_draw[stat].dropna()
        if stat == "mean_estimate":
            k = float((values.abs() >= abs(value) * (1 - 1e-10)).sum())
        else:
            k = float((values >= value * (1 - 1e-10)).sum())
        grid_rows.append({"statistic": stat, "observed": value,
                          "placebo_mean": float(values.mean()),
                          "placebo_q05": float(values.quantile(0.05)),
                          "placebo_q95": float(values.quantile(0.95)),
                          "pvalue_placebo": (1.0 + k) / (1.0 + values.size) if np.isfinite(value) else np.nan,
                          "draws": int(values.size)})
    return windows, pd.DataFrame(grid_rows)


def placebo_reference_of_run(mwa_dir: Path, draws: pd.DataFrame, *, vcov: str = "HC1",
                             cluster_column: str | None = None, alpha: float = 0.05):
    """(observed, windows, grid): the main run of ``mwa_dir`` refitted with the draws' standard
    errors, and :func:`placebo_reference` of it against ``draws``."""
    wakes, parameters = load_run(mwa_dir)
    options = inference_options(parameters)
    options["vcov"], options["cluster_column"] = vcov, cluster_column if vcov == "cluster" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        observed = observed_statistics(wakes, **options)
    windows, grid = placebo_reference(observed, draws, alpha=alpha)
    return observed, windows, grid


def plot_placebo_reference(draws: pd.DataFrame, observed: pd.DataFrame, *, alpha: float = 0.05,
                           title: str = "") -> plt.Figure:
    """Histograms over the placebo draws of the number of significant windows and of the grid's
    max |t|, with the main run's values in red."""
    per_draw = pd.DataFrame([_grid_stats(part, alpha) for _, part in draws.groupby("draw")])
    obs = _grid_stats(observed, alpha)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    n_max = int(max(per_draw["significant_windows"].max(), obs["significant_windows"])) + 1
    axes[0].hist(per_draw["significant_windows"], bins=np.arange(n_max + 1) - 0.5, color="#9aa7b8",
                 edgecolor="white")
    axes[0].axvline(obs["significant_windows"], color="#c0392b", linewidth=2, label="main run")
    axes[0].set_xlabel(f"windows with p ≤ {alpha:g}")
    axes[0].set_ylabel("placebo draws")
    axes[0].legend(frameon=False)
    axes[1].hist(per_draw["max_abs_t"].dropna(), bins=30, color="#9aa7b8", edgecolor="white")
    if np.isfinite(obs["max_abs_t"]):
        axes[1].axvline(obs["max_abs_t"], color="#c0392b", linewidth=2)
    axes[1].set_xlabel("max |t| over the grid")
    fig.suptitle((title + ": " if title else "") + f"{len(per_draw)} placebo draws vs the main run")
    return fig
