"""Night-light and population rasters from local servers of the real shape; login pages; broken GeoTIFFs.

Shapes, and where they come from:
* EOG DMSP-OLS v4: `{root}/{SAT}_{YEAR}/{SAT}{YEAR}.v4c.global.{cf_cvg|stable_lights.avg_vis}.tif` below
  `https://eogdata.mines.edu/wwwdata/dmsp/v4composites_rearrange` (file names as in EOG's DMSP product
  page https://eogdata.mines.edu/products/dmsp/ and scripts downloading them, e.g. ".../F18_2011/
  F182011.v4c.global.stable_lights.avg_vis.tif.gz"); a request without a valid token is redirected
  (302) to EOG's Keycloak login page on eogauth.mines.edu; scripted access posts `client_id=eogdata_oidc`,
  the published `client_secret`, `username`, `password`, `grant_type=password` to
  `/auth/realms/master/protocol/openid-connect/token` and sends `Authorization: Bearer <access_token>`
  (EOG, "Programmed access", https://eogdata.mines.edu/products/register/).
* GPW v4.11 at NASA Earthdata: `.../sedac-root/downloads/data/gpw-v4/gpw-v4-population-density-rev11/
  gpw-v4-population-density-rev11_{year}_{resolution}_tif.zip` with `Authorization: Bearer <token>`;
  unauthenticated requests go to the Earthdata Login (URS) page. The zip holds
  `gpw_v4_population_density_rev11_{year}_{resolution}.tif` and documentation files.
All rasters below are small synthetic GeoTIFFs.
"""

from __future__ import annotations

import io
import json
import socket
import zipfile

import numpy as np
import pytest
import rasterio
from local_http import LocalServer, redirect
from rasterio.transform import from_origin

from qipstudy.retrieve import rasters, retrieve_dataset
from qipstudy.retrieve.http import AuthError, CorruptFileError
from qipstudy.retrieve.secrets import MissingCredentialsError

COUNTRY = {"iso3": "MLI", "sources": {}, "extent": [-12.24, 10.14, 4.24, 25.0]}
FAST = {"retries": 2, "backoff": 0.001, "progress": False, "timeout": 5}
DMSP_ROOT = "/wwwdata/dmsp/v4composites_rearrange"
KEYCLOAK = "/auth/realms/master/protocol/openid-connect"
LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Sign in to Earth Observation Group</title></head><body>"
              "<form id=\"kc-form-login\" action=\"/auth/realms/master/login-actions/authenticate\" method=\"post\">"
              "<input id=\"username\" name=\"username\"><input id=\"password\" name=\"password\" type=\"password\">"
              "</form></body></html>")


def tif_bytes(value, dtype="uint8", nodata=None, tiled=False, shape=(40, 60)):
    rng = np.random.default_rng(0)
    data = np.full(shape, value, dtype=dtype) if value is not None else rng.integers(0, 63, shape).astype(dtype)
    extra = {"tiled": True, "blockxsize": 128, "blockysize": 128, "compress": "deflate"} if tiled else {}
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", height=shape[0], width=shape[1], count=1, dtype=dtype, crs="EPSG:4326",
                      transform=from_origin(-10.0, 20.0, 0.25, 0.25), nodata=nodata, **extra) as dst:
            dst.write(data, 1)
        return mem.read()


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for var in ("EOG_ACCESS_TOKEN", "EOG_USERNAME", "EOG_PASSWORD", *rasters.EARTHDATA_ENV):
        monkeypatch.delenv(var, raising=False)
    return str(tmp_path)  # a project root without .env


class Eog:
    """EOG's data tree (127.0.0.1) and its Keycloak (127.0.0.2): token-gated files, login redirects."""

    def __init__(self, files):
        self.files, self.tokens = files, {"token-FAKE-eog-1"}

    def data_routes(self, idp_url):
        def serve(name):
            def route(req):
                if req["headers"].get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                    return redirect(f"{idp_url}{KEYCLOAK}/auth?client_id=eogdata_oidc&response_type=code")
                return {"status": 200, "body": self.files[name], "headers": {"Content-Type": "image/tiff"}}
            return route
        return {f"{DMSP_ROOT}/F18_2013/{name}": serve(name) for name in self.files}

    def idp_routes(self):
        def token(req):
            form = req["form"]
            ok = (form.get("client_id") == "eogdata_oidc"
                  and form.get("client_secret") == rasters.EOG_CLIENT["client_secret"]
                  and form.get("grant_type") == "password" and form.get("password") == "eog-pw-FAKE")
            if not ok:
                refusal = {"error": "invalid_grant", "error_description": "Invalid user credentials"}
                return {"status": 401, "body": json.dumps(refusal), "headers": {"Content-Type": "application/json"}}
            grant = {"access_token": "token-FAKE-eog-1", "expires_in": 86400, "token_type": "Bearer"}
            return {"status": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(grant)}

        def login(req):
            return {"status": 200, "body": LOGIN_PAGE, "headers": {"Content-Type": "text/html"}}

        return {f"{KEYCLOAK}/token": token, f"{KEYCLOAK}/auth": login}


DMSP_FILES = {"F182013.v4c.global.cf_cvg.tif": tif_bytes(70),
              "F182013.v4c.global.stable_lights.avg_vis.tif": tif_bytes(12)}


def run_dmsp(data, idp, tmp_path, root, **extra):
    opts = {**FAST, "base_url": data.url + DMSP_ROOT, "token_url": idp.url + KEYCLOAK + "/token",
            "bbox": [-9.0, 15.0, -6.0, 18.0], "project_root": root, "cache_dir": str(tmp_path / "cache"), **extra}
    return rasters.download_nightlights(country=COUNTRY, options=opts, out_dir=tmp_path / "nl", version="v")


def test_dmsp_url_layout():
    urls = rasters.dmsp_urls({})
    assert urls["cf_cvg"] == ("https://eogdata.mines.edu/wwwdata/dmsp/v4composites_rearrange/F18_2013/"
                              "F182013.v4c.global.cf_cvg.tif")
    assert urls["stable_lights"].endswith("/F18_2013/F182013.v4c.global.stable_lights.avg_vis.tif")
    older = rasters.dmsp_urls({"satellite": "F16", "year": 2008})["cf_cvg"]
    assert older.endswith("/F16_2008/F162008.v4b.global.cf_cvg.tif")
    assert rasters.NIGHTLIGHT_BAND_FILES == {"cf_cvg": "nightlights_cf_cvg.tif",
                                         "stable_lights": "nightlights_stable_lights.tif"}


def test_dmsp_with_an_eog_token_downloads_both_bands_and_clips(tmp_path, monkeypatch, no_credentials):
    monkeypatch.setenv("EOG_ACCESS_TOKEN", "token-FAKE-eog-1")
    eog = Eog(DMSP_FILES)
    with LocalServer(eog.idp_routes(), host="127.0.0.2") as idp, LocalServer(eog.data_routes(idp.url)) as data:
        got = run_dmsp(data, idp, tmp_path, no_credentials)
    assert [f.name for f in got.files] == ["nightlights_cf_cvg.tif", "nightlights_stable_lights.tif"]
    with rasterio.open(tmp_path / "nl" / "nightlights_cf_cvg.tif") as src:
        assert (src.width, src.height) == (12, 12) and src.crs.to_epsg() == 4326 and src.read(1).min() == 70
    with rasterio.open(tmp_path / "nl" / "nightlights_stable_lights.tif") as src:
        assert src.read(1).max() == 12
    assert got.notes["cf_cvg"]["pixels"] == 144
    assert all(r["headers"]["Authorization"] == "Bearer token-FAKE-eog-1" for r in data.log)


def test_dmsp_with_eog_username_and_password_gets_a_token(tmp_path, monkeypatch, no_credentials):
    monkeypatch.setenv("EOG_USERNAME", "someone-FAKE@example.org")
    monkeypatch.setenv("EOG_PASSWORD", "eog-pw-FAKE")
    eog = Eog(DMSP_FILES)
    with LocalServer(eog.idp_routes(), host="127.0.0.2") as idp, LocalServer(eog.data_routes(idp.url)) as data:
        run_dmsp(data, idp, tmp_path, no_credentials)
    assert [r["path"] for r in idp.log] == [KEYCLOAK + "/token"]
    assert len(data.log) == 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"eog-pw-FAKE" not in path.read_bytes() and b"token-FAKE-eog-1" not in path.read_bytes()


def test_dmsp_anonymous_request_meets_the_login_page_and_saves_nothing(tmp_path, no_credentials):
    eog = Eog(DMSP_FILES)
    with LocalServer(eog.idp_routes(), host="127.0.0.2") as idp, LocalServer(eog.data_routes(idp.url)) as data:
        with pytest.raises(AuthError, match=r"nightlights: .*cf_cvg\.tif: the server answered with a login page "
                                            r"\(redirected to http://127\.0\.0\.2:\d+/auth/realms/.*\).*"
                                            r"EOG_ACCESS_TOKEN, EOG_USERNAME, EOG_PASSWORD"):
            run_dmsp(data, idp, tmp_path, no_credentials)
    assert len(data.log) == 1  # not retried
    assert not (tmp_path / "nl").exists() or list((tmp_path / "nl").iterdir()) == []
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_dmsp_wrong_eog_password_is_an_auth_error(tmp_path, monkeypatch, no_credentials):
    monkeypatch.setenv("EOG_USERNAME", "someone-FAKE@example.org")
    monkeypatch.setenv("EOG_PASSWORD", "wrong-FAKE")
    eog = Eog(DMSP_FILES)
    with LocalServer(eog.idp_routes(), host="127.0.0.2") as idp, LocalServer(eog.data_routes(idp.url)) as data:
        with pytest.raises(AuthError, match=r"EOG rejected the login .*HTTP 401.*EOG_USERNAME and EOG_PASSWORD"):
            run_dmsp(data, idp, tmp_path, no_credentials)
    assert data.log == []


def test_dmsp_from_eog_without_credentials_fails_before_any_request(tmp_path, monkeypatch, no_credentials):
    def no_network(*args, **kwargs):
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(MissingCredentialsError, match=r"set EOG_ACCESS_TOKEN, or EOG_USERNAME and EOG_PASSWORD"):
        rasters.download_nightlights(country=COUNTRY, options={**FAST, "project_root": no_credentials},
                                     out_dir=tmp_path / "nl", version="v")


def gpw_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("gpw_v4_population_density_rev11_2015_30_sec.tif",
                    tif_bytes(3.5, "float32", nodata=-3.4028230607370965e38))
        zf.writestr("gpw-v4-population-density-rev11_2015_30_sec_tif_readme.txt", "doc")
    return buf.getvalue()


GPW_PATH = "/gpw-v4-population-density-rev11/gpw-v4-population-density-rev11_2015_30_sec_tif.zip"


def test_gpw_default_url_is_at_earthdata():
    assert rasters.gpw_url({}) == ("https://data.earthdata.nasa.gov/nasa-earth/human-dimensions/sedac-root/"
                                   "downloads/data/gpw-v4/gpw-v4-population-density-rev11/"
                                   "gpw-v4-population-density-rev11_2015_30_sec_tif.zip")
    assert rasters.worldpop_url(COUNTRY, {}).endswith("/2015/MLI/mli_pd_2015_1km_UNadj.tif")


def test_gpw_needs_earthdata_and_sends_the_bearer_token(tmp_path, monkeypatch, no_credentials):
    opts = {**FAST, "project_root": no_credentials, "clip": False}
    with pytest.raises(MissingCredentialsError, match="EARTHDATA_TOKEN, or EARTHDATA_USERNAME"):
        retrieve_dataset("population", "download", country=COUNTRY, options=opts, out_dir=tmp_path / "p0", version="v")
    monkeypatch.setenv("EARTHDATA_TOKEN", "edl-token-FAKE-5521")
    payload = gpw_zip()

    def gated(req):
        if req["headers"].get("Authorization") != "Bearer edl-token-FAKE-5521":
            return {"status": 401, "body": "HTTP Basic: Access denied."}
        return {"status": 200, "body": payload, "headers": {"Content-Type": "application/zip"}}

    with LocalServer({"/gpw-v4" + GPW_PATH: gated}) as srv:
        opts["base_url"] = srv.url + "/gpw-v4"
        retrieve_dataset("population", "download", country=COUNTRY, options=opts, out_dir=tmp_path / "pop", version="v")
        monkeypatch.setenv("EARTHDATA_TOKEN", "wrong-token-FAKE")
        with pytest.raises(AuthError, match="population: HTTP 401 .*EARTHDATA_TOKEN"):
            retrieve_dataset("population", "download", country=COUNTRY,
                             options={**opts, "cache_dir": str(tmp_path / "other-cache")},
                             out_dir=tmp_path / "pop2", version="v")
    with rasterio.open(tmp_path / "pop" / "pop_density.tif") as src:
        assert src.dtypes[0] == "float32" and float(src.read(1)[0, 0]) == 3.5
    for path in (tmp_path / "pop").rglob("*"):
        if path.is_file():
            assert b"edl-token-FAKE-5521" not in path.read_bytes()


def test_gpw_earthdata_login_page_is_an_auth_error(tmp_path, monkeypatch, no_credentials):
    urs_page = ("<!DOCTYPE html><html><head><title>Earthdata Login</title></head><body><form action='/login' "
                "method='post'><input name='username'><input type='password' name='password'></form></body></html>")
    with LocalServer({"/oauth/authorize": lambda req: {"status": 200, "body": urs_page,
                                                       "headers": {"Content-Type": "text/html"}}},
                     host="127.0.0.2") as urs:
        with LocalServer({"/gpw-v4" + GPW_PATH: lambda req: redirect(urs.url + "/oauth/authorize?client_id=x")}) as srv:
            with pytest.raises(AuthError, match=r"population: .*login page.*EARTHDATA_TOKEN, EARTHDATA_USERNAME, "
                                                r"EARTHDATA_PASSWORD"):
                retrieve_dataset("population", "download", country=COUNTRY,
                                 options={**FAST, "project_root": no_credentials, "base_url": srv.url + "/gpw-v4",
                                          "cache_dir": str(tmp_path / "cache")},
                                 out_dir=tmp_path / "pop", version="v")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_truncated_geotiff_is_a_corrupt_file_error_naming_it(tmp_path):
    whole = tif_bytes(None, tiled=True, shape=(512, 512))
    cut = tmp_path / "F182013.v4c.global.cf_cvg.tif"
    cut.write_bytes(whole[: int(len(whole) * 0.6)])
    with rasterio.open(cut) as src:  # the header survives the cut: only the last blocks are missing
        assert src.width == 512
    with pytest.raises(CorruptFileError, match=r"F182013\.v4c\.global\.cf_cvg\.tif: unreadable raster .*truncated"):
        rasters.validate_raster(cut)
    with pytest.raises(CorruptFileError, match=r"cf_cvg\.tif: unreadable raster"):
        rasters.clip_raster(cut, tmp_path / "out.tif", [-9.0, 15.0, -6.0, 18.0])
    assert not (tmp_path / "out.tif").exists()


def test_truncated_geotiff_from_the_server_is_not_cached(tmp_path, monkeypatch, no_credentials):
    """The server sends a whole-looking file (Content-Length matches) that is a cut GeoTIFF."""
    monkeypatch.setenv("EOG_ACCESS_TOKEN", "token-FAKE-eog-1")
    whole = tif_bytes(None, tiled=True, shape=(512, 512))
    files = {**DMSP_FILES, "F182013.v4c.global.cf_cvg.tif": whole[: int(len(whole) * 0.6)]}
    eog = Eog(files)
    with LocalServer(eog.idp_routes(), host="127.0.0.2") as idp, LocalServer(eog.data_routes(idp.url)) as data:
        with pytest.raises(CorruptFileError, match=r"F182013\.v4c\.global\.cf_cvg\.tif\.part: unreadable raster"):
            run_dmsp(data, idp, tmp_path, no_credentials)
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_unreadable_raster_is_reported(tmp_path):
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(CorruptFileError, match="unreadable raster"):
        rasters.validate_raster(bad)
