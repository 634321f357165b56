"""Power of each window: the minimum detectable effect and the matched sample behind it.

A window that is "not significant" says nothing unless it could have detected an effect of a
size that matters. Per window, from the same matched design and robust standard error as the
estimate:

    MDE = (z_{1−α/2} + z_{power}) · SE

the smallest true effect that a two-sided test at level α rejects with the given power
(Bloom 1995, "Minimum detectable effects"; normal approximation, so 2.80 · SE at α = 0.05 and
80 % power). Next to it: the matched treated and control wakes, the controls' effective sample
size under the CEM weights (Kish: (Σw)² / Σw²), and the weighted control mean of the post
count (the MDE relative to what an effect would be added to).
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.plotting import plot_tiles, window_grid  # noqa: E402
from matchedwake.windows import window_designs  # noqa: E402

__all__ = ["mde_multiplier", "power_table", "power_of_run", "plot_power_overlay", "POWER_COLUMNS"]

POWER_COLUMNS = ["t_window", "spat_window", "matched_treated", "matched_control",
                 "effective_controls", "control_mean_post", "estimate", "std_error", "pvalue",
                 "mde", "mde_relative"]


def mde_multiplier(alpha: float = 0.05, power: float = 0.8) -> float:
    """z_{1−α/2} + z_{power}: the MDE in standard errors (2.8016 for 0.05 and 0.8)."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    from scipy import special  # deferred: scipy.special's array-API layer costs ~0.3 s at import

    return float(special.ndtri(1 - alpha / 2) + special.ndtri(power))


def power_table(wakes: pd.DataFrame, *, match_columns, estimation: str = "lm",
                formula: str = "dependent_post ~ dependent_pre + treatment", weighted: bool = True,
                estimation_controls=(), tcm: bool = False, match_default: bool = True,
                vcov: str = "HC1", cluster_column: str | None = None, alpha: float = 0.05,
                power: float = 0.8) -> pd.DataFrame:
    """Per window (:data:`POWER_COLUMNS`): matched sample, SE of the estimate under ``vcov``,
    MDE at ``alpha``/``power`` and the MDE relative to the weighted control mean post count.

    The SE is |estimate / t| of the window's fit (undefined, NA, when the estimate is exactly
    0 or the window has no fit).
    """
    k = mde_multiplier(alpha, power)
    rows = []
    for d in window_designs(wakes, match_columns=list(match_columns), estimation=estimation,
                            formula=formula, weighted=weighted,
                            estimation_controls=list(estimation_controls or ()), tcm=tcm,
                            match_default=match_default, vcov=vcov, cluster_column=cluster_column):
        g = d.X[:, -1] if d.X is not None else np.empty(0)
        w = d.weights[d.matched]
        ctl = g == 0
        n_t, n_c = int((g == 1).sum()), int(ctl.sum())
        ess = float(w[ctl].sum() ** 2 / np.sum(w[ctl] ** 2)) if n_c else math.nan
        post = d.y if d.y is not None else np.empty(0)
        if formula != "dependent_post ~ dependent_pre + treatment" and d.X is not None:
            post = wakes["dependent_post"].to_numpy(dtype=float)[d.rows[d.matched]]
        mean_c = float(np.average(post[ctl], weights=w[ctl])) if n_c and w[ctl].sum() > 0 else math.nan
        fit = d.fit
        est = se = p = math.nan
        if fit is not None and fit.ok:
            est, p = fit.estimate, fit.pvalue
            if fit.t_value != 0 and math.isfinite(fit.t_value):
                se = abs(est / fit.t_value)
        mde = k * se
        rows.append([d.t_window, d.spat_window, n_t, n_c, ess, mean_c, est, se, p, mde,
                     mde / mean_c if mean_c and math.isfinite(mean_c) and mean_c > 0 else math.nan])
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def power_of_run(mwa_dir, *, vcov: str = "HC1", cluster_column: str | None = None,
                 alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """:func:`power_table` of the run in ``mwa_dir`` with its own estimation options and the
    given standard errors."""
    from qipstudy.robustness import inference_options, load_run

    wakes, parameters = load_run(mwa_dir)
    options = inference_options(parameters)
    options["vcov"], options["cluster_column"] = vcov, cluster_column if vcov == "cluster" else None
    return power_table(wakes, alpha=alpha, power=power, **options)


def plot_power_overlay(table: pd.DataFrame, *, t_unit: str = "days", alpha: float = 0.05,
                       title: str = "") -> plt.Figure:
    """The estimate heatmap (tiles; bold where p ≤ alpha) with every tile's MDE and matched
    treated count printed along its lower edge — read an empty tile with a large MDE as 'could
    not have seen it', one with a small MDE as evidence of a small effect."""
    fig, ax = plt.subplots(figsize=(8.5, 6.0), layout="constrained")
    plot_tiles(table[["t_window", "spat_window", "estimate", "pvalue"]], t_unit=t_unit,
               alpha1=alpha, alpha2=alpha, ax=ax,
               title=(f"{title}\n" if title else "") + "below each value: MDE (80 % power) · matched treated")
    t_vals, s_vals, _, _ = window_grid(table[["t_window", "spat_window", "estimate", "pvalue"]])
    lookup = table.set_index(["t_window", "spat_window"])
    for j, t in enumerate(t_vals):
        for i, s in enumerate(s_vals):
            if (t, s) not in lookup.index:
                continue
            row = lookup.loc[(t, s)]
            mde = row["mde"]
            text = (f"MDE {mde:.2g}" if np.isfinite(mde) else "MDE –") + f" · n={int(row['matched_treated'])}"
            ax.text(i, j - 0.33, text, ha="center", va="center", fontsize=6.5, color="0.1",
                    gid="tile-mde", bbox=dict(facecolor="white", alpha=0.75, edgecolor="none", pad=1.0))
    return fig
