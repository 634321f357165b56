"""Rule make_robustness_table: the main result under every robustness variant and placebo."""
from pathlib import Path

import pandas as pd

from qipstudy.atomic import atomic_path
from qipstudy.render import cross_country_heatmaps, write_table
from qipstudy.robustness import robustness_summary, robustness_windows
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    estimates = {"main": pd.read_csv(snakemake.input.main)}
    estimates.update({v: pd.read_csv(p) for v, p in zip(snakemake.params.variants, snakemake.input.variants)})
    titles = {"main": "Main specification (paper)", **snakemake.params.titles}
    alpha = snakemake.params.alpha
    summary = robustness_summary(estimates, alpha=alpha, titles=titles, settings=snakemake.params.get("settings"),
                                 placebos=snakemake.params.get("placebos") or ())
    write_table(summary, Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"Robustness of the main result: windows with p <= {alpha} per variant")
    with atomic_path(snakemake.output.windows) as tmp:
        robustness_windows(estimates).to_csv(tmp, index=False)
    cross_country_heatmaps(
        estimates,
        snakemake.wildcards.outcome,
        Path(snakemake.output.figure[0]).with_suffix(""),
        style="tiles",
        t_unit=snakemake.params.t_unit,
        alpha1=alpha,
        alpha2=alpha,
        title="Robustness of the main result: the window grid under each variant and placebo",
    )
