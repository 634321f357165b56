"""The public entry point :func:`matched_wake` (R's ``matchedwake()``, REFERENCE §1.1 and §7)."""
from __future__ import annotations

import pandas as pd

from .result import MatchedWakeResult
from .validation import validate_analysis_options
from .wakes import drop_sutva_violations, sliding_wake

__all__ = ["matched_wake"]


def matched_wake(
    data: pd.DataFrame,
    t_window,
    spat_window,
    treatment,
    control,
    dependent,
    match_columns,
    t_unit: str = "days",
    estimation: str = "lm",
    formula: str = "dependent_post ~ dependent_pre + treatment",
    weighted: bool = False,
    estimation_controls=(),
    tcm: bool = False,
    delete_sutva: bool = False,
    alpha1: float = 0.05,
    alpha2: float = 0.1,
    match_default: bool = True,
    match_details: bool = False,
    drop_invalid: bool = False,
    progress: bool = False,
    vcov: str = "classical",
    cluster_column: str | None = None,
    calendar_match: str | None = None,
) -> MatchedWakeResult:
    """Run a Matched Wake Analysis over a grid of space-time windows.

    Counts events in the wake of each treatment and control event (``sliding_wake``), optionally
    drops wakes with other wake events in their pre window (``delete_sutva``), then matches and
    estimates per window. Tables follow R mwa 0.5.0 (column names and row order); see
    REFERENCE.md §7 for the arguments. ``drop_invalid`` drops rows with missing or out-of-range
    coordinates (with a warning) instead of raising; ``progress`` reports counting progress on
    stderr. Raises ``ValueError`` for invalid input or when no wake is complete in any window.

    Extensions beyond R (defaults give R's output): ``estimation="poisson"`` (Poisson GLM with
    identity link, z p-values); ``vcov="HC1"`` (heteroskedasticity-robust) or ``"cluster"``
    (CR1 cluster-robust with t(G−1) p-values, clusters = the values of ``cluster_column`` in
    ``data``, carried into the wakes table but never matched on or used as a regressor) for
    ``lm``/``att``/``poisson``. ``calendar_match`` ("year", "half", "quarter", "month") adds
    the wakes' calendar period as an exactly matched factor (:mod:`matchedwake.calendar_time`;
    the recorded ``match_columns`` then include ``calendar_bin``).
    """
    validate_analysis_options(estimation, formula, alpha1, alpha2, vcov, cluster_column)
    if calendar_match is not None:
        from .calendar_time import CALENDAR_COLUMN, add_calendar_column

        data = add_calendar_column(data, calendar_match)
        match_columns = list(dict.fromkeys([*match_columns, CALENDAR_COLUMN]))
    wakes, incomplete = sliding_wake(
        data, t_window, spat_window, treatment, control, dependent, match_columns,
        t_unit=t_unit, estimation_controls=estimation_controls, drop_invalid=drop_invalid,
        progress=progress, cluster_column=cluster_column)
    match_columns, estimation_controls = list(match_columns), list(estimation_controls or ())
    if delete_sutva:
        wakes = drop_sutva_violations(wakes)
    if len(wakes) == 0:
        raise ValueError(
            "no complete wake in any window: every treatment/control event lacks an event more "
            "than t units before or after it (add earlier/later events or reduce t_window)"
            + (", or delete_sutva removed all wakes" if delete_sutva else ""))

    # Imported on use so that counting (sliding_wake) does not load the statistics stack.
    from .windows import analyse_windows

    analysis = analyse_windows(
        wakes, match_columns=match_columns, estimation=estimation, formula=formula,
        weighted=weighted, estimation_controls=estimation_controls, tcm=tcm,
        match_default=match_default, match_details=match_details, vcov=vcov,
        cluster_column=cluster_column)
    parameters = {
        "t_window": tuple(t_window), "spat_window": tuple(spat_window),
        "treatment": tuple(treatment), "control": tuple(control), "dependent": tuple(dependent),
        "match_columns": match_columns, "t_unit": t_unit, "estimation": estimation,
        "formula": formula, "weighted": weighted,
        "estimation_controls": estimation_controls, "tcm": tcm,
        "delete_sutva": delete_sutva, "alpha1": alpha1, "alpha2": alpha2,
        "match_default": match_default, "match_details": match_details,
        "drop_invalid": drop_invalid, "progress": progress,
        "vcov": vcov, "cluster_column": cluster_column, "calendar_match": calendar_match,
    }
    return MatchedWakeResult(
        estimates=analysis.estimates, matching=analysis.matching, sutva=analysis.sutva,
        wakes=wakes, parameters=parameters, incomplete=incomplete,
        matched=analysis.matched, bins=analysis.bins)
