"""The single source of truth for the database schema (schema ``loan_data``).

Alembic migrations are generated from these models.  On SQLite, which has no
schemas, the engine maps ``loan_data`` to the main database via
``schema_translate_map`` (see ``src.data.database``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.data.table_base import (
    SCHEMA,
    Base,
    BlobType,
    IdType,
    JSONType,
    RecordedAt,
    SourceName,
    utcnow,
)

# A model's lifecycle; ck_model_status below is generated from it.  Migration 0001 spells
# out the same SQL literally (a migration must not change when this tuple does): adding a
# status needs a new migration, and tests/unit/data/test_tables.py checks the two agree.
MODEL_STATUSES = ("candidate", "active", "retired", "rejected")
MODEL_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in MODEL_STATUSES))

# ``predictions.role``: the answer served, or a challenger's shadow score of the same record.
CHAMPION, SHADOW = "champion", "shadow"
PREDICTION_ROLE_CHECK = "role IN ('champion', 'shadow')"

# Credit and calibration metrics added by migration 0003 (src.models.metrics.METRIC_NAMES):
# NULL for models registered before it, always set for newer ones.
CreditMetric = Annotated[float | None, mapped_column(Float, nullable=True)]


class DataSource(Base):
    """A registered source and its (inferred or overridden) feature schema."""

    __tablename__ = "data_sources"
    __table_args__ = {"schema": SCHEMA}

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # bundled | file | sql
    location: Mapped[str] = mapped_column(Text)  # dataset name, file path or query
    feature_schema: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RawData(Base):
    """Source rows exactly as received (minus nothing), keyed by a stable row key."""

    __tablename__ = "raw_data"
    __table_args__ = (
        UniqueConstraint("source", "row_key", name="uq_raw_data_source_row_key"),
        Index("ix_raw_data_source_id", "source", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(128), ForeignKey(f"{SCHEMA}.data_sources.name"))
    row_key: Mapped[str] = mapped_column(String(256))
    data_date: Mapped[dt.date] = mapped_column(Date, index=True)
    record: Mapped[dict[str, Any]]
    label: Mapped[str] = mapped_column(String(256))
    ingested_at: Mapped[RecordedAt]


class ProcessedData(Base):
    """Typed features (numbers as floats, categories as strings, None = missing) and 0/1 label."""

    __tablename__ = "processed_data"
    __table_args__ = (Index("ix_processed_data_source_raw", "source", "raw_id"), {"schema": SCHEMA})

    raw_id: Mapped[int] = mapped_column(
        IdType, ForeignKey(f"{SCHEMA}.raw_data.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[SourceName]
    data_date: Mapped[dt.date]
    features: Mapped[dict[str, Any]]
    label: Mapped[int]  # 0 or 1 (the positive class)
    processed_at: Mapped[RecordedAt]


class QuarantinedRow(Base):
    """A rejected source row with the reason; kept so nothing is dropped silently."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("source", "row_key", name="uq_quarantine_source_row_key"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[SourceName]
    row_key: Mapped[str] = mapped_column(String(256))
    data_date: Mapped[dt.date]
    record: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[RecordedAt]


class TrainingRun(Base):
    """Intermediate state of one training run, so each Airflow task can resume from the last."""

    __tablename__ = "training_runs"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[SourceName]
    # The last completed stage: prepared|pretrained|finetuned|evaluated|registered.  A failed
    # stage leaves it as it was (the cause goes to ``error``), so a retry resumes there.
    stage: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]]
    data_snapshot: Mapped[dict[str, Any]]
    state: Mapped[bytes | None] = mapped_column(BlobType, nullable=True)
    state_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    metrics: Mapped[dict[str, Any] | None]
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ModelMetadata(Base):
    """The model registry; one model line per source.

    The partial unique index on ``source`` allows at most one active row per model line.
    The artifact bytes live in ``model_artifacts`` so that ``SELECT *`` here stays readable.
    """

    __tablename__ = "model_metadata"
    __table_args__ = (
        Index(
            "uq_model_metadata_one_active_per_source",
            "source",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
        CheckConstraint(MODEL_STATUS_CHECK, name="ck_model_status"),
        CheckConstraint(
            "(is_active AND status = 'active') OR (NOT is_active AND status <> 'active')",
            name="ck_model_active_matches_status",
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[SourceName]
    model_type: Mapped[str] = mapped_column(String(64), default="tab_transformer")
    training_run_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    training_config: Mapped[dict[str, Any]]
    feature_schema: Mapped[dict[str, Any]]
    data_snapshot: Mapped[dict[str, Any]]
    f1_score: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    precision: Mapped[float] = mapped_column(Float)
    recall: Mapped[float] = mapped_column(Float)
    roc_auc: Mapped[float] = mapped_column(Float)
    pr_auc: Mapped[float] = mapped_column(Float)
    ks: Mapped[CreditMetric]
    gini: Mapped[CreditMetric]
    brier_score: Mapped[CreditMetric]
    log_loss: Mapped[CreditMetric]
    ece: Mapped[CreditMetric]
    threshold: Mapped[float] = mapped_column(Float)
    # The logistic-regression benchmark's test metrics (src.models.baselines), same rows and
    # metric names as the columns above; NULL for models registered before 0006.
    benchmark_metrics: Mapped[dict[str, Any] | None]
    # Rows without a label the model was pretrained on (unlabelled_data plus, with
    # PRETRAIN_ON_PREDICTIONS, logged applicants); the split is in ``data_snapshot``. 0 for
    # models registered before migration 0008 and for models trained on labelled rows only.
    pretrain_unlabelled_rows: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    artifact_record: Mapped[ModelArtifact] = relationship(
        back_populates="model", lazy="select", cascade="all, delete-orphan", uselist=False
    )

    @property
    def artifact(self) -> bytes:
        """The stored artifact bytes (loaded on first access; verify before use)."""
        return self.artifact_record.artifact

    @artifact.setter
    def artifact(self, data: bytes) -> None:
        # The registry's artifact_sha256 stays what was recorded: that is what loads verify.
        if self.artifact_record is None:
            self.artifact_record = ModelArtifact(
                artifact=data, sha256=self.artifact_sha256 or "", size=len(data)
            )
        else:
            self.artifact_record.artifact = data


class ModelArtifact(Base):
    """A model's artifact bytes, kept apart from the registry row (1:1 by version)."""

    __tablename__ = "model_artifacts"
    __table_args__ = {"schema": SCHEMA}

    model_version: Mapped[str] = mapped_column(
        String(64),
        ForeignKey(f"{SCHEMA}.model_metadata.model_version", ondelete="CASCADE"),
        primary_key=True,
    )
    artifact: Mapped[bytes] = mapped_column(BlobType)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[RecordedAt]

    model: Mapped[ModelMetadata] = relationship(back_populates="artifact_record")


class ModelPerformance(Base):
    """One measurement of a model on one population, with the retraining decision.

    ``population`` is ``collected`` (newly labelled rows collected after the model's training
    snapshot: the reference design's validation) or ``live`` (logged predictions of a window,
    joined to ``outcomes`` by ``application_id``).  ``estimated`` rows hold CBPE estimates
    from calibrated probabilities for predictions whose outcomes have not matured; the
    realised row of the same window carries the gap to the estimate in ``details``.
    """

    __tablename__ = "model_performance"
    __table_args__ = (
        Index("ix_perf_version_time", "model_version", "evaluated_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evaluated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[SourceName]
    n_samples: Mapped[int] = mapped_column(Integer, default=0)
    n_positive: Mapped[int] = mapped_column(Integer, default=0)
    first_raw_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    last_raw_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    f1_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    precision: Mapped[float | None] = mapped_column(Float, nullable=True)
    recall: Mapped[float | None] = mapped_column(Float, nullable=True)
    roc_auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    pr_auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    ks: Mapped[CreditMetric]
    gini: Mapped[CreditMetric]
    brier_score: Mapped[CreditMetric]
    log_loss: Mapped[CreditMetric]
    ece: Mapped[CreditMetric]
    mean_f1_window: Mapped[float | None] = mapped_column(Float, nullable=True)
    new_samples: Mapped[int] = mapped_column(Integer, default=0)
    retrain: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    population: Mapped[str] = mapped_column(
        String(16), default="collected", server_default=text("'collected'")
    )
    estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    window_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    f1_se: Mapped[CreditMetric]  # bootstrap standard error of the realised F1
    missing_outcomes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    monitoring_run: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # The decision's rules (value, threshold, fired), CBPE-vs-realised gaps, notes.
    details: Mapped[dict[str, Any] | None]


class Prediction(Base):
    """Every answered prediction, so later labels can measure the serving model.

    ``prediction_id`` is generated by the server, one per answered record, and is the
    idempotency key of the log; ``request_id`` is the caller's ``X-Request-ID`` (or a
    generated one) and may repeat: a reused client id must never drop a logged decision.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("prediction_id", name="uq_predictions_prediction_id"),
        # Monitoring reads one version's predictions in a time window (migration 0005); with
        # role and id included (0010) the drift rollup's fingerprint is an index-only scan.
        Index(
            "ix_predictions_version_time",
            "model_version",
            "created_at",
            postgresql_include=["role", "id"],
        ),
        CheckConstraint(PREDICTION_ROLE_CHECK, name="ck_predictions_role"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    # The lender's id of the application (optional): what ``outcomes`` joins on.
    application_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    features: Mapped[dict[str, Any]]
    probability: Mapped[float] = mapped_column(Float)
    prediction: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    # ``champion``: the answer the client got.  ``shadow``: a challenger's score of the same
    # record, never returned (docs/shadow.md); every reader of live traffic filters on
    # ``champion`` (migration 0007 gave the rows before it that role).
    role: Mapped[str] = mapped_column(
        String(16), default=CHAMPION, server_default=text(f"'{CHAMPION}'")
    )
    # For a shadow row: the ``prediction_id`` of the champion answer it mirrors (the pair the
    # shadow report compares); NULL for champion rows.
    champion_prediction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ModelEvent(Base):
    """Audit log of every registry change and attempt (promotion, rejection, retirement)."""

    __tablename__ = "model_events"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    event: Mapped[str] = mapped_column(
        String(32)
    )  # registered|promoted|rejected|retired|promotion_failed
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


# The monitoring and batch-scoring models register on the same Base: importing this module
# gives the whole schema.
from src.data.batch_tables import BATCH_RUN_STATUSES, BatchRun, BatchScore  # noqa: E402
from src.data.monitoring_tables import (  # noqa: E402
    DRIFT_STATUSES,
    DriftMetric,
    ModelProfile,
    Outcome,
    OutcomeQuarantine,
)
from src.data.rollup_tables import DriftRollupBucket, DriftRollupCount  # noqa: E402
from src.data.shadow_tables import ShadowModel  # noqa: E402
from src.data.tuning_tables import TunedConfig  # noqa: E402
from src.data.unlabelled_tables import UnlabelledRow  # noqa: E402

__all__ = [
    "BATCH_RUN_STATUSES",
    "CHAMPION",
    "DRIFT_STATUSES",
    "MODEL_STATUSES",
    "SCHEMA",
    "SHADOW",
    "Base",
    "BatchRun",
    "BatchScore",
    "DataSource",
    "DriftMetric",
    "DriftRollupBucket",
    "DriftRollupCount",
    "ModelArtifact",
    "ModelEvent",
    "ModelMetadata",
    "ModelPerformance",
    "ModelProfile",
    "Outcome",
    "OutcomeQuarantine",
    "Prediction",
    "ProcessedData",
    "QuarantinedRow",
    "RawData",
    "ShadowModel",
    "TrainingRun",
    "TunedConfig",
    "UnlabelledRow",
    "utcnow",
]
