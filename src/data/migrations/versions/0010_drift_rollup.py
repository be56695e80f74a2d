"""Drift rollup: per model version and hour, the bin counts of the logged answers.

``drift_rollup_buckets`` holds each hour's fingerprint (row count, sum of ``predictions.id``)
and ``drift_rollup_counts`` its counts per index and slot; the prediction logger adds to both
in the transaction that writes the predictions (``src.data.drift_rollup``).  Empty after the
upgrade: hours logged before it fail the fingerprint check and are counted from their rows,
exactly as before, so no backfill is needed.  On PostgreSQL ``ix_predictions_version_time``
is rebuilt to include ``role`` and ``id``, so the fingerprint of a window's hours is an
index-only scan of that narrow index instead of a scan of the wide JSONB rows (the rebuild
reads ``predictions`` once and blocks its writes meanwhile: on a large log, run it off-peak).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"


def _schema() -> str | None:
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    # An array of bigint per index and hour; JSON on SQLite, where nothing is rolled up.
    counts = postgresql.ARRAY(sa.BigInteger()) if schema else sa.JSON()
    op.create_table(
        "drift_rollup_buckets",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile_sha256", sa.String(length=64), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("id_sum", sa.Numeric(40, 0), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "bucket_start", "profile_sha256"),
        schema=schema,
    )
    op.create_table(
        "drift_rollup_counts",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile_sha256", sa.String(length=64), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=False),
        sa.Column("counts", counts, nullable=False),
        sa.PrimaryKeyConstraint("model_version", "bucket_start", "profile_sha256", "feature"),
        schema=schema,
    )


    if schema:  # PostgreSQL: the rollup's fingerprint scan becomes an index-only scan
        _window_index(include=["role", "id"])


def _window_index(*, include: list[str]) -> None:
    op.drop_index("ix_predictions_version_time", table_name="predictions", schema=SCHEMA)
    op.create_index(
        "ix_predictions_version_time",
        "predictions",
        ["model_version", "created_at"],
        schema=SCHEMA,
        postgresql_include=include,
    )


def downgrade() -> None:
    if _schema():
        _window_index(include=[])
    op.drop_table("drift_rollup_counts", schema=_schema())
    op.drop_table("drift_rollup_buckets", schema=_schema())
