"""Rule make_robustness_table: the main result under every robustness variant and placebo."""
from pathlib import Path

from qipstudy.atomic import atomic_path
from qipstudy.render import cross_country_heatmaps, load_estimates, sources_of, write_table
from qipstudy.robustness import robustness_summary, robustness_windows
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    estimates = {"main": load_estimates(snakemake.input.main, snakemake.input.main_matching)}
    estimates.update({v: load_estimates(e, m)
                      for v, e, m in zip(params.variants, snakemake.input.variants, snakemake.input.variants_matching)})
    alpha = params.alpha
    modes, outcome_source = params.dataset_modes, params.outcome_source
    summary = robustness_summary(estimates, alpha=alpha, titles=params.titles, settings=params.settings,
                                 placebos=params.placebos, skipped=params.skipped)
    table_stem = Path(snakemake.output.table[0]).with_suffix("")
    write_table(summary, table_stem, caption=f"Robustness of the main result: windows with p <= {alpha} per variant",
                sources=sources_of(table_stem.name, modes, outcome_source=outcome_source))
    with atomic_path(snakemake.output.windows) as tmp:
        robustness_windows(estimates).to_csv(tmp, index=False)
    figure_stem = Path(snakemake.output.figure[0]).with_suffix("")
    cross_country_heatmaps(
        estimates,
        snakemake.wildcards.outcome,
        figure_stem,
        style="tiles",
        t_unit=params.t_unit,
        alpha1=alpha,
        alpha2=alpha,
        title="Robustness of the main result: the window grid under each variant and placebo",
        min_matched=params.min_matched,
        thin="hatch",
        panel="variant",
        sources=sources_of(figure_stem.name, modes, outcome_source=outcome_source),
    )
