"""The wake counter: R mwa's Java ``WakeCounter`` (REFERENCE §2.2–2.3), all windows in one pass.

The Java code rescans the data once per (spatial window, temporal window, wake). Counts are
cumulative in both s (discs) and t (lags 0..t / 1..t), so here every (wake, partner) pair inside the
largest cylinder is found once with a k-d tree, binned to the smallest spatial and temporal window
that contains it, and cumulative sums over the bins give every window at once. The trend needs
partial lag sums, so dependent pre-pairs are also binned by lag intervals whose edges are all the
split points the trend formula uses; no wake × (t_max+1) array is ever built.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

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
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_DATETIME_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
# Upper bound of (wake, partner) candidate pairs handled at once; bounds the per-chunk memory.
_PAIR_BUDGET = 2_000_000


def timestamps_to_ms(col: pd.Series) -> np.ndarray:
    """Integer milliseconds since 1970 (naive wall clock read as UTC, REFERENCE Q3).

    Accepts datetime64 (tz-aware values are converted to UTC), date/datetime objects, or strings that
    are all 'YYYY-MM-DD' or all 'YYYY-MM-DD HH:MM:SS'. Mixing the two string forms is refused (Q23):
    R decides the parse format from the first sorted row, which silently misreads the rest.
    Raises ValueError naming the first offending row (by index label) and its value.
    """
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        ts = col
    elif pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
        is_str = col.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if is_str.all():
            s = col.astype(str)
            is_dt = s.str.fullmatch(_DATETIME_RE).to_numpy(dtype=bool)
            is_d = s.str.fullmatch(_DATE_RE).to_numpy(dtype=bool)
            bad = ~(is_dt | is_d)
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
    ``s_windows`` (km) must be strictly increasing. Semantics are those of REFERENCE §2.3: pre lags
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
    t_max, s_max = int(t_windows[-1]), float(s_windows[-1])

    # Completeness only needs the first and last timestamps of the full data (§2.3).
    if n_w:
        t_e = time_ms[wake_index]
        before = (t_e - time_ms[0]) // unit_ms
        after = (time_ms[-1] - t_e) // unit_ms
        complete = (before[:, None] > t_windows[None, :]) & (after[:, None] > t_windows[None, :])
    else:
        complete = np.zeros((0, n_t), dtype=bool)

    edges = _trend_edges(t_windows)
    n_l = edges.size - 1
    hist = np.zeros((6, n_w, n_s, n_t), dtype=np.int64)
    lag_hist = np.zeros((n_w, n_s, n_l), dtype=np.int64)

    partners = np.flatnonzero(is_dep | is_tr | is_co)
    if n_w and partners.size:
        # Superset box of the largest cylinder: chord of the largest angle in each 3-D coordinate,
        # and the time span scaled onto the same radius (Chebyshev metric).
        theta = min(np.radians(s_max / KM_PER_DEGREE), np.pi)
        chord = max(2.0 * np.sin(theta / 2.0), 1e-9)
        span_ms = float(t_max + 1) * unit_ms
        t0 = time_ms[0]
        tscale = chord / span_ms
        radius = chord * (1 + 1e-6) + 1e-12

        def coords(idx: np.ndarray) -> np.ndarray:
            return np.column_stack(
                [_unit_sphere(lat[idx], lon[idx]), (time_ms[idx] - t0).astype(float) * tscale])

        angles = _angles(lat, lon)  # per event once; pairs only gather them
        tree = cKDTree(coords(partners), leafsize=16, balanced_tree=False, compact_nodes=False)
        q = coords(wake_index)
        lengths = tree.query_ball_point(q, radius, p=np.inf, return_length=True, workers=-1)
        bounds = [0]
        acc = 0
        for i, length in enumerate(lengths):
            if acc and acc + length > _PAIR_BUDGET:
                bounds.append(i)
                acc = 0
            acc += int(length)
        bounds.append(n_w)
        n_chunks = len(bounds) - 1
        for c in range(n_chunks):
            lo_w, hi_w = bounds[c], bounds[c + 1]
            total = int(lengths[lo_w:hi_w].sum())
            if progress:
                print(f"matchedwake: counting wakes {lo_w + 1}-{hi_w} of {n_w} "
                      f"(chunk {c + 1}/{n_chunks}, {total} candidate pairs)", file=sys.stderr)
            if total == 0:
                continue
            found = tree.query_ball_point(q[lo_w:hi_w], radius, p=np.inf,
                                          return_sorted=False, workers=-1)
            k = partners[np.fromiter(chain.from_iterable(found), dtype=np.int64, count=total)]
            w = np.repeat(np.arange(lo_w, hi_w), lengths[lo_w:hi_w])
            _accumulate(w - lo_w, k, time_ms, angles, is_dep, is_tr, is_co,
                        wake_index[lo_w:hi_w], wake_tr[lo_w:hi_w], t_windows, s_windows, edges,
                        unit_ms, hist[:, lo_w:hi_w], lag_hist[lo_w:hi_w])

    # Smallest-window bins -> cumulative windows.
    counts = np.cumsum(hist, axis=2, out=hist)
    counts = np.cumsum(counts, axis=3, out=counts)
    lag_cum = np.cumsum(lag_hist, axis=1, out=lag_hist)
    prefix = np.concatenate([np.zeros((n_w, n_s, 1), dtype=np.int64),
                             np.cumsum(lag_cum, axis=2, out=lag_cum)], axis=2)
    pos = {int(e): i for i, e in enumerate(edges)}

    trend = np.zeros((n_w, n_s, n_t), dtype=float)
    for j, t in enumerate(t_windows):
        def lag_sum(a: int, b: int) -> np.ndarray:
            return prefix[:, :, pos[b + 1]] - prefix[:, :, pos[a]]
        trend[:, :, j] = trend_from_lags(lag_sum, int(t))

    return WakeCounts(
        dependent_pre=counts[0], dependent_trend=trend, so_pre=counts[1], mo_pre=counts[2],
        dependent_post=counts[3], so_post=counts[4], mo_post=counts[5], complete=complete)


def _accumulate(w, k, time_ms, angles, is_dep, is_tr, is_co, wake_index, wake_tr,
                t_windows, s_windows, edges, unit_ms, hist, lag_hist) -> None:
    """Bin candidate (wake row w of this chunk, event k) pairs into the chunk's histograms."""
    e = wake_index[w]
    pre = k < e
    keep = k != e
    diff = np.where(pre, time_ms[e] - time_ms[k], time_ms[k] - time_ms[e])
    dd = diff // unit_ms
    keep &= dd <= t_windows[-1]
    keep &= pre | (dd >= 1)
    w, k, e, pre, dd = w[keep], k[keep], e[keep], pre[keep], dd[keep]
    sin_lat, cos_lat, lon_rad = angles
    dist = _distance_parts(sin_lat[k], cos_lat[k], lon_rad[k], sin_lat[e], cos_lat[e], lon_rad[e])
    keep = dist <= s_windows[-1]
    w, k, pre, dd, dist = w[keep], k[keep], pre[keep], dd[keep], dist[keep]
    si = np.searchsorted(s_windows, dist, side="left")
    ti = np.searchsorted(t_windows, dd, side="left")
    n_w, n_s, n_t = hist.shape[1:]
    flat = (w * n_s + si) * n_t + ti
    wt = wake_tr[w]
    dep = is_dep[k]
    so = np.where(wt, is_tr[k], is_co[k])
    mo = np.where(wt, is_co[k], is_tr[k])
    size = n_w * n_s * n_t
    for m, (phase, flag) in enumerate([(pre, dep), (pre, so), (pre, mo),
                                       (~pre, dep), (~pre, so), (~pre, mo)]):
        sel = phase & flag
        if sel.any():
            view = hist[m]
            view += np.bincount(flat[sel], minlength=size).reshape(view.shape)
    sel = pre & dep
    if sel.any():
        li = np.searchsorted(edges, dd[sel], side="right") - 1
        n_l = lag_hist.shape[2]
        lflat = (w[sel] * n_s + si[sel]) * n_l + li
        lag_hist += np.bincount(lflat, minlength=n_w * n_s * n_l).reshape(lag_hist.shape)
