"""SourceOptions: what a caller says about a source, as one typed value.

The CLI (``collect`` command) or the DAG task builds it once; ``collect`` passes it on to
the registry (``resolve_registered``), the schema check (``reconcile``) and the reader
(``resolve_source``) unchanged, so no layer re-lists or re-spells the options.  ``None``
means "not given": the stored schema or the bundled dataset's defaults apply, and a given
value must agree with what the first collect stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any


def _strings(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    """A source and its overrides; sequences are stored as tuples so the value is hashable."""

    source: str | None = None  # bundled name, file path, "sql" or a registered name
    name: str | None = None  # the name rows are stored under (default: derived from source)
    target: str | None = None
    positive: str | None = None  # the label of the positive ("default") class
    id_column: str | None = None
    categorical: tuple[str, ...] | None = None
    numerical: tuple[str, ...] | None = None
    na_values: tuple[str, ...] | None = None  # CSV cells read as missing besides empty ones
    sql_url: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        # Normalised here once: the CLI hands lists, and a label may arrive as a number.
        positive = None if self.positive is None else str(self.positive).strip()
        object.__setattr__(self, "positive", positive)
        for attr in ("categorical", "numerical", "na_values"):
            object.__setattr__(self, attr, _strings(getattr(self, attr)))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SourceOptions:
        """The options among ``values`` (e.g. ``vars()`` of parsed CLI arguments); the rest
        is ignored, so a command's other flags need no filtering by the caller."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})
