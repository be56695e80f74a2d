"""model_metadata.benchmark_metrics: the logistic-regression benchmark of every model

SR 11-7 asks for a benchmark beside every production model.  The evaluate stage fits
``src.models.baselines`` on the model's own training rows and scores it on the model's test
rows; its metrics (same names as the metric columns, plus its threshold and ``C``) are stored
here as one JSON object.

Only an addition: models registered before keep their rows, with ``benchmark_metrics`` NULL
(the deploy gate's benchmark rule does not block them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _schema() -> str | None:
    """Alembic renders ALTER itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    op.add_column(
        "model_metadata",
        sa.Column("benchmark_metrics", JSON_TYPE, nullable=True),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("model_metadata", "benchmark_metrics", schema=_schema())
