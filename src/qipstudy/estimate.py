"""The study's Matched Wake Analysis call: QIPs vs other aid, one outcome, the whole window grid."""
from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from matchedwake import MatchedWakeResult, MWASpec, matched_wake

log = logging.getLogger(__name__)


def outcome_column(outcome: str) -> str:
    """The 0/1 column of the events table that marks events of `outcome`."""
    return f"outcome_{outcome}"


def study_spec(settings: Mapping, outcome: str) -> MWASpec:
    """The engine's specification for one outcome: the config's `mwa` block (of the main run or a
    variant) with the outcome's 0/1 column as the dependent. The block reaches the engine whole
    (no option is copied by hand), so every key of it is honoured or refused."""
    return MWASpec.from_mapping({**settings, "dependent": (outcome_column(outcome), 1)}, where="mwa")


def run_mwa(covariates: pd.DataFrame, outcome: str, settings: Mapping, *,
            progress: bool = False) -> MatchedWakeResult:
    """Run `matched_wake` on the covariates table with the config's `mwa` settings.

    All events stay in one table (as in the paper): outcome events of other types still take
    part in the sort order and the wake-completeness rule. The result's parameters record, under
    `run.inputs`, the settings of the steps that made the covariates table (outcome provider, placebo,
    covariate options, raster files), so parameters.json says what the engine was run on.
    """
    spec = study_spec(settings, outcome)
    dependent_column = spec.dependent[0]
    if dependent_column not in covariates.columns:
        raise ValueError(f"covariates table has no column {dependent_column!r} for outcome {outcome!r}")
    columns = list(dict.fromkeys(
        ["timestamp", "lat", "lon", spec.treatment[0], spec.control[0], dependent_column,
         *spec.match_columns, *spec.estimation_controls, *([spec.cluster_column] if spec.cluster_column else [])]
    ))
    missing = [c for c in columns if c not in covariates.columns]
    if missing:
        raise ValueError(f"covariates table lacks the columns {missing} needed by the MWA settings "
                         f"(present: {', '.join(map(str, covariates.columns))})")
    data = covariates[columns].reset_index(drop=True)
    n_outcome = int((data[dependent_column] == 1).sum())
    log.info("MWA for %s: %d events, %d outcome events", outcome, len(data), n_outcome)
    if n_outcome == 0:
        raise ValueError(f"no events of outcome {outcome!r} in the study area and period")
    result = matched_wake(data, spec=spec, progress=progress)
    result.parameters.setdefault("run", {})["inputs"] = dict(covariates.attrs.get("spec", {}))
    return result
