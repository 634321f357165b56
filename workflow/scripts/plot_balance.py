"""Rule plot_balance: covariate balance before and after matching, per window."""
from pathlib import Path

from matchedwake.plotting import plot_balance

from qipstudy.atomic import atomic_path
from qipstudy.render import save_figure
from qipstudy.robustness import balance_of_run
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    balance = balance_of_run(Path(snakemake.input.wakes).parent)
    with atomic_path(snakemake.output.table) as tmp:
        balance.to_csv(tmp, index=False)
    figure = plot_balance(balance)
    figure.set_layout_engine("constrained")  # room for the overall title above the panel titles
    figure.suptitle(f"{snakemake.params.title}: covariate balance before and after matching")
    save_figure(figure, Path(snakemake.output.figure[0]).with_suffix(""))
