"""Calibration of the study's inference on simulated worlds where the truth is known.

A p-value is only as good as its size on data that look like the study's. The engine's own
generator (:func:`matchedwake.simulate.simulate_events`) draws homogeneous Poisson events and
independent covariates, so nothing confounds and nothing clusters. :func:`simulate_study_world`
draws what the study faces instead:

* **clustered events**: violence is a cluster process (parents from an intensity, each with
  Poisson(``cluster_size``) offspring within ``cluster_radius_km`` and ``cluster_days``), so
  counts are overdispersed and correlated in space and time;
* **selection on covariates**: violence is more intense near a few "bases" and treated projects
  are placed near them too (strength ``selection``), control projects are not; the covariates
  the analysis matches on (``base_dist``, ``terrain``) are functions of the location;
* **a time trend**: violence rises over the period by the factor 1 + ``trend``; with
  ``calendar_selection`` > 0 the treated projects also start later than the controls, which
  confounds any comparison that ignores calendar time;
* optionally a **planted effect**: each treated project adds Poisson(``effect``) events in the
  disc of ``effect_radius_km`` on post days 1..``effect_days``.

:func:`run_calibration` runs the recommended inference (and its alternatives) over many worlds
and :func:`rejection_summary` turns the per-world outcomes into rates with Clopper–Pearson
intervals. The test suite (tests/unit/test_calibration.py) and docs/inference.md use them.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from matchedwake import matched_wake
from matchedwake.adjust import p_adjust
from matchedwake.inference import clopper_pearson, observed_statistics, permutation_inference
from matchedwake.simulate import KM_PER_DEGREE
from matchedwake.windows import NegBinWarning, WindowWarning

__all__ = ["simulate_study_world", "run_calibration", "rejection_summary", "METHODS"]

_DAY_S = 86_400
TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))
#: inference methods that run_calibration can evaluate: name → (standard errors, adjustment)
METHODS = {
    "uncorrected_classical": ("classical", "none"),
    "holm_classical": ("classical", "holm"),
    "uncorrected_hc1": ("HC1", "none"),
    "holm_hc1": ("HC1", "holm"),
    "bh_hc1": ("HC1", "BH"),
    "wy_stepdown_hc1": ("HC1", "wy_stepdown"),  # single assignment
    "wy_stepdown_strata_hc1": ("HC1", "wy_stepdown_strata"),  # shared keys, window strata
    "uncorrected_cluster": ("cluster", "none"),
    "holm_cluster": ("cluster", "holm"),
    "wy_stepdown_cluster": ("cluster", "wy_stepdown"),
}


def _base_distance_km(lat, lon, bases):
    """Distance (km, local flat approximation) of each point to its nearest base."""
    d = np.full(lat.size, np.inf)
    for b_lat, b_lon in bases:
        dy = (lat - b_lat) * KM_PER_DEGREE
        dx = (lon - b_lon) * KM_PER_DEGREE * math.cos(math.radians(b_lat))
        d = np.minimum(d, np.hypot(dx, dy))
    return d


def _terrain(lat, lon, box_deg):
    """A smooth covariate field in [-1, 1] (a stand-in for roads or water)."""
    return np.sin(2.1 * math.pi * lat / box_deg) * np.cos(1.3 * math.pi * lon / box_deg)


def simulate_study_world(
    *,
    seed: int,
    n_treatment: int = 120,
    n_control: int = 360,
    n_parents: int = 900,
    cluster_size: float = 1.5,
    cluster_radius_km: float = 2.0,
    cluster_days: int = 6,
    days: int = 730,
    box_km: float = 80.0,
    n_bases: int = 4,
    base_scale_km: float = 12.0,
    violence_near_bases: float = 3.0,
    selection: float = 2.0,
    trend: float = 1.0,
    calendar_selection: float = 0.0,
    effect: float = 0.0,
    effect_radius_km: float = 6.0,
    effect_days: int = 20,
    project_margin_days: int = 90,
    cell_km: float = 10.0,
    start: str = "2017-01-01",
) -> pd.DataFrame:
    """One simulated study area in the engine's input format (see the module docstring).

    Columns: ``type`` (treatment, control, dependent, sentinel), ``timestamp`` ('YYYY-MM-DD'
    strings: whole days, like the study's events), ``lat``, ``lon``, ``base_dist`` (log(1 + km
    to the nearest base)), ``terrain``, ``region`` (the quadrant of the box, "NE"…"SW"),
    ``cell`` (the ``cell_km`` grid square: a cluster for cluster-robust errors) and
    ``start_day`` (days since ``start``). Violence intensity at distance d from the nearest base
    and day t is ∝ (1 + violence_near_bases·exp(−d/base_scale_km)) · (1 + trend·t/days);
    treated projects are accepted with probability ∝ exp(−selection·d/base_scale_km); treated
    start days have density ∝ (t/T)^calendar_selection over the project period. Projects start
    ``project_margin_days`` after the first and before the last violence day, and two sentinel
    events make every wake complete. ``df.attrs["truth"]`` holds the planted effect and the
    windows that contain it (t ≥ effect_days and s ≥ effect_radius_km).
    """
    if min(n_treatment, n_control, n_parents) < 1:
        raise ValueError("n_treatment, n_control and n_parents must be positive")
    if days <= 2 * project_margin_days:
        raise ValueError("days must exceed twice project_margin_days")
    for name, value in (("selection", selection), ("trend", trend), ("effect", effect),
                        ("calendar_selection", calendar_selection), ("cluster_size", cluster_size)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    rng = np.random.default_rng(seed)
    box_deg = box_km / KM_PER_DEGREE
    bases = [(rng.uniform(0.15, 0.85) * box_deg, rng.uniform(0.15, 0.85) * box_deg)
             for _ in range(n_bases)]

    def intensity_space(lat, lon):
        d = _base_distance_km(lat, lon, bases)
        return (1.0 + violence_near_bases * np.exp(-d / base_scale_km)) / (1.0 + violence_near_bases)

    # violence: parents by thinning (space × time intensity), offspring around each parent
    lat_p, lon_p, t_p = [], [], []
    n_have = 0
    while n_have < n_parents:
        m = 4 * (n_parents - n_have) + 64
        lat = rng.uniform(0, box_deg, m)
        lon = rng.uniform(0, box_deg, m)
        t = rng.uniform(0, days, m)
        accept = rng.uniform(0, 1, m) < intensity_space(lat, lon) * (1 + trend * t / days) / (1 + trend)
        lat_p.append(lat[accept])
        lon_p.append(lon[accept])
        t_p.append(t[accept])
        n_have += int(accept.sum())
    lat_p = np.concatenate(lat_p)[:n_parents]
    lon_p = np.concatenate(lon_p)[:n_parents]
    t_p = np.concatenate(t_p)[:n_parents]
    k = rng.poisson(cluster_size, n_parents)
    idx = np.repeat(np.arange(n_parents), k)
    r = cluster_radius_km * np.sqrt(rng.uniform(0, 1, idx.size))
    theta = rng.uniform(0, 2 * math.pi, idx.size)
    lat_o = lat_p[idx] + r * np.cos(theta) / KM_PER_DEGREE
    lon_o = lon_p[idx] + r * np.sin(theta) / (KM_PER_DEGREE * np.cos(np.radians(lat_p[idx])))
    t_o = np.minimum(t_p[idx] + rng.uniform(0, cluster_days, idx.size), days)

    def projects(n, selective: bool):
        out_lat, out_lon = [], []
        have = 0
        while have < n:
            m = 8 * (n - have) + 64
            lat = rng.uniform(0, box_deg, m)
            lon = rng.uniform(0, box_deg, m)
            if selective and selection > 0:
                d = _base_distance_km(lat, lon, bases)
                keep = rng.uniform(0, 1, m) < np.exp(-selection * d / base_scale_km)
                lat, lon = lat[keep], lon[keep]
            out_lat.append(lat)
            out_lon.append(lon)
            have += lat.size
        return np.concatenate(out_lat)[:n], np.concatenate(out_lon)[:n]

    lo, hi = project_margin_days, days - project_margin_days
    tr_lat, tr_lon = projects(n_treatment, True)
    co_lat, co_lon = projects(n_control, False)
    # density ∝ ((t − lo)/(hi − lo))^c on the project period: inverse CDF u^(1/(c+1))
    tr_t = lo + (hi - lo) * rng.uniform(0, 1, n_treatment) ** (1.0 / (1.0 + calendar_selection))
    co_t = rng.uniform(lo, hi, n_control)

    # planted effect: whole post days 1..effect_days (the engine's lag of a same-day-later event
    # is 0 and never counts, so planted events start the next day)
    kp = rng.poisson(effect, n_treatment) if effect > 0 else np.zeros(n_treatment, dtype=np.int64)
    ip = np.repeat(np.arange(n_treatment), kp)
    rp = 0.999 * effect_radius_km * np.sqrt(rng.uniform(0, 1, ip.size))
    thp = rng.uniform(0, 2 * math.pi, ip.size)
    lat_e = tr_lat[ip] + rp * np.cos(thp) / KM_PER_DEGREE
    lon_e = tr_lon[ip] + rp * np.sin(thp) / (KM_PER_DEGREE * np.cos(np.radians(tr_lat[ip])))
    t_e = np.floor(tr_t[ip]) + rng.integers(1, effect_days + 1, ip.size)

    gap = 10 * 365
    kinds = np.repeat(np.array(["treatment", "control", "dependent", "dependent", "dependent",
                                "sentinel"], dtype=object),
                      [n_treatment, n_control, n_parents, idx.size, ip.size, 2])
    day = np.floor(np.concatenate([tr_t, co_t, t_p, t_o, t_e, [-gap, days + gap]])).astype(np.int64)
    lat = np.concatenate([tr_lat, co_lat, lat_p, lat_o, lat_e, [box_deg / 2] * 2])
    lon = np.concatenate([tr_lon, co_lon, lon_p, lon_o, lon_e, [box_deg / 2] * 2])
    order = np.lexsort((np.arange(day.size), day))
    dates = np.datetime64(start, "D") + day[order].astype("timedelta64[D]")
    df = pd.DataFrame({"type": kinds[order], "timestamp": np.datetime_as_string(dates, unit="D"),
                       "lat": lat[order], "lon": lon[order]})
    df["timestamp"] = df["timestamp"].astype(object)
    df["base_dist"] = np.log1p(_base_distance_km(df["lat"].to_numpy(), df["lon"].to_numpy(), bases))
    df["terrain"] = _terrain(df["lat"].to_numpy(), df["lon"].to_numpy(), box_deg)
    north = df["lat"].to_numpy() >= box_deg / 2
    east = df["lon"].to_numpy() >= box_deg / 2
    df["region"] = np.where(north, "N", "S").astype(object) + np.where(east, "E", "W").astype(object)
    n_cells = max(1, int(math.ceil(box_km / cell_km)))
    row = np.clip((df["lat"].to_numpy() / box_deg * n_cells).astype(int), 0, n_cells - 1)
    col = np.clip((df["lon"].to_numpy() / box_deg * n_cells).astype(int), 0, n_cells - 1)
    df["cell"] = (row * n_cells + col).astype(np.int64)
    df["start_day"] = day[order]
    df.attrs["truth"] = {
        "effect": float(effect), "effect_radius_km": float(effect_radius_km),
        "effect_days": int(effect_days), "n_planted": int(ip.size),
        "containing_windows": "t_window >= effect_days and spat_window >= effect_radius_km",
        "calendar_selection": float(calendar_selection), "trend": float(trend),
        "selection": float(selection),
    }
    return df


def _any_rejection(p: np.ndarray, alpha: float) -> bool:
    return bool(np.any(np.nan_to_num(p, nan=1.0) <= alpha))


def run_calibration(
    worlds: Iterable[pd.DataFrame],
    *,
    t_window=(10, 30, 10),
    spat_window=(3, 9, 3),
    match_columns: Sequence[str] = ("base_dist", "terrain"),
    calendar_match: str | None = None,
    methods: Sequence[str] = ("uncorrected_classical", "holm_hc1", "wy_stepdown_hc1"),
    n_permutations: int = 19,
    alpha: float = 0.05,
    seed: int = 0,
    min_matched: int = 0,
    assignment_bins: int = 0,
    cluster_column: str = "cell",
    mwa_options: Mapping | None = None,
) -> pd.DataFrame:
    """Run the study's inference on every world; one row per (world, window).

    Columns: world, t_window, spat_window, estimate, matched_treated, matched_control,
    se_<vcov> and pvalue_<vcov> per standard-error type used (|estimate / t|; NA below
    ``min_matched``), and one adjusted p-value column per method (:data:`METHODS`; NA = not
    tested). ``min_matched`` leaves windows with fewer matched treated or control wakes out of
    the robust families (and out of the permuted ones); the classical methods are the paper's
    and ignore it. The MWA runs with TCM and weighted lm, as the study does (``mwa_options``
    overrides). Aggregate with :func:`rejection_summary`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {list(METHODS)}")
    options = dict(weighted=True, tcm=True)
    options.update(dict(mwa_options or {}))
    if calendar_match is not None:
        options["calendar_match"] = calendar_match
    vcovs = list(dict.fromkeys(METHODS[m][0] for m in methods))
    frames = []
    for w_i, df in enumerate(worlds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WindowWarning)
            warnings.simplefilter("ignore", NegBinWarning)
            result = matched_wake(df, t_window, spat_window, *TYPES, list(match_columns),
                                  vcov="cluster", cluster_column=cluster_column, **options)
            o = result.parameters
            est = result.estimates[["t_window", "spat_window", "estimate"]].copy()
            est["matched_treated"] = result.matching["treatment_post"].to_numpy()
            est["matched_control"] = result.matching["control_post"].to_numpy()
            for vcov in vcovs:
                obs = observed_statistics(
                    result.wakes, match_columns=o["match_columns"], weighted=o["weighted"],
                    tcm=o["tcm"], estimation=o["estimation"], vcov=vcov,
                    cluster_column=cluster_column if vcov == "cluster" else None,
                    min_matched=0 if vcov == "classical" else min_matched)
                with np.errstate(divide="ignore", invalid="ignore"):
                    est[f"se_{vcov}"] = np.abs(obs["estimate"].to_numpy() / obs["t_value"].to_numpy())
                est[f"pvalue_{vcov}"] = obs["pvalue"].to_numpy(dtype=float)
            for m in methods:
                vcov, adjust = METHODS[m]
                p = est[f"pvalue_{vcov}"].to_numpy()
                if adjust == "none":
                    est[m] = p
                elif adjust in ("holm", "BH"):
                    est[m] = p_adjust(p, adjust)
                else:
                    scheme = "window_strata" if adjust == "wy_stepdown_strata" else "single_assignment"
                    est[m] = permutation_inference(
                        result, n_permutations, seed=seed + w_i, scheme=scheme,
                        assignment_bins=assignment_bins, vcov=vcov,
                        cluster_column=cluster_column if vcov == "cluster" else None,
                        min_matched=min_matched)["pvalue_wy_stepdown"].to_numpy()
        est.insert(0, "world", w_i)
        frames.append(est)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["alpha"] = alpha
    table.attrs["methods"] = list(methods)
    return table


def rejection_summary(table: pd.DataFrame, *, alpha: float | None = None, level: float = 0.95,
                      methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Family-wise rejection rate per method over the worlds, with a Clopper–Pearson interval.

    One row per method: worlds, worlds_rejecting (any window with adjusted p ≤ alpha), rate,
    ci_low, ci_high, and the per-window rate (mean over windows of the share of worlds in which
    that window rejects).
    """
    alpha = table.attrs.get("alpha", 0.05) if alpha is None else alpha
    methods = list(methods or table.attrs.get("methods") or [m for m in METHODS if m in table])
    rows = []
    n_worlds = int(table["world"].nunique())
    for m in methods:
        per_world = table.groupby("world")[m].apply(lambda p: _any_rejection(p.to_numpy(), alpha))
        k = int(per_world.sum())
        lo, hi = clopper_pearson(k, n_worlds, level)
        window_rate = (table[m].fillna(1.0) <= alpha).groupby(
            [table["t_window"], table["spat_window"]]).mean()
        vcov, adjust = METHODS.get(m, ("", ""))
        rows.append({"method": m, "vcov": vcov, "adjustment": adjust, "worlds": n_worlds,
                     "worlds_rejecting": k, "rate": k / n_worlds, "ci_low": lo, "ci_high": hi,
                     "per_window_rate": float(window_rate.mean())})
    return pd.DataFrame(rows)


#: the scenarios of docs/inference.md: world options and MWA options
SCENARIOS = {
    "selection": ({"calendar_selection": 0.0}, {}),
    "calendar": ({"calendar_selection": 2.0}, {}),
    "calendar_matched": ({"calendar_selection": 2.0}, {"calendar_match": "quarter"}),
    "no_selection": ({"selection": 0.0}, {}),
}
RECOMMENDED = "holm_hc1"
#: the methods docs/inference.md reports (every method but the permutation test on cluster errors)
REPORTED_METHODS = ("uncorrected_classical", "holm_classical", "uncorrected_hc1", "holm_hc1", "bh_hc1",
                    "wy_stepdown_strata_hc1", "wy_stepdown_hc1", "uncorrected_cluster", "holm_cluster")


def calibration_report(scenario: str, *, worlds: int, first_seed: int = 1000, effect: float = 0.0,
                       n_permutations: int = 19, min_matched: int = 10, assignment_bins: int = 6,
                       methods: Sequence[str] = REPORTED_METHODS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, table) of one scenario of :data:`SCENARIOS` over ``worlds`` seeded worlds
    (seeds first_seed, first_seed+1, …): the numbers quoted in docs/inference.md."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {scenario!r}")
    world_kw, mwa_kw = SCENARIOS[scenario]
    gen = (simulate_study_world(seed=first_seed + k, effect=effect, **world_kw) for k in range(worlds))
    table = run_calibration(gen, methods=methods, n_permutations=n_permutations,
                            min_matched=min_matched, assignment_bins=assignment_bins, **mwa_kw)
    return rejection_summary(table), table


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m qipstudy.calibration SCENARIO --worlds N``: print the scenario's rejection rates
    (with Clopper–Pearson intervals) and the mean estimate per window."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--effect", type=float, default=0.0)
    parser.add_argument("--permutations", type=int, default=19)
    parser.add_argument("--out", help="write the per-window table to this Parquet file")
    args = parser.parse_args(argv)
    summary, table = calibration_report(args.scenario, worlds=args.worlds, first_seed=args.first_seed,
                                        effect=args.effect, n_permutations=args.permutations)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False))
        g = table.groupby(["t_window", "spat_window"])
        print(pd.DataFrame({"mean_estimate": g["estimate"].mean(),
                            "se_of_mean": g["estimate"].std() / np.sqrt(g["estimate"].count()),
                            "mean_se_hc1": g["se_HC1"].mean(),
                            "matched_treated": g["matched_treated"].mean(),
                            "reject_holm_hc1": g["holm_hc1"].apply(lambda p: float((p <= 0.05).mean()))}
                           ).to_string())
    if args.out:
        table.to_parquet(args.out)


if __name__ == "__main__":
    main()
