"""Migrations move real rows: a 0001 database with a model and a logged prediction, upgraded.

The upgraded schema must equal the ORM models (the one source of truth), on PostgreSQL and
on the SQLite demo database alike, and no stored byte may be lost on the way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Index, MetaData, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import conv

from src.data.database import SCHEMA, get_engine, init_db, is_postgres, throwaway_database
from src.data.tables import Base, ModelArtifact, ModelMetadata, Prediction
from tests.conftest import ADMIN_URL

ARTIFACT = bytes(range(256)) * 40  # not valid UTF-8, not a model: bytes must survive as-is


@pytest.fixture(params=["postgresql", "sqlite"])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0001 (before model lines and the artifacts table)."""
    if request.param == "sqlite":
        engine = get_engine(f"sqlite:///{tmp_path / 'old.db'}")
        init_db(engine, revision="0001")
        yield engine
        return
    with throwaway_database(ADMIN_URL, prefix="loan_migrate", migrate=False) as url:
        engine = get_engine(url)
        init_db(engine, revision="0001")
        yield engine


def _table(engine: Engine, name: str) -> str:
    return f"{SCHEMA}.{name}" if is_postgres(engine) else name


def _insert_0001_rows(engine: Engine) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    empty = json.dumps({})
    with engine.begin() as conn:
        for version, source, active in (("v0001", "cards", True), ("v0002", "loans", False)):
            conn.execute(
                text(
                    f"INSERT INTO {_table(engine, 'model_metadata')} (model_version, created_at, "
                    "source, model_type, training_config, feature_schema, data_snapshot, "
                    "f1_score, accuracy, precision, recall, roc_auc, pr_auc, threshold, "
                    "artifact, artifact_sha256, artifact_size, is_active, status) VALUES "
                    "(:v, :now, :source, 'tab_transformer', :e, :e, :e, 0.5, 0.5, 0.5, 0.5, "
                    "0.5, 0.5, 0.5, :artifact, :sha, :size, :active, :status)"
                ),
                {
                    "v": version,
                    "now": now,
                    "source": source,
                    "e": empty,
                    "artifact": ARTIFACT,
                    "sha": hashlib.sha256(ARTIFACT).hexdigest(),
                    "size": len(ARTIFACT),
                    "active": active,
                    "status": "active" if active else "candidate",
                },
            )
        conn.execute(
            text(
                f"INSERT INTO {_table(engine, 'predictions')} (request_id, model_version, "
                "features, probability, prediction, latency_ms, created_at) VALUES "
                "('req-1', 'v0001', :f, 0.25, 0, 1.5, :now)"
            ),
            {"f": json.dumps({"a": 1}), "now": now},
        )


def test_upgrade_moves_artifacts_and_keys_predictions(old_engine: Engine) -> None:
    _insert_0001_rows(old_engine)
    assert init_db(old_engine) == "0010"
    with old_engine.connect() as conn:
        artifacts = conn.execute(select(ModelArtifact).order_by(ModelArtifact.model_version)).all()
        assert [(a.model_version, bytes(a.artifact), a.size) for a in artifacts] == [
            ("v0001", ARTIFACT, len(ARTIFACT)),
            ("v0002", ARTIFACT, len(ARTIFACT)),
        ]
        assert all(a.sha256 == hashlib.sha256(ARTIFACT).hexdigest() for a in artifacts)
        logged = conn.execute(select(Prediction.prediction_id, Prediction.request_id)).all()
        assert [tuple(r) for r in logged] == [("req-1", "req-1")]
    columns = {
        c["name"] for c in inspect(old_engine).get_columns("model_metadata", _schema(old_engine))
    }
    assert "artifact" not in columns and {"artifact_sha256", "artifact_size"} <= columns


def test_upgraded_schema_equals_the_orm_models(old_engine: Engine) -> None:
    _insert_0001_rows(old_engine)
    init_db(old_engine)
    with old_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": is_postgres(old_engine),
                "include_name": _only_ours,
                "compare_type": True,
            },
        )
        diff = compare_metadata(context, _metadata_for(old_engine))
    assert diff == []


def test_a_second_champion_per_line_is_refused_after_upgrade(old_engine: Engine) -> None:
    """The new partial unique index: one active model per source, not per database."""
    _insert_0001_rows(old_engine)
    init_db(old_engine)
    table = _table(old_engine, "model_metadata")
    with old_engine.begin() as conn:  # a second line may now have its own champion
        conn.execute(
            text(
                f"UPDATE {table} SET is_active = true, status = 'active' "
                "WHERE model_version = 'v0002'"
            )
        )
    with old_engine.connect() as conn:
        active = conn.execute(
            select(ModelMetadata.source).where(ModelMetadata.is_active).order_by("source")
        ).scalars()
        assert list(active) == ["cards", "loans"]
    with pytest.raises(IntegrityError), old_engine.begin() as conn:
        conn.execute(text(f"UPDATE {table} SET source = 'cards' WHERE model_version = 'v0002'"))


def _schema(engine: Engine) -> str | None:
    return SCHEMA if is_postgres(engine) else None


def _only_ours(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "schema":
        return name in (SCHEMA, None)  # None: SQLite's only schema
    if type_ == "table":
        return name != "alembic_version"
    return True


def _metadata_for(engine: Engine) -> MetaData:
    """The ORM metadata; on SQLite without the schema (the engine translates it away)."""
    if is_postgres(engine):
        return Base.metadata
    from sqlalchemy.schema import BLANK_SCHEMA

    plain = MetaData()
    for table in Base.metadata.sorted_tables:
        copy = table.to_metadata(plain, schema=None, referred_schema_fn=lambda *_: BLANK_SCHEMA)
        for index, original in zip(
            sorted(copy.indexes, key=_columns), sorted(table.indexes, key=_columns), strict=True
        ):  # keep the names the migrations gave them (the naming convention uses the schema)
            index.name = conv(_rendered_name(original))
    return plain


def _columns(index: Index) -> tuple[str, ...]:
    return tuple(c.name for c in index.columns)


def _rendered_name(index: Index) -> str:
    from sqlalchemy.sql.naming import _constraint_name_for_table

    name = index.name
    if name is None or not str(name).startswith(("ix_", "uq_")):
        name = _constraint_name_for_table(index, index.table)
    return str(name)


def test_monitoring_upgrade_keeps_rows_and_leaves_new_metrics_null(old_engine: Engine) -> None:
    """0003 only adds: old models keep their metrics (new ones NULL), old predictions no id."""
    _insert_0001_rows(old_engine)
    init_db(old_engine)
    with old_engine.connect() as conn:
        models = conn.execute(
            select(ModelMetadata.model_version, ModelMetadata.f1_score, ModelMetadata.ks)
        ).all()
        assert sorted(tuple(m) for m in models) == [("v0001", 0.5, None), ("v0002", 0.5, None)]
        logged = conn.execute(select(Prediction.request_id, Prediction.application_id)).all()
        assert [tuple(r) for r in logged] == [("req-1", None)]


def test_benchmark_upgrade_leaves_old_models_without_a_benchmark(old_engine: Engine) -> None:
    """0006 only adds: models registered before it have no benchmark (NULL, not {})."""
    _insert_0001_rows(old_engine)
    init_db(old_engine)
    with old_engine.connect() as conn:
        models = conn.execute(
            select(ModelMetadata.model_version, ModelMetadata.benchmark_metrics)
        ).all()
    assert sorted(tuple(m) for m in models) == [("v0001", None), ("v0002", None)]


def test_unlabelled_upgrade_counts_no_pool_for_old_models(old_engine: Engine) -> None:
    """0008 only adds: old models pretrained on no unlabelled rows (0), artifacts kept."""
    _insert_0001_rows(old_engine)
    init_db(old_engine)
    with old_engine.connect() as conn:
        models = conn.execute(
            select(ModelMetadata.model_version, ModelMetadata.pretrain_unlabelled_rows)
        ).all()
        artifacts = conn.execute(select(ModelArtifact.model_version)).all()
    assert sorted(tuple(m) for m in models) == [("v0001", 0), ("v0002", 0)]
    assert len(artifacts) == 2
    assert inspect(old_engine).has_table("unlabelled_data", _schema(old_engine))
