"""Database, training and request helpers shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import dispose_engines, get_engine, session_scope, throwaway_database
from src.data.tables import Prediction, ProcessedData
from tests.conftest import ADMIN_URL

# The ``fast_training_env`` values (usable at module scope), plus one torch thread: on a small
# shared machine two intra-op threads make training several times slower, not faster.
FAST_TRAINING_ENV = {
    "NUM_LAYERS": "2",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "3",
    "PATIENCE": "2",
    "BATCH_SIZE": "256",
    "TORCH_NUM_THREADS": "1",
}
SOURCE = "lending_club"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A migrated database of its own on the shared server (dropped afterwards).

    For module-scoped servers: the per-test ``db_url`` fixture truncates the session database
    before every test, which would pull the rows from under a server shared by many tests.
    """
    with throwaway_database(ADMIN_URL, prefix="loan_e2e") as url:
        yield url


@contextmanager
def pipeline_env(database_url: str) -> Iterator[None]:
    """DATABASE_URL and quick training settings for in-process pipeline calls.

    ``get_engine()`` called without a URL caches its engine under the key ``None``, i.e. for
    whichever DATABASE_URL was current on the first call in this process; the cache is
    cleared on entry and exit so the pipeline really writes to ``database_url``.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", database_url)
        for key, value in FAST_TRAINING_ENV.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        dispose_engines()
        try:
            yield
        finally:
            get_settings.cache_clear()
            dispose_engines()


def collect_rows(batch_size: int = 3000, *, source: str = SOURCE) -> None:
    from src.data.ingest import collect

    collect(source=source, batch_size=batch_size)


def train_model(*, source: str = SOURCE) -> str:
    """Train and register with the core pipeline (DATABASE_URL must be set); the version."""
    from src.pipeline.training import train

    return train(source=source, progress=False).model_version


def champion_and_candidate(database_url: str, *, source: str = SOURCE) -> tuple[str, str]:
    """Collect the bundled rows and train two models: the first is active, the second waits.

    The starting point of every switch test and benchmark (hot swap, shadow promotion).
    """
    with pipeline_env(database_url):
        collect_rows(source=source)
        return train_model(source=source), train_model(source=source)


def active_predictor(database_url: str, *, source: str = SOURCE) -> Any:
    """The registry's active model loaded in this process, exactly as the server loads it."""
    from src.pipeline.serving import predictor_for

    with session_scope(get_engine(database_url)) as session:
        row = repo.get_active_model(session, source=source)
        assert row is not None, "no active model"
        return predictor_for(row)


def real_requests(
    database_url: str, schema: Any, count: int, *, source: str = SOURCE
) -> list[dict[str, Any]]:
    """Stored rows of ``source`` (lending_club by default) in the reference request shape."""
    with session_scope(get_engine(database_url)) as session:
        rows = session.scalars(
            select(ProcessedData.features)
            .where(ProcessedData.source == source)
            .order_by(ProcessedData.raw_id)
            .limit(count)
        ).all()
    return [
        {
            "categorical_features": {c: features.get(c) for c in schema.categorical},
            "numerical_features": {n: features.get(n) for n in schema.numerical},
        }
        for features in rows
    ]


def in_process_probabilities(predictor: Any, requests: list[dict[str, Any]]) -> list[float]:
    from src.data.frames import records_to_frame
    from src.pipeline.request_records import request_to_record

    records = [request_to_record(r, schema=predictor.schema) for r in requests]
    return [float(p) for p in predictor.predict_proba(records_to_frame(records, predictor.schema))]


def logged_request_ids(database_url: str, request_ids: list[str]) -> set[str]:
    with session_scope(get_engine(database_url)) as session:
        return set(
            session.scalars(
                select(Prediction.request_id).where(Prediction.request_id.in_(request_ids))
            )
        )


def logged_prediction_ids(database_url: str, application_id: str) -> list[str]:
    """prediction_id of every logged answer that carries ``application_id``."""
    with session_scope(get_engine(database_url)) as session:
        return list(
            session.scalars(
                select(Prediction.prediction_id).where(Prediction.application_id == application_id)
            )
        )


def metric_value(metrics_text: str, sample: str) -> float:
    """The value of one sample line, e.g. ``'model_reloads_total{result="success"}'``."""
    for line in metrics_text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
