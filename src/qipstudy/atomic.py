"""Atomic file writes: a crash leaves either the old file or the complete new one, never half.

The one way the study package writes files (the engine, which must not depend on this package,
has its own in matchedwake.result).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary name is unique, hidden and keeps the suffix (so format drivers such as GPKG or
    GTiff recognise it); it is not created in advance, so writers create it with the usual
    permissions. Same directory, so the final os.replace is atomic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


_TMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp(\.[^.]+)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(roots) -> list[Path]:
    """Delete the temporary files of writers that died (e.g. SIGKILL while a figure was written).

    Only names made by `atomic_path` (`.<stem>.<pid>.<8 hex>.tmp<suffix>`) whose process is gone are
    removed; a concurrent run's files in progress are kept. Returns what was removed.
    """
    removed = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for path in root.rglob(".*.tmp*"):
            match = _TMP_NAME.match(path.name)
            if match and path.is_file() and not _pid_alive(int(match.group(1))):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_with(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary path, then move the file into place; returns `path`."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_parquet(df, path: str | Path) -> None:
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_json(obj, path: str | Path) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_text(text: str, path: str | Path) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
