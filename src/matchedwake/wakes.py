"""R's ``slidingWake``: from the event table to the wakes table (docs/mwa_reference.md §2.1–2.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .counting import count_wakes
from .rformat import format_column
from .spec import UNSET, WAKE_COLUMNS, MWASpec, resolve_spec
from .validation import ValidatedInput, validate_inputs

__all__ = ["build_wakes", "drop_sutva_violations", "sliding_wake"]

def _covariate_values(col: pd.Series, events: np.ndarray, take: np.ndarray, repeats: int = 1
                      ) -> pd.Categorical | np.ndarray:
    """The wake rows' values of a covariate, as R converts the formatted strings back (§2.3).

    ``events`` are the positions of the wake events in the data, ``take`` one spatial window's
    rows as indices into them, repeated ``repeats`` times (every spatial window has the same
    rows). Float columns are R-formatted as a whole column (7 significant digits and one layout
    chosen from every value, Appendix B), but only the wake events' values are rounded; integer
    columns are unchanged; a Categorical becomes a factor of the values present, categories sorted.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        vals = col.to_numpy(dtype=object)[events]
        present = pd.unique(pd.Series(vals[take]).dropna())
        cats = sorted(present, key=lambda v: (str(v), repr(v)))
        codes = pd.Categorical(vals, categories=cats).codes[take]
        return pd.Categorical.from_codes(np.tile(codes, repeats), categories=cats)
    if pd.api.types.is_float_dtype(col.dtype):
        values = format_column(col, events)
    elif col.isna().any():  # nullable integers with NA: NaN in a float column, like R's NA
        values = col.to_numpy(dtype=float, na_value=np.nan)[events]
    else:
        values = col.to_numpy()[events]
    return np.tile(values[take], repeats)


def sliding_wake(data: pd.DataFrame, t_window=UNSET, spat_window=UNSET, treatment=UNSET, control=UNSET,
                 dependent=UNSET, match_columns=UNSET, t_unit=UNSET, estimation_controls=UNSET, *,
                 drop_invalid=UNSET, progress: bool = False, cluster_column=UNSET,
                 spec: MWASpec | None = None) -> tuple[pd.DataFrame, dict[int, list[int]]]:
    """Build R's wakes table and the incomplete wakes per temporal window.

    Options as for :func:`matchedwake.matched_wake` (or ``spec``, an :class:`MWASpec`; options given
    as well override it). Returns ``(wakes, incomplete)``. ``wakes`` has R's columns ``eventID,
    t_window, spat_window, treatment, dependent_pre, dependent_trend, SO_pre, MO_pre,
    dependent_post, SO_post, MO_post`` followed by the covariates (match columns, then estimation
    controls, duplicates removed), rows ordered by spatial window, temporal window, eventID
    (treatment row first for an event that is both). Incomplete wakes are left out;
    ``incomplete[t]`` lists their eventIDs. ``eventID`` is the 1-based position in the stably
    time-sorted data (after ``drop_invalid``). ``cluster_column`` (for cluster-robust standard
    errors) is carried over unformatted as one more column after the covariates (unless it is one
    of them); it is never matched on.
    """
    cluster = {} if cluster_column is UNSET or cluster_column is None else {"vcov": "cluster"}
    spec = resolve_spec(spec, t_window=t_window, spat_window=spat_window, treatment=treatment,
                        control=control, dependent=dependent, match_columns=match_columns, t_unit=t_unit,
                        estimation_controls=estimation_controls, drop_invalid=drop_invalid,
                        cluster_column=cluster_column, **cluster)
    wakes, incomplete, _ = build_wakes(data, spec, progress=progress)
    return wakes, incomplete


def build_wakes(data: pd.DataFrame, spec: MWASpec, *, progress: bool = False
                ) -> tuple[pd.DataFrame, dict[int, list[int]], ValidatedInput]:
    """:func:`sliding_wake` for a checked spec; also returns the validated input (for its counts)."""
    v = validate_inputs(data, spec)
    cluster_column = spec.cluster_column
    order = np.argsort(v.time_ms, kind="stable")
    lat = format_column(v.data["lat"].astype(float)).to_numpy()[order]
    lon = format_column(v.data["lon"].astype(float)).to_numpy()[order]
    is_tr = v.is_treatment[order]
    is_co = v.is_control[order]
    is_dep = v.is_dependent[order]

    tr_idx, co_idx = np.flatnonzero(is_tr), np.flatnonzero(is_co)
    wake_index = np.concatenate([tr_idx, co_idx])
    wake_tr = np.concatenate([np.ones(tr_idx.size, bool), np.zeros(co_idx.size, bool)])
    by_event = np.lexsort((~wake_tr, wake_index))  # eventID, then the treatment row first
    wake_index, wake_tr = wake_index[by_event], wake_tr[by_event]

    counts = count_wakes(v.time_ms[order], lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr,
                         v.t_values, v.s_values, v.unit_ms, progress=progress)

    n_s = v.s_values.size
    # Rows: spatial window outermost, then t, then the complete wakes of t in wake order; every
    # spatial window repeats the same (t, wake) rows. A column is written block by block into its
    # final array (one pass, no row-length index arrays): 12M rows at continent scale.
    complete = [np.flatnonzero(counts.complete[:, j]) for j in range(v.t_values.size)]
    per_s = sum(c.size for c in complete)
    bounds = np.cumsum([0] + [c.size for c in complete])
    w_row = np.concatenate(complete) if per_s else np.zeros(0, dtype=np.int64)  # one window's wakes

    def per_wake(values: np.ndarray) -> np.ndarray:
        """A column whose value depends only on the wake (values: one per wake)."""
        return np.tile(values[w_row], n_s)

    def per_cell(counts_wst: np.ndarray, dtype) -> np.ndarray:
        """A column of (W, S, T) counts: row (s, t, w) holds counts_wst[w, s, t]."""
        storage = counts_wst.transpose(1, 2, 0)  # (S, T, W), contiguous: gathers along W
        out = np.empty((n_s, per_s), dtype=dtype)
        for j, rows in enumerate(complete):
            out[:, bounds[j]:bounds[j + 1]] = np.take(storage[:, j], rows, axis=1)
        return out.reshape(-1)

    t_window = np.empty((n_s, per_s))
    for j, label in enumerate(v.t_labels.astype(float)):
        t_window[:, bounds[j]:bounds[j + 1]] = label
    base = {
        "eventID": per_wake((wake_index + 1).astype(np.int64, copy=False)),
        "t_window": t_window.reshape(-1),
        "spat_window": np.repeat(v.s_values.astype(float), per_s),
        "treatment": per_wake(wake_tr.astype(np.int64)),
        "dependent_pre": per_cell(counts.dependent_pre, np.int64),
        "dependent_trend": per_cell(counts.dependent_trend, float),
        "SO_pre": per_cell(counts.so_pre, np.int64),
        "MO_pre": per_cell(counts.mo_pre, np.int64),
        "dependent_post": per_cell(counts.dependent_post, np.int64),
        "SO_post": per_cell(counts.so_post, np.int64),
        "MO_post": per_cell(counts.mo_post, np.int64),
    }
    columns = {c: base[c] for c in WAKE_COLUMNS}
    events = order[wake_index]  # the wake events' positions in the caller's (unsorted) data
    for c in v.covariates:
        columns[c] = _covariate_values(v.data[c], events, w_row, n_s)
    if cluster_column is not None and cluster_column not in v.covariates:
        columns[cluster_column] = per_wake(v.data[cluster_column].to_numpy()[events])
    # Fresh arrays: no copy, and no consolidation into 2-D blocks (which would copy them all).
    wakes = pd.DataFrame(columns, copy=False)

    incomplete = {
        int(t): sorted({int(e) + 1 for e in wake_index[~counts.complete[:, j]]})
        for j, t in enumerate(v.t_values)
    }
    return wakes, incomplete, v


def drop_sutva_violations(wakes: pd.DataFrame) -> pd.DataFrame:
    """R's ``deleteSUTVA`` (§2.4): keep wake rows without same- or mixed-type events in the pre
    window, separately for each (t, s) row; the index (R's row names) is not renumbered."""
    return wakes.loc[(wakes["SO_pre"] == 0) & (wakes["MO_pre"] == 0)]
