"""predictions: one index on (model_version, created_at) for the monitoring windows.

Every monitoring query selects one model version's predictions in a time window (drift,
CBPE, the matured cohort, and the count that sizes a drift sample).  The composite index
answers the count with an index-only scan and replaces the single-column index on
``model_version``, which it makes redundant (it is the leading column).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_predictions_version_time",
        "predictions",
        ["model_version", "created_at"],
        schema="loan_data",
    )
    op.drop_index(
        op.f("ix_loan_data_predictions_model_version"), table_name="predictions", schema="loan_data"
    )


def downgrade() -> None:
    op.create_index(
        op.f("ix_loan_data_predictions_model_version"),
        "predictions",
        ["model_version"],
        schema="loan_data",
    )
    op.drop_index("ix_predictions_version_time", table_name="predictions", schema="loan_data")
