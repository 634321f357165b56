"""Rule make_cross_country_comparison: one outcome's window grid, all countries side by side."""
from pathlib import Path

from qipstudy.render import cross_country_heatmaps, load_estimates, sources_of, table_cross_country
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    estimates = {c: load_estimates(e, m)
                 for c, e, m in zip(params.countries, snakemake.input.estimates, snakemake.input.matching)}
    table_stem = Path(snakemake.output.table).with_suffix("")
    table_cross_country(
        estimates,
        alpha=params.alpha,
        only_significant=False,
        stem=table_stem,
        caption=f"{params.title}: MWA estimates by country",
        min_matched=params.min_matched,
        sources=sources_of(table_stem.name, params.dataset_modes, outcome_source=params.outcome_source),
    )
    figure_stem = Path(snakemake.output.figure).with_suffix("")
    cross_country_heatmaps(
        estimates,
        params.title,
        figure_stem,
        t_unit=params.t_unit,
        alpha1=params.alpha,
        min_matched=params.min_matched,
        thin="exclude",
        sources=sources_of(figure_stem.name, params.dataset_modes, outcome_source=params.outcome_source),
    )
