"""Logging setup shared by the CLI, the API and Airflow tasks.

A filter masks credentials in any URL that reaches a log line, so a
``DATABASE_URL`` with a password never lands in logs.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

# ``scheme://user:password@host``: greedy up to the LAST ``@`` before the host, so a password
# that itself holds an unencoded ``@`` is masked whole, not just up to its first ``@``.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]+):(?P<pw>[^\s/]+)@")
# ``?password=...`` / ``&password=...`` in a URL query and ``password=...`` in a libpq
# keyword string (psycopg accepts both forms, so both reach our logs and messages).
_KEYWORD_PASSWORD = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])(?:password|passwd|pwd|sslpassword)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&;'\"]+)",
    re.IGNORECASE,
)


def redact(message: str) -> str:
    """Mask every password form a database URL or DSN can carry in ``message``."""
    masked = _URL_PASSWORD.sub(r"\g<scheme>:***@", message)
    return _KEYWORD_PASSWORD.sub(r"\g<key>***", masked)


class RedactingFilter(logging.Filter):
    """Applies :func:`redact` to the fully formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _ProjectHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs; its type lets a second call find it."""


def configure_logging(level: str | int = "INFO") -> None:
    """Idempotent root logging configuration with credential redaction on every handler."""
    root = logging.getLogger()
    if not any(isinstance(h, _ProjectHandler) for h in root.handlers):
        ours = _ProjectHandler()
        ours.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        root.addHandler(ours)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(level)
    # Alembic narrates every plugin and DDL mode at INFO; ``init_db`` logs the revision
    # reached instead.  DEBUG brings the detail back.
    quiet = logging.DEBUG if root.getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    for name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(quiet)
