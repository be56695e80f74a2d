"""Tuned configurations: ``tuned_configs`` (``loan-default tune``).

One row per hyperparameter search of a source: the best configuration on the validation
split, its validation ROC-AUC, how many trials ran and were pruned, the version of the search
space, and how the search was run.  Append-only; ``train`` reads the newest row of its source.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"


def _schema() -> str | None:
    """Alembic renders DDL itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "tuned_configs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("config", json_type, nullable=False),
        sa.Column("best_valid_roc_auc", sa.Float(), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("n_pruned", sa.Integer(), nullable=False),
        sa.Column("search_space_version", sa.Integer(), nullable=False),
        sa.Column("details", json_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        "ix_tuned_configs_source_created",
        "tuned_configs",
        ["source", "created_at"],
        schema=schema,
    )


def downgrade() -> None:
    op.drop_index("ix_tuned_configs_source_created", table_name="tuned_configs", schema=_schema())
    op.drop_table("tuned_configs", schema=_schema())
