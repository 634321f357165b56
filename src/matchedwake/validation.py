"""Input validation for :func:`matchedwake.matched_wake` (REFERENCE §1.3 plus our stricter rules).

R collects problems and stops; it also lets several bad inputs through to a Java crash or to silent
garbage (NA coordinates, unknown ``t_unit``, fractional ``t_window``, mixed date formats). Here each
problem raises a ``ValueError`` that names the argument, and for data problems the row and field.

Deliberate choices (documented deviations from R):

* an NA in a treatment/control/dependent column is simply "not that type" (R's Java crashes, Q9);
* type values are compared by value, not as padded strings (Q8); a string value such as ``"1"``
  matches a numeric column holding 1, as R's ``==`` does;
* text or boolean match columns are refused (R silently ignores them in cem, Q14); pandas
  ``Categorical`` columns are accepted and matched exactly on their categories (R factors);
* temporal windows must be whole numbers (Java truncates 2.5 to 2 but labels it 2.5, Q15).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from .counting import UNIT_MS, timestamps_to_ms

__all__ = [
    "ESTIMATIONS",
    "FORMULAS",
    "WAKE_COLUMNS",
    "ValidatedInput",
    "type_mask",
    "validate_analysis_options",
    "validate_inputs",
    "window_grid",
]

FORMULAS = ("dependent_post ~ dependent_pre + treatment",
            "dependent_post - dependent_pre ~ treatment")
ESTIMATIONS = ("lm", "att", "nb", "poisson")
VCOV_TYPES = ("classical", "HC1", "cluster")
WAKE_COLUMNS = ("eventID", "t_window", "spat_window", "treatment", "dependent_pre",
                "dependent_trend", "SO_pre", "MO_pre", "dependent_post", "SO_post", "MO_post")
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))
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


def window_grid(window, name: str, temporal: bool) -> np.ndarray:
    """The window values R builds from ``(min, max, step)`` (§2.1 step 5), after R's checks (§1.3).

    Values are ``min + i·step`` capped at max and rounded to 15 significant digits, as R's
    ``seq`` + ``as.character`` hand them to Java.
    """
    if isinstance(window, (str, bytes)) or not isinstance(window, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a (min, max, step) triple of numbers, got {window!r}")
    vals = list(window)
    if len(vals) != 3 or not all(isinstance(v, Real) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"{name} must be a (min, max, step) triple of numbers, got {window!r}")
    lo, hi, step = (float(v) for v in vals)
    if not all(np.isfinite([lo, hi, step])):
        raise ValueError(f"{name}: values must be finite, got {window!r}")
    if min(lo, hi, step) < 0:
        raise ValueError(f"{name}: values must not be negative, got {window!r}")
    if hi < lo:
        raise ValueError(f"{name}: max ({hi:g}) is smaller than min ({lo:g})")
    if temporal and lo < 2:
        raise ValueError(f"{name}: minimum time window size is 2 in order to calculate a trend, "
                         f"got {lo:g}")
    if lo == hi:
        grid = np.array([lo])
    else:
        if step == 0:
            raise ValueError(f"{name}: step is 0 but min ({lo:g}) != max ({hi:g}); use "
                             "(v, v, 0) for a single window")
        q = (hi - lo) / step
        if abs(q - round(q)) > _SQRT_EPS:
            raise ValueError(f"{name}: step {step:g} does not divide the range {lo:g}..{hi:g}")
        n = int(q + 1e-10)
        grid = np.minimum(lo + np.arange(n + 1) * step, hi)
        grid = np.array([float("%.15g" % v) for v in grid])
        if np.any(np.diff(grid) <= 0):
            raise ValueError(f"{name}: step {step:g} is too small to give distinct windows")
    if temporal:
        frac = grid != np.floor(grid)
        if frac.any():
            raise ValueError(f"{name}: temporal windows must be whole numbers of t_unit; "
                             f"{grid[frac][0]:g} is not")
    return grid


def _check_pair(pair, name: str) -> tuple[str, object]:
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2 \
            or not isinstance(pair[0], str):
        raise ValueError(f"{name} must be a (column, value) pair such as ('type', '{name}'), "
                         f"got {pair!r}")
    return pair[0], pair[1]


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


def _column_list(cols, name: str, required: bool) -> list[str]:
    if isinstance(cols, str):
        raise ValueError(f"{name} must be a list of column names, not the single string {cols!r}")
    if cols is None:
        cols = []
    try:
        cols = list(cols)
    except TypeError:
        raise ValueError(f"{name} must be a list of column names, got {cols!r}") from None
    if required and not cols:
        raise ValueError(f"{name} must name at least one column")
    bad = [c for c in cols if not isinstance(c, str)]
    if bad:
        raise ValueError(f"{name}: column names must be strings, got {bad[0]!r}")
    return cols


def _rows(index: pd.Index, mask: np.ndarray, values: np.ndarray) -> str:
    idx = np.flatnonzero(mask)[:_SHOW_ROWS]
    shown = ", ".join(f"row {index[i]!r}: {float(values[i])!r}" for i in idx)
    more = f" (and {int(mask.sum()) - len(idx)} more)" if mask.sum() > len(idx) else ""
    return shown + more


def validate_inputs(data, t_window, spat_window, treatment, control, dependent, match_columns,
                    t_unit: str = "days", estimation_controls=(),
                    drop_invalid: bool = False, cluster_column: str | None = None) -> ValidatedInput:
    """Check everything ``slidingWake`` needs; return the data (invalid rows dropped if allowed)."""
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
    if t_unit not in UNIT_MS:
        raise ValueError(f"t_unit must be one of {list(UNIT_MS)}, got {t_unit!r}")
    t_grid = window_grid(t_window, "t_window", temporal=True)
    s_grid = window_grid(spat_window, "spat_window", temporal=False)

    pairs = {}
    for name, pair in (("treatment", treatment), ("control", control), ("dependent", dependent)):
        col, value = _check_pair(pair, name)
        if col not in data.columns:
            raise ValueError(f"{name}: column {col!r} is not in data")
        pairs[name] = (col, value)

    match_columns = _column_list(match_columns, "match_columns", required=True)
    estimation_controls = _column_list(estimation_controls, "estimation_controls", required=False)
    covariates = list(dict.fromkeys(match_columns + estimation_controls))
    for name, cols in (("match_columns", match_columns),
                       ("estimation_controls", estimation_controls)):
        for c in cols:
            if c not in data.columns:
                raise ValueError(f"{name}: column {c!r} is not in data")
            if c in WAKE_COLUMNS:
                raise ValueError(f"{name}: column {c!r} clashes with a wakes-table column; "
                                 "rename it")
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

    if cluster_column is not None:
        if not isinstance(cluster_column, str):
            raise ValueError(f"cluster_column must be a column name, got {cluster_column!r}")
        if cluster_column not in data.columns:
            raise ValueError(f"cluster_column: column {cluster_column!r} is not in data")
        if cluster_column in WAKE_COLUMNS:
            raise ValueError(f"cluster_column: column {cluster_column!r} clashes with a "
                             "wakes-table column; rename it")

    for c in ("lat", "lon"):
        dt = data[c].dtype
        if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
            raise ValueError(f"data: column {c!r} must be numeric (degrees), got dtype {dt}")
    lat = data["lat"].to_numpy(dtype=float, na_value=np.nan)
    lon = data["lon"].to_numpy(dtype=float, na_value=np.nan)
    bad_lat = ~(np.abs(lat) <= 90)
    bad_lon = ~(np.abs(lon) <= 180)
    if bad_lat.any() or bad_lon.any():
        parts = []
        if bad_lat.any():
            parts.append(f"lat missing or outside [-90, 90] at {_rows(data.index, bad_lat, lat)}")
        if bad_lon.any():
            parts.append(f"lon missing or outside [-180, 180] at "
                         f"{_rows(data.index, bad_lon, lon)}")
        if not drop_invalid:
            raise ValueError("data: " + "; ".join(parts) + " (drop_invalid=True drops such rows)")
        keep = ~(bad_lat | bad_lon)
        warnings.warn(f"dropping {int((~keep).sum())} row(s) with invalid coordinates: "
                      + "; ".join(parts), stacklevel=3)
        data = data.loc[keep]
        if len(data) == 0:
            raise ValueError("data: no rows left after dropping invalid coordinates")

    if cluster_column is not None and data[cluster_column].isna().any():
        bad = data[cluster_column].isna().to_numpy()
        raise ValueError(f"cluster_column: column {cluster_column!r} has missing values at "
                         f"rows {list(data.index[bad][:_SHOW_ROWS])}")
    time_ms = timestamps_to_ms(data["timestamp"])

    masks = {}
    for name, (col, value) in pairs.items():
        m = type_mask(data[col], value)
        if not m.any():
            raise ValueError(f"{name}: value {value!r} does not occur in column {col!r}")
        masks[name] = m

    return ValidatedInput(
        data=data, time_ms=time_ms, is_treatment=masks["treatment"], is_control=masks["control"],
        is_dependent=masks["dependent"], t_values=t_grid.astype(np.int64), t_labels=t_grid,
        s_values=s_grid, covariates=covariates, unit_ms=UNIT_MS[t_unit])


def validate_analysis_options(estimation: str, formula: str, alpha1, alpha2,
                              vcov: str = "classical", cluster_column=None) -> None:
    """Check the options used after counting (estimation method, formula, significance levels,
    standard-error type)."""
    if estimation not in ESTIMATIONS:
        raise ValueError(f"estimation must be one of {list(ESTIMATIONS)}, got {estimation!r}")
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {list(VCOV_TYPES)}, got {vcov!r}")
    if vcov != "classical" and estimation not in ("lm", "att", "poisson"):  # ROBUST_VCOV_ESTIMATIONS
        raise ValueError(f"vcov={vcov!r} is available for estimation 'lm', 'att' and 'poisson' "
                         f"only, not {estimation!r}")
    if vcov == "cluster" and cluster_column is None:
        raise ValueError("vcov='cluster' needs cluster_column (the column whose values define "
                         "the clusters)")
    if vcov != "cluster" and cluster_column is not None:
        raise ValueError("cluster_column is only used with vcov='cluster'")
    if formula not in FORMULAS:
        raise ValueError(f"formula must be exactly one of {list(FORMULAS)}, got {formula!r}")
    for name, a in (("alpha1", alpha1), ("alpha2", alpha2)):
        if not isinstance(a, Real) or isinstance(a, bool) or not 0 <= float(a) <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {a!r}")
