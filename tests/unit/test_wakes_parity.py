"""The wakes table against R mwa 0.5.0 on the parity fixtures (tests/fixtures/mwa_parity)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchedwake.wakes import drop_sutva_violations, sliding_wake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
CONFIGS = json.loads((FIXTURES / "configs.json").read_text())
EXACT = ["eventID", "t_window", "spat_window", "treatment", "dependent_pre", "dependent_trend",
         "SO_pre", "MO_pre", "dependent_post", "SO_post", "MO_post"]


def read_ref(path: Path) -> pd.DataFrame:
    """R's CSV as exact doubles (every field is quoted, numbers printed with %.17g)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return raw.apply(lambda col: col.map(lambda v: np.nan if v == "NA" else float(v)))


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c["name"] for c in CONFIGS])
def test_sliding_wake_reproduces_r_wakes(cfg):
    data = pd.read_csv(FIXTURES / cfg["input"], dtype={"timestamp": str})
    wakes, incomplete = sliding_wake(
        data, tuple(cfg["t_window"]), tuple(cfg["spat_window"]), tuple(cfg["treatment"]),
        tuple(cfg["control"]), tuple(cfg["dependent"]), cfg["match_columns"],
        t_unit=cfg["t_unit"], estimation_controls=tuple(cfg["estimation_controls"]))
    if cfg["delete_sutva"]:
        wakes = drop_sutva_violations(wakes)
    ref = read_ref(FIXTURES / "ref" / f"{cfg['name']}__wakes.csv")
    assert list(wakes.columns) == list(ref.columns)
    assert len(wakes) == len(ref)
    for col in EXACT:
        np.testing.assert_array_equal(wakes[col].to_numpy(dtype=float), ref[col].to_numpy(),
                                      err_msg=col)
    for col in ref.columns[len(EXACT):]:
        np.testing.assert_allclose(wakes[col].to_numpy(dtype=float), ref[col].to_numpy(),
                                   rtol=1e-12, atol=0, err_msg=col)
    # Every (wake, t) pair is either in the table (for each s) or listed as incomplete.
    n_wakes = int(((data["type"] == "treatment") | (data["type"] == "control")).sum())
    for t, ids in incomplete.items():
        kept = wakes.loc[wakes["t_window"] == t, "eventID"].unique()
        if not cfg["delete_sutva"]:
            assert len(kept) + len(ids) == n_wakes
        assert not set(kept) & set(ids)


def test_parity_fixture_row_order_is_space_then_time_then_event():
    cfg = next(c for c in CONFIGS if c["name"] == "syn_days")
    data = pd.read_csv(FIXTURES / cfg["input"], dtype={"timestamp": str})
    wakes, _ = sliding_wake(data, tuple(cfg["t_window"]), tuple(cfg["spat_window"]),
                            tuple(cfg["treatment"]), tuple(cfg["control"]),
                            tuple(cfg["dependent"]), cfg["match_columns"])
    key = wakes[["spat_window", "t_window", "eventID"]].to_numpy()
    assert (np.lexsort(key.T[::-1]) == np.arange(len(key))).all()


def test_drop_sutva_violations_is_per_row_and_keeps_row_labels():
    wakes = pd.DataFrame({"eventID": [5, 5, 9], "SO_pre": [0, 1, 0], "MO_pre": [0, 0, 2]},
                         index=[10, 11, 12])
    kept = drop_sutva_violations(wakes)
    assert kept.index.tolist() == [10] and kept["eventID"].tolist() == [5]
