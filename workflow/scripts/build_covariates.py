"""Rule build_covariates: distances (geodesic metres), night lights and population per event."""
import pandas as pd

from qipstudy.covariates import build_covariates, write_covariates
from qipstudy.prepare import read_admin3
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    fields = params.admin_fields
    settings = params.covariates
    table = build_covariates(
        pd.read_parquet(snakemake.input.events),
        roads=snakemake.input.roads,
        waterways=snakemake.input.waterways,
        admin3=read_admin3(
            snakemake.input.admin3, fields["admin1_field"], fields["admin3_field"], admin2_field=fields["admin2_field"]
        ),
        bases=params.bases,
        nightlights_path=snakemake.input.nightlights,
        population_path=snakemake.input.population,
        projected_crs=params.projected_crs,
        road_classes=settings["road_classes"],
        water_classes=settings["water_classes"],
        base_mode=settings["base_mode"],
        max_share_missing_raster=params.checks["max_share_missing_raster"],
        near_constant_share=params.checks["near_constant_share"],
    )
    table.attrs["spec"] = {
        **table.attrs.get("spec", {}),
        "covariates": dict(settings),
        "population": params.population,
        "nightlights_file": snakemake.input.nightlights,
        "population_file": snakemake.input.population,
    }
    write_covariates(table, snakemake.output.covariates)
    log.info("covariates: %s", table.attrs.get("covariate_counts"))
