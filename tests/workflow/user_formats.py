"""Writers of the user files of the real reproduction, in the formats users really hold, from a synthetic world.

Each writer takes the synthetic world's contract file(s) and writes what the provider (or the
author's replication package) distributes, quirks included, so that the workflow's user-file
readers are tested on the shapes they will meet. The facts and their sources:

* QIPs, the paper's prepared file: columns `ref, event_type, start_date, end_date, category,
  activity_type, implementing_partner_type, latitude, longitude, total_beneficiaries,
  beneficiary_type1, amount_disbursed, sector_code, sector_group, description`; UTF-8 with BOM,
  ISO start dates, dd.mm.yy end dates, non-breaking-space thousands separators, rows without a
  latitude (issue 9; the replication file as described in docs/data_sources.md).
* ACLED monadic export: one row per actor, the event repeated with actor 2 in `actor1`/`inter1`
  of the second row and no actor2/inter2 columns (ACLED's R client dtacled/acledR,
  R/acled_transform_wider.R, type "api_monadic"); inter1 as text labels (exports since 2023,
  ACLED "Guide to 2023 ACLED column changes").
* UN fatalities, the older peacekeeping export: `Casualty_ID, Incident_Date, Mission_Acronym,
  Type_of_Casualty, Casualty_Nationality, M49_Code, ISOCode3, Casualty_Personnel_Type,
  Type_Of_Incident`, with a BOM; dates ISO or D/M/YYYY (issue 9; qipstudy.retrieve.figure1).
* COD-AB Mali 2019: `mli_adm_1m_dnct_2019_shp.zip` holding the shapefiles
  `mli_admbnda_adm{0..3}_1m_dnct_20190802` with the ITOS fields admin{0..3}Name/admin{0..3}Pcod
  (10-character dBASE names), date, validOn, validTo, Shape_Leng, Shape_Area (HDX cod-ab-mli
  before 2025; the same ITOS naming as the CAF layers in OCHA-DAP/hdx-scraper-cod-ab-country).
* AWSD: the CSV export of incidents/search?detail=1&format=csv, header then an HXL hashtag row
  (`#event+id,#date+year,...`, columns may be untagged) then incidents (HXL standard: the hashtag
  row sits between header and data; humanitarianoutcomes.org export).
* d-portal q.csv: rows are JSON arrays without brackets (text quoted, numbers bare, SQL NULL as
  bare `null`, `"` doubled), `sector_group` the DAC 3-digit code, `day_start` days since
  1970-01-01 (IATI/D-Portal dstore/js/query.js, dstore/js/dstore_db.js).
* DMSP-OLS v4 from EOG: `F182013.v4.tar` holding gzipped GeoTIFFs `F182013.v4c_web.cf_cvg.tif.gz`,
  `F182013.v4c_web.stable_lights.avg_vis.tif.gz`, `F182013.v4c_web.avg_vis.tif.gz` (EOG's v4
  composites; the paper's file F182013.v4c_web.cf_cvg.tif).
* GPW v4.11: `gpw-v4-population-density-rev11_2015_30_sec_tif.zip` holding
  `gpw_v4_population_density_rev11_2015_30_sec.tif` and a readme (NASA Earthdata / SEDAC).
* WorldPop: `mli_pd_2015_1km_UNadj.tif` (data.worldpop.org GIS/Population_Density/Global_2000_2020_1km_UNadj).
* UCDP GED: `ged251-csv.zip` holding `GEDEvent_v25_1.csv`, the 49 codebook columns, all countries
  (UCDP GED Codebook 25.1; qipstudy.retrieve.ucdp.GED_HEADER).
* HOT Export Tool: per theme a zip `hotosm_mli_{roads,waterways}_{lines,polygons}_shp.zip` of one
  shapefile, fields of HOT's HDX feature selection (roads: name, highway, surface, smoothness,
  width, lanes, oneway, bridge, layer, source; waterways: name, waterway, covered, width, depth,
  layer, blockage, tunnel, natural, water, source; both with osm_id, osm_type) (hotosm/
  osm-export-tool-python, osm_export_tool/mappings/HDX_v2.yml; file names as on HDX).
All values are synthetic; nothing here is third-party data.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tarfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from awsd_format import AWSD_HEADER, AWSD_HXL

from qipstudy.retrieve.ucdp import GED_HEADER

NBSP = "\u00a0"

# ----------------------------------------------------------------------------- QIPs

QIP_PREPARED_HEADER = ["ref", "event_type", "start_date", "end_date", "category", "activity_type",
                       "implementing_partner_type", "latitude", "longitude", "total_beneficiaries",
                       "beneficiary_type1", "amount_disbursed", "sector_code", "sector_group", "description"]


def nbsp_thousands(value: float) -> str:
    """'11 149 675' with non-breaking spaces; cents only when there are any ('1 234.56')."""
    cents = int(round(value * 100))
    whole, frac = divmod(cents, 100)
    text = f"{whole:,}".replace(",", NBSP)
    return text if frac == 0 else f"{text}.{frac:02d}"


def northwest_cells(rows: dict[str, int], cols: dict[str, int]) -> list[tuple[str, str, int]]:
    """(row label, column label, amount) cells whose row and column sums are the two marginals
    (north-west corner rule), in integer cents so that no rounding can creep in."""
    r, c = dict(rows), dict(cols)
    assert sum(r.values()) == sum(c.values())
    rk, ck = list(r), list(c)
    i = j = 0
    cells = []
    while i < len(rk) and j < len(ck):
        amount = min(r[rk[i]], c[ck[j]])
        if amount:
            cells.append((rk[i], ck[j], amount))
        r[rk[i]] -= amount
        c[ck[j]] -= amount
        if r[rk[i]] == 0:
            i += 1
        else:
            j += 1
    return cells


def paper_marginals_cents(published: Path) -> tuple[dict[str, int], dict[str, int], int]:
    """The paper's Table 1 and appendix Table 1 as cents that round to every printed row and total.

    The printed activity rows sum to one dollar more than the printed total (each row was rounded
    on its own): every activity row gets 20 cents less, and the categories as many cents less in
    all, so each row and both totals round to the printed values.
    """
    by_type = pd.read_csv(published / "table1_qip_funding_by_activity_type.csv")
    by_cat = pd.read_csv(published / "appendix_table1_qip_funding_by_category.csv")
    total = int(pd.read_csv(published / "table1_qip_funding_total.csv")["funding_usd"].iloc[0])
    types = {a: int(v) * 100 - 20 for a, v in zip(by_type["activity_type"], by_type["funding_usd"])}
    cats = {k: int(v) * 100 for k, v in zip(by_cat["category"], by_cat["funding_usd"])}
    excess = sum(cats.values()) - sum(types.values())
    for k in list(cats)[: excess % len(cats)]:
        cats[k] -= excess // len(cats) + 1
    for k in list(cats)[excess % len(cats):]:
        cats[k] -= excess // len(cats)
    assert sum(cats.values()) == sum(types.values())
    return types, cats, total


def qip_prepared_file(world_qips: Path, dest: Path, published: Path, *, unlocated_every: int = 13) -> pd.DataFrame:
    """The paper's prepared QIP file from the world's QIPs, amounts giving the paper's Table 1 over the whole list.

    Every row carries money: the north-west-corner cells are spread over all rows (round robin),
    so rows outside the period, outside the study regions or without a latitude all count in the
    whole-list tables and none in the analysis sample. Returns the written table (amounts as
    floats, for the test's own sums).
    """
    qips = pd.read_csv(world_qips, dtype=str, keep_default_na=False)
    types, cats, _ = paper_marginals_cents(published)
    cells = northwest_cells(types, cats)
    n = len(qips)
    assert n >= len(cells), "the world has fewer QIPs than Table 1 has cells"
    owner = np.arange(n) % len(cells)  # row -> cell
    amounts = np.zeros(n, dtype=np.int64)
    activity, category = [""] * n, [""] * n
    for k, (act, cat, cents) in enumerate(cells):
        members = np.flatnonzero(owner == k)
        share = (cents // len(members)) // 100 * 100  # whole dollars for all but the first row
        amounts[members] = share
        amounts[members[0]] = cents - share * (len(members) - 1)
        for m in members:
            activity[m], category[m] = act, cat
    partner = ["NGO", "Government", "Community-based organisation", "UN agency"]
    beneficiaries = ["Women", "Youth", "Local population", "Local authorities", ""]
    rows = []
    for i, q in qips.iterrows():
        end = pd.Timestamp(q["end_date"]).strftime("%d.%m.%y") if q["end_date"] else ""
        lat, lon = q["latitude"], q["longitude"]
        if i % unlocated_every == 5:
            lat = ""                      # about 1 in 13 rows without latitude, as in the paper's file
        if i % 7 == 2 and lon:
            lon = lon + NBSP              # some longitudes carry a trailing non-breaking space
        people = 50 + (i * 137) % 4000
        rows.append([q["ref"], "qip", q["start_date"], end, category[i], activity[i], partner[i % len(partner)],
                     lat, lon, nbsp_thousands(people), beneficiaries[i % len(beneficiaries)],
                     nbsp_thousands(amounts[i] / 100), "", "", q["title"]])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([QIP_PREPARED_HEADER, *rows])
    dest.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
    return pd.DataFrame({"ref": qips["ref"], "start_date": qips["start_date"], "amount": amounts / 100,
                         "activity_type": activity, "category": category,
                         "located": [bool(r[7].strip()) and bool(r[8].strip()) for r in rows]})


# ----------------------------------------------------------------------------- ACLED

MONADIC_DROP = ("actor2", "assoc_actor_2", "inter2")
# ACLED's actor types by their old codes 1-8 (ACLED Codebook), as current exports label them.
INTER_LABELS = {"1": "State forces", "2": "Rebel group", "3": "Political militia", "4": "Identity militia",
                "5": "Rioters", "6": "Protesters", "7": "Civilians", "8": "External/Other forces"}


def acled_monadic(world_acled: Path, dest: Path) -> pd.DataFrame:
    """ACLED's monadic export with inter1 as text labels (one vintage); returns the written rows."""
    dyadic = pd.read_csv(world_acled, dtype=str, keep_default_na=False)
    for col in ("inter1", "inter2"):  # the world mixes codes and labels; this export has labels only
        dyadic[col] = dyadic[col].map(lambda v: INTER_LABELS.get(v.strip(), v))
    header = [c for c in dyadic.columns if c not in MONADIC_DROP]
    out = []
    for _, ev in dyadic.iterrows():
        out.append([ev[c] for c in header])
        if ev["actor2"].strip():
            second = ev.copy()
            second["actor1"], second["assoc_actor_1"], second["inter1"] = ev["actor2"], ev["assoc_actor_2"], ev["inter2"]
            out.append([second[c] for c in header])
    frame = pd.DataFrame(out, columns=header)
    frame.to_csv(dest, index=False, lineterminator="\n")
    return frame


# ----------------------------------------------------------------------------- UN fatalities

FATALITY_EXPORT_HEADER = ["Casualty_ID", "Incident_Date", "Mission_Acronym", "Type_of_Casualty",
                          "Casualty_Nationality", "M49_Code", "ISOCode3", "Casualty_Personnel_Type",
                          "Type_Of_Incident"]
_NATIONALITIES = [("Chad", "148", "TCD"), ("India", "356", "IND"), ("Bangladesh", "50", "BGD"),
                  ("Senegal", "686", "SEN"), ("Egypt", "818", "EGY")]


def un_fatalities_export(world_fatalities: Path, dest: Path) -> pd.DataFrame:
    """The older peacekeeping fatalities export (BOM; every third date written D/M/YYYY)."""
    world = pd.read_csv(world_fatalities, dtype=str, keep_default_na=False)
    rows = []
    for i, f in world.iterrows():
        day = pd.Timestamp(f["Incident_Date"])
        date = f"{day.day}/{day.month}/{day.year}" if i % 3 == 1 else day.strftime("%Y-%m-%d")
        nat, m49, iso = _NATIONALITIES[i % len(_NATIONALITIES)]
        rows.append([f"{f['Mission_Acronym']}-{day:%Y-%m}-{i + 1:05d}", date, f["Mission_Acronym"], "Fatality",
                     nat, m49, iso, f["Casualty_Personnel_Type"], f["Type_Of_Incident"]])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([FATALITY_EXPORT_HEADER, *rows])
    dest.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
    return pd.DataFrame(rows, columns=FATALITY_EXPORT_HEADER)


# ----------------------------------------------------------------------------- AWSD



def awsd_export(world_awsd: Path, dest: Path) -> pd.DataFrame:
    world = pd.read_csv(world_awsd, dtype=str, keep_default_na=False)
    rows = []
    for _, inc in world.iterrows():
        values = {c: inc.get(c, "") for c in AWSD_HEADER}
        values.update({"UN": "0", "INGO": "1", "Means of attack": "Shooting", "Attack context": "Ambush",
                       "Location": "Road", "Motive": "Unknown", "Actor type": "Unknown", "Verified": "Yes",
                       "Details": "A staff member was shot at on the road; the vehicle was damaged.",
                       "Source": "Synthetic report"})
        rows.append([values[c] if values[c] != "" or c in ("Day", "Region", "District", "City") else "0"
                     for c in AWSD_HEADER])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([AWSD_HEADER, AWSD_HXL, *rows])
    dest.write_text(buf.getvalue(), encoding="utf-8")
    return pd.DataFrame(rows, columns=AWSD_HEADER)


# ----------------------------------------------------------------------------- d-portal

DPORTAL_HEADER = ["aid", "title", "reporting_ref", "reporting", "status_code", "day_start", "day_end",
                  "location_latitude", "location_longitude", "location_name", "commitment", "spend",
                  "sector_code", "sector_group"]
_NUMERIC = {"status_code", "day_start", "day_end", "location_latitude", "location_longitude", "commitment", "spend"}


def _qcsv_line(values: list) -> str:
    """One q.csv line as dstore/js/query.js writes it: a JSON array without its brackets."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))[1:-1].replace('\\"', '""')


def dportal_qcsv(world_activities: Path, dest: Path, *, unlocated_every: int = 17) -> pd.DataFrame:
    """d-portal's q.csv of Mali's activities × locations; some sites without coordinates (`null`)."""
    world = pd.read_csv(world_activities, dtype=str, keep_default_na=False)
    lines = [_qcsv_line(DPORTAL_HEADER)]
    located = []
    for i, a in world.iterrows():
        rec = {c: a.get(c, "") for c in DPORTAL_HEADER}
        rec["sector_group"] = rec["sector_code"][:3]  # the DAC 3-digit code, as d-portal sends it
        if i % unlocated_every == 3:
            rec["location_latitude"] = rec["location_longitude"] = ""
            rec["location_name"] = "Mali"
        located.append(bool(rec["location_latitude"]))
        values = []
        for c in DPORTAL_HEADER:
            v = rec[c]
            if v == "":
                values.append(None)
            elif c in _NUMERIC:
                values.append(int(v) if c in ("status_code", "day_start", "day_end") else float(v))
            else:
                values.append(v)
        lines.append(_qcsv_line(values))
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return world.assign(located=located)


# ----------------------------------------------------------------------------- boundaries

COD_AB_2019 = "mli_admbnda_adm{level}_1m_dnct_20190802"
COD_AB_2019_ZIP = "mli_adm_1m_dnct_2019_shp.zip"


def cod_ab_2019_zip(world_adm3: Path, dest: Path, workdir: Path) -> gpd.GeoDataFrame:
    """The 2019 COD-AB of Mali as distributed: a zip of the adm0..adm3 shapefiles, ITOS field names."""
    adm3 = gpd.read_file(world_adm3, layer="adm3")
    adm3 = adm3.rename(columns={f"ADM{k}_PCODE": f"admin{k}Pcod" for k in range(4)})
    adm3 = adm3.assign(admin3RefN=adm3["admin3Name"], date="2015-03-01", validOn="2019-08-02", validTo=None)
    folder = workdir / "cod_ab_2019"
    folder.mkdir(parents=True, exist_ok=True)
    for level in range(4):
        if level == 3:
            layer = adm3
        else:
            keep = [f"admin{k}{s}" for k in range(level + 1) for s in ("Name", "Pcod")]
            layer = adm3.dissolve(f"admin{level}Pcod", as_index=False)[keep + ["date", "validOn", "validTo",
                                                                               "geometry"]]
        with warnings.catch_warnings():  # ITOS computed them in degrees too
            warnings.simplefilter("ignore", UserWarning)
            layer = layer.assign(Shape_Leng=layer.geometry.length, Shape_Area=layer.geometry.area)
        layer.to_file(folder / f"{COD_AB_2019.format(level=level)}.shp", engine="pyogrio", encoding="UTF-8")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    return adm3


# ----------------------------------------------------------------------------- OSM (HOT export)

HOT_ROAD_FIELDS = ["name", "highway", "surface", "smoothness", "width", "lanes", "oneway", "bridge", "layer", "source"]
HOT_WATER_FIELDS = ["name", "waterway", "covered", "width", "depth", "layer", "blockage", "tunnel", "natural",
                    "water", "source"]


def _hot_zip(gdf: gpd.GeoDataFrame, fields: list[str], stem: str, folder: Path, osm_type: str) -> Path:
    out = gdf.copy()
    for f in fields:
        if f not in out.columns:
            out[f] = None
    out["osm_id"] = out["osm_id"].astype("int64")
    out["osm_type"] = osm_type
    out = gpd.GeoDataFrame(out[fields + ["osm_id", "osm_type"]], geometry=gdf.geometry, crs=gdf.crs)
    shp_dir = folder / f"{stem}_shp"
    shp_dir.mkdir()
    out.to_file(shp_dir / f"{stem}.shp", engine="pyogrio", encoding="UTF-8")
    archive = folder / f"{stem}_shp.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(shp_dir.iterdir()):
            zf.write(path, path.name)
    shutil.rmtree(shp_dir)
    return archive


def hot_export_folder(world_roads: Path, world_waterways: Path, dest: Path) -> dict[str, int]:
    """A folder as downloaded from HDX: roads lines, waterways lines and waterways polygons zips."""
    dest.mkdir(parents=True, exist_ok=True)
    roads = gpd.read_file(world_roads)
    water = gpd.read_file(world_waterways)
    lines = water[water.geom_type.isin(["LineString", "MultiLineString"])]
    polygons = water[water.geom_type.isin(["Polygon", "MultiPolygon"])]
    _hot_zip(roads, HOT_ROAD_FIELDS, "hotosm_mli_roads_lines", dest, "ways_line")
    _hot_zip(lines, HOT_WATER_FIELDS, "hotosm_mli_waterways_lines", dest, "ways_line")
    if len(polygons):
        _hot_zip(polygons, HOT_WATER_FIELDS, "hotosm_mli_waterways_polygons", dest, "ways_poly")
    return {"roads": len(roads), "waterway_lines": len(lines), "waterway_polygons": len(polygons)}


# ----------------------------------------------------------------------------- rasters

DMSP_MEMBERS = {"cf_cvg": "F182013.v4c_web.cf_cvg.tif.gz",
                "stable_lights": "F182013.v4c_web.stable_lights.avg_vis.tif.gz",
                "avg_vis": "F182013.v4c_web.avg_vis.tif.gz"}


def dmsp_tar(world_cf_cvg: Path, world_stable: Path, dest: Path) -> None:
    """EOG's F182013.v4.tar: gzipped GeoTIFFs of the bands (avg_vis too, which no step reads)."""
    sources = {"cf_cvg": world_cf_cvg, "stable_lights": world_stable, "avg_vis": world_stable}
    with tarfile.open(dest, "w") as tf:
        for band, member in DMSP_MEMBERS.items():
            data = gzip.compress(Path(sources[band]).read_bytes())
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


GPW_ZIP = "gpw-v4-population-density-rev11_2015_30_sec_tif.zip"
GPW_MEMBER = "gpw_v4_population_density_rev11_2015_30_sec.tif"


def gpw_zip(world_pop: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(world_pop, GPW_MEMBER)
        zf.writestr("gpw-v4-population-density-rev11_2015_30_sec_tif_readme.txt",
                    "Gridded Population of the World, Version 4 (GPWv4): Population Density, Revision 11\n")


# ----------------------------------------------------------------------------- UCDP GED

GED_ZIP = "ged251-csv.zip"
GED_MEMBER = "GEDEvent_v25_1.csv"


def ged_zip(world_ged: Path, dest: Path, *, other_country_rows: int = 25) -> pd.DataFrame:
    """The global GED CSV zip: the world's Mali events plus events of Burkina Faso (439) that the
    country filter must drop; every codebook column present."""
    world = pd.read_csv(world_ged, dtype=str, keep_default_na=False)
    other = world.head(other_country_rows).copy()
    other["id"] = (900000 + np.arange(len(other))).astype(str)
    other["country"], other["country_id"], other["adm_1"] = "Burkina Faso", "439", "Sahel region"
    full = pd.concat([world, other], ignore_index=True)
    for col in GED_HEADER:
        if col not in full.columns:
            full[col] = ""
    full["relid"] = "MLI-" + full["id"]
    full["active_year"], full["code_status"], full["region"] = "1", "Clear", "Africa"
    full["where_coordinates"] = full["adm_1"]
    full["geom_wkt"] = "POINT (" + full["longitude"] + " " + full["latitude"] + ")"
    full["number_of_sources"], full["event_clarity"], full["date_prec"] = "1", "1", "1"
    full["deaths_a"], full["deaths_b"], full["deaths_civilians"], full["deaths_unknown"] = "0", "0", full["best"], "0"
    full["high"], full["low"] = full["best"], full["best"]
    buf = io.StringIO()
    full[GED_HEADER].to_csv(buf, index=False, lineterminator="\n")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(GED_MEMBER, buf.getvalue())
    return full
