"""Coverage checks of prepare_events: swapped axes, points outside the country, filters that drop most rows.

Two admin-3 polygons in Mali's real coordinate range: Gao (lon -1..1, lat 15..17, a study region) and
Kayes (lon 1..3, same latitudes, not one). Exchanging lat and lon moves a point from (0, 16) to (16, 0),
far from both, so a swapped file cannot pass by accident. Counts below are by construction.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from qipstudy.prepare import CoverageError, filter_table, prepare_events, write_filter_table

OUTCOMES = {"civilians": {"acled_event_types": ["Violence against civilians"]}}
EXTENT = [-12.29, 10.14, 4.24, 25.0]
LIMITS = {"max_share_outside_country": 0.05, "max_share_dropped": 0.8}


def admin3(swapped=False):
    polys = [box(-1, 15, 1, 17), box(1, 15, 3, 17)]
    if swapped:
        polys = [box(b[1], b[0], b[3], b[2]) for b in (p.bounds for p in polys)]
    return gpd.GeoDataFrame({"admin1Name": ["Gao", "Kayes"], "admin3Name": ["Gao", "Kayes"]}, geometry=polys,
                            crs=4326)


def acled(n=20, *, swap=False, lon=0.0, lat=16.0):
    lons = lon + np.linspace(-0.5, 0.5, n)
    lats = np.full(n, lat)
    if swap:
        lons, lats = lats, lons
    return pd.DataFrame({"event_id": [f"MLI{i}" for i in range(n)], "event_type": "Violence against civilians",
                         "inter1": "Political militia", "date": pd.Timestamp("2018-06-01"), "lat": lats, "lon": lons})


def projects(prefix, n=10, *, lon=0.0, lat=16.0, dates=None):
    return pd.DataFrame({"event_id": [f"{prefix}{i}" for i in range(n)],
                         "date": pd.to_datetime(dates) if dates is not None else pd.Timestamp("2018-01-01"),
                         "lat": np.full(n, lat), "lon": lon + np.linspace(-0.5, 0.5, n), "funding_usd": 1000.0,
                         "activity_type": "", "category": ""})


def run(events=None, qips=None, iati=None, polygons=None, **kw):
    args = dict(period_start="2017-01-01", period_end="2020-12-31", study_regions=["Gao"], admin1_field="admin1Name",
                outcomes=OUTCOMES, **LIMITS)
    args.update(kw)
    return prepare_events(acled() if events is None else events, projects("Q") if qips is None else qips,
                          projects("I") if iati is None else iati, admin3() if polygons is None else polygons, **args)


def test_clean_inputs_pass_and_the_filter_table_counts(tmp_path):
    # 3 of 10 IATI sites in Kayes (lon 1.5..2.5), 1 without coordinates, 1 in 2016
    iati = pd.concat([projects("I", 5), projects("K", 3, lon=2.0)], ignore_index=True)
    iati = pd.concat([iati, projects("N", 1).assign(lat=np.nan), projects("D", 1, dates=["2016-05-01"])],
                     ignore_index=True)
    ev = run(iati=iati)
    table = filter_table(ev.attrs["filter_counts"])
    rows = table[table["source"] == "iati"].set_index("step")
    assert rows["rows_in"].tolist() == [10, 9, 9, 8, 8, 10]
    assert rows["dropped"].tolist() == [1, 0, 1, 0, 3, 5]
    assert rows["rows_out"].tolist() == [9, 9, 8, 8, 5, 5]
    assert rows.loc["outside_study_regions", "share_dropped"] == pytest.approx(3 / 8)
    assert rows.loc["outside_study_regions", "share_of_read"] == pytest.approx(3 / 10)
    assert rows.loc["kept", "share_dropped"] == pytest.approx(0.5)
    assert list(table.columns) == ["source", "step", "rows_in", "dropped", "share_dropped", "share_of_read", "rows_out"]
    assert table["source"].unique().tolist() == ["acled", "qip", "iati"]
    write_filter_table(ev.attrs["filter_counts"], tmp_path / "events" / "filter_table.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "events" / "filter_table.csv"), table)


def test_swapped_acled_lat_lon_stops_with_numbers_and_the_cause():
    with pytest.raises(CoverageError) as err:
        run(events=acled(swap=True))
    lines = str(err.value).splitlines()
    assert lines == [
        "prepare_events stopped:",
        ("acled: 20 of 20 rows that reach the boundaries (100.0%) fall on no admin-3 polygon (limit "
        "checks.max_share_outside_country = 0.05); likely cause: 20 of them fall inside when latitude and longitude "
        "are exchanged: the acled file has its latitude and longitude swapped")]


def test_swapped_boundary_axes_are_named_with_or_without_the_extent():
    with pytest.raises(CoverageError, match=r"admin-3 boundaries: bounds \[15.000, -1.000, 17.000, 3.000\] lie outside "
                                            r"the country's extent \[-12.29, 10.14, 4.24, 25\] but fit it with x and y "
                                            r"exchanged: the axes are swapped"):
        run(polygons=admin3(swapped=True), extent=EXTENT)
    with pytest.raises(CoverageError) as err:
        run(polygons=admin3(swapped=True))
    lines = str(err.value).splitlines()
    assert len(lines) == 4 and [line.split(":")[0] for line in lines[1:]] == ["acled", "qip", "iati"]
    assert lines[2] == ("qip: 10 of 10 rows that reach the boundaries (100.0%) fall on no admin-3 polygon (limit "
                        "checks.max_share_outside_country = 0.05); likely cause: every source misses the boundaries "
                        "but fits them with lat/lon exchanged: the boundaries' axes are swapped (their bounds: lon "
                        "15.00..17.00, lat -1.00..3.00)")


def test_all_points_in_another_country():
    elsewhere = {"lon": 29.3, "lat": -1.7}  # Goma, DR Congo
    with pytest.raises(CoverageError) as err:
        run(events=acled(**elsewhere), qips=projects("Q", **elsewhere), iati=projects("I", **elsewhere))
    lines = str(err.value).splitlines()
    assert lines[1] == ("acled: 20 of 20 rows that reach the boundaries (100.0%) fall on no admin-3 polygon (limit "
                        "checks.max_share_outside_country = 0.05); likely cause: every source misses the boundaries "
                        "(points: lon 28.80..29.80, lat -1.70..-1.70; boundaries: lon -1.00..3.00, lat 15.00..17.00): "
                        "the boundaries are of another country, in another CRS, or have swapped axes")


def test_one_source_partly_outside_below_and_above_the_limit():
    # 1 of 20 ACLED events outside (5 %) passes the 5 % limit; 2 of 20 (10 %) stop the run
    one_out = acled()
    one_out.loc[0, ["lat", "lon"]] = [14.0, 0.0]
    run(events=one_out)
    two_out = acled()
    two_out.loc[[0, 1], ["lat", "lon"]] = [[14.0, 0.0], [14.2, 0.0]]
    with pytest.raises(CoverageError, match=r"acled: 2 of 20 rows that reach the boundaries \(10.0%\) fall on no "
                                            r"admin-3 polygon .* the points outside span lon 0.00..0.00, lat "
                                            r"14.00..14.20, the boundaries lon -1.00..3.00"):
        run(events=two_out)
    run(events=two_out, max_share_outside_country=None, max_share_dropped=None)  # checks off: passes


def test_a_filter_dropping_most_rows_names_step_numbers_and_cause():
    dates = [f"2010-01-0{d}" for d in range(1, 10)] + ["2018-01-01"]
    with pytest.raises(CoverageError) as err:
        run(iati=projects("I", dates=dates))
    assert str(err.value).splitlines()[1] == (
        "iati: the filter outside_period dropped 9 of 10 rows (90.0%; limit checks.max_share_dropped = 0.8); likely "
        "cause: the dropped dates span 2010-01-01..2010-01-09; the study period is 2017-01-01..2020-12-31 (a wrong "
        "period, or dates misread: day and month exchanged, two-digit years, Excel serial numbers)")
    kayes = pd.concat([projects("K", 9, lon=2.0), projects("Q", 1)], ignore_index=True)
    with pytest.raises(CoverageError, match=r"qip: the filter outside_study_regions dropped 9 of 10 rows \(90.0%; .* "
                                            r"the points fall in Kayes \(9\), not in the study regions \['Gao'\]"):
        run(qips=kayes)
    no_coords = projects("Q").assign(lat=np.nan)
    with pytest.raises(CoverageError, match=r"qip: the filter missing_coordinates dropped 10 of 10 rows \(100.0%"):
        run(qips=no_coords)


def test_a_source_without_any_row_left_stops_even_without_limits():
    no_coords = projects("Q", 3).assign(lat=np.nan)
    with pytest.raises(CoverageError) as err:
        run(qips=no_coords, max_share_outside_country=None, max_share_dropped=None)
    assert str(err.value).splitlines() == ["prepare_events stopped:",
                                           "qip: no row of 3 survives the filters (missing_coordinates 3)"]
