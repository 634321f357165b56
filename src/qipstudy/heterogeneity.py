"""Heterogeneity: the effect by QIP activity type, QIP category and region.

The paper pools all QIPs; its Table 1 (activity type) and appendix Table 1 (category) show how
different they are — an infrastructure project and a sport event need not have the same wake.
For every subgroup the MWA grid is re-estimated with the study's settings:

* activity type / category (``dimension`` "activity_type", "category"): treated = the QIPs of
  the subgroup, controls = all control projects; the other QIPs stay in the table as ordinary
  events (neither treated nor control, so they count in no wake and in no TCM count);
* region (``dimension`` "admin1"): treated = the QIPs of the region, controls = the control
  projects of the same region (a within-region comparison).

Subgroups with fewer than ``min_projects`` treated projects are listed but not estimated.
Multiplicity: every subgroup × window p-value of a dimension is one family; Holm
(family-wise error) and Benjamini–Hochberg (false discovery rate) adjust across all of them, so
a subgroup "effect" survives only if it stands out among every subgroup and window tried.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matchedwake.adjust import p_adjust  # noqa: E402
from matchedwake.plotting import plot_tiles  # noqa: E402
from matchedwake.windows import NegBinWarning, WindowWarning  # noqa: E402
from qipstudy.estimate import run_mwa  # noqa: E402

__all__ = ["DIMENSIONS", "SUBGROUP_ROLE", "subgroup_table", "subgroup_estimates",
           "heterogeneity_summary", "plot_heterogeneity"]

#: dimension → (label, whether controls are restricted to the same subgroup)
DIMENSIONS = {
    "activity_type": ("QIP activity type (paper Table 1)", False),
    "category": ("QIP category (appendix Table 1)", False),
    "admin1": ("Region (admin-1)", True),
}
SUBGROUP_ROLE = "subgroup_role"  # the column that marks treated / control / other per subgroup


def subgroup_table(covariates: pd.DataFrame, settings: Mapping, dimension: str, value) -> tuple[pd.DataFrame, dict]:
    """The covariates with :data:`SUBGROUP_ROLE` ("treated", "control", "other") for one
    subgroup, and the mwa settings that use it as treatment/control columns."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"heterogeneity dimension must be one of {sorted(DIMENSIONS)}, got {dimension!r}")
    if dimension not in covariates.columns:
        raise ValueError(f"heterogeneity: the covariates table has no column {dimension!r}")
    t_col, t_val = settings["treatment"]
    c_col, c_val = settings["control"]
    treated = (covariates[t_col] == t_val).to_numpy()
    control = (covariates[c_col] == c_val).to_numpy()
    in_group = (covariates[dimension].astype(str) == str(value)).to_numpy()
    if DIMENSIONS[dimension][1]:
        control = control & in_group
    role = np.where(treated & in_group, "treated", np.where(control & ~treated, "control", "other"))
    out = covariates.copy()
    out[SUBGROUP_ROLE] = role.astype(object)
    sub_settings = dict(settings)
    sub_settings["treatment"] = [SUBGROUP_ROLE, "treated"]
    sub_settings["control"] = [SUBGROUP_ROLE, "control"]
    return out, sub_settings


def subgroup_estimates(covariates: pd.DataFrame, outcome: str, settings: Mapping, *,
                       dimensions: Sequence[str] = tuple(DIMENSIONS), min_projects: int = 10,
                       vcov: str = "HC1", cluster_column: str | None = None) -> pd.DataFrame:
    """Per dimension, subgroup and window: estimate, HC1 (or cluster) p-value, matched counts,
    and p-values adjusted over the dimension's family (pvalue_holm, pvalue_BH).

    Columns: dimension, subgroup, n_projects (treated projects of the subgroup), status
    ("estimated", "too few projects (n < min)", or the error of a failed run), t_window,
    spat_window, estimate, pvalue, matched_treated, matched_control, pvalue_holm, pvalue_BH.
    """
    t_col, t_val = settings["treatment"]
    treated_all = covariates[t_col] == t_val
    base = dict(settings)
    base["vcov"] = vcov
    base["cluster_column"] = cluster_column if vcov == "cluster" else None
    frames = []
    for dim in dimensions:
        if dim not in DIMENSIONS:
            raise ValueError(f"heterogeneity dimension must be one of {sorted(DIMENSIONS)}, got {dim!r}")
        if dim not in covariates.columns:
            raise ValueError(f"heterogeneity: the covariates table has no column {dim!r}")
        values = covariates.loc[treated_all, dim].astype(str)
        counts = values[values != ""].value_counts()
        for value in sorted(counts.index):
            n = int(counts[value])
            head = {"dimension": dim, "subgroup": value, "n_projects": n}
            if n < min_projects:
                frames.append(pd.DataFrame([{**head, "status": f"too few projects (n < {min_projects})"}]))
                continue
            table, sub_settings = subgroup_table(covariates, base, dim, value)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", WindowWarning)
                    warnings.simplefilter("ignore", NegBinWarning)
                    result = run_mwa(table, outcome, sub_settings)
            except ValueError as exc:
                frames.append(pd.DataFrame([{**head, "status": f"not estimable: {exc}"}]))
                continue
            est = result.estimates[["t_window", "spat_window", "estimate", "pvalue"]].copy()
            est["matched_treated"] = result.matching["treatment_post"].to_numpy()
            est["matched_control"] = result.matching["control_post"].to_numpy()
            frames.append(est.assign(**head, status="estimated"))
    columns = ["dimension", "subgroup", "n_projects", "status", "t_window", "spat_window", "estimate",
               "pvalue", "matched_treated", "matched_control"]
    table = pd.concat(frames, ignore_index=True).reindex(columns=columns) if frames else \
        pd.DataFrame(columns=columns)
    table["pvalue_holm"] = np.nan
    table["pvalue_BH"] = np.nan
    for _, part in table.groupby("dimension", sort=False):
        p = part["pvalue"].to_numpy(dtype=float, na_value=np.nan)
        table.loc[part.index, "pvalue_holm"] = p_adjust(p, "holm")
        table.loc[part.index, "pvalue_BH"] = p_adjust(p, "BH")
    return table


def heterogeneity_summary(table: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """One row per subgroup: projects, status, windows estimated, significant uncorrected,
    after Holm and after BH (within the dimension), and the median estimate."""
    rows = []
    for (dim, sub), part in table.groupby(["dimension", "subgroup"], sort=False):
        fitted = part.dropna(subset=["estimate"])
        rows.append({"dimension": dim, "subgroup": sub, "n_projects": int(part["n_projects"].iloc[0]),
                     "status": part["status"].iloc[0], "windows_estimated": len(fitted),
                     "significant": int((fitted["pvalue"] <= alpha).sum()),
                     "significant_holm": int((fitted["pvalue_holm"] <= alpha).sum()),
                     "significant_BH": int((fitted["pvalue_BH"] <= alpha).sum()),
                     "median_estimate": float(fitted["estimate"].median()) if len(fitted) else math.nan})
    return pd.DataFrame(rows)


def plot_heterogeneity(table: pd.DataFrame, dimension: str, *, t_unit: str = "days",
                       alpha: float = 0.05, title: str = "") -> plt.Figure:
    """Small multiples: the grid of every estimated subgroup of ``dimension``, a value printed
    where the Holm-adjusted p (over the dimension's family) is ≤ alpha."""
    part = table[(table["dimension"] == dimension) & (table["status"] == "estimated")]
    groups = list(dict.fromkeys(part["subgroup"]))
    n = max(len(groups), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.0 * nrows), squeeze=False,
                             layout="constrained")
    for ax, g in zip(axes.flat, groups):
        sub = part[part["subgroup"] == g]
        grid = sub[["t_window", "spat_window", "estimate"]].assign(pvalue=sub["pvalue_holm"])
        n_proj = int(sub["n_projects"].iloc[0])
        plot_tiles(grid, t_unit=t_unit, alpha1=alpha, alpha2=alpha, ax=ax, title=f"{g} (n = {n_proj})")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
        if not groups:
            ax.set_visible(True)
            ax.text(0.5, 0.5, "no subgroup with enough projects", ha="center", va="center")
            ax.set_axis_off()
    label = DIMENSIONS.get(dimension, (dimension,))[0]
    fig.suptitle((f"{title}: " if title else "") + f"{label}; Holm over all subgroups and windows")
    return fig
