"""Offline, every download client fails at once with one clear error naming the dataset and `mode: user`.

The `.invalid` top-level domain never resolves (RFC 2606), so pointing a client's `base_url` there
is a DNS failure on any machine, online or not.
"""
from __future__ import annotations

import time

import pytest

from qipstudy.retrieve import DATASETS, retrieve_dataset
from qipstudy.retrieve.errors import OfflineError

COUNTRY = {
    "iso3": "MLI", "iso2": "ML", "name": "Mali", "mission": "MINUSMA",
    "period": {"start": "2017-01-01", "end": "2020-12-31"},
    "boundaries": {"cod_ab_layer": "mli_admbnda_adm3_1m_dnct_20190802", "admin1_field": "admin1Name",
                   "admin2_field": "admin2Name", "admin3_field": "admin3Name"},
    "sources": {"acled_country": "Mali", "ucdp_country_id": 432, "qip_mission": "MINUSMA",
                "iati_recipient_country": "ML", "hdx_cod_ab_dataset": "cod-ab-mli", "geoboundaries_iso3": "MLI"},
    "extent": [-12.3, 10.1, 4.3, 25.0],
    "synthetic": {"bbox": [-12.2, 10.2, 4.2, 24.9]},
}
# Fake credentials, so that the clients get as far as the network (missing ones fail earlier, also fast).
CREDENTIALS = {"ACLED_EMAIL": "someone@example.org", "ACLED_PASSWORD": "not-a-password",
               "EOG_ACCESS_TOKEN": "fake-eog-token", "EARTHDATA_TOKEN": "fake-earthdata-token"}


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_no_network_is_one_clear_error_in_seconds(dataset, tmp_path, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    options = {"base_url": f"https://{dataset.replace('_', '-')}.invalid", "retries": 3, "backoff": 1.0,
               "progress": False}
    if dataset == "awsd":
        options["url"] = "https://awsd.invalid/export.csv"
    if dataset == "osm":
        options["overpass_url"] = "https://overpass.invalid/api"
    started = time.monotonic()
    with pytest.raises(OfflineError) as error:
        retrieve_dataset(dataset, "download", country=COUNTRY, options=options, out_dir=tmp_path / dataset,
                         version="v")
    elapsed = time.monotonic() - started
    message = str(error.value)
    assert elapsed < 10, f"{dataset}: {elapsed:.1f} s before failing (retried?)"
    assert dataset in message and "mode: user" in message, message
