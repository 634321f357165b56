"""A local stand-in for the UN Peace and Security Data Hub (api.psdata.un.org/public).

Written from the hub's documented and observed shapes, with data made up here:

* psdata.un.org/howto/api_structure: `/data/{datasetid}/{json|csv|xml}`; `per_page` (default: all
  data points) and `page_num`; `filter={column}:{v1},{v2};{column2}:{v}`; `/metadata/{id}`, with
  `all` for every dataset.
* OCHA-DAP/hdx-scraper-peacesecurity, tests/fixtures/input/metadata-all.json: `/metadata/all` is a
  JSON list of records with "Name", "Dataset ID", "Last Update Date", "Formats" and
  "Column definitions" (each {"Column Name", "Definition", "Format", "Attributes"}); DPO-QIP's and
  DPPADPOSS-FATALITIES' column lists are copied from there. The fatalities metadata omits `gender`
  and `last_update`, which the data has — kept here as a quirk.
* the same repository, tests/fixtures/input/dppadposs-fatalities-json.json and
  dppadposs-fatalities.csv: JSON dates are epoch milliseconds (negative before 1970, e.g.
  -678153600000 = 1948-07-06), numbers are JSON numbers (m49_code 250.0), missing values null;
  the CSV has a header, ISO dates and `250.0`.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

QIP_COLUMN_FORMATS = {
    "activity_type": "String", "amount_disbursed": "Currency", "approved_amount": "Currency",
    **{f"beneficiary_type{k}": "String" for k in range(1, 6)}, "budget_cycle": "String", "category": "String",
    "end_date": "Date", "highrisk_area": "String", "id": "Number", "implementing_partner_type": "String",
    **{f"latitude{k}": "Number" for k in range(1, 6)}, **{f"location{k}": "String" for k in range(1, 6)},
    **{f"longitude{k}": "Number" for k in range(1, 6)}, "mission_acronym": "String", "project_status": "String",
    "qip_ref": "String", "qip_support_women_participation": "String", "remarks": "String", "start_date": "Date",
    "title": "String", "total_beneficiaries": "Number", "total_men_beneficiaries": "Number",
    "total_women_beneficiaries": "Number",
}
FATALITY_COLUMN_FORMATS = {
    "casualty_id": "String", "casualty_nationality": "String", "casualty_personnel_type": "String", "id": "Number",
    "incident_date": "Date", "isocode3": "String", "m49_code": "Number", "mission_acronym": "String",
    "type_of_casualty": "String", "type_of_incident": "String",
}
# The order of the data's keys (the hub's SQL view), which is not the metadata's alphabetical order.
QIP_DATA_ORDER = (["id", "qip_ref", "mission_acronym", "title", "start_date", "end_date", "budget_cycle", "category",
                   "activity_type", "implementing_partner_type", "amount_disbursed", "approved_amount",
                   "project_status"] + [f"latitude{k}" for k in range(1, 6)] + [f"longitude{k}" for k in range(1, 6)]
                  + [f"location{k}" for k in range(1, 6)]
                  + ["total_beneficiaries", "total_men_beneficiaries", "total_women_beneficiaries"]
                  + [f"beneficiary_type{k}" for k in range(1, 6)]
                  + ["highrisk_area", "qip_support_women_participation", "remarks"])
FATALITY_DATA_ORDER = ["id", "incident_date", "casualty_id", "mission_acronym", "type_of_casualty", "gender",
                       "casualty_nationality", "casualty_personnel_type", "type_of_incident", "m49_code", "isocode3",
                       "last_update"]


def metadata_record(dataset_id: str, name: str, formats: dict[str, str], *, last_update="2024-05-02") -> dict:
    """One /metadata/all record in the hub's shape (columns listed alphabetically, as the hub does)."""
    return {
        "Name": name, "Dataset ID": dataset_id, "Group ID": None, "Group": None,
        "Description": f"Test copy of {dataset_id}.", "Update Frequency": "Quarterly",
        "Organization": "United Nations", "Start Range": "2015-07-01", "End Range": None,
        "Column definitions": [{"Column Name": c, "Definition": c.replace("_", " "), "Format": f, "Attributes": None}
                               for c, f in sorted(formats.items())],
        "Formats": [{"Format": "CSV,JSON,XML"}], "Last Update Date": last_update, "Visualization Link": None,
    }


def epoch_ms(iso: str | None) -> int | None:
    if not iso:
        return None
    d = date.fromisoformat(iso)
    return int((datetime(d.year, d.month, d.day, tzinfo=UTC)
                - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)


def qip_record(i: int, *, ref: str, mission: str = "MINUSMA", start: str = "2018-01-15", end: str = "2018-06-30",
               amount: float | None = 45000.0, activity: str = "Infrastructure & equipment",
               category: str = "Early recovery", sites=((14.4843, -4.183, "Mopti"),)) -> dict:
    """A DPO-QIP record with up to five sites (lat, lon, name); values are Python/JSON typed."""
    rec = {c: None for c in QIP_DATA_ORDER}
    rec.update(id=i, qip_ref=ref, mission_acronym=mission, title=f"Project {ref}", start_date=start, end_date=end,
               budget_cycle="2017/18", category=category, activity_type=activity,
               implementing_partner_type="Local NGO", amount_disbursed=amount, approved_amount=amount,
               project_status="Completed", total_beneficiaries=120.0, highrisk_area="Yes")
    for k, site in enumerate(sites, start=1):
        if site is not None:
            rec[f"latitude{k}"], rec[f"longitude{k}"], rec[f"location{k}"] = site
    return rec


def fatality_record(i: int, *, day: str, mission: str, kind: str = "Malicious Act",
                    personnel: str = "Military") -> dict:
    return {"id": i, "incident_date": day, "casualty_id": f"{mission}-{day[:7]}-{i:05d}", "mission_acronym": mission,
            "type_of_casualty": "Fatality", "gender": "M", "casualty_nationality": "Chad",
            "casualty_personnel_type": personnel, "type_of_incident": kind, "m49_code": 148.0, "isocode3": "TCD",
            "last_update": "2024-05-02"}


def _csv_cell(value) -> str:
    return "" if value is None else str(value)


class Hub:
    """Route table for tests/unit/local_http.LocalServer serving /public/metadata and /public/data.

    `datasets` maps an id to (metadata record, records with ISO dates). Quirks to switch on:
    `ignore_page_num` (every page is page 1), `ignore_per_page` (everything at once),
    `shuffle_csv_columns` (CSV pages after the first list their columns in reverse order).
    """

    def __init__(self, datasets: dict[str, tuple[dict, list[dict]]], *, ignore_page_num=False,
                 ignore_per_page=False, shuffle_csv_columns=False):
        self.datasets = datasets
        self.ignore_page_num = ignore_page_num
        self.ignore_per_page = ignore_per_page
        self.shuffle_csv_columns = shuffle_csv_columns

    def routes(self):
        return {"/public/metadata/all": self.metadata,
                **{f"/public/data/{d}/{fmt}": (lambda req, d=d, fmt=fmt: self.data(req, d, fmt))
                   for d in self.datasets for fmt in ("json", "csv")}}

    def metadata(self, req):
        body = json.dumps([meta for meta, _ in self.datasets.values()])
        return {"status": 200, "body": body, "headers": {"Content-Type": "application/json"}}

    @staticmethod
    def _filter(records, expr: str):
        for clause in filter(None, expr.split(";")):
            column, _, values = clause.partition(":")
            wanted = set(values.split(","))
            records = [r for r in records if str(r.get(column)) in wanted]
        return records

    def data(self, req, dataset_id, fmt):
        meta, records = self.datasets[dataset_id]
        q = req["query"]
        if q.get("filter"):
            records = self._filter(records, q["filter"])
        page = int(q.get("page_num", 1))
        if "per_page" in q and not self.ignore_per_page:
            per = int(q["per_page"])
            page = 1 if self.ignore_page_num else page
            records = records[(page - 1) * per: page * per]
        dates = {c["Column Name"] for c in meta["Column definitions"] if c["Format"] == "Date"} | {"last_update"}
        if fmt == "json":
            out = [{k: (epoch_ms(v) if k in dates else v) for k, v in r.items()} for r in records]
            return {"status": 200, "body": json.dumps(out), "headers": {"Content-Type": "application/json"}}
        header = list(records[0]) if records else [c["Column Name"] for c in meta["Column definitions"]]
        if self.shuffle_csv_columns and page > 1:
            header = header[::-1]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([[_csv_cell(r.get(c)) for c in header] for r in records])
        return {"status": 200, "body": buf.getvalue(), "headers": {"Content-Type": "text/csv; charset=utf-8"}}
