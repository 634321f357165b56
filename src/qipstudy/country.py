"""Country files (config/countries/<ISO3>.yaml): loading, schema errors in one line, extent and CRS.

A country is data, not code, so a mistake in its file must be reported as a mistake in that file:
`load_country_file` names the file and the key in one line (snakemake's `validate` prints the whole
schema instead), fills the schema's defaults like snakemake does, and checks what can be checked
without any data: the extent, the bases against the extent (swapped lat/lon), and that
`projected_crs` is a metric projection for the country's area. `country_extent` is the one way the
retrieve clients get the box they clip rasters and OSM to.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_PATH",
    "CountryFileError",
    "bounds_problem",
    "country_extent",
    "crs_findings",
    "expand_extent",
    "load_country_file",
    "suggest_projected_crs",
]

# workflow/schemas/country.schema.yaml of the repository this package lives in (src layout).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "country.schema.yaml"

# Margin added around `extent` when clipping: covers the generalisation of the 1:50m outlines the
# extents come from (CAF: up to 0.05 deg against the COD-AB outline) and features just across a border.
DEFAULT_MARGIN_DEG = 0.1

# Continental equal-area CRSs (ESRI codes known to PROJ), used when a country spans several UTM zones.
EQUAL_AREA_CRS = (
    # (lon_min, lat_min, lon_max, lat_max) of the continent box, code, name
    ((-26.0, -36.0, 56.0, 38.0), "ESRI:102022", "Africa Albers Equal Area Conic"),
    ((-31.0, 34.0, 50.0, 72.0), "ESRI:102013", "Europe Albers Equal Area Conic"),
    ((25.0, 5.0, 180.0, 80.0), "ESRI:102025", "Asia North Albers Equal Area Conic"),
    ((-92.0, -56.0, -25.0, 13.0), "ESRI:102033", "South America Albers Equal Area Conic"),
    ((-172.0, 13.0, -48.0, 85.0), "ESRI:102008", "North America Albers Equal Area Conic"),
)
GLOBAL_EQUAL_AREA_CRS = ("EPSG:6933", "WGS 84 / NSIDC EASE-Grid 2.0 Global (equal area)")
# Above this linear scale error at the extent's edges a warning suggests another CRS.
MAX_SCALE_ERROR = 0.01


class CountryFileError(ValueError):
    """A country file is unreadable, breaks the schema or contradicts itself; one line per problem."""


# ----------------------------------------------------------------------------- loading


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CountryFileError(f"{path}: country file not found; see docs/add_a_country.md") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CountryFileError(f"{path}: cannot read the country file ({exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CountryFileError(f"{path}: {where}invalid YAML ({problem})") from exc


def load_country_file(path: str | Path, *, schema_path: str | Path | None = None,
                      check_synthetic_regions: bool = False) -> dict:
    """Read, validate (one line naming file and key) and sanity-check one country file.

    Fills the schema's defaults. Raises CountryFileError on the first problem class found: the
    message holds one line per problem, each `<file>: key '<key>': <what is wrong>`. With
    `check_synthetic_regions` (the boundaries come from the synthetic world) the study regions must
    be synthetic regions, so a typo fails when the workflow loads. CRS warnings (a large scale error
    at the country's edges) are left to `qipstudy country-check`.
    """
    path = Path(path)
    schema_file = Path(schema_path) if schema_path else SCHEMA_PATH
    if not schema_file.is_file():
        raise CountryFileError(f"{path}: the country schema {schema_file} does not exist (pass schema_path=)")
    schema = yaml.safe_load(schema_file.read_text(encoding="utf-8"))
    document = _read_yaml(path)
    if not isinstance(document, dict):
        raise CountryFileError(f"{path}: a country file is a mapping of keys (iso3, name, ...), got {type(document).__name__}")
    from qipstudy.config import schema_problems

    document, problems = schema_problems(document, schema, where=str(path))
    if problems:
        raise CountryFileError("\n".join(problems))
    if document["iso3"] != path.stem:
        raise CountryFileError(f"{path}: key 'iso3': is {document['iso3']!r} but the file is named {path.name} "
                               f"(rename the file to {document['iso3']}.yaml or fix iso3)")
    errors = _extent_errors(document)
    findings = [] if errors else crs_findings(document)  # the CRS is judged against a valid extent only
    errors += [f"key '{key}': {msg}" for level, key, msg in findings if level == "error"]
    if check_synthetic_regions:
        from qipstudy.countrycheck import check_synthetic_regions as synthetic_findings

        errors += [f"key '{f.key}': {f.message}" for f in synthetic_findings(document) if f.level == "error"]
    if errors:
        raise CountryFileError("\n".join(f"{path}: {e}" for e in errors))
    for _, key, msg in findings:  # warnings only: `qipstudy country-check` reports them to the user
        log.debug("%s: key '%s': %s", path, key, msg)
    return document


# ----------------------------------------------------------------------------- extent


def _as_extent(value: Any, what: str) -> list[float]:
    if not (isinstance(value, Sequence) and len(value) == 4):
        raise CountryFileError(f"{what}: expected [lon_min, lat_min, lon_max, lat_max], got {value!r}")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise CountryFileError(f"{what}: {value!r} is not [lon_min, lat_min, lon_max, lat_max] with "
                               "lon_min < lon_max within ±180 and lat_min < lat_max within ±90")
    return [x0, y0, x1, y1]


def expand_extent(extent: Sequence[float], margin_deg: float) -> list[float]:
    """`extent` grown by `margin_deg` on every side, kept within ±180/±90."""
    x0, y0, x1, y1 = (float(v) for v in extent)
    m = float(margin_deg)
    box = [max(-180.0, x0 - m), max(-90.0, y0 - m), min(180.0, x1 + m), min(90.0, y1 + m)]
    return [round(v, 6) for v in box]


def country_extent(country: Mapping[str, Any], *, margin_deg: float = DEFAULT_MARGIN_DEG) -> list[float]:
    """The country's bounding box [lon_min, lat_min, lon_max, lat_max] (EPSG:4326) plus a margin.

    This is the box the raster and OSM clients clip to. There is no silent fallback: a country
    file without `extent` is an error naming the key.
    """
    iso3 = country.get("iso3", "?")
    value = country.get("extent")
    if value is None:
        raise CountryFileError(
            f"config/countries/{iso3}.yaml: key 'extent': not set; add extent: [lon_min, lat_min, lon_max, lat_max] "
            f"(the country's bounding box; `qipstudy country-check {iso3} --boundaries FILE` prints the boundaries' bounds)")
    return expand_extent(_as_extent(value, f"config/countries/{iso3}.yaml: key 'extent'"), margin_deg)


def _inside(lon: float, lat: float, box: Sequence[float]) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def _extent_errors(country: Mapping[str, Any]) -> list[str]:
    """The extent's shape, and every base inside it (a base outside with lat/lon swapped inside is named so)."""
    if country.get("extent") is None:
        return []
    try:
        box = expand_extent(_as_extent(country["extent"], "key 'extent'"), DEFAULT_MARGIN_DEG)
    except CountryFileError as exc:
        return [str(exc)]
    errors = []
    for i, base in enumerate(country.get("bases") or []):
        lat, lon = float(base["lat"]), float(base["lon"])
        if _inside(lon, lat, box):
            continue
        name = base.get("name", "?")
        if _inside(lat, lon, box):
            errors.append(f"key 'bases[{i}]' ({name}): lat {lat:g} / lon {lon:g} lie outside the extent "
                          f"{country['extent']} but fit it swapped: lat and lon look swapped")
        else:
            errors.append(f"key 'bases[{i}]' ({name}): lat {lat:g} / lon {lon:g} lie outside the extent {country['extent']}")
    return errors


def bounds_problem(bounds: Sequence[float], extent: Sequence[float], what: str) -> str | None:
    """Why `bounds` (lon/lat box of some data) do not belong to the country's `extent`, or None.

    Bounds must lie within the extent (plus a generous 1 degree: outlines differ between
    providers); if they only fit with x and y exchanged, the data's axes are swapped.
    """
    x0, y0, x1, y1 = (float(v) for v in bounds)
    grown = expand_extent(extent, 1.0)
    fits = grown[0] <= x0 and x1 <= grown[2] and grown[1] <= y0 and y1 <= grown[3]
    if fits:
        return None
    shown = f"[{x0:.3f}, {y0:.3f}, {x1:.3f}, {y1:.3f}]"
    box = f"[{', '.join(f'{v:g}' for v in extent)}]"
    swapped = grown[0] <= y0 and y1 <= grown[2] and grown[1] <= x0 and x1 <= grown[3]
    if swapped:
        return (f"{what}: bounds {shown} lie outside the country's extent {box} but fit it with x and y exchanged: "
                "the axes are swapped (coordinates stored as lat/lon instead of lon/lat)")
    return (f"{what}: bounds {shown} lie outside the country's extent {box} (another country, a wrong CRS, or "
            "coordinates in another unit)")


# ----------------------------------------------------------------------------- CRS


def _lon_ranges(west: float, east: float) -> list[tuple[float, float]]:
    return [(west, east)] if west <= east else [(west, 180.0), (-180.0, east)]


def _intersects(area, box: Sequence[float]) -> bool:
    if not (area.south <= box[3] and box[1] <= area.north):
        return False
    return any(w <= box[2] and box[0] <= e for w, e in _lon_ranges(area.west, area.east))


def _covers(area, box: Sequence[float]) -> bool:
    if not (area.south <= box[1] and box[3] <= area.north):
        return False
    return any(w <= box[0] and box[2] <= e for w, e in _lon_ranges(area.west, area.east))


def _utm(lon: float, lat: float) -> tuple[int, str]:
    zone = min(60, math.floor((lon + 180.0) / 6.0) + 1)
    return zone, ("N" if lat >= 0 else "S")


def suggest_projected_crs(extent: Sequence[float]) -> dict[str, Any]:
    """A metric CRS for the extent: the UTM zone of its centre, or an equal-area CRS if it is wider than a zone.

    Returns {'code', 'name', 'reason', 'utm_code'}: `code` is the recommendation, `utm_code` the UTM
    zone of the centre in any case (what most country files use for maps and nearest-feature search).
    """
    x0, y0, x1, y1 = (float(v) for v in extent)
    lon_c, lat_c = (x0 + x1) / 2, (y0 + y1) / 2
    zone, hemi = _utm(lon_c, lat_c)
    utm_code = f"EPSG:{32600 + zone if hemi == 'N' else 32700 + zone}"
    first, last = _utm(x0, lat_c)[0], _utm(min(x1, 179.999), lat_c)[0]
    width = x1 - x0
    if width <= 6.0:
        return {"code": utm_code, "name": f"WGS 84 / UTM zone {zone}{hemi}", "utm_code": utm_code,
                "reason": f"the extent ({width:.1f} deg wide) fits one UTM zone around its centre"}
    code, name = next(((code, name) for (bx0, by0, bx1, by1), code, name in EQUAL_AREA_CRS
                       if bx0 <= x0 and x1 <= bx1 and by0 <= y0 and y1 <= by1), GLOBAL_EQUAL_AREA_CRS)
    return {"code": code, "name": name, "utm_code": utm_code,
            "reason": f"the extent is {width:.1f} deg wide and spans UTM zones {first}-{last}: an equal-area CRS "
                      f"keeps areas and distances even across it"}


def _max_scale_error(crs, extent: Sequence[float]) -> float:
    """Largest |linear scale - 1| of `crs` on a 5 x 5 grid over the extent."""
    from pyproj import Proj

    proj = Proj(crs)
    x0, y0, x1, y1 = extent
    worst = 0.0
    for i in range(5):
        for j in range(5):
            lon, lat = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * j / 4
            f = proj.get_factors(lon, lat)
            for s in (f.meridional_scale, f.parallel_scale):
                if math.isfinite(s):
                    worst = max(worst, abs(s - 1.0))
    return worst


def crs_findings(country: Mapping[str, Any], *, bounds: Sequence[float] | None = None) -> list[tuple[str, str, str]]:
    """Check `projected_crs`: (level, key, message) with level 'error' or 'warning'.

    Errors: an unknown code, a geographic CRS, axes not in metres, an area of use that misses the
    country. Warning: the area of use does not cover the whole country and the scale error at its
    edges exceeds 1 % (distances are geodesic; the CRS serves nearest-feature search and maps).
    `bounds` (e.g. of the boundaries) replaces the country's extent when given.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    code = country.get("projected_crs")
    if not code:
        return []
    try:
        crs = CRS.from_user_input(code)
    except CRSError:
        return [("error", "projected_crs", f"{code!r} is not a CRS known to PROJ (e.g. EPSG:32630 for UTM zone 30N)")]
    if not crs.is_projected:
        return [("error", "projected_crs", (f"{code} ({crs.name}) is not projected: distances and maps need a "
                                            "metric projection (a UTM zone or an equal-area CRS)"))]
    units = {a.unit_name for a in crs.axis_info}
    if not units <= {"metre", "meter"}:
        return [("error", "projected_crs", f"{code} ({crs.name}) has axes in {', '.join(sorted(units))}, not metres")]
    box = list(bounds) if bounds is not None else country.get("extent")
    if box is None:
        return []
    area = crs.area_of_use
    suggestion = suggest_projected_crs(box)
    if area is not None and not _intersects(area, box):
        return [("error", "projected_crs", (f"{code} ({crs.name}) is meant for lon {area.west:g}..{area.east:g}, "
                                            f"lat {area.south:g}..{area.north:g}, not for the country's area "
                                            f"{list(box)}; suggested: {suggestion['code']} ({suggestion['name']})"))]
    if area is not None and not _covers(area, box):
        err = _max_scale_error(crs, box)
        if err > MAX_SCALE_ERROR:
            return [("warning", "projected_crs",
                     (f"{code} ({crs.name}) covers lon {area.west:g}..{area.east:g} only; at the edges of the area "
                      f"{list(box)} its scale error reaches {err:.1%}; {suggestion['reason']}: {suggestion['code']} "
                      f"({suggestion['name']})"))]
    return []
