"""Credentials for the data providers, read only from the environment or a git-ignored `.env`.

Secrets never travel through config, params or options: clients ask for them by environment
variable name at the moment they need them. Every value handed out is remembered so that log
records, error messages and provenance can be scrubbed of it (see `redact`), whatever its length
and also in the URL-encoded form it takes in a query string or a form body.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

from .errors import MissingCredentialsError

__all__ = ["MissingCredentialsError", "get_secret", "read_dotenv", "remember", "known_secrets", "redact"]

# Values handed out in this process; used to scrub text before it is logged or written.
_KNOWN: set[str] = set()

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, optional `export`, quotes, # comments).

    Written by hand so that no dependency is needed; unparseable lines are skipped rather than
    echoed, because they may contain a secret.
    """
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[key] = value
    return values


def get_secret(name: str, *, project_root: Path | None = None, required: bool = True,
               purpose: str = "") -> str | None:
    """Return the credential `name` from the environment, else from `<project_root>/.env`.

    The environment wins so that CI and clusters can inject secrets without a file. A missing
    required secret raises an error naming the variable to set (never its value).
    """
    value = os.environ.get(name)
    if not value:
        root = Path(project_root) if project_root is not None else Path.cwd()
        value = read_dotenv(root / ".env").get(name) or None
    if value:
        _KNOWN.add(value)
        return value
    if required:
        what = f" for {purpose}" if purpose else ""
        raise MissingCredentialsError(
            f"credential missing{what}: set the environment variable {name} "
            f"(or add `{name}=...` to the git-ignored .env file in the project root)")
    return None


def remember(value: str) -> None:
    """Register a runtime secret (e.g. an OAuth access token) so that it is scrubbed too."""
    if value:
        _KNOWN.add(value)


def known_secrets() -> frozenset[str]:
    """The secrets handed out so far in this process."""
    return frozenset(_KNOWN)


def _forms(secret: str) -> set[str]:
    """The secret as typed and as it appears percent-encoded in a URL or a form body."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


def redact(text: str) -> str:
    """Replace every known secret in `text` by `***`, whatever its length.

    Longer secrets go first so that a secret containing a shorter one is scrubbed whole.
    """
    if not text:
        return text
    forms = {form for secret in _KNOWN for form in _forms(secret) if form}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
