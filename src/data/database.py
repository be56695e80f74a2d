"""Engine and session handling: the engine is created once per process and URL.

``postgresql://user:pass@host/db`` (the reference design's form) works as written
(psycopg2).  SQLite has no schemas, so ``loan_data`` is translated away there.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from config.settings import get_settings
from src.data.tables import SCHEMA

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def redact_url(url: str) -> str:
    """The URL with its password masked, for logs and error messages.

    Not ``make_url(...).render_as_string(hide_password=True)``: that misses a password in the
    query string and, for an unencoded ``@`` in the password, prints the part after it.
    """
    from src.utils.logging import redact

    return redact(url)


def get_engine(url: str | None = None) -> Engine:
    """One engine (and pool) per URL for the whole process; default: the current DATABASE_URL."""
    return _engine_for(url or get_settings().database_url)


def forget_engine(url: str) -> None:
    """Close and forget the cached engine of ``url`` (before its database is dropped)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    """Close and forget every cached engine (tests and tools that switch DATABASE_URL)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(url: str) -> Engine:
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _create(url)
        return _ENGINES[url]


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            execution_options={"schema_translate_map": {SCHEMA: None}},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # A bounded connect timeout: an unreachable host must not hang a poller or a task.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": 5},
        )
    logger.debug("created engine for %s", redact_url(url))
    return engine


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite's implicit transactions are broken).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own implicit transactions are disabled above; SQLAlchemy's BEGIN replaces them.
    conn.exec_driver_sql("BEGIN")


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


@lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = _session_factory(engine or get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_db(engine: Engine | None = None, *, revision: str = "head") -> str:
    """Create the schema and bring it to ``revision`` (the newest); returns the revision."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    engine = engine or get_engine()
    if is_postgres(engine):
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.connect() as conn:
        current = MigrationContext.configure(
            conn, opts={"version_table_schema": _version_schema(engine)}
        ).get_current_revision()
    logger.info("database at %s is at revision %s", redact_url(str(engine.url)), current)
    return current or ""


@contextmanager
def throwaway_database(admin_url: str, *, prefix: str, migrate: bool = True) -> Iterator[str]:
    """A new (migrated, unless ``migrate=False``) PostgreSQL database; dropped on exit.

    For tests, benchmarks and smoke runs that must never share rows with anything else.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            if migrate:
                init_db(get_engine(url))
            yield url
        finally:
            forget_engine(url)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _version_schema(engine: Engine) -> str | None:
    return SCHEMA if is_postgres(engine) else None
