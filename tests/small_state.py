"""A small made-up state (about 150 x 100 km, two study regions) shared by the unit and workflow
tests: the size of Lebanon, which the fixed 120 villages with 40 km population halos saturated
(issue 14). Fictional codes and names; no provider key is set, so it runs on its synthetic world."""

SMALL_STATE = {
    "iso3": "XSS", "iso2": "XS", "name": "Small Test State", "mission": "UNTEST", "projected_crs": "EPSG:32634",
    "period": {"start": "2017-01-01", "end": "2020-12-31"},
    "extent": [19.8, 9.9, 21.3, 10.95],
    "boundaries": {"admin1_field": "ADM1_EN", "admin2_field": "ADM2_EN", "admin3_field": "ADM3_EN"},
    "study_regions": ["North", "South"], "sources": {},
    "bases": [{"name": "Alpha", "admin3": "Alpha", "lat": 10.45, "lon": 20.45, "source": "test"}],
    "synthetic": {
        "bbox": [19.8, 9.9, 21.3, 10.95],
        "outline": [[19.85, 9.95], [20.6, 9.92], [21.22, 10.0], [21.2, 10.5], [21.25, 10.86], [20.5, 10.9],
                    [19.9, 10.85], [19.95, 10.4]],
        "regions": [{"name": "North", "lat": 10.65, "lon": 20.5}, {"name": "South", "lat": 10.15, "lon": 20.6}],
        "towns": [{"name": "Alpha", "lat": 10.45, "lon": 20.45, "capital": True},
                  {"name": "Beta", "lat": 10.1, "lon": 20.9}, {"name": "Gamma", "lat": 10.7, "lon": 20.1}],
    },
}
