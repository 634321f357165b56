"""Same-day events: the events table's row order does not depend on the provider's name."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from matchedwake import sliding_wake
from qipstudy.event_order import is_sorted, order_key, sort_events


def events(outcome_source: str) -> pd.DataFrame:
    """A QIP and an aid project starting on 2019-05-10, an outcome event 1 km away on the same
    day, and far-away outcome events that make the wakes complete."""
    rows = [
        ("Q1", "qip", "2019-05-10", 15.0, 0.0, 0),
        ("A1", "iati", "2019-05-10", 15.0, 0.5, 0),
        ("E1", outcome_source, "2019-05-10", 15.009, 0.0, 1),  # 1 km north of the QIP
        ("E0", outcome_source, "2019-01-01", 10.0, 5.0, 0),
        ("E9", outcome_source, "2019-12-31", 10.0, 5.0, 0),
    ]
    df = pd.DataFrame(rows, columns=["event_id", "source", "date", "lat", "lon", "outcome"])
    df["date"] = pd.to_datetime(df["date"])
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)  # any input order


def test_same_day_outcome_events_come_before_projects_whatever_the_provider():
    a = sort_events(events("acled"))
    u = sort_events(events("ucdp"))
    assert a["event_id"].tolist() == u["event_id"].tolist()
    same_day = a[a["date"] == "2019-05-10"]["event_id"].tolist()
    assert same_day[0] == "E1"
    # projects in the order of the first 8 bytes of SHA-256 of their id
    h = {i: int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big") for i in ("Q1", "A1")}
    assert same_day[1:] == sorted(("Q1", "A1"), key=h.get)
    assert is_sorted(a) and not is_sorted(a.iloc[::-1].reset_index(drop=True))
    key = order_key(a)
    assert key["project"].tolist() == [int(s in ("qip", "iati")) for s in a["source"]]
    with pytest.raises(ValueError, match="lacks"):
        order_key(a.drop(columns="source"))


@pytest.mark.parametrize("source", ["acled", "ucdp"])
def test_a_start_day_event_counts_in_the_pre_window_for_every_provider(source):
    ev = sort_events(events(source))
    data = pd.DataFrame({
        "timestamp": ev["date"].dt.strftime("%Y-%m-%d"),
        "lat": ev["lat"], "lon": ev["lon"],
        "type": np.where(ev["source"].isin(["qip", "iati"]), ev["source"], "event"),
        "outcome": ev["outcome"], "x": 1.0,
    })
    wakes, _ = sliding_wake(data, (5, 5, 0), (2, 2, 0), ("type", "qip"), ("type", "iati"),
                            ("outcome", 1), ["x"])
    qip = wakes[wakes["treatment"] == 1].iloc[0]
    # the same-day event lies 1 km away: day 0 of the pre window, never in the post window
    assert qip["dependent_pre"] == 1 and qip["dependent_post"] == 0


def test_old_rule_made_ucdp_start_day_events_vanish():
    """The rule this replaces, for the record: sorted by (date, source, id), a UCDP event of the
    QIP's start day comes after the QIP ('ucdp' > 'qip') and counts in no window."""
    ev = events("ucdp").sort_values(["date", "source", "event_id"], kind="mergesort")
    data = pd.DataFrame({"timestamp": ev["date"].dt.strftime("%Y-%m-%d"), "lat": ev["lat"],
                         "lon": ev["lon"], "type": np.where(ev["source"].isin(["qip", "iati"]),
                                                            ev["source"], "event"),
                         "outcome": ev["outcome"], "x": 1.0})
    wakes, _ = sliding_wake(data, (5, 5, 0), (2, 2, 0), ("type", "qip"), ("type", "iati"),
                            ("outcome", 1), ["x"])
    qip = wakes[wakes["treatment"] == 1].iloc[0]
    assert qip["dependent_pre"] == 0 and qip["dependent_post"] == 0
