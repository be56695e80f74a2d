"""batch scoring: batch_runs and batch_scores

* ``batch_runs``: one row per ``loan-default score`` run (source, model, chunk size, the rows
  it covers, ``running`` until the transaction of its last chunk sets ``complete``).
* ``batch_scores``: one calibrated probability and 0/1 decision per source row and run;
  ``UNIQUE (run_id, row_key)`` makes a chunk written twice a no-op.

Only new tables: existing rows are untouched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _schema() -> str | None:
    """Alembic renders DDL itself, without the engine's SQLite schema translation."""
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
    op.create_table(
        "batch_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("max_raw_id", ID_TYPE, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _recorded_at("started_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'complete')", name="ck_batch_runs_status"),
        sa.ForeignKeyConstraint(["model_version"], [_qualified("model_metadata.model_version")]),
        sa.PrimaryKeyConstraint("run_id"),
        schema=schema,
    )
    op.create_table(
        "batch_scores",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("row_key", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("prediction", sa.Integer(), nullable=False),
        _recorded_at("scored_at"),
        sa.CheckConstraint("prediction IN (0, 1)", name="ck_batch_scores_prediction"),
        sa.ForeignKeyConstraint(["model_version"], [_qualified("model_metadata.model_version")]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "row_key", name="uq_batch_scores_run_id_row_key"),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    for table in ("batch_scores", "batch_runs"):
        op.drop_table(table, schema=schema)
