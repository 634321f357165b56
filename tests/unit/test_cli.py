"""The ``matchedwake run`` command on the parity fixture input."""
import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")

import matchedwake  # noqa: E402
from matchedwake.cli import load_config, main  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
EVENTS = FIX / "synth_events.csv"
CFG = {c["name"]: c for c in json.loads((FIX / "configs.json").read_text())}["syn_days"]
ARGS = {k: v for k, v in CFG.items() if k not in ("name", "input")}


def _write(tmp_path, cfg) -> Path:
    p = tmp_path / "analysis.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_run_writes_all_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(EVENTS), "--config", str(_write(tmp_path, ARGS)), "--out", str(out),
               "--no-progress"])
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"estimates.csv", "matching.csv", "sutva.csv", "wakes.parquet", "summary.txt",
            "parameters.json", "heatmap_r.png", "heatmap_tiles.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    for png in ("heatmap_r.png", "heatmap_tiles.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = pd.read_csv(EVENTS, dtype={"timestamp": str})
    kw = dict(ARGS)
    for k in ("t_window", "spat_window", "treatment", "control", "dependent"):
        kw[k] = tuple(kw[k])
    res = matchedwake.matched_wake(data, **kw)
    pd.testing.assert_frame_equal(pd.read_csv(out / "estimates.csv"), res.estimates)
    pd.testing.assert_frame_equal(pd.read_csv(out / "matching.csv"), res.matching,
                                  check_dtype=False)
    # the parity reference agrees with what the command wrote
    ref = pd.read_csv(FIX / "ref" / "syn_days__estimates.csv")
    got = pd.read_csv(out / "estimates.csv")
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, rtol=1e-9, atol=1e-12)
    assert (out / "summary.txt").read_text() == (FIX / "ref" / "syn_days__summary.txt").read_text()
    params = json.loads((out / "parameters.json").read_text())
    assert params["t_window"] == [3, 15, 3] and params["tcm"] is True and params["weighted"] is True
    printed = capsys.readouterr().out
    assert "could not identify any space and time windows" in printed


def test_unknown_key_is_rejected(tmp_path, capsys):
    cfg = dict(ARGS, weigthed=True)
    rc = main(["run", str(EVENTS), "--config", str(_write(tmp_path, cfg)), "--out",
               str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown key(s) 'weigthed' (did you mean 'weighted'?)" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, message", [
    ({"t_window": [3, 15]}, "t_window: expected [min, max, step]"),
    ({"treatment": "type"}, "treatment: expected [column, value]"),
    ({"tcm": "yes please"}, "tcm: expected true or false"),
    ({"alpha1": 5}, "alpha1: expected a number between 0 and 1"),
    ({"match_columns": [1, 2]}, "match_columns: expected a list of column names"),
])
def test_malformed_values(tmp_path, change, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        load_config(_write(tmp_path, dict(ARGS, **change)))


def test_missing_required_key(tmp_path):
    cfg = {k: v for k, v in ARGS.items() if k != "match_columns"}
    with pytest.raises(ValueError, match="missing required key"):
        load_config(_write(tmp_path, cfg))


def test_config_is_converted_for_the_engine(tmp_path):
    cfg = load_config(_write(tmp_path, dict(ARGS, match_columns="cov1", estimation_controls=None)))
    assert cfg["t_window"] == (3, 15, 3) and cfg["treatment"] == ("type", "treatment")
    assert cfg["match_columns"] == ["cov1"] and cfg["estimation_controls"] == ()


def test_engine_error_is_reported(tmp_path, capsys):
    cfg = dict(ARGS, match_columns=["no_such_column"])
    rc = main(["run", str(EVENTS), "--config", str(_write(tmp_path, cfg)), "--out",
               str(tmp_path / "o")])
    assert rc == 1
    assert "no_such_column" in capsys.readouterr().err


def test_missing_events_file(tmp_path, capsys):
    rc = main(["run", str(tmp_path / "nope.csv"), "--config", str(_write(tmp_path, ARGS)),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "cannot read events" in capsys.readouterr().err
