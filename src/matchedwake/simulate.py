"""Synthetic event data with a known treatment effect, for simulation tests and benchmarks.

A matched wake analysis can only be trusted if it recovers an effect we planted ourselves and
finds nothing (beyond the nominal error rate) when there is none; R mwa's own Monte Carlo data
served that purpose (Schutte & Donnay 2014). ``simulate_events`` builds such data directly in the
input format of :func:`matchedwake.matched_wake`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["simulate_events", "KM_PER_DEGREE"]

#: The engine's distance scale (docs/mwa_reference.md §2.2): 111.111 km per degree of great-circle angle.
KM_PER_DEGREE = 111.111
_DAY_S = 86_400


def _uniform_locations(rng, n, box_km, extent, center):
    """n points uniform in lat/lon over ``extent`` or over a square of side ``box_km`` at center."""
    if extent is not None:
        lon_min, lon_max, lat_min, lat_max = map(float, extent)
        if not (lon_min < lon_max and lat_min < lat_max):
            raise ValueError(f"extent must be (lon_min, lon_max, lat_min, lat_max), got {extent!r}")
    else:
        lat0, lon0 = map(float, center)
        half_lat = box_km / 2 / KM_PER_DEGREE
        half_lon = box_km / 2 / (KM_PER_DEGREE * math.cos(math.radians(lat0)))
        lat_min, lat_max, lon_min, lon_max = lat0 - half_lat, lat0 + half_lat, lon0 - half_lon, lon0 + half_lon
    return rng.uniform(lat_min, lat_max, n), rng.uniform(lon_min, lon_max, n)


def _disc_offsets(rng, lat, radius_km):
    """Points uniform in a disc of radius_km around each (lat) centre, as (dlat, dlon) degrees.

    The radius is shrunk by 0.1 % so that the engine's great-circle distance (which differs from
    this local flat approximation in the 6th digit) never puts a planted event outside the disc.
    """
    r = 0.999 * radius_km * np.sqrt(rng.uniform(0.0, 1.0, lat.size))
    theta = rng.uniform(0.0, 2 * math.pi, lat.size)
    dlat = r * np.cos(theta) / KM_PER_DEGREE
    dlon = r * np.sin(theta) / (KM_PER_DEGREE * np.cos(np.radians(lat)))
    return dlat, dlon


def _planted(rng, src_lat, src_lon, src_t, mean, radius_km, n_days):
    """Poisson(mean) dependent events per source, in its disc and on post days 1..n_days."""
    k = rng.poisson(mean, src_lat.size) if mean > 0 else np.zeros(src_lat.size, dtype=np.int64)
    idx = np.repeat(np.arange(src_lat.size), k)
    lat = src_lat[idx]
    dlat, dlon = _disc_offsets(rng, lat, radius_km)
    # d whole days plus less than one day: the engine's floor(elapsed / day) lag is exactly d
    day = rng.integers(1, n_days + 1, idx.size)
    t = src_t[idx] + day * _DAY_S + rng.integers(0, _DAY_S, idx.size)
    return lat + dlat, src_lon[idx] + dlon, t


def simulate_events(
    n_treatment: int,
    n_control: int,
    n_dependent: int,
    *,
    days: int = 365,
    box_km: float | None = None,
    extent: tuple[float, float, float, float] | None = None,
    center: tuple[float, float] = (0.0, 0.0),
    effect: float = 0.0,
    effect_radius_km: float = 5.0,
    effect_days: int = 10,
    control_effect: float = 0.0,
    seed: int | None = None,
    n_covariates: int = 2,
    start: str = "2010-01-01",
    sentinel_gap_days: int = 3650,
    timestamp_as: str = "str",
) -> pd.DataFrame:
    """Random events in the engine's input format, with an optional planted treatment effect.

    Treatment, control and background dependent events are uniform in time over ``days`` days
    from ``start`` (whole seconds) and uniform in lat/lon over ``extent`` = (lon_min, lon_max,
    lat_min, lat_max) or, if not given, a square of side ``box_km`` (default 100 km) around
    ``center`` = (lat, lon); background events thus form a homogeneous Poisson process with
    ``n_dependent`` points. Each treatment event adds Poisson(``effect``) dependent events
    uniformly in the disc of ``effect_radius_km`` around it and on post days 1..``effect_days``
    (each control event Poisson(``control_effect``)). Two sentinel events (type "sentinel"),
    ``sentinel_gap_days`` before the first and after the last possible event, make every wake
    complete for temporal windows shorter than the gap.

    Columns: ``type`` ("treatment", "control", "dependent", "sentinel"), ``timestamp``
    ('YYYY-MM-DD HH:MM:SS' strings, or datetime64 with ``timestamp_as="datetime"``), ``lat``,
    ``lon``, ``cov1..cov<n_covariates>`` (independent standard normals, so matching has no
    confounding to remove). Rows are sorted by time (stable).

    ``df.attrs["truth"]`` records the planted effect: in every window with t ≥ effect_days (in
    days) and s ≥ effect_radius_km all planted events fall in the post window of their treatment,
    so the expected treatment estimate there is ``effect - control_effect``; it also holds the
    number of planted events and the background rate.
    """
    if min(n_treatment, n_control, n_dependent) < 0:
        raise ValueError("event counts must be non-negative")
    if days <= 0 or effect_days < 1 or effect_radius_km <= 0:
        raise ValueError("days, effect_days and effect_radius_km must be positive")
    if effect < 0 or control_effect < 0:
        raise ValueError("effects are Poisson means and must be >= 0")
    if box_km is not None and extent is not None:
        raise ValueError("give either box_km or extent, not both")
    if timestamp_as not in ("str", "datetime"):
        raise ValueError("timestamp_as must be 'str' or 'datetime'")
    if box_km is None and extent is None:
        box_km = 100.0
    rng = np.random.default_rng(seed)
    span_s = int(days) * _DAY_S

    def base(n):
        lat, lon = _uniform_locations(rng, n, box_km, extent, center)
        return lat, lon, rng.integers(0, span_s, n)

    tr_lat, tr_lon, tr_t = base(n_treatment)
    co_lat, co_lon, co_t = base(n_control)
    bg_lat, bg_lon, bg_t = base(n_dependent)
    pl_lat, pl_lon, pl_t = _planted(rng, tr_lat, tr_lon, tr_t, effect, effect_radius_km, effect_days)
    pc_lat, pc_lon, pc_t = _planted(rng, co_lat, co_lon, co_t, control_effect, effect_radius_km,
                                    effect_days)
    gap = int(sentinel_gap_days) * _DAY_S
    if gap <= 0:
        raise ValueError("sentinel_gap_days must be positive")
    end = span_s + (int(effect_days) + 1) * _DAY_S
    c_lat, c_lon = (float(center[0]), float(center[1])) if extent is None else (
        (extent[2] + extent[3]) / 2, (extent[0] + extent[1]) / 2)

    kinds = np.repeat(np.array(["treatment", "control", "dependent", "dependent", "dependent",
                                "sentinel"], dtype=object),
                      [n_treatment, n_control, n_dependent, pl_t.size, pc_t.size, 2])
    t_rel = np.concatenate([tr_t, co_t, bg_t, pl_t, pc_t, [-gap, end + gap]])
    lat = np.concatenate([tr_lat, co_lat, bg_lat, pl_lat, pc_lat, [c_lat, c_lat]])
    lon = np.concatenate([tr_lon, co_lon, bg_lon, pl_lon, pc_lon, [c_lon, c_lon]])
    order = np.argsort(t_rel, kind="stable")
    ts = np.datetime64(start, "s") + t_rel[order].astype("timedelta64[s]")
    if timestamp_as == "str":
        ts = np.char.replace(np.datetime_as_string(ts, unit="s"), "T", " ").astype(object)
    df = pd.DataFrame({"type": kinds[order], "timestamp": ts, "lat": lat[order], "lon": lon[order]})
    n = len(df)
    for j in range(1, n_covariates + 1):
        df[f"cov{j}"] = rng.standard_normal(n)
    if extent is not None:
        area = ((extent[1] - extent[0]) * KM_PER_DEGREE
                * (extent[3] - extent[2]) * KM_PER_DEGREE
                * math.cos(math.radians((extent[2] + extent[3]) / 2)))
    else:
        area = float(box_km) ** 2
    df.attrs["truth"] = {
        "effect": float(effect),
        "control_effect": float(control_effect),
        "expected_estimate": float(effect - control_effect),
        "effect_radius_km": float(effect_radius_km),
        "effect_days": int(effect_days),
        "n_planted": int(pl_t.size),
        "n_planted_control": int(pc_t.size),
        "n_background": int(n_dependent),
        "background_per_km2_day": n_dependent / (area * days),
        "containing_windows": "t_window >= effect_days and spat_window >= effect_radius_km",
        "type_column": "type",
    }
    return df
