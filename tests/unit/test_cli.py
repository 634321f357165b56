"""The ``matchedwake run`` command on the parity fixture input: outputs, and one-line errors."""
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")

import matchedwake  # noqa: E402
import matchedwake.api  # noqa: E402
from matchedwake import MWASpec  # noqa: E402
from matchedwake.cli import ConfigError, load_spec, main  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mwa_parity"
EVENTS = FIX / "synth_events.csv"
CFG = {c["name"]: c for c in json.loads((FIX / "configs.json").read_text())}["syn_days"]
ARGS = {k: v for k, v in CFG.items() if k not in ("name", "input")}
ALLOWED = ", ".join(MWASpec.field_names())


def _write(tmp_path, cfg) -> Path:
    p = tmp_path / "analysis.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _one_line_error(err: str) -> str:
    """The single stderr line of a failed run (no traceback, no warnings), without its prefix."""
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("matchedwake: error: ")
    return lines[0][len("matchedwake: error: "):]


def _refuse_to_run(monkeypatch):
    """Make the analysis itself fail loudly, to prove an error came before it."""
    def boom(*a, **k):
        raise AssertionError("the analysis must not run")
    monkeypatch.setattr(matchedwake.api, "matched_wake", boom)


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
    res = matchedwake.matched_wake(data, spec=MWASpec.from_mapping(ARGS))
    got = pd.read_csv(out / "estimates.csv")
    pd.testing.assert_frame_equal(got.drop(columns="na_reason"), res.estimates.drop(columns="na_reason"))
    assert got["na_reason"].fillna("").tolist() == res.estimates["na_reason"].fillna("").tolist()
    pd.testing.assert_frame_equal(pd.read_csv(out / "matching.csv"), res.matching, check_dtype=False)
    # the parity reference agrees with what the command wrote (R's columns, then na_reason)
    ref = pd.read_csv(FIX / "ref" / "syn_days__estimates.csv")
    assert list(got.columns) == list(ref.columns) + ["na_reason"]
    pd.testing.assert_frame_equal(got[ref.columns], ref, check_dtype=False, rtol=1e-9, atol=1e-12)
    assert got["na_reason"].notna().tolist() == ref["estimate"].isna().tolist()
    assert (out / "summary.txt").read_text() == (FIX / "ref" / "syn_days__summary.txt").read_text()
    params = json.loads((out / "parameters.json").read_text())
    assert {k: v for k, v in params.items() if k != "run"} == MWASpec.from_mapping(ARGS).to_dict()
    assert params["t_window"] == [3, 15, 3] and params["tcm"] is True and params["weighted"] is True
    assert params["run"]["n_events"] == 228 and params["run"]["n_windows"] == 25
    captured = capsys.readouterr()
    assert "could not identify any space and time windows" in captured.out
    # warnings are single lines; the per-window ones are folded into the summary warning
    assert captured.err.splitlines() == [line for line in captured.err.splitlines()
                                         if line.startswith("matchedwake: warning: ")]
    assert "matchedwake: warning: 19 of 25 windows have NA estimates (column na_reason)" in captured.err
    assert "window t=" not in captured.err


def test_vcov_and_cluster_column_work_from_the_yaml(tmp_path, capsys):
    events = pd.read_csv(EVENTS, dtype={"timestamp": str})
    events["district"] = (events["lon"] * 40).round().astype(int) % 4  # four bands of longitude
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    cfg = dict(ARGS, vcov="cluster", cluster_column="district")
    rc = main(["run", str(path), "--config", str(_write(tmp_path, cfg)), "--out", str(tmp_path / "o"),
               "--no-progress", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    params = json.loads((tmp_path / "o" / "parameters.json").read_text())
    assert (params["vcov"], params["cluster_column"]) == ("cluster", "district")
    got = pd.read_csv(tmp_path / "o" / "estimates.csv")
    ref = pd.read_csv(FIX / "ref" / "syn_days__estimates.csv")  # classical standard errors (R)
    both = got["pvalue"].notna() & ref["pvalue"].notna()
    assert both.sum() >= 3
    np.testing.assert_allclose(got.loc[both, "estimate"], ref.loc[both, "estimate"], rtol=1e-9)  # same fit
    assert (np.abs(got.loc[both, "pvalue"] - ref.loc[both, "pvalue"]) > 1e-6).all()  # other SEs


def test_unknown_key_is_rejected_before_anything_runs(tmp_path, capsys, monkeypatch):
    _refuse_to_run(monkeypatch)
    cfg_path = _write(tmp_path, dict(ARGS, weigthed=True))
    rc = main(["run", str(EVENTS), "--config", str(cfg_path), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"{cfg_path}: weigthed: unknown key; allowed: {ALLOWED}; did you mean 'weighted'?")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, message", [
    ({"t_window": [3, 15]}, r"t_window: must be a \(min, max, step\) triple"),
    ({"t_window": [3, 15, 5]}, r"t_window: step 5 does not divide the range 3\.\.15"),
    ({"spat_window": [0, 0, 0]}, r"spat_window: radii must be positive"),
    ({"treatment": "type"}, r"treatment: must be a \(column, value\) pair"),
    ({"control": ["type", "treatment"]}, r"control: equals treatment"),
    ({"dependent": ["type", "control"]}, r"dependent: equals control"),
    ({"tcm": "yes please"}, "tcm: must be true or false"),
    ({"alpha1": 5}, "alpha1: must be a number strictly between 0 and 1"),
    ({"alpha1": float("inf")}, "alpha1: must be a number strictly between 0 and 1, got inf"),
    ({"t_window": [3, float("inf"), 3]}, "t_window: values must be finite"),
    ({"match_columns": [1, 2]}, "match_columns: column names must be non-empty strings"),
    ({"match_columns": "cov1"}, "match_columns: must be a list of column names, not the single string"),
    ({"vcov": "cluster"}, "cluster_column: vcov='cluster' needs cluster_column"),
    ({"t_window": [2, 401, 1], "spat_window": [1, 10, 1]}, "max_windows: the grid has 4,000 windows"),
])
def test_malformed_values(tmp_path, change, message):
    path = _write(tmp_path, dict(ARGS, **change))
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        load_spec(path)


def test_missing_required_key(tmp_path):
    path = _write(tmp_path, {k: v for k, v in ARGS.items() if k != "match_columns"})
    with pytest.raises(ConfigError, match=rf"^{path}: missing required key\(s\) match_columns$"):
        load_spec(path)


def test_config_becomes_a_spec(tmp_path):
    spec = load_spec(_write(tmp_path, dict(ARGS, estimation_controls=None, max_windows=30)))
    assert isinstance(spec, MWASpec)
    assert spec.t_window == (3, 15, 3) and spec.treatment == ("type", "treatment")
    assert spec.match_columns == ("cov1", "cov2", "cov3") and spec.estimation_controls == ()
    assert spec.max_windows == 30


def test_config_that_is_not_yaml_or_not_utf8(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("t_window: [3, 15, 3\nspat_window: [2, 10, 2]\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: not valid YAML \(line 2, column 12\): expected ',' or ']'"):
        load_spec(bad)
    bad.write_bytes("dependent: [type, défaut]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"^{bad}: not UTF-8 text \(byte 0xe9 on line 1\); it is probably "
                                          "Latin-1"):
        load_spec(bad)
    bad.write_text("vcov: HC1\nweighted: true\nvcov: classical\n")  # PyYAML alone keeps the last silently
    with pytest.raises(ConfigError, match=rf"^{bad}: key 'vcov' appears twice \(lines 1 and 3\); keep one$"):
        load_spec(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of analysis options at the top level, got list"):
        load_spec(bad)


def test_latin1_events_file_is_one_line_with_the_fix(tmp_path, capsys, monkeypatch):
    text = EVENTS.read_text(encoding="utf-8").splitlines()
    text[0] += ",place"
    text[1:] = [line + ",Ségou" if i == 2 else line + ",Mopti" for i, line in enumerate(text[1:], start=1)]
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join(text) + "\n").encode("latin-1"))
    cfg = str(_write(tmp_path, ARGS))
    with monkeypatch.context() as m:
        _refuse_to_run(m)
        rc = main(["run", str(path), "--config", cfg, "--out", str(tmp_path / "o")])
    assert rc == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"cannot read events {path}: not utf-8 text (byte 0xe9 on line 3); it is probably Latin-1 or "
        f"Windows-1252: convert it to UTF-8 (iconv -f latin1 -t utf-8 {path}) or pass --encoding latin-1")
    rc = main(["run", str(path), "--config", cfg, "--out", str(tmp_path / "o"), "--encoding", "latin-1",
               "--quiet", "--no-progress"])
    assert rc == 0
    assert (tmp_path / "o" / "estimates.csv").exists()


def test_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + EVENTS.read_bytes())  # as Excel writes "CSV UTF-8"
    rc = main(["run", str(path), "--config", str(_write(tmp_path, ARGS)), "--out", str(tmp_path / "o"),
               "--quiet", "--no-progress"])
    assert rc == 0, capsys.readouterr().err


def test_infinite_covariate_names_the_line(tmp_path, capsys):
    lines = EVENTS.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    line_no = next(i for i, line in enumerate(lines[1:], start=2) if line.startswith("treatment,"))
    fields = lines[line_no - 1].split(",")
    fields[header.index("cov1")] = "inf"
    lines[line_no - 1] = ",".join(fields)
    path = tmp_path / "inf.csv"
    path.write_text("\n".join(lines) + "\n")
    rc = main(["run", str(path), "--config", str(_write(tmp_path, ARGS)), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert _one_line_error(capsys.readouterr().err) == (
        f"1 treatment/control event(s) have missing or infinite covariate values: column 'cov1' at row "
        f"{line_no}: inf (fill them, or set drop_invalid to leave these events out of the wakes) (rows are "
        f"line numbers of {path})")
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_refused_before_the_analysis(tmp_path, capsys, monkeypatch):
    _refuse_to_run(monkeypatch)
    cfg = str(_write(tmp_path, ARGS))
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    assert main(["run", str(EVENTS), "--config", cfg, "--out", str(target)]) == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"--out {target}: exists and is not a directory; choose a directory path")
    assert main(["run", str(EVENTS), "--config", cfg, "--out", str(target / "sub" / "dir")]) == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"--out {target / 'sub' / 'dir'}: cannot create it, {target} is a file")
    assert target.read_text() == "keep me\n"


def test_engine_error_is_reported(tmp_path, capsys):
    cfg = dict(ARGS, match_columns=["no_such_column"])
    rc = main(["run", str(EVENTS), "--config", str(_write(tmp_path, cfg)), "--out",
               str(tmp_path / "o")])
    assert rc == 1
    assert _one_line_error(capsys.readouterr().err) == "match_columns: column 'no_such_column' is not in data"


def test_missing_events_file(tmp_path, capsys):
    rc = main(["run", str(tmp_path / "nope.csv"), "--config", str(_write(tmp_path, ARGS)),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"cannot read events {tmp_path / 'nope.csv'}: No such file or directory")


def test_unexpected_error_is_one_line_unless_traceback(tmp_path, capsys, monkeypatch):
    def crash(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(matchedwake.api, "matched_wake", crash)
    argv = ["run", str(EVENTS), "--config", str(_write(tmp_path, ARGS)), "--out", str(tmp_path / "o")]
    assert main(argv) == 3
    assert _one_line_error(capsys.readouterr().err) == (
        "unexpected RuntimeError: boom (rerun with --traceback and report it)")
    with pytest.raises(RuntimeError, match="boom"):
        main(argv + ["--traceback"])
