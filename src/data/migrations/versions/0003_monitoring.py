"""monitoring: application ids, outcomes, drift metrics, reference profiles, credit metrics

* ``predictions.application_id`` (optional, indexed): the lender's id, joined to outcomes.
* ``outcomes`` and ``outcome_quarantine``: realised outcomes by application id.
* ``model_profiles``: each model's reference profile (decile edges and shares).
* ``drift_metrics``: PSI of the score and CSI per feature, per window and population.
* ``model_metadata`` and ``model_performance`` gain KS, Gini, Brier score, log loss and ECE;
  ``model_performance`` gains the population, the window, CBPE estimates (``estimated``),
  the F1 standard error, matured-but-missing outcomes and the decision's rules (``details``).

Only additions, so existing rows keep their values (the new metrics are NULL for them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# Spelled out here, not imported: a migration must not change when the models do.
CREDIT_METRICS = ("ks", "gini", "brier_score", "log_loss", "ece")


def _schema() -> str | None:
    """Alembic renders ALTER and DML itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def _qualified(name: str) -> str:
    schema = _schema()
    return f"{schema}.{name}" if schema else name


def _recorded_at(name: str) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.text("CURRENT_TIMESTAMP"),
        nullable=False,
    )


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "predictions",
        sa.Column("application_id", sa.String(length=64), nullable=True),
        schema=schema,
    )
    op.create_index(
        op.f("ix_loan_data_predictions_application_id"),
        "predictions",
        ["application_id"],
        schema=schema,
    )
    for table in ("model_metadata", "model_performance"):
        for name in CREDIT_METRICS:
            op.add_column(table, sa.Column(name, sa.Float(), nullable=True), schema=schema)
    _performance_columns(schema)
    _outcome_tables(schema)
    _drift_tables(schema)


def _performance_columns(schema: str | None) -> None:
    columns: list[sa.Column] = [
        sa.Column(
            "population",
            sa.String(length=16),
            server_default=sa.text("'collected'"),
            nullable=False,
        ),
        sa.Column("estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("f1_se", sa.Float(), nullable=True),
        sa.Column("missing_outcomes", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("monitoring_run", sa.String(length=36), nullable=True),
        sa.Column("details", JSON_TYPE, nullable=True),
    ]
    for column in columns:
        op.add_column("model_performance", column, schema=schema)
    op.create_index(
        op.f("ix_loan_data_model_performance_monitoring_run"),
        "model_performance",
        ["monitoring_run"],
        schema=schema,
    )


def _outcome_tables(schema: str | None) -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("raw_label", sa.String(length=256), nullable=False),
        sa.Column("outcome_date", sa.Date(), nullable=True),
        sa.Column("origin", sa.Text(), nullable=False),
        _recorded_at("recorded_at"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("label IN (0, 1)", name="ck_outcomes_label"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", name="uq_outcomes_application_id"),
        schema=schema,
    )
    op.create_table(
        "outcome_quarantine",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=True),
        sa.Column("record", JSON_TYPE, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        _recorded_at("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint", name="uq_outcome_quarantine_fingerprint"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_loan_data_outcome_quarantine_application_id"),
        "outcome_quarantine",
        ["application_id"],
        schema=schema,
    )


def _drift_tables(schema: str | None) -> None:
    op.create_table(
        "model_profiles",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("profile", JSON_TYPE, nullable=False),
        _recorded_at("created_at"),
        sa.ForeignKeyConstraint(
            ["model_version"], [_qualified("model_metadata.model_version")], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_version"),
        schema=schema,
    )
    op.create_table(
        "drift_metrics",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("monitoring_run", sa.String(length=36), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("population", sa.String(length=16), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=False),
        sa.Column("psi", sa.Float(), nullable=False),
        sa.Column("psi_null_p99", sa.Float(), nullable=False),
        sa.Column("n_reference", sa.Integer(), nullable=False),
        sa.Column("n_current", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", JSON_TYPE, nullable=True),
        sa.CheckConstraint("status IN ('stable', 'investigate', 'act')", name="ck_drift_status"),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        "ix_drift_version_time", "drift_metrics", ["model_version", "computed_at"], schema=schema
    )
    op.create_index(
        op.f("ix_loan_data_drift_metrics_monitoring_run"),
        "drift_metrics",
        ["monitoring_run"],
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    for table in ("drift_metrics", "model_profiles", "outcome_quarantine", "outcomes"):
        op.drop_table(table, schema=schema)
    op.drop_index(
        op.f("ix_loan_data_model_performance_monitoring_run"),
        table_name="model_performance",
        schema=schema,
    )
    for name in (
        "details",
        "monitoring_run",
        "missing_outcomes",
        "f1_se",
        "window_end",
        "window_start",
        "estimated",
        "population",
        *CREDIT_METRICS,
    ):
        op.drop_column("model_performance", name, schema=schema)
    for name in CREDIT_METRICS:
        op.drop_column("model_metadata", name, schema=schema)
    op.drop_index(
        op.f("ix_loan_data_predictions_application_id"), table_name="predictions", schema=schema
    )
    op.drop_column("predictions", "application_id", schema=schema)
