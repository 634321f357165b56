"""Rule plot_covariates: appendix Figures 1-2 (covariate histograms and correlation matrix)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import correlation_matrix, histogram_covariates, sources_of
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    covariates = pd.read_parquet(snakemake.input.covariates)
    columns = list(snakemake.params.match_columns)
    modes, outcome_source = snakemake.params.dataset_modes, snakemake.params.outcome_source
    for builder, output in ((histogram_covariates, snakemake.output.histograms),
                            (correlation_matrix, snakemake.output.correlations)):
        stem = Path(output[0]).with_suffix("")
        builder(covariates, stem, columns=columns, sources=sources_of(stem.name, modes, outcome_source=outcome_source))
