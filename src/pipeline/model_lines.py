"""Which model line a command acts on.

A model line is a source: it has its own feature schema, its own champion and its own
held-out rows.  Commands that take ``--source`` resolve it here, so that ``train``,
``validate``, ``deploy`` and the DAGs agree on the default and fail the same clear way.
"""

from __future__ import annotations

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import session_scope
from src.exceptions import ConfigurationError, NoDataError


def resolve_line(source: str | None = None) -> str:
    """The named source, else ``DATA_SOURCE`` if collected, else the only collected source."""
    with session_scope() as session:
        known = repo.known_sources(session)
    if source:
        if source not in known:
            raise ConfigurationError(
                f"source {source!r} has not been collected; {_known_text(known)}"
            )
        return source
    default = get_settings().data_source
    if default in known:
        return default
    if len(known) == 1:
        return known[0]
    if not known:
        raise NoDataError("no source has been collected yet; run `loan-default collect` first")
    raise ConfigurationError(
        f"DATA_SOURCE={default!r} has not been collected and several sources have: "
        f"name one with --source ({_known_text(known)})"
    )


def _known_text(known: list[str]) -> str:
    if not known:
        return "no source has been collected yet (run `loan-default collect`)"
    return "known sources: " + ", ".join(known)
