"""Unlabelled applications for pretraining: ``unlabelled_data``, ``pretrain_unlabelled_rows``.

* ``unlabelled_data``: applications collected before their outcome is known
  (``loan-default collect --unlabelled``); a table of its own so no reader of ``raw_data``
  or ``processed_data`` can meet a row without a label (``src.data.unlabelled_tables``).
* ``model_metadata.pretrain_unlabelled_rows``: how many rows without a label a model was
  pretrained on; server default 0, which is true of every model registered before.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _schema() -> str | None:
    """Alembic renders ALTER itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def _qualified(name: str) -> str:
    schema = _schema()
    return f"{schema}.{name}" if schema else name


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "unlabelled_data",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("row_key", sa.String(length=256), nullable=False),
        sa.Column("data_date", sa.Date(), nullable=False),
        sa.Column("record", _JSON, nullable=False),
        sa.Column("features", _JSON, nullable=False),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["source"], [_qualified("data_sources.name")]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "row_key", name="uq_unlabelled_data_source_row_key"),
        schema=schema,
    )
    op.create_index(
        "ix_unlabelled_data_source_id", "unlabelled_data", ["source", "id"], schema=schema
    )
    # A plain ADD COLUMN, not batch mode: on SQLite a batch rebuild drops and recreates
    # model_metadata, and the ON DELETE CASCADE of model_artifacts would empty that table.
    op.add_column(
        "model_metadata",
        sa.Column(
            "pretrain_unlabelled_rows", sa.Integer(), nullable=False, server_default=sa.text("0")
        ),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_column("model_metadata", "pretrain_unlabelled_rows", schema=schema)
    op.drop_index("ix_unlabelled_data_source_id", table_name="unlabelled_data", schema=schema)
    op.drop_table("unlabelled_data", schema=schema)
