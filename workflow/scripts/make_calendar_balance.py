"""Rule make_calendar_balance: treated vs control start dates per window, before and after matching."""
from pathlib import Path

import pandas as pd

from qipstudy.calendar_balance import calendar_balance_of_run, plot_calendar_balance
from qipstudy.render import save_figure, write_table
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    table = calendar_balance_of_run(pd.read_parquet(snakemake.input.covariates),
                                    Path(snakemake.input.wakes).parent)
    title = snakemake.params.title
    write_table(table, Path(snakemake.output.table[0]).with_suffix(""),
                caption=f"{title}: start-date balance of treated and control projects per window")
    save_figure(plot_calendar_balance(table, t_unit=snakemake.params.t_unit, title=title),
                Path(snakemake.output.figure[0]).with_suffix(""))
