"""Tables of post-deployment monitoring: realised outcomes, drift measurements, and each
model's reference profile (what "no drift" looks like for it).

Declared on the shared ``Base`` (``src.data.table_base``) and re-exported by
``src.data.tables``, which stays the one import that gives the whole schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base, IdType, RecordedAt, utcnow

# PSI/CSI bands of the credit-risk convention: < 0.1 stable, 0.1-0.25 investigate, > 0.25 act.
DRIFT_STATUSES = ("stable", "investigate", "act")
DRIFT_STATUS_CHECK = "status IN ('stable', 'investigate', 'act')"
# drift_metrics.feature (and the profile's key) of the model's score, beside the real features.
SCORE = "__score__"


class Outcome(Base):
    """The realised outcome of one application (1 = default / the positive class).

    Keyed by the lender's ``application_id``, the id a prediction was requested with; an
    outcome whose id no prediction carries yet is kept (the prediction may be logged later).
    """

    __tablename__ = "outcomes"
    __table_args__ = (
        sa.UniqueConstraint("application_id", name="uq_outcomes_application_id"),
        sa.CheckConstraint("label IN (0, 1)", name="ck_outcomes_label"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[int] = mapped_column(sa.Integer)
    raw_label: Mapped[str] = mapped_column(sa.String(256))  # the value as the source gave it
    outcome_date: Mapped[dt.date | None]
    origin: Mapped[str] = mapped_column(sa.Text)  # the file or query it was recorded from
    recorded_at: Mapped[RecordedAt]
    updated_at: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True
    )


class OutcomeQuarantine(Base):
    """An outcome row that was not recorded, with the reason (conflicting label, no id ...).

    ``fingerprint`` (sha256 of the row and the reason) makes a re-run add nothing.
    """

    __tablename__ = "outcome_quarantine"
    __table_args__ = (
        sa.UniqueConstraint("fingerprint", name="uq_outcome_quarantine_fingerprint"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    application_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    record: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(sa.Text)
    origin: Mapped[str] = mapped_column(sa.Text)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[RecordedAt]


class ModelProfile(Base):
    """A model's reference profile, stored at registration from its own training data.

    ``profile`` holds per numerical feature the decile edges, the shares of their bins and the
    share missing; per categorical feature the category shares plus an ``unseen`` bucket; and
    the decile edges and shares of the model's score.  Drift is measured against it.
    """

    __tablename__ = "model_profiles"
    __table_args__ = {"schema": SCHEMA}

    model_version: Mapped[str] = mapped_column(
        sa.String(64),
        sa.ForeignKey(f"{SCHEMA}.model_metadata.model_version", ondelete="CASCADE"),
        primary_key=True,
    )
    n_rows: Mapped[int] = mapped_column(sa.Integer)
    profile: Mapped[dict[str, Any]]
    created_at: Mapped[RecordedAt]


class DriftMetric(Base):
    """PSI of the score (``feature = '__score__'``) or CSI of one feature, for one window.

    ``status`` is the PSI band, but only when ``psi`` also exceeds ``psi_null_p99``, the 99th
    percentile of PSI under no change at these sample sizes; both numbers are stored so an
    alarm can be replayed.  ``detail`` holds the bin shares (reference and current).
    """

    __tablename__ = "drift_metrics"
    __table_args__ = (
        sa.CheckConstraint(DRIFT_STATUS_CHECK, name="ck_drift_status"),
        sa.Index("ix_drift_version_time", "model_version", "computed_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    monitoring_run: Mapped[str] = mapped_column(sa.String(36), index=True)
    model_version: Mapped[str] = mapped_column(sa.String(64))
    computed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    window_start: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True
    )
    window_end: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True
    )
    population: Mapped[str] = mapped_column(sa.String(16))  # live | collected | unlabelled
    feature: Mapped[str] = mapped_column(sa.String(256))
    psi: Mapped[float] = mapped_column(sa.Float)
    psi_null_p99: Mapped[float] = mapped_column(sa.Float)
    n_reference: Mapped[int] = mapped_column(sa.Integer)
    n_current: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[dict[str, Any] | None]
