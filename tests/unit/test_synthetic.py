"""Tests of the synthetic world (src/qipstudy/synthetic.py): contracts, geography, selection, truth."""
from __future__ import annotations

import copy
import json
import pathlib
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
import yaml
from pyproj import Geod
from small_state import SMALL_STATE

from qipstudy.synthetic import generate_world, resolve_params

ROOT = pathlib.Path(__file__).resolve().parents[2]
COUNTRIES = ["MLI", "CAF", "COD", "SSD"]
GEOD = Geod(ellps="WGS84")

ACLED_COLUMNS = ["event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
                 "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
                 "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
                 "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
                 "fatalities", "tags", "timestamp"]
EVENT_TYPES = {"Battles", "Violence against civilians", "Explosions/Remote violence", "Riots", "Protests",
               "Strategic developments"}
INTER_LABELS = {"State forces", "Rebel group", "Political militia", "Identity militia", "Rioters", "Protesters",
                "Civilians", "External/Other forces"}
ACTIVITY_TYPES = {"Infrastructure & equipment", "Training/workshops", "Sensitization, advocacy & outreach",
                  "Sport & cultural events", "Conferences/seminars", "Other"}
QIP_CATEGORIES = {"Public services & civil administration", "Confidence building in mission",
                  "Political & economic inclusivity", "Early recovery", "Rule of Law",
                  "Protection of civilians & conflict prevention", "Other"}
MAJOR_ROADS = ["motorway", "trunk", "primary", "secondary", "tertiary"]


def load_country(iso3: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "countries" / f"{iso3}.yaml").read_text(encoding="utf-8"))


def lenient_number(s: pd.Series) -> pd.Series:
    """The prepare step's lenient parse: NBSP/space removed, comma decimal accepted."""
    s = s.astype("string").str.replace("\u00a0", "", regex=False).str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(s, errors="coerce")


@pytest.fixture(scope="module")
def mali(tmp_path_factory):
    out = tmp_path_factory.mktemp("mli")
    started = time.process_time()  # CPU time: other jobs on the machine do not make it flaky
    paths = generate_world(load_country("MLI"), {"scale": 0.2}, out, seed=7)
    return {"paths": paths, "dir": out, "country": load_country("MLI"), "seconds": time.process_time() - started,
            "truth": json.loads(paths["truth"].read_text(encoding="utf-8"))}


def test_fast_at_small_scale(mali):
    assert mali["seconds"] < 5.0


def test_returns_every_raw_file(mali):
    names = {str(p.relative_to(mali["dir"])) for p in mali["paths"].values()}
    assert names == {"acled.csv", "ged.csv", "qips.csv", "activities.csv", "adm3.gpkg", "roads.gpkg",
                     "waterways.gpkg", "nightlights_cf_cvg.tif", "nightlights_stable_lights.tif", "pop_density.tif",
                     "worldpop/pop_density.tif", "awsd.csv", "fatalities.csv", "truth.json"}
    assert all(p.stat().st_size > 0 for p in mali["paths"].values())
    assert not [p for p in mali["dir"].iterdir() if ".tmp" in p.name]  # atomic writes leave no temp files


def test_deterministic_and_seed_dependent(tmp_path):
    country = load_country("SSD")
    a = generate_world(country, {"scale": 0.05}, tmp_path / "a", seed=11)
    b = generate_world(country, {"scale": 0.05}, tmp_path / "b", seed=11)
    c = generate_world(country, {"scale": 0.05}, tmp_path / "c", seed=12)
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    assert a["acled"].read_bytes() != c["acled"].read_bytes()
    assert a["boundaries"].read_bytes() != c["boundaries"].read_bytes()


def test_acled_contract(mali):
    df = pd.read_csv(mali["paths"]["acled"], dtype=str, keep_default_na=False)
    assert list(df.columns) == ACLED_COLUMNS
    assert set(df["event_type"]) <= EVENT_TYPES and set(df["event_type"]) == EVENT_TYPES
    assert df["event_id_cnty"].is_unique and df["event_id_cnty"].str.startswith("MLI").all()
    dates = pd.to_datetime(df["event_date"], format="%Y-%m-%d")
    assert (dates.dt.year.astype(str) == df["year"]).all()
    lat, lon = df["latitude"].astype(float), df["longitude"].astype(float)
    x0, y0, x1, y1 = mali["country"]["synthetic"]["bbox"]
    assert lat.between(y0, y1).all() and lon.between(x0, x1).all()
    codes = df["inter1"].str.fullmatch("[1-8]")
    assert 0 < codes.mean() < 0.5  # older exports' integer codes for a fraction of rows
    assert set(df.loc[~codes, "inter1"]) <= INTER_LABELS
    assert df["fatalities"].astype(int).ge(0).all() and df["timestamp"].astype(int).gt(0).all()
    assert (df["admin1"] != "").all()
    # the period and region filters must matter: events outside both exist
    period = mali["country"]["period"]
    assert ((dates < period["start"]) | (dates > period["end"])).any()
    assert (~df["admin1"].isin(mali["country"]["study_regions"])).any()
    vac = df[df["event_type"] == "Violence against civilians"]
    nsag = df["inter1"].isin(["2", "3", "4", "Rebel group", "Political militia", "Identity militia"])
    assert len(vac) > 100 and nsag.any()


def test_ged_consistent_with_acled(mali):
    ged = pd.read_csv(mali["paths"]["ucdp"])
    acled = pd.read_csv(mali["paths"]["acled"], dtype=str, keep_default_na=False)
    for col in ["id", "year", "type_of_violence", "country", "country_id", "adm_1", "latitude", "longitude",
                "date_start", "date_end", "best", "where_prec"]:
        assert col in ged.columns
    assert set(ged["type_of_violence"]) <= {1, 2, 3} and {1, 3} <= set(ged["type_of_violence"])
    assert (ged["best"] >= 1).all() and ged["id"].is_unique
    start = pd.to_datetime(ged["date_start"], format="%Y-%m-%d %H:%M:%S.%f")
    violent = acled[acled["event_type"].isin(["Violence against civilians", "Battles"])]
    assert len(ged) <= len(violent)
    assert set(start.dt.strftime("%Y-%m-%d")) <= set(violent["event_date"])
    assert (ged["country_id"] == mali["country"]["sources"]["ucdp_country_id"]).all()


def test_qip_contract_and_quirks(mali):
    raw = pd.read_csv(mali["paths"]["qip"], dtype=str, keep_default_na=False)
    assert list(raw.columns) == ["ref", "mission", "title", "start_date", "end_date", "category", "activity_type",
                                 "region", "latitude", "longitude", "amount_disbursed", "status"]
    assert raw["ref"].is_unique and (raw["mission"] == "MINUSMA").all()
    assert set(raw["activity_type"]) <= ACTIVITY_TYPES and set(raw["category"]) <= QIP_CATEGORIES
    assert 60 <= len(raw) <= 120  # ~450 at scale 1
    assert (raw["latitude"] == "").mean() > 0  # some QIPs lack a latitude
    assert raw["longitude"].str.contains("\u00a0").any()  # some longitudes carry an NBSP
    assert raw["amount_disbursed"].str.contains(",").any()  # thousands separators
    lat, lon = lenient_number(raw["latitude"]), lenient_number(raw["longitude"])
    assert lat.notna().sum() == (raw["latitude"] != "").sum() and lon.notna().all()
    amount = pd.to_numeric(raw["amount_disbursed"].str.replace(r"[,\s\u00a0]", "", regex=True))
    assert (amount > 0).all() and 10_000 < amount.mean() < 80_000
    start = pd.to_datetime(raw["start_date"], format="%Y-%m-%d")
    assert (pd.to_datetime(raw["end_date"], format="%Y-%m-%d") > start).all()


def test_iati_contract(mali):
    df = pd.read_csv(mali["paths"]["iati"], keep_default_na=False, dtype={"location_latitude": str,
                                                                           "location_longitude": str})
    assert list(df.columns) == ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end",
                                "sector_code", "sector_group", "location_latitude", "location_longitude",
                                "location_name", "commitment", "spend"]
    assert 600 <= len(df) <= 800  # ~3,500 locations at scale 1
    assert df["aid"].nunique() < len(df)  # several locations per activity
    assert pd.api.types.is_integer_dtype(df["day_start"]) and (df["day_end"] > df["day_start"]).all()
    days = pd.to_datetime(df["day_start"], unit="D")
    assert days.dt.year.between(2010, 2022).all()
    published = pd.read_csv(ROOT / "resources/published/sauter2022/appendix_table2_aid_projects_by_category.csv")
    assert set(df["sector_group"]) <= set(published["category"])
    assert (df["location_latitude"] == "").any()
    assert lenient_number(df["location_latitude"]).notna().sum() > 0.9 * len(df)


def test_boundaries_and_bases(mali):
    country = mali["country"]
    b = country["boundaries"]
    assert pyogrio.list_layers(mali["paths"]["boundaries"])[:, 0].tolist() == ["adm3"]
    adm = gpd.read_file(mali["paths"]["boundaries"], layer="adm3")
    assert adm.crs.to_epsg() == 4326
    admin0 = b["admin1_field"].replace("1", "0", 1)  # the world names the country field like the admin-1 one
    for col in [admin0, "ADM0_PCODE", b["admin1_field"], "ADM1_PCODE", b["admin2_field"], "ADM2_PCODE",
                b["admin3_field"], "ADM3_PCODE"]:
        assert col in adm.columns
    assert adm["ADM3_PCODE"].is_unique and adm.geometry.is_valid.all()
    assert set(adm[b["admin1_field"]]) == {r["name"] for r in country["synthetic"]["regions"]}
    assert set(country["study_regions"]) <= set(adm[b["admin1_field"]])
    for base in country["bases"]:
        poly = adm[adm[b["admin3_field"]] == base["admin3"]]
        assert len(poly) == 1, base["admin3"]
        assert poly.geometry.iloc[0].contains(shapely.Point(base["lon"], base["lat"]))
    for town in country["synthetic"]["towns"]:
        assert adm.contains(shapely.Point(town["lon"], town["lat"])).sum() == 1


def test_osm_layers(mali):
    roads = gpd.read_file(mali["paths"]["osm_roads"])
    water = gpd.read_file(mali["paths"]["osm_waterways"])
    assert {"osm_id", "name", "highway", "surface"} <= set(roads.columns)
    assert {"osm_id", "name", "waterway", "natural", "water"} <= set(water.columns)
    assert roads.crs.to_epsg() == 4326 and water.crs.to_epsg() == 4326
    assert set(MAJOR_ROADS) <= set(roads["highway"]) and {"residential", "track"} <= set(roads["highway"])
    assert (roads.geom_type == "LineString").all() and roads["osm_id"].is_unique
    assert {"river", "stream", "canal"} <= set(water["waterway"].dropna())
    assert "water" in set(water["natural"].dropna()) and "lake" in set(water["water"].dropna())
    assert {"LineString", "Polygon"} <= set(water.geom_type)


def test_rasters(mali):
    with rasterio.open(mali["paths"]["nightlights"]) as src:
        assert src.crs.to_epsg() == 4326 and src.dtypes[0] == "uint8" and src.count == 1
        assert 0.005 <= src.res[0] <= 0.03 and src.transform.e < 0  # north-up
        cvg = src.read(1)
    assert 45 <= cvg.min() and cvg.max() <= 95 and 55 < cvg.mean() < 80
    with rasterio.open(mali["paths"]["nightlights_stable_lights"]) as src:
        stable = src.read(1)
    assert stable.max() <= 63 and stable.max() > 30 and np.median(stable) == 0
    with rasterio.open(mali["paths"]["population"]) as src:
        assert src.dtypes[0] == "float32" and src.crs.to_epsg() == 4326
        assert src.nodata == pytest.approx(-3.4028230607370965e38)
        pop = src.read(1, masked=True)
        capital = next(t for t in mali["country"]["synthetic"]["towns"] if t.get("capital"))
        at_capital = next(src.sample([(capital["lon"], capital["lat"])]))[0]
    assert pop.mask.any() and (~pop.mask).any()  # nodata outside the country
    logpop = np.log(pop.compressed())
    assert -2.5 < logpop.min() < 0 and 6 < logpop.max() < 9
    assert np.log(at_capital) > np.percentile(logpop, 99)
    for key in ("nightlights", "population"):
        assert mali["paths"][key].stat().st_size < 5_000_000


def _distances_km(mali):
    """Projected distances of QIPs and IATI locations (in the study regions) to bases and roads."""
    country = mali["country"]
    crs = country["projected_crs"]
    adm = gpd.read_file(mali["paths"]["boundaries"])
    bases = adm[adm[country["boundaries"]["admin3_field"]].isin([b["admin3"] for b in country["bases"]])]
    roads = gpd.read_file(mali["paths"]["osm_roads"])
    roads = roads[roads["highway"].isin(MAJOR_ROADS)]
    study = adm[adm[country["boundaries"]["admin1_field"]].isin(country["study_regions"])].union_all()
    q = pd.read_csv(mali["paths"]["qip"], dtype=str, keep_default_na=False)
    i = pd.read_csv(mali["paths"]["iati"], dtype=str, keep_default_na=False)
    out = {}
    for name, lat, lon in (("qip", q["latitude"], q["longitude"]),
                           ("iati", i["location_latitude"], i["location_longitude"])):
        pts = gpd.GeoSeries(gpd.points_from_xy(lenient_number(lon), lenient_number(lat)), crs=4326)
        pts = pts[~pts.is_empty & pts.notna() & pts.within(study)].to_crs(crs)
        out[name] = {"base": pts.distance(bases.to_crs(crs).union_all()).mean() / 1000,
                     "road": pts.distance(roads.to_crs(crs).union_all()).mean() / 1000}
    return out


def test_selection_qips_nearer_bases_and_roads(mali):
    d = _distances_km(mali)
    assert d["qip"]["base"] < 0.8 * d["iati"]["base"]
    assert d["qip"]["road"] < 0.8 * d["iati"]["road"]


def test_planted_events_within_radius_and_days(mali):
    truth = mali["truth"]
    pe = truth["planted_effect"]
    assert pe["outcome"] == "civilians" and pe["radius_km"] == 6 and pe["days"] == 30
    planted = pd.DataFrame(truth["planted_events"])
    assert len(planted) == truth["counts"]["planted_events"] > 0
    acled = pd.read_csv(mali["paths"]["acled"], dtype=str, keep_default_na=False).set_index("event_id_cnty")
    rows = acled.loc[planted["event_id_cnty"]]
    assert (rows["event_type"] == "Violence against civilians").all()
    qips = pd.DataFrame(truth["qips"]).set_index("ref")
    raw = pd.read_csv(mali["paths"]["qip"], dtype=str, keep_default_na=False).set_index("ref")
    q = qips.loc[planted["qip_ref"]]
    # the QIP file's own coordinates agree with the truth where present
    file_lat = lenient_number(raw.loc[planted["qip_ref"], "latitude"]).to_numpy()
    has = ~np.isnan(file_lat)
    assert np.allclose(file_lat[has], q["lat"].to_numpy()[has], atol=1e-6)
    _, _, dist = GEOD.inv(q["lon"].to_numpy(), q["lat"].to_numpy(),
                          rows["longitude"].astype(float).to_numpy(), rows["latitude"].astype(float).to_numpy())
    assert (dist / 1000 <= pe["radius_km"]).all()
    lag = (pd.to_datetime(rows["event_date"]).to_numpy() - pd.to_datetime(raw.loc[planted["qip_ref"], "start_date"])
           .to_numpy()) / np.timedelta64(1, "D")
    assert lag.min() >= 1 and lag.max() <= pe["days"]
    per_qip = len(planted) / len(qips)
    assert abs(per_qip - pe["mean_extra_events"]) < 0.35
    # spread over the disc, not piled at the centre: mean distance of a uniform disc point is 2R/3
    assert 0.5 * pe["radius_km"] < (dist / 1000).mean() < 0.8 * pe["radius_km"]


def test_figure1_context_top5(mali):
    awsd = pd.read_csv(mali["paths"]["awsd"])
    for col in ["Incident ID", "Year", "Month", "Day", "Country Code", "Country", "Total killed", "Total wounded",
                "Total kidnapped", "Total affected"]:
        assert col in awsd.columns
    assert awsd["Country"].nunique() >= 6
    assert "Mali" in awsd["Country"].value_counts().index[:5]
    fat = pd.read_csv(mali["paths"]["un_fatalities"])
    assert list(fat.columns) == ["Incident_Date", "Mission_Acronym", "Type_Of_Incident", "Casualty_Personnel_Type",
                                 "Country", "M49_Code"]
    pd.to_datetime(fat["Incident_Date"], format="%Y-%m-%d")
    assert fat["Mission_Acronym"].nunique() >= 6
    assert "MINUSMA" in fat["Mission_Acronym"].value_counts().index[:5]


@pytest.mark.parametrize("iso3", COUNTRIES)
def test_every_country_config(iso3, tmp_path):
    country = load_country(iso3)
    paths = generate_world(country, {"scale": 0.05}, tmp_path, seed=1)
    adm = gpd.read_file(paths["boundaries"])
    f3 = country["boundaries"]["admin3_field"]
    for base in country["bases"]:
        poly = adm[adm[f3] == base["admin3"]]
        assert len(poly) == 1 and poly.geometry.iloc[0].contains(shapely.Point(base["lon"], base["lat"]))
    acled = pd.read_csv(paths["acled"], dtype=str, keep_default_na=False)
    assert acled["admin1"].isin(country["study_regions"]).mean() > 0.5
    assert (acled["country"] == country["name"]).all()
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    assert truth["country"] == iso3 and truth["counts"]["planted_events"] > 0
    fat = pd.read_csv(paths["un_fatalities"])
    assert country["mission"] in fat["Mission_Acronym"].value_counts().index[:5]
    awsd = pd.read_csv(paths["awsd"])
    assert country["iso2"] in awsd["Country Code"].value_counts().index[:5]
    # the country is its real-shaped outline: every event, project and aid site lies inside it, as
    # written in the files (rounded to their decimals), and the admin-3 polygons tile it
    outline = shapely.Polygon(country["synthetic"]["outline"])
    ged = pd.read_csv(paths["ucdp"])
    qips = pd.read_csv(paths["qip"], dtype=str, keep_default_na=False)
    iati = pd.read_csv(paths["iati"], dtype=str, keep_default_na=False)
    for name, lon, lat in (("acled", acled["longitude"], acled["latitude"]),
                           ("ged", ged["longitude"].astype(str), ged["latitude"].astype(str)),
                           ("qip", qips["longitude"], qips["latitude"]),
                           ("iati", iati["location_longitude"], iati["location_latitude"])):
        x, y = lenient_number(lon), lenient_number(lat)
        has = x.notna() & y.notna()
        assert has.sum() > 0.9 * len(x), name
        assert shapely.contains_xy(outline, x[has].to_numpy(float), y[has].to_numpy(float)).all(), name
    assert abs(adm.union_all().area / outline.area - 1) < 1e-6


def test_planted_outcome_and_size_are_parameters(tmp_path):
    country = load_country("MLI")
    none = generate_world(country, {"scale": 0.05, "planted_effect": {"mean_extra_events": 0}}, tmp_path / "a", 2)
    assert json.loads(none["truth"].read_text(encoding="utf-8"))["counts"]["planted_events"] == 0
    battles = generate_world(country, {"scale": 0.05, "planted_effect": {"outcome": "battles", "mean_extra_events": 2,
                                                                          "radius_km": 3, "days": 10}},
                             tmp_path / "b", 2)
    truth = json.loads(battles["truth"].read_text(encoding="utf-8"))
    acled = pd.read_csv(battles["acled"], dtype=str, keep_default_na=False).set_index("event_id_cnty")
    ids = [e["event_id_cnty"] for e in truth["planted_events"]]
    assert len(ids) > 20 and (acled.loc[ids, "event_type"] == "Battles").all()


def test_params_are_validated():
    assert resolve_params(None)["planted_effect"]["radius_km"] == 6.0
    assert resolve_params({"selection": {"qip": {"near_base": 0.1}}})["selection"]["qip"]["near_road"] == 0.25
    with pytest.raises(ValueError, match="unknown key"):
        resolve_params({"planted_efect": {}})
    with pytest.raises(ValueError, match="outcome"):
        resolve_params({"planted_effect": {"outcome": "riots"}})
    with pytest.raises(ValueError, match="mixture"):
        resolve_params({"selection": {"iati": {"near_town": -1}}})


def test_bad_country_config_is_rejected(tmp_path):
    country = load_country("MLI")
    country["study_regions"] = ["Atlantis"]
    with pytest.raises(ValueError, match="study_regions"):
        generate_world(country, {"scale": 0.05}, tmp_path, seed=1)


SMALL = SMALL_STATE


def _world(tmp_path, params, country=SMALL):
    paths = generate_world(copy.deepcopy(country), params, tmp_path, seed=5)
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    with rasterio.open(paths["population"]) as src:
        logpop = np.log(src.read(1, masked=True).compressed().astype(float))
    return paths, truth, logpop


def test_small_country_population_varies(tmp_path):
    _, truth, logpop = _world(tmp_path, {"scale": 0.1})
    area = abs(GEOD.geometry_area_perimeter(shapely.Polygon(SMALL["synthetic"]["outline"]))[0]) / 1e6
    assert 14_000 < area < 16_000 and truth["size"]["area_km2"] == pytest.approx(area, rel=1e-9)
    # 1 village per 10,000 km² gives 1-2, so the floor of 10 applies; halos shrink to 0.4 x the spacing
    assert truth["size"]["n_villages"] == 10
    assert truth["size"]["halo_km"] == pytest.approx(0.4 * np.sqrt(area / 13), rel=1e-6)
    assert np.mean(logpop >= 8.6 - 1e-6) < 0.05 and logpop.std() > 0.5
    assert truth["warnings"] == []
    assert truth["counts"]["planted_events"] > 0


def test_saturated_world_warns_naming_the_covariate(tmp_path, caplog):
    # the old fixed geography: 120 villages with 40 km halos on 15,000 km²
    with caplog.at_level("WARNING", logger="qipstudy.synthetic"):
        _, truth, logpop = _world(tmp_path, {"scale": 0.1, "geography": {"n_villages": 120,
                                                                        "halo_spacing_share": 100.0}})
    assert np.mean(logpop >= 8.6 - 1e-6) > 0.9
    saturated, constant = truth["warnings"]
    assert saturated.startswith("pop_density.tif (covariate pop_dens): ")
    assert "of the country's pixels are at the density cap (ln density 8.6)" in saturated
    assert constant.startswith("pop_density.tif (covariate pop_dens) is near-constant: ")
    assert [r.getMessage() for r in caplog.records] == [f"synthetic world of XSS: {m}" for m in truth["warnings"]]


def test_counts_follow_the_area_when_asked(tmp_path):
    _, truth, _ = _world(tmp_path, {"geography": {"counts_area_exponent": 1.0, "reference_area_km2": 150_000.0}})
    factor = truth["size"]["area_km2"] / 150_000.0
    assert truth["size"]["counts_factor"] == pytest.approx(factor, abs=1e-6)
    assert truth["counts"]["qips"] == round(450 * factor)
    assert truth["counts"]["iati_locations"] == round(3500 * factor)


def test_bad_outlines_are_rejected(tmp_path):
    bow_tie = copy.deepcopy(SMALL)
    bow_tie["synthetic"]["outline"] = [[19.85, 9.95], [21.2, 10.9], [21.2, 9.95], [19.85, 10.9]]
    with pytest.raises(ValueError, match=r"XSS: synthetic.outline is not a simple polygon \(Self-intersection"):
        generate_world(bow_tie, {"scale": 0.05}, tmp_path, seed=1)
    swapped = copy.deepcopy(SMALL)
    swapped["synthetic"]["outline"] = [[10.0, 95.0], [11.0, 95.0], [11.0, 96.0]]  # [lat, lon] by mistake
    with pytest.raises(ValueError, match=r"every vertex needs -180 <= lon <= 180 and -90 <= lat <= 90 \(\[lon, lat\]"):
        generate_world(swapped, {"scale": 0.05}, tmp_path, seed=1)
    town_out = copy.deepcopy(SMALL)
    town_out["synthetic"]["towns"].append({"name": "Delta", "lat": 11.5, "lon": 20.5})
    with pytest.raises(ValueError, match=r"XSS: synthetic town Delta \(20.5, 11.5\) lies outside synthetic.outline"):
        generate_world(town_out, {"scale": 0.05}, tmp_path, seed=1)
    base_out = copy.deepcopy(SMALL)
    base_out["bases"][0].update(lat=9.0)
    with pytest.raises(ValueError, match=r"XSS: base Alpha \(20.45, 9.0\) lies outside synthetic.outline"):
        generate_world(base_out, {"scale": 0.05}, tmp_path, seed=1)


def _schema_defaults(node):
    """The defaults a JSON schema node states: objects' properties recursively, leaves' `default`
    (an object with its own properties states its defaults there, not in its `default: {}`)."""
    if "properties" in node:
        return {k: _schema_defaults(v) for k, v in node["properties"].items()}
    return node["default"]


def test_schema_states_the_generator_defaults():
    """config.schema.yaml's `synthetic` block documents every parameter with the generator's default."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    documented = _schema_defaults(schema["properties"]["synthetic"])
    assert documented.pop("seed") == yaml.safe_load((ROOT / "config/config.yaml").read_text())["synthetic"]["seed"]
    assert documented == resolve_params(None)
    placement = schema["$defs"]["placement"]["properties"]
    for group in ("selection", "background"):
        for spec in resolve_params(None)[group].values():
            assert set(spec) <= set(placement)


def test_country_schema_accepts_the_outline_and_documents_it():
    import jsonschema

    schema = yaml.safe_load((ROOT / "workflow/schemas/country.schema.yaml").read_text(encoding="utf-8"))
    outline = schema["properties"]["synthetic"]["properties"]["outline"]
    assert outline["default"] is None and "Natural Earth" in outline["description"]
    for iso3 in COUNTRIES + ["AFR"]:
        jsonschema.validate(load_country(iso3), schema)
    jsonschema.validate(SMALL, schema)


def test_csv_files_are_what_pandas_writes(mali):
    """The fast CSV writer writes pandas' to_csv bytes: re-reading a file as text and writing it with
    pandas gives the file back (minimal quoting, \\n line ends, empty fields for missing values)."""
    for key in ("acled", "ucdp", "qip", "iati", "awsd", "un_fatalities"):
        path = mali["paths"][key]
        text = path.read_text(encoding="utf-8")
        again = pd.read_csv(path, dtype=str, keep_default_na=False).to_csv(index=False, lineterminator="\n")
        assert again == text, key


def test_csv_writer_matches_pandas_on_awkward_values():
    from qipstudy.synthetic import _csv_text

    df = pd.DataFrame({
        "text": ["plain", "a, b", 'say "hi"', "two\nlines", "", None, "nbsp\u00a0here", "Ségou"],
        "number": [2.0, 1e-05, 0.1 + 0.2, float("nan"), -0.0, 1234567.125, 3.0, 1e21],
        "count": np.arange(8, dtype=np.int64) - 3,
        "flag": [True, False] * 4,
    })
    assert _csv_text(df) == df.to_csv(index=False, lineterminator="\n")
    assert _csv_text(df.iloc[:0]) == df.iloc[:0].to_csv(index=False, lineterminator="\n")
