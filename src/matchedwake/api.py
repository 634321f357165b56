"""The public entry point :func:`matched_wake` (R's ``matchedwake()``, docs/mwa_reference.md §1.1 and §7)."""
from __future__ import annotations

import warnings

import pandas as pd

from .result import MatchedWakeResult
from .spec import UNSET, MWASpec, resolve_spec
from .wakes import build_wakes, drop_sutva_violations

__all__ = ["matched_wake"]

_SHOW_WINDOWS = 8
#: Likely cause of a grid whose windows are all NA for one reason (the estimator's reason strings).
_ALL_NA_HINTS = {
    "no matched strata": "no CEM stratum holds both treatment and control wakes; match on fewer or "
                         "coarser covariates",
    "coefficients aliased": "the model is not identified in any window, typically because the outcome "
                            "count before the wakes (dependent_pre) is constant, e.g. all 0: check the "
                            "dependent events' dates and places against the wakes'",
    "no residual degrees of freedom": "each window has too few matched wakes for the model",
    "fewer than two clusters": "the matched wakes of every window lie in a single cluster; use coarser "
                               "clusters or vcov HC1",
}


def matched_wake(
    data: pd.DataFrame,
    t_window=UNSET,
    spat_window=UNSET,
    treatment=UNSET,
    control=UNSET,
    dependent=UNSET,
    match_columns=UNSET,
    t_unit=UNSET,
    estimation=UNSET,
    formula=UNSET,
    weighted=UNSET,
    estimation_controls=UNSET,
    tcm=UNSET,
    delete_sutva=UNSET,
    alpha1=UNSET,
    alpha2=UNSET,
    match_default=UNSET,
    match_details=UNSET,
    drop_invalid=UNSET,
    progress: bool = False,
    vcov=UNSET,
    cluster_column=UNSET,
    max_windows=UNSET,
    calendar_match=UNSET,
    *,
    spec: MWASpec | None = None,
) -> MatchedWakeResult:
    """Run a Matched Wake Analysis over a grid of space-time windows.

    The options are those of :class:`matchedwake.MWASpec` (its docs give each one and its
    default, which is R's): pass them as arguments, or pass ``spec=`` (options given as well
    override the spec's). Counts events in the wake of each treatment and control event, optionally
    drops wakes with other wake events in their pre window (``delete_sutva``), then matches and
    estimates per window. Tables follow R mwa 0.5.0 (column names and row order); ``estimates``
    has one more, trailing column ``na_reason`` (None, or why the window is NA), and a
    :class:`~matchedwake.windows.WindowWarning` lists the NA windows. ``progress`` reports counting
    progress on stderr (it is not an analysis option). ``parameters`` is ``spec.to_dict()`` plus
    the run's facts under ``"run"``. Raises ``ValueError`` for invalid options or data, or when no
    wake is complete in any window.

    Extensions beyond R (defaults give R's output): ``estimation="poisson"``; ``vcov="HC1"`` or
    ``"cluster"`` (CR1, clusters = the values of ``cluster_column``) for ``lm``/``att``;
    ``drop_invalid`` (drop bad rows with a warning instead of raising); ``max_windows`` (a grid
    size guard, checked before counting); ``calendar_match`` ("year", "half", "quarter", "month")
    adds the wakes' calendar period as an exactly matched factor (:mod:`matchedwake.calendar_time`;
    the recorded ``match_columns`` then include ``calendar_bin``).
    """
    spec = resolve_spec(
        spec, t_window=t_window, spat_window=spat_window, treatment=treatment, control=control,
        dependent=dependent, match_columns=match_columns, t_unit=t_unit, estimation=estimation,
        formula=formula, weighted=weighted, estimation_controls=estimation_controls, tcm=tcm,
        delete_sutva=delete_sutva, alpha1=alpha1, alpha2=alpha2, match_default=match_default,
        match_details=match_details, drop_invalid=drop_invalid, vcov=vcov,
        cluster_column=cluster_column, max_windows=max_windows, calendar_match=calendar_match)
    if spec.calendar_match is not None:
        from .calendar_time import CALENDAR_COLUMN, add_calendar_column

        data = add_calendar_column(data, spec.calendar_match)
        spec = spec.replace(match_columns=tuple(dict.fromkeys([*spec.match_columns, CALENDAR_COLUMN])))
    wakes, incomplete, checked = build_wakes(data, spec, progress=progress)
    if spec.delete_sutva:
        wakes = drop_sutva_violations(wakes)
    if len(wakes) == 0:
        raise ValueError(
            "no complete wake in any window: every treatment/control event lacks an event more "
            "than t units before or after it (add earlier/later events or reduce t_window)"
            + (", or delete_sutva removed all wakes" if spec.delete_sutva else ""))

    # Imported on use so that counting (sliding_wake) does not load the statistics stack.
    from .estimation import numerics_provenance
    from .windows import analyse_windows

    analysis = analyse_windows(
        wakes, match_columns=list(spec.match_columns), estimation=spec.estimation,
        formula=spec.formula, weighted=spec.weighted,
        estimation_controls=list(spec.estimation_controls), tcm=spec.tcm,
        match_default=spec.match_default, match_details=spec.match_details, vcov=spec.vcov,
        cluster_column=spec.cluster_column)
    _warn_na_windows(analysis.estimates)
    reasons = [r for r in analysis.estimates["na_reason"].tolist() if r is not None]
    parameters = spec.to_dict()
    parameters["run"] = {
        "n_events": len(data),
        "n_dropped_coordinates": checked.n_dropped_coordinates,
        "n_dropped_covariates": checked.n_dropped_covariates,
        "n_treatment_events": int(checked.is_treatment.sum()),
        "n_control_events": int(checked.is_control.sum()),
        "n_windows": len(analysis.estimates),
        "n_windows_na": len(reasons),
        "na_reasons": {str(k): reasons.count(k) for k in dict.fromkeys(reasons)},
        "numerics": numerics_provenance(),  # what the estimates' last bits depend on
    }
    return MatchedWakeResult(
        estimates=analysis.estimates, matching=analysis.matching, sutva=analysis.sutva,
        wakes=wakes, parameters=parameters, incomplete=incomplete,
        matched=analysis.matched, bins=analysis.bins)


def _warn_na_windows(estimates: pd.DataFrame) -> None:
    """One warning listing the NA windows by reason (and the likely cause when all are NA)."""
    from .windows import WindowWarning

    reasons = estimates["na_reason"].tolist()
    na = [i for i, r in enumerate(reasons) if r is not None and r == r]  # None and NaN are not NA reasons
    if not na:
        return
    n, n_na = len(estimates), len(na)
    t_all, s_all = estimates["t_window"].tolist(), estimates["spat_window"].tolist()
    by_reason: dict = {}
    for i in na:
        by_reason.setdefault(reasons[i], []).append(i)
    parts = []
    for reason, rows in by_reason.items():
        shown = ", ".join(f"({t_all[i]:g}, {s_all[i]:g})" for i in rows[:_SHOW_WINDOWS])
        more = f" and {len(rows) - _SHOW_WINDOWS} more" if len(rows) > _SHOW_WINDOWS else ""
        parts.append(f"{reason}: {len(rows)} window(s) (t, s) = {shown}{more}")
    if n_na == n:
        hints = [_ALL_NA_HINTS[r] for r in by_reason if r in _ALL_NA_HINTS]
        message = (f"all {n} windows have NA estimates, so the analysis estimates nothing; "
                   + "; ".join(parts) + (". Likely cause: " + "; ".join(hints) if hints else ""))
    else:
        message = f"{n_na} of {n} windows have NA estimates (column na_reason); " + "; ".join(parts)
    warnings.warn(message, WindowWarning, stacklevel=3)
