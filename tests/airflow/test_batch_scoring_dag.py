"""``dag.test()`` runs of ``batch_scoring``: planned ranges mapped to ``score`` task instances,
every row scored once with the served probabilities, a re-run of the run id adding nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from src.data import repository as repo
from src.data.batch_tables import BatchRun, BatchScore
from src.data.database import get_engine, session_scope
from src.data.frames import load_frame
from src.data.ingest import collect
from src.pipeline.serving import predictor_for
from src.pipeline.training import train

pytestmark = pytest.mark.slow

SOURCE = "lending_club"
ROWS = 300
CHUNK = 100  # three ranges, three mapped task instances


def _scores(run_id: str) -> dict[str, float]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(BatchScore.row_key, BatchScore.probability).where(BatchScore.run_id == run_id)
        ).all()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "a row was scored twice in one run"
    return {r[0]: float(r[1]) for r in rows}


def test_batch_scoring_scores_every_row_once_in_mapped_ranges(
    db_url: str, fast_training_env: None, run_airflow: Any
) -> None:
    get_engine(db_url)
    collect(source=SOURCE, batch_size=ROWS, data_date=dt.date(2026, 1, 1))
    version = train(progress=False).model_version

    conf = {"source": SOURCE, "chunk_size": CHUNK}
    first = run_airflow("test", "batch_scoring", "--conf", json.dumps(conf))
    assert first["state"] == "success", first
    assert first["task_states"] == {"plan": "success", "summarise": "success"}
    assert first["mapped_task_states"] == {"score": ["success"] * 3}
    ranges = first["xcom"]["plan"]
    run_id = ranges[0]["run_id"]
    assert run_id == f"airflow-{first['run_id']}"  # derived from the DAG run id
    assert [r["scored"] for r in first["mapped_xcom"]["score"]] == [CHUNK] * 3
    summary = first["xcom"]["summarise"]
    assert (summary["status"], summary["rows_scored"], summary["model_version"]) == (
        "complete",
        ROWS,
        version,
    )
    assert (summary["ranges"], summary["scored_by_this_dag_run"]) == (3, ROWS)

    frame = load_frame(source=SOURCE)
    stored = _scores(run_id)
    assert sorted(stored) == sorted(frame.row_keys)
    with session_scope() as session:
        model = repo.get_model(session, version=version)
    expected = predictor_for(model).predict_proba(frame.features)
    got = np.array([stored[k] for k in frame.row_keys])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert summary["probability"]["mean"] == pytest.approx(float(got.mean()), abs=1e-9)
    with get_engine().connect() as conn:
        run = conn.execute(select(BatchRun).where(BatchRun.run_id == run_id)).one()
    assert run.status == "complete" and run.finished_at is not None

    # Another DAG run with the run id: the same three ranges, nothing added.
    again = run_airflow("test", "batch_scoring", "--conf", json.dumps(conf | {"run_id": run_id}))
    assert again["state"] == "success", again
    assert again["xcom"]["plan"] == ranges
    assert [r["scored"] for r in again["mapped_xcom"]["score"]] == [0, 0, 0]
    assert again["xcom"]["summarise"]["scored_by_this_dag_run"] == 0
    assert _scores(run_id) == stored
    with get_engine().connect() as conn:
        assert (
            conn.execute(select(BatchRun.finished_at).where(BatchRun.run_id == run_id)).scalar()
            == run.finished_at
        )  # completed once


def test_batch_scoring_refuses_an_unknown_model_before_mapping(
    db_url: str, fast_training_env: None, run_airflow: Any
) -> None:
    get_engine(db_url)
    collect(source=SOURCE, batch_size=50, data_date=dt.date(2026, 1, 1))
    conf = {"source": SOURCE, "model_version": "v0999", "chunk_size": CHUNK}
    result = run_airflow("test", "batch_scoring", "--conf", json.dumps(conf), "--keep-retries")
    assert result["state"] == "failed"
    assert result["task_states"]["plan"] == "failed" and result["try_numbers"]["plan"] == 1
    assert result["task_states"]["score"] == "upstream_failed"  # never expanded
    assert result["task_states"]["summarise"] == "upstream_failed"
    assert "no model with version 'v0999'" in result["output_tail"]
    with get_engine().connect() as conn:
        assert conn.execute(select(BatchRun)).first() is None
