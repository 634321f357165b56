"""Rule plot_heatmaps: paper Figure 6 (tile heatmaps of all outcomes) and one R-style heatmap per outcome."""
from pathlib import Path

from qipstudy.render import heatmaps, load_estimates, sources_of
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    outcomes = params.outcomes
    estimates = {o: load_estimates(e, m)
                 for o, e, m in zip(outcomes, snakemake.input.estimates, snakemake.input.matching)}
    titles = dict(zip(outcomes, params.titles))
    style = dict(t_unit=params.t_unit, alpha1=params.alpha1, alpha2=params.alpha2, min_matched=params.min_matched)
    stem = Path(snakemake.output.figure[0]).with_suffix("")
    heatmaps(estimates, stem, style="tiles", titles=titles,
             sources=sources_of(stem.name, params.dataset_modes, outcome_source=params.outcome_source), **style)
    for outcome in outcomes:
        r_stem = stem.parent / f"heatmap_r_style_{outcome}"
        heatmaps({outcome: estimates[outcome]}, r_stem, style="r", titles={outcome: titles[outcome]},
                 sources=sources_of(r_stem.name, params.dataset_modes, outcome_source=params.outcome_source), **style)
