"""Rule plot_event_dates: paper Figure 5 (histograms of event dates by type)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import histogram_event_dates
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    histogram_event_dates(
        pd.read_parquet(snakemake.input.covariates), stem=Path(snakemake.output.figure[0]).with_suffix("")
    )
