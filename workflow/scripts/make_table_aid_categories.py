"""Rule make_table_aid_categories: appendix Table 2, counted over the whole aid export (as the paper)."""
from pathlib import Path

from qipstudy.prepare import read_iati
from qipstudy.render import table_aid_by_category
from qipstudy.runlog import log_to
from qipstudy.sources import sources_of

with log_to(snakemake.log[0]):
    aid = read_iati(snakemake.input.iati).assign(source="iati")
    stem = Path(snakemake.output.table[0]).with_suffix("")
    table_aid_by_category(aid, stem=stem, sources=sources_of(stem.name, snakemake.params.dataset_modes,
                                                             outcome_source=snakemake.params.outcome_source))
