"""Offline, the real reproduction's configuration fails within seconds with one clear line.

Runs `snakemake --configfile config/config.yaml config/sauter2022.yaml` as a user would, with the
two inputs that are user files even in the download route (the 2019 COD-AB and the AWSD export)
in place, on a machine without internet (skipped when the providers' hosts resolve: then the run
would really download).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import geopandas as gpd
import pytest
from shapely.geometry import box

pytestmark = pytest.mark.slow

PROVIDER_HOSTS = ("acleddata.com", "api.psdata.un.org", "d-portal.org", "ucdp.uu.se")


def _online() -> bool:
    for host in PROVIDER_HOSTS:
        try:
            socket.getaddrinfo(host, 443)
            return True
        except OSError:
            continue
    return False


def _user_files(workdir):
    """The two user files of config/sauter2022.yaml, in their distributed formats (tiny, made here)."""
    user = workdir / "resources" / "user" / "sauter2022"
    user.mkdir(parents=True)
    # the 2019 COD-AB: admin-3 polygons with the 2019 edition's field names, as a shapefile zip
    # (admin-3, admin-1, lon, lat): the paper's base communes and a commune of every study region
    communes = [("Mopti", "Mopti", -4.18, 14.48), ("Tombouctou", "Tombouctou", -3.01, 16.77),
                ("Gao", "Gao", -0.04, 16.27), ("Ménaka", "Gao", 2.40, 15.92), ("Kidal", "Kidal", 1.41, 18.44),
                ("Commune VI", "Bamako", -7.94, 12.58), ("Ségou", "Ségou", -6.22, 13.43)]
    gdf = gpd.GeoDataFrame(
        {"admin3Name": [c[0] for c in communes], "admin3Pcod": [f"ML{i:04d}" for i in range(len(communes))],
         "admin2Name": [c[0] for c in communes], "admin2Pcod": [f"ML{i:03d}" for i in range(len(communes))],
         "admin1Name": [c[1] for c in communes], "admin1Pcod": [f"ML{i:02d}" for i in range(len(communes))],
         "admin0Name": ["Mali"] * len(communes), "admin0Pcod": ["ML"] * len(communes),
         "validOn": ["2019-08-02"] * len(communes)},
        geometry=[box(x - 0.2, y - 0.2, x + 0.2, y + 0.2) for _, _, x, y in communes], crs=4326)
    shp = workdir / "shp"
    shp.mkdir()
    gdf.to_file(shp / "mli_admbnda_adm3_1m_dnct_20190802.shp")
    import shutil

    shutil.make_archive(str(user / "mli_adm_1m_dnct_2019_shp"), "zip", shp)
    # the AWSD export with its HXL hashtag row (second line)
    (user / "security_incidents.csv").write_text(
        "Incident ID,Year,Month,Day,Country Code,Country,Total killed,Total wounded,Total kidnapped,Total affected\n"
        "#event+id,#date+year,#date+month,#date+day,#country+code,#country+name,#affected+killed,"
        "#affected+wounded,#affected+kidnapped,#affected+total\n"
        "1,2019,3,5,ML,Mali,1,0,0,1\n", encoding="utf-8")


@pytest.mark.skipif(_online(), reason="the providers' hosts resolve: the real configuration would download")
def test_the_real_configuration_fails_fast_offline(workflow_copy):
    workdir, _ = workflow_copy("offline", {})
    _user_files(workdir)
    env = {**os.environ, "ACLED_EMAIL": "someone@example.org", "ACLED_PASSWORD": "not-a-password",
           "EOG_ACCESS_TOKEN": "fake-token", "EARTHDATA_TOKEN": "fake-token"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--directory", str(workdir), "--snakefile",
                           str(workdir / "Snakefile"), "--cores", "2", "--configfile", "config/config.yaml",
                           "config/sauter2022.yaml"], cwd=workdir, capture_output=True, text=True, env=env,
                          timeout=300)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert elapsed < 30, f"{elapsed:.0f} s before failing:\n{output[-3000:]}"
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert errors, output[-3000:]
    assert any("cannot reach" in line and "mode: user" in line for line in errors), errors
    assert "Traceback" not in proc.stderr.split("Error in rule")[0]
