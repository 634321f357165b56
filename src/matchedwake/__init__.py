"""matchedwake: Matched Wake Analysis (Schutte & Donnay 2014), a Python port of R `mwa` 0.5.0."""
from .api import matched_wake
from .result import MatchedWakeResult
from .spec import MWASpec, SpecError
from .wakes import sliding_wake

__all__ = ["MWASpec", "MatchedWakeResult", "SpecError", "matched_wake", "sliding_wake"]
