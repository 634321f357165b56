"""Rule make_table_qip_funding: paper Table 1 (by activity type) and appendix Table 1 (by category).

Over the mission's whole QIP list (input `qips`, the retrieved qips.csv), as the paper; the
analysis-sample versions go to the optional outputs `sample_by_activity` / `sample_by_category`.
"""
from pathlib import Path

import pandas as pd

from qipstudy.prepare import read_qips
from qipstudy.runlog import log_to
from qipstudy.tables import write_qip_funding_tables


def stem(name):
    files = snakemake.output.get(name)
    return Path(files[0]).with_suffix("") if files else None


with log_to(snakemake.log[0]) as log:
    events = pd.read_parquet(snakemake.input.events)
    qips = read_qips(snakemake.input.qips) if snakemake.input.get("qips") else None
    if qips is None:
        log.warning("no `qips` input: Table 1 is computed over the analysis sample, not the whole QIP list")
    write_qip_funding_tables(
        events if qips is None else qips,
        events=events,
        by_activity_stem=stem("by_activity"),
        by_category_stem=stem("by_category"),
        sample_by_activity_stem=stem("sample_by_activity"),
        sample_by_category_stem=stem("sample_by_category"),
    )
