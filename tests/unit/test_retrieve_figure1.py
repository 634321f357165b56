"""Figure 1 inputs: the AWSD export and the UN fatalities table, downloaded and as user files.

Shapes: the AWSD CSV export has the columns `Incident ID, Year, Month, Day, Country Code, Country,
Region, District, City, UN, INGO, ..., Total affected, ..., Details, Verified, Source` and an HXL
hashtag row as its second row (`#event+id,#date+year,...`; HXL tagging conventions: the hashtag row
sits between the header and the data and may leave columns untagged; observed in public AWSD
readers that skip it). The hub's DPPADPOSS-FATALITIES and the older export: see fake_psdh.py and
qipstudy.retrieve.figure1.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from awsd_format import AWSD_HEADER, AWSD_HXL
from fake_psdh import FATALITY_COLUMN_FORMATS, Hub, fatality_record, metadata_record
from local_http import LocalServer

from qipstudy.retrieve import figure1, retrieve_dataset
from qipstudy.retrieve.http import EmptyResultError, SchemaError

COUNTRY = {"iso3": "MLI", "iso2": "ML", "name": "Mali", "mission": "MINUSMA", "sources": {"qip_mission": "MINUSMA"}}
FAST = {"retries": 1, "backoff": 0.001, "progress": False, "timeout": 5}



def awsd_row(i, year, code, country, killed=1):
    values = {"Incident ID": str(i), "Year": str(year), "Month": "3", "Day": "", "Country Code": code,
              "Country": country, "Total killed": str(killed), "Total affected": str(killed),
              "Details": "One national staff member was killed, the vehicle was shot at, driver unhurt."}
    return [values.get(c, "0") for c in AWSD_HEADER]


def awsd_export(rows, *, hxl=True) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(AWSD_HEADER)
    if hxl:
        writer.writerow(AWSD_HXL)
    writer.writerows(rows)
    return buf.getvalue()


def test_awsd_download_drops_the_hxl_row(tmp_path):
    body = awsd_export([awsd_row(1, 2019, "ML", "Mali"), awsd_row(2, 2020, "AF", "Afghanistan", 3)])
    with LocalServer({"/incidents/search": lambda req: {"status": 200, "body": body,
                                                        "headers": {"Content-Type": "text/csv"}}}) as srv:
        prov = retrieve_dataset("awsd", "download", country=COUNTRY, options={**FAST, "base_url": srv.url},
                                out_dir=tmp_path / "a", version="v")
    assert srv.log[0]["query"] == {"detail": "1", "format": "csv"}
    frame = pd.read_csv(tmp_path / "a" / "awsd.csv")
    assert frame["Year"].tolist() == [2019, 2020] and list(frame.columns) == AWSD_HEADER
    notes = json.loads(prov.read_text())["notes"]
    assert notes == {"incidents": 2, "hxl_row_dropped": True}


def test_awsd_user_file_errors_name_row_line_and_column(tmp_path):
    src = tmp_path / "security_incidents.csv"
    src.write_text(awsd_export([awsd_row(1, 2019, "ML", "Mali"), awsd_row(2, "n/a", "ML", "Mali")]), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"row 2 \(the HXL hashtag row not counted\), field 'Year': 'n/a' is not a year"):
        retrieve_dataset("awsd", "user", country=COUNTRY, options={}, out_dir=tmp_path / "a", user_path=src)
    header = [c for c in AWSD_HEADER if c != "Country"]
    src.write_text(",".join(header) + "\n" + ",".join(["1", "2019"] + ["0"] * (len(header) - 2)) + "\n")
    with pytest.raises(SchemaError, match=r"missing column\(s\) Country .*AWSD CSV export as downloaded"):
        retrieve_dataset("awsd", "user", country=COUNTRY, options={}, out_dir=tmp_path / "b", user_path=src)
    src.write_text(awsd_export([]), encoding="utf-8")
    with pytest.raises(EmptyResultError, match="has no incidents"):
        retrieve_dataset("awsd", "user", country=COUNTRY, options={}, out_dir=tmp_path / "c", user_path=src)


FATALITIES = [
    fatality_record(1, day="1948-07-06", mission="UNTSO"),  # -678153600000 ms, as in the OCHA fixture
    fatality_record(2, day="2013-07-20", mission="MINUSMA"),
    fatality_record(3, day="2019-01-20", mission="MINUSMA", kind="Accident"),
    fatality_record(4, day="2019-02-03", mission="MONUSCO", personnel="Police"),
]
FATALITY_HUB = Hub({"DPPADPOSS-FATALITIES": (metadata_record("DPPADPOSS-FATALITIES", "Mission Fatalities",
                                                             FATALITY_COLUMN_FORMATS), FATALITIES)})


def test_un_fatalities_from_the_hub_get_the_export_names_and_iso_dates(tmp_path):
    with LocalServer(FATALITY_HUB.routes()) as srv:
        prov = retrieve_dataset("un_fatalities", "download", country=COUNTRY,
                                options={**FAST, "base_url": srv.url + "/public", "per_page": 3},
                                out_dir=tmp_path / "f", version="v")
    assert [r["query"].get("page_num") for r in srv.log[1:]] == ["1", "2"]
    frame = pd.read_csv(tmp_path / "f" / "fatalities.csv", dtype=str)
    assert list(frame.columns) == ["id", "Incident_Date", "Casualty_ID", "Mission_Acronym", "Type_of_Casualty",
                                   "gender", "Casualty_Nationality", "Casualty_Personnel_Type", "Type_Of_Incident",
                                   "M49_Code", "ISOCode3", "last_update"]
    assert frame["Incident_Date"].tolist() == ["1948-07-06", "2013-07-20", "2019-01-20", "2019-02-03"]
    assert frame["M49_Code"].iloc[0] == "148.0" and frame["last_update"].iloc[0] == "2024-05-02"
    assert json.loads(prov.read_text())["notes"] == {"fatalities": 4, "without_date": 0}


def test_the_older_fatalities_export_passes_unchanged_with_its_bom(tmp_path):
    header = ["Casualty_ID", "Incident_Date", "Mission_Acronym", "Type_of_Casualty", "Casualty_Nationality",
              "M49_Code", "ISOCode3", "Casualty_Personnel_Type", "Type_Of_Incident"]
    rows = [["MINUSMA-2013-07-00001", "2013-07-20", "MINUSMA", "Fatality", "Chad", "148", "TCD", "Military",
             "Malicious Act"],
            ["MONUSCO-2019-02-00002", "3/2/2019", "MONUSCO", "Fatality", "India", "356", "IND", "Police", "Illness"]]
    src = tmp_path / "fatalities_export.csv"
    src.write_text("\ufeff" + "\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    retrieve_dataset("un_fatalities", "user", country=COUNTRY, options={}, out_dir=tmp_path / "f", user_path=src)
    assert (tmp_path / "f" / "fatalities.csv").read_text(encoding="utf-8").splitlines()[0] == ",".join(header)
    table = figure1.fatalities_table(pd.read_csv(tmp_path / "f" / "fatalities.csv", dtype=str))
    assert table["year"].tolist() == [2013, 2019] and table["personnel_type"].tolist() == ["Military", "Police"]
    rows[1][1] = "Feb 2019"
    src.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"row 2, field 'Incident_Date': cannot read a year from 'Feb 2019'"):
        retrieve_dataset("un_fatalities", "user", country=COUNTRY, options={}, out_dir=tmp_path / "g",
                         user_path=src)


def test_hub_json_saved_as_user_file_and_the_figure_reader_agree(tmp_path):
    src = tmp_path / "dppadposs-fatalities.json"
    src.write_text(json.dumps([{**r, "incident_date": -678153600000} for r in FATALITIES[:1]]), encoding="utf-8")
    retrieve_dataset("un_fatalities", "user", country=COUNTRY, options={}, out_dir=tmp_path / "f", user_path=src)
    assert pd.read_csv(tmp_path / "f" / "fatalities.csv")["Incident_Date"].tolist() == ["1948-07-06"]
    # a frame straight from the hub's JSON (lower-case names, epoch ms) reads the same
    raw = pd.DataFrame([{**r, "incident_date": -678153600000} for r in FATALITIES[:1]])
    assert figure1.fatalities_table(raw)["year"].tolist() == [1948]
