"""Rule make_table_aid_categories: appendix Table 2 (aid projects by category)."""
from pathlib import Path

import pandas as pd

from qipstudy.render import table_aid_by_category
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    events = pd.read_parquet(snakemake.input.events)
    table_aid_by_category(events, stem=Path(snakemake.output.table[0]).with_suffix(""))
