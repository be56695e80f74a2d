"""Tables of batch scoring: one row per batch run, one row per scored source row.

Declared on the shared ``Base`` (``src.data.table_base``) and re-exported by
``src.data.tables``, which stays the one import that gives the whole schema.

A run is visible as finished only through ``batch_runs.status = 'complete'``, which is set only
once every row of the run has a committed score; ``UNIQUE (run_id, row_key)`` on
``batch_scores`` makes every chunk insert idempotent, so a resumed run never scores a row
twice.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base, IdType, RecordedAt, SourceName

# A run is "running" until every row has a committed score; then it is set "complete".
# Migration 0004 spells out the same SQL (a migration must not change when this tuple does);
# tests/unit/data/test_tables.py checks that the two agree.
BATCH_RUN_STATUSES = ("running", "complete")
BATCH_RUN_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in BATCH_RUN_STATUSES))


class BatchRun(Base):
    """One batch scoring run of a source with one model.

    ``rows_total`` and ``max_raw_id`` fix what the run scores when it starts (the source's
    processed rows up to that raw id), so rows collected while a run is interrupted are not
    pulled into it on resume.
    """

    __tablename__ = "batch_runs"
    __table_args__ = (
        sa.CheckConstraint(BATCH_RUN_STATUS_CHECK, name="ck_batch_runs_status"),
        {"schema": SCHEMA},
    )

    run_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    source: Mapped[SourceName]
    model_version: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey(f"{SCHEMA}.model_metadata.model_version")
    )
    chunk_size: Mapped[int] = mapped_column(sa.Integer)
    rows_total: Mapped[int] = mapped_column(sa.Integer)
    max_raw_id: Mapped[int] = mapped_column(IdType)
    status: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[RecordedAt]
    finished_at: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True
    )


class BatchScore(Base):
    """The calibrated probability and 0/1 decision of one source row in one run.

    ``run_id`` is deliberately not a foreign key: scores are keyed by ``(run_id, row_key)``
    alone, so the uniqueness check is the only lock a chunk insert waits on (the run row is
    always written before any of its scores).
    """

    __tablename__ = "batch_scores"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "row_key", name="uq_batch_scores_run_id_row_key"),
        sa.CheckConstraint("prediction IN (0, 1)", name="ck_batch_scores_prediction"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.String(64))
    row_key: Mapped[str] = mapped_column(sa.String(256))
    model_version: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey(f"{SCHEMA}.model_metadata.model_version")
    )
    probability: Mapped[float] = mapped_column(sa.Float)
    prediction: Mapped[int] = mapped_column(sa.Integer)
    scored_at: Mapped[RecordedAt]
