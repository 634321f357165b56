"""Readers and prepare_events on tiny hand-made files whose answers can be checked by eye.

Two square admin-3 polygons: Gao (lon 0..1, lat 0..1, a study region) and Kayes (lon 1..2, not).
"""
from __future__ import annotations

import csv
import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from qipstudy.prepare import (
    EVENTS_COLUMNS,
    prepare_events,
    read_acled,
    read_admin3,
    read_iati,
    read_qips,
    read_ucdp,
    sector_group_name,
    validate_events,
    write_events,
)

ACLED_HEADER = (
    "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,"
    "assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,iso,region,"
    "country,admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,source_scale,"
    "notes,fatalities,tags,timestamp"
).split(",")

OUTCOMES = {
    "civilians": {"acled_event_types": ["Violence against civilians"], "ucdp_types": [3]},
    "battles": {"acled_event_types": ["Battles"], "ucdp_types": [1]},
    "nsag": {"acled_inter1": ["Rebel group", "Political militia", "Identity militia"]},
}

# (id, date, event_type, inter1 label, inter1 code, lat, lon)
ACLED_ROWS = [
    ("MLI1", "2018-05-01", "Battles", "Rebel group", "2", "0.5", "0.5"),  # kept
    ("MLI2", "05 March 2019", "Violence against civilians", "State forces", "1", "0.5", "0.999"),  # just inside Gao
    ("MLI3", "2019-01-01", "Battles", "Identity militia", "4", "0.5", "1.001"),  # just inside Kayes: not a study region
    ("MLI4", "2016-12-31", "Protests", "Protesters", "6", "0.5", "0.5"),  # day before the period
    ("MLI5", "2021-01-01", "Battles", "State forces", "1", "0.5", "0.5"),  # day after the period
    ("MLI6", "2020-12-31", "Riots", "Rioters", "5", "0.5", "0.5"),  # last day: kept
    ("MLI7", "2018-01-01", "Battles", "State forces", "1", "", "0.5"),  # no latitude
    ("MLI8", "2018-01-01", "Battles", "State forces", "1", "0.5", "2.5"),  # on no polygon
    ("MLI9", "2017-01-01", "Explosions/Remote violence", "Political militia", "3", "0.2", "0.2"),  # first day: kept
    ("MLI10", "", "Battles", "State forces", "1", "0.5", "0.5"),  # no date
]


def write_acled(path, rows=ACLED_ROWS, codes=False, drop=()):
    header = [c for c in ACLED_HEADER if c not in drop]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for eid, date, etype, label, code, lat, lon in rows:
            rec = {c: "" for c in header}
            rec.update(event_id_cnty=eid, event_date=date, event_type=etype, inter1=code if codes else label,
                       latitude=lat, longitude=lon, country="Mali", timestamp="1618000000")
            w.writerow({k: v for k, v in rec.items() if k in header})
    return path


def write_qips(path, rows, header=("ref", "mission", "title", "start_date", "end_date", "category", "activity_type",
                                   "region", "latitude", "longitude", "amount_disbursed", "status")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
    return path


QIP_ROWS = [
    # ref, mission, title, start, end, category, activity_type, region, lat, lon, amount, status
    ("Q1", "MINUSMA", "Well", "2018-01-01", "2018-06-01", "Early recovery", "Infrastructure & equipment", "Gao",
     "0.5", "\u00a00.25", "1,234,567", "Closed"),
    ("Q2", "MINUSMA", "Seminar", "15/03/2018", "", "Rule of Law", "Conferences/seminars", "Gao",
     "", "0.5", "12\u00a0000", "Closed"),
    ("Q3", "MINUSMA", "Sport", "2019-07-04", "", "Other", "Sport & cultural events", "Gao",
     "0,75", "0,5\u00a0", "", "Closed"),
]

IATI_HEADER = ("aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end", "sector_code",
               "sector_group", "location_latitude", "location_longitude", "location_name", "commitment", "spend")
IATI_ROWS = [
    ("XM-1", "Health", "XM", "Donor", "2", "17532", "", "12220", "Basic health", "0.4", "0.4", "Gao", "5000", ""),
    ("XM-1", "Health", "XM", "Donor", "2", "2019-06-30", "", "12220", "Basic health", "0.6", "0.6", "Gao", "5000", ""),
    ("XM-1", "Health", "XM", "Donor", "2", "17532", "", "12220", "Basic health", "", "", "Mali", "5000", ""),
    ("XM-2", "Farm", "XM", "Donor", "2", "17532.0", "", "31120", "Agriculture", "0.5", "1.5", "Kayes", "", ""),
]


@pytest.fixture
def admin3_path(tmp_path):
    gdf = gpd.GeoDataFrame(
        {
            "ADM0_FR": ["Mali", "Mali"], "ADM0_PCODE": ["ML", "ML"],
            "ADM1_FR": ["Gao", "Kayes"], "ADM1_PCODE": ["ML07", "ML01"],
            "ADM2_FR": ["Gao", "Kayes"], "ADM2_PCODE": ["ML0701", "ML0101"],
            "ADM3_FR": ["Gao", "Kayes"], "ADM3_PCODE": ["ML070101", "ML010101"],
        },
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    path = tmp_path / "adm3.gpkg"
    gdf.to_file(path, layer="adm3", driver="GPKG", engine="pyogrio")
    return path


@pytest.fixture
def inputs(tmp_path, admin3_path):
    acled = read_acled(write_acled(tmp_path / "acled.csv"))
    qips = read_qips(write_qips(tmp_path / "qips.csv", QIP_ROWS))
    iati = read_iati(write_qips(tmp_path / "activities.csv", IATI_ROWS, header=IATI_HEADER))
    admin3 = read_admin3(admin3_path, "ADM1_FR", "ADM3_FR")
    return acled, qips, iati, admin3


def run(acled, qips, iati, admin3, **kw):
    args = dict(period_start="2017-01-01", period_end="2020-12-31", study_regions=["Gao"], admin1_field="ADM1_FR",
                outcomes=OUTCOMES)
    args.update(kw)
    return prepare_events(acled, qips, iati, admin3, **args)


# ----------------------------------------------------------------------------- readers


def test_read_acled_accepts_both_date_formats_and_keeps_missing(tmp_path):
    acled = read_acled(write_acled(tmp_path / "acled.csv"))
    by_id = acled.set_index("event_id")
    assert by_id.loc["MLI1", "date"] == pd.Timestamp("2018-05-01")
    assert by_id.loc["MLI2", "date"] == pd.Timestamp("2019-03-05")
    assert pd.isna(by_id.loc["MLI10", "date"])
    assert np.isnan(by_id.loc["MLI7", "lat"])
    assert acled["date"].dtype == "datetime64[ns]"


def test_inter1_codes_and_labels_give_the_same_nsag_flags(tmp_path, inputs):
    _, qips, iati, admin3 = inputs
    labels = read_acled(write_acled(tmp_path / "labels.csv"))
    codes = read_acled(write_acled(tmp_path / "codes.csv", codes=True))
    assert labels["inter1"].tolist() == codes["inter1"].tolist()
    a = run(labels, qips, iati, admin3)
    b = run(codes, qips, iati, admin3)
    pd.testing.assert_frame_equal(a, b)
    nsag = a.loc[a["outcome_nsag"] == 1, "event_id"].tolist()
    assert sorted(nsag) == ["MLI1", "MLI9"]  # rebel group, political militia; MLI3 (identity militia) is in Kayes


def test_inter1_plural_labels_of_older_exports(tmp_path):
    rows = [("A", "2018-01-01", "Battles", "Rebel Groups", "2", "0.5", "0.5"),
            ("B", "2018-01-01", "Battles", " identity militias ", "4", "0.5", "0.5")]
    acled = read_acled(write_acled(tmp_path / "a.csv", rows=rows))
    assert acled["inter1"].tolist() == ["Rebel group", "Identity militia"]


def test_read_acled_missing_column_names_column_and_file(tmp_path):
    path = write_acled(tmp_path / "acled.csv", drop=("event_type",))
    with pytest.raises(ValueError, match=r"ACLED file .*acled\.csv.*missing column\(s\) 'event_type'") as err:
        read_acled(path)
    # the columns present are the whole header, also those the reader does not parse
    assert "country" in str(err.value) and "timestamp" in str(err.value)


def test_read_acled_parses_only_its_fields_and_ignores_the_rest(tmp_path):
    # the columns read_acled does not use (notes, tags, …) are not parsed: filling them with text
    # that no field parser would accept changes nothing; older upper-case names are still found
    plain = read_acled(write_acled(tmp_path / "plain.csv"))
    noisy = tmp_path / "noisy.csv"
    text = (tmp_path / "plain.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].upper().replace("ASSOC_ACTOR_1", "ALLY_ACTOR_1")
    rows = [line.replace(",Mali,", ',"Mali, ""the"" country",') for line in text[1:]]
    noisy.write_text("\n".join([header + ",NOTES", *(r + ',"a, b; c"' for r in rows)]) + "\n", encoding="utf-8")
    pd.testing.assert_frame_equal(read_acled(noisy), plain)


def test_read_acled_bad_date_names_row_and_field(tmp_path):
    rows = list(ACLED_ROWS[:2]) + [("X", "2019/13/45", "Battles", "Rebel group", "2", "0.5", "0.5")]
    with pytest.raises(ValueError, match=r"acled\.csv: row 3, field 'event_date': cannot parse '2019/13/45'"):
        read_acled(write_acled(tmp_path / "acled.csv", rows=rows))


def test_read_acled_unknown_inter1_and_event_type(tmp_path):
    bad_inter = [("X", "2019-01-01", "Battles", "Aliens", "9", "0.5", "0.5")]
    with pytest.raises(ValueError, match=r"row 1, field 'inter1'"):
        read_acled(write_acled(tmp_path / "a.csv", rows=bad_inter))
    with pytest.raises(ValueError, match=r"row 1, field 'inter1': cannot parse '9'"):
        read_acled(write_acled(tmp_path / "b.csv", rows=bad_inter, codes=True))
    bad_type = [("X", "2019-01-01", "Battle", "Rebel group", "2", "0.5", "0.5")]
    with pytest.raises(ValueError, match=r"row 1, field 'event_type': cannot parse 'Battle'"):
        read_acled(write_acled(tmp_path / "c.csv", rows=bad_type))


def test_read_acled_repeated_ids_and_out_of_range_latitude(tmp_path):
    # a monadic export repeats an event once per actor: rows that agree are merged into one event
    same = [ACLED_ROWS[0], ACLED_ROWS[0][:3] + ("Political militia", "3") + ACLED_ROWS[0][5:]]
    merged = read_acled(write_acled(tmp_path / "m.csv", rows=same))
    assert merged["event_id"].tolist() == ["MLI1"] and merged["inter1"].tolist() == ["Rebel group"]
    # rows of one event that disagree on its place are refused, naming rows and field
    moved = [ACLED_ROWS[0], ACLED_ROWS[0][:5] + ("0.7",) + ACLED_ROWS[0][6:]]
    with pytest.raises(ValueError, match=r"event_id_cnty 'MLI1' appears in several rows that disagree on field "
                                         r"'latitude' \(row 1: '0.5', row 2: '0.7'\)"):
        read_acled(write_acled(tmp_path / "a.csv", rows=moved))
    far = [("X", "2019-01-01", "Battles", "Rebel group", "2", "95", "0.5")]
    with pytest.raises(ValueError, match=r"row 1, field 'latitude'.*±90"):
        read_acled(write_acled(tmp_path / "b.csv", rows=far))


def test_read_qips_lenient_coordinates_amounts_and_dates(tmp_path):
    q = read_qips(write_qips(tmp_path / "qips.csv", QIP_ROWS)).set_index("event_id")
    assert q.loc["Q1", "lon"] == 0.25  # leading NBSP
    assert q.loc["Q3", "lat"] == 0.75 and q.loc["Q3", "lon"] == 0.5  # comma decimals, trailing NBSP
    assert np.isnan(q.loc["Q2", "lat"])
    assert q.loc["Q1", "funding_usd"] == 1234567.0
    assert q.loc["Q2", "funding_usd"] == 12000.0  # NBSP thousands separator
    assert np.isnan(q.loc["Q3", "funding_usd"])
    assert q.loc["Q2", "date"] == pd.Timestamp("2018-03-15")  # DD/MM/YYYY


def test_read_qips_refuses_garbage_coordinate_and_comma_decimal_amount(tmp_path):
    rows = [QIP_ROWS[0][:8] + ("abc", "0.5", "100", "Closed")]
    with pytest.raises(ValueError, match=r"qips\.csv: row 1, field 'latitude': cannot parse 'abc'"):
        read_qips(write_qips(tmp_path / "qips.csv", rows))
    rows = [QIP_ROWS[0][:10] + ("12,5", "Closed")]
    with pytest.raises(ValueError, match=r"row 1, field 'amount_disbursed': cannot parse '12,5'"):
        read_qips(write_qips(tmp_path / "qips2.csv", rows))


def test_read_qips_column_map_and_labels_outside_the_vocabulary(tmp_path, caplog):
    header = ("QIP_Ref", "mission", "title", "Start", "end_date", "category", "activity_type", "region",
              "latitude", "longitude", "amount_disbursed", "status")
    path = write_qips(tmp_path / "provider.csv", QIP_ROWS[:1], header=header)
    with pytest.raises(ValueError, match=r"missing column\(s\) 'ref', 'start_date'"):
        read_qips(path)
    q = read_qips(path, column_map={"QIP_Ref": "ref", "Start": "start_date"})
    assert q["event_id"].tolist() == ["Q1"]
    with pytest.raises(ValueError, match=r"column_map names column\(s\) 'Nope'"):
        read_qips(path, column_map={"Nope": "ref"})
    # spelling variants land on the paper's labels; a label it does not know is kept, and logged
    rows = [QIP_ROWS[0][:5] + ("Early Recovery", "Infrastructure and equipment") + QIP_ROWS[0][7:],
            QIP_ROWS[0][:5] + ("Rule of law", "Demining") + QIP_ROWS[0][7:]]
    rows[1] = ("Q2",) + rows[1][1:]
    with caplog.at_level("WARNING", logger="qipstudy.prepare"):
        q = read_qips(write_qips(tmp_path / "labels.csv", rows))
    assert q["activity_type"].tolist() == ["Infrastructure & equipment", "Demining"]
    assert q["category"].tolist() == ["Early recovery", "Rule of Law"]
    assert "activity_type label(s) outside the paper's vocabulary kept as they are: 'Demining'" in caplog.text
    assert q.attrs["read_notes"]["unknown_activity_types"] == ["Demining"]


# The paper's prepared QIP file as the author's replication material has it: these columns, a
# UTF-8 BOM, ISO start dates, dd.mm.yy end dates, NBSP inside numbers, rows without latitude.
PAPER_QIP_HEADER = ("ref", "event_type", "start_date", "end_date", "category", "activity_type",
                    "implementing_partner_type", "latitude", "longitude", "total_beneficiaries", "beneficiary_type1",
                    "amount_disbursed", "sector_code", "sector_group", "description")
PAPER_QIP_ROWS = [
    ("MINUSMA-2017-01", "qip", "2017-03-01", "30.06.17", "Early recovery", "Infrastructure & equipment", "NGO",
     "14.4843", "-4.1830\u00a0", "1\u00a0200", "Women", "45\u00a0000", "", "", "Well"),
    ("MINUSMA-2017-02", "qip", "2017-05-10", "31.12.17", "Rule of Law", "Training/workshops", "Government",
     "", "-0.0400", "300", "Youth", "12\u00a0500", "", "", "Training, 3 days"),
    ("MINUSMA-2017-02", "qip", "2018-02-01", "01.08.18", "Other", "Other", "NGO",
     "16.7735", "\u00a0-3.0074", "50", "", "1,000", "", "", "the same ref again"),
    ("", "qip", "2018-04-01T00:00:00", "", "Other", "Other", "NGO", "16.2", "-0.04", "", "", "250", "", "", "no ref"),
]


def test_read_qips_takes_the_papers_prepared_file_as_it_comes(tmp_path, caplog):
    path = tmp_path / "QIPs.csv"
    write_qips(path, PAPER_QIP_ROWS, header=PAPER_QIP_HEADER)
    path.write_bytes("\ufeff".encode() + path.read_bytes())
    with caplog.at_level("WARNING", logger="qipstudy.prepare"):
        q = read_qips(path)
    assert q["event_id"].tolist() == ["MINUSMA-2017-01", "MINUSMA-2017-02", "MINUSMA-2017-02#2", "row4"]
    assert q["funding_usd"].tolist() == [45000.0, 12500.0, 1000.0, 250.0]
    assert q["funding_usd"].sum() == 58750.0  # the whole list's total, as Table 1 sums it
    assert q["lon"].tolist() == [-4.183, -0.04, -3.0074, -0.04] and np.isnan(q["lat"].iloc[1])
    assert q["date"].tolist() == [pd.Timestamp("2017-03-01"), pd.Timestamp("2017-05-10"), pd.Timestamp("2018-02-01"),
                                  pd.Timestamp("2018-04-01")]
    notes = q.attrs["read_notes"]
    assert (notes["rows"], notes["rows_with_coordinates"], notes["empty_refs"], notes["repeated_refs"]) == (4, 3, 1, 1)
    assert "1 repeated `ref` value(s) (e.g. 'MINUSMA-2017-02')" in caplog.text


def test_read_qips_fails_early_on_excel_dates_and_on_a_list_without_coordinates(tmp_path):
    rows = [PAPER_QIP_ROWS[0][:2] + ("42795",) + PAPER_QIP_ROWS[0][3:]]
    with pytest.raises(ValueError, match=r"row 1, field 'start_date': '42795' looks like an Excel serial date "
                                         r"\(42795 = 2017-03-01 in Excel's date system\)"):
        read_qips(write_qips(tmp_path / "excel.csv", rows, header=PAPER_QIP_HEADER))
    rows = [r[:7] + ("", "") + r[9:] for r in PAPER_QIP_ROWS]
    with pytest.raises(ValueError, match=r"none of the 4 rows has both 'latitude' and 'longitude'"):
        read_qips(write_qips(tmp_path / "nowhere.csv", rows, header=PAPER_QIP_HEADER))


def test_read_iati_day_numbers_and_location_index(tmp_path):
    iati = read_iati(write_qips(tmp_path / "activities.csv", IATI_ROWS, header=IATI_HEADER))
    assert iati["event_id"].tolist() == ["XM-1#1", "XM-1#2", "XM-1#3", "XM-2#1"]
    assert iati["date"].tolist() == [pd.Timestamp("2018-01-01"), pd.Timestamp("2019-06-30"),
                                     pd.Timestamp("2018-01-01"), pd.Timestamp("2018-01-01")]
    assert iati["category"].tolist() == ["Basic health"] * 3 + ["Agriculture"]
    assert np.isnan(iati["funding_usd"].iloc[3])
    bad = [IATI_ROWS[0][:5] + ("20180101",) + IATI_ROWS[0][6:]]
    with pytest.raises(ValueError, match=r"row 1, field 'day_start'.*day number"):
        read_iati(write_qips(tmp_path / "bad.csv", bad, header=IATI_HEADER))


def test_read_iati_refuses_excel_serial_dates_with_the_reason(tmp_path):
    rows = [IATI_ROWS[0], IATI_ROWS[1][:5] + ("43466",) + IATI_ROWS[1][6:], IATI_ROWS[2][:5] + ("43467",)
            + IATI_ROWS[2][6:]]
    with pytest.raises(ValueError) as err:
        read_iati(write_qips(tmp_path / "excel.csv", rows, header=IATI_HEADER))
    assert str(err.value) == (
        f"{tmp_path / 'excel.csv'}: row 2, field 'day_start': 43466 is not a d-portal day number (it would be "
        "2089-01-02); it looks like an Excel serial date (43466 = 2019-01-01 in Excel's date system). Save "
        "day_start as YYYY-MM-DD dates (or keep d-portal's day numbers) and retrieve the file again "
        "(1 more such row(s))")


def test_read_iati_takes_dportal_exports_as_they_come(tmp_path, caplog):
    # q.csv as saved from d-portal (IATI/D-Portal dstore/js/query.js): SQL NULL as the bare text null,
    # sector_group as the 3-digit DAC code; a human=1 export: links as aid, names with roman prefixes
    header = ("aid", "day_start", "sector_group", "location_latitude", "location_longitude", "commitment",
              "value_currency")
    rows = [("XM-1", "17532", "140", "0.5", "0.5", "null", "USD"),
            ("XM-1", "17532", "140", "null", "null", "1000", "USD"),
            ("http://d-portal.org/q.html?aid=XM-2", "2018-01-01", "I.2.b. Basic health", "0.4", "0.4", "20", ""),
            ("XM-3", "2018-01-01", "II.3.a. Energy policy", "0.4", "0.4", "30", "EUR"),
            ("XM-4", "2018-01-01", "Cash transfers", "0.4", "0.4", "40", "")]
    with caplog.at_level("WARNING", logger="qipstudy.prepare"):
        iati = read_iati(write_qips(tmp_path / "q.csv", rows, header=header))
    assert iati["event_id"].tolist() == ["XM-1#1", "XM-1#2", "XM-2#1", "XM-3#1", "XM-4#1"]
    assert iati["category"].tolist() == ["Water and sanitation", "Water and sanitation", "Basic health",
                                         "Energy generation, distribution and efficiency", "Cash transfers"]
    assert np.isnan(iati["lat"].iloc[1]) and np.isnan(iati["funding_usd"].iloc[0])
    assert iati["funding_usd"].iloc[[1, 2, 4]].tolist() == [1000.0, 20.0, 40.0]
    assert np.isnan(iati["funding_usd"].iloc[3])  # euros never count as dollars
    assert "1 row(s) with values not in US$ (EUR) get no funding_usd" in caplog.text
    located_nowhere = [r[:3] + ("null", "null") + r[5:] for r in rows]
    with pytest.raises(ValueError, match=r"none of the 5 rows has both 'location_latitude' and 'location_longitude'"):
        read_iati(write_qips(tmp_path / "nowhere.csv", located_nowhere, header=header))


def test_table1_sums_the_whole_qip_list_not_the_filtered_sample(inputs, tmp_path):
    from qipstudy.tables import write_qip_funding_tables

    acled, qips, iati, admin3 = inputs
    events = run(acled, qips, iati, admin3)
    assert events.attrs["filter_counts"]["qip"]["missing_coordinates"] == 1  # Q2 (US$ 12,000) is not located
    out = write_qip_funding_tables(qips, events=events, by_activity_stem=tmp_path / "t1",
                                   by_category_stem=tmp_path / "a1", sample_by_activity_stem=tmp_path / "t1s")
    assert out["by_activity"]["funding_usd"].iloc[-1] == 1_234_567 + 12_000  # every QIP of the list
    assert out["sample_by_activity"]["funding_usd"].iloc[-1] == 1_234_567  # what the filters leave
    by_category = dict(zip(out["by_category"]["category"], out["by_category"]["funding_usd"]))
    assert by_category["Rule of Law"] == 12_000 and by_category["Early recovery"] == 1_234_567


def test_sector_group_names_from_codes_and_names():
    assert sector_group_name("152") == "Conflict prevention and resolution, peace and security"
    assert sector_group_name("12220") == "Basic health" and sector_group_name("122.0") == "Basic health"
    assert sector_group_name("I.4. Water supply and sanitation") == "Water and sanitation"
    assert sector_group_name("Water and sanitation") == "Water and sanitation"
    assert sector_group_name("null") == "" and sector_group_name("Something else") == "Something else"


def test_read_ucdp_types_and_datetime_dates(tmp_path):
    path = tmp_path / "ged.csv"
    pd.DataFrame({
        "id": [11, 12], "year": [2018, 2019], "type_of_violence": [3, 1], "country": "Mali", "country_id": 432,
        "adm_1": "Gao", "latitude": [0.5, 0.6], "longitude": [0.5, 0.6],
        "date_start": ["2018-04-02 00:00:00.000", "2019-01-05"], "date_end": "", "best": [2, 5], "where_prec": 1,
    }).to_csv(path, index=False)
    u = read_ucdp(path)
    assert u["event_type"].tolist() == ["One-sided violence", "State-based conflict"]
    assert u["date"].tolist() == [pd.Timestamp("2018-04-02"), pd.Timestamp("2019-01-05")]


def test_read_admin3_missing_field_and_layer(admin3_path):
    with pytest.raises(ValueError, match=r"adm3\.gpkg \(layer adm3\): missing column\(s\) 'ADM1_EN'"):
        read_admin3(admin3_path, "ADM1_EN", "ADM3_FR")
    with pytest.raises(ValueError, match=r"no layer 'admin3'"):
        read_admin3(admin3_path, "ADM1_FR", "ADM3_FR", layer="admin3")
    gdf = read_admin3(admin3_path, "ADM1_FR", "ADM3_FR")
    assert gdf["admin1"].tolist() == ["Gao", "Kayes"] and gdf["admin3"].tolist() == ["Gao", "Kayes"]


# ----------------------------------------------------------------------------- prepare_events


def test_period_and_region_filters_with_counts(inputs):
    ev = run(*inputs)
    acled = ev[ev["source"] == "acled"]
    assert sorted(acled["event_id"]) == ["MLI1", "MLI2", "MLI6", "MLI9"]
    assert ev.attrs["filter_counts"]["acled"] == {
        "read": 10, "missing_coordinates": 1, "missing_date": 1, "outside_period": 2,
        "outside_polygons": 1, "outside_study_regions": 1, "kept": 4,
    }
    # Q2 has no latitude; IATI XM-1#3 no coordinates, XM-2#1 lies in Kayes.
    assert ev.loc[ev["source"] == "qip", "event_id"].tolist() == ["Q1", "Q3"]
    assert ev.loc[ev["source"] == "iati", "event_id"].tolist() == ["XM-1#1", "XM-1#2"]
    assert ev.attrs["filter_counts"]["iati"]["outside_study_regions"] == 1
    assert set(ev["admin1"]) == {"Gao"}


def test_events_contract_columns_types_order_and_outcomes(inputs):
    ev = run(*inputs)
    assert tuple(ev.columns) == EVENTS_COLUMNS
    assert ev["date"].dtype == "datetime64[ns]"
    for c in ("outcome_civilians", "outcome_battles", "outcome_nsag"):
        assert ev[c].dtype == "int8"
    assert ev["lat"].dtype == "float64" and ev["funding_usd"].dtype == "float64"
    # by date; the two projects of 2018-01-01 in the order of their id hashes (qipstudy.event_order)
    assert ev["event_id"].tolist() == ["MLI9", "Q1", "XM-1#1", "MLI1", "MLI2", "XM-1#2", "Q3", "MLI6"]
    assert ev["timestamp"].tolist()[:2] == ["2017-01-01", "2018-01-01"]
    row = ev.set_index("event_id")
    assert (row.loc["MLI2", ["outcome_civilians", "outcome_battles", "outcome_nsag"]] == [1, 0, 0]).all()
    assert (row.loc["MLI1", ["outcome_civilians", "outcome_battles", "outcome_nsag"]] == [0, 1, 1]).all()
    assert row.loc["Q1", "event_type"] == "qip" and row.loc["Q1", "funding_usd"] == 1234567.0
    assert row.loc["Q1", "activity_type"] == "Infrastructure & equipment"
    assert row.loc["XM-1#1", "category"] == "Basic health" and row.loc["XM-1#1", "activity_type"] == ""
    assert np.isnan(row.loc["MLI1", "funding_usd"]) and row.loc["MLI1", "category"] == ""
    assert row[["outcome_civilians", "outcome_battles", "outcome_nsag"]].loc[["Q1", "XM-1#1"]].to_numpy().sum() == 0
    validate_events(ev)


def test_point_on_shared_border_takes_first_polygon(inputs, tmp_path):
    _, qips, iati, admin3 = inputs
    acled = read_acled(write_acled(tmp_path / "b.csv", rows=[("B", "2018-01-01", "Battles", "State forces", "1", "0.5", "1.0")]))
    ev = run(acled, qips, iati, admin3)
    assert ev.loc[ev["source"] == "acled", "admin1"].tolist() == ["Gao"]


def test_ucdp_alternative_outcomes(inputs, tmp_path):
    _, qips, iati, admin3 = inputs
    ucdp = pd.DataFrame({
        "event_id": ["7", "8", "9"], "event_type": ["One-sided violence", "State-based conflict", "Non-state conflict"],
        "type_of_violence": np.array([3, 1, 2], dtype="int8"),
        "date": pd.to_datetime(["2018-01-02", "2018-01-03", "2018-01-04"]), "lat": [0.5] * 3, "lon": [0.5] * 3,
    })
    ev = run(None, qips, iati, admin3, outcome_source="ucdp", ucdp=ucdp)
    u = ev[ev["source"] == "ucdp"].set_index("event_id")
    assert u["outcome_civilians"].tolist() == [1, 0, 0]
    assert u["outcome_battles"].tolist() == [0, 1, 0]
    assert u["outcome_nsag"].tolist() == [0, 0, 0]  # no UCDP definition of NSAG activity
    assert "acled" not in set(ev["source"])


def test_outcome_definition_with_codes_and_errors(inputs):
    outcomes = dict(OUTCOMES, nsag={"acled_inter1": [2, 3, 4]})
    a = run(*inputs)
    b = run(*inputs, outcomes=outcomes)
    assert a["outcome_nsag"].tolist() == b["outcome_nsag"].tolist()
    with pytest.raises(ValueError, match=r"outcomes.battles.acled_event_types: unknown ACLED event type\(s\) \['Battle'\]"):
        run(*inputs, outcomes={"battles": {"acled_event_types": ["Battle"]}})
    with pytest.raises(ValueError, match=r"outcomes.x: unknown selection key\(s\) \['acled_types'\]"):
        run(*inputs, outcomes={"x": {"acled_types": ["Battles"]}})
    # the config's labels (title, published_table) and code strings are accepted
    labelled = {k: dict(v, title=k.title(), published_table=f"table_{k}") for k, v in OUTCOMES.items()}
    labelled["nsag"]["acled_inter1"] = ["2", "3", "4"]
    pd.testing.assert_frame_equal(run(*inputs, outcomes=labelled), a)


def test_study_region_typo_and_decomposed_accent(inputs):
    with pytest.raises(ValueError, match=r"study_regions \['Timbuktu'\] match no admin-1 name"):
        run(*inputs, study_regions=["Gao", "Timbuktu"])
    assert len(run(*inputs, study_regions=["GAO"])) == len(run(*inputs))
    # a decomposed 'é' in the config matches the composed name of the polygon (and the name is kept as is)
    acled, qips, iati, admin3 = inputs
    renamed = admin3.copy()
    renamed["ADM1_FR"] = ["S\u00e9gou", "Kayes"]
    ev = run(acled, qips, iati, renamed, study_regions=[unicodedata.normalize("NFD", "S\u00e9gou")])
    assert len(ev) == len(run(*inputs)) and set(ev["admin1"]) == {"S\u00e9gou"}


def test_missing_reader_column_in_prepare(inputs):
    acled, qips, iati, admin3 = inputs
    with pytest.raises(ValueError, match=r"acled table .*missing column\(s\) 'inter1'"):
        run(acled.drop(columns="inter1"), qips, iati, admin3)


def test_write_events_round_trip_and_refuses_unsorted(inputs, tmp_path):
    ev = run(*inputs)
    out = tmp_path / "results" / "events.parquet"
    write_events(ev, out)
    back = pd.read_parquet(out)
    pd.testing.assert_frame_equal(back, ev, check_dtype=False)
    assert back["date"].dtype == "datetime64[ns]" and back["outcome_nsag"].dtype == "int8"
    assert [p.name for p in out.parent.iterdir()] == ["events.parquet"]  # no temporary file left
    with pytest.raises(ValueError, match="not in the study's order"):
        write_events(ev.iloc[::-1].reset_index(drop=True), tmp_path / "x.parquet")
