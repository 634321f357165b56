"""The result object of :func:`matchedwake.matched_wake` (R's `matchedwake` list, §3 of REFERENCE.md)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class MatchedWakeResult:
    """Tables with R's column names and row order, plus the run's parameters.

    `incomplete` maps each temporal window t to the sorted eventIDs of wakes dropped as incomplete
    at t (R writes them to `matchedwake_log.txt`; we keep them on the object).
    """

    estimates: pd.DataFrame
    matching: pd.DataFrame
    sutva: pd.DataFrame
    wakes: pd.DataFrame
    parameters: dict
    incomplete: dict[int, list[int]] = field(default_factory=dict)
    matched: pd.DataFrame | None = None
    bins: pd.DataFrame | None = None
