"""Power: minimum detectable effect per window from the robust standard error."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from matchedwake import matched_wake
from matchedwake.inference import observed_statistics
from matchedwake.windows import WindowWarning
from qipstudy.calibration import simulate_study_world
from qipstudy.power import POWER_COLUMNS, mde_multiplier, plot_power_overlay, power_table

TYPES = (("type", "treatment"), ("type", "control"), ("type", "dependent"))
MATCH = ["base_dist", "terrain"]


@pytest.fixture(scope="module")
def result():
    df = simulate_study_world(seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        return matched_wake(df, (10, 30, 10), (3, 9, 3), *TYPES, MATCH, weighted=True, tcm=True)


def test_mde_multiplier_is_the_normal_quantile_sum():
    assert mde_multiplier() == pytest.approx(1.959964 + 0.841621, abs=1e-6)  # 2.8016
    assert mde_multiplier(0.01, 0.9) == pytest.approx(stats.norm.ppf(0.995) + stats.norm.ppf(0.9))
    with pytest.raises(ValueError):
        mde_multiplier(0.05, 1.0)


def test_power_table_uses_the_windows_robust_fit(result):
    table = power_table(result.wakes, match_columns=MATCH, tcm=True)
    assert list(table.columns) == POWER_COLUMNS
    obs = observed_statistics(result.wakes, match_columns=MATCH, weighted=True, tcm=True, vcov="HC1")
    se = np.abs(obs["estimate"] / obs["t_value"]).to_numpy()
    np.testing.assert_allclose(table["std_error"], se, rtol=1e-12)
    np.testing.assert_allclose(table["mde"], 2.801585 * se, rtol=1e-6)
    np.testing.assert_array_equal(table["matched_treated"], result.matching["treatment_post"])
    np.testing.assert_array_equal(table["matched_control"], result.matching["control_post"])
    # Kish effective number of controls never exceeds the matched controls
    assert (table["effective_controls"] <= table["matched_control"] + 1e-9).all()
    # the detectable effect grows as windows get larger and matched samples smaller
    assert table["mde"].iloc[-1] > 3 * table["mde"].iloc[0]
    assert table["matched_treated"].iloc[-1] < table["matched_treated"].iloc[0]


def test_mde_is_what_an_80_percent_test_detects():
    """Simulated check of the definition: with the true effect equal to the MDE of the design,
    a 5 % two-sided test on estimate/SE rejects in about 80 % of draws (normal estimates)."""
    rng = np.random.default_rng(0)
    se = 0.4
    mde = mde_multiplier() * se
    z = rng.normal(mde, se, 20000) / se
    assert np.mean(np.abs(z) > 1.959964) == pytest.approx(0.80, abs=0.01)


def test_power_overlay_figure(result, tmp_path):
    table = power_table(result.wakes, match_columns=MATCH, tcm=True)
    fig = plot_power_overlay(table, title="test")
    labels = [t for t in fig.axes[0].texts if t.get_gid() == "tile-mde"]
    assert len(labels) == len(table)
    assert labels[0].get_text().startswith("MDE ")
    fig.savefig(tmp_path / "power.png")
