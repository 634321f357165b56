"""Rule plot_event_dates: paper Figure 5 (histograms of event dates by type)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import histogram_event_dates, sources_of
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    stem = Path(snakemake.output.figure[0]).with_suffix("")
    histogram_event_dates(
        pd.read_parquet(snakemake.input.covariates),
        stem=stem,
        sources=sources_of(stem.name, snakemake.params.dataset_modes, outcome_source=snakemake.params.outcome_source),
    )
