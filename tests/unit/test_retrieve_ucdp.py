"""UCDP GED: the versioned CSV zip from a local server of the real shape, cut to one country.

Shape: `https://ucdp.uu.se/downloads/ged/ged251-csv.zip` holds `GEDEvent_v25_1.csv` with the 49
columns of the GED codebook (UCDP GED Codebook version 25.1, https://ucdp.uu.se/downloads/ged/ged251.pdf;
the same header as the GED 25.1 file described in X57FI8W9S/TP1_EDA_GEDEvent README.md: 49 columns,
`date_start` etc.). `date_start` is `YYYY-MM-DD` (older releases `YYYY-MM-DD HH:MM:SS.000`),
`type_of_violence` 1/2/3, `country_id` the Gleditsch-Ward code (Mali 432, Niger 436). Some
candidate releases were published without a header row. All rows below are synthetic.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from local_http import LocalServer, ranged

from qipstudy.prepare import read_ucdp
from qipstudy.retrieve import retrieve_dataset, ucdp
from qipstudy.retrieve.http import ChecksumError, CorruptFileError, EmptyResultError, SchemaError

COUNTRY = {"iso3": "MLI", "sources": {"ucdp_country_id": 432}}
FAST = {"retries": 2, "backoff": 0.001, "progress": False, "timeout": 5}


def ged_row(i, cid, **values):
    rec = {c: "" for c in ucdp.GED_HEADER}
    rec.update(id=str(i), relid=f"MLI-2018-1-{i}", year="2018", active_year="1", code_status="Clear",
               type_of_violence="3", conflict_new_id="1234", conflict_name="JNIM - Civilians",
               side_a="JNIM", side_b="Civilians", where_prec="1", adm_1="Mopti region", adm_2="Djenne cercle",
               latitude="14.5", longitude="-4.2", geom_wkt="POINT (-4.2 14.5)", priogrid_gid="150000",
               country="Mali" if cid == 432 else "Niger", country_id=str(cid), region="Africa",
               event_clarity="1", date_prec="1", date_start="2018-05-01 00:00:00.000",
               date_end="2018-05-01 00:00:00.000", deaths_a="0", deaths_b="2", best="2", high="3", low="2")
    rec.update(values)
    return [rec[c] for c in ucdp.GED_HEADER]


def ged_csv(rows, header=True):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(ucdp.GED_HEADER)
    writer.writerows(rows)
    return buf.getvalue()


def ged_zip(rows, header=True, name="GEDEvent_v25_1.csv"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, ged_csv(rows, header))
    return buf.getvalue()


def run(srv, tmp_path, **extra):
    return retrieve_dataset("ucdp", "download", country=COUNTRY, options={**FAST, "base_url": srv.url, **extra},
                            out_dir=tmp_path / "ucdp", version="25.1")


def test_ged_header_has_the_49_codebook_columns():
    assert len(ucdp.GED_HEADER) == 49 and len(set(ucdp.GED_HEADER)) == 49
    assert set(ucdp.COLUMNS) <= set(ucdp.GED_HEADER)
    assert ucdp.ged_url("25.1", {}) == "https://ucdp.uu.se/downloads/ged/ged251-csv.zip"
    assert ucdp.ged_url("x", {"ged_version": "24.1", "base_url": "http://m/"}) == "http://m/ged/ged241-csv.zip"


def test_zip_download_below_base_url_filters_the_country(tmp_path):
    payload = ged_zip([ged_row(1, 432), ged_row(2, 436), ged_row(3, 432)])
    pin = hashlib.sha256(payload).hexdigest()
    with LocalServer({"/ged/ged251-csv.zip": ranged(payload)}) as srv:
        prov = run(srv, tmp_path, sha256=pin)
    with open(tmp_path / "ucdp" / "ged.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["1", "3"] and list(rows[0]) == ucdp.GED_HEADER
    doc = json.loads(prov.read_text())
    assert doc["sources"][0]["archive_sha256"] == pin and doc["notes"]["events"] == 2
    events = read_ucdp(tmp_path / "ucdp" / "ged.csv")
    assert events["event_type"].tolist() == ["One-sided violence"] * 2
    assert str(events["date"].iloc[0].date()) == "2018-05-01"


def test_headerless_release_is_read_with_the_codebook_names(tmp_path):
    payload = ged_zip([ged_row(1, 432), ged_row(2, 436)], header=False)
    with LocalServer({"/ged/ged251-csv.zip": ranged(payload)}) as srv:
        run(srv, tmp_path)
    lines = (tmp_path / "ucdp" / "ged.csv").read_text().splitlines()
    assert lines[0].split(",") == ucdp.GED_HEADER and len(lines) == 2


def test_a_dropped_connection_resumes_the_zip(tmp_path):
    payload = ged_zip([ged_row(i, 432) for i in range(2000)])
    with LocalServer({"/ged/ged251-csv.zip": ranged(payload, drop_first_after=len(payload) // 2)}) as srv:
        run(srv, tmp_path)
    assert [r["headers"].get("Range", "")[:6] for r in srv.log] == ["", "bytes="]
    assert len((tmp_path / "ucdp" / "ged.csv").read_text().splitlines()) == 2001


def test_pinned_checksum_mismatch(tmp_path):
    payload = ged_zip([ged_row(1, 432)])
    with LocalServer({"/ged/ged251-csv.zip": ranged(payload)}) as srv:
        with pytest.raises(ChecksumError, match="differs from the pinned"):
            run(srv, tmp_path, sha256="ab" * 32)


def test_corrupt_zip_is_not_kept(tmp_path):
    with LocalServer({"/ged/ged251-csv.zip": ranged(b"PK\x03\x04 not really a zip" * 20)}) as srv:
        with pytest.raises(CorruptFileError, match="not a valid zip file"):
            run(srv, tmp_path, cache_dir=str(tmp_path / "cache"))
    assert list((tmp_path / "cache").iterdir()) == []


def test_schema_drift_names_the_missing_column(tmp_path):
    header = [c for c in ucdp.GED_HEADER if c != "country_id"]
    text = ",".join(header) + "\n" + ",".join(["1"] * len(header)) + "\n"
    src = tmp_path / "GEDEvent_v25_1.csv"
    src.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError, match=r"UCDP GED GEDEvent_v25_1\.csv: missing required column\(s\) country_id"):
        ucdp.extract_country(src, tmp_path / "ged.csv", 432)


def test_truncated_csv_inside_a_zip_is_a_clear_error(tmp_path):
    text = ged_csv([ged_row(1, 432), ged_row(2, 432), ged_row(3, 432)])
    cut = text[: text.rindex("\n", 0, len(text) - 1) + 60]  # the third row stops after 60 characters
    src = tmp_path / "ged.csv.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("GEDEvent_v25_1.csv", cut)
    with pytest.raises(CorruptFileError, match=r"ged\.csv\.zip: GED data row 3 has \d+ fields but the header "
                                               r"has 49; the file is truncated"):
        ucdp.extract_country(src, tmp_path / "out.csv", 432)
    src.with_name("q.csv").write_text(text[:-20] + '"unterminated', encoding="utf-8")
    with pytest.raises(CorruptFileError, match=r"q\.csv: (unreadable GED CSV after 2 rows|GED data row 3)"):
        ucdp.extract_country(src.with_name("q.csv"), tmp_path / "out.csv", 432)
    assert not (tmp_path / "out.csv").exists()


def test_no_event_of_the_country(tmp_path):
    src = tmp_path / "g.csv"
    src.write_text(ged_csv([ged_row(1, 436)]), encoding="utf-8")
    with pytest.raises(EmptyResultError, match=r"no GED events with country_id=432 among 1 rows"):
        ucdp.extract_country(src, tmp_path / "out.csv", 432)


def test_user_file_plain_csv_with_bom(tmp_path):
    src = tmp_path / "GEDEvent_v25_1.csv"
    src.write_text("\ufeff" + ged_csv([ged_row(7, 432, date_start="2019-01-02")]), encoding="utf-8")
    prov = retrieve_dataset("ucdp", "user", country=COUNTRY, options={}, out_dir=tmp_path / "u", user_path=src)
    assert json.loads(prov.read_text())["notes"]["events"] == 1
    assert read_ucdp(tmp_path / "u" / "ged.csv")["event_id"].tolist() == ["7"]
