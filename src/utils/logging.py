"""Logging setup shared by the CLI, the API and Airflow tasks.

A filter masks credentials in any URL that reaches a log line, so a
``DATABASE_URL`` with a password never lands in logs.
"""

from __future__ import annotations

import logging
import re

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]+):(?P<pw>[^\s/]+)@")


def redact(message: str) -> str:
    """Replace the password part of every ``scheme://user:password@`` in ``message``."""
    return _URL_PASSWORD.sub(r"\g<scheme>:***@", message)


class RedactingFilter(logging.Filter):
    """Applies :func:`redact` to the fully formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str | int = "INFO") -> None:
    """Idempotent root logging configuration with credential redaction on every handler."""
    root = logging.getLogger()
    if not any(getattr(h, "_loan_default", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        handler._loan_default = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(level)
