"""R's ``slidingWake``: from the event table to the wakes table (docs/mwa_reference.md §2.1–2.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .counting import count_wakes
from .rformat import format_column
from .spec import UNSET, WAKE_COLUMNS, MWASpec, resolve_spec
from .validation import ValidatedInput, validate_inputs

__all__ = ["build_wakes", "drop_sutva_violations", "sliding_wake"]

_INT_COLUMNS = ("eventID", "treatment", "dependent_pre", "SO_pre", "MO_pre", "dependent_post",
                "SO_post", "MO_post")


def _covariate_values(col: pd.Series, events: np.ndarray, take: np.ndarray) -> pd.Series | np.ndarray:
    """The wake rows' values of a covariate, as R converts the formatted strings back (§2.3).

    ``events`` are the positions of the wake events in the data and ``take`` each wake row's
    index into them. Float columns are R-formatted as a whole column (7 significant digits and
    one layout chosen from every value, Appendix B), but only the wake events' values are rounded;
    integer columns are unchanged; a Categorical becomes a factor of the values present, categories
    sorted.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        vals = col.to_numpy(dtype=object)[events][take]
        present = pd.unique(pd.Series(vals).dropna())
        cats = sorted(present, key=lambda v: (str(v), repr(v)))
        return pd.Categorical(vals, categories=cats)
    if pd.api.types.is_float_dtype(col.dtype):
        return format_column(col, events)[take]
    if col.isna().any():  # nullable integers with NA: NaN in a float column, like R's NA
        return col.to_numpy(dtype=float, na_value=np.nan)[events][take]
    return col.to_numpy()[events][take]


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

    n_w, n_s, n_t = wake_index.size, v.s_values.size, v.t_values.size
    # Rows: spatial window outermost, then t, then the complete wakes of t in wake order. The
    # count arrays are (W, S, T) views of (S, T, W) storage; ``cell`` indexes that storage.
    complete = [np.flatnonzero(counts.complete[:, j]) for j in range(n_t)]
    per_s = sum(c.size for c in complete)
    w_i = np.tile(np.concatenate(complete), n_s) if per_s else np.zeros(0, dtype=np.int64)
    t_i = np.tile(np.repeat(np.arange(n_t), [c.size for c in complete]), n_s)
    s_i = np.repeat(np.arange(n_s), per_s)
    cell = (s_i * n_t + t_i) * n_w + w_i

    def field(arr: np.ndarray) -> np.ndarray:
        return arr.transpose(1, 2, 0).reshape(-1)[cell]

    base = {
        "eventID": (wake_index + 1)[w_i],
        "t_window": v.t_labels.astype(float)[t_i],
        "spat_window": v.s_values.astype(float)[s_i],
        "treatment": wake_tr.astype(np.int64)[w_i],
        "dependent_pre": field(counts.dependent_pre),
        "dependent_trend": field(counts.dependent_trend).astype(float, copy=False),
        "SO_pre": field(counts.so_pre),
        "MO_pre": field(counts.mo_pre),
        "dependent_post": field(counts.dependent_post),
        "SO_post": field(counts.so_post),
        "MO_post": field(counts.mo_post),
    }
    columns = {c: base[c] for c in WAKE_COLUMNS}
    for c in _INT_COLUMNS:
        columns[c] = columns[c].astype(np.int64, copy=False)
    events = order[wake_index]  # the wake events' positions in the caller's (unsorted) data
    for c in v.covariates:
        columns[c] = _covariate_values(v.data[c], events, w_i)
    if cluster_column is not None and cluster_column not in v.covariates:
        columns[cluster_column] = v.data[cluster_column].to_numpy()[events][w_i]
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
