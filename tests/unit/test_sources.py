"""Which inputs each output rests on: the registry, its resolution against a run's modes, the sidecar."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qipstudy.sources import input_status, read_sources, sources_of, synthetic_note, write_sources

DATASETS = ("acled", "ucdp", "qip", "iati", "boundaries", "osm", "nightlights", "population", "worldpop", "awsd",
            "un_fatalities")


def test_outputs_resolve_against_the_run_modes_and_the_outcome_source():
    modes = {d: "synthetic" for d in DATASETS} | {"qip": "user", "ucdp": "download"}
    assert sources_of("table1_qip_funding_by_activity_type", modes) == {"qip": {"mode": "user"}}
    got = sources_of("significant_windows_battles", modes, outcome_source="ucdp")
    assert set(got) == {"qip", "iati", "ucdp", "boundaries", "osm", "nightlights", "population"}
    assert got["ucdp"] == {"mode": "download"}
    assert "acled" in sources_of("heatmap_r_style_civilians", modes)  # the default outcome source
    assert list(sources_of("figure1_attacks", modes)) == ["awsd", "un_fatalities"]
    # the robustness windows table matches its own, more specific template
    assert list(sources_of("robustness_windows_civilians", modes))[-2:] == ["ucdp", "worldpop"]


def test_config_blocks_keep_mode_version_and_user_file_but_not_options():
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "sauter2022.yaml").read_text())
    got = sources_of("figure1_attacks", config["datasets"])
    assert got == {"awsd": {"mode": "user", "version": "user", "user_file": "resources/user/sauter2022/security_incidents.csv"},
                   "un_fatalities": {"mode": "download", "version": "snapshot-2026-11"}}


def test_bad_registry_lookups_and_modes_are_clear_errors():
    modes = {d: "synthetic" for d in DATASETS}
    with pytest.raises(KeyError, match="output 'figure9_unknown' is not in qipstudy.sources.OUTPUT_DATASETS"):
        sources_of("figure9_unknown", modes)
    with pytest.raises(ValueError, match=r"figure1_attacks: no mode for dataset 'awsd' \(config datasets.awsd.mode\)"):
        sources_of("figure1_attacks", {"un_fatalities": "download"})
    with pytest.raises(ValueError, match="dataset 'qip': mode 'real' is not one of download, user, synthetic"):
        sources_of("table1_qip_funding_by_activity_type", {"qip": "real"})
    with pytest.raises(ValueError, match="outcome_source must be 'acled' or 'ucdp'"):
        sources_of("figure4_map", modes, outcome_source="gdelt")


def test_status_and_labels():
    assert input_status({"qip": "download", "acled": "user"}) == "real"
    assert input_status({"qip": "synthetic"}) == "synthetic"
    assert input_status({"qip": "user", "osm": "synthetic"}) == "partly synthetic"
    assert input_status(None) == "not recorded"
    assert synthetic_note({"qip": "download"}) == ""
    assert synthetic_note({"qip": "user", "osm": "synthetic"}) == (
        "PARTLY SYNTHETIC: osm from the built-in synthetic world; real: qip. Numbers that depend on synthetic "
        "inputs are not real.")


def test_sidecar_round_trip_and_missing_sidecar(tmp_path):
    path = write_sources(tmp_path / "figure4_map", {"qip": {"mode": "user", "version": "v1"}, "osm": "synthetic"})
    assert path.name == "figure4_map.sources.json"
    record = json.loads(path.read_text())
    assert record == {"output": "figure4_map", "status": "partly synthetic", "synthetic": ["osm"], "real": ["qip"],
                      "inputs": {"osm": {"mode": "synthetic"}, "qip": {"mode": "user", "version": "v1"}}}
    assert read_sources(tmp_path / "figure4_map.png") == read_sources(path) == record["inputs"]
    with pytest.raises(FileNotFoundError, match="table2.sources.json: no sources sidecar"):
        read_sources(tmp_path / "table2.csv")
    (tmp_path / "broken.sources.json").write_text("{}")
    with pytest.raises(ValueError, match="not a sources sidecar"):
        read_sources(tmp_path / "broken.sources.json")
