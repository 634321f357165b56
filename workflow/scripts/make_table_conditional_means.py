"""Rule make_table_conditional_means: paper Table 2."""
from pathlib import Path

import pandas as pd

from qipstudy.render import table_conditional_means
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    covariates = pd.read_parquet(snakemake.input.covariates)
    table_conditional_means(covariates, stem=Path(snakemake.output.table[0]).with_suffix(""))
