"""Calendar time in a Matched Wake Analysis (an extension; R mwa matches on space only).

MWA compares each treated wake with control wakes of similar covariates and pre-trend, but not
of similar *dates*. When treated projects start later than controls while violence rises
everywhere, the post-minus-pre comparison picks up the trend: a spurious effect that grows with
the temporal window. Two tools:

* ``calendar_match`` (a keyword of :func:`matchedwake.matched_wake`): the start date of every
  wake, binned into calendar periods (``"year"``, ``"half"``, ``"quarter"``, ``"month"``), becomes
  an extra *factor* match column (:data:`CALENDAR_COLUMN`), so CEM matches it exactly: treated
  and control wakes are only compared within the same period. The default (None) is R's.
* :func:`calendar_balance`: per window, how far apart treated and control start dates are
  before and after matching (mean difference in days, standardized difference, and the
  Kolmogorov–Smirnov distance of the weighted date distributions).

The wakes table does not carry dates; :func:`wake_times` recovers them from the data given to
``matched_wake`` (``eventID`` is the 1-based position in the stably time-sorted data).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .counting import timestamps_to_ms
from .spec import CALENDAR_UNITS

__all__ = ["CALENDAR_UNITS", "CALENDAR_COLUMN", "calendar_bins", "add_calendar_column",
           "wake_times", "calendar_balance"]

CALENDAR_COLUMN = "calendar_bin"
_DAY_MS = 86_400_000


def calendar_bins(timestamps: pd.Series, unit: str) -> pd.Categorical:
    """Calendar period of each timestamp as an ordered factor: '2019', '2019H2', '2019Q3' or
    '2019-07' (UTC, as the engine reads timestamps)."""
    if unit not in CALENDAR_UNITS:
        raise ValueError(f"calendar_match must be one of {CALENDAR_UNITS} or None, got {unit!r}")
    ms = timestamps_to_ms(pd.Series(timestamps).reset_index(drop=True))
    dt = pd.to_datetime(ms, unit="ms")
    year = dt.year.astype(str)
    if unit == "year":
        labels = year
    elif unit == "half":
        labels = year + "H" + np.where(dt.month <= 6, "1", "2")
    elif unit == "quarter":
        labels = year + "Q" + dt.quarter.astype(str)
    else:
        labels = year + "-" + pd.Index(dt.month).map(lambda m: f"{m:02d}")
    labels = np.asarray(labels, dtype=object)
    return pd.Categorical(labels, categories=sorted(set(labels)), ordered=True)


def add_calendar_column(data: pd.DataFrame, unit: str) -> pd.DataFrame:
    """A copy of ``data`` with :data:`CALENDAR_COLUMN` (the calendar period of ``timestamp``)."""
    if "timestamp" not in data.columns:
        raise ValueError("calendar_match needs the data's 'timestamp' column")
    out = data.copy()
    out[CALENDAR_COLUMN] = pd.Series(calendar_bins(data["timestamp"], unit), index=data.index)
    return out


def wake_times(data: pd.DataFrame, wakes: pd.DataFrame, treatment: tuple) -> np.ndarray:
    """Start time (ms since 1970, UTC) of every row of ``wakes``, from the ``data`` given to
    ``matched_wake`` (without ``drop_invalid`` dropping rows).

    Checks that the table belongs to the data: each wake's treatment flag must equal whether
    its event is a treatment event (``treatment`` = (column, value)); a mismatch is an error
    naming the first eventID that disagrees.
    """
    if "timestamp" not in data.columns:
        raise ValueError("wake_times: the data have no 'timestamp' column")
    column, value = treatment
    if column not in data.columns:
        raise ValueError(f"wake_times: the data have no treatment column {column!r}")
    ms = timestamps_to_ms(data["timestamp"].reset_index(drop=True))
    order = np.argsort(ms, kind="stable")
    ids = wakes["eventID"].to_numpy(dtype=np.int64)
    if ids.size and (ids.min() < 1 or ids.max() > order.size):
        raise ValueError(f"wake_times: eventIDs run to {int(ids.max())} but the data have "
                         f"{order.size} rows; pass the table that was given to matched_wake")
    pos = order[ids - 1]
    is_treated = (data[column].to_numpy() == value)[pos]
    said = wakes["treatment"].to_numpy(dtype=np.int64) == 1
    bad = np.flatnonzero(is_treated != said)
    if bad.size:
        e = int(ids[bad[0]])
        raise ValueError(f"wake_times: eventID {e} is a {'treatment' if said[bad[0]] else 'control'} "
                         f"wake but row {int(pos[bad[0]])} of the data is "
                         f"{'not ' if not is_treated[bad[0]] else ''}a treatment event; the wakes "
                         "table does not belong to this data (pass the table given to matched_wake)")
    return ms[pos]


def _weighted_ks(x_t, w_t, x_c, w_c) -> float:
    """Kolmogorov–Smirnov distance between two weighted empirical distributions."""
    if x_t.size == 0 or x_c.size == 0:
        return math.nan
    grid = np.unique(np.concatenate([x_t, x_c]))

    def cdf(x, w):
        o = np.argsort(x, kind="stable")
        cw = np.cumsum(w[o]) / np.sum(w)
        return np.concatenate(([0.0], cw))[np.searchsorted(x[o], grid, side="right")]

    return float(np.max(np.abs(cdf(x_t, w_t) - cdf(x_c, w_c))))


def calendar_balance(wakes: pd.DataFrame, times_ms: np.ndarray, *, match_columns,
                     tcm: bool = False, estimation_controls=(), match_default: bool = True) -> pd.DataFrame:
    """Per window: treated vs control start dates before and after matching.

    Columns: t_window, spat_window, n_treated, n_control (all wakes), mean_date_treated_pre,
    mean_date_control_pre (ISO dates), diff_days_pre (treated − control mean), smd_pre
    (difference / pooled SD of the unmatched window), ks_pre, and the same ``_post`` over the
    matched wakes with CEM weights (n_treated_post, n_control_post). ``times_ms`` gives each
    wake row's start time (:func:`wake_times`). Differences are in days whatever ``t_unit``.
    """
    from .windows import window_designs

    times = np.asarray(times_ms, dtype=float)
    if times.size != len(wakes):
        raise ValueError(f"times_ms has {times.size} values for {len(wakes)} wake rows")
    g_all = wakes["treatment"].to_numpy(dtype=np.int64)
    day = times / _DAY_MS
    rows = []

    def iso(d):
        return str(np.datetime64(int(round(d * _DAY_MS)), "ms").astype("datetime64[D]")) \
            if math.isfinite(d) else None

    for d in window_designs(wakes, match_columns=list(match_columns), tcm=tcm,
                            estimation_controls=list(estimation_controls or ()),
                            match_default=match_default, fit=False):
        g = g_all[d.rows]
        x = day[d.rows]
        tr, co = g == 1, g == 0
        vt = x[tr].var(ddof=1) if tr.sum() > 1 else 0.0
        vc = x[co].var(ddof=1) if co.sum() > 1 else 0.0
        sd = math.sqrt((vt + vc) / 2.0)
        mt0 = float(x[tr].mean()) if tr.any() else math.nan
        mc0 = float(x[co].mean()) if co.any() else math.nan
        m, w = d.matched, d.weights
        st, sc = m & tr, m & co
        mt1 = float(np.average(x[st], weights=w[st])) if st.any() else math.nan
        mc1 = float(np.average(x[sc], weights=w[sc])) if sc.any() else math.nan
        diff0, diff1 = mt0 - mc0, mt1 - mc1
        smd0 = diff0 / sd if sd > 0 else math.nan
        smd1 = diff1 / sd if sd > 0 else math.nan
        rows.append({
            "t_window": d.t_window, "spat_window": d.spat_window,
            "n_treated": int(tr.sum()), "n_control": int(co.sum()),
            "mean_date_treated_pre": iso(mt0), "mean_date_control_pre": iso(mc0),
            "diff_days_pre": diff0, "smd_pre": smd0,
            "ks_pre": _weighted_ks(x[tr], np.ones(tr.sum()), x[co], np.ones(co.sum())),
            "n_treated_post": int(st.sum()), "n_control_post": int(sc.sum()),
            "mean_date_treated_post": iso(mt1), "mean_date_control_post": iso(mc1),
            "diff_days_post": diff1, "smd_post": smd1,
            "ks_post": _weighted_ks(x[st], w[st], x[sc], w[sc]),
        })
    return pd.DataFrame(rows)
