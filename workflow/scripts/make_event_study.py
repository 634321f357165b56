"""Rule make_event_study: effects by disjoint time bin and spatial ring, with pre-period leads."""
from pathlib import Path

from qipstudy.eventstudy import event_study_of_run, plot_event_study
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    inference = snakemake.params.inference
    table, lead_tests = event_study_of_run(Path(snakemake.input.wakes).parent, vcov=inference["vcov"],
                               cluster_column=inference["cluster_column"])
    title = snakemake.params.title
    write_table(table, Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"{title}: event study by spatial ring and time bin (reference: bin -1)")
    write_table(lead_tests, Path(snakemake.output.lead_tests[0]).with_suffix(""),
                caption=f"{title}: joint tests that all pre-period leads are zero (parallel trends)")
    save_figure(plot_event_study(table, t_unit=snakemake.params.t_unit, title=title, lead_test=lead_tests),
                Path(snakemake.output.figure[0]).with_suffix(""))
