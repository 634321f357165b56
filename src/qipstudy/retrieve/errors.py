"""The retrieve step's exceptions: each failure a user can meet, each message saying what to do.

`PermanentError` marks failures that rerunning the same request cannot fix (no network, refused
or missing credentials, a changed schema, a checksum mismatch, a refused redirect): a workflow can
stop at once instead of retrying the rule. Every other `RetrieveError` may be transient.
"""

from __future__ import annotations

__all__ = [
    "RetrieveError", "PermanentError", "AuthError", "MissingCredentialsError", "OfflineError",
    "SchemaError", "EmptyResultError", "ChecksumError", "OptionsError", "RedirectError",
    "ResponseTooLargeError", "CorruptFileError", "UnexpectedContentError", "DeadlineError",
]


class RetrieveError(RuntimeError):
    """A retrieve step failed; the message names the dataset or URL and says what to do."""


class PermanentError(RetrieveError):
    """Retrying cannot help until something is changed (network, credentials, config, files)."""


class AuthError(PermanentError):
    """The provider refused the credentials (HTTP 401/403, or a login page instead of data)."""


class MissingCredentialsError(PermanentError):
    """A provider needs a credential that is neither in the environment nor in `.env`."""


class OfflineError(PermanentError):
    """The provider cannot be reached at all: no network, DNS failure or connection refused."""


class SchemaError(PermanentError):
    """A payload or file lacks columns the data contract requires, or holds inconsistent rows."""


class EmptyResultError(PermanentError):
    """The provider answered successfully but with no records."""


class ChecksumError(PermanentError):
    """A file pinned by sha256 in the config has different content."""


class OptionsError(PermanentError):
    """A dataset's `options` block has an unknown key or a value of the wrong type."""


class RedirectError(PermanentError):
    """A redirect loop, too many redirects, or a redirect that would carry credentials elsewhere."""


class ResponseTooLargeError(PermanentError):
    """A body (declared or decompressed) exceeds the configured size limit."""


class CorruptFileError(RetrieveError):
    """A payload or file is truncated or unreadable (bad CSV/JSON, bad zip, bad raster)."""


class UnexpectedContentError(CorruptFileError):
    """The server answered 200 with something that is not the data (e.g. an HTML error page)."""


class DeadlineError(RetrieveError):
    """A request or download did not finish within its total deadline (e.g. a trickling server)."""
