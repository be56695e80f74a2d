"""Batch scoring (`loan-default score`) against the real PostgreSQL: every stored row scored
exactly once, by the verified model, resumable after a SIGKILL, refusing mistakes before
writing anything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from config.settings import get_settings
from src.cli import main
from src.data import repository as repo
from src.data.batch_tables import BatchRun, BatchScore
from src.data.database import get_engine, session_scope
from src.data.frames import load_frame
from src.data.tables import DataSource
from src.exceptions import ConfigurationError, ModelNotFoundError, NoDataError
from src.pipeline.batch_scoring import score_source
from src.pipeline.request_records import request_to_record
from src.pipeline.serving import predictor_for, score_records
from src.pipeline.training import train
from tests.integration.pipeline.conftest import ingest
from tests.integration.pipeline.test_cli import FAST

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE = "lending_club"
ROWS = 600  # stored rows of every test here (a few hundred: small enough for 2 shared cores)


@pytest.fixture
def trained(fast_db: str) -> str:
    """A clean database with ROWS lending_club rows and an active fast model; its version."""
    ingest(ROWS)
    return train(progress=False).model_version


def scores(engine: Engine, run_id: str) -> dict[str, tuple[float, int, str]]:
    """``{row_key: (probability, prediction, model_version)}`` of a run (asserting no repeats)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                BatchScore.row_key,
                BatchScore.probability,
                BatchScore.prediction,
                BatchScore.model_version,
            ).where(BatchScore.run_id == run_id)
        ).all()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "a row was scored twice in one run"
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def run_row(engine: Engine, run_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(BatchRun).where(BatchRun.run_id == run_id)).one_or_none()


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            int(conn.scalar(select(func.count()).select_from(BatchRun)) or 0),
            int(conn.scalar(select(func.count()).select_from(BatchScore)) or 0),
        )


def test_every_row_scored_once_with_the_served_probabilities(trained: str) -> None:
    engine = get_engine()
    summary = score_source(source=None, model_version=None, run_id="nightly", chunk_size=128)
    assert (summary.run_id, summary.source, summary.model_version) == ("nightly", SOURCE, trained)
    assert (summary.rows_total, summary.rows_scored, summary.rows_skipped) == (ROWS, ROWS, 0)
    assert summary.chunks == 5 and summary.status == "complete" and summary.rows_per_second > 0

    frame = load_frame(source=SOURCE)
    stored = scores(engine, "nightly")
    assert sorted(stored) == sorted(frame.row_keys)
    with session_scope() as session:
        model = repo.get_model(session, version=trained)
    predictor = predictor_for(model)
    expected = predictor.predict_proba(frame.features)
    got = np.array([stored[k][0] for k in frame.row_keys])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    decisions = np.array([stored[k][1] for k in frame.row_keys])
    assert (decisions == (expected >= model.threshold)).all()
    assert {v[2] for v in stored.values()} == {trained}

    # A handful through the path /predict takes: request -> validated record -> score_records.
    features = frame.features.iloc[:8].astype(object).where(frame.features.iloc[:8].notna(), None)
    requests = [
        {
            "categorical_features": {c: row[c] for c in predictor.schema.categorical},
            "numerical_features": {c: row[c] for c in predictor.schema.numerical},
        }
        for row in features.to_dict("records")
    ]
    usable = [
        (key, req)
        for key, req in zip(frame.row_keys[:8], requests, strict=True)
        if all(
            v is not None or name in predictor.schema.nullable
            for section in req.values()
            for name, v in section.items()
        )
    ]
    assert usable, "no row of the first eight can be sent to /predict"
    records = [request_to_record(req, schema=predictor.schema) for _, req in usable]
    served = score_records(predictor, records).items
    for (key, _), item in zip(usable, served, strict=True):
        assert abs(item["probability"] - stored[key][0]) <= 1e-6
        assert item["prediction"] == stored[key][1]

    again = score_source(source=SOURCE, model_version=None, run_id="nightly", chunk_size=50)
    assert (again.rows_scored, again.rows_skipped, again.chunks) == (0, ROWS, 0)
    assert again.status == "complete"
    assert counts(engine) == (1, ROWS)
    finished = run_row(engine, "nightly")
    assert finished.status == "complete" and finished.finished_at is not None


def test_a_run_killed_mid_way_resumes_to_exactly_one_score_per_row(
    trained: str, db_url: str
) -> None:
    """SIGKILL after some chunks committed: the run stays 'running'; resuming completes it.

    The kill lands at a known place: this test holds an uncommitted score for the first row
    of chunk 13, so the CLI's insert of that chunk waits on it (the unique key) and cannot
    commit; chunks 1-12 are committed by then.
    """
    engine = get_engine()
    keys = load_frame(source=SOURCE).row_keys
    chunk, blocked_at = 25, 300
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(
        insert(BatchScore),
        {
            "run_id": "killed",
            "row_key": keys[blocked_at],
            "model_version": trained,
            "probability": 0.0,
            "prediction": 0,
        },
    )
    env = os.environ | FAST | {"DATABASE_URL": db_url}
    args = ["score", "--run-id", "killed", "--chunk-size", str(chunk), "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "src.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while len(scores(engine, "killed")) < blocked_at:
            assert proc.poll() is None, f"the scoring process ended early: {proc.stderr}"
            assert time.monotonic() < deadline, "the first chunks were never committed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        blocker.rollback()
        blocker.close()
    assert proc.returncode == -signal.SIGKILL

    killed = run_row(engine, "killed")
    assert (killed.status, killed.finished_at, killed.rows_total) == ("running", None, ROWS)
    assert len(scores(engine, "killed")) == blocked_at  # whole chunks only, none half-written

    resumed = score_source(source=None, model_version=None, run_id="killed", chunk_size=chunk)
    assert (resumed.rows_scored, resumed.rows_skipped) == (ROWS - blocked_at, blocked_at)
    assert resumed.status == "complete"
    stored = scores(engine, "killed")
    assert sorted(stored) == sorted(keys) and counts(engine) == (1, ROWS)
    done = run_row(engine, "killed")
    assert done.status == "complete" and done.finished_at is not None


def test_mistakes_are_refused_with_their_reason_before_anything_is_written(
    trained: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_engine()
    with session_scope() as session:  # a registered source none of whose rows are stored
        schema = session.get(DataSource, SOURCE).feature_schema
        session.add(DataSource(name="empty_book", kind="file", location="-", feature_schema=schema))

    def refused(error: type[Exception], match: str, **kwargs: Any) -> None:
        options: dict[str, Any] = {"source": None, "model_version": None, "run_id": None}
        with pytest.raises(error, match=match):
            score_source(**(options | kwargs), chunk_size=100)

    refused(ModelNotFoundError, "no model with version 'v0999'", model_version="v0999")
    refused(
        ConfigurationError,
        f"model {trained} belongs to model line 'lending_club', not to source 'empty_book'",
        source="empty_book",
        model_version=trained,
    )
    refused(NoDataError, "source 'empty_book' has no stored rows", source="empty_book")
    refused(ConfigurationError, "source 'nowhere' has not been collected", source="nowhere")
    monkeypatch.setenv("DEVICE", "cuda:99")  # refused on every machine: no CUDA, or no cuda:99
    get_settings.cache_clear()
    refused(ConfigurationError, "DEVICE=cuda:99 was asked for")
    monkeypatch.delenv("DEVICE")
    get_settings.cache_clear()
    assert counts(engine) == (0, 0)

    score_source(source=None, model_version=None, run_id="book-1", chunk_size=1000)
    refused(
        ConfigurationError,
        "batch run 'book-1' scores source 'lending_club', not 'empty_book'",
        source="empty_book",
        run_id="book-1",
    )
    refused(
        ConfigurationError,
        f"batch run 'book-1' scores model '{trained}', not 'v0999'",
        model_version="v0999",
        run_id="book-1",
    )
    assert counts(engine) == (1, ROWS)


def test_no_collected_source_is_no_data(fast_db: str) -> None:
    with pytest.raises(NoDataError, match="no source has been collected yet"):
        score_source(source=None, model_version=None, run_id=None, chunk_size=10)
    assert counts(get_engine()) == (0, 0)


def test_cli_scores_prints_json_and_writes_parquet(
    trained: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "scores" / "book.parquet"
    argv = ["score", "--run-id", "cli-run", "--chunk-size", "200", "--json"]
    assert main([*argv, "--output", str(output)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_id"] == "cli-run" and summary["status"] == "complete"
    assert (summary["rows_scored"], summary["rows_skipped"], summary["chunks"]) == (ROWS, 0, 3)
    assert summary["rows_per_second"] > 0 and summary["output"] == str(output)
    written = pd.read_parquet(output)
    assert len(written) == ROWS and written["row_key"].is_unique
    assert set(written["model_version"]) == {trained}
    stored = scores(get_engine(), "cli-run")
    assert dict(zip(written["row_key"], written["probability"], strict=True)) == {
        k: v[0] for k, v in stored.items()
    }

    assert main(["score", "--run-id", "cli-run", "--no-progress"]) == 0  # the rich table
    out = capsys.readouterr().out
    assert "cli-run" in out and "0 rows scored" in out and f"{ROWS} already done" in out

    assert main(["score", "--model", "v0999"]) == 2
    assert "no model with version 'v0999'" in capsys.readouterr().err
    assert main(["score", "--output", str(tmp_path / "x.csv")]) == 2
    assert "--output must name a .parquet file" in capsys.readouterr().err
