"""Applications collected before their outcome is known: ``loan_data.unlabelled_data``.

A separate table rather than a nullable ``raw_data.label``: every reader of ``raw_data`` and
``processed_data`` (fine-tuning, thresholding, calibration, evaluation, validation, the
retraining sample count) assumes a label, and keeping unlabelled rows out of those tables
makes "never used with a label" a property of the schema instead of a filter each query
must remember.  Only contrastive pretraining (``src.pipeline.pretrain_pool``) and drift
monitoring (population ``unlabelled``, ``src.pipeline.drift``) read them.

``features`` holds the typed features exactly as ``processed_data.features`` does (the same
``records_to_frame`` conversion), so pretraining and monitoring read both tables alike;
``record`` keeps the values as received.  A row whose label arrives later is collected into
``raw_data`` as usual; pretraining then skips its unlabelled copy.  Declared on the shared
``Base`` and re-exported by ``src.data.tables``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base, IdType, RecordedAt


class UnlabelledRow(Base):
    __tablename__ = "unlabelled_data"
    __table_args__ = (
        sa.UniqueConstraint("source", "row_key", name="uq_unlabelled_data_source_row_key"),
        sa.Index("ix_unlabelled_data_source_id", "source", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(
        sa.String(128), sa.ForeignKey(f"{SCHEMA}.data_sources.name")
    )
    row_key: Mapped[str] = mapped_column(sa.String(256))
    data_date: Mapped[dt.date] = mapped_column(sa.Date)
    record: Mapped[dict[str, Any]]
    features: Mapped[dict[str, Any]]
    ingested_at: Mapped[RecordedAt]
