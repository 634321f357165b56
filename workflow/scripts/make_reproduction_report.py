"""Rule make_reproduction_report: every produced table against the published numbers."""
from pathlib import Path

import pandas as pd

from qipstudy.render import compare_table, reproduction_report
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    published_dir = Path(snakemake.input.published)
    produced_by_published_id = {}
    for path in map(Path, snakemake.input.tables):
        stem = path.stem
        if stem.startswith("significant_windows_"):
            stem = snakemake.params.published_tables[stem.removeprefix("significant_windows_")]
        produced_by_published_id[stem] = pd.read_csv(path)
    comparisons = {
        table_id: compare_table(table_id, produced, published_dir)
        for table_id, produced in produced_by_published_id.items()
    }
    reproduction_report(comparisons, Path(snakemake.output.report), synthetic=snakemake.params.synthetic)
