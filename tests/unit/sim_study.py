"""A covariates table in the study's shape (qipstudy.covariates output), from the calibration
generator: QIPs, aid projects and ACLED-like events with the columns the study's MWA reads."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qipstudy.calibration import simulate_study_world

SETTINGS = {
    "t_window": [10, 30, 10], "spat_window": [3, 9, 3], "t_unit": "days",
    "treatment": ["event_type", "qip"], "control": ["event_type", "iati"],
    "match_columns": ["nl", "road_dist"], "estimation": "lm",
    "formula": "dependent_post ~ dependent_pre + treatment", "weighted": True, "tcm": True,
    "delete_sutva": False, "alpha1": 0.05, "alpha2": 0.05,
}
ACTIVITY_TYPES = ("Infrastructure & equipment", "Training/workshops", "Sport & cultural events")


def study_covariates(seed: int = 1, **world) -> pd.DataFrame:
    df = simulate_study_world(seed=seed, **world)
    df = df[df["type"] != "sentinel"].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    kind = df["type"].to_numpy()
    source = np.select([kind == "treatment", kind == "control"], ["qip", "iati"], "acled")
    n_qip = int((source == "qip").sum())
    out = pd.DataFrame({
        "event_id": [f"{s}{i}" for i, s in enumerate(source)],
        "source": source,
        "event_type": np.where(source == "acled", "Violence against civilians", source),
        "date": pd.to_datetime(df["timestamp"]),
        "timestamp": df["timestamp"].astype(str),
        "lat": df["lat"], "lon": df["lon"], "admin1": df["region"],
        "outcome_civilians": (source == "acled").astype("int8"),
        "activity_type": "", "category": "",
        "nl": df["base_dist"], "road_dist": df["terrain"], "admin2": df["cell"].astype(str),
    })
    out.loc[out["source"] == "qip", "activity_type"] = rng.choice(ACTIVITY_TYPES, n_qip, p=[0.5, 0.4, 0.1])
    out.loc[out["source"] == "qip", "category"] = rng.choice(["Early recovery", "Rule of Law"], n_qip)
    # wakes need events before the first and after the last project: two far-away ACLED events
    ends = pd.DataFrame({"event_id": ["first", "last"], "source": "acled", "event_type": "Battles",
                         "date": pd.to_datetime(["2010-01-01", "2025-01-01"]),
                         "timestamp": ["2010-01-01", "2025-01-01"], "lat": [5.0, 5.0],
                         "lon": [5.0, 5.0], "admin1": "NE", "outcome_civilians": 0,
                         "activity_type": "", "category": "", "nl": 0.0, "road_dist": 0.0,
                         "admin2": "0"})
    out = pd.concat([ends.iloc[:1], out, ends.iloc[1:]], ignore_index=True)
    out["outcome_civilians"] = out["outcome_civilians"].astype("int8")
    out.attrs["truth"] = df.attrs["truth"]
    return out
