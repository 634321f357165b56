"""Beyond the paper: robustness variants, placebo tests and grid-wide inference for the main result.

A *variant* is a partial overlay of the study's settings (config `robustness.variants`): it may
change the MWA options (`mwa`), the covariate options (`covariates`), the outcome provider
(`outcome_source`), the population raster (`population: worldpop`) or apply a placebo to the
QIPs (`placebo`). Its settings are resolved by qipstudy.plan; the workflow re-runs only the steps a
variant touches.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.adjust import p_adjust
from matchedwake.inference import (
    adjust_estimates,
    balance_table,
    combine_permutations,
    observed_statistics,
    permutation_draws,
)
from matchedwake.plotting import plot_tiles
from qipstudy.event_order import PROJECT_SOURCES, sort_events

if TYPE_CHECKING:  # geopandas costs a second at import; only the placebo draws need it
    import geopandas as gpd

log = logging.getLogger(__name__)

INFERENCE_OPTIONS = ("match_columns", "estimation", "formula", "weighted", "estimation_controls", "tcm",
                     "match_default", "vcov", "cluster_column")


def apply_placebo(events: pd.DataFrame, placebo: Mapping, *, admin: gpd.GeoDataFrame, admin1_column: str,
                  study_regions, period_start: str, period_end: str) -> pd.DataFrame:
    """Move the QIPs in time or space so that any 'effect' they show is spurious by construction.

    * `shift_days`: every QIP start date moves by that many days; QIPs that leave the study period
      are dropped (the other events keep their dates).
    * `random_locations: uniform`: every QIP moves to a uniform random point of the study regions
      (seeded by `seed`); its admin-1 name follows the point. Most such points have no event
      within 15 km, so many windows are not identified (NA) — itself a finding.
    * `random_locations: aid_sites`: every QIP moves to the site of a randomly drawn other aid
      project (with replacement): the spatial pattern of aid is kept, the QIP's own place is not.
    * `random_locations: event_sites`: every QIP moves to the site of a randomly drawn outcome-
      provider event (any type; with replacement): placebo sites where events occur, so the
      windows are estimable (qipstudy.placebos draws many such placebos).
    Covariates are recomputed downstream.
    """
    out = events.copy()
    is_qip = (out["source"] == "qip").to_numpy()
    if placebo.get("shift_days"):
        shift = pd.Timedelta(days=int(placebo["shift_days"]))
        out.loc[is_qip, "date"] = out.loc[is_qip, "date"] + shift
        inside = (out["date"] >= pd.Timestamp(period_start)) & (out["date"] <= pd.Timestamp(period_end))
        dropped = int((~inside & is_qip).sum())
        out = out[inside | ~is_qip].copy()
        log.info("placebo: QIP dates shifted by %s; %d QIPs left the period", shift, dropped)
        is_qip = (out["source"] == "qip").to_numpy()
    mode = placebo.get("random_locations")
    if mode in ("aid_sites", "event_sites"):
        rng = np.random.default_rng(int(placebo.get("seed", 0)))
        projects = out["source"].isin(PROJECT_SOURCES)
        sites = out[out["source"] == "iati"] if mode == "aid_sites" else out[~projects]
        if sites.empty:
            raise ValueError(f"placebo random_locations={mode}: the events table has no "
                             f"{'aid projects' if mode == 'aid_sites' else 'outcome events'}")
        drawn = sites.iloc[rng.integers(0, len(sites), int(is_qip.sum()))]
        for column in ("lon", "lat", "admin1"):
            out.loc[is_qip, column] = drawn[column].to_numpy()
        log.info("placebo: %d QIPs moved to random %s", int(is_qip.sum()),
                 "aid-project sites" if mode == "aid_sites" else "outcome-event sites")
    elif mode == "uniform":
        rng = np.random.default_rng(int(placebo.get("seed", 0)))
        regions = admin[admin[admin1_column].isin(list(study_regions))]
        if regions.empty:
            raise ValueError("placebo random_locations: no admin polygon belongs to the study regions")
        lon, lat, names = _random_points(regions, admin1_column, int(is_qip.sum()), rng)
        out.loc[is_qip, "lon"] = lon
        out.loc[is_qip, "lat"] = lat
        out.loc[is_qip, "admin1"] = names
        log.info("placebo: %d QIPs moved to random points of the study regions", int(is_qip.sum()))
    elif mode:
        raise ValueError(f"placebo random_locations must be 'uniform', 'aid_sites' or 'event_sites', "
                         f"got {mode!r}")
    out["timestamp"] = out["date"].dt.strftime("%Y-%m-%d")
    return sort_events(out)


def _random_points(regions: gpd.GeoDataFrame, admin1_column: str, n: int, rng: np.random.Generator):
    """n points uniform in area over the polygons (rejection sampling in an equal-area CRS)."""
    import geopandas as gpd
    import shapely
    import shapely.prepared

    projected = regions.to_crs("ESRI:54034")  # World Cylindrical Equal Area
    union = shapely.union_all(projected.geometry.values)
    minx, miny, maxx, maxy = union.bounds
    xs, ys = [], []
    prepared = shapely.prepared.prep(union)
    while sum(map(len, xs)) < n:
        x = rng.uniform(minx, maxx, 4 * n + 16)
        y = rng.uniform(miny, maxy, 4 * n + 16)
        keep = np.fromiter((prepared.contains(shapely.Point(a, b)) for a, b in zip(x, y)), bool, len(x))
        xs.append(x[keep])
        ys.append(y[keep])
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=projected.crs)
    joined = gpd.sjoin(points, projected[[admin1_column, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    lonlat = points.to_crs(4326)
    return lonlat.geometry.x.to_numpy(), lonlat.geometry.y.to_numpy(), joined[admin1_column].to_numpy()


def comparability_note(settings: Mapping | None, main: Mapping | None, placebo: bool = False) -> str:
    """Why a variant's p-values are not comparable with the main run's ('' if they are).

    glm.nb ignores the CEM weights (as R's mwa does), so a weighted main run and an ``nb``
    variant estimate different things; a Poisson fit with classical standard errors fixes the
    dispersion at 1, which counts of violence never have; a placebo's significant windows are
    false positives by construction.
    """
    if placebo:
        return "placebo: every significant window is a false positive"
    if not settings:
        return ""
    notes = []
    main = main or {}
    estimation = settings.get("estimation", "lm")
    if estimation == "nb" and main.get("weighted", False):
        notes.append("unweighted, not comparable (glm.nb ignores the CEM weights)")
    elif settings.get("weighted", False) != main.get("weighted", settings.get("weighted", False)):
        notes.append("unweighted" if not settings.get("weighted", False) else "weighted")
    if estimation == "poisson" and settings.get("vcov", "classical") == "classical":
        notes.append("dispersion fixed at 1: p-values too small (use vcov HC1, quasi-Poisson)")
    return "; ".join(notes)


def robustness_summary(estimates_by_variant: Mapping[str, pd.DataFrame], *, alpha: float,
                       titles: Mapping[str, str] | None = None,
                       settings: Mapping[str, Mapping] | None = None,
                       placebos: Sequence[str] = (),
                       skipped: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per variant: how much of the main grid's pattern survives.

    Columns: variant, description, windows (in the grid), estimated (windows with an estimate),
    significant (p ≤ alpha), significant_positive, significant_holm (Holm over the variant's
    grid), median_estimate (over estimated windows), sign_agreement (share of windows estimated
    in both whose sign agrees with the main run's) and ``note``: why the variant is not
    comparable (:func:`comparability_note`, from ``settings`` = variant → its mwa settings,
    "main" included; ``placebos`` names the placebo variants). Variants in ``skipped``
    ({variant: reason}) were not run (e.g. their input would have been synthetic in a real run):
    they get a row with the reason as note and no numbers.
    """
    titles = dict(titles or {})
    settings = dict(settings or {})
    main = estimates_by_variant.get("main")
    rows = []
    for name, est in estimates_by_variant.items():
        fitted = est.dropna(subset=["estimate"])
        significant = fitted["pvalue"] <= alpha
        holm = p_adjust(est["pvalue"].to_numpy(dtype=float, na_value=np.nan), "holm")
        row = {
            "variant": name,
            "description": titles.get(name, name),
            "windows": len(est),
            "estimated": len(fitted),
            "significant": int(significant.sum()),
            "significant_positive": int((significant & (fitted["estimate"] > 0)).sum()),
            "significant_holm": int(np.sum(np.nan_to_num(holm, nan=1.0) <= alpha)),
            "median_estimate": float(fitted["estimate"].median()) if len(fitted) else np.nan,
        }
        if main is not None:
            both = fitted.merge(main.dropna(subset=["estimate"]), on=["t_window", "spat_window"],
                                suffixes=("", "_main"))
            row["sign_agreement"] = (float((np.sign(both["estimate"]) == np.sign(both["estimate_main"])).mean())
                                     if len(both) else np.nan)
        row["note"] = comparability_note(settings.get(name), settings.get("main"), name in placebos)
        rows.append(row)
    for name, reason in (skipped or {}).items():
        rows.append({"variant": name, "description": titles.get(name, name), "windows": 0, "estimated": 0,
                     "significant": 0, "significant_positive": 0, "median_estimate": np.nan,
                     "sign_agreement": np.nan, "note": reason})
    return pd.DataFrame(rows)


def robustness_windows(estimates_by_variant: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every variant's estimate and p-value per window, long format (variant, t, s, estimate, p)."""
    frames = [est[["t_window", "spat_window", "estimate", "pvalue"]].assign(variant=name)
              for name, est in estimates_by_variant.items()]
    table = pd.concat(frames, ignore_index=True)
    return table[["variant", "t_window", "spat_window", "estimate", "pvalue"]]


def inference_options(parameters: Mapping) -> dict:
    """The estimation options of a finished run (its parameters.json), for refitting permutations."""
    options = {key: parameters[key] for key in INFERENCE_OPTIONS if key in parameters}
    options["match_columns"] = list(options["match_columns"])
    options["estimation_controls"] = list(options.get("estimation_controls") or [])
    return options


def load_run(mwa_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The wakes table and parameters of an estimate_mwa output directory."""
    mwa_dir = Path(mwa_dir)
    parameters = json.loads((mwa_dir / "parameters.json").read_text(encoding="utf-8"))
    return pd.read_parquet(mwa_dir / "wakes.parquet"), parameters


def _refit_options(parameters: Mapping, vcov: str | None, cluster_column: str | None) -> dict:
    options = inference_options(parameters)
    if vcov is not None:
        options["vcov"] = vcov
        options["cluster_column"] = cluster_column if vcov == "cluster" else None
    return options


def permutation_shard(mwa_dir: Path, *, shard: int, n_shards: int, n_permutations: int, seed: int,
                      vcov: str | None = "HC1", cluster_column: str | None = None,
                      scheme: str = "window_strata", assignment_strata: Sequence[str] = (),
                      assignment_bins: int = 6, min_matched: int = 0) -> pd.DataFrame:
    """Permutations shard·m … of one run (m = ceil(n/shards)); a shard is one cluster job.

    The study's recommended inference by default: t statistics with ``vcov`` standard errors
    (HC1; None keeps the run's own), the permutation ``scheme`` of matchedwake.inference
    (shared keys within each window's strata; "single_assignment" is the study-wide one),
    windows below ``min_matched`` left out.
    """
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard must be in 0..{n_shards - 1}, got {shard}")
    wakes, parameters = load_run(mwa_dir)
    per_shard = -(-n_permutations // n_shards)
    permutations = range(shard * per_shard, min((shard + 1) * per_shard, n_permutations))
    return permutation_draws(wakes, permutations=permutations, seed=seed, scheme=scheme,
                             assignment_strata=assignment_strata, assignment_bins=assignment_bins,
                             min_matched=min_matched,
                             **_refit_options(parameters, vcov, cluster_column))


INFERENCE_COLUMNS = ["t_window", "spat_window", "estimate", "t_value", "pvalue_classical", "pvalue",
                     "pvalue_holm", "pvalue_BH", "pvalue_ri", "pvalue_wy", "pvalue_wy_stepdown",
                     "n_permutations", "matched_treated", "matched_control", "tested", "vcov"]


def inference_table(mwa_dir: Path, draws: list[pd.DataFrame], *, vcov: str | None = "HC1",
                    cluster_column: str | None = None, min_matched: int = 0) -> pd.DataFrame:
    """Per window (:data:`INFERENCE_COLUMNS`): estimate; the paper's classical p-value; the
    p-value under ``vcov`` (HC1 by default; None = the run's own) and Holm, BH, randomization,
    Westfall–Young single-step and step-down p-values on it, over the windows with at least
    ``min_matched`` matched treated and control wakes (``tested``); the matched counts.
    The draws must come from :func:`permutation_shard` with the same vcov and min_matched.
    """
    wakes, parameters = load_run(mwa_dir)
    options = _refit_options(parameters, vcov, cluster_column)
    observed = observed_statistics(wakes, min_matched=min_matched, **options)
    classical = observed_statistics(wakes, **{**options, "vcov": "classical", "cluster_column": None})
    combined = combine_permutations(observed, draws)
    adjusted = adjust_estimates(observed[["t_window", "spat_window", "estimate", "pvalue"]])
    table = combined.merge(adjusted[["t_window", "spat_window", "pvalue_holm", "pvalue_BH"]],
                           on=["t_window", "spat_window"], how="left")
    table["estimate"] = classical["estimate"].to_numpy()  # the point estimate does not depend on vcov
    table["pvalue_classical"] = classical["pvalue"].to_numpy()
    matching = pd.read_csv(Path(mwa_dir) / "matching.csv")
    counts = matching[["t_window", "spat_window", "treatment_post", "control_post"]].rename(
        columns={"treatment_post": "matched_treated", "control_post": "matched_control"})
    table = table.merge(counts.astype({"t_window": float, "spat_window": float}),
                        on=["t_window", "spat_window"], how="left")
    table["tested"] = observed["t_value"].notna().to_numpy()
    table["vcov"] = options["vcov"]
    return table[INFERENCE_COLUMNS]


def plot_permutation_distribution(draws: pd.DataFrame, table: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Left: the permutation distribution of max |t| over the grid (Westfall–Young) with each
    window's observed |t|; right: the permutation distribution of the estimate in the window with
    the largest observed |t|, with the observed estimate."""
    fig, (ax_max, ax_win) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    max_t = draws.assign(abs_t=draws["t_value"].abs()).groupby("permutation")["abs_t"].max()
    ax_max.hist(max_t.dropna(), bins=30, color="#9aa7b8", edgecolor="white")
    fitted = table.dropna(subset=["t_value"])
    for value in fitted["t_value"].abs():
        ax_max.axvline(value, color="#c0392b", alpha=0.35, linewidth=1)
    ax_max.set_xlabel("max |t| over the window grid (permutations)")
    ax_max.set_ylabel("permutations")
    ax_max.set_title("Westfall–Young: grid maximum vs observed |t| (red)")
    if len(fitted):
        best = fitted.loc[fitted["t_value"].abs().idxmax()]
        window = draws[(draws["t_window"] == best["t_window"]) & (draws["spat_window"] == best["spat_window"])]
        ax_win.hist(window["estimate"].dropna(), bins=30, color="#9aa7b8", edgecolor="white")
        ax_win.axvline(best["estimate"], color="#c0392b", linewidth=2, label="observed")
        ax_win.set_title(f"window t = {best['t_window']:g}, s = {best['spat_window']:g} km "
                         f"(RI p = {best['pvalue_ri']:.3f})")
        ax_win.legend(frameon=False)
    ax_win.set_xlabel("treatment estimate under permutation")
    if title:
        fig.suptitle(title)
    return fig


def plot_inference_heatmaps(table: pd.DataFrame, *, t_unit: str, alpha: float, title: str = "") -> plt.Figure:
    """The estimate grid three times: the paper's reading (uncorrected classical p), Holm on the
    robust p-values, and Westfall–Young step-down (permutation)."""
    robust = str(table["vcov"].iloc[0]) if "vcov" in table.columns and len(table) else "robust"
    panels = [("pvalue_classical" if "pvalue_classical" in table.columns else "pvalue",
               "uncorrected, classical (paper)"), ("pvalue_holm", f"Holm, {robust}"),
              ("pvalue_wy_stepdown" if "pvalue_wy_stepdown" in table.columns else "pvalue_wy",
               f"Westfall–Young step-down, {robust}")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    for ax, (column, label) in zip(axes, panels):
        grid = table[["t_window", "spat_window", "estimate"]].assign(pvalue=table[column])
        plot_tiles(grid, t_unit=t_unit, alpha1=alpha, alpha2=alpha, ax=ax, title=f"p ≤ {alpha:g}, {label}")
    if title:
        fig.suptitle(title)
    return fig


def balance_of_run(mwa_dir: Path) -> pd.DataFrame:
    """Balance per window and matching variable (before/after matching) of a finished run."""
    wakes, parameters = load_run(mwa_dir)
    options = inference_options(parameters)
    return balance_table(wakes, match_columns=options["match_columns"], tcm=options.get("tcm", False),
                         estimation_controls=options["estimation_controls"],
                         match_default=options.get("match_default", True))
