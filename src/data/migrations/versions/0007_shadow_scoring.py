"""Shadow scoring: ``predictions.role`` and ``champion_prediction_id``, ``shadow_models``.

* ``predictions.role`` is ``champion`` (the answer served) or ``shadow`` (a challenger's
  score of the same record, never returned).  Server default ``champion``: every row logged
  before this migration was an answer, and writers that do not know the column (the
  reference design's, an old replica during a rolling upgrade) keep logging answers.
* ``predictions.champion_prediction_id``: for a shadow row, the answer it mirrors.
* ``shadow_models``: the shadow version named per model line (``loan-default shadow``).

On PostgreSQL 11+ adding a column with a constant default rewrites nothing, so the upgrade
is quick on a large ``predictions`` table (the check constraint scans it once).  No new index
on ``role``: every reader also filters by ``model_version`` and a time window
(``ix_predictions_version_time``), and a shadow version's rows are a different version's.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"


def _schema() -> str | None:
    """Alembic renders ALTER itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def _qualified(name: str) -> str:
    schema = _schema()
    return f"{schema}.{name}" if schema else name


def upgrade() -> None:
    schema = _schema()
    with op.batch_alter_table("predictions", schema=schema) as batch:
        batch.add_column(
            sa.Column(
                "role", sa.String(length=16), nullable=False, server_default=sa.text("'champion'")
            )
        )
        batch.add_column(sa.Column("champion_prediction_id", sa.String(length=64), nullable=True))
        batch.create_check_constraint("ck_predictions_role", "role IN ('champion', 'shadow')")
    op.create_table(
        "shadow_models",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("named_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version"], [_qualified("model_metadata.model_version")], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("source"),
        schema=schema,
    )


def downgrade() -> None:
    op.drop_table("shadow_models", schema=_schema())
    with op.batch_alter_table("predictions", schema=_schema()) as batch:
        batch.drop_constraint("ck_predictions_role", type_="check")
        batch.drop_column("champion_prediction_id")
        batch.drop_column("role")
