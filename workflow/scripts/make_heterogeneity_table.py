"""Rule make_heterogeneity_table: the main outcome by QIP activity type, category and region."""
from pathlib import Path

import pandas as pd

from qipstudy.heterogeneity import heterogeneity_summary, plot_heterogeneity, subgroup_estimates
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    settings = snakemake.params.heterogeneity
    inference = snakemake.params.inference
    table = subgroup_estimates(pd.read_parquet(snakemake.input.covariates), snakemake.params.outcome,
                               snakemake.params.mwa, dimensions=settings["dimensions"],
                               min_projects=settings["min_projects"], vcov=inference["vcov"],
                               cluster_column=inference["cluster_column"])
    title, alpha = snakemake.params.title, snakemake.params.alpha
    write_table(table, Path(snakemake.output.windows[0]).with_suffix(""),
                caption=f"{title}: estimate per subgroup and window; Holm and BH over each dimension")
    write_table(heterogeneity_summary(table, alpha=alpha), Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"{title}: significant windows per subgroup, uncorrected and corrected")
    for dimension, stem in zip(settings["dimensions"], snakemake.output.figures):
        save_figure(plot_heterogeneity(table, dimension, t_unit=snakemake.params.t_unit, alpha=alpha,
                                       title=title),
                    Path(stem).with_suffix(""))
