"""Logging for workflow scripts: everything a rule says goes to its `log:` file."""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
import warnings
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path, name: str = "qipstudy"):
    """Send logging, warnings and any exception of the block to `path` (and re-raise).

    Snakemake keeps rule logs; routing warnings there means a window that failed to estimate,
    or rows dropped by a filter, are visible after the run instead of lost on a cluster node.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield logging.getLogger(name)
    except BaseException:
        logging.getLogger(name).error("failed:\n%s", traceback.format_exc())
        raise
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
        warnings.resetwarnings()
        sys.stderr.flush()
