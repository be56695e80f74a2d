"""Alembic environment: runs on the connection handed over by ``init_db`` (or a URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from src.data.database import get_engine
from src.data.tables import SCHEMA, Base

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = get_engine()
        with engine.begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=SCHEMA if is_pg else None,
        include_schemas=is_pg,
        render_as_batch=not is_pg,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
