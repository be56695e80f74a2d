"""The declarative base and the column types every table module shares.

The schema itself is declared by the ORM models in ``src.data.tables`` (data, registry and
serving log), ``src.data.monitoring_tables`` (outcomes, drift, reference profiles) and
``src.data.batch_tables`` (batch scoring runs and scores); all register on this one ``Base``,
and ``src.data.tables`` imports the other two, so importing it gives Alembic and the tests the
whole schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import BYTEA, JSONB
from sqlalchemy.orm import DeclarativeBase, mapped_column

SCHEMA = "loan_data"

JSONType = JSON().with_variant(JSONB(), "postgresql")
BlobType = LargeBinary().with_variant(BYTEA(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY, so BigInteger ids degrade to Integer there.
IdType = BigInteger().with_variant(Integer(), "sqlite")

# Columns many tables share, declared once (PEP 593: the column travels with the type).
SourceName = Annotated[str, mapped_column(String(128))]
RecordedAt = Annotated[
    dt.datetime, mapped_column(DateTime(timezone=True), server_default=text("CURRENT_TIMESTAMP"))
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType}
