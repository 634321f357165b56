"""Check a country file against its boundaries and the providers' offline-checkable keys.

What a new user cannot see in a country file: whether the study regions are spelt as in the
boundaries, whether each base's admin-3 name exists (and is unique), whether the projected CRS
suits the country, whether the ISO, IATI and UCDP keys belong together. These checks run as soon
as the boundaries exist (the synthetic regions offline, the retrieved or user boundaries in a real
run) and print one line per problem naming the file and the key, with a "did you mean".
`run_country_check` is the `qipstudy country-check XXX` command: it also lists the boundaries'
layers, field names and values, and suggests the UTM zone or an equal-area CRS.
"""
from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from .country import CountryFileError, bounds_problem, crs_findings, load_country_file, suggest_projected_crs
from .retrieve import boundaries as bnd

__all__ = [
    "COUNTRY_CODES",
    "CountryCheckError",
    "Finding",
    "check_boundaries",
    "check_boundaries_file",
    "check_provider_keys",
    "check_synthetic_regions",
    "describe_boundaries",
    "raise_on_errors",
    "run_country_check",
]

# ISO 3166-1 alpha-2 code, Gleditsch-Ward state number (UCDP GED's `country_id`; Gleditsch & Ward 1999,
# "Interstate System Membership", ksgleditsch.com/data/iisystem.dat) and name, for the countries that host
# or hosted UN peace operations and their neighbours. Countries not listed are simply not verified.
COUNTRY_CODES: dict[str, tuple[str, int, str]] = {
    "AFG": ("AF", 700, "Afghanistan"), "AGO": ("AO", 540, "Angola"), "BDI": ("BI", 516, "Burundi"),
    "BEN": ("BJ", 434, "Benin"), "BFA": ("BF", 439, "Burkina Faso"), "BIH": ("BA", 346, "Bosnia and Herzegovina"),
    "CAF": ("CF", 482, "Central African Republic"), "CIV": ("CI", 437, "Côte d'Ivoire"),
    "CMR": ("CM", 471, "Cameroon"), "COD": ("CD", 490, "Democratic Republic of the Congo"),
    "COG": ("CG", 484, "Congo"), "CYP": ("CY", 352, "Cyprus"), "DJI": ("DJ", 522, "Djibouti"),
    "DZA": ("DZ", 615, "Algeria"), "EGY": ("EG", 651, "Egypt"), "ERI": ("ER", 531, "Eritrea"),
    "ETH": ("ET", 530, "Ethiopia"), "GAB": ("GA", 481, "Gabon"), "GEO": ("GE", 372, "Georgia"),
    "GHA": ("GH", 452, "Ghana"), "GIN": ("GN", 438, "Guinea"), "GMB": ("GM", 420, "Gambia"),
    "GNB": ("GW", 404, "Guinea-Bissau"), "HTI": ("HT", 41, "Haiti"), "IND": ("IN", 750, "India"),
    "IRQ": ("IQ", 645, "Iraq"), "ISR": ("IL", 666, "Israel"), "JOR": ("JO", 663, "Jordan"),
    "KEN": ("KE", 501, "Kenya"), "LBN": ("LB", 660, "Lebanon"), "LBR": ("LR", 450, "Liberia"),
    "LBY": ("LY", 620, "Libya"), "MAR": ("MA", 600, "Morocco"), "MLI": ("ML", 432, "Mali"),
    "MOZ": ("MZ", 541, "Mozambique"), "MRT": ("MR", 435, "Mauritania"), "MWI": ("MW", 553, "Malawi"),
    "NAM": ("NA", 565, "Namibia"), "NER": ("NE", 436, "Niger"), "NGA": ("NG", 475, "Nigeria"),
    "PAK": ("PK", 770, "Pakistan"), "RWA": ("RW", 517, "Rwanda"), "SDN": ("SD", 625, "Sudan"),
    "SEN": ("SN", 433, "Senegal"), "SLE": ("SL", 451, "Sierra Leone"), "SOM": ("SO", 520, "Somalia"),
    "SSD": ("SS", 626, "South Sudan"), "SYR": ("SY", 652, "Syria"), "TCD": ("TD", 483, "Chad"),
    "TGO": ("TG", 461, "Togo"), "TLS": ("TL", 860, "Timor-Leste"), "TZA": ("TZ", 510, "Tanzania"),
    "UGA": ("UG", 500, "Uganda"), "YEM": ("YE", 678, "Yemen"), "ZAF": ("ZA", 560, "South Africa"),
    "ZMB": ("ZM", 551, "Zambia"), "ZWE": ("ZW", 552, "Zimbabwe"),
}

# A base's coordinates farther than this from its admin-3 polygon are reported.
MAX_BASE_OFFSET_KM = 10.0


@dataclass(frozen=True)
class Finding:
    """One result of a check: level is 'error', 'warning' or 'ok'; key is the country-file key concerned."""

    level: str
    key: str
    message: str

    def line(self, path: str | Path) -> str:
        return f"{path}: key '{self.key}': {self.message}"


class CountryCheckError(ValueError):
    """The country file contradicts its boundaries or the providers' keys; one line per problem."""


def raise_on_errors(findings: Iterable[Finding], path: str | Path) -> list[Finding]:
    """Raise CountryCheckError with every error (one line each); return the warnings."""
    findings = list(findings)
    errors = [f.line(path) for f in findings if f.level == "error"]
    if errors:
        raise CountryCheckError("\n".join(errors))
    return [f for f in findings if f.level == "warning"]


# ----------------------------------------------------------------------------- names


def _key(text: Any) -> str:
    decomposed = unicodedata.normalize("NFD", str(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip().casefold()


def _same(a: Any, b: Any) -> bool:
    return unicodedata.normalize("NFC", str(a)).strip().casefold() == unicodedata.normalize("NFC", str(b)).strip().casefold()


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Closest spellings of `name` among `candidates`, ignoring accents and case."""
    by_key: dict[str, str] = {}
    for c in candidates:
        by_key.setdefault(_key(c), str(c))
    return [by_key[k] for k in difflib.get_close_matches(_key(name), list(by_key), n=n, cutoff=0.6)]


def _hint(name: str, candidates: Iterable[str]) -> str:
    close = did_you_mean(name, candidates)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


# ----------------------------------------------------------------------------- checks


def check_provider_keys(country: Mapping[str, Any]) -> list[Finding]:
    """ISO codes, the UCDP (Gleditsch-Ward) id, the IATI, HDX and geoBoundaries keys, checked offline."""
    iso3 = str(country.get("iso3", ""))
    sources = country.get("sources") or {}
    out: list[Finding] = []
    known = COUNTRY_CODES.get(iso3)
    if known is None:
        out.append(Finding("warning", "iso3", f"{iso3!r} is not in the offline table of ISO 3166-1 codes "
                                              "(qipstudy.countrycheck.COUNTRY_CODES): ISO and UCDP keys not verified"))
    else:
        iso2, gw, name = known
        if country.get("iso2") != iso2:
            out.append(Finding("error", "iso2", f"{country.get('iso2')!r} is not the ISO 3166-1 alpha-2 code of {iso3} "
                                                f"({name}), which is {iso2!r}"))
        else:
            out.append(Finding("ok", "iso2", f"{iso2} is the ISO 3166-1 alpha-2 code of {iso3} ({name})"))
        cid = sources.get("ucdp_country_id")
        if cid is not None and int(cid) != gw:
            out.append(Finding("error", "sources.ucdp_country_id",
                               f"{cid} is not the Gleditsch-Ward number of {name}, which UCDP GED uses as "
                               f"country_id: {gw}"))
        elif cid is not None:
            out.append(Finding("ok", "sources.ucdp_country_id", f"{cid} is the Gleditsch-Ward number of {name}"))
    iati = sources.get("iati_recipient_country")
    if iati is not None and iati != country.get("iso2"):
        out.append(Finding("error", "sources.iati_recipient_country",
                           f"{iati!r} differs from iso2 {country.get('iso2')!r}: IATI recipient countries are "
                           "ISO 3166-1 alpha-2 codes"))
    gb = sources.get("geoboundaries_iso3")
    if gb is not None and gb != iso3:
        out.append(Finding("warning", "sources.geoboundaries_iso3",
                           f"{gb!r} differs from iso3 {iso3!r}: geoBoundaries names countries by ISO 3166-1 alpha-3"))
    hdx = sources.get("hdx_cod_ab_dataset")
    if hdx is not None and hdx != f"cod-ab-{iso3.lower()}":
        out.append(Finding("warning", "sources.hdx_cod_ab_dataset",
                           f"{hdx!r}: HDX names COD-AB datasets cod-ab-<iso3>, i.e. 'cod-ab-{iso3.lower()}'"))
    mission = sources.get("qip_mission")
    if mission is not None and mission != country.get("mission"):
        out.append(Finding("warning", "sources.qip_mission",
                           f"{mission!r} differs from mission {country.get('mission')!r}"))
    return out


def check_synthetic_regions(country: Mapping[str, Any]) -> list[Finding]:
    """Offline: the study regions must be among the synthetic world's admin-1 regions."""
    names = [r["name"] for r in (country.get("synthetic") or {}).get("regions", [])]
    out = []
    for i, region in enumerate(country.get("study_regions") or []):
        if not any(_same(region, n) for n in names):
            out.append(Finding("error", f"study_regions[{i}]",
                               f"{region!r} is not a region of the synthetic world (synthetic.regions: "
                               f"{', '.join(names)}){_hint(region, names)}"))
    return out


def _km(crs: str, a, b) -> float:
    """Distance in km between two geometries in the country's projected CRS."""
    pair = gpd.GeoSeries([a, b], crs=4326).to_crs(crs)
    return float(pair.iloc[0].distance(pair.iloc[1])) / 1000.0


def check_boundaries(country: Mapping[str, Any], admin3: gpd.GeoDataFrame) -> list[Finding]:
    """Study regions, bases' admin-3 names and the CRS against admin-3 polygons carrying the country's field names."""
    fields = bnd.configured_fields(country)
    columns = [c for c in admin3.columns if c != admin3.geometry.name]
    out: list[Finding] = []
    convention = bnd.detect_convention(columns)
    suggestion = ""
    if convention:
        suggestion = (f"; these boundaries follow the {convention[0]}: "
                      + ", ".join(f"{k}: {v}" for k, v in convention[1].items()))
    absent = {key: field for key, field in fields.items() if field not in admin3.columns}
    for key in [k for k in bnd.NAME_KEYS if k in absent]:
        out.append(Finding("error", f"boundaries.{key}",
                           f"no field {absent[key]!r} in the boundaries (fields: {', '.join(map(str, columns))})"
                           f"{_hint(absent[key], columns)}{suggestion}"))
    optional = {k: f for k, f in absent.items() if k not in bnd.NAME_KEYS}
    if optional:
        listed = ", ".join(f"{k} {f!r}" for k, f in optional.items())
        out.append(Finding("warning", f"boundaries.{next(iter(optional))}",
                           f"optional field(s) not in the boundaries, so not carried: {listed} "
                           f"(fields: {', '.join(map(str, columns))})"))
    if any(f.level == "error" for f in out):
        return out
    if admin3.crs is not None and admin3.crs.to_epsg() != 4326:
        admin3 = admin3.to_crs(4326)
    if country.get("extent") is not None:
        problem = bounds_problem(admin3.total_bounds, country["extent"], "the boundaries")
        if problem:
            out.append(Finding("error", "extent", problem))
            return out
    bounds = [round(float(v), 4) for v in admin3.total_bounds]
    for level, key, message in crs_findings(country, bounds=bounds):
        out.append(Finding(level, key, message))
    f1, f3 = fields["admin1_field"], fields["admin3_field"]
    regions = sorted(set(admin3[f1].dropna().astype(str)))
    for i, region in enumerate(country.get("study_regions") or []):
        if any(_same(region, r) for r in regions):
            continue
        out.append(Finding("error", f"study_regions[{i}]",
                           f"{region!r} is no admin-1 name in field {f1!r}{_hint(region, regions)} "
                           f"(names: {', '.join(regions)})"))
    names3 = admin3[f3].astype(str)
    pcode = fields.get("admin3_pcode_field")
    for i, base in enumerate(country.get("bases") or []):
        point = gpd.points_from_xy([base["lon"]], [base["lat"]], crs=4326)[0]
        at = admin3[admin3.contains(point)]
        here = f"the polygon at its coordinates is {at[f3].iloc[0]!r} ({f1} {at[f1].iloc[0]!r})" if len(at) else \
            "its coordinates lie on no polygon"
        hits = admin3[names3.map(lambda n, wanted=base["admin3"]: _same(n, wanted))]
        if hits.empty:
            out.append(Finding("error", f"bases[{i}].admin3",
                               f"{base['admin3']!r} ({base.get('name')}) is no admin-3 name in field {f3!r}"
                               f"{_hint(base['admin3'], names3.unique())}; {here}"))
            continue
        if len(hits) > 1:
            codes = (", ".join(map(str, hits[pcode])) if pcode and pcode in hits else
                     ", ".join(map(str, hits[f1])))
            out.append(Finding("warning", f"bases[{i}].admin3",
                               f"{base['admin3']!r} names {len(hits)} admin-3 polygons ({codes}); the base-distance "
                               f"covariate uses all of them; {here}"))
        if not hits.contains(point).any():
            km = _km(country["projected_crs"], point, hits.geometry.union_all())
            if km > MAX_BASE_OFFSET_KM:
                out.append(Finding("warning", f"bases[{i}]",
                                   f"the coordinates of {base.get('name')} (lat {base['lat']}, lon {base['lon']}) lie "
                                   f"{km:.0f} km from the admin-3 polygon {base['admin3']!r}; {here}"))
    if not any(f.level == "error" for f in out):
        out.append(Finding("ok", "study_regions", f"all {len(country.get('study_regions') or [])} study regions "
                                                  f"and {len(country.get('bases') or [])} bases found in the boundaries"))
    return out


def check_boundaries_file(country: Mapping[str, Any], path: str | Path, *, country_path: str | Path | None = None,
                          layer: str = "adm3") -> list[str]:
    """Check the country file against a contract adm3.gpkg; raise CountryCheckError on errors, return warnings.

    Called by the retrieve step as soon as the boundaries exist (synthetic, downloaded or a user
    file), so a study-region typo stops the run before any analysis. Each line names the file and key.
    """
    where = country_path or f"config/countries/{country.get('iso3', 'XXX')}.yaml"
    admin3 = gpd.read_file(path, layer=layer, engine="pyogrio")
    return [f.line(where) for f in raise_on_errors(check_boundaries(country, admin3), where)]


# ----------------------------------------------------------------------------- the command


def describe_boundaries(source: str | Path, *, layer: str | None = None) -> dict[str, Any]:
    """Layers, the admin-3 layer's fields, the detected field convention and the values of each level."""
    source = Path(source)
    layers = bnd.list_layers(source)
    try:
        entry = bnd.pick_layer(layers, layer, source)
    except bnd.LayerNotFoundError:
        if not layer:
            raise
        entry = bnd.pick_layer(layers, None, source)  # report the configured layer as missing, describe the rest
    gdf = bnd.read_layer(entry, source)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    convention = bnd.detect_convention(columns)
    return {"layers": [e["name"] for e in layers], "layer": entry["name"], "features": len(gdf), "columns": columns,
            "convention": convention, "crs": gdf.crs.to_string() if gdf.crs is not None else None,
            "bounds": list(gdf.to_crs(4326).total_bounds) if gdf.crs is not None and len(gdf) else None,
            "gdf": gdf, "layer_found": layer is None or entry["name"].lower() == str(layer).lower()}


def _values(gdf: gpd.GeoDataFrame, field: str) -> list[str]:
    return sorted(set(gdf[field].dropna().astype(str)))


def _default_boundaries(iso3: str, root: Path) -> Path | None:
    found = sorted((root / "resources" / "automatic" / iso3 / "boundaries").glob("*/adm3.gpkg"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _as_configured(gdf: gpd.GeoDataFrame, country: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Rename the layer's fields (matched case-insensitively) to the country file's names."""
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    renames = {}
    for field in bnd.configured_fields(country).values():
        hit = bnd.match_field(columns, field)
        if hit is not None and hit != field:
            renames[hit] = field
    gdf = gdf.rename(columns=renames)
    return gdf.to_crs(4326) if gdf.crs is not None else gdf


def run_country_check(iso3: str, *, countries_dir: str | Path = "config/countries", boundaries: str | Path | None = None,
                      layer: str | None = None, root: str | Path = ".", echo: Callable[[str], None] = print) -> int:
    """The `qipstudy country-check` command; returns the exit status (0 fine, 1 errors found)."""
    root = Path(root)
    path = Path(countries_dir) / f"{iso3}.yaml"
    echo(f"Country file {path}")
    try:
        country = load_country_file(path)
    except CountryFileError as exc:
        for line in str(exc).splitlines():
            echo(f"  error: {line}")
        return 1
    echo("  schema: ok")
    findings: list[Finding] = []

    def report(items: Sequence[Finding]) -> None:
        for f in items:
            echo(f"  {f.level}: {f.key}: {f.message}")
        findings.extend(items)

    echo("Provider keys (offline)")
    report(check_provider_keys(country))
    echo("Projected CRS")
    extent = country.get("extent")
    if extent is not None:
        s = suggest_projected_crs(extent)
        echo(f"  extent {extent}: UTM zone of the centre {s['utm_code']}; suggested {s['code']} ({s['name']}): "
             f"{s['reason']}")
    crs_items = [Finding(level, key, msg) for level, key, msg in crs_findings(country)]
    report(crs_items or [Finding("ok", "projected_crs",
                                 f"{country['projected_crs']} is metric and suits the extent (scale error within 1 %)")])
    source = Path(boundaries) if boundaries else _default_boundaries(iso3, root)
    if source is None:
        echo("Boundaries: none given and none retrieved (resources/automatic/"
             f"{iso3}/boundaries/*/adm3.gpkg); pass --boundaries FILE (a .shp, .zip, folder or .gpkg)")
        echo("Synthetic world (offline)")
        report(check_synthetic_regions(country) or [Finding("ok", "study_regions", "all are synthetic regions")])
    else:
        wanted = layer or (None if source.name == "adm3.gpkg" else (country.get("boundaries") or {}).get("cod_ab_layer"))
        echo(f"Boundaries {source}")
        try:
            info = describe_boundaries(source, layer=wanted)
        except (bnd.SchemaError, bnd.RetrieveError) as exc:
            report([Finding("error", "boundaries", str(exc))])
            return 1
        echo(f"  layers: {', '.join(info['layers'])}")
        if not info["layer_found"]:
            report([Finding("error", "boundaries.cod_ab_layer", f"no layer {wanted!r}; describing {info['layer']!r} "
                                                                "instead")])
        echo(f"  admin-3 layer: {info['layer']} ({info['features']} features, CRS {info['crs']}, bounds "
             f"{[round(float(v), 4) for v in info['bounds']] if info['bounds'] else 'n/a'})")
        echo(f"  fields: {', '.join(map(str, info['columns']))}")
        gdf = _as_configured(info["gdf"], country)
        convention = info["convention"]
        if convention:
            echo(f"  field convention: {convention[0]}")
            echo("  boundaries block for this layer:")
            if info["layer"] and source.name != "adm3.gpkg":
                echo(f"    cod_ab_layer: {info['layer']}")
            for key, field in convention[1].items():
                echo(f"    {key}: {field}")
        names = bnd.configured_fields(country)
        for k in (1, 2, 3):
            field = names.get(f"admin{k}_field")
            if field not in gdf.columns and convention:
                field = convention[1].get(f"admin{k}_field")
            if field in gdf.columns:
                values = _values(gdf, field)
                echo(f"  admin-{k} ({field}, {len(values)} values): {', '.join(values)}")
        report(check_boundaries(country, gdf))
    errors = [f for f in findings if f.level == "error"]
    echo(f"{len(errors)} error(s), {sum(f.level == 'warning' for f in findings)} warning(s)")
    return 1 if errors else 0
