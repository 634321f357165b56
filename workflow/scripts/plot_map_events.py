"""Rule plot_map_events: paper Figure 4 (projects, QIPs, violence and the mission bases on the map)."""
from pathlib import Path

import geopandas as gpd
import pandas as pd

from qipstudy.render import map_events, sources_of
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]):
    country = snakemake.params.country
    roads = gpd.read_file(snakemake.input.roads)
    roads = roads[roads["highway"].isin(snakemake.params.road_classes)]
    towns = country.get("synthetic", {}).get("towns", [])
    capital = next((t["name"] for t in towns if t.get("capital")), towns[0]["name"] if towns else None)
    stem = Path(snakemake.output.figure[0]).with_suffix("")
    map_events(
        pd.read_parquet(snakemake.input.covariates),
        gpd.read_file(snakemake.input.admin3),
        roads,
        towns,
        country["study_regions"],
        capital,
        stem=stem,
        admin1_field=country["boundaries"]["admin1_field"],
        title=f"{country['name']}: aid projects, QIPs and violence against civilians",
        bases=country["bases"],
        mission=country["mission"],
        sources=sources_of(stem.name, snakemake.params.dataset_modes, outcome_source=snakemake.params.outcome_source),
    )
