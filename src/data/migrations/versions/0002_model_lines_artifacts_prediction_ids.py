"""model lines, artifacts table, server-side prediction ids

* One active model per model line (source) instead of one per database.
* Artifact bytes move from ``model_metadata`` to ``model_artifacts`` (keyed by version), so
  the reference design's ``SELECT * FROM loan_data.model_metadata`` stays readable.
* ``predictions.prediction_id`` is a server-generated unique key; ``request_id`` (the
  client's ``X-Request-ID``) is no longer unique, so a reused id never drops a logged row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loan_data"
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BLOB_TYPE = sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql")
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _schema() -> str | None:
    """Alembic renders ALTER and DML itself, without the engine's SQLite schema translation."""
    return SCHEMA if op.get_bind().dialect.name == "postgresql" else None


def _qualified(name: str) -> str:
    schema = _schema()
    return f"{schema}.{name}" if schema else name


def upgrade() -> None:
    _move_artifacts()
    op.drop_index("uq_model_metadata_one_active", table_name="model_metadata", schema=_schema())
    op.create_index(
        "uq_model_metadata_one_active_per_source",
        "model_metadata",
        ["source"],
        unique=True,
        schema=_schema(),
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _prediction_ids_postgres()
    else:
        _prediction_ids_rebuild()


def _move_artifacts() -> None:
    op.create_table(
        "model_artifacts",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("artifact", BLOB_TYPE, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["model_version"], [_qualified("model_metadata.model_version")], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_version"),
        schema=_schema(),
    )
    metadata = sa.table(
        "model_metadata",
        sa.column("model_version"),
        sa.column("artifact"),
        sa.column("artifact_sha256"),
        sa.column("artifact_size"),
        schema=_schema(),
    )
    artifacts = sa.table(
        "model_artifacts",
        sa.column("model_version"),
        sa.column("artifact"),
        sa.column("sha256"),
        sa.column("size"),
        schema=_schema(),
    )
    op.execute(
        artifacts.insert().from_select(
            ["model_version", "artifact", "sha256", "size"],
            sa.select(
                metadata.c.model_version,
                metadata.c.artifact,
                metadata.c.artifact_sha256,
                metadata.c.artifact_size,
            ),
        )
    )
    op.drop_column("model_metadata", "artifact", schema=_schema())


def _prediction_ids_postgres() -> None:
    op.add_column(
        "predictions", sa.Column("prediction_id", sa.String(length=64), nullable=True), schema=_schema()
    )
    # Old rows: request_id was unique, so it is a valid unique key for them.
    op.execute(f"UPDATE {SCHEMA}.predictions SET prediction_id = request_id")
    op.alter_column("predictions", "prediction_id", nullable=False, schema=_schema())
    op.drop_constraint("predictions_request_id_key", "predictions", schema=_schema(), type_="unique")
    op.create_unique_constraint(
        "uq_predictions_prediction_id", "predictions", ["prediction_id"], schema=_schema()
    )
    op.create_index(
        op.f("ix_loan_data_predictions_request_id"), "predictions", ["request_id"], schema=_schema()
    )


def _prediction_ids_rebuild() -> None:
    """SQLite cannot drop the unnamed unique constraint, so the table is rebuilt."""
    op.create_table(
        "predictions_new",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("features", JSON_TYPE, nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("prediction", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id", name="uq_predictions_prediction_id"),
        schema=_schema(),
    )
    columns = [
        "id",
        "request_id",
        "model_version",
        "features",
        "probability",
        "prediction",
        "latency_ms",
        "created_at",
    ]
    old = sa.table("predictions", *(sa.column(c) for c in columns))
    new = sa.table("predictions_new", sa.column("prediction_id"), *(sa.column(c) for c in columns))
    op.execute(
        new.insert().from_select(
            ["prediction_id", *columns], sa.select(old.c.request_id, *(old.c[c] for c in columns))
        )
    )
    op.drop_index(
        op.f("ix_loan_data_predictions_model_version"), table_name="predictions", schema=_schema()
    )
    op.drop_index(
        op.f("ix_loan_data_predictions_created_at"), table_name="predictions", schema=_schema()
    )
    op.drop_table("predictions", schema=_schema())
    op.rename_table("predictions_new", "predictions", schema=_schema())
    for column in ("created_at", "model_version", "request_id"):
        op.create_index(
            op.f(f"ix_loan_data_predictions_{column}"), "predictions", [column], schema=_schema()
        )


def downgrade() -> None:
    raise NotImplementedError(
        "0002 is not reversible in place: restore from a backup taken before the upgrade"
    )
