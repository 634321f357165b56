"""The wake counter: R mwa's Java ``WakeCounter`` (docs/mwa_reference.md §2.2–2.3), all windows in one pass.

The Java code rescans the data once per (spatial window, temporal window, wake). Counts are
cumulative in both s (discs) and t (lags 0..t / 1..t), so here every (wake, partner) pair inside the
largest cylinder is found once (a time-rank range inside the 8 grid cells around the wake's
box; no tree, so counting needs numpy only), binned to the smallest spatial and temporal window
that contains it, and cumulative sums over the bins give every window at once. Events piled on one
location are counted per (wake, location) from time ranks instead of pair by pair. The trend needs
partial lag sums, so dependent pre-pairs are also binned by lag intervals whose edges are all the
split points the trend formula uses; no wake × (t_max+1) array is ever built.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "KM_PER_DEGREE",
    "UNIT_MS",
    "WakeCounts",
    "count_wakes",
    "distance_km",
    "timestamps_to_ms",
    "trend_from_lags",
]

KM_PER_DEGREE = 111.111
UNIT_MS = {"secs": 1_000, "mins": 60_000, "hours": 3_600_000, "days": 86_400_000}
_DATE_OR_DATETIME_RE = r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2})?"
# Upper bound of (wake, partner) candidate pairs handled at once; bounds the per-chunk memory.
_PAIR_BUDGET = 2_000_000


def timestamps_to_ms(col: pd.Series) -> np.ndarray:
    """Integer milliseconds since 1970 (naive wall clock read as UTC, docs/mwa_reference.md Q3).

    Accepts datetime64 (tz-aware values are converted to UTC), date/datetime objects, or strings that
    are all 'YYYY-MM-DD' or all 'YYYY-MM-DD HH:MM:SS'. Mixing the two string forms is refused (Q23):
    R decides the parse format from the first sorted row, which silently misreads the rest.
    Raises ValueError naming the first offending row (by index label) and its value.

    Well-formed strings of valid dates in 1678..2261 (where every pandas version parses them
    alike) are read digit by digit from their bytes, ~30× faster than pandas' parser; any other
    column, and every error, goes through pandas.
    """
    fast = _iso_timestamps_ms(col)
    return fast if fast is not None else _timestamps_by_pandas(col)


_DATE_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9)
_TIME_DIGITS = (11, 12, 14, 15, 17, 18)
_SEPARATORS = {4: ord("-"), 7: ord("-"), 10: ord(" "), 13: ord(":"), 16: ord(":")}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _fixed_width_bytes(col: pd.Series) -> np.ndarray | None:
    """The strings of ``col`` as an (n, width) uint8 matrix when all are non-missing and of one
    byte length, else None (read through Arrow, which stores them back to back)."""
    if not (pd.api.types.is_string_dtype(col.dtype) or col.dtype == object) or len(col) == 0:
        return None
    try:
        import pyarrow as pa

        arr = pa.array(col.array if col.dtype != object else col.to_numpy(), from_pandas=True)
    except (ImportError, TypeError, ValueError, NotImplementedError):  # pyarrow's errors derive from these
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32,
                            count=n + 1, offset=arr.offset * (8 if pa.types.is_large_string(arr.type) else 4))
    width = int(offsets[1] - offsets[0])
    if width not in (10, 19) or int(offsets[-1] - offsets[0]) != n * width \
            or not np.all(np.diff(offsets) == width):
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width, offset=int(offsets[0]))
    return data.reshape(n, width)


def _iso_timestamps_ms(col: pd.Series) -> np.ndarray | None:
    """Milliseconds of a column of valid 'YYYY-MM-DD[ HH:MM:SS]' strings (years 1678..2261),
    or None when any value is not one (pandas then decides, and words the error)."""
    raw = _fixed_width_bytes(col)
    if raw is None:
        return None
    width = raw.shape[1]
    by_position = np.ascontiguousarray(raw.T)  # one row per character position
    digits = list(_DATE_DIGITS) + (list(_TIME_DIGITS) if width == 19 else [])
    d = by_position[digits] - np.uint8(ord("0"))  # bytes below '0' wrap around to large values
    if not (d <= 9).all():
        return None
    if any(not (by_position[i] == c).all() for i, c in _SEPARATORS.items() if i < width):
        return None

    def number(*rows: int) -> np.ndarray:
        out = d[rows[0]].astype(np.int32)
        for r in rows[1:]:
            out *= 10
            out += d[r]
        return out.astype(np.int64)

    year, month, day = number(0, 1, 2, 3), number(4, 5), number(6, 7)
    if not ((year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1)).all():
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not (day <= _DAYS_IN_MONTH[month] + (leap & (month == 2))).all():
        return None
    # days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    ms = days * 86_400_000
    if width == 19:
        hour, minute, second = number(8, 9), number(10, 11), number(12, 13)
        if not ((hour <= 23) & (minute <= 59) & (second <= 59)).all():
            return None  # pandas reads 24:00:00 as missing and rolls a 60th second over
        ms += ((hour * 60 + minute) * 60 + second) * 1000
    return ms


def _timestamps_by_pandas(col: pd.Series) -> np.ndarray:
    """:func:`timestamps_to_ms` through pandas: every input, and every error message."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        ts = col
    elif pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
        if pd.api.types.infer_dtype(col, skipna=False) == "string" and not col.isna().any():
            is_str = np.ones(len(col), dtype=bool)  # all strings, known without a Python loop
        else:
            is_str = col.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if is_str.all():
            s = col.astype(str)
            # One regex pass for both forms; the length tells them apart.
            ok = s.str.fullmatch(_DATE_OR_DATETIME_RE).to_numpy(dtype=bool)
            is_dt = ok & (s.str.len().to_numpy() == 19)
            is_d = ok & ~is_dt
            bad = ~ok
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"timestamp: row {col.index[i]!r} has value {col.iloc[i]!r}; expected "
                    "'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'")
            if is_dt.any() and is_d.any():
                i_d, i_dt = int(np.flatnonzero(is_d)[0]), int(np.flatnonzero(is_dt)[0])
                raise ValueError(
                    "timestamp: mixed formats, date-only (row "
                    f"{col.index[i_d]!r}: {col.iloc[i_d]!r}) and date-time (row "
                    f"{col.index[i_dt]!r}: {col.iloc[i_dt]!r}); use one format for all rows")
            fmt = "%Y-%m-%d %H:%M:%S" if is_dt.any() else "%Y-%m-%d"
            ts = pd.to_datetime(s, format=fmt, errors="coerce")
        elif not is_str.any():
            ts = pd.to_datetime(col, errors="coerce")
            if isinstance(ts.dtype, pd.DatetimeTZDtype):
                ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            i = int(np.flatnonzero(~is_str)[0])
            what = "is missing" if pd.isna(col.iloc[i]) else f"has value {col.iloc[i]!r}"
            raise ValueError(
                f"timestamp: row {col.index[i]!r} {what}; the other rows are strings")
    else:
        raise ValueError(
            f"timestamp: column of dtype {col.dtype} is not supported; use datetime64 or "
            "'YYYY-MM-DD[ HH:MM:SS]' strings")
    nat = ts.isna().to_numpy()
    if nat.any():
        i = int(np.flatnonzero(nat)[0])
        raise ValueError(
            f"timestamp: row {col.index[i]!r} has value {col.iloc[i]!r}, which is missing or not "
            "a valid date/time")
    return ts.to_numpy().astype("datetime64[ms]").astype(np.int64)


def distance_km(lat_a, lon_a, lat_b, lon_b) -> np.ndarray:
    """Great-circle distance in km with R mwa's atan2 formula and 111.111 km per degree (§2.2).

    ``a`` is the other event and ``b`` the wake; the operation order follows the Java code so that
    events exactly on a window's edge fall on the same side.
    """
    return _distance_parts(*_angles(lat_a, lon_a), *_angles(lat_b, lon_b))


def _angles(lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sin(lat), cos(lat) and lon in radians: the per-event parts of :func:`distance_km`."""
    phi = np.radians(np.asarray(lat, dtype=float))
    return np.sin(phi), np.cos(phi), np.radians(np.asarray(lon, dtype=float))


def _distance_parts(sa, ca, la, sb, cb, lb) -> np.ndarray:
    dl = la - lb
    cl = np.cos(dl)
    y = np.sqrt((cb * np.sin(dl)) ** 2 + (ca * sb - sa * cb * cl) ** 2)
    x = sa * sb + ca * cb * cl
    return np.degrees(np.arctan2(y, x)) * KM_PER_DEGREE


def trend_from_lags(lag_sum, t: int) -> np.ndarray:
    """R mwa's ``dependent_trend`` for temporal window t from lag sums (§2.3, Q5).

    ``lag_sum(a, b)`` returns the dependent pre counts summed over lags a..b (inclusive). Odd t
    keeps Java's integer division ``split / (split - 1)``, which is 2 for t = 3 and 1 beyond.
    """
    if t < 2:
        raise ValueError(f"t_window: value {t} is below 2; the trend needs at least 2 lags")
    if t % 2 == 0:
        split = t // 2
        return (lag_sum(0, split - 1) - lag_sum(split, t)).astype(float)
    split = (t + 1) // 2
    f = split // (split - 1)
    older = lag_sum(split, t)
    first = lag_sum(0, split - 1) - f * older
    second = f * lag_sum(0, split - 2) - lag_sum(split - 1, t)
    return 0.5 * (first + second).astype(float)


def _trend_edges(t_windows: np.ndarray) -> np.ndarray:
    """Lag-interval edges such that every lag sum used by :func:`trend_from_lags` is a run of bins."""
    edges = {0}
    for t in t_windows:
        t = int(t)
        split = t // 2 if t % 2 == 0 else (t + 1) // 2
        edges.update({split - 1, split, t + 1})
    return np.array(sorted(e for e in edges if e >= 0), dtype=np.int64)


@dataclass
class WakeCounts:
    """Counts per wake row × spatial window × temporal window (arrays of shape (W, S, T)).

    ``complete`` has shape (W, T): R keeps a wake for window t only if the full data holds an event
    more than t units before it and one more than t units after it.
    """

    dependent_pre: np.ndarray
    dependent_trend: np.ndarray
    so_pre: np.ndarray
    mo_pre: np.ndarray
    dependent_post: np.ndarray
    so_post: np.ndarray
    mo_post: np.ndarray
    complete: np.ndarray


def _unit_sphere(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@dataclass
class _CellIndex:
    """Points sorted by (3-D grid cell, rank), for box queries that need no tree.

    The cell width is twice the query half-width, so a query's box [x − h, x + h] meets exactly
    two cells per axis: 8 cells, each one contiguous block of ``order``. Within a block points
    are sorted by ``rank``, so one composite key ``cell · n_rank + rank`` finds any rank range.
    """

    order: np.ndarray  # point ids sorted by (cell, rank)
    keys: np.ndarray  # cell_dense · n_rank + rank, ascending
    cells: np.ndarray  # the occupied cell codes, ascending
    cell_start: np.ndarray  # block of cells[i] in order: cell_start[i]:cell_start[i + 1]
    width: float
    n_axis: int
    n_rank: int

    @classmethod
    def build(cls, xyz: np.ndarray, rank: np.ndarray, n_rank: int, half_width: float) -> _CellIndex:
        # Cells no finer than 2e-6 (about 6 m on the unit sphere) keep n_axis**3 inside int64.
        width = max(2.0 * half_width, 2e-6)
        n_axis = int(2.0 / width) + 3
        code = _cell_code(np.floor((xyz + 1.0) / width).astype(np.int64), n_axis)
        order = np.argsort(code, kind="stable")  # ranks arrive ascending, so ties stay by rank
        code = code[order]
        first = np.flatnonzero(np.concatenate(([True], code[1:] != code[:-1])))
        dense = np.cumsum(np.concatenate(([0], (code[1:] != code[:-1]).astype(np.int64))))
        keys = dense * n_rank + rank[order]
        return cls(order=order, keys=keys, cells=code[first],
                   cell_start=np.append(first, code.size), width=width, n_axis=n_axis,
                   n_rank=n_rank)

    def ranges(self, xyz: np.ndarray, half_width: float, lo: np.ndarray, hi: np.ndarray):
        """(start, stop) into ``order``, shape (8, Q): points of the 8 cells around each query's
        box with rank in [lo, hi); empty ranges have start == stop."""
        base = np.floor((xyz - half_width + 1.0) / self.width).astype(np.int64)
        q = xyz.shape[0]
        start = np.zeros((8, q), dtype=np.int64)
        stop = np.zeros((8, q), dtype=np.int64)
        # Queries sorted by cell make every search below run over ascending keys (numpy's
        # binary search then reuses the previous bound).
        qcode = _cell_code(base, self.n_axis)
        q_order = np.lexsort((lo, qcode))
        base, lo, hi = base[q_order], lo[q_order], hi[q_order]
        for j, off in enumerate(np.ndindex(2, 2, 2)):
            code = _cell_code(base + np.array(off), self.n_axis)
            pos = np.searchsorted(self.cells, code)
            hit = pos < self.cells.size
            hit[hit] = self.cells[pos[hit]] == code[hit]
            if not hit.any():
                continue
            rows = q_order[hit]
            cell = pos[hit]
            start[j, rows] = np.searchsorted(self.keys, cell * self.n_rank + lo[hit])
            stop[j, rows] = np.searchsorted(self.keys, cell * self.n_rank + hi[hit])
        return start, np.maximum(stop, start)


def _cell_code(ijk: np.ndarray, n_axis: int) -> np.ndarray:
    return (ijk[:, 0] * n_axis + ijk[:, 1]) * n_axis + ijk[:, 2]


def _expand(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges: (range number, position) for every position of every range."""
    length = stop - start
    total = int(length.sum())
    which = np.repeat(np.arange(start.size), length)
    offsets = np.cumsum(length) - length
    pos = np.arange(total, dtype=np.int64) - np.repeat(offsets - start, length)
    return which, pos


def count_wakes(
    time_ms: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    is_dependent: np.ndarray,
    is_treatment: np.ndarray,
    is_control: np.ndarray,
    wake_index: np.ndarray,
    wake_is_treatment: np.ndarray,
    t_windows: np.ndarray,
    s_windows: np.ndarray,
    unit_ms: int,
    progress: bool = False,
) -> WakeCounts:
    """Count dependent, same-type (SO) and mixed-type (MO) events around each wake, for all windows.

    All event arrays are in sorted (eventID) order; ``time_ms`` must be non-decreasing.
    ``wake_index`` holds the 0-based position of each wake row (an event that is both treatment and
    control appears twice), ``wake_is_treatment`` its label. ``t_windows`` (integers) and
    ``s_windows`` (km) must be strictly increasing. Semantics are those of docs/mwa_reference.md §2.3: pre lags
    0..t (same-unit partners only if earlier in sort order), post lags 1..t, discs dist <= s.
    """
    time_ms = np.asarray(time_ms, dtype=np.int64)
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    is_dep = np.asarray(is_dependent, dtype=bool)
    is_tr = np.asarray(is_treatment, dtype=bool)
    is_co = np.asarray(is_control, dtype=bool)
    wake_index = np.asarray(wake_index, dtype=np.int64)
    wake_tr = np.asarray(wake_is_treatment, dtype=bool)
    t_windows = np.asarray(t_windows, dtype=np.int64)
    s_windows = np.asarray(s_windows, dtype=float)
    n = time_ms.size
    n_w, n_s, n_t = wake_index.size, s_windows.size, t_windows.size
    if n and np.any(np.diff(time_ms) < 0):
        raise ValueError("count_wakes: time_ms must be sorted ascending")
    if np.any(np.diff(t_windows) <= 0) or np.any(np.diff(s_windows) <= 0):
        raise ValueError("count_wakes: window values must be strictly increasing")

    # Completeness only needs the first and last timestamps of the full data (§2.3).
    if n_w:
        t_e = time_ms[wake_index]
        before = (t_e - time_ms[0]) // unit_ms
        after = (time_ms[-1] - t_e) // unit_ms
        complete = (before[:, None] > t_windows[None, :]) & (after[:, None] > t_windows[None, :])
    else:
        complete = np.zeros((0, n_t), dtype=bool)

    edges = _trend_edges(t_windows)
    # Wake-minor layouts (S, T, W) and (lags, S, W): cumulative sums then run over whole
    # contiguous blocks, and the wakes table (spatial window, then t, then wake) reads them as is.
    # Counts of one wake are at most the number of events: 32 bits suffice (and halve the traffic).
    count_type = np.int32 if n < 2**31 - 1 else np.int64
    hist = np.zeros((6, n_s, n_t, n_w), dtype=count_type)
    lag_hist = np.zeros((edges.size - 1, n_s, n_w), dtype=count_type)
    partners = np.flatnonzero(is_dep | is_tr | is_co)
    if n_w and partners.size:
        counter = _WakeCounter(time_ms, lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr,
                               t_windows, s_windows, edges, unit_ms, hist, lag_hist, progress)
        counter.count(partners)

    # Smallest-window bins -> cumulative windows (integer sums, so the order is immaterial).
    for si in range(1, n_s):
        hist[:, si] += hist[:, si - 1]
    for ti in range(1, n_t):
        hist[:, :, ti] += hist[:, :, ti - 1]
    for si in range(1, n_s):
        lag_hist[:, si] += lag_hist[:, si - 1]
    prefix = np.zeros((edges.size, n_s, n_w), dtype=count_type)
    for li in range(edges.size - 1):
        np.add(prefix[li], lag_hist[li], out=prefix[li + 1])
    pos = {int(e): i for i, e in enumerate(edges)}

    trend = np.zeros((n_s, n_t, n_w), dtype=float)
    for j, t in enumerate(t_windows):
        def lag_sum(a: int, b: int) -> np.ndarray:
            return prefix[pos[b + 1]] - prefix[pos[a]]
        trend[:, j] = trend_from_lags(lag_sum, int(t))

    def wst(arr: np.ndarray) -> np.ndarray:  # (S, T, W) storage seen as (W, S, T)
        return arr.transpose(2, 0, 1)

    return WakeCounts(
        dependent_pre=wst(hist[0]), dependent_trend=wst(trend), so_pre=wst(hist[1]),
        mo_pre=wst(hist[2]), dependent_post=wst(hist[3]), so_post=wst(hist[4]),
        mo_post=wst(hist[5]), complete=complete)


def _add_counts(target: np.ndarray, cells: np.ndarray) -> None:
    """target[c] += 1 for every c in ``cells`` (repeats add up): scattered when the cells are
    few next to the target, else through one dense bincount."""
    if cells.size == 0:
        return
    if cells.size * 8 < target.size:
        np.add.at(target, cells, 1)
    else:
        target += np.bincount(cells, minlength=target.size).astype(target.dtype, copy=False)


# A location whose events are expected to give more candidate pairs per wake than this many per
# lag threshold is counted by time ranks instead of pair by pair (tests force both ways).
_HEAVY_PAIRS_PER_THRESHOLD = 8.0


class _WakeCounter:
    """One counting run: the sorted inputs, the histograms being filled, and the two counting paths.

    Candidate partners of a wake lie in its space-time cylinder: |Δt| < (t_max + 1) units and
    distance <= s_max. Time is a rank range of the sorted events; space is a box in 3-D unit-sphere
    coordinates of half-width = the chord of s_max (plus a margin), found through a cell grid.
    Events piled on one location are counted per (wake, location) from time ranks, so 1M events on
    a handful of points cost as much as a handful of partners.
    """

    def __init__(self, time_ms, lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr, t_windows,
                 s_windows, edges, unit_ms, hist, lag_hist, progress):
        self.time_ms, self.is_dep, self.is_tr, self.is_co = time_ms, is_dep, is_tr, is_co
        self.lat, self.lon = lat, lon
        self.wake_index, self.wake_tr = wake_index, wake_tr
        self.t_windows, self.s_windows, self.edges = t_windows, s_windows, edges
        self.unit_ms, self.hist, self.lag_hist, self.progress = unit_ms, hist, lag_hist, progress
        t_max, s_max = int(t_windows[-1]), float(s_windows[-1])
        theta = min(np.radians(s_max / KM_PER_DEGREE), np.pi)
        chord = max(2.0 * np.sin(theta / 2.0), 1e-9)
        self.half_width = chord * (1 + 1e-6) + 1e-12
        self.span_ms = (t_max + 1) * unit_ms  # |Δt| < span_ms  <=>  lag <= t_max
        self.angles = _angles(lat, lon)  # per event once; pairs only gather them
        t_e = time_ms[wake_index]
        # Rank range of each wake's time window: t_e − span < t_k < t_e + span.
        self.wake_lo = np.searchsorted(time_ms, t_e - self.span_ms, side="right")
        self.wake_hi = np.searchsorted(time_ms, t_e + self.span_ms, side="left")

    def count(self, partners: np.ndarray) -> None:
        xyz = _unit_sphere(self.lat[partners], self.lon[partners])
        wake_xyz = _unit_sphere(self.lat[self.wake_index], self.lon[self.wake_index])
        n = self.time_ms.size
        index = _CellIndex.build(xyz, partners, n, self.half_width)
        found = self._heavy_partners(index, partners)
        if found is not None:
            heavy, coords, loc = found
            self._count_locations(partners[heavy], coords, loc, wake_xyz)
            light = np.flatnonzero(~heavy)
            if light.size == 0:
                return
            xyz, partners = xyz[light], partners[light]
            index = _CellIndex.build(xyz, partners, n, self.half_width)
        self._count_pairs(index, partners, xyz, wake_xyz)

    def _heavy_partners(self, index: _CellIndex, partners: np.ndarray):
        """Partners at locations worth counting by time ranks, or None if there are none:
        (mask over ``partners``, the locations as complex lat + i·lon, each heavy partner's
        location number in ascending partner order)."""
        n_thresholds = self._thresholds().size
        t_range = float(self.time_ms[-1] - self.time_ms[0] + 1)
        share = min(1.0, 2.0 * self.span_ms / t_range)  # of all events, expected in one window
        limit = _HEAVY_PAIRS_PER_THRESHOLD * n_thresholds / share
        per_cell = np.diff(index.cell_start)
        if per_cell.max() <= limit:
            return None
        in_heavy_cell = np.repeat(per_cell > limit, per_cell)
        cand = index.order[in_heavy_cell]
        idx = partners[cand]
        uniq, inv, cnt = np.unique(self.lat[idx] + 1j * self.lon[idx], return_inverse=True,
                                   return_counts=True)
        inv = inv.reshape(-1)
        heavy_loc = cnt > limit
        if not heavy_loc.any():
            return None
        mask = np.zeros(partners.size, dtype=bool)
        on_heavy = heavy_loc[inv]
        mask[cand[on_heavy]] = True
        # Location numbers of the heavy partners in ascending partner order (cand is cell-major).
        renumber = np.cumsum(heavy_loc) - 1
        loc = np.empty(partners.size, dtype=np.int64)
        loc[cand[on_heavy]] = renumber[inv[on_heavy]]
        return mask, uniq[heavy_loc], loc[mask]

    def _thresholds(self) -> np.ndarray:
        """Lag thresholds x whose cumulative counts (lag <= x) give every window and trend bin."""
        return np.union1d(self.t_windows, self.edges[1:] - 1)

    # ---------------------------------------------------------------- pair by pair
    def _count_pairs(self, index: _CellIndex, partners: np.ndarray, xyz: np.ndarray,
                     wake_xyz: np.ndarray) -> None:
        n_w = self.wake_index.size
        # Coordinates by axis, so that the chord pre-filter gathers from contiguous arrays.
        px, py, pz = np.ascontiguousarray(xyz.T)
        wx, wy, wz = np.ascontiguousarray(wake_xyz.T)
        h2 = self.half_width ** 2
        start, stop = index.ranges(wake_xyz, self.half_width, self.wake_lo, self.wake_hi)
        per_wake = (stop - start).sum(axis=0)
        bounds = [0]
        acc = 0
        for i, length in enumerate(per_wake.tolist()):
            if acc and acc + length > _PAIR_BUDGET:
                bounds.append(i)
                acc = 0
            acc += length
        bounds.append(n_w)
        n_chunks = len(bounds) - 1
        for c in range(n_chunks):
            lo_w, hi_w = bounds[c], bounds[c + 1]
            total = int(per_wake[lo_w:hi_w].sum())
            if self.progress:
                print(f"matchedwake: counting wakes {lo_w + 1}-{hi_w} of {n_w} "
                      f"(chunk {c + 1}/{n_chunks}, {total} candidate pairs)", file=sys.stderr)
            if total == 0:
                continue
            which, pos = _expand(start[:, lo_w:hi_w].T.reshape(-1), stop[:, lo_w:hi_w].T.reshape(-1))
            w = which // 8
            p = index.order[pos]
            # The cells hold ~5x the disc; the chord (cheap) drops most before the exact distance.
            wa = w + lo_w
            near = (px[p] - wx[wa]) ** 2 + (py[p] - wy[wa]) ** 2 + (pz[p] - wz[wa]) ** 2 <= h2
            self._accumulate_pairs(w[near], partners[p[near]], lo_w, hi_w)

    def _accumulate_pairs(self, w, k, lo_w, hi_w) -> None:
        """Bin candidate (wake row lo_w + w, event k) pairs into the histograms."""
        time_ms, unit_ms, t_windows, s_windows = self.time_ms, self.unit_ms, self.t_windows, self.s_windows
        e = self.wake_index[lo_w:hi_w][w]
        pre = k < e
        diff = np.abs(time_ms[e] - time_ms[k])
        dd = diff // unit_ms
        keep = (k != e) & (pre | (dd >= 1))
        w, k, e, pre, dd = w[keep], k[keep], e[keep], pre[keep], dd[keep]
        sin_lat, cos_lat, lon_rad = self.angles
        dist = _distance_parts(sin_lat[k], cos_lat[k], lon_rad[k], sin_lat[e], cos_lat[e], lon_rad[e])
        keep = dist <= s_windows[-1]
        w, k, pre, dd, dist = w[keep], k[keep], pre[keep], dd[keep], dist[keep]
        si = np.searchsorted(s_windows, dist, side="left")
        ti = np.searchsorted(t_windows, dd, side="left")
        hist = self.hist[:, :, :, lo_w:hi_w]
        n_s, n_t, n_w = hist.shape[1:]
        flat = (si * n_t + ti) * n_w + w
        wt = self.wake_tr[lo_w:hi_w][w]
        dep = self.is_dep[k]
        so = np.where(wt, self.is_tr[k], self.is_co[k])
        mo = np.where(wt, self.is_co[k], self.is_tr[k])
        size = n_w * n_s * n_t
        selections = [phase & flag for phase, flag in ((pre, dep), (pre, so), (pre, mo), (~pre, dep),
                                                       (~pre, so), (~pre, mo))]
        whole = lo_w == 0 and hi_w == self.hist.shape[3]  # the histogram itself, contiguous
        if whole:
            _add_counts(self.hist.reshape(-1), np.concatenate([flat[sel] + m * size
                                                               for m, sel in enumerate(selections)]))
        else:
            for m, sel in enumerate(selections):
                if sel.any():
                    view = hist[m]
                    view += np.bincount(flat[sel], minlength=size).reshape(view.shape)
        sel = selections[0]
        if sel.any():
            lag_hist = self.lag_hist[:, :, lo_w:hi_w]
            li = np.searchsorted(self.edges, dd[sel], side="right") - 1
            n_l = lag_hist.shape[0]
            lflat = (li * n_s + si[sel]) * n_w + w[sel]
            if whole:
                _add_counts(self.lag_hist.reshape(-1), lflat)
            else:
                lag_hist += np.bincount(lflat, minlength=n_w * n_s * n_l).reshape(lag_hist.shape)

    # ---------------------------------------------------------------- location by location
    def _count_locations(self, heavy: np.ndarray, coords: np.ndarray, loc: np.ndarray,
                         wake_xyz: np.ndarray) -> None:
        """Count the partners ``heavy`` (event ids, ascending) per (wake, location) from ranks;
        ``coords`` are the locations (lat + i·lon) and ``loc`` each heavy partner's location.

        For wake e at lag threshold x, pre partners at location L are the events k of L with
        a_x <= k < e, a_x the first event with t > t_e − (x+1)·unit; post partners those with
        b <= k < c_x, b the first with t >= t_e + unit and c_x the first with t >= t_e + (x+1)·unit.
        """
        n = self.time_ms.size
        loc_lat, loc_lon = coords.real, coords.imag
        # (wake, location) pairs within s_max, through the same cell grid (locations have rank 0).
        index = _CellIndex.build(_unit_sphere(loc_lat, loc_lon), np.zeros(coords.size, np.int64), 1,
                                 self.half_width)
        n_w = self.wake_index.size
        start, stop = index.ranges(wake_xyz, self.half_width, np.zeros(n_w, np.int64),
                                   np.ones(n_w, np.int64))
        which, pos = _expand(start.T.reshape(-1), stop.T.reshape(-1))
        w = which // 8
        place = index.order[pos]
        e = self.wake_index[w]
        sa, ca, la = _angles(loc_lat[place], loc_lon[place])
        sin_lat, cos_lat, lon_rad = self.angles
        dist = _distance_parts(sa, ca, la, sin_lat[e], cos_lat[e], lon_rad[e])
        keep = dist <= self.s_windows[-1]
        w, place, e, dist = w[keep], place[keep], e[keep], dist[keep]
        if w.size == 0:
            return
        si = np.searchsorted(self.s_windows, dist, side="left")

        keys = {}  # per type: location · n + event id, ascending
        for name, flag in (("dep", self.is_dep), ("tr", self.is_tr), ("co", self.is_co)):
            sel = flag[heavy]
            keys[name] = np.sort(loc[sel] * n + heavy[sel])
        x = self._thresholds()
        step = max(1, _PAIR_BUDGET // (4 * x.size))  # bounds the (pairs × thresholds) arrays
        for lo in range(0, w.size, step):
            part = slice(lo, lo + step)
            self._add_location_counts(w[part], place[part], e[part], si[part], keys, x)

    def _add_location_counts(self, w, place, e, si, keys, x) -> None:
        """Histogram contributions of (wake row w, location place) pairs in spatial bin si."""
        time_ms, unit_ms, n = self.time_ms, self.unit_ms, self.time_ms.size
        t_e = time_ms[e][:, None]
        a = np.searchsorted(time_ms, t_e - (x + 1) * unit_ms, side="right")
        b = np.searchsorted(time_ms, t_e[:, 0] + unit_ms, side="left")[:, None]
        c = np.searchsorted(time_ms, t_e + (x + 1) * unit_ms, side="left")
        base = place[:, None] * n
        cum = {}
        for name, k in keys.items():
            cum[name, "pre"] = np.searchsorted(k, base + e[:, None]) - np.searchsorted(k, base + a)
            cum[name, "post"] = np.searchsorted(k, base + c) - np.searchsorted(k, base + b)
        wt = self.wake_tr[w][:, None]
        t_at = np.searchsorted(x, self.t_windows)
        for m, (phase, kind) in enumerate([("pre", "dep"), ("pre", "so"), ("pre", "mo"),
                                           ("post", "dep"), ("post", "so"), ("post", "mo")]):
            if kind == "dep":
                c_x = cum["dep", phase]
            elif kind == "so":
                c_x = np.where(wt, cum["tr", phase], cum["co", phase])
            else:
                c_x = np.where(wt, cum["co", phase], cum["tr", phase])
            at_t = c_x[:, t_at]
            # hist[m][si, :, w] has shape (pairs, T): index arrays split by a slice come first
            np.add.at(self.hist[m], (si, slice(None), w), np.diff(at_t, axis=1, prepend=0))
        at_edges = cum["dep", "pre"][:, np.searchsorted(x, self.edges[1:] - 1)]
        # lag_hist[:, si, w] has shape (lags, pairs): the index arrays are adjacent
        np.add.at(self.lag_hist, (slice(None), si, w), np.diff(at_edges, axis=1, prepend=0).T)
