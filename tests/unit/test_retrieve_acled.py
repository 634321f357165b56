"""ACLED: the OAuth API client against a local server of the real shape, and user exports of every vintage.

Shapes, and where they come from:
* token endpoint: form `username`, `password`, `grant_type=password`, `client_id=acled` posted to
  `/oauth/token`, answer `{token_type, expires_in, access_token, refresh_token}` (ACLED's R client
  dtacled/acledR, R/acled_auth.R; ACLED API guide "Getting started",
  https://acleddata.com/api-documentation/getting-started); a refused grant answers OAuth's
  `{"error": "invalid_grant", "error_description": ...}` (RFC 6749 section 5.2).
* read endpoint `/api/acled/read?_format=json`: `{status, success, last_update, count, messages,
  data, filename, data_query_restrictions}`, `data_query_restrictions.date_recency =
  {quantity, unit, description, timestamp, date}` for accounts with a recency embargo
  (https://acleddata.com/api-documentation/acled-endpoint; the same envelope as read by community
  clients, e.g. guyschvitz/acleddata R/getAcledData.R). Events carry the 31 current columns
  (ACLED "Guide to 2023 ACLED column changes").
* pre-2019 export: upper-case header `GWNO,EVENT_ID_CNTY,EVENT_ID_NO_CNTY,EVENT_DATE,...,
  ALLY_ACTOR_1,INTER1,...,GEO_PRECISION,SOURCE,NOTES,FATALITIES`, DD/MM/YYYY dates, numeric inter
  codes, event types such as "Riots/Protests" (the ACLED extract kept as a test fixture by OCHA in
  OCHA-DAP/hdx-python-utilities, tests/fixtures/test_data.csv; typology: ACLED Codebook 2017 and
  "ACLED introduces new event types and sub-event types", 2019).
* monadic export: one row per actor, the event repeated with actor 2 in `actor1`/`inter1` of the
  second row (acledR R/acled_transform_wider.R, type "api_monadic").
All rows below are synthetic.
"""

from __future__ import annotations

import csv
import json
import logging

import pytest
from local_http import LocalServer, redirect

from qipstudy.prepare import read_acled
from qipstudy.retrieve import acled, retrieve_dataset, secrets
from qipstudy.retrieve.http import (
    AuthError,
    CorruptFileError,
    EmptyResultError,
    RedirectError,
    RetrieveError,
    SchemaError,
)
from qipstudy.retrieve.secrets import MissingCredentialsError

COUNTRY = {
    "iso3": "MLI", "name": "Mali", "period": {"start": "2017-01-01", "end": "2020-12-31"},
    "sources": {"acled_country": "Mali"},
}
FAST = {"retries": 2, "backoff": 0.001, "progress": False, "timeout": 5}
EMBARGO = {"countries": [], "event_types": [], "regions": [], "history": [], "recency": [],
           "date_recency": {"quantity": 12, "unit": "Months", "description": "12 Months old",
                            "timestamp": 1746493801, "date": "2025-05-06"}}


def as_json(obj, status=200):
    return {"status": status, "body": json.dumps(obj), "headers": {"Content-Type": "application/json"}}


def acled_event(i, *, drop=(), **values):
    rec = {c: "" for c in acled.COLUMNS}
    rec.update(event_id_cnty=f"MLI{i}", event_date="2019-03-05", year="2019", time_precision="1",
               disorder_type="Political violence", event_type="Violence against civilians",
               sub_event_type="Attack", actor1="Unidentified Armed Group (Mali)", inter1="Political militia",
               actor2="Civilians (Mali)", inter2="Civilians", interaction="Political militia-Civilians",
               iso="466", region="Western Africa", country="Mali", admin1="Mopti", location="Sevare",
               latitude="14.5333", longitude="-4.1000", geo_precision="1", source="Studio Tamani",
               source_scale="National", notes=f"event {i}", fatalities="1", timestamp="1618000000")
    rec.update(values)
    for col in drop:
        rec.pop(col)
    return rec


def envelope(data, **extra):
    return {"status": 200, "success": True, "last_update": 41, "count": len(data), "messages": [],
            "data": data, "filename": "acled_export", **extra}


class AcledServer:
    """Token endpoint + read endpoint; tokens are `access-token-N`; `expire_on_page` revokes one."""

    def __init__(self, events, *, expire_on_page=None, refresh_ok=True, login_ok=True, restrictions=None,
                 ignore_page=False):
        self.events, self.expire_on_page = events, expire_on_page
        self.refresh_ok, self.login_ok = refresh_ok, login_ok
        self.restrictions, self.ignore_page = restrictions, ignore_page
        self.issued = 0
        self.valid = set()
        self.grants = []

    def token(self, req):
        grant = req["form"].get("grant_type")
        self.grants.append(grant)
        assert req["form"]["client_id"] == "acled"
        if grant == "password" and not self.login_ok:
            return as_json({"error": "invalid_grant", "error_description": "The user credentials were incorrect."}, 400)
        if grant == "refresh_token" and (not self.refresh_ok or req["form"].get("refresh_token") != "refresh-secret-1"):
            return as_json({"error": "invalid_grant", "error_description": "Token has been revoked"}, 400)
        self.issued += 1
        token = f"access-token-{self.issued}"
        self.valid = {token}
        return as_json({"token_type": "Bearer", "expires_in": 86400, "access_token": token,
                        "refresh_token": f"refresh-secret-{self.issued}"})

    def read(self, req):
        token = req["headers"].get("Authorization", "").removeprefix("Bearer ")
        page, limit = int(req["query"]["page"]), int(req["query"]["limit"])
        if self.ignore_page:
            page = 1
        if self.expire_on_page == page and token == "access-token-1":
            self.valid = set()
        if token not in self.valid:
            return as_json({"status": 401, "success": False, "error": [{"message": "token expired"}]}, 401)
        assert req["query"]["event_date_where"] == "BETWEEN" and req["query"]["_format"] == "json"
        chunk = self.events[(page - 1) * limit: page * limit]
        extra = {"data_query_restrictions": self.restrictions} if self.restrictions else {}
        return as_json(envelope(chunk, **extra))

    def routes(self):
        return {"/oauth/token": self.token, "/api/acled/read": self.read}


@pytest.fixture
def acled_env(monkeypatch):
    monkeypatch.setenv("ACLED_EMAIL", "analyst-fake@example.org")
    monkeypatch.setenv("ACLED_PASSWORD", "pw-FAKE-SECRET-93jd")


def run_acled(srv, tmp_path, **extra):
    opts = {**FAST, "base_url": srv.url, "limit": 3, **extra}
    return retrieve_dataset("acled", "download", country=COUNTRY, options=opts,
                            out_dir=tmp_path / "acled" / "v1", version="v1")


def reads(srv):
    return [r for r in srv.log if r["path"] == "/api/acled/read"]


# ----------------------------------------------------------------------------- API

def test_acled_pages_to_the_last_short_page(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(7)])
    with LocalServer(api.routes()) as srv:
        prov = run_acled(srv, tmp_path)
    assert [r["query"]["page"] for r in reads(srv)] == ["1", "2", "3"]
    assert reads(srv)[0]["query"]["country"] == "Mali"
    assert reads(srv)[0]["query"]["event_date"] == "2017-01-01|2020-12-31"
    out = tmp_path / "acled" / "v1" / "acled.csv"
    assert out.read_text().splitlines()[0].split(",") == acled.COLUMNS
    doc = json.loads(prov.read_text())
    assert doc["files"]["acled.csv"]["rows"] == 7
    assert doc["sources"][0]["params"]["event_date_where"] == "BETWEEN"
    assert doc["notes"]["pages"] == 3 and doc["notes"]["last_update"] == 41
    assert api.grants == ["password"]


def test_acled_expired_token_uses_refresh_token_then_succeeds(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(5)], expire_on_page=2)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path)
    assert api.grants == ["password", "refresh_token"]
    assert [r["query"]["page"] for r in reads(srv)] == ["1", "2", "2"]  # page 2 repeated after the refresh
    assert (tmp_path / "acled" / "v1" / "acled.csv").read_text().count("\nMLI") == 5


def test_acled_refused_refresh_falls_back_to_password_login(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(5)], expire_on_page=2, refresh_ok=False)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path)
    assert api.grants == ["password", "refresh_token", "password"]


def test_acled_rejected_login_keeps_acleds_reason_and_names_the_variables(tmp_path, acled_env):
    api = AcledServer([acled_event(1)], login_ok=False)
    with LocalServer(api.routes()) as srv:
        with pytest.raises(AuthError, match=r"ACLED rejected the login \(The user credentials were incorrect\.; "
                                            r"invalid_grant\): check ACLED_EMAIL and ACLED_PASSWORD"):
            run_acled(srv, tmp_path)
    assert len([r for r in srv.log if r["path"] == "/oauth/token"]) == 1  # not retried
    assert not (tmp_path / "acled" / "v1" / "acled.csv").exists()


def test_acled_403_keeps_acleds_message(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    refusal = {"status": 403, "success": False,
               "error": {"message": "Access denied: please accept the terms of use in myACLED"}}
    routes = {**api.routes(), "/api/acled/read": lambda req: as_json(refusal, 403)}
    with LocalServer(routes) as srv:
        with pytest.raises(AuthError, match=r"HTTP 403: Access denied: please accept the terms of use in myACLED\).*"
                                            r"ACLED_EMAIL, ACLED_PASSWORD"):
            run_acled(srv, tmp_path)
    assert len(reads(srv)) == 1


def test_acled_missing_credentials_is_clear_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("ACLED_EMAIL", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    with LocalServer({}) as srv:
        with pytest.raises(MissingCredentialsError, match="set the environment variable ACLED_EMAIL"):
            run_acled(srv, tmp_path, project_root=str(tmp_path))
    assert srv.log == []


def test_acled_success_false_is_reported_before_data(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    failed = {"status": 400, "success": False, "messages": ["Invalid field: event_dat"], "data": []}
    with LocalServer({**api.routes(), "/api/acled/read": lambda req: as_json(failed)}) as srv:
        with pytest.raises(RetrieveError, match=r"ACLED read page 1 failed \(status 400\): Invalid field: event_dat"):
            run_acled(srv, tmp_path)


def test_acled_empty_result_reports_the_recency_embargo(tmp_path, acled_env):
    api = AcledServer([], restrictions=EMBARGO)
    with LocalServer(api.routes()) as srv:
        with pytest.raises(EmptyResultError, match=r"no events for country='Mali' between 2017-01-01 and "
                                                   r"2020-12-31; the account's data_query_restrictions say: "
                                                   r"date_recency: only events at least 12 Months old \(events "
                                                   r"after 2025-05-06 are withheld\)"):
            run_acled(srv, tmp_path)


def test_acled_restrictions_are_recorded_when_data_arrives(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(2)], restrictions=EMBARGO)
    with LocalServer(api.routes()) as srv:
        prov = run_acled(srv, tmp_path)
    notes = json.loads(prov.read_text())["notes"]
    assert notes["data_query_restrictions"]["date_recency"]["date"] == "2025-05-06"


def test_acled_stops_when_a_page_repeats_the_previous_one(tmp_path, acled_env, caplog):
    """A server that ignores `page` would loop until max_pages; the repeat ends the listing."""
    api = AcledServer([acled_event(i) for i in range(7)], ignore_page=True)
    caplog.set_level(logging.WARNING)
    with LocalServer(api.routes()) as srv:
        prov = run_acled(srv, tmp_path)
    assert [r["query"]["page"] for r in reads(srv)] == ["1", "2"]
    notes = json.loads(prov.read_text())["notes"]
    assert notes["events"] == 3 and notes["paging_stopped_at_repeated_page"] == 2
    assert "repeats page 1" in caplog.text


def test_acled_schema_drift_in_a_read_column_names_it(tmp_path, acled_env):
    api = AcledServer([acled_event(i, drop=("inter1",)) for i in range(2)])
    with LocalServer(api.routes()) as srv:
        with pytest.raises(SchemaError, match=r"ACLED API response: missing column\(s\) 'inter1'"):
            run_acled(srv, tmp_path)
    assert not (tmp_path / "acled" / "v1" / "acled.csv").exists()


def test_acled_numbers_in_json_are_written_as_acled_sent_them(tmp_path, acled_env):
    """Newer API answers carry numbers; a gap in a column must not turn 466 into 466.0."""
    events = [acled_event(1, iso=466, year=2019, fatalities=0, latitude=14.5333), acled_event(2, iso=None)]
    api = AcledServer(events)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path)
    with open(tmp_path / "acled" / "v1" / "acled.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["iso"], r["year"], r["fatalities"], r["latitude"]) for r in rows] == [
        ("466", "2019", "0", "14.5333"), ("", "2019", "1", "14.5333")]


def test_acled_drift_in_an_unread_column_is_filled_and_noted(tmp_path, acled_env):
    api = AcledServer([acled_event(i, drop=("tags", "civilian_targeting")) for i in range(2)])
    with LocalServer(api.routes()) as srv:
        prov = run_acled(srv, tmp_path)
    assert json.loads(prov.read_text())["notes"]["filled_empty_columns"] == ["civilian_targeting", "tags"]


def test_acled_malformed_json_page(tmp_path, acled_env):
    api = AcledServer([acled_event(1)])
    routes = {**api.routes(), "/api/acled/read": lambda req: {"status": 200, "body": '{"data": [{"ev'}}
    with LocalServer(routes) as srv:
        with pytest.raises(CorruptFileError, match="malformed JSON from ACLED read page 1"):
            run_acled(srv, tmp_path)


def test_acled_429_then_success_and_a_reset_page_is_asked_again(tmp_path, acled_env):
    api = AcledServer([acled_event(i) for i in range(5)])
    state = {"n": 0}

    def read(req):
        state["n"] += 1
        if state["n"] == 1:
            return {"status": 429, "headers": {"Retry-After": "0"}, "body": "rate limited"}
        resp = api.read(req)
        if state["n"] == 3:  # the first answer for page 2 is cut off by a TCP reset
            resp["reset_after"] = 20
        return resp

    with LocalServer({**api.routes(), "/api/acled/read": read}) as srv:
        prov = run_acled(srv, tmp_path)
    assert [r["query"]["page"] for r in reads(srv)] == ["1", "1", "2", "2"]
    assert json.loads(prov.read_text())["files"]["acled.csv"]["rows"] == 5


def test_acled_token_redirect_to_another_host_is_refused(tmp_path, acled_env):
    """The password must never be re-posted to whatever host a 307 names."""
    with LocalServer({"/oauth/token": lambda req: as_json({"access_token": "stolen"})}, host="127.0.0.2") as thief:
        api = AcledServer([acled_event(1)])
        routes = {**api.routes(), "/oauth/token": lambda req: redirect(thief.url + "/oauth/token", 307)}
        with LocalServer(routes) as srv:
            with pytest.raises(RedirectError, match="refused"):
                run_acled(srv, tmp_path)
    assert thief.log == []


def test_secrets_never_reach_files_or_logs(tmp_path, monkeypatch, caplog):
    """Credentials from .env and the tokens they buy appear in no written file and no log record."""
    monkeypatch.delenv("ACLED_EMAIL", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    (tmp_path / ".env").write_text("ACLED_EMAIL=dotenv-user-7731@example.org\n"
                                   "ACLED_PASSWORD='dotenv-PASS-4481-zz'\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    api = AcledServer([acled_event(i) for i in range(4)], expire_on_page=2)
    with LocalServer(api.routes()) as srv:
        run_acled(srv, tmp_path, project_root=str(tmp_path))
    token_post = [r for r in srv.log if r["path"] == "/oauth/token"][0]
    assert token_post["form"]["password"] == "dotenv-PASS-4481-zz"  # the secret was really used
    forbidden = ["dotenv-user-7731@example.org", "dotenv-PASS-4481-zz", "access-token-1",
                 "access-token-2", "refresh-secret-1", "refresh-secret-2"]
    written = [p for p in (tmp_path / "acled").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"acled.csv", "provenance.json"}
    for path in written:
        data = path.read_bytes()
        for secret in forbidden:
            assert secret.encode() not in data, (secret, path)
    records = [r.getMessage() for r in caplog.records] + [caplog.text]
    for secret in forbidden:
        assert all(secret not in msg for msg in records), secret


def test_a_three_letter_password_is_redacted_from_the_error(tmp_path, monkeypatch):
    saved = set(secrets._KNOWN)
    try:
        monkeypatch.setenv("ACLED_EMAIL", "someone-fake@example.org")
        monkeypatch.setenv("ACLED_PASSWORD", "Qz9")
        body = {"error": "invalid_grant", "error_description": "bad password Qz9 for someone-fake@example.org"}
        with LocalServer({"/oauth/token": lambda req: as_json(body, 400)}) as srv:
            with pytest.raises(AuthError) as err:
                run_acled(srv, tmp_path)
        assert "Qz9" not in str(err.value) and "someone-fake@example.org" not in str(err.value)
        assert "bad password *** for ***" in str(err.value)
    finally:
        secrets._KNOWN.clear()
        secrets._KNOWN.update(saved)


# ----------------------------------------------------------------------------- user exports

def write_rows(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def convert(tmp_path, src):
    prov = retrieve_dataset("acled", "user", country=COUNTRY, options={}, out_dir=tmp_path / "o",
                            user_path=src, version="user")
    with open(tmp_path / "o" / "acled.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh)), json.loads(prov.read_text())["notes"]


MONADIC_HEADER = [c for c in acled.COLUMNS if c not in ("actor2", "assoc_actor_2", "inter2")]


def monadic_rows():
    """Two events in the monadic layout: event 1 has two actors (two rows), event 2 one."""
    one = acled_event(1, event_type="Battles", sub_event_type="Armed clash", actor1="Military Forces of Mali (2021-)",
                      inter1="State forces")
    one_b = dict(one, actor1="JNIM: Group for Support of Islam and Muslims", inter1="Rebel group")
    two = acled_event(2)
    return [[r[c] for c in MONADIC_HEADER] for r in (one, one_b, two)]


def test_monadic_export_is_merged_to_one_row_per_event(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    src = write_rows(tmp_path / "monadic.csv", MONADIC_HEADER, monadic_rows())
    table, notes = convert(tmp_path, src)
    assert [r["event_id_cnty"] for r in table] == ["MLI1", "MLI2"]
    assert table[0]["inter1"] == "State forces"            # the first row is actor 1
    assert table[0]["actor2"] == "JNIM: Group for Support of Islam and Muslims"
    assert table[0]["inter2"] == "Rebel group"
    assert notes["monadic_rows_merged"] == 1
    assert "1 repeated row(s) of 1 event(s) merged" in caplog.text
    events = read_acled(tmp_path / "o" / "acled.csv")
    assert events["inter1"].tolist() == ["State forces", "Political militia"]


def test_monadic_rows_that_disagree_are_refused(tmp_path):
    rows = monadic_rows()
    rows[1][MONADIC_HEADER.index("event_date")] = "2019-03-06"
    src = write_rows(tmp_path / "monadic.csv", MONADIC_HEADER, rows)
    with pytest.raises(SchemaError, match=r"monadic\.csv: event_id_cnty 'MLI1' appears in several rows that "
                                          r"disagree on field 'event_date' \(row 1: '2019-03-05', row 2: "
                                          r"'2019-03-06'\)"):
        convert(tmp_path, src)
    assert not (tmp_path / "o" / "acled.csv").exists()


# The pre-2019 header exactly as in ACLED's 2017 files (OCHA's fixture, see the module docstring).
OLD_HEADER = ("GWNO,EVENT_ID_CNTY,EVENT_ID_NO_CNTY,EVENT_DATE,YEAR,TIME_PRECISION,EVENT_TYPE,ACTOR1,ALLY_ACTOR_1,"
              "INTER1,ACTOR2,ALLY_ACTOR_2,INTER2,INTERACTION,COUNTRY,ADMIN1,ADMIN2,ADMIN3,LOCATION,LATITUDE,"
              "LONGITUDE,GEO_PRECISION,SOURCE,NOTES,FATALITIES").split(",")
OLD_ROWS = [  # id, date, old type, actor1, inter1 code
    ("1MLI", "05/03/2017", "Violence against civilians", "Unidentified Armed Group (Mali)", "3"),
    ("2MLI", "06/03/2017", "Battle-No change of territory", "Military Forces of Mali (2002-)", "1"),
    ("3MLI", "07/03/2017", "Battle-Non-state actor overtakes territory", "AQIM", "2"),
    ("4MLI", "08/03/2017", "Remote violence", "Unidentified Armed Group (Mali)", "3"),
    ("5MLI", "09/03/2017", "Riots/Protests", "Protesters (Mali)", "6"),
    ("6MLI", "10/03/2017", "Riots/Protests", "Rioters (Mali)", "5"),
    ("7MLI", "11/03/2017", "Headquarters or base established", "MNLA", "2"),
    ("8MLI", "12/03/2017", "Strategic development", "MINUSMA", "8"),
    ("9MLI", "13/03/2017", "Non-violent transfer of territory", "GATIA", "3"),
]


def old_export(tmp_path):
    rows = [["432", eid, "", date, "2017", "1", etype, actor, "", inter, "Civilians (Mali)", "", "7", "37", "Mali",
             "Mopti", "Djenne", "", "Djenne", "13.9", "-4.55", "1", "Studio Tamani", "note", "0"]
            for eid, date, etype, actor, inter in OLD_ROWS]
    return write_rows(tmp_path / "ACLED-Mali-2017.csv", OLD_HEADER, rows)


def test_pre2019_export_is_mapped_to_the_current_typology(tmp_path):
    table, notes = convert(tmp_path, old_export(tmp_path))
    by_id = {r["event_id_cnty"]: r for r in table}
    assert [by_id[f"{i}MLI"]["event_type"] for i in range(1, 10)] == [
        "Violence against civilians", "Battles", "Battles", "Explosions/Remote violence", "Protests", "Riots",
        "Strategic developments", "Strategic developments", "Strategic developments"]
    assert by_id["2MLI"]["sub_event_type"] == "Armed clash"
    assert by_id["3MLI"]["sub_event_type"] == "Non-state actor overtakes territory"
    assert by_id["5MLI"]["event_type_pre2019"] == "Riots/Protests"
    assert by_id["1MLI"]["event_type_pre2019"] == ""  # already a current type
    assert by_id["2MLI"]["assoc_actor_1"] == "" and "gwno" in by_id["2MLI"]  # ALLY_ACTOR_1 renamed, extras kept
    assert notes["pre2019_event_types_mapped"] == {
        "Battle-No change of territory": 1, "Battle-Non-state actor overtakes territory": 1,
        "Headquarters or base established": 1, "Non-violent transfer of territory": 1, "Remote violence": 1,
        "Riots/Protests": 2, "Strategic development": 1}
    assert "sub_event_type" not in notes["filled_empty_columns"]  # filled from the mapping
    events = read_acled(tmp_path / "o" / "acled.csv").set_index("event_id")
    assert str(events.loc["1MLI", "date"].date()) == "2017-03-05"  # DD/MM/YYYY
    assert events.loc["3MLI", "inter1"] == "Rebel group"           # code 2


def test_read_acled_reads_an_old_export_directly(tmp_path):
    events = read_acled(old_export(tmp_path))
    assert sorted(events["event_type"].unique()) == ["Battles", "Explosions/Remote violence", "Protests", "Riots",
                                                     "Strategic developments", "Violence against civilians"]
    assert len(events) == 9


def test_read_acled_merges_agreeing_repeats_and_counts_rows_of_the_file(tmp_path):
    header = list(acled.COLUMNS)
    rows = [[r[c] for c in header] for r in (acled_event(1), acled_event(1, actor1="Other", inter1="Civilians"),
                                              acled_event(2, event_date="2019/13/45"))]
    path = write_rows(tmp_path / "a.csv", header, rows)
    with pytest.raises(ValueError, match=r"a\.csv: row 3, field 'event_date': cannot parse '2019/13/45'"):
        read_acled(path)  # row numbers are those of the file, not of the merged table
    rows[2][header.index("event_date")] = "05 March 2019"
    events = read_acled(write_rows(tmp_path / "b.csv", header, rows))
    assert events["event_id"].tolist() == ["MLI1", "MLI2"] and events["inter1"].tolist()[0] == "Political militia"


def test_user_export_needs_only_the_columns_the_analysis_reads(tmp_path):
    header = list(acled.CORE_COLUMNS)
    row = acled_event(5)
    table, notes = convert(tmp_path, write_rows(tmp_path / "min.csv", header, [[row[c] for c in header]]))
    assert table[0]["event_id_cnty"] == "MLI5" and list(table[0])[:31] == acled.COLUMNS
    assert set(notes["filled_empty_columns"]) == set(acled.COLUMNS) - set(header)
    dropped = [c for c in header if c != "longitude"]
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'longitude'"):
        convert(tmp_path, write_rows(tmp_path / "bad.csv", dropped, [[row[c] for c in dropped]]))
