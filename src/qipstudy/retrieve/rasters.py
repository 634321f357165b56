"""Night-light and population rasters: URL builders, authenticated download, clip, validation.

Global rasters are hundreds of MB; they are downloaded once into a cache (resumable, pinnable by
sha256), unpacked (gz, zip, tar), clipped to the study bounding box and written as north-up
single-band GeoTIFFs in EPSG:4326 as the data contract requires.

Providers and their real layouts:

* DMSP-OLS v4 composites at the Earth Observation Group (EOG, Colorado School of Mines):
  `https://eogdata.mines.edu/wwwdata/dmsp/v4composites_rearrange/{SAT}_{YEAR}/`
  `{SAT}{YEAR}.{v4b|v4c}.global.{cf_cvg|stable_lights.avg_vis}.tif` (v4c for F18 2010-2013, v4b
  for older satellites). The data tree needs a free EOG account: an anonymous request is redirected
  to EOG's Keycloak login page (eogauth.mines.edu). Programmatic access uses a Bearer token from
  EOG's OpenID token endpoint with the public client `eogdata_oidc` and the client secret EOG
  publishes for it (https://eogdata.mines.edu/products/register/). Credentials: EOG_ACCESS_TOKEN,
  or EOG_USERNAME and EOG_PASSWORD.
* GPW v4 rev. 11 population density, moved from SEDAC to NASA Earthdata:
  `https://data.earthdata.nasa.gov/nasa-earth/human-dimensions/sedac-root/downloads/data/gpw-v4/`
  `gpw-v4-population-density-rev11/gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip`,
  with an Earthdata bearer token (EARTHDATA_TOKEN) or Earthdata login (EARTHDATA_USERNAME and
  EARTHDATA_PASSWORD, sent only to urs.earthdata.nasa.gov).
* WorldPop 1 km UN-adjusted density (open).

A login or error page is never saved as data (the HTTP layer refuses HTML bodies; a login page is
an AuthError naming the variables to set). A truncated or unreadable GeoTIFF is a CorruptFileError
naming the file.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..registry import NIGHTLIGHT_BAND_FILES
from . import secrets
from .http import (
    AuthError,
    CorruptFileError,
    HttpClient,
    MissingCredentialsError,
    RetrieveError,
    SchemaError,
    atomic_path,
    log,
    options_schema,
    parse_json,
    resolve_options,
    sha256_file,
)
from .provenance import Retrieved

__all__ = ["DMSP_BASE", "DMSP_URL", "DMSP_BANDS", "GPW_BASE", "GPW_URL", "WORLDPOP_BASE", "WORLDPOP_URL",
           "EOG_TOKEN_URL", "NIGHTLIGHTS_OPTIONS_SCHEMA", "POPULATION_OPTIONS_SCHEMA",
           "WORLDPOP_OPTIONS_SCHEMA", "OPTIONS_SCHEMAS", "USER_FILE_HINTS", "dmsp_urls", "gpw_url",
           "worldpop_url", "unpack_raster", "clip_raster", "validate_raster", "download_nightlights",
           "download_population", "download_worldpop"]

DMSP_BASE = "https://eogdata.mines.edu/wwwdata/dmsp/v4composites_rearrange"
DMSP_URL = "{base_url}/{sat}_{year}/{sat}{year}.{composite}.global.{band}.tif"
DMSP_BANDS = {"cf_cvg": "cf_cvg", "stable_lights": "stable_lights.avg_vis"}
# The contract files of the nightlights dataset, by band.
GPW_BASE = "https://data.earthdata.nasa.gov/nasa-earth/human-dimensions/sedac-root/downloads/data/gpw-v4"
GPW_URL = ("{base_url}/gpw-v4-population-density-rev11/"
           "gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip")
WORLDPOP_BASE = "https://data.worldpop.org/GIS/Population_Density/Global_2000_2020_1km_UNadj"
WORLDPOP_URL = "{base_url}/{year}/{ISO3}/{iso3}_pd_{year}_1km_UNadj.tif"
EARTHDATA_ENV = ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD")
EARTHDATA_LOGIN_HOST = "urs.earthdata.nasa.gov"
EOG_ENV = "EOG_ACCESS_TOKEN"
EOG_LOGIN_ENV = ("EOG_USERNAME", "EOG_PASSWORD")
EOG_TOKEN_URL = "https://eogauth.mines.edu/auth/realms/master/protocol/openid-connect/token"
# EOG's public OpenID client for scripted downloads, as published on its registration page.
EOG_CLIENT = {"client_id": "eogdata_oidc", "client_secret": "2677ad81-521b-4869-8480-6d05b9e57d48"}

USER_FILE_HINTS = {
    "nightlights": "the DMSP tar/zip or a folder with the cf_cvg and stable_lights GeoTIFFs",
    "population": "the GPW v4.11 density zip or a GeoTIFF in EPSG:4326",
    "worldpop": "the WorldPop density GeoTIFF",
}

_RASTER_COMMON = {
    "bbox": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
             "default": None,
             "description": "[lon_min, lat_min, lon_max, lat_max] to clip to; null: the country's bbox"},
    "clip": {"type": "boolean", "default": True,
             "description": "clip to the bounding box (false: keep the whole raster)"},
    "member": {"type": ["string", "null"], "default": None,
               "description": "substring of the raster to pick inside an archive"},
    "url": {"type": ["string", "null"], "default": None,
            "description": "full URL template overriding the provider's layout"},
    "year": {"type": "integer", "default": 2015, "description": "year of the raster"},
}

NIGHTLIGHTS_OPTIONS_SCHEMA = options_schema({
    **_RASTER_COMMON,
    "base_url": {"type": ["string", "null"], "default": DMSP_BASE,
                 "description": "root of EOG's DMSP v4 composites (folders {SAT}_{YEAR})"},
    "url": {"type": ["string", "null"], "default": None,
            "description": "DMSP: URL template ({base_url}, {sat}, {year}, {composite}, {band}; a .tar for the "
                           "legacy NGDC layout); VIIRS/Black Marble: required, the radiance composite"},
    "product": {"type": "string", "enum": ["dmsp", "viirs", "blackmarble"], "default": "dmsp",
                "description": "dmsp (the paper's), viirs (EOG) or blackmarble (NASA)"},
    "satellite": {"type": "string", "default": "F18", "description": "DMSP satellite, e.g. F18"},
    "year": {"type": "integer", "default": 2013, "description": "composite year"},
    "composite": {"type": ["string", "null"], "default": None,
                  "description": "DMSP file version (v4b, v4c); null: v4c for F18, else v4b"},
    "cf_cvg_url": {"type": ["string", "null"], "default": None,
                   "description": "VIIRS/Black Marble coverage raster; null: the radiance is copied"},
    "token_url": {"type": ["string", "null"], "default": EOG_TOKEN_URL,
                  "description": "EOG's OpenID token endpoint (used with EOG_USERNAME/EOG_PASSWORD)"},
})
POPULATION_OPTIONS_SCHEMA = options_schema({
    **_RASTER_COMMON,
    "base_url": {"type": ["string", "null"], "default": None,
                 "description": "root of the product's files; null: GPW at NASA Earthdata, or WorldPop"},
    "product": {"type": "string", "enum": ["gpw", "worldpop"], "default": "gpw",
                "description": "gpw (GPW v4.11, Earthdata login) or worldpop (open)"},
    "resolution": {"type": "string", "default": "30_sec", "description": "GPW resolution, e.g. 30_sec"},
})
WORLDPOP_OPTIONS_SCHEMA = options_schema({
    **_RASTER_COMMON,
    "base_url": {"type": ["string", "null"], "default": WORLDPOP_BASE,
                 "description": "root of WorldPop's 1 km UN-adjusted density files"},
})
OPTIONS_SCHEMAS = {"nightlights": NIGHTLIGHTS_OPTIONS_SCHEMA, "population": POPULATION_OPTIONS_SCHEMA,
                   "worldpop": WORLDPOP_OPTIONS_SCHEMA}


def dmsp_urls(options: Mapping[str, Any]) -> dict[str, str]:
    """URLs of the cf_cvg and stable_lights composites for `satellite` + `year` (default F18 2013)."""
    sat, year = str(options.get("satellite") or "F18"), int(options.get("year") or 2013)
    base = str(options.get("base_url") or DMSP_BASE).rstrip("/")
    composite = options.get("composite") or ("v4c" if sat.upper() == "F18" else "v4b")
    template = str(options.get("url") or DMSP_URL)
    fields = {"base_url": base, "sat": sat, "year": year, "composite": composite}
    if template.endswith(".tar"):  # legacy NGDC layout: one tar with every band
        url = template.format(**fields)
        return {band: url for band in DMSP_BANDS}
    return {band: template.format(band=name, **fields) for band, name in DMSP_BANDS.items()}


def gpw_url(options: Mapping[str, Any]) -> str:
    """GPW v4 rev 11 population density zip for `year` (2015) and `resolution` (30_sec)."""
    base = str(options.get("base_url") or GPW_BASE).rstrip("/")
    return str(options.get("url") or GPW_URL).format(base_url=base, year=int(options.get("year") or 2015),
                                                      resolution=options.get("resolution") or "30_sec")


def worldpop_url(country: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """WorldPop 1 km UN-adjusted population density GeoTIFF for the country and `year`."""
    iso3 = str(country["iso3"])
    base = str(options.get("base_url") or WORLDPOP_BASE).rstrip("/")
    return str(options.get("url") or WORLDPOP_URL).format(base_url=base, year=int(options.get("year") or 2015),
                                                          ISO3=iso3.upper(), iso3=iso3.lower())


def unpack_raster(path: Path, workdir: Path, member: str = "") -> Path:
    """Return a GeoTIFF from a .tif, .tif.gz, .zip or .tar (choosing the member containing `member`)."""
    path, workdir = Path(path), Path(workdir)
    member = member or ""
    workdir.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    try:
        if name.endswith((".tif", ".tiff")):
            return path
        if name.endswith(".gz") and not name.endswith(".tar.gz"):
            out = workdir / path.name[:-3]
            with gzip.open(path, "rb") as src, atomic_path(out) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return out
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith((".tif", ".tiff", ".tif.gz"))]
                pick = _pick(names, member, path)
                out = workdir / Path(pick).name
                with zf.open(pick) as src, atomic_path(out) as tmp, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return unpack_raster(out, workdir) if out.name.endswith(".gz") else out
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as tf:
                names = [m.name for m in tf.getmembers() if m.isfile()
                         and m.name.lower().endswith((".tif", ".tiff", ".tif.gz"))]
                pick = _pick(names, member, path)
                out = workdir / Path(pick).name
                src = tf.extractfile(pick)
                with atomic_path(out) as tmp, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return unpack_raster(out, workdir) if out.name.endswith(".gz") else out
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise CorruptFileError(f"{path}: corrupt archive ({exc})") from exc
    raise CorruptFileError(f"{path}: neither a GeoTIFF nor a gz/zip/tar archive holding one")


def _pick(names: list[str], member: str, archive: Path) -> str:
    hits = [n for n in names if member.lower() in n.lower()]
    if not hits:
        raise CorruptFileError(f"{archive}: no raster matching {member!r} inside ({names})")
    return sorted(hits, key=len)[0]


def validate_raster(path: Path) -> dict[str, Any]:
    """Open the raster; it must be readable to its last block, georeferenced and have a band.

    Reading the first and the last block catches a file cut off in transit without reading a
    global raster whole.
    """
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SchemaError(f"{path}: raster has no CRS (the contract needs EPSG:4326)")
            if src.count < 1:
                raise SchemaError(f"{path}: raster has no band")
            src.read(1, window=((0, min(1, src.height)), (0, min(1, src.width))))
            last = src.block_window(1, *[n - 1 for n in _block_counts(src)])
            src.read(1, window=last)
            return {"crs": src.crs.to_string(), "width": src.width, "height": src.height,
                    "dtype": src.dtypes[0], "nodata": src.nodata}
    except RasterioError as exc:
        raise CorruptFileError(f"{path}: unreadable raster ({exc}); the file is truncated or not a "
                               "GeoTIFF: delete it and download it again") from None


def _block_counts(src) -> tuple[int, int]:
    bh, bw = src.block_shapes[0]
    return -(-src.height // bh), -(-src.width // bw)


def clip_raster(src_path: Path, dest: Path, bbox: list[float] | None) -> dict[str, Any]:
    """Write band 1 of `src_path` (clipped to `bbox` if given) as a GeoTIFF in EPSG:4326."""
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.windows import from_bounds

    validate_raster(src_path)
    try:
        with rasterio.open(src_path) as src:
            if src.crs.to_epsg() != 4326:
                raise SchemaError(f"{src_path}: CRS {src.crs} is not EPSG:4326; reproject it first")
            if bbox:
                window = from_bounds(*[float(v) for v in bbox], transform=src.transform)
                window = window.round_offsets().round_lengths().intersection(
                    rasterio.windows.Window(0, 0, src.width, src.height))
            else:
                window = rasterio.windows.Window(0, 0, src.width, src.height)
            data = src.read(1, window=window)
            profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
                       "dtype": data.dtype, "crs": "EPSG:4326", "nodata": src.nodata,
                       "transform": src.window_transform(window), "compress": "deflate"}
    except RasterioError as exc:
        raise CorruptFileError(f"{src_path}: unreadable raster ({exc}); the file is truncated or "
                               "corrupt: delete it and download it again") from None
    with atomic_path(dest) as tmp:
        with rasterio.open(tmp, "w", **profile) as out:
            out.write(data, 1)
    return {"pixels": int(data.size), "shape": list(data.shape)}


def _check_download(path: Path) -> None:
    """A downloaded raster archive must open (the HTTP layer checks sizes, HTML and pins).

    Called on the partial file (`x.tif.part`) before it becomes `x.tif`, so the kind is read from
    the name without `.part`.
    """
    name = path.name.lower().removesuffix(".part")
    if name.endswith((".tif", ".tiff")):
        validate_raster(path)
    elif name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                zf.namelist()
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"{path}: not a valid zip file ({exc}); truncated download") from None
    elif name.endswith(".gz") and not name.endswith(".tar.gz"):
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                raise CorruptFileError(f"{path}: not a gzip file")


def _bbox(country: Mapping[str, Any], options: Mapping[str, Any]) -> list[float] | None:
    if options.get("clip") is False:
        return None
    from qipstudy.country import country_extent

    return options.get("bbox") or country_extent(country)


def _default_host(url: str, default_base: str) -> bool:
    """True if `url` points at the provider itself (not a mirror or a test server)."""
    return (urlsplit(url).hostname or "") == (urlsplit(default_base).hostname or "")


def _earthdata(client: HttpClient, options: Mapping[str, Any], url: str) -> dict[str, str]:
    """Earthdata login: a bearer token, or username/password sent only to the URS login host."""
    root = options.get("project_root")
    token = secrets.get_secret("EARTHDATA_TOKEN", project_root=root, required=False)
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = secrets.get_secret("EARTHDATA_USERNAME", project_root=root, required=False)
    password = secrets.get_secret("EARTHDATA_PASSWORD", project_root=root, required=False)
    if user and password:
        client.session.auth = (user, password)
        client.session.auth_hosts |= {EARTHDATA_LOGIN_HOST}
        return {}
    if not _default_host(url, GPW_BASE):
        log.info("population: no Earthdata credentials; trying the mirror %s without", urlsplit(url).hostname)
        return {}
    raise MissingCredentialsError(
        "credential missing for NASA Earthdata (GPW v4 / Black Marble): set EARTHDATA_TOKEN, or "
        "EARTHDATA_USERNAME and EARTHDATA_PASSWORD (environment or the git-ignored .env); an account "
        "is free at https://urs.earthdata.nasa.gov")


def _eog(client: HttpClient, options: Mapping[str, Any], url: str) -> dict[str, str]:
    """EOG login: EOG_ACCESS_TOKEN, else a token from EOG_USERNAME/EOG_PASSWORD (password grant)."""
    root = options.get("project_root")
    token = secrets.get_secret(EOG_ENV, project_root=root, required=False)
    if not token:
        user = secrets.get_secret(EOG_LOGIN_ENV[0], project_root=root, required=False)
        password = secrets.get_secret(EOG_LOGIN_ENV[1], project_root=root, required=False)
        if user and password:
            token_url = str(options.get("token_url") or EOG_TOKEN_URL)
            form = {**EOG_CLIENT, "username": user, "password": password, "grant_type": "password"}
            resp = client.request("POST", token_url, data=form, allow=(400, 401))
            if resp.status_code in (400, 401):
                raise AuthError(f"nightlights: EOG rejected the login at {urlsplit(token_url).hostname} "
                                f"(HTTP {resp.status_code}): check {EOG_LOGIN_ENV[0]} and {EOG_LOGIN_ENV[1]}")
            payload = parse_json(resp, source="EOG token endpoint")
            token = payload.get("access_token") if isinstance(payload, dict) else None
            if not token:
                raise CorruptFileError("nightlights: EOG's token endpoint answered without an access_token")
            secrets.remember(token)
    if token:
        return {"Authorization": f"Bearer {token}"}
    if not _default_host(url, DMSP_BASE):
        log.info("nightlights: no EOG credentials; trying the mirror %s without", urlsplit(url).hostname)
        return {}
    raise MissingCredentialsError(
        f"credential missing for EOG night lights (eogdata.mines.edu needs a free account): set {EOG_ENV}, "
        f"or {EOG_LOGIN_ENV[0]} and {EOG_LOGIN_ENV[1]} (environment or the git-ignored .env)")


def _cache(options: Mapping[str, Any], out_dir: Path) -> Path:
    return Path(options.get("cache_dir") or Path(out_dir) / ".download")


def _pins(options: Mapping[str, Any], name: str) -> str | None:
    pin = options.get("sha256")
    return pin.get(name) if isinstance(pin, Mapping) else pin


def download_nightlights(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                         version: str) -> Retrieved:
    """`product`: dmsp (default, the paper's), viirs (EOG) or blackmarble; writes both contract files.

    nightlights_cf_cvg.tif is the cloud-free coverage count (the paper's band), and
    nightlights_stable_lights.tif the light intensity.
    """
    opts = resolve_options(options, NIGHTLIGHTS_OPTIONS_SCHEMA, dataset="nightlights")
    product = opts["product"]
    cache, out_dir = _cache(opts, out_dir), Path(out_dir)
    bbox = _bbox(country, opts)
    targets = {band: out_dir / name for band, name in NIGHTLIGHT_BAND_FILES.items()}
    files, sources, notes = [], [], {"product": product, "bbox": bbox}
    hint = USER_FILE_HINTS["nightlights"]
    if product == "dmsp":
        urls = dmsp_urls(opts)
        client = HttpClient.from_options(opts, auth_env=(EOG_ENV, *EOG_LOGIN_ENV), dataset="nightlights",
                                         user_file_hint=hint)
        headers = _eog(client, opts, next(iter(urls.values())))
        for band, url in urls.items():
            name = Path(urlsplit(url).path).name
            archive = client.download(url, cache / name, headers=headers, expected_sha256=_pins(opts, name),
                                      label=f"DMSP {band}", validate=_check_download)
            tif = unpack_raster(archive, cache / "unpacked", member=DMSP_BANDS[band])
            notes[band] = clip_raster(tif, targets[band], bbox)
            files.append(targets[band])
            sources.append({"url": url, "band": band, "archive_sha256": sha256_file(archive)})
    else:
        if not opts["url"]:
            raise RetrieveError(f"nightlights product {product!r} needs options `url` (the annual "
                                "radiance composite: GeoTIFF, .tif.gz or zip)")
        if product == "viirs":
            client = HttpClient.from_options(opts, auth_env=(EOG_ENV, *EOG_LOGIN_ENV), dataset="nightlights",
                                             user_file_hint=hint)
            headers = _eog(client, opts, str(opts["url"]))
        else:
            client = HttpClient.from_options(opts, auth_env=("EARTHDATA_TOKEN",), dataset="nightlights",
                                             user_file_hint=hint)
            headers = {"Authorization": "Bearer " + str(secrets.get_secret(
                "EARTHDATA_TOKEN", project_root=opts["project_root"], purpose="Black Marble night lights"))}
        wanted = {"stable_lights": opts["url"], "cf_cvg": opts["cf_cvg_url"]}
        for band, template in wanted.items():
            if not template:
                continue
            url = str(template).format(year=opts["year"])
            name = Path(urlsplit(url).path).name
            archive = client.download(url, cache / name, headers=headers, expected_sha256=_pins(opts, name),
                                      label=f"{product} {band}", validate=_check_download)
            tif = unpack_raster(archive, cache / "unpacked", member=opts["member"] or "")
            notes[band] = clip_raster(tif, targets[band], bbox)
            files.append(targets[band])
            sources.append({"url": url, "band": band, "archive_sha256": sha256_file(archive)})
        if not wanted["cf_cvg"]:
            # No coverage band given: both contract files hold the radiance, and provenance says so.
            shutil.copyfile(targets["stable_lights"], targets["cf_cvg"])
            files.insert(0, targets["cf_cvg"])
            notes[NIGHTLIGHT_BAND_FILES["cf_cvg"]] = "copy of the radiance composite (no cf_cvg_url given)"
            log.warning("%s: no cf_cvg_url; %s holds the radiance composite", product, NIGHTLIGHT_BAND_FILES["cf_cvg"])
    return Retrieved(files=files, sources=sources, notes=notes)


def _population(country: Mapping[str, Any], opts: Mapping[str, Any], out_dir: Path, dataset: str,
                product: str) -> Retrieved:
    cache, out_dir = _cache(opts, out_dir), Path(out_dir)
    hint = USER_FILE_HINTS[dataset]
    if product == "gpw":
        url = gpw_url(opts)
        client = HttpClient.from_options(opts, auth_env=EARTHDATA_ENV, dataset=dataset, user_file_hint=hint)
        headers = _earthdata(client, opts, url)
        member = "population_density"
    else:
        url = worldpop_url(country, opts)
        client = HttpClient.from_options(opts, dataset=dataset, user_file_hint=hint)
        headers, member = {}, ""
    name = Path(urlsplit(url).path).name
    archive = client.download(url, cache / name, headers=headers, expected_sha256=_pins(opts, name),
                              label=f"population {product}", validate=_check_download)
    tif = unpack_raster(archive, cache / "unpacked", member=opts["member"] or member)
    dest = out_dir / "pop_density.tif"
    info = clip_raster(tif, dest, _bbox(country, opts))
    log.info("population %s: %s pixels", product, info["pixels"])
    return Retrieved(files=[dest], sources=[{"url": url, "archive_sha256": sha256_file(archive)}],
                     notes={"product": product, "year": opts["year"], **info})


def download_population(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                        version: str) -> Retrieved:
    """`product`: gpw (default, Earthdata login) or worldpop (open); writes pop_density.tif."""
    opts = resolve_options(options, POPULATION_OPTIONS_SCHEMA, dataset="population")
    if opts["product"] == "worldpop" and not opts["base_url"]:
        opts["base_url"] = WORLDPOP_BASE
    return _population(country, opts, out_dir, "population", opts["product"])


def download_worldpop(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                      version: str) -> Retrieved:
    """The `worldpop` dataset: WorldPop density (no login)."""
    opts = resolve_options(options, WORLDPOP_OPTIONS_SCHEMA, dataset="worldpop")
    return _population(country, opts, out_dir, "worldpop", "worldpop")
