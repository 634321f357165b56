"""summary(), summary_text() and to_dir() of MatchedWakeResult, checked by hand and against R's text."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchedwake.result import MatchedWakeResult, format_r_table

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
CONFIGS = {c["name"]: c for c in json.loads((FIX / "configs.json").read_text())}
NA = np.nan


def _params(**kw):
    p = dict(t_unit="days", alpha1=0.05, alpha2=0.1, estimation="lm")
    p.update(kw)
    return p


def readme_result() -> MatchedWakeResult:
    """The four significant windows of the R package README (docs/mwa_reference.md §4) plus two others."""
    win = [(6, 8), (6, 10), (8, 8), (8, 10), (10, 8), (10, 10)]
    t = [w[0] for w in win]
    s = [w[1] for w in win]
    est = pd.DataFrame({
        "t_window": t, "spat_window": s,
        "estimate": [0.5, NA, 1.0, 0.88888889, 1.0, 1.0],
        "pvalue": [0.3, NA, 1.771583e-05, 3.117263e-04, 1.110157e-04, 2.913782e-04],
        "adj.r.squared": [0.1, NA, 0.83958974, 0.70933769, 0.79289941, 0.74297308],
        "intercept": [0.0, NA, 0.1, 0.1, 0.1, 0.1],
        "intercept.pval": [0.9, NA, 0.5, 0.5, 0.5, 0.5],
    })
    matching = pd.DataFrame({
        "t_window": t, "spat_window": s,
        "control_pre": [50] * 6, "treatment_pre": [25] * 6,
        "L1_pre": [0.6] * 6, "commonSupport_pre": [30.0] * 6,
        "control_post": [19, 14, 9, 10, 8, 8], "treatment_post": [11, 10, 9, 9, 8, 7],
        "L1_post": [0.397, 0.329, 0.333, 0.267, 0.375, 0.321],
        "commonSupport_post": [60.0, 62.5, 44.4, 55.6, 37.5, 42.9],
    })
    sutva = pd.DataFrame({
        "t_window": t, "spat_window": s,
        "SO_pre": [0.05] * 6, "SO_post": [0.04] * 6,
        "SO": [0.093, 0.093, 0.107, 0.107, 0.107, 0.187],
        "MO_pre": [0.04] * 6, "MO_post": [0.05] * 6,
        "MO": [0.067, 0.067, 0.093, 0.093, 0.093, 0.093],
    })
    return MatchedWakeResult(est, matching, sutva, pd.DataFrame(), _params())


def test_summary_basic_columns_and_rounding():
    out = readme_result().summary()
    assert list(out.columns) == ["Time[days]", "Space[km]", "EffectSize", "p.value", "adj.Rsquared"]
    assert out["Time[days]"].tolist() == [8, 8, 10, 10]
    assert out["Space[km]"].tolist() == [8, 10, 8, 10]
    assert out["EffectSize"].tolist() == [1.0, 0.889, 1.0, 1.0]
    assert out["p.value"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out["adj.Rsquared"].tolist() == [0.8396, 0.7093, 0.7929, 0.743]


def test_summary_detailed_columns():
    out = readme_result().summary(detailed=True)
    assert list(out.columns)[5:] == ["%treat", "L1metric", "%supp", "%S0", "%MO"]
    # 9/18 = 50.0, 9/19 = 47.37 -> 47.4, 8/16 = 50.0, 7/15 = 46.67 -> 46.7
    assert out["%treat"].tolist() == [50.0, 47.4, 50.0, 46.7]
    assert out["L1metric"].tolist() == [0.333, 0.267, 0.375, 0.321]
    assert out["%supp"].tolist() == [44.4, 55.6, 37.5, 42.9]
    np.testing.assert_allclose(out["%S0"], [10.7, 10.7, 10.7, 18.7], rtol=1e-12)
    np.testing.assert_allclose(out["%MO"], [9.3, 9.3, 9.3, 9.3], rtol=1e-12)


README_TABLE = """\
  Time[days] Space[km] EffectSize p.value adj.Rsquared %treat L1metric
1          8         8      1.000       0       0.8396   50.0    0.333
2          8        10      0.889       0       0.7093   47.4    0.267
3         10         8      1.000       0       0.7929   50.0    0.375
4         10        10      1.000       0       0.7430   46.7    0.321
  %supp  %S0 %MO
1  44.4 10.7 9.3
2  55.6 10.7 9.3
3  37.5 10.7 9.3
4  42.9 18.7 9.3"""


def test_summary_text_matches_readme_print():
    # The package README printed this table in a console narrower than 80 columns.
    txt = readme_result().summary_text(detailed=True, width=75)
    assert txt.startswith("Results:\nThe method has identified combinations")
    assert "SUTVA violations:\n - '%SO' gives the percentage" in txt
    assert txt.endswith("\n\n" + README_TABLE + "\n")


def test_summary_text_wraps_at_80():
    txt = readme_result().summary_text(detailed=True)
    lines = txt.splitlines()
    # the first block now also holds %supp (70 + 6 = 76 <= 80 characters)
    assert "  Time[days] Space[km] EffectSize p.value adj.Rsquared %treat L1metric %supp" in lines
    assert "1          8         8      1.000       0       0.8396   50.0    0.333  44.4" in lines
    assert lines[-5:] == ["   %S0 %MO", "1 10.7 9.3", "2 10.7 9.3", "3 10.7 9.3", "4 18.7 9.3"]
    table = lines[lines.index("SUTVA violations:") + 4:]
    assert len(table) == 10 and all(len(line) <= 80 for line in table)


def test_summary_text_not_detailed():
    txt = readme_result().summary_text(detailed=False)
    assert txt == (
        "Results:\nThe method has identified combinations of temporal and spatial window sizes "
        "with significant estimates. The table below gives the estimated effect sizes and p-values "
        "for these combinations.\n\n"
        "  Time[days] Space[km] EffectSize p.value adj.Rsquared\n"
        "1          8         8      1.000       0       0.8396\n"
        "2          8        10      0.889       0       0.7093\n"
        "3         10         8      1.000       0       0.7929\n"
        "4         10        10      1.000       0       0.7430\n")


def _rounding_result(estimation="lm"):
    est = pd.DataFrame({
        "t_window": [10.0, 10.0, 20.0], "spat_window": [2.5, 5.0, 2.5],
        "estimate": [0.4525, -1.23456, 3.0],
        "pvalue": [0.04449, 0.0004999, 0.2],
        "adj.r.squared": [0.123456, -0.00004, 0.5],
        "pop.coef": [2.71828, -0.0006, 1.0], "pop.pval": [0.00049, 0.9996, 0.5],
        "intercept": [1.0, 1.0, 1.0], "intercept.pval": [0.5, 0.5, 0.5],
    })
    if estimation != "lm":
        est = est.drop(columns="adj.r.squared")
    return MatchedWakeResult(est, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
                             _params(t_unit="hours", estimation=estimation))


def test_summary_rounding_and_controls():
    out = _rounding_result().summary()
    assert list(out.columns) == ["Time[hours]", "Space[km]", "EffectSize", "p.value", "adj.Rsquared",
                                 "pop.coef", "pop.pval"]
    # R's round: 0.4525 -> 0.452 (the double is below ...25 in R's comparison), -1.23456 -> -1.235
    assert out["EffectSize"].tolist() == [0.452, -1.235]
    assert out["p.value"].tolist() == [0.044, 0.0]
    assert out["adj.Rsquared"].tolist() == [0.1235, -0.0]
    assert out["pop.coef"].tolist() == [2.718, -0.001]
    assert out["pop.pval"].tolist() == [0.0, 1.0]


def test_summary_text_with_controls():
    txt = _rounding_result().summary_text(detailed=False)
    assert "NOTE:\nYou have chosen to include additional control dimensions" in txt
    assert txt.endswith(
        "  Time[hours] Space[km] EffectSize p.value adj.Rsquared pop.coef pop.pval\n"
        "1          10       2.5      0.452   0.044       0.1235    2.718        0\n"
        "2          10       5.0     -1.235   0.000       0.0000   -0.001        1\n")


def test_summary_without_adj_r_squared():
    out = _rounding_result("nb").summary()
    assert "adj.Rsquared" not in out.columns
    assert list(out.columns)[:4] == ["Time[hours]", "Space[km]", "EffectSize", "p.value"]


def _adjust_result():
    est = pd.DataFrame({"t_window": [2, 2, 4, 4], "spat_window": [1, 2, 1, 2],
                        "estimate": [1.0, 2.0, 3.0, 4.0], "pvalue": [0.01, 0.04, 0.03, 0.005],
                        "adj.r.squared": [0.5] * 4, "intercept": [0.0] * 4,
                        "intercept.pval": [1.0] * 4})
    return MatchedWakeResult(est, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), _params())


def test_summary_with_adjustment():
    r = _adjust_result()
    assert len(r.summary()) == 4
    # bonferroni: 0.04, 0.16, 0.12, 0.02 -> windows 1 and 4 remain
    b = r.summary(adjust="bonferroni")
    assert b["EffectSize"].tolist() == [1.0, 4.0]
    assert b["p.value"].tolist() == [0.04, 0.02]
    # holm: 0.03, 0.06, 0.06, 0.02
    h = r.summary(adjust="holm")
    assert h["p.value"].tolist() == [0.03, 0.02]
    txt = r.summary_text(detailed=False, adjust="holm")
    assert "adjusted for multiple testing across 4 windows (method 'holm'" in txt
    with pytest.raises(ValueError):
        r.summary(adjust="nonsense")


def _ref_result(name: str) -> MatchedWakeResult:
    c = CONFIGS[name]
    rd = lambda t: pd.read_csv(FIX / "ref" / f"{name}__{t}.csv")  # noqa: E731
    return MatchedWakeResult(rd("estimates"), rd("matching"), rd("SUTVA"), rd("wakes"),
                             _params(t_unit=c["t_unit"], estimation=c["estimation"]))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_summary_text_equals_r_reference(name):
    r = _ref_result(name)
    expected = (FIX / "ref" / f"{name}__summary.txt").read_text()
    assert r.summary_text(detailed=True) == expected
    unit = CONFIGS[name]["t_unit"]
    empty = r.summary(detailed=True)
    assert len(empty) == 0
    assert list(empty.columns) == [f"Time[{unit}]", "Space[km]", "EffectSize", "p.value",
                                   "adj.Rsquared", "%treat", "L1metric", "%supp", "%S0", "%MO"]


def test_ref_summary_significant_after_raising_alpha():
    # syn_days_unw: p = 0.1309 at (2, 9) is the smallest; alpha1 = 0.15 selects exactly that window
    r = _ref_result("syn_days_unw")
    r.parameters["alpha1"] = 0.15
    out = r.summary(detailed=True)
    assert out[["Time[days]", "Space[km]"]].values.tolist() == [[2, 9]]
    assert out["EffectSize"].tolist() == [0.201]
    assert out["p.value"].tolist() == [0.131]
    assert out["adj.Rsquared"].tolist() == [0.256]


def test_format_r_table_scientific_and_na():
    df = pd.DataFrame({"a": [1.771583e-05, 0.5], "b": [NA, 2.0], "c": [-0.0, 12.25]})
    assert format_r_table(df) == (
        "             a  b     c\n"
        "1 1.771583e-05 NA  0.00\n"
        "2 5.000000e-01  2 12.25")


def test_to_dir_writes_all_files_atomically(tmp_path):
    r = readme_result()
    r.wakes = pd.DataFrame({"eventID": [3, 6], "t_window": [6, 6], "cov1": [0.5, 1.5]})
    r.incomplete = {6: [1, 2]}
    r.parameters["t_window"] = (6, 10, 2)
    r.parameters["weights"] = np.float64(0.5)
    out = r.to_dir(tmp_path / "res")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["estimates.csv", "incomplete.json", "matching.csv", "parameters.json",
                     "summary.txt", "sutva.csv", "wakes.parquet"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "estimates.csv"), r.estimates)
    pd.testing.assert_frame_equal(pd.read_csv(out / "matching.csv"), r.matching)
    pd.testing.assert_frame_equal(pd.read_csv(out / "sutva.csv"), r.sutva)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "wakes.parquet"), r.wakes)
    assert (out / "estimates.csv").read_text().splitlines()[2] == "6,10,NA,NA,NA,NA,NA"
    assert (out / "summary.txt").read_text() == r.summary_text(detailed=True)
    params = json.loads((out / "parameters.json").read_text())
    assert params["t_window"] == [6, 10, 2] and params["weights"] == 0.5
    assert json.loads((out / "incomplete.json").read_text()) == {"6": [1, 2]}


def test_to_dir_failure_leaves_no_partial_file(tmp_path):
    r = readme_result()
    r.wakes = pd.DataFrame({"eventID": [1]})
    r.parameters["bad"] = object()  # not JSON-serialisable
    with pytest.raises(TypeError):
        r.to_dir(tmp_path)
    assert not (tmp_path / "parameters.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
