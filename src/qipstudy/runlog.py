"""Logging for workflow scripts: everything a rule says goes to its `log:` file."""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
import warnings
from pathlib import Path


def _clear_error_types() -> tuple[type, ...]:
    """Errors whose message is the whole story (bad input, a provider refusing, no network)."""
    from qipstudy.retrieve.http import RetrieveError
    from qipstudy.retrieve.secrets import MissingCredentialsError

    return (ValueError, RetrieveError, MissingCredentialsError)


@contextlib.contextmanager
def log_to(path: str | Path, name: str = "qipstudy"):
    """Send logging, warnings and any exception of the block to `path`.

    Snakemake keeps rule logs; routing warnings there means a window that failed to estimate,
    or rows dropped by a filter, are visible after the run instead of lost on a cluster node.
    A clear error (bad input, a provider's refusal, no network: see `_clear_error_types`) is
    printed as one line on stderr and ends the job with exit status 1; its traceback stays in the
    log. Any other exception is re-raised with its traceback.
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
    clear: BaseException | None = None
    try:
        yield logging.getLogger(name)
    except BaseException as exc:
        logging.getLogger(name).error("failed:\n%s", traceback.format_exc())
        if not isinstance(exc, _clear_error_types()):
            raise
        clear = exc
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
        warnings.resetwarnings()
        sys.stderr.flush()
    if clear is not None:
        sys.stderr.write(f"ERROR: {' '.join(str(clear).split()) if len(str(clear)) < 2000 else str(clear)}\n"
                         f"(details: {path})\n")
        raise SystemExit(1)
