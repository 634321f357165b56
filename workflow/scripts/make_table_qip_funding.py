"""Rule make_table_qip_funding: paper Table 1 (by activity type) and appendix Table 1 (by category).

Over the mission's whole QIP list (input `qips`, the retrieved qips.csv), as the paper; the
analysis-sample versions (QIPs left after the period and region filters) are the `*_sample` tables.
"""
from pathlib import Path

import pandas as pd

from qipstudy.prepare import read_qips
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of
from qipstudy.tables import write_qip_funding_tables


def stem(name):
    return Path(snakemake.output[name][0]).with_suffix("")


with log_to(snakemake.log[0]):
    events = pd.read_parquet(snakemake.input.events)
    names = ["by_activity", "by_category", "sample_by_activity", "sample_by_category"]
    modes, outcome_source = snakemake.params.dataset_modes, snakemake.params.outcome_source
    write_qip_funding_tables(
        read_qips(snakemake.input.qips),
        events=events,
        by_activity_stem=stem("by_activity"),
        by_category_stem=stem("by_category"),
        sample_by_activity_stem=stem("sample_by_activity"),
        sample_by_category_stem=stem("sample_by_category"),
        sources={stem(n).name: sources_of(stem(n).name, modes, outcome_source=outcome_source) for n in names},
    )
