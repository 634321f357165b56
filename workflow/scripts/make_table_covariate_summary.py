"""Rule make_table_covariate_summary: appendix Table 3 (summary statistics of the covariates)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import table_covariate_summary
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    covariates = pd.read_parquet(snakemake.input.covariates)
    table_covariate_summary(covariates, stem=Path(snakemake.output.table[0]).with_suffix(""))
