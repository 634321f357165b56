"""Rule make_inference_table: classical, robust, Holm, BH, randomization and Westfall-Young p-values."""
from pathlib import Path

import pandas as pd

from qipstudy.render import save_figure, write_table
from qipstudy.robustness import inference_table, plot_inference_heatmaps, plot_permutation_distribution
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    draws = [pd.read_parquet(path) for path in snakemake.input.draws]
    # the rule's `inference` param, else the validated config block (schema defaults)
    inference = snakemake.params.get("inference") or snakemake.config["robustness"]["inference"]
    table = inference_table(Path(snakemake.input.parameters).parent, draws, vcov=inference["vcov"],
                            cluster_column=inference["cluster_column"],
                            min_matched=inference["min_matched"])
    title = snakemake.params.title
    write_table(table, Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"{title}: p-values per window, uncorrected and corrected for the window grid "
                        f"({inference['vcov']} standard errors; windows with fewer than "
                        f"{inference['min_matched']} matched treated or control wakes not tested)")
    save_figure(
        plot_inference_heatmaps(table, t_unit=snakemake.params.t_unit, alpha=snakemake.params.alpha, title=title),
        Path(snakemake.output.figure[0]).with_suffix(""),
    )
    save_figure(
        plot_permutation_distribution(pd.concat(draws, ignore_index=True), table, title=title),
        Path(snakemake.output.permutations[0]).with_suffix(""),
    )
