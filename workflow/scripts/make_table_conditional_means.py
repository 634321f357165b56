"""Rule make_table_conditional_means: paper Table 2."""
from pathlib import Path

import pandas as pd

from qipstudy.render import sources_of, table_conditional_means
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    covariates = pd.read_parquet(snakemake.input.covariates)
    stem = Path(snakemake.output.table[0]).with_suffix("")
    table_conditional_means(
        covariates,
        stem=stem,
        sources=sources_of(stem.name, snakemake.params.dataset_modes, outcome_source=snakemake.params.outcome_source),
    )
