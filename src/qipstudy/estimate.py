"""The study's Matched Wake Analysis call: QIPs vs other aid, one outcome, the whole window grid."""
from __future__ import annotations

import logging

import pandas as pd

from matchedwake import MatchedWakeResult, matched_wake

log = logging.getLogger(__name__)


def outcome_column(outcome: str) -> str:
    """The 0/1 column of the events table that marks events of `outcome`."""
    return f"outcome_{outcome}"


def run_mwa(covariates: pd.DataFrame, outcome: str, settings: dict, *, progress: bool = False) -> MatchedWakeResult:
    """Run `matched_wake` on the covariates table with the config's `mwa` settings.

    All events stay in one table (as in the paper): outcome events of other types still take
    part in the sort order and the wake-completeness rule.
    """
    dependent_column = outcome_column(outcome)
    if dependent_column not in covariates.columns:
        raise ValueError(f"covariates table has no column {dependent_column!r} for outcome {outcome!r}")
    controls = list(settings.get("estimation_controls", []))
    treatment_column, control_column = settings["treatment"][0], settings["control"][0]
    cluster_column = settings.get("cluster_column")
    columns = list(dict.fromkeys(
        ["timestamp", "lat", "lon", treatment_column, control_column, dependent_column]
        + list(settings["match_columns"]) + controls + ([cluster_column] if cluster_column else [])
    ))
    missing = [c for c in columns if c not in covariates.columns]
    if missing:
        raise ValueError(f"covariates table lacks the columns {missing} needed by the MWA settings")
    data = covariates[columns].reset_index(drop=True)
    n_outcome = int((data[dependent_column] == 1).sum())
    log.info("MWA for %s: %d events, %d outcome events", outcome, len(data), n_outcome)
    if n_outcome == 0:
        raise ValueError(f"no events of outcome {outcome!r} in the study area and period")
    return matched_wake(
        data,
        tuple(settings["t_window"]),
        tuple(settings["spat_window"]),
        tuple(settings["treatment"]),
        tuple(settings["control"]),
        (dependent_column, 1),
        list(settings["match_columns"]),
        t_unit=settings["t_unit"],
        estimation=settings["estimation"],
        formula=settings["formula"],
        weighted=settings["weighted"],
        estimation_controls=tuple(controls),
        tcm=settings["tcm"],
        delete_sutva=settings["delete_sutva"],
        alpha1=settings["alpha1"],
        alpha2=settings["alpha2"],
        progress=progress,
        vcov=settings.get("vcov", "classical"),
        cluster_column=cluster_column,
        calendar_match=settings.get("calendar_match"),
    )
