"""The row order of the events table, which decides how same-day events count.

The engine sorts events stably by timestamp, and the study's timestamps are whole days. R mwa
counts an event of the project's own day in the *pre* window when it comes earlier in that
order and never when it comes later (docs/mwa_reference.md Q1). Sorting by (date, source, event_id), as the
table once was, made that depend on the providers' names: ACLED ("acled" < "qip") events of a
QIP's start day counted as pre, UCDP ("ucdp" > "qip") events of that day never counted, and an
aid project ("iati" < "qip") always preceded a QIP of the same day in the TCM counts.

The rule now (:func:`sort_events`), for rows of the same date:

1. outcome-provider events (every source that is not a project source) come first, so an event
   on a project's start day always counts in its pre window (day 0) — whatever the provider;
2. projects (QIPs and other aid alike) follow, in the order of a hash of their ``event_id``
   (first 8 bytes of SHA-256), so neither group systematically precedes the other in the
   same-type/other-type (TCM) counts;
3. outcome events among themselves keep the same hash order (their mutual order changes no
   count).

The order is deterministic and depends on the event ids only, never on the source's name.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["PROJECT_SOURCES", "order_key", "sort_events", "is_sorted", "ORDER_RULE"]

#: sources whose rows are projects (wakes); every other source supplies outcome events
PROJECT_SOURCES = ("qip", "iati")
ORDER_RULE = ("date, then outcome events before projects, then a SHA-256 hash of event_id "
              "(docs/inference.md, 'Same-day events')")


def _id_hash(ids: pd.Series) -> np.ndarray:
    """The first 8 bytes of SHA-256 of every id's text, as big-endian unsigned integers (the digests
    joined and read as one buffer: a million ids in about a second)."""
    sha256 = hashlib.sha256
    digests = b"".join([sha256(str(v).encode("utf-8")).digest()[:8] for v in ids.tolist()])
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def order_key(events: pd.DataFrame) -> pd.DataFrame:
    """The sort key of every row: date, project (0 = outcome event, 1 = project), id hash."""
    missing = [c for c in ("date", "source", "event_id") if c not in events.columns]
    if missing:
        raise ValueError(f"events table lacks {missing}, needed for its row order")
    return pd.DataFrame({
        "date": events["date"].to_numpy(),
        "project": events["source"].isin(PROJECT_SOURCES).to_numpy().astype(np.int8),
        "id_hash": _id_hash(events["event_id"]),
        "event_id": events["event_id"].astype(str).to_numpy(),  # settles a hash collision
    }, index=events.index)


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events table in the study's row order (module docstring), index reset."""
    key = order_key(events)
    order = np.lexsort((key["event_id"].to_numpy(), key["id_hash"].to_numpy(),
                        key["project"].to_numpy(), key["date"].to_numpy()))
    return events.iloc[order].reset_index(drop=True)


def is_sorted(events: pd.DataFrame) -> bool:
    """Whether the rows already follow :func:`sort_events`'s order."""
    key = order_key(events).reset_index(drop=True)
    order = np.lexsort((key["event_id"].to_numpy(), key["id_hash"].to_numpy(),
                        key["project"].to_numpy(), key["date"].to_numpy()))
    return bool(np.array_equal(order, np.arange(len(key))))
