"""Checks of the event table against an analysis spec (R's input checks plus our stricter rules).

The options themselves are checked once, by :class:`matchedwake.spec.MWASpec`; this module checks
the data a spec is run on. R collects problems and stops; it also lets several bad inputs through
to a Java crash or to silent garbage (NA coordinates, NA covariates, fractional ``t_window``, mixed
date formats). Here each problem raises a ``ValueError`` that names the field and the rows.

Deliberate choices (documented deviations from R):

* an NA in a treatment/control/dependent column is simply "not that type" (R's Java crashes);
* type values are compared by value, not as padded strings; a string value such as ``"1"``
  matches a numeric column holding 1, as R's ``==`` does;
* text or boolean match columns are refused (R silently ignores them in cem); pandas
  ``Categorical`` columns are accepted and matched exactly on their categories (R factors);
* a missing or infinite covariate of a treatment/control event is an error (R lets cem put
  missing values in a stratum of their own, which silently changes the sample, and crashes on
  infinite ones); with ``drop_invalid`` those events are left out of the wakes (they stay in the
  data, so they still count as outcome events and keep their eventIDs);
* treatment, control and dependent must select different events (identical selections give
  estimates of exactly 0 or NA everywhere).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .counting import UNIT_MS, timestamps_to_ms
from .spec import ESTIMATIONS, FORMULAS, VCOV_TYPES, WAKE_COLUMNS, MWASpec, window_grid

__all__ = [
    "ESTIMATIONS",
    "FORMULAS",
    "VCOV_TYPES",
    "WAKE_COLUMNS",
    "ValidatedInput",
    "type_mask",
    "validate_inputs",
    "window_grid",
]

_SHOW_ROWS = 5


@dataclass
class ValidatedInput:
    """Checked inputs: the (possibly row-filtered) data, parsed times, type masks and window grids."""

    data: pd.DataFrame
    time_ms: np.ndarray
    is_treatment: np.ndarray
    is_control: np.ndarray
    is_dependent: np.ndarray
    t_values: np.ndarray  # int64 temporal windows used for counting
    t_labels: np.ndarray  # float64 labels written to the output
    s_values: np.ndarray  # float64 spatial windows (km)
    covariates: list[str]
    unit_ms: int
    n_dropped_coordinates: int = 0  # rows removed for missing/out-of-range lat/lon (drop_invalid)
    n_dropped_covariates: int = 0  # treatment/control events left out of the wakes (drop_invalid)


def type_mask(col: pd.Series, value) -> np.ndarray:
    """Rows whose value equals ``value``; NA never matches. Strings match numbers as in R's ``==``."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype) \
            and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return np.zeros(len(col), dtype=bool)
    if pd.api.types.is_bool_dtype(col.dtype) and isinstance(value, str):
        value = {"TRUE": True, "FALSE": False}.get(value, value)
    eq = col == value
    return eq.fillna(False).to_numpy(dtype=bool)


def _rows(index: pd.Index, mask: np.ndarray, values) -> str:
    """'row 3: nan, row 7: inf (and 2 more)' for the first rows of ``mask``."""
    idx = np.flatnonzero(mask)[:_SHOW_ROWS]
    shown = ", ".join(f"row {index[i]!r}: {_show(values[i])}" for i in idx)
    more = f" (and {int(mask.sum()) - len(idx)} more)" if mask.sum() > len(idx) else ""
    return shown + more


def _show(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return "missing"
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return repr(v)


def _check_columns(data: pd.DataFrame, spec: MWASpec) -> None:
    for name in ("treatment", "control", "dependent"):
        col = getattr(spec, name)[0]
        if col not in data.columns:
            raise ValueError(f"{name}: column {col!r} is not in data")
    for name in ("match_columns", "estimation_controls"):
        for c in getattr(spec, name):
            if c not in data.columns:
                raise ValueError(f"{name}: column {c!r} is not in data")
            dt = data[c].dtype
            categorical = isinstance(dt, pd.CategoricalDtype)
            numeric = pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
            if name == "match_columns" and not (numeric or categorical):
                raise ValueError(
                    f"match_columns: column {c!r} has dtype {dt}; match on numbers or a pandas "
                    "Categorical (text/boolean columns would be ignored by R's cem)")
            if name == "estimation_controls" and not numeric:
                raise ValueError(
                    f"estimation_controls: column {c!r} has dtype {dt}; controls must be numeric")
    if spec.cluster_column is not None and spec.cluster_column not in data.columns:
        raise ValueError(f"cluster_column: column {spec.cluster_column!r} is not in data")


def _invalid_covariate(col: pd.Series) -> np.ndarray:
    """Rows whose covariate value is missing (NaN/NA) or, for numbers, infinite."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.isna().to_numpy()
    values = col.to_numpy(dtype=float, na_value=np.nan)
    return ~np.isfinite(values)


def _check_covariates(data: pd.DataFrame, covariates: list[str], is_wake: np.ndarray,
                      drop_invalid: bool) -> np.ndarray:
    """The wake events with a missing or infinite covariate (an error unless ``drop_invalid``).

    Only treatment/control events matter: covariates are read from the wake event's own row.
    """
    bad_any = np.zeros(len(data), dtype=bool)
    problems = []
    n_wakes = int(is_wake.sum())
    for c in covariates:
        bad = _invalid_covariate(data[c]) & is_wake
        if not bad.any():
            continue
        if int(bad.sum()) == n_wakes:
            raise ValueError(f"covariate {c!r}: every one of the {n_wakes} treatment/control events has a "
                             "missing or infinite value; fill the column or leave it out")
        values = data[c].astype(object).where(data[c].notna(), None).to_numpy()
        problems.append(f"column {c!r} at {_rows(data.index, bad, values)}")
        bad_any |= bad
    if not problems:
        return bad_any
    what = (f"{int(bad_any.sum())} treatment/control event(s) have missing or infinite covariate values: "
            + "; ".join(problems))
    if not drop_invalid:
        raise ValueError(f"{what} (fill them, or set drop_invalid to leave these events out of the wakes)")
    warnings.warn(f"leaving out of the wakes: {what}", UserWarning, stacklevel=5)
    return bad_any


def validate_inputs(data, spec: MWASpec) -> ValidatedInput:
    """Check the event table against ``spec``; return the data (invalid rows dropped if allowed).

    ``data`` needs the columns timestamp, lat, lon, the type columns of the spec, its covariates
    and its cluster column. Errors name the field and the rows (by index label).
    """
    if not isinstance(spec, MWASpec):
        raise TypeError(f"validate_inputs needs an MWASpec, got {type(spec).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise ValueError(f"data: duplicated column names {sorted(set(map(str, dup)))}")
    missing = [c for c in ("timestamp", "lat", "lon") if c not in data.columns]
    if missing:
        raise ValueError(f"data: missing required column(s) {missing}")
    if len(data) == 0:
        raise ValueError("data has no rows")
    _check_columns(data, spec)
    covariates = list(dict.fromkeys(spec.match_columns + spec.estimation_controls))

    for c in ("lat", "lon"):
        dt = data[c].dtype
        if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
            raise ValueError(f"data: column {c!r} must be numeric (degrees), got dtype {dt}")
    lat = data["lat"].to_numpy(dtype=float, na_value=np.nan)
    lon = data["lon"].to_numpy(dtype=float, na_value=np.nan)
    bad_lat = ~(np.abs(lat) <= 90)
    bad_lon = ~(np.abs(lon) <= 180)
    n_dropped_coordinates = 0
    if bad_lat.any() or bad_lon.any():
        parts = []
        if bad_lat.any():
            parts.append(f"lat missing or outside [-90, 90] at {_rows(data.index, bad_lat, lat)}")
        if bad_lon.any():
            parts.append(f"lon missing or outside [-180, 180] at {_rows(data.index, bad_lon, lon)}")
        if not spec.drop_invalid:
            raise ValueError("data: " + "; ".join(parts) + " (drop_invalid=True drops such rows)")
        keep = ~(bad_lat | bad_lon)
        n_dropped_coordinates = int((~keep).sum())
        warnings.warn(f"dropping {n_dropped_coordinates} row(s) with invalid coordinates: "
                      + "; ".join(parts), stacklevel=4)
        data = data.loc[keep]
        if len(data) == 0:
            raise ValueError("data: no rows left after dropping invalid coordinates")

    time_ms = timestamps_to_ms(data["timestamp"])
    masks = {}
    for name in ("treatment", "control", "dependent"):
        col, value = getattr(spec, name)
        m = type_mask(data[col], value)
        if not m.any():
            raise ValueError(f"{name}: value {value!r} does not occur in column {col!r}")
        masks[name] = m
    for a, b in (("treatment", "control"), ("treatment", "dependent"), ("control", "dependent")):
        if np.array_equal(masks[a], masks[b]):
            raise ValueError(f"{b} {getattr(spec, b)!r} selects exactly the same {int(masks[a].sum())} "
                             f"events as {a} {getattr(spec, a)!r}; they must be different event types")

    is_wake = masks["treatment"] | masks["control"]
    bad = _check_covariates(data, covariates, is_wake, spec.drop_invalid)
    if bad.any():
        for name in ("treatment", "control"):
            masks[name] = masks[name] & ~bad
            if not masks[name].any():
                raise ValueError(f"{name}: no {name} event is left after leaving out the events with missing "
                                 "or infinite covariates")
        is_wake = masks["treatment"] | masks["control"]

    if spec.cluster_column is not None:
        clusters = data[spec.cluster_column]
        na = clusters.isna().to_numpy() & is_wake
        if na.any():
            raise ValueError(f"cluster_column: column {spec.cluster_column!r} has missing values at "
                             f"{_rows(data.index, na, clusters.to_numpy())} (treatment/control events)")
        n_clusters = clusters[is_wake].nunique()
        if n_clusters < 2:
            raise ValueError(f"cluster_column: column {spec.cluster_column!r} has {n_clusters} distinct "
                             "value(s) among the treatment/control events; cluster-robust standard errors "
                             "need at least two clusters (every window would be NA)")

    t_grid = spec.time_grid()
    return ValidatedInput(
        data=data, time_ms=time_ms, is_treatment=masks["treatment"], is_control=masks["control"],
        is_dependent=masks["dependent"], t_values=t_grid.astype(np.int64), t_labels=t_grid,
        s_values=spec.space_grid(), covariates=covariates, unit_ms=UNIT_MS[spec.t_unit],
        n_dropped_coordinates=n_dropped_coordinates, n_dropped_covariates=int(bad.sum()))
