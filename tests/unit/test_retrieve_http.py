"""HTTP plumbing of the retrieve step against local servers: retries, resume, parsing, secrets,
deadlines, bounded bodies, body validation, redirects and credentials, offline failures.

The misbehaviours are those of real servers and networks, framed as HTTP defines them:
RFC 9112 section 6 (a body is delimited by Content-Length or chunked coding; fewer bytes means an
incomplete message), RFC 9110 section 15.4 (301/302 may turn POST into GET, 303 does, 307/308 repeat
the method and body), RFC 9110 section 8.4 (Content-Encoding gzip/deflate, RFC 1952/1950/1951),
and requests' documented behaviour (ChunkedEncodingError, stripping Authorization on a cross-host
redirect, https://requests.readthedocs.io/en/latest/api/#exceptions).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import socket
import time
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from local_http import LocalServer, gzipped, ranged, redirect, refused_port, sequence

from qipstudy.retrieve import http, secrets
from qipstudy.retrieve.http import (
    AuthError,
    ChecksumError,
    CorruptFileError,
    DeadlineError,
    HttpClient,
    OfflineError,
    OptionsError,
    PermanentError,
    RedirectError,
    ResponseTooLargeError,
    RetrieveError,
    UnexpectedContentError,
)


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
    when = datetime.now(UTC) + timedelta(seconds=30)
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


@pytest.mark.parametrize("data", [
    b"a,b,c\n1,2,3\n4,5,6\n", b"\xef\xbb\xbfa, b ,c\r\n1,2,3\r\n\r\n4,5,6", b"a,b\n", b"", b"  \n\n",
    b'a,b\n"x\ny",2\n', "a,b\ncaf\u00e9,\u00a0 1\n".encode("cp1252"),  # Excel's cp1252
    b"a,b,c\n1,2,3\n4,5", b'a,b\n1,"unterminated', b"a,b\n1,2,3\n",
])
def test_csv_file_shape_checks_a_file_as_parse_csv_text_checks_its_text(tmp_path, data):
    # the streamed check of a (possibly huge) file: the same header, row count and errors
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    try:
        header, rows = http.parse_csv_text(http.read_text_file(path), source="f")
    except CorruptFileError as exc:
        with pytest.raises(CorruptFileError) as got:
            http.csv_file_shape(path, source="f")
        assert str(got.value) == str(exc)
    else:
        assert http.csv_file_shape(path, source="f") == (header, len(rows))


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


# ----------------------------------------------------------------------------- bodies cut off mid-way

JSON = {"Content-Type": "application/json"}
PAGE = json.dumps({"data": [{"id": i, "notes": "x" * 200} for i in range(300)]}).encode()


@pytest.mark.parametrize("fault", [
    {"reset_after": 5000},                    # TCP reset mid-body (ConnectionResetError)
    {"drop_after": 5000},                     # clean close before Content-Length bytes (IncompleteRead)
    {"chunked": 4096, "drop_after": 5000},    # chunked body stopping inside a chunk (ChunkedEncodingError)
])
def test_body_cut_off_mid_way_is_retried(fault):
    bad = {"status": 200, "body": PAGE, "headers": JSON, **fault}
    good = {"status": 200, "body": PAGE, "headers": JSON}
    with LocalServer({"/p": sequence(bad, good)}) as srv:
        client, sleeps = fast_client()
        assert client.get_json(srv.url + "/p")["data"][299]["id"] == 299
    assert len(srv.log) == 2 and len(sleeps) == 1


def test_paging_keeps_pages_fetched_before_a_reset():
    """Page 2's first answer is reset mid-body: only page 2 is asked again, pages 1 and 3 once."""
    pages = {n: json.dumps({"data": list(range((n - 1) * 3, min(n * 3, 7)))}).encode() for n in (1, 2, 3)}
    state = {"page2": 0}

    def route(req):
        n = int(req["query"]["page"])
        resp = {"status": 200, "body": pages[n], "headers": JSON}
        if n == 2:
            state["page2"] += 1
            if state["page2"] == 1:
                resp["reset_after"] = 4
        return resp

    with LocalServer({"/list": route}) as srv:
        client, sleeps = fast_client()
        got = list(http.paginate_pages(
            lambda n: client.get_json(srv.url + "/list", params={"page": n})["data"], page_size=3))
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
    assert [r["query"]["page"] for r in srv.log] == ["1", "2", "2", "3"]
    assert len(sleeps) == 1


def test_repeated_cut_offs_end_in_one_clear_error():
    with LocalServer({"/p": sequence({"status": 200, "body": PAGE, "reset_after": 100})}) as srv:
        client, _ = fast_client(retries=2)
        with pytest.raises(RetrieveError, match=r"giving up on GET http://127\.0\.0\.1:\d+/p after 3 attempts "
                                                r"\(last failure: .*(Reset|Protocol|reset)"):
            client.get_json(srv.url + "/p")
    assert len(srv.log) == 3


# ----------------------------------------------------------------------------- deadlines

def test_trickling_server_fails_within_the_request_deadline():
    """4,000 bytes at one byte per 10 ms would take 40 s; the deadline of 0.6 s stops it."""
    route = sequence({"status": 200, "body": b"x" * 4000, "trickle": 0.01})
    with LocalServer({"/slow": route}) as srv:
        client, sleeps = fast_client(deadline=0.6, timeout=5)
        began = time.monotonic()
        with pytest.raises(DeadlineError, match=r"/slow: the body did not arrive within the deadline \(\d+ bytes"):
            client.request("GET", srv.url + "/slow")
        assert time.monotonic() - began < 2.0
    assert len(srv.log) == 1 and sleeps == []  # a deadline is not retried


def test_trickling_download_fails_within_the_download_deadline_and_keeps_the_part(tmp_path):
    route = sequence({"status": 200, "body": b"\x00" * 4000, "trickle": 0.01})
    with LocalServer({"/f.bin": route}) as srv:
        client, _ = fast_client(download_deadline=0.6, deadline=60, timeout=5)
        began = time.monotonic()
        with pytest.raises(DeadlineError, match="deadline"):
            client.download(srv.url + "/f.bin", tmp_path / "f.bin")
        assert time.monotonic() - began < 2.0
    assert not (tmp_path / "f.bin").exists()
    assert 0 < (tmp_path / "f.bin.part").stat().st_size < 4000  # a later run resumes


# ----------------------------------------------------------------------------- bounded bodies

def test_gzip_body_is_decoded():
    with LocalServer({"/g": lambda req: gzipped(b'{"ok": [1, 2, 3]}', headers=JSON)}) as srv:
        client, _ = fast_client()
        assert client.get_json(srv.url + "/g") == {"ok": [1, 2, 3]}
    assert srv.log[0]["headers"]["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_body_zlib_or_raw_is_decoded(wbits):
    comp = zlib.compressobj(wbits=wbits)
    body = comp.compress(b"a,b\n1,2\n") + comp.flush()
    with LocalServer({"/d": lambda req: {"status": 200, "body": body,
                                         "headers": {"Content-Encoding": "deflate"}}}) as srv:
        client, _ = fast_client()
        assert client.request("GET", srv.url + "/d").content == b"a,b\n1,2\n"


def test_gzip_bomb_is_refused():
    """20 MB of zeros compress to about 20 kB; with a 1 MiB limit the body is refused, not inflated."""
    bomb = gzip.compress(b"\x00" * (20 * 1024 * 1024))
    assert len(bomb) < 50_000
    with LocalServer({"/bomb": lambda req: {"status": 200, "body": bomb,
                                            "headers": {"Content-Encoding": "gzip", **JSON}}}) as srv:
        client, sleeps = fast_client(max_bytes=1024 * 1024)
        with pytest.raises(ResponseTooLargeError, match=r"inflates beyond the limit of 1048576 bytes.*max_bytes"):
            client.request("GET", srv.url + "/bomb")
    assert len(srv.log) == 1 and sleeps == []


@pytest.mark.parametrize("method", ["request", "download"])
def test_huge_content_length_is_refused_before_reading(method, tmp_path):
    route = sequence({"status": 200, "body": b"tiny", "content_length": 10 ** 13, "drop_after": 4})
    with LocalServer({"/huge": route}) as srv:
        client, sleeps = fast_client()
        with pytest.raises(ResponseTooLargeError, match=r"announces 10000000000000 bytes, more than the limit"):
            if method == "request":
                client.request("GET", srv.url + "/huge")
            else:
                client.download(srv.url + "/huge", tmp_path / "huge.bin")
    assert len(srv.log) == 1 and sleeps == []
    assert not (tmp_path / "huge.bin").exists()


def test_invalid_content_length_is_a_clear_error():
    route = sequence({"status": 200, "body": b"abc", "headers": {"Content-Length": "abc"}})
    with LocalServer({"/x": route}) as srv:
        client, _ = fast_client(retries=0)
        with pytest.raises(RetrieveError):
            client.request("GET", srv.url + "/x")


# ----------------------------------------------------------------------------- validation

HTML_ERROR = b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body>Maintenance</body></html>"
# A Keycloak login form as EOG and other providers serve it (the password input is the tell).
HTML_LOGIN = (b"<!DOCTYPE html><html><head><title>Sign in to eog</title></head><body><form id='kc-form-login' "
              b"action='/auth/realms/master/login-actions/authenticate'><input name='username'>"
              b"<input type='password' name='password'></form></body></html>")


def test_html_error_page_with_status_200_is_refused():
    with LocalServer({"/data.csv": lambda req: {"status": 200, "body": HTML_ERROR,
                                                "headers": {"Content-Type": "text/html; charset=utf-8"}}}) as srv:
        client, sleeps = fast_client(dataset="iati")
        with pytest.raises(UnexpectedContentError, match=r"iati: .*/data\.csv: the server answered with an HTML "
                                                         r"page instead of the data.*Nothing was saved"):
            client.request("GET", srv.url + "/data.csv")
    assert sleeps == []


def test_login_page_on_another_host_is_an_auth_error_and_nothing_is_cached(tmp_path):
    with LocalServer({"/login": lambda req: {"status": 200, "body": HTML_LOGIN,
                                             "headers": {"Content-Type": "text/html"}}}, host="127.0.0.2") as idp:
        with LocalServer({"/f.tif": lambda req: redirect(idp.url + "/login")}) as data:
            client, _ = fast_client(auth_env=("EOG_ACCESS_TOKEN",), dataset="nightlights")
            with pytest.raises(AuthError, match=r"nightlights: .*login page \(redirected to http://127\.0\.0\.2.*"
                                                r"EOG_ACCESS_TOKEN.*Nothing was saved"):
                client.download(data.url + "/f.tif", tmp_path / "f.tif")
    assert list(tmp_path.iterdir()) == []


def test_cached_html_page_is_downloaded_again(tmp_path):
    """A poisoned cache (an HTML page saved by an older client) does not poison the next run."""
    payload = _zip_payload(5_000)
    (tmp_path / "f.zip").write_bytes(HTML_ERROR)
    with LocalServer({"/f.zip": ranged(payload)}) as srv:
        client, _ = fast_client()
        client.download(srv.url + "/f.zip", tmp_path / "f.zip")
    assert (tmp_path / "f.zip").read_bytes() == payload and len(srv.log) == 1


def test_validate_callback_refuses_a_bad_file_and_removes_it(tmp_path):
    def must_be_zip(path):
        if not zipfile.is_zipfile(path):
            raise CorruptFileError(f"{path.name}: not a zip")

    with LocalServer({"/f.zip": ranged(b"PK\x03\x04 but no zip at all" * 10)}) as srv:
        client, _ = fast_client()
        with pytest.raises(CorruptFileError, match=r"f\.zip\.part: not a zip"):
            client.download(srv.url + "/f.zip", tmp_path / "f.zip", validate=must_be_zip)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- redirects and credentials

def test_redirect_loop_and_too_many_redirects_are_clear_errors():
    routes = {"/a": lambda req: redirect("/b"), "/b": lambda req: redirect("/a")}
    hops = {f"/h{i}": (lambda req, i=i: redirect(f"/h{i + 1}")) for i in range(20)}
    with LocalServer({**routes, **hops}) as srv:
        client, sleeps = fast_client()
        with pytest.raises(RedirectError, match=r"redirect loop \(.*/a -> .*/b -> .*/a -> .*/b -> .*/a\)"):
            client.request("GET", srv.url + "/a")
        with pytest.raises(RedirectError, match=r"more than 10 redirects.*max_redirects"):
            client.request("GET", srv.url + "/h0")
    assert sleeps == []


def test_307_never_reposts_a_password_to_another_host():
    """The ACLED defect: a 307 from the token endpoint naming another host must not get the form."""
    with LocalServer({"/steal": lambda req: {"status": 200, "body": b'{"access_token": "t"}'}},
                     host="127.0.0.2") as thief:
        with LocalServer({"/oauth/token": lambda req: redirect(thief.url + "/steal", 307)}) as site:
            client, _ = fast_client()
            with pytest.raises(RedirectError, match=r"HTTP 307 asking to send the request body .* to "
                                                    r"http://127\.0\.0\.2:\d+/steal; refused"):
                client.request("POST", site.url + "/oauth/token",
                               data={"username": "me@example.org", "password": "hunter2-FAKE"})
    assert thief.log == []
    assert site.log[0]["form"]["password"] == "hunter2-FAKE"


def test_307_to_the_same_host_reposts_and_302_to_another_host_becomes_a_bare_get():
    with LocalServer({"/in": lambda req: {"status": 200, "body": json.dumps(req["form"])}}, host="127.0.0.2") as other:
        routes = {"/old": lambda req: redirect("/new", 307),
                  "/new": lambda req: {"status": 200, "body": json.dumps(req["form"])},
                  "/away": lambda req: redirect(other.url + "/in", 302)}
        with LocalServer(routes) as site:
            client, _ = fast_client()
            form = {"grant_type": "password", "password": "pw-FAKE-1"}
            assert client.request("POST", site.url + "/old", data=form).json() == form
            assert client.request("POST", site.url + "/away", data=form).json() == {}
    assert other.log[0]["method"] == "GET" and other.log[0]["body"] == b""


def test_credential_headers_stay_on_the_configured_host():
    seen = {}

    def record(name):
        def route(req):
            seen[name] = req["headers"]
            return {"status": 200, "body": b"ok"}
        return route

    with LocalServer({"/file": record("other")}, host="127.0.0.2") as other:
        routes = {"/here": lambda req: redirect("/file", 302), "/file": record("same"),
                  "/there": lambda req: redirect(other.url + "/file", 302)}
        with LocalServer(routes) as site:
            client, _ = fast_client()
            creds = {"Authorization": "Bearer tok-FAKE", "Ocp-Apim-Subscription-Key": "key-FAKE",
                     "X-Api-Key": "k2-FAKE"}
            client.request("GET", site.url + "/here", headers=creds)
            client.request("GET", site.url + "/there", headers=creds)
    assert seen["same"]["Authorization"] == "Bearer tok-FAKE"
    assert seen["same"]["Ocp-Apim-Subscription-Key"] == "key-FAKE"
    assert not {"Authorization", "Ocp-Apim-Subscription-Key", "X-Api-Key"} & set(seen["other"])


def test_basic_auth_reaches_only_the_first_host_and_the_login_host():
    seen = {}

    def record(name):
        def route(req):
            seen[name] = req["headers"].get("Authorization")
            return {"status": 200, "body": b"ok"}
        return route

    with LocalServer({"/x": record("cdn")}, host="127.0.0.2") as cdn:
        with LocalServer({"/data": lambda req: redirect(cdn.url + "/x")}) as site:
            client, _ = fast_client()
            client.session.auth = ("edl-user", "edl-pass-FAKE")
            client.request("GET", site.url + "/data")
            assert seen["cdn"] is None  # not a login host: no password
            client.session.auth_hosts.add("127.0.0.2")
            client.request("GET", site.url + "/data")
            assert seen["cdn"].startswith("Basic ")


# ----------------------------------------------------------------------------- offline

def test_dns_failure_is_one_offline_error_within_seconds(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    client, sleeps = fast_client(retries=5, dataset="acled", user_file_hint="an ACLED export CSV")
    began = time.monotonic()
    with pytest.raises(OfflineError) as err:
        client.request("GET", "https://acleddata.com/api/acled/read")
    assert time.monotonic() - began < 2.0 and sleeps == []  # not retried
    msg = str(err.value)
    assert msg.startswith("acled: cannot reach acleddata.com: its host name could not be resolved")
    assert "`datasets.acled.mode: user`" in msg and "`datasets.acled.user_file` to an ACLED export CSV" in msg
    assert isinstance(err.value, PermanentError)


def test_connection_refused_is_an_offline_error_without_retries(tmp_path):
    url = f"http://127.0.0.1:{refused_port()}/ged.zip"
    client, sleeps = fast_client(retries=5, dataset="ucdp")
    with pytest.raises(OfflineError, match=r"ucdp: cannot reach 127\.0\.0\.1: the connection was refused"):
        client.download(url, tmp_path / "ged.zip")
    with pytest.raises(OfflineError, match="connection was refused"):
        client.probe(url)
    assert sleeps == []


def test_probe_accepts_any_http_answer():
    with LocalServer({}) as srv:
        client, _ = fast_client()
        client.probe(srv.url + "/status")  # a 404 still proves the server is reachable


@pytest.mark.parametrize("url, kind", [("http://", OptionsError), ("acleddata.com/api", OptionsError),
                                       ("ftp://example.org/x", OptionsError)])
def test_malformed_urls_are_clear_errors(url, kind):
    client, _ = fast_client(dataset="acled")
    with pytest.raises(kind, match=r"acled: invalid URL .*base_url"):
        client.request("GET", url)


# ----------------------------------------------------------------------------- secrets

@pytest.fixture
def isolated_secrets():
    """The registry of known secrets is process-wide: restore it so a 1-letter secret stays here."""
    saved = set(secrets._KNOWN)
    yield
    secrets._KNOWN.clear()
    secrets._KNOWN.update(saved)


@pytest.mark.parametrize("secret", ["x", "pw", "p@s"])
def test_short_secrets_are_redacted_too(secret, monkeypatch, isolated_secrets):
    monkeypatch.setenv("SHORT_SECRET_TEST", secret)
    value = secrets.get_secret("SHORT_SECRET_TEST")
    assert secrets.redact(f"login with {value} failed") == "login with *** failed"
    if secret == "p@s":
        assert secrets.redact("password=p%40s") == "password=***"


def test_url_encoded_secrets_are_redacted(monkeypatch, isolated_secrets):
    monkeypatch.setenv("ENCODED_SECRET_TEST", "p@ss w/rd&1")
    secrets.get_secret("ENCODED_SECRET_TEST")
    assert secrets.redact("body: password=p%40ss+w%2Frd%261&x=1") == "body: password=***&x=1"
    assert secrets.redact("q=p%40ss%20w%2Frd%261") == "q=***"


def test_json_dumps_redacts_strings_and_keeps_numbers(monkeypatch, isolated_secrets):
    monkeypatch.setenv("NUMERIC_SECRET_TEST", "12")
    secrets.get_secret("NUMERIC_SECRET_TEST")
    doc = json.loads(http.json_dumps({"rows": 12, "note": "token 12 used", "12": [1, "a12b"]}))
    assert doc == {"rows": 12, "note": "token *** used", "***": [1, "a***b"]}


# ----------------------------------------------------------------------------- options

def test_resolve_options_fills_defaults_and_refuses_typos_and_wrong_types():
    schema = http.options_schema({"limit": {"type": "integer", "default": 5000, "description": "rows"}})
    opts = http.resolve_options({"limit": None, "retries": 1}, schema, dataset="acled")
    assert opts["limit"] == 5000 and opts["retries"] == 1 and opts["deadline"] == 600.0
    with pytest.raises(OptionsError, match=r"datasets\.acled\.options: Additional properties are not allowed "
                                           r"\('limt' was unexpected\)"):
        http.resolve_options({"limt": 10}, schema, dataset="acled")
    with pytest.raises(OptionsError, match=r"datasets\.acled\.options\.limit: 'many' is not of type 'integer'"):
        http.resolve_options({"limit": "many"}, schema, dataset="acled")


def test_every_http_option_is_declared_with_type_default_and_description():
    import jsonschema

    for name, spec in http.HTTP_OPTIONS_SCHEMA.items():
        assert {"type", "default", "description"} <= set(spec), name
        jsonschema.validate(spec["default"], {k: v for k, v in spec.items() if k not in ("default", "description")})
    client = HttpClient.from_options({"retries": 0, "deadline": 3, "max_bytes": 10, "max_redirects": 2})
    assert (client.retries, client.deadline, client.max_bytes, client.max_redirects) == (0, 3.0, 10, 2)


def test_a_network_that_drops_packets_is_offline_after_two_connection_timeouts(monkeypatch):
    """No answer to the TCP handshake (a firewall dropping packets): two tries, then OfflineError."""
    import urllib3.util.connection

    attempts = []

    def black_hole(address, timeout=None, *args, **kwargs):
        attempts.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", black_hole)
    client, sleeps = fast_client(retries=5, timeout=60, dataset="ucdp")
    with pytest.raises(OfflineError, match=r"ucdp: cannot reach ucdp\.uu\.se: no connection within 20 s, twice"):
        client.request("GET", "https://ucdp.uu.se/downloads/ged/ged251-csv.zip")
    assert attempts == [20.0, 20.0] and len(sleeps) == 1


def test_head_requests_read_no_body():
    with LocalServer({"/f": lambda req: {"status": 200, "body": b"x" * 100}}) as srv:
        client, sleeps = fast_client()
        resp = client.request("HEAD", srv.url + "/f")
    assert resp.headers["Content-Length"] == "100" and resp.content == b"" and sleeps == []
