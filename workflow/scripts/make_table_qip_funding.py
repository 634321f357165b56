"""Rule make_table_qip_funding: paper Table 1 (by activity type) and appendix Table 1 (by category)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import table_qip_funding
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    events = pd.read_parquet(snakemake.input.events)
    table_qip_funding(events, by="activity_type", stem=Path(snakemake.output.by_activity[0]).with_suffix(""))
    table_qip_funding(events, by="category", stem=Path(snakemake.output.by_category[0]).with_suffix(""))
