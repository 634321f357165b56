"""Rule make_power_table: minimum detectable effect and matched sample size per window."""
from pathlib import Path

from qipstudy.power import plot_power_overlay, power_of_run
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    inference = snakemake.params.inference
    table = power_of_run(Path(snakemake.input.wakes).parent, vcov=inference["vcov"],
                         cluster_column=inference["cluster_column"], alpha=snakemake.params.alpha,
                         power=inference["power"])
    title = snakemake.params.title
    write_table(table, Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"{title}: minimum detectable effect ({inference['power']:.0%} power, "
                        f"level {snakemake.params.alpha:g}) and matched sample per window")
    save_figure(plot_power_overlay(table, t_unit=snakemake.params.t_unit, alpha=snakemake.params.alpha,
                                   title=title),
                Path(snakemake.output.figure[0]).with_suffix(""))
