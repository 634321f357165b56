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
    with pytest.raises(ValueError, match=r"ACLED file .*acled\.csv.*missing column\(s\) 'event_type'"):
        read_acled(path)


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


def test_read_acled_duplicate_ids_and_out_of_range_latitude(tmp_path):
    dup = [ACLED_ROWS[0], ACLED_ROWS[0]]
    with pytest.raises(ValueError, match=r"duplicate id 'MLI1' \(rows 1, 2\)"):
        read_acled(write_acled(tmp_path / "a.csv", rows=dup))
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


def test_read_qips_column_map_and_unknown_label(tmp_path):
    header = ("QIP_Ref", "mission", "title", "Start", "end_date", "category", "activity_type", "region",
              "latitude", "longitude", "amount_disbursed", "status")
    path = write_qips(tmp_path / "provider.csv", QIP_ROWS[:1], header=header)
    with pytest.raises(ValueError, match=r"missing column\(s\) 'ref', 'start_date'"):
        read_qips(path)
    q = read_qips(path, column_map={"QIP_Ref": "ref", "Start": "start_date"})
    assert q["event_id"].tolist() == ["Q1"]
    with pytest.raises(ValueError, match=r"column_map names column\(s\) 'Nope'"):
        read_qips(path, column_map={"Nope": "ref"})
    bad = [QIP_ROWS[0][:6] + ("Infrastructure",) + QIP_ROWS[0][7:]]
    with pytest.raises(ValueError, match=r"row 1, field 'activity_type'"):
        read_qips(write_qips(tmp_path / "bad.csv", bad))


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
