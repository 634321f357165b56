"""HTTP plumbing of the retrieve step against a local server: retries, resume, parsing, secrets."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from local_http import LocalServer, ranged, sequence
from qipstudy.retrieve import http, secrets
from qipstudy.retrieve.http import (AuthError, ChecksumError, CorruptFileError, HttpClient,
                                    RetrieveError)


def fast_client(**kw):
    sleeps = []
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.001)
    kw.setdefault("progress", False)
    client = HttpClient(sleep=sleeps.append, **kw)
    return client, sleeps


def test_429_honours_retry_after_then_succeeds():
    route = sequence({"status": 429, "headers": {"Retry-After": "3"}, "body": b"slow down"},
                     {"status": 200, "body": b'{"ok": true}',
                      "headers": {"Content-Type": "application/json"}})
    with LocalServer({"/x": route}) as srv:
        client, sleeps = fast_client()
        assert client.get_json(srv.url + "/x") == {"ok": True}
    assert sleeps == [3.0]
    assert len(srv.log) == 2


def test_retry_after_http_date_is_parsed():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    secs = http._retry_after_seconds(format_datetime(when, usegmt=True))
    assert 25 <= secs <= 31
    assert http._retry_after_seconds("garbage") is None


def test_5xx_exhaustion_raises_clear_error_with_exponential_backoff():
    with LocalServer({"/x": sequence({"status": 503, "body": b"down"})}) as srv:
        client, sleeps = fast_client(retries=2, backoff=0.01)
        with pytest.raises(RetrieveError, match=r"after 3 attempts \(last failure: HTTP 503\)"):
            client.request("GET", srv.url + "/x")
    assert len(srv.log) == 3
    assert sleeps == [0.01, 0.02]


def test_timeout_is_retried():
    route = sequence({"status": 200, "body": b"late", "delay": 1.0}, {"status": 200, "body": b"ok"})
    with LocalServer({"/x": route}) as srv:
        client, sleeps = fast_client(timeout=0.3)
        assert client.request("GET", srv.url + "/x").text == "ok"
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_the_environment_variable(status):
    with LocalServer({"/x": sequence({"status": status, "body": b"no"})}) as srv:
        client, _ = fast_client(auth_env=("SOME_PROVIDER_TOKEN",))
        with pytest.raises(AuthError, match="SOME_PROVIDER_TOKEN") as err:
            client.request("GET", srv.url + "/x")
    assert str(status) in str(err.value)
    assert len(srv.log) == 1  # never retried


def test_other_4xx_fails_immediately_with_body():
    with LocalServer({"/x": sequence({"status": 404, "body": b"no such dataset"})}) as srv:
        client, _ = fast_client()
        with pytest.raises(RetrieveError, match="HTTP 404.*no such dataset"):
            client.request("GET", srv.url + "/x")
    assert len(srv.log) == 1


def test_malformed_json_is_a_clear_error():
    with LocalServer({"/x": sequence({"status": 200, "body": b'{"data": [1, 2'})}) as srv:
        client, _ = fast_client()
        with pytest.raises(CorruptFileError, match="malformed JSON"):
            client.get_json(srv.url + "/x")


def test_truncated_csv_is_rejected():
    header, rows = http.parse_csv_text("a,b,c\n1,2,3\n4,5,6\n", source="t")
    assert header == ["a", "b", "c"] and rows == [["1", "2", "3"], ["4", "5", "6"]]
    with pytest.raises(CorruptFileError, match="line 3 has 2 fields but the header has 3"):
        http.parse_csv_text("a,b,c\n1,2,3\n4,5", source="t")
    with pytest.raises(CorruptFileError, match="truncated or malformed"):
        http.parse_csv_text('a,b\n1,"unterminated', source="t")


def test_require_columns_names_every_missing_column():
    with pytest.raises(http.SchemaError, match="missing required column\\(s\\) b, d"):
        http.require_columns(["a", "c"], ["a", "b", "c", "d"], source="feed")


def _zip_payload(size: int = 300_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("data.bin", os.urandom(size))
    return buf.getvalue()


def test_download_resumes_with_range_after_dropped_connection(tmp_path):
    payload = _zip_payload()
    with LocalServer({"/f.zip": ranged(payload, drop_first_after=100_000)}) as srv:
        client, sleeps = fast_client()
        dest = client.download(srv.url + "/f.zip", tmp_path / "f.zip",
                               expected_sha256=hashlib.sha256(payload).hexdigest())
    assert dest.read_bytes() == payload
    assert zipfile.ZipFile(dest).testzip() is None
    assert "Range" not in srv.log[0]["headers"]
    resumed_at = int(srv.log[1]["headers"]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 100_000  # whole chunks received before the drop are kept
    assert len(sleeps) == 1
    assert not (tmp_path / "f.zip.part").exists()


def test_download_resumes_partial_file_from_previous_run(tmp_path):
    payload = _zip_payload(50_000)
    (tmp_path / "f.zip.part").write_bytes(payload[:20_000])
    with LocalServer({"/f.zip": ranged(payload)}) as srv:
        client, _ = fast_client()
        client.download(srv.url + "/f.zip", tmp_path / "f.zip")
    assert (tmp_path / "f.zip").read_bytes() == payload
    assert [r["headers"].get("Range") for r in srv.log] == ["bytes=20000-"]


def test_download_restarts_when_server_ignores_range(tmp_path):
    payload = _zip_payload(50_000)
    (tmp_path / "f.zip.part").write_bytes(b"stale bytes")
    with LocalServer({"/f.zip": ranged(payload, honour_range=False)}) as srv:
        client, _ = fast_client()
        client.download(srv.url + "/f.zip", tmp_path / "f.zip")
    assert (tmp_path / "f.zip").read_bytes() == payload


def test_download_checks_pinned_sha256_and_leaves_no_file(tmp_path):
    payload = _zip_payload(10_000)
    with LocalServer({"/f.zip": ranged(payload)}) as srv:
        client, _ = fast_client()
        with pytest.raises(ChecksumError, match="differs from the pinned"):
            client.download(srv.url + "/f.zip", tmp_path / "f.zip", expected_sha256="0" * 64)
    assert not (tmp_path / "f.zip").exists() and not (tmp_path / "f.zip.part").exists()


def test_download_gives_up_after_repeated_drops(tmp_path):
    payload = _zip_payload(50_000)

    def always_drop(req):
        return {**ranged(payload)(req), "drop_after": 10}

    with LocalServer({"/f.zip": always_drop}) as srv:
        client, _ = fast_client(retries=2)
        with pytest.raises(RetrieveError, match="failed after 3 attempts.*resume"):
            client.download(srv.url + "/f.zip", tmp_path / "f.zip")
    assert not (tmp_path / "f.zip").exists()
    assert (tmp_path / "f.zip.part").exists()  # kept so that the next run resumes


def test_progress_line_goes_to_stderr(tmp_path, capsys):
    payload = _zip_payload(20_000)
    with LocalServer({"/f.zip": ranged(payload)}) as srv:
        HttpClient(progress=True, backoff=0.001).download(srv.url + "/f.zip", tmp_path / "f.zip",
                                                          label="demo")
    err = capsys.readouterr().err
    assert "demo:" in err and "MB" in err


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out.csv"
    with pytest.raises(ValueError):
        with http.atomic_path(dest) as tmp:
            tmp.write_text("partial")
            raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []
    with http.atomic_path(dest) as tmp:
        tmp.write_text("whole")
    assert dest.read_text() == "whole"


def test_paginate_pages_stops_on_short_page():
    pages = {1: [1, 2], 2: [3, 4], 3: [5]}
    assert list(http.paginate_pages(lambda p: pages[p], page_size=2)) == [[1, 2], [3, 4], [5]]
    with pytest.raises(RetrieveError, match="did not end"):
        list(http.paginate_pages(lambda p: [0, 0], page_size=2, max_pages=3))


def test_dotenv_parsing_and_environment_precedence(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "# comment\nexport A_ONE=plain\nA_TWO='quoted # not a comment'\nA_THREE=value # note\n"
        "not a line\nA_FOUR=\"dq\"\n", encoding="utf-8")
    values = secrets.read_dotenv(tmp_path / ".env")
    assert values == {"A_ONE": "plain", "A_TWO": "quoted # not a comment", "A_THREE": "value",
                      "A_FOUR": "dq"}
    monkeypatch.delenv("A_ONE", raising=False)
    assert secrets.get_secret("A_ONE", project_root=tmp_path) == "plain"
    monkeypatch.setenv("A_ONE", "from-env")
    assert secrets.get_secret("A_ONE", project_root=tmp_path) == "from-env"
    monkeypatch.delenv("A_MISSING", raising=False)
    with pytest.raises(secrets.MissingCredentialsError, match="set the environment variable A_MISSING"):
        secrets.get_secret("A_MISSING", project_root=tmp_path)
    assert secrets.get_secret("A_MISSING", project_root=tmp_path, required=False) is None


def test_redaction_of_urls_params_and_log_records(monkeypatch, caplog):
    monkeypatch.setenv("REDACT_TEST_SECRET", "s3cr3t-value-xyz")
    value = secrets.get_secret("REDACT_TEST_SECRET")
    url = http.redact_url(f"https://user:pw@host.org/p?country=Mali&api_key={value}&token=t0k")
    assert url == "https://host.org/p?country=Mali"
    assert http.redact_params({"password": "x", "q": f"a {value}", "limit": 5, "country_code": "ML",
                               "access_token": "t", "key": "k"}) == {"q": "a ***", "limit": 5,
                                                                     "country_code": "ML"}
    caplog.set_level(logging.DEBUG, logger=http.LOGGER_NAME)
    http.log.warning("calling with %s", value)
    assert value not in caplog.text and "***" in caplog.text


def test_netrc_is_never_used_and_basic_auth_survives_login_redirect(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-PASS\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    holder = {}
    routes = {"/data": lambda req: {"status": 302, "headers": {"Location": holder["login"] + "/login"}},
              "/plain": lambda req: {"status": 200, "body": b"ok"}}
    with LocalServer(routes) as srv, LocalServer(
            {"/login": lambda req: {"status": 200, "body": req["headers"].get("Authorization", "none")}}) as login:
        holder["login"] = login.url.replace("127.0.0.1", "localhost")
        client, _ = fast_client()
        assert client.request("GET", srv.url + "/plain").text == "ok"
        assert "Authorization" not in srv.log[0]["headers"]  # ~/.netrc ignored
        client.session.auth = ("edl-user", "edl-pass")
        client.session.auth_hosts.add("localhost")
        assert client.request("GET", srv.url + "/data").text.startswith("Basic ")


def test_text_decoding_defaults_to_utf8_and_accepts_cp1252_files(tmp_path):
    body = "lon\n-4.18\u00a0\n".encode("utf-8")
    with LocalServer({"/c": lambda req: {"status": 200, "body": body,
                                         "headers": {"Content-Type": "text/csv"}}}) as srv:
        client, _ = fast_client()
        assert http.response_text(client.request("GET", srv.url + "/c")) == "lon\n-4.18\u00a0\n"
    (tmp_path / "excel.csv").write_bytes("Country\nC\xf4te d'Ivoire\n".encode("cp1252"))
    assert http.read_text_file(tmp_path / "excel.csv") == "Country\nC\u00f4te d'Ivoire\n"
