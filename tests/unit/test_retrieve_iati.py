"""IATI clients: d-portal q.csv and the IATI Datastore, against local servers of the real shape.

d-portal's shape is taken from its source (IATI/D-Portal): dstore/js/query.js writes q.csv rows as
JSON arrays without the brackets (text quoted, numbers bare, SQL NULL as the bare text `null`,
`\"` turned into `""`), the header from the first row's keys, `limit` 100 by default and no LIMIT
for `limit=-1`, `offset`, `orderby=a,b` (and `a-` descending); a query it cannot run still answers
200 with an empty body. dstore/js/dstore_db.js: `sector_group` is the 3-digit DAC code,
`day_start` days since 1970-01-01, `commitment`/`spend` US$, one `location` row per site.
The Datastore's shape: Solr JSON `{"response": {"numFound", "start", "docs"}}` over IATI/refresher's
flattened activities (single values as scalars, repeated ones as lists; `transaction_value`
in `transaction_value_currency`, else the activity's `default_currency`; a unique `id` per doc).
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from local_http import LocalServer

from qipstudy.prepare import read_iati
from qipstudy.retrieve import iati, retrieve_dataset
from qipstudy.retrieve.http import EmptyResultError, RetrieveError

COUNTRY = {"iso3": "MLI", "iso2": "ML", "name": "Mali", "sources": {"iati_recipient_country": "ML"}}
FAST = {"retries": 1, "backoff": 0.001, "progress": False, "timeout": 5}


def location(aid, lat, lon, name, *, commitment=250000.0, day_start=17532, title="Water for Gao"):
    return {"aid": aid, "title": title, "reporting_ref": aid.rsplit("-", 1)[0], "reporting": "Agency",
            "status_code": 2, "day_start": day_start, "day_end": None, "location_latitude": lat,
            "location_longitude": lon, "location_name": name, "commitment": commitment, "spend": None}


LOCATIONS = [
    location("XM-DAC-1-001", 16.2666, -0.04, "Gao"),
    location("XM-DAC-1-001", 15.6597, 0.5022, "Ansongo"),
    location("XM-DAC-1-001", 14.4843, -4.183, "Mopti"),
    location("XM-DAC-1-001", None, None, "Mali"),  # a site without coordinates: null, null
    location("XM-DAC-2-007", 16.7735, -3.0074, "Tombouctou", commitment=None, title='He said "hi"'),
    location("XM-DAC-2-007", 14.35, -3.61, "Bandiagara", commitment=None, title='He said "hi"'),
    location("GB-GOV-1-300", 12.6392, -8.0029, "Bamako", day_start=18262),
]
SECTORS = [  # aid, sector_code, sector_group (3-digit code), sector_percent
    {"aid": "XM-DAC-1-001", "sector_code": "14030", "sector_group": "140", "sector_percent": 70.0},
    {"aid": "XM-DAC-1-001", "sector_code": "12220", "sector_group": "122", "sector_percent": 30.0},
    {"aid": "XM-DAC-2-007", "sector_code": "31120", "sector_group": "311", "sector_percent": 50.0},
    {"aid": "XM-DAC-2-007", "sector_code": "15220", "sector_group": "152", "sector_percent": 50.0},  # a tie
]


def qcsv(columns, rows) -> str:
    """One q.csv body the way dstore/js/query.js writes it."""
    def line(values):
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))[1:-1].replace('\\"', '""')
    return "\n".join([line(columns)] + [line([r.get(c) for c in columns]) for r in rows]) + "\n"


class DPortal:
    """`/q.csv` over the two tables above. Without an `orderby` that makes the order total, rows
    sharing the sort key come in a different order on every request, as an SQL engine may send them."""

    def __init__(self, *, fallback=False, reverse_columns_after_first=False):
        self.fallback = fallback
        self.reverse = reverse_columns_after_first
        self.requests = 0

    def __call__(self, req):
        q = req["query"]
        self.requests += 1
        table = {"act,location,country": LOCATIONS, "act,sector,country": SECTORS}[q["from"]]
        assert q["country_code"] == "ML"
        select = q["select"].split(",")
        if any(c not in table[0] for c in select):
            return {"status": 200, "body": "\n", "headers": {"Content-Type": "text/csv"}}  # SQL error: empty 200
        keys = [k for k in q.get("orderby", "").split(",") if k]
        rows = list(table)
        random.Random(self.requests).shuffle(rows)
        rows.sort(key=lambda r: tuple((r[k] is None, str(r[k])) for k in keys))
        limit = int(q.get("limit", 100))
        if self.fallback and limit > 100:
            limit = 100
        offset = int(q.get("offset", 0))
        if limit >= 0:
            rows = rows[offset: offset + limit]
        columns = select[::-1] if self.reverse and offset > 0 else select
        return {"status": 200, "body": qcsv(columns, rows), "headers": {"Content-Type": "text/csv"}}


def run_dportal(srv, tmp_path, **options):
    return retrieve_dataset("iati", "download", country=COUNTRY,
                            options={**FAST, "base_url": srv.url, "api": "dportal", **options},
                            out_dir=tmp_path / "iati", version="v")


def activities(tmp_path):
    with open(tmp_path / "iati" / "activities.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_qcsv_helper_writes_dportal_csv():
    assert qcsv(["aid", "n", "x"], [{"aid": 'a "b"', "n": 1.5, "x": None}]) == '"aid","n","x"\n"a ""b""",1.5,null\n'


def test_dportal_fetches_the_country_in_one_response_by_default(tmp_path):
    server = DPortal()
    with LocalServer({"/q.csv": server}) as srv:
        prov = run_dportal(srv, tmp_path)
    assert [r["query"]["limit"] for r in srv.log] == ["-1", "-1"]  # locations, sectors: no paging at all
    rows = activities(tmp_path)
    assert len(rows) == 7 and list(rows[0]) == iati.COLUMNS
    gao = next(r for r in rows if r["location_name"] == "Gao")
    assert (gao["location_latitude"], gao["day_start"], gao["commitment"]) == ("16.2666", "17532", "250000.0")
    assert (gao["sector_code"], gao["sector_group"], gao["value_currency"]) == ("14030", "Water and sanitation", "USD")
    unlocated = next(r for r in rows if r["location_name"] == "Mali")
    assert unlocated["location_latitude"] == "" and unlocated["spend"] == ""  # `null` is no value
    tomb = next(r for r in rows if r["location_name"] == "Tombouctou")
    assert tomb["title"] == 'He said "hi"' and tomb["commitment"] == ""
    assert tomb["sector_group"] == "Conflict prevention and resolution, peace and security"  # tie: lowest code
    bamako = next(r for r in rows if r["location_name"] == "Bamako")
    assert bamako["sector_code"] == "" and json.loads(prov.read_text())["notes"]["activities_without_sector"] == 1
    table = read_iati(tmp_path / "iati" / "activities.csv")
    assert table["lat"].notna().sum() == 6 and table["funding_usd"].isna().sum() == 2


def test_paging_orders_by_every_selected_column_so_no_site_is_lost_or_repeated(tmp_path):
    with LocalServer({"/q.csv": DPortal()}) as srv:
        run_dportal(srv, tmp_path, limit=2)
    loc = [r["query"] for r in srv.log if r["query"]["from"] == "act,location,country"]
    assert [q["offset"] for q in loc] == ["0", "2", "4", "6"]
    assert loc[0]["orderby"] == ",".join(iati.LOCATION_SELECT)
    names = sorted(r["location_name"] for r in activities(tmp_path))
    assert names == sorted(r["location_name"] for r in LOCATIONS)


def test_pages_whose_column_order_changes_keep_latitude_and_longitude(tmp_path):
    with LocalServer({"/q.csv": DPortal(reverse_columns_after_first=True)}) as srv:
        run_dportal(srv, tmp_path, limit=3)
    by_name = {r["location_name"]: r for r in activities(tmp_path)}
    assert (by_name["Bamako"]["location_latitude"], by_name["Bamako"]["location_longitude"]) == ("12.6392", "-8.0029")
    assert len(by_name) == 7


def test_dportal_detects_the_100_row_fallback():
    pages = {0: [("a",)] * 100, 100: [("b",)] * 100, 200: [("c",)] * 50}
    calls = []

    def fetch(offset, limit):
        calls.append((offset, limit))
        return pages[offset]

    rows, info = iati.page_dportal(fetch, limit=1000)
    assert calls == [(0, 1000), (100, 100), (200, 100)] and len(rows) == 250 and info["fallback_detected"]
    with pytest.raises(RetrieveError, match="ignores `offset`"):
        iati.page_dportal(lambda off, lim: [("a",)] * 3, limit=3)


def test_an_empty_200_answer_is_reported_with_the_query(tmp_path):
    with LocalServer({"/q.csv": lambda req: {"status": 200, "body": "\n"}}) as srv:
        with pytest.raises(EmptyResultError, match=r"no activity locations for recipient country 'ML' .*empty 200"):
            run_dportal(srv, tmp_path)


def test_user_export_of_raw_qcsv_with_null_cells_and_codes(tmp_path):
    src = tmp_path / "q.csv"
    src.write_text(qcsv(iati.LOCATION_SELECT + ["sector_code"],
                        [{**r, "sector_code": "12220"} for r in LOCATIONS[:4]]), encoding="utf-8")
    prov = retrieve_dataset("iati", "user", country=COUNTRY, options={}, out_dir=tmp_path / "iati", user_path=src)
    assert json.loads(prov.read_text())["notes"]["sector_group_derived"] is True
    rows = activities(tmp_path)
    assert rows[3]["location_latitude"] == "" and rows[0]["sector_group"] == "Basic health"
    assert read_iati(tmp_path / "iati" / "activities.csv")["category"].tolist() == ["Basic health"] * 4


# ----------------------------------------------------------------------------- Datastore

DOCS = [
    {"id": "f1--a--0", "iati_identifier": "XM-2-1", "title_narrative": ["Wells"], "reporting_org_ref": "XM-2",
     "reporting_org_narrative": ["Agency"], "activity_status_code": "2", "activity_date_type": ["1", "2", "3"],
     "activity_date_iso_date": ["2018-01-01T00:00:00Z", "2018-02-01T00:00:00Z", "2019-01-01T00:00:00Z"],
     "sector_code": ["14030"], "sector_vocabulary": ["1"], "location_point_pos": ["14.5 -4.2", "16.2 -0.04"],
     "location_name_narrative": ["Mopti", "Gao"], "default_currency": "USD",
     "transaction_transaction_type_code": ["2", "3", "3"], "transaction_value": [1000.0, 400.0, 100.0]},
    # euros by default, one transaction in US$: summed per currency, never mixed
    {"id": "f2--b--0", "iati_identifier": "XM-3-9", "title_narrative": "Schools", "reporting_org_ref": "XM-3",
     "activity_date_type": "2", "activity_date_iso_date": "2019-05-01T00:00:00Z", "sector_code": "11220",
     "location_point_pos": "12.6 -8.0", "location_name_narrative": "Bamako", "default_currency": "EUR",
     "transaction_transaction_type_code": ["2", "4"], "transaction_value": [2000.0, 500.0],
     "transaction_value_currency": ["EUR", "USD"]},
    # one transaction, stated in CFA francs: a scalar
    {"id": "f3--c--0", "iati_identifier": "XM-4-2", "activity_date_type": "2",
     "activity_date_iso_date": "2020-01-01T00:00:00Z", "location_point_pos": "15.0 -2.9",
     "transaction_transaction_type_code": "2", "transaction_value": 6559570.0, "transaction_value_currency": "XOF"},
]


def datastore(key="iati-key-FAKE-0042", docs=DOCS, page=2):
    def select(req):
        assert req["headers"]["Ocp-Apim-Subscription-Key"] == key
        assert req["query"]["sort"] == "iati_identifier asc,id asc"
        start = int(req["query"]["start"])
        return {"status": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"responseHeader": {"status": 0},
                                    "response": {"numFound": len(docs), "start": start,
                                                 "docs": docs[start: start + page]}})}
    return {"/activity/select": select}


def run_datastore(srv, tmp_path, name="iati", **options):
    return retrieve_dataset("iati", "download", country=COUNTRY, options={**FAST, "base_url": srv.url, **options},
                            out_dir=tmp_path / name, version="v")


def test_datastore_values_are_never_summed_across_currencies(tmp_path, monkeypatch):
    monkeypatch.setenv("IATI_API_KEY", "iati-key-FAKE-0042")
    with LocalServer(datastore()) as srv:
        prov = run_datastore(srv, tmp_path)
    assert [r["query"]["start"] for r in srv.log] == ["0", "2"]
    rows = activities(tmp_path)
    assert [(r["aid"], r["location_name"]) for r in rows] == [("XM-2-1", "Mopti"), ("XM-2-1", "Gao"),
                                                              ("XM-3-9", "Bamako"), ("XM-4-2", "")]
    assert (rows[0]["day_start"], rows[0]["sector_group"], rows[0]["location_latitude"]) == (
        "2018-02-01", "Water and sanitation", "14.5")
    assert (rows[0]["commitment"], rows[0]["spend"], rows[0]["value_currency"]) == ("1000.0", "500.0", "USD")
    assert (rows[2]["commitment"], rows[2]["value_currency"]) == ("", "EUR+USD")  # no EUR rate given
    assert (rows[3]["commitment"], rows[3]["value_currency"]) == ("", "XOF")
    notes = json.loads(prov.read_text())["notes"]
    assert notes["unconverted_activities"] == {"EUR+USD": 1, "XOF": 1}
    funding = read_iati(tmp_path / "iati" / "activities.csv")["funding_usd"]
    assert funding.iloc[0] == 1000.0 and np.isnan(funding.iloc[2]) and np.isnan(funding.iloc[3])
    for path in (tmp_path / "iati").rglob("*"):
        assert b"iati-key-FAKE-0042" not in path.read_bytes()


def test_datastore_converts_with_the_rates_given(tmp_path, monkeypatch):
    monkeypatch.setenv("IATI_API_KEY", "iati-key-FAKE-0042")
    with LocalServer(datastore()) as srv:
        prov = run_datastore(srv, tmp_path, currency_rates={"EUR": 1.1, "xof": 0.0016})
    rows = activities(tmp_path)
    # 2000 EUR * 1.1 = 2200 US$ committed; 500 US$ spent; 6,559,570 XOF * 0.0016 = 10,495.312 US$
    assert (rows[2]["commitment"], rows[2]["spend"], rows[2]["value_currency"]) == ("2200.0", "500.0", "USD")
    assert (rows[3]["commitment"], rows[3]["value_currency"]) == ("10495.31", "USD")
    assert json.loads(prov.read_text())["notes"]["currency_rates_usd_per_unit"] == {"EUR": 1.1, "XOF": 0.0016}


def test_limit_zero_is_refused(tmp_path):
    with pytest.raises(RetrieveError, match=r"`limit` must be -1 .* or positive, not 0"):
        retrieve_dataset("iati", "download", country=COUNTRY, options={**FAST, "api": "dportal", "limit": 0},
                         out_dir=tmp_path / "iati", version="v")
