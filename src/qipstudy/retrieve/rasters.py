"""Night-light and population rasters: URL builders, authenticated download, clip, validation.

Global rasters are hundreds of MB; they are downloaded once into a cache (resumable, pinnable by
sha256), unpacked (gz, zip, tar), clipped to the study bounding box and written as north-up
single-band GeoTIFFs in EPSG:4326 as the data contract requires.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from . import secrets
from .http import (CorruptFileError, HttpClient, RetrieveError, SchemaError, atomic_path, log,
                   sha256_file)
from .provenance import Retrieved

__all__ = ["DMSP_URL", "GPW_URL", "WORLDPOP_URL", "dmsp_urls", "gpw_url", "worldpop_url",
           "unpack_raster", "clip_raster", "validate_raster", "download_nightlights",
           "download_population"]

DMSP_URL = ("https://eogdata.mines.edu/wwwdata/dmsp/v4composites_rearrange/"
            "{sat}{year}.v4/{sat}{year}.v4c_web.{band}.tif.gz")
DMSP_BANDS = {"cf_cvg": "cf_cvg", "stable_lights": "stable_lights.avg_vis"}
GPW_URL = ("https://sedac.ciesin.columbia.edu/downloads/data/gpw-v4/"
           "gpw-v4-population-density-rev11/gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip")
WORLDPOP_URL = ("https://data.worldpop.org/GIS/Population_Density/Global_2000_2020_1km_UNadj/"
                "{year}/{ISO3}/{iso3}_pd_{year}_1km_UNadj.tif")
EARTHDATA_ENV = ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD")
EOG_ENV = "EOG_ACCESS_TOKEN"


def dmsp_urls(options: Mapping[str, Any]) -> dict[str, str]:
    """URLs of the cf_cvg and stable_lights composites for `satellite` + `year` (default F18 2013)."""
    template = str(options.get("url", DMSP_URL))
    sat, year = options.get("satellite", "F18"), int(options.get("year", 2013))
    if template.endswith(".tar"):  # legacy NGDC layout: one tar with every band
        url = template.format(sat=sat, year=year)
        return {band: url for band in DMSP_BANDS}
    return {band: template.format(sat=sat, year=year, band=name) for band, name in DMSP_BANDS.items()}


def gpw_url(options: Mapping[str, Any]) -> str:
    """GPW v4 rev 11 population density zip for `year` (2015) and `resolution` (30_sec)."""
    return str(options.get("url", GPW_URL)).format(year=int(options.get("year", 2015)),
                                                   resolution=options.get("resolution", "30_sec"))


def worldpop_url(country: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """WorldPop 1 km UN-adjusted population density GeoTIFF for the country and `year`."""
    iso3 = str(country["iso3"])
    return str(options.get("url", WORLDPOP_URL)).format(year=int(options.get("year", 2015)),
                                                        ISO3=iso3.upper(), iso3=iso3.lower())


def unpack_raster(path: Path, workdir: Path, member: str = "") -> Path:
    """Return a GeoTIFF from a .tif, .tif.gz, .zip or .tar (choosing the member containing `member`)."""
    path, workdir = Path(path), Path(workdir)
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
    """Open the raster; it must be readable, georeferenced (CRS) and have at least one band."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SchemaError(f"{path}: raster has no CRS (the contract needs EPSG:4326)")
            if src.count < 1:
                raise SchemaError(f"{path}: raster has no band")
            src.read(1, window=((0, min(1, src.height)), (0, min(1, src.width))))
            return {"crs": src.crs.to_string(), "width": src.width, "height": src.height,
                    "dtype": src.dtypes[0], "nodata": src.nodata}
    except RasterioIOError as exc:
        raise CorruptFileError(f"{path}: unreadable raster ({exc})") from exc


def clip_raster(src_path: Path, dest: Path, bbox: list[float] | None) -> dict[str, Any]:
    """Write band 1 of `src_path` (clipped to `bbox` if given) as a GeoTIFF in EPSG:4326."""
    import rasterio
    from rasterio.windows import from_bounds

    validate_raster(src_path)
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
    with atomic_path(dest) as tmp:
        with rasterio.open(tmp, "w", **profile) as out:
            out.write(data, 1)
    return {"pixels": int(data.size), "shape": list(data.shape)}


def _bbox(country: Mapping[str, Any], options: Mapping[str, Any]) -> list[float] | None:
    if options.get("clip") is False:
        return None
    return options.get("bbox") or country.get("bbox") or (country.get("synthetic") or {}).get("bbox")


def _earthdata(client: HttpClient, options: Mapping[str, Any], url: str) -> dict[str, str]:
    """Earthdata login: a bearer token, or username/password kept across the URS redirect."""
    root = options.get("project_root")
    token = secrets.get_secret("EARTHDATA_TOKEN", project_root=root, required=False)
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = secrets.get_secret("EARTHDATA_USERNAME", project_root=root, required=False)
    password = secrets.get_secret("EARTHDATA_PASSWORD", project_root=root, required=False)
    if user and password:
        client.session.auth = (user, password)
        client.session.auth_hosts |= {"urs.earthdata.nasa.gov", urlsplit(url).hostname or ""}
        return {}
    raise secrets.MissingCredentialsError(
        "credential missing for NASA Earthdata (GPW v4 / Black Marble): set EARTHDATA_TOKEN, or "
        "EARTHDATA_USERNAME and EARTHDATA_PASSWORD (environment or the git-ignored .env)")


def _cache(options: Mapping[str, Any], out_dir: Path) -> Path:
    return Path(options.get("cache_dir") or Path(out_dir) / ".download")


def _pins(options: Mapping[str, Any], name: str) -> str | None:
    pin = options.get("sha256")
    return pin.get(name) if isinstance(pin, Mapping) else pin


def download_nightlights(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                         version: str) -> Retrieved:
    """`product`: dmsp (default, the paper's), viirs (EOG) or blackmarble; writes both contract files.

    nightlights.tif is the cloud-free coverage count (the paper's band), and
    nightlights_stable_lights.tif the light intensity.
    """
    product = options.get("product", "dmsp")
    cache, out_dir = _cache(options, out_dir), Path(out_dir)
    bbox = _bbox(country, options)
    files, sources, notes = [], [], {"product": product, "bbox": bbox}
    if product == "dmsp":
        client = HttpClient.from_options(options)
        targets = {"cf_cvg": out_dir / "nightlights.tif",
                   "stable_lights": out_dir / "nightlights_stable_lights.tif"}
        for band, url in dmsp_urls(options).items():
            name = Path(urlsplit(url).path).name
            archive = client.download(url, cache / name, expected_sha256=_pins(options, name),
                                      label=f"DMSP {band}")
            tif = unpack_raster(archive, cache / "unpacked", member=DMSP_BANDS[band])
            notes[band] = clip_raster(tif, targets[band], bbox)
            files.append(targets[band])
            sources.append({"url": url, "band": band, "archive_sha256": sha256_file(archive)})
    elif product in ("viirs", "blackmarble"):
        if not options.get("url"):
            raise RetrieveError(f"nightlights product {product!r} needs options `url` (the annual "
                                "radiance composite: GeoTIFF, .tif.gz or zip)")
        env = EOG_ENV if product == "viirs" else "EARTHDATA_TOKEN"
        client = HttpClient.from_options(options, auth_env=(env,))
        token = secrets.get_secret(env, project_root=options.get("project_root"),
                                   purpose=f"{product} night lights")
        wanted = {"stable_lights": options["url"], "cf_cvg": options.get("cf_cvg_url")}
        targets = {"cf_cvg": out_dir / "nightlights.tif",
                   "stable_lights": out_dir / "nightlights_stable_lights.tif"}
        for band, template in wanted.items():
            if not template:
                continue
            url = str(template).format(year=options.get("year", 2013))
            name = Path(urlsplit(url).path).name
            archive = client.download(url, cache / name, headers={"Authorization": f"Bearer {token}"},
                                      expected_sha256=_pins(options, name), label=f"{product} {band}")
            tif = unpack_raster(archive, cache / "unpacked", member=options.get("member", ""))
            notes[band] = clip_raster(tif, targets[band], bbox)
            files.append(targets[band])
            sources.append({"url": url, "band": band, "archive_sha256": sha256_file(archive)})
        if not wanted["cf_cvg"]:
            # No coverage band given: both contract files hold the radiance, and provenance says so.
            shutil.copyfile(targets["stable_lights"], targets["cf_cvg"])
            files.insert(0, targets["cf_cvg"])
            notes["nightlights.tif"] = "copy of the radiance composite (no cf_cvg_url given)"
            log.warning("%s: no cf_cvg_url; nightlights.tif holds the radiance composite", product)
    else:
        raise RetrieveError(f"nightlights option `product` must be dmsp, viirs or blackmarble, not {product!r}")
    return Retrieved(files=files, sources=sources, notes=notes)


def download_population(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                        version: str) -> Retrieved:
    """`product`: gpw (default, Earthdata login) or worldpop (open); writes pop_density.tif."""
    product = options.get("product", "gpw")
    cache, out_dir = _cache(options, out_dir), Path(out_dir)
    if product == "gpw":
        url = gpw_url(options)
        client = HttpClient.from_options(options, auth_env=EARTHDATA_ENV)
        headers = _earthdata(client, options, url)
        member = "population_density"
    elif product == "worldpop":
        url = worldpop_url(country, options)
        client, headers, member = HttpClient.from_options(options), {}, ""
    else:
        raise RetrieveError(f"population option `product` must be gpw or worldpop, not {product!r}")
    name = Path(urlsplit(url).path).name
    archive = client.download(url, cache / name, headers=headers,
                              expected_sha256=_pins(options, name), label=f"population {product}")
    tif = unpack_raster(archive, cache / "unpacked", member=options.get("member", member))
    dest = out_dir / "pop_density.tif"
    info = clip_raster(tif, dest, _bbox(country, options))
    log.info("population %s: %s pixels", product, info["pixels"])
    return Retrieved(files=[dest], sources=[{"url": url, "archive_sha256": sha256_file(archive)}],
                     notes={"product": product, "year": options.get("year", 2015), **info})


def download_worldpop(*, country: Mapping[str, Any], options: Mapping[str, Any], out_dir: Path,
                      version: str) -> Retrieved:
    """The `worldpop` dataset: WorldPop density (no login), whatever `product` the options say."""
    return download_population(country=country, options={**options, "product": "worldpop"},
                               out_dir=out_dir, version=version)
