"""The UN Peace and Security Data Hub client (QIPs) against a local hub of the real shape.

The fake hub (tests/unit/fake_psdh.py) follows psdata.un.org "API structure" and the fixtures of
OCHA-DAP/hdx-scraper-peacesecurity (metadata/all records, epoch-ms JSON dates, ISO CSV dates).
"""

from __future__ import annotations

import csv
import io
import json
import logging

import numpy as np
import pandas as pd
import pytest
from fake_psdh import QIP_COLUMN_FORMATS, Hub, metadata_record, qip_record
from local_http import LocalServer, sequence

from qipstudy.prepare import read_qips
from qipstudy.retrieve import psdh, retrieve_dataset
from qipstudy.retrieve.http import CorruptFileError, EmptyResultError, RetrieveError, SchemaError

COUNTRY = {"iso3": "MLI", "iso2": "ML", "name": "Mali", "mission": "MINUSMA",
           "sources": {"qip_mission": "MINUSMA"}}
FAST = {"retries": 2, "backoff": 0.001, "progress": False, "timeout": 5}

QIPS = [
    qip_record(1, ref="MINUSMA-2018-001"),
    qip_record(2, ref="MINUSMA-2018-002", sites=(None, (16.2666, -0.04, "Gao"))),  # first site empty
    qip_record(3, ref="MINUSMA-2018-003", amount=20000.0, category="Rule of Law",
               sites=((16.7735, -3.0074, "Tombouctou"), None, (15.0019, -2.9498, "Douentza"))),
    qip_record(4, ref="MINUSMA-2018-004", amount=5000.0, sites=()),  # no site at all: kept, not located
    qip_record(5, ref="MINUSMA-1969-005", start="1969-12-31", end="1970-01-02", amount=None),  # epoch ms < 0
    qip_record(6, ref="MINUSMA-2019-006", start="2019-07-04", amount=12000.5, activity="Training/workshops"),
    qip_record(7, ref="MONUSCO-2018-001", mission="MONUSCO", sites=((-1.67, 29.22, "Goma"),)),
    qip_record(8, ref="MINUSCA-2018-001", mission="MINUSCA", sites=((4.36, 18.55, "Bangui"),)),
]
QIP_META = metadata_record("DPO-QIP", "Quick Impact Projects", QIP_COLUMN_FORMATS)
OTHER_META = metadata_record("DPO-PKBUDGET", "Peacekeeping budgets", {"mission": "String", "budget": "Currency"})


def hub(records=QIPS, meta=QIP_META, **quirks):
    return Hub({"DPO-QIP": (meta, records), "DPO-PKBUDGET": (OTHER_META, [])}, **quirks)


def download(srv, tmp_path, name="qip", **options):
    return retrieve_dataset("qip", "download", country=COUNTRY,
                            options={**FAST, "base_url": srv.url + "/public", **options},
                            out_dir=tmp_path / name, version="v")


def qips_csv(tmp_path, name="qip"):
    with open(tmp_path / name / "qips.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_json_pages_give_one_row_per_qip_at_its_first_located_site(tmp_path):
    with LocalServer(hub().routes()) as srv:
        prov = download(srv, tmp_path, per_page=3)
    assert [r["path"] for r in srv.log] == ["/public/metadata/all"] + ["/public/data/DPO-QIP/json"] * 3
    assert [r["query"]["page_num"] for r in srv.log[1:]] == ["1", "2", "3"]
    rows = {r["ref"]: r for r in qips_csv(tmp_path)}
    assert list(rows) == ["MINUSMA-2018-001", "MINUSMA-2018-002", "MINUSMA-2018-003", "MINUSMA-2018-004",
                          "MINUSMA-1969-005", "MINUSMA-2019-006"]  # other missions dropped, hub order kept
    first = rows["MINUSMA-2018-001"]
    assert (first["start_date"], first["end_date"]) == ("2018-01-15", "2018-06-30")  # epoch ms -> ISO
    assert (first["latitude"], first["longitude"], first["location"]) == ("14.4843", "-4.183", "Mopti")
    assert (rows["MINUSMA-2018-002"]["latitude"], rows["MINUSMA-2018-002"]["location_slot"]) == ("16.2666", "2")
    three = rows["MINUSMA-2018-003"]
    assert (three["location"], three["location_slot"], three["n_located_sites"]) == ("Tombouctou", "1", "2")
    assert (rows["MINUSMA-2018-004"]["latitude"], rows["MINUSMA-2018-004"]["n_located_sites"]) == ("", "0")
    assert rows["MINUSMA-1969-005"]["start_date"] == "1969-12-31"  # -86400000 ms
    assert rows["MINUSMA-2019-006"]["amount_disbursed"] == "12000.5"
    assert first["latitude3"] == "" and first["project_status"] == "Completed"  # hub columns kept
    doc = json.loads(prov.read_text())
    assert doc["notes"]["rows"] == 6 and doc["notes"]["rows_with_coordinates"] == 5
    assert doc["notes"]["qips_with_several_sites"] == 1 and doc["notes"]["rows_other_missions"] == 2
    assert doc["sources"][0]["last_update"] == "2024-05-02"
    q = read_qips(tmp_path / "qip" / "qips.csv").set_index("event_id")
    assert q.loc["MINUSMA-2018-002", "lat"] == 16.2666 and np.isnan(q.loc["MINUSMA-2018-004", "lat"])
    assert q["funding_usd"].sum() == 45000 * 2 + 20000 + 5000 + 12000.5  # -005 has no amount


def test_csv_format_gives_the_same_qip_table_as_json(tmp_path):
    with LocalServer(hub().routes()) as srv:
        download(srv, tmp_path, "j", per_page=4)
        download(srv, tmp_path, "c", per_page=4, format="csv")
    assert {r["path"] for r in srv.log} >= {"/public/data/DPO-QIP/csv", "/public/data/DPO-QIP/json"}
    pd.testing.assert_frame_equal(read_qips(tmp_path / "j" / "qips.csv"), read_qips(tmp_path / "c" / "qips.csv"))


def test_csv_pages_whose_column_order_changes_are_matched_by_name(tmp_path):
    with LocalServer(hub(shuffle_csv_columns=True).routes()) as srv:
        download(srv, tmp_path, per_page=2, format="csv")
    rows = {r["ref"]: r for r in qips_csv(tmp_path)}
    # MINUSMA-2018-003 and -004 come on page 2, whose columns are reversed: latitude stays latitude
    assert (rows["MINUSMA-2018-003"]["latitude"], rows["MINUSMA-2018-003"]["longitude"]) == ("16.7735", "-3.0074")
    assert rows["MINUSMA-2019-006"]["activity_type"] == "Training/workshops"


def test_schema_drift_in_the_metadata_stops_before_any_data_is_fetched(tmp_path):
    formats = {("amount_spent" if c == "amount_disbursed" else c): f for c, f in QIP_COLUMN_FORMATS.items()}
    with LocalServer(hub(meta=metadata_record("DPO-QIP", "Quick Impact Projects", formats)).routes()) as srv:
        with pytest.raises(SchemaError, match=r"DPO-QIP metadata: missing column\(s\) amount_disbursed .*`columns`"):
            download(srv, tmp_path)
        assert [r["path"] for r in srv.log] == ["/public/metadata/all"]
        # the mapping option names the new column, and the data then passes
        records = [{("amount_spent" if k == "amount_disbursed" else k): v for k, v in r.items()} for r in QIPS]
        srv.routes.update(hub(records, meta=metadata_record("DPO-QIP", "QIPs", formats)).routes())
        download(srv, tmp_path, "mapped", columns={"amount_disbursed": "amount_spent"})
    assert qips_csv(tmp_path, "mapped")[0]["amount_disbursed"] == "45000.0"


def test_unknown_dataset_id_is_named_with_the_closest_hub_ids(tmp_path):
    with LocalServer(hub().routes()) as srv:
        with pytest.raises(SchemaError, match=r"lists no dataset 'DPO-QIPS' \(2 datasets\); did you mean DPO-QIP"):
            download(srv, tmp_path, dataset_id="DPO-QIPS")


def test_hub_ignoring_page_num_is_an_error_not_an_endless_loop(tmp_path):
    with LocalServer(hub(ignore_page_num=True).routes()) as srv:
        with pytest.raises(RetrieveError, match=r"page 2 repeats page 1: the hub ignores `page_num`"):
            download(srv, tmp_path, per_page=3)
    assert len(srv.log) == 3


def test_hub_ignoring_per_page_sends_everything_which_is_accepted(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="qipstudy.retrieve"), LocalServer(
            hub(ignore_per_page=True).routes()) as srv:
        download(srv, tmp_path, per_page=3)
    assert len(qips_csv(tmp_path)) == 6 and len(srv.log) == 2
    assert "the hub ignored paging" in caplog.text


def test_server_error_is_retried_and_a_truncated_page_is_refused(tmp_path):
    routes = hub().routes()
    good = routes["/public/data/DPO-QIP/csv"]
    routes["/public/data/DPO-QIP/csv"] = sequence({"status": 503, "body": "busy"}, good)
    with LocalServer(routes) as srv:
        download(srv, tmp_path, format="csv")
        assert len(qips_csv(tmp_path)) == 6
        srv.routes["/public/data/DPO-QIP/csv"] = lambda req: {**good(req), "body": good(req)["body"][:-60]}
        with pytest.raises(CorruptFileError, match="truncated or malformed CSV from DPO-QIP page 1"):
            download(srv, tmp_path, "cut", format="csv")
    assert not (tmp_path / "cut" / "qips.csv").exists()


def test_a_mission_without_qips_names_the_missions_present(tmp_path):
    with LocalServer(hub().routes()) as srv:
        with pytest.raises(EmptyResultError, match=r"no QIPs of mission 'UNMISS' among 8 rows \(missions present: "
                                                   r"MINUSCA, MINUSMA, MONUSCO\)"):
            download(srv, tmp_path, mission="UNMISS")


def test_a_qip_list_without_any_located_site_fails_at_retrieve(tmp_path):
    records = [qip_record(i, ref=f"Q{i}", sites=()) for i in range(3)]
    with LocalServer(hub(records).routes()) as srv:
        with pytest.raises(SchemaError, match=r"none of the 3 QIPs has coordinates \(sites 1-5 are all empty\)"):
            download(srv, tmp_path)


# ----------------------------------------------------------------------------- user files

# The paper's prepared QIP file: these columns, a UTF-8 BOM, ISO start dates, dd.mm.yy end dates,
# non-breaking spaces in numbers and rows without latitude (the paper's replication file, as described in README "The real reproduction").
PREPARED_HEADER = ["ref", "event_type", "start_date", "end_date", "category", "activity_type",
                   "implementing_partner_type", "latitude", "longitude", "total_beneficiaries", "beneficiary_type1",
                   "amount_disbursed", "sector_code", "sector_group", "description"]
PREPARED_ROWS = [
    ["MINUSMA-17-001", "qip", "2017-03-01", "30.06.17", "Early recovery", "Infrastructure & equipment", "NGO",
     "14.4843", "-4.1830\u00a0", "1\u00a0200", "Women", "45\u00a0000", "", "", "Well"],
    ["MINUSMA-17-002", "qip", "2017-05-10", "31.12.17", "Rule of Law", "Training/workshops", "Government",
     "", "-0.0400", "300", "Youth", "12\u00a0500", "", "", "Training"],
    ["MINUSMA-18-003", "qip", "2018-02-01", "01.08.18", "Other", "Other", "NGO",
     "16.7735", "-3.0074", "50", "", "1,000", "", "", "Stadium"],
]


def write_text(path, header, rows, *, bom=True):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *rows])
    path.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8")
    return path


def test_the_papers_prepared_file_passes_as_it_comes(tmp_path):
    src = write_text(tmp_path / "QIPs_Mali.csv", PREPARED_HEADER, PREPARED_ROWS)
    prov = retrieve_dataset("qip", "user", country=COUNTRY, options={}, out_dir=tmp_path / "q", user_path=src)
    notes = json.loads(prov.read_text())["notes"]
    assert notes["rows"] == 3 and notes["rows_with_coordinates"] == 2 and notes["mission_column"] is False
    rows = qips_csv(tmp_path, "q")
    assert [r["mission"] for r in rows] == ["MINUSMA"] * 3  # no mission column: the country's mission
    assert rows[0]["longitude"] == "-4.1830\u00a0" and rows[0]["description"] == "Well"  # text kept as it came
    q = read_qips(tmp_path / "q" / "qips.csv")
    assert q["funding_usd"].tolist() == [45000.0, 12500.0, 1000.0]
    assert q["lon"].iloc[0] == -4.183 and np.isnan(q["lat"].iloc[1])


def test_a_hub_csv_export_as_user_file_follows_the_first_site_rule(tmp_path):
    header = list(QIPS[0])
    rows = [["" if r[c] is None else str(r[c]) for c in header] for r in QIPS]
    src = write_text(tmp_path / "dpo-qip.csv", header, rows, bom=False)
    retrieve_dataset("qip", "user", country=COUNTRY, options={}, out_dir=tmp_path / "q", user_path=src)
    rows = {r["ref"]: r for r in qips_csv(tmp_path, "q")}
    assert len(rows) == 6 and rows["MINUSMA-2018-002"]["location_slot"] == "2"
    # the hub's JSON download saved as a file: epoch-ms dates converted the same way
    src = tmp_path / "dpo-qip.json"
    src.write_text(json.dumps([{**r, "start_date": -86400000} for r in QIPS[:1]]), encoding="utf-8")
    retrieve_dataset("qip", "user", country=COUNTRY, options={}, out_dir=tmp_path / "j", user_path=src)
    assert qips_csv(tmp_path, "j")[0]["start_date"] == "1969-12-31"


def test_user_file_errors_name_the_file_the_columns_and_the_fix(tmp_path):
    header = ["Project code", "Start", "category", "activity_type", "Lat", "Lon", "amount_disbursed"]
    src = write_text(tmp_path / "mine.csv", header, [["Q1", "2018-01-01", "Other", "Other", "14.5", "-4.2", "10"]])
    with pytest.raises(SchemaError, match=r"QIP file .*mine\.csv: missing QIP column\(s\) ref, start_date, "
                                          r"latitude/longitude .*datasets\.qip\.options\.columns"):
        retrieve_dataset("qip", "user", country=COUNTRY, options={}, out_dir=tmp_path / "q", user_path=src)
    mapping = {"ref": "Project code", "start_date": "Start", "latitude": "Lat", "longitude": "Lon"}
    retrieve_dataset("qip", "user", country=COUNTRY, options={"columns": mapping}, out_dir=tmp_path / "q",
                     user_path=src)
    assert read_qips(tmp_path / "q" / "qips.csv")["lat"].tolist() == [14.5]
    with pytest.raises(SchemaError, match=r"maps 'latitude' to 'Latitude', which the file does not have"):
        retrieve_dataset("qip", "user", country=COUNTRY, options={"columns": {**mapping, "latitude": "Latitude"}},
                         out_dir=tmp_path / "q2", user_path=src)


def test_lenient_numbers():
    assert psdh.lenient_number("45\u00a0000") == 45000
    assert psdh.lenient_number("-4,18", comma="decimal") == -4.18
    assert psdh.lenient_number("15,349,350") == 15349350
    assert np.isnan(psdh.lenient_number("n/a")) and np.isnan(psdh.lenient_number(""))
    assert np.isnan(psdh.lenient_number("null"))


def test_epoch_milliseconds_as_the_hub_writes_them():
    # OCHA-DAP/hdx-scraper-peacesecurity fixtures: -678153600000 is 1948-07-06, 1701129600000 is 2023-11-28
    assert psdh.epoch_ms_to_date(-678153600000) == "1948-07-06"
    assert psdh.epoch_ms_to_date(1701129600000) == "2023-11-28"
    assert psdh.epoch_ms_to_date(None) == "" and psdh.epoch_ms_to_date("2020-01-01") == "2020-01-01"
