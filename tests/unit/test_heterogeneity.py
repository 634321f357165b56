"""Heterogeneity: subgroups of QIPs, multiplicity control across subgroups and windows."""
from __future__ import annotations

import numpy as np
import pytest
from sim_study import SETTINGS, study_covariates

from matchedwake.adjust import p_adjust
from qipstudy.heterogeneity import (
    SUBGROUP_ROLE,
    heterogeneity_summary,
    plot_heterogeneity,
    subgroup_estimates,
    subgroup_table,
)


@pytest.fixture(scope="module")
def covariates():
    return study_covariates(seed=31, effect=1.0, n_treatment=160)


def test_subgroup_roles(covariates):
    table, settings = subgroup_table(covariates, SETTINGS, "activity_type", "Training/workshops")
    qip = covariates["event_type"] == "qip"
    chosen = qip & (covariates["activity_type"] == "Training/workshops")
    assert (table.loc[chosen, SUBGROUP_ROLE] == "treated").all()
    assert (table.loc[qip & ~chosen, SUBGROUP_ROLE] == "other").all()  # other QIPs: no wake
    assert (table.loc[covariates["event_type"] == "iati", SUBGROUP_ROLE] == "control").all()
    assert settings["treatment"] == [SUBGROUP_ROLE, "treated"]
    # a region compares with the aid projects of the same region only
    table, _ = subgroup_table(covariates, SETTINGS, "admin1", "NE")
    aid = covariates["event_type"] == "iati"
    assert (table.loc[aid & (covariates["admin1"] == "NE"), SUBGROUP_ROLE] == "control").all()
    assert (table.loc[aid & (covariates["admin1"] != "NE"), SUBGROUP_ROLE] == "other").all()
    with pytest.raises(ValueError, match="dimension must be one of"):
        subgroup_table(covariates, SETTINGS, "sector", "x")


def test_subgroup_estimates_and_holm_across_the_dimension(covariates, tmp_path):
    table = subgroup_estimates(covariates, "civilians", SETTINGS, dimensions=["activity_type", "admin1"],
                               min_projects=25)
    act = table[table["dimension"] == "activity_type"]
    counts = covariates.loc[covariates["event_type"] == "qip", "activity_type"].value_counts()
    # the small group (≈10 % of 160 QIPs) is listed, not estimated
    small = counts.idxmin()
    assert act.loc[act["subgroup"] == small, "status"].iloc[0] == "too few projects (n < 25)"
    estimated = act[act["status"] == "estimated"]
    assert estimated["subgroup"].nunique() == 2 and len(estimated) == 2 * 9
    # Holm and BH over all subgroups × windows of the dimension (one family)
    p = act["pvalue"].to_numpy(dtype=float)
    np.testing.assert_array_equal(act["pvalue_holm"].to_numpy(), p_adjust(p, "holm"))
    np.testing.assert_array_equal(act["pvalue_BH"].to_numpy(), p_adjust(p, "BH"))
    assert (act["pvalue_holm"].dropna() >= act["pvalue"].dropna() - 1e-15).all()
    # the planted effect is the same for every QIP: both big groups show it in covering windows
    cover = estimated[(estimated["t_window"] >= 20) & (estimated["spat_window"] >= 6)]
    assert (cover.groupby("subgroup")["estimate"].mean() > 0.25).all()
    summary = heterogeneity_summary(table)
    assert set(summary["dimension"]) == {"activity_type", "admin1"}
    row = summary[summary["subgroup"] == small].iloc[0]
    assert row["windows_estimated"] == 0
    assert (summary["significant_holm"] <= summary["significant"]).all()
    fig = plot_heterogeneity(table, "activity_type", title="test")
    assert len([a for a in fig.axes if a.get_visible() and a.get_label() != "<colorbar>"]) >= 2
    fig.savefig(tmp_path / "het.png")


def test_a_subgroup_that_cannot_be_estimated_is_reported_not_raised(covariates):
    cov = covariates.copy()
    # one region's QIPs and no aid project there: the within-region comparison has no controls
    aid_ne = (cov["event_type"] == "iati") & (cov["admin1"] == "NE")
    cov.loc[aid_ne, "admin1"] = "NW"
    table = subgroup_estimates(cov, "civilians", SETTINGS, dimensions=["admin1"], min_projects=5)
    status = table.drop_duplicates("subgroup").set_index("subgroup")["status"]
    assert status["NE"].startswith("not estimable")
    assert (status.drop("NE") == "estimated").all()
