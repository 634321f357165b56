"""The wake counter (docs/mwa_reference.md §2.2–2.3): hand-worked examples and a property test against a
literal transcription of R mwa's per-window scan."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchedwake import counting
from matchedwake.counting import (
    UNIT_MS,
    count_wakes,
    distance_km,
    timestamps_to_ms,
    trend_from_lags,
)
from matchedwake.wakes import sliding_wake

DAY = UNIT_MS["days"]
HOUR = UNIT_MS["hours"]


# --- distance ----------------------------------------------------------------------------------

def test_one_degree_of_longitude_at_the_equator_is_111_111_km():
    assert distance_km(0.0, 1.0, 0.0, 0.0) == pytest.approx(111.111, rel=1e-15)
    assert distance_km(1.0, 0.0, 0.0, 0.0) == pytest.approx(111.111, rel=1e-15)


def test_0_0899_degrees_is_9_9888789_km():
    assert distance_km(0.0, 0.0899, 0.0, 0.0) == pytest.approx(9.9888789, rel=1e-12)
    assert distance_km(0.0, 0.0, 0.0, 0.0) == 0.0
    assert distance_km(12.345, -3.5, 12.345, -3.5) == 0.0


def test_distance_is_vectorised_and_symmetric_in_value():
    a = distance_km([10.0, -20.0], [30.0, 40.0], [10.5, -20.0], [30.0, 41.0])
    b = distance_km([10.5, -20.0], [30.0, 41.0], [10.0, -20.0], [30.0, 40.0])
    np.testing.assert_allclose(a, b, rtol=1e-13)
    assert a[0] == pytest.approx(0.5 * 111.111, rel=1e-12)  # half a degree along a meridian


# --- timestamps --------------------------------------------------------------------------------

def test_timestamps_as_strings_and_datetime64_give_utc_milliseconds():
    s = pd.Series(["1970-01-01 00:00:01", "1970-01-02 01:00:00"])
    assert timestamps_to_ms(s).tolist() == [1000, DAY + HOUR]
    d = pd.Series(["1970-01-01", "1970-01-03"])
    assert timestamps_to_ms(d).tolist() == [0, 2 * DAY]
    dt = pd.Series(pd.to_datetime(["1970-01-01 00:00:01"]))
    assert timestamps_to_ms(dt).tolist() == [1000]
    tz = pd.Series(pd.to_datetime(["1970-01-01 02:00:00"]).tz_localize("Europe/Berlin"))
    assert timestamps_to_ms(tz).tolist() == [HOUR]


def test_iso_strings_read_from_their_bytes_equal_pandas_parse():
    # Random instants over the whole fast range, both forms, str and object columns, a sliced
    # column (Arrow offsets not starting at 0), and the calendar's edges: leap days, month ends.
    rng = np.random.default_rng(1970)
    lo, hi = (np.datetime64(t, "s").astype(np.int64) for t in ("1678-01-01T00:00:00", "2261-12-31T23:59:59"))
    secs = np.concatenate([rng.integers(lo, hi, 5000), [lo, hi]]).astype("datetime64[s]")
    text = np.char.replace(np.datetime_as_string(secs, unit="s"), "T", " ")
    edges = ["2000-02-29 12:00:00", "1900-02-28 23:59:59", "2004-02-29 00:00:00", "1970-01-01 00:00:00",
             "1969-12-31 23:59:59", "2100-12-31 00:00:59", "1700-03-01 01:01:01"]
    columns = [pd.Series(text), pd.Series(text.astype(object), dtype=object), pd.Series(edges),
               pd.Series([t[:10] for t in text[:999]]), pd.Series(text).iloc[17:40]]
    for col in columns:
        fast = counting._iso_timestamps_ms(col)
        assert fast is not None
        np.testing.assert_array_equal(fast, counting._timestamps_by_pandas(col))
    assert timestamps_to_ms(pd.Series(edges))[:4].tolist() == [951825600000, -2203891201000, 1078012800000, 0]


@pytest.mark.parametrize("values", [
    ["2020-02-30 00:00:00"],  # no such day: pandas' error
    ["2020-01-01 23:59:60"],  # pandas rolls a 60th second over
    ["2020-01-01 24:00:00"], ["1500-06-01 00:00:00"], ["2262-05-01"],  # outside every pandas' range
    ["2020-01-01", "2020-01-01 00:00:00"], [" 2020-01-01"], ["2020-1-01"], ["2020/01/01"],
    ["٢٠٢٠-٠١-٠١"], ["2020-01-01", None], [pd.Timestamp("2020-01-01")],
])
def test_other_timestamps_are_left_to_pandas(values):
    col = pd.Series(values, dtype=object)
    assert counting._iso_timestamps_ms(col) is None
    try:
        want = counting._timestamps_by_pandas(col)
    except ValueError as exc:
        with pytest.raises(ValueError) as got:
            timestamps_to_ms(col)
        assert str(got.value) == str(exc)
    else:
        np.testing.assert_array_equal(timestamps_to_ms(col), want)


# --- trend ---------------------------------------------------------------------------------------

def _trend(lags, t):
    arr = np.array(lags, dtype=np.int64)[None, :]
    return trend_from_lags(lambda a, b: arr[:, a:b + 1].sum(axis=1), t)[0]


def test_trend_even_and_odd_rules():
    lags = [3, 1, 4, 1, 5, 9, 2]  # trend[0..6]
    # t = 2: split 1 -> trend[0] - (trend[1] + trend[2]) = 3 - 5
    assert _trend(lags, 2) == -2.0
    # t = 4: split 2 -> (3 + 1) - (4 + 1 + 5) = -6
    assert _trend(lags, 4) == -6.0
    # t = 3: Java integer division 2 / 1 = 2 -> 1.5·t0 - 1.5·t2 - 1.5·t3 = 4.5 - 6 - 1.5
    assert _trend(lags, 3) == -3.0
    # t = 5: split 3, 3 / 2 = 1 -> lag 2 cancels: (3 + 1) - (1 + 5 + 9) = -11
    assert _trend(lags, 5) == -11.0
    # t = 3 with a half-integer result: trend = [1, 0, 0, 0] -> 1.5
    assert _trend([1, 0, 0, 0], 3) == 1.5


# --- a hand-worked five-event example ------------------------------------------------------------

def _example(with_sentinels=True):
    rows = [
        ("other", 0.0, 0.0, "2000-01-01 00:00:00"),       # sentinel before
        ("dependent", 0.0, 0.0, "2000-03-01 12:00:00"),
        ("dependent", 0.0, 0.05, "2000-03-03 00:00:00"),
        ("treatment", 0.0, 0.0, "2000-03-04 06:00:00"),
        ("dependent", 0.0, 0.0, "2000-03-04 06:00:00"),   # same time, later in input order
        ("control", 0.0, 0.01, "2000-03-05 07:00:00"),
        ("dependent", 0.0, 0.0, "2000-03-06 05:00:00"),
        ("other", 0.0, 0.0, "2001-01-01 00:00:00"),       # sentinel after
    ]
    if not with_sentinels:
        rows = rows[1:-1]
    df = pd.DataFrame(rows, columns=["type", "lat", "lon", "timestamp"])
    df["cov"] = np.arange(len(df), dtype=float) + 0.5
    return sliding_wake(df, (2, 4, 1), (2, 6, 4), ("type", "treatment"), ("type", "control"),
                        ("type", "dependent"), ["cov"])


def test_hand_worked_counts_and_trend():
    # Treatment wake T (eventID 4, 03-04 06:00, lon 0) and control wake C (eventID 6, 03-05 07:00,
    # lon 0.01 = 1.111 km from T). Distances from T: ev2 0 km, ev3 5.556 km, ev5 0 km, ev7 0 km.
    # T pre: ev3 is 30 h earlier (dd 1), ev2 2 d 18 h (dd 2); ev5 shares T's timestamp but comes
    # later in input order, so it is never counted. T post: C 25 h later (dd 1, 1.111 km),
    # ev7 47 h later (dd 1). C pre: ev5 and T 25 h earlier (dd 1, 1.111 km), ev3 55 h earlier (dd 2,
    # 4.444 km), ev2 3 d 19 h earlier (dd 3, 1.111 km). C post: ev7 is 22 h later (dd 0): never.
    wakes, incomplete = _example()
    cols = ["eventID", "t_window", "spat_window", "treatment", "dependent_pre",
            "dependent_trend", "SO_pre", "MO_pre", "dependent_post", "SO_post", "MO_post", "cov"]
    assert list(wakes.columns) == cols
    expected = [
        # s = 2: T has pre ev2 (lag 2); C has pre ev5 (lag 1), ev2 (lag 3, from t = 3), MO_pre T.
        (4, 2, 2, 1, 1, -1.0, 0, 0, 1, 0, 1, 3.5),   # trend[2]=1: 0 - (0 + 1)
        (6, 2, 2, 0, 1, -1.0, 0, 1, 0, 0, 0, 5.5),   # trend[1]=1: 0 - (1 + 0)
        (4, 3, 2, 1, 1, -1.5, 0, 0, 1, 0, 1, 3.5),   # t = 3: 1.5·0 - 1.5·1 - 1.5·0
        (6, 3, 2, 0, 2, -1.5, 0, 1, 0, 0, 0, 5.5),   # trend[1]=1, trend[3]=1: -1.5·trend[3]
        (4, 4, 2, 1, 1, -1.0, 0, 0, 1, 0, 1, 3.5),   # split 2: (0 + 0) - (1)
        (6, 4, 2, 0, 2, 0.0, 0, 1, 0, 0, 0, 5.5),    # (0 + 1) - (0 + 1)
        # s = 6 adds T's ev3 (lag 1, 5.556 km) and C's ev3 (lag 2, 4.444 km).
        (4, 2, 6, 1, 2, -2.0, 0, 0, 1, 0, 1, 3.5),   # 0 - (1 + 1)
        (6, 2, 6, 0, 2, -2.0, 0, 1, 0, 0, 0, 5.5),   # 0 - (1 + 1)
        (4, 3, 6, 1, 2, -1.5, 0, 0, 1, 0, 1, 3.5),   # -1.5·trend[2]
        (6, 3, 6, 0, 3, -3.0, 0, 1, 0, 0, 0, 5.5),   # -1.5·(trend[2] + trend[3])
        (4, 4, 6, 1, 2, 0.0, 0, 0, 1, 0, 1, 3.5),    # (0 + 1) - (1)
        (6, 4, 6, 0, 3, -1.0, 0, 1, 0, 0, 0, 5.5),   # (0 + 1) - (1 + 1)
    ]
    got = list(wakes.itertuples(index=False, name=None))
    assert got == expected
    assert incomplete == {2: [], 3: [], 4: []}
    assert wakes["eventID"].dtype == np.int64 and wakes["dependent_pre"].dtype == np.int64
    assert wakes["dependent_trend"].dtype == np.float64
    assert wakes["t_window"].dtype == np.float64 and wakes["spat_window"].dtype == np.float64


def test_without_sentinels_every_wake_is_incomplete():
    # Now the first event is 2 d 18 h before T (dd 2) and the last 47 h after T (dd 1); dd must
    # exceed t on both sides, so T fails for every t >= 2, and so does C (dd 3 before, 0 after).
    wakes, incomplete = _example(with_sentinels=False)
    assert len(wakes) == 0
    assert incomplete == {2: [3, 5], 3: [3, 5], 4: [3, 5]}


def test_completeness_needs_more_than_t_units_on_both_sides():
    # Events on days 0, 10, 14 (wake at 10), plus a dependent 26 h after the wake.
    time_ms = np.array([0, 10 * DAY, 11 * DAY + 2 * HOUR, 14 * DAY])
    zeros = np.zeros(4)
    dep = np.array([False, False, True, False])
    tr = np.array([False, True, False, False])
    res = count_wakes(time_ms, zeros, zeros, dep, tr, np.zeros(4, bool), np.array([1]),
                      np.array([True]), np.array([2, 3, 4, 5]), np.array([1.0]), DAY)
    # After: 4 days -> complete only for t = 2, 3; before: 10 days -> always.
    assert res.complete.tolist() == [[True, True, False, False]]
    assert res.dependent_post[0, 0].tolist() == [1, 1, 1, 1]  # dd = 1 (26 h)
    # Same check in hours: 96 h after, 240 h before; t = 95 complete, t = 96 not.
    res = count_wakes(time_ms, zeros, zeros, dep, tr, np.zeros(4, bool), np.array([1]),
                      np.array([True]), np.array([95, 96]), np.array([1.0]), HOUR)
    assert res.complete.tolist() == [[True, False]]


def test_event_both_treatment_and_control_gives_two_wake_rows_treatment_first():
    df = pd.DataFrame({
        "kind": ["x", "dep", "both", "dep", "x"],
        "role": ["c", "", "c", "", ""],  # event 1 is a second control (incomplete, so no wake row):
        # identical treatment and control selections are refused
        "lat": [0.0] * 5, "lon": [0.0] * 5,
        "timestamp": ["2000-01-01", "2000-02-09", "2000-02-10", "2000-02-11", "2000-12-31"],
        "m": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    wakes, _ = sliding_wake(df, (2, 2, 0), (1, 1, 0), ("kind", "both"), ("role", "c"),
                            ("kind", "dep"), ["m"])
    assert wakes[["eventID", "treatment", "dependent_pre", "dependent_post", "SO_pre",
                  "MO_pre"]].values.tolist() == [[3, 1, 1, 1, 0, 0], [3, 0, 1, 1, 0, 0]]


# --- property test against a literal transcription of the Java scan ------------------------------

def naive_counts(time_ms, lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr, t_windows,
                 s_windows, unit_ms):
    """R mwa's loops as written: s, then t, then wake; backward/forward scans with stop rules."""
    n = len(time_ms)
    kk, ee = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dist = distance_km(lat[kk.ravel()], lon[kk.ravel()], lat[ee.ravel()], lon[ee.ravel()])
    dist = dist.reshape(n, n)  # dist[k, e]: k the other event, e the wake
    shape = (len(wake_index), len(s_windows), len(t_windows))
    out = {name: np.zeros(shape) for name in
           ("dep_pre", "trend", "so_pre", "mo_pre", "dep_post", "so_post", "mo_post")}
    complete = np.ones((len(wake_index), len(t_windows)), dtype=bool)
    for si, s in enumerate(s_windows):
        for ti, t in enumerate(t_windows):
            t = int(t)
            for w, (e, wt) in enumerate(zip(wake_index, wake_tr)):
                c = dict.fromkeys(("dep_pre", "so_pre", "mo_pre", "dep_post", "so_post",
                                   "mo_post"), 0)
                trend = [0] * (t + 1)
                removed = False
                k = e - 1
                while True:
                    if k < 0:
                        removed = True
                        break
                    dd = (time_ms[e] - time_ms[k]) // unit_ms
                    if 0 <= dd <= t and dist[k, e] <= s:
                        if is_dep[k]:
                            c["dep_pre"] += 1
                            trend[dd] += 1
                        same, other = (is_tr[k], is_co[k]) if wt else (is_co[k], is_tr[k])
                        c["so_pre"] += int(same)
                        c["mo_pre"] += int(other)
                    if dd > t:
                        break
                    k -= 1
                if not removed:
                    k = e + 1
                    while True:
                        if k > n - 1:
                            removed = True
                            break
                        dd = (time_ms[k] - time_ms[e]) // unit_ms
                        if 1 <= dd <= t and dist[k, e] <= s:
                            if is_dep[k]:
                                c["dep_post"] += 1
                            same, other = (is_tr[k], is_co[k]) if wt else (is_co[k], is_tr[k])
                            c["so_post"] += int(same)
                            c["mo_post"] += int(other)
                        if dd > t:
                            break
                        k += 1
                if removed:
                    complete[w, ti] = False
                    continue
                if t % 2 == 0:
                    split = t // 2
                    tr = sum(trend[:split]) - sum(trend[split:])
                else:
                    split = (t + 1) // 2
                    f = split // (split - 1)
                    first = sum(trend[:split]) - f * sum(trend[split:])
                    second = f * sum(trend[:split - 1]) - sum(trend[split - 1:])
                    tr = 0.5 * (first + second)
                for name in c:
                    out[name][w, si, ti] = c[name]
                out["trend"][w, si, ti] = tr
    return out, complete


# Hour offsets that put events exactly on, just inside and just outside day boundaries.
_HOURS = st.one_of(st.integers(0, 24 * 9), st.sampled_from([0, 23, 24, 25, 47, 48, 49, 72, 96]))
_PLACES = [(0.0, 0.0), (0.0, 0.0899), (0.0, 0.05), (0.03, 0.0), (0.0, -0.02), (0.05, 0.05)]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_counter_equals_literal_scan(data):
    n = data.draw(st.integers(2, 18), label="n")
    hours = sorted(data.draw(st.lists(_HOURS, min_size=n, max_size=n), label="hours"))
    unit = data.draw(st.sampled_from(["days", "hours"]), label="unit")
    unit_ms = UNIT_MS[unit]
    time_ms = np.array(hours, dtype=np.int64) * HOUR
    places = data.draw(st.lists(st.sampled_from(_PLACES), min_size=n, max_size=n), label="xy")
    lat = np.array([p[0] for p in places])
    lon = np.array([p[1] for p in places])
    flags = data.draw(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()),
                               min_size=n, max_size=n), label="flags")
    is_dep = np.array([f[0] for f in flags])
    is_tr = np.array([f[1] for f in flags])
    is_co = np.array([f[2] for f in flags])
    tr_idx, co_idx = np.flatnonzero(is_tr), np.flatnonzero(is_co)
    wake_index = np.concatenate([tr_idx, co_idx])
    wake_tr = np.concatenate([np.ones(tr_idx.size, bool), np.zeros(co_idx.size, bool)])
    order = np.lexsort((~wake_tr, wake_index))
    wake_index, wake_tr = wake_index[order], wake_tr[order]
    if unit == "days":
        t_pool = [2, 3, 4, 5]
    else:
        t_pool = [2, 3, 23, 24, 25, 47, 48]
    t_windows = np.array(sorted(data.draw(
        st.sets(st.sampled_from(t_pool), min_size=1, max_size=4), label="t")))
    # Spatial windows drawn from the distances that occur, so pairs sit exactly on the edge.
    pair_d = sorted(set(distance_km(lat[:, None], lon[:, None], lat[None, :],
                                    lon[None, :]).ravel().tolist()) | {1.0, 20.0})
    s_windows = np.array(sorted(data.draw(
        st.sets(st.sampled_from(pair_d), min_size=1, max_size=4), label="s")))
    # Both counting paths: pair by pair (the default for data this small) and, with the
    # threshold at zero, every location counted from time ranks.
    heavy_factor = data.draw(st.sampled_from([counting._HEAVY_PAIRS_PER_THRESHOLD, 0.0]),
                             label="heavy_factor")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(counting, "_HEAVY_PAIRS_PER_THRESHOLD", heavy_factor)
        res = count_wakes(time_ms, lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr,
                          t_windows, s_windows, unit_ms)
    ref, complete = naive_counts(time_ms, lat, lon, is_dep, is_tr, is_co, wake_index, wake_tr,
                                 t_windows, s_windows, unit_ms)
    np.testing.assert_array_equal(res.complete, complete)
    mask = np.broadcast_to(complete[:, None, :], res.dependent_pre.shape)
    for fast, slow in ((res.dependent_pre, "dep_pre"), (res.dependent_trend, "trend"),
                       (res.so_pre, "so_pre"), (res.mo_pre, "mo_pre"),
                       (res.dependent_post, "dep_post"), (res.so_post, "so_post"),
                       (res.mo_post, "mo_post")):
        np.testing.assert_array_equal(fast[mask], ref[slow][mask], err_msg=slow)


def test_concentrated_data_at_identical_coordinates():
    # 3,000 events at one point and the same day: every pre/post pair is a candidate.
    rng = np.random.default_rng(3)
    n = 3000
    time_ms = np.sort(rng.integers(0, 40, n)) * DAY
    zeros = np.zeros(n)
    is_tr = np.zeros(n, bool)
    is_tr[[1000, 1500, 2000]] = True
    is_dep = ~is_tr
    res = count_wakes(time_ms, zeros, zeros, is_dep, is_tr, np.zeros(n, bool),
                      np.array([1000, 1500, 2000]), np.ones(3, bool), np.array([2, 5]),
                      np.array([0.0, 1.0]), DAY)
    for w, e in enumerate([1000, 1500, 2000]):
        dd_pre = (time_ms[e] - time_ms[:e]) // DAY
        dd_post = (time_ms[e + 1:] - time_ms[e]) // DAY
        for j, t in enumerate([2, 5]):
            exp_pre = int(((dd_pre <= t) & is_dep[:e]).sum())
            exp_post = int(((dd_post >= 1) & (dd_post <= t) & is_dep[e + 1:]).sum())
            assert res.dependent_pre[w, :, j].tolist() == [exp_pre, exp_pre]
            assert res.dependent_post[w, :, j].tolist() == [exp_post, exp_post]
            exp_so = int(((dd_pre <= t) & is_tr[:e]).sum())
            assert res.so_pre[w, 0, j] == exp_so


def test_minutes_and_seconds_units_floor_elapsed_time():
    # Wake at 00:10:00; dependents at 00:08:30 (90 s before) and 00:12:59 (179 s after);
    # sentinels an hour away on both sides.
    df = pd.DataFrame({
        "type": ["other", "dependent", "treatment", "dependent", "control", "other"],
        "lat": [0.0] * 6, "lon": [0.0] * 6,
        "timestamp": ["2000-01-01 00:00:00", "2000-01-01 01:08:30", "2000-01-01 01:10:00",
                      "2000-01-01 01:12:59", "2000-01-01 01:20:00", "2000-01-01 03:00:00"],
        "m": [0.0] * 6,
    })
    args = (("type", "treatment"), ("type", "control"), ("type", "dependent"), ["m"])
    mins, _ = sliding_wake(df, (2, 3, 1), (1, 1, 0), *args, t_unit="mins")
    tr = mins[mins["treatment"] == 1]
    # mins: pre lag floor(1.5) = 1, post lag floor(2.98) = 2 -> both inside t = 2 and t = 3.
    assert tr[["t_window", "dependent_pre", "dependent_post"]].values.tolist() == [
        [2.0, 1, 1], [3.0, 1, 1]]
    secs, _ = sliding_wake(df, (90, 179, 89), (1, 1, 0), *args, t_unit="secs")
    tr = secs[secs["treatment"] == 1]
    # secs: 90 s before is inside t = 90 (lags 0..90); 179 s after needs t >= 179.
    assert tr[["t_window", "dependent_pre", "dependent_post"]].values.tolist() == [
        [90.0, 1, 0], [179.0, 1, 1]]


def test_piled_and_scattered_events_count_the_same_by_ranks_and_by_pairs(monkeypatch):
    # 2,000 events on one point (counted per location from time ranks) mixed with 400 scattered
    # ones (counted pair by pair); the result must equal the pair-by-pair count of everything.
    rng = np.random.default_rng(5)
    n_pile, n_spread = 2000, 400
    lat = np.concatenate([np.full(n_pile, 0.01), rng.uniform(-0.05, 0.05, n_spread)])
    lon = np.concatenate([np.full(n_pile, 0.02), rng.uniform(-0.05, 0.05, n_spread)])
    hours = rng.integers(0, 24 * 60, n_pile + n_spread)
    order = np.argsort(hours, kind="stable")
    lat, lon, time_ms = lat[order], lon[order], np.sort(hours).astype(np.int64) * HOUR
    kind = rng.integers(0, 4, lat.size)  # 0 dependent, 1 treatment, 2 control, 3 dep + treatment
    is_dep, is_tr, is_co = (kind == 0) | (kind == 3), (kind == 1) | (kind == 3), kind == 2
    tr_idx, co_idx = np.flatnonzero(is_tr), np.flatnonzero(is_co)
    wake_index = np.concatenate([tr_idx, co_idx])
    wake_tr = np.concatenate([np.ones(tr_idx.size, bool), np.zeros(co_idx.size, bool)])
    by_event = np.lexsort((~wake_tr, wake_index))
    args = (time_ms, lat, lon, is_dep, is_tr, is_co, wake_index[by_event], wake_tr[by_event],
            np.array([2, 3, 7]), np.array([0.0, 1.0, 2.5, 12.0]), DAY)

    calls = []
    real = counting._WakeCounter._count_locations
    monkeypatch.setattr(counting._WakeCounter, "_count_locations",
                        lambda self, heavy, *rest: calls.append(heavy.size) or real(self, heavy, *rest))
    by_ranks = count_wakes(*args)
    assert calls == [n_pile]  # exactly the pile went the rank way
    monkeypatch.setattr(counting, "_HEAVY_PAIRS_PER_THRESHOLD", np.inf)
    by_pairs = count_wakes(*args)
    assert calls == [n_pile]
    for name in ("dependent_pre", "dependent_trend", "so_pre", "mo_pre", "dependent_post",
                 "so_post", "mo_post", "complete"):
        np.testing.assert_array_equal(getattr(by_ranks, name), getattr(by_pairs, name), err_msg=name)
    assert by_pairs.dependent_pre.sum() > 10_000  # the pile really is dense in the windows
    # Small memory budgets cut both paths into many chunks; the counts stay the same.
    monkeypatch.setattr(counting, "_HEAVY_PAIRS_PER_THRESHOLD", 8.0)
    monkeypatch.setattr(counting, "_PAIR_BUDGET", 200)
    chunked = count_wakes(*args)
    assert calls == [n_pile, n_pile]
    for name in ("dependent_pre", "dependent_trend", "so_post", "mo_pre"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(by_pairs, name), err_msg=name)
