"""Rule plot_covariates: appendix Figures 1-2 (covariate histograms and correlation matrix)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import correlation_matrix, histogram_covariates
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    covariates = pd.read_parquet(snakemake.input.covariates)
    columns = list(snakemake.params.match_columns)
    histogram_covariates(covariates, Path(snakemake.output.histograms[0]).with_suffix(""), columns=columns)
    correlation_matrix(covariates, Path(snakemake.output.correlations[0]).with_suffix(""), columns=columns)
