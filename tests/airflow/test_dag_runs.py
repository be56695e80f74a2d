"""``dag.test()`` runs of the DAGs against a throw-away PostgreSQL project database.

Each run happens in a child process (see ``conftest.py``) with a real Airflow metadata
database; assertions are on the rows the tasks wrote and on the task states Airflow recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

DAY_1 = "2024-03-01T00:00:00+00:00"
DAY_2 = "2024-03-02T00:00:00+00:00"


def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _count(url: str, table: str) -> int:
    return int(_scalar(url, f"SELECT count(*) FROM loan_data.{table}"))


def test_data_collection_inserts_once_per_logical_date(
    db_url: str, run_airflow: Any, tiny_training_env: dict[str, str]
) -> None:
    first = run_airflow("test", "data_collection", "--logical-date", DAY_1)
    assert first["state"] == "success", first
    assert first["task_states"] == {"collect": "success"}
    summary = first["xcom"]["collect"]
    raw = _count(db_url, "raw_data")
    assert raw > 0
    assert summary["inserted"] == raw <= int(tiny_training_env["INGEST_BATCH_SIZE"])
    assert _count(db_url, "processed_data") == raw
    dates = _rows(db_url, "SELECT DISTINCT data_date::text FROM loan_data.raw_data")
    assert dates == [("2024-03-01",)]  # the run's logical date, not today

    again = run_airflow("test", "data_collection", "--logical-date", DAY_1)
    assert again["state"] == "success", again
    assert again["xcom"]["collect"]["inserted"] == 0
    assert _count(db_url, "raw_data") == raw


def test_outcome_collection_records_once_and_quarantines_conflicts(
    db_url: str, run_airflow: Any, tmp_path: Path
) -> None:
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("app,status,closed\nA-1,bad,2024-05-01\nA-2,good,\nA-3,bad,May 1st\n")
    conf = {
        "source": str(outcomes),
        "id_column": "app",
        "target": "status",
        "positive": "bad",
        "outcome_date_column": "closed",
    }
    first = run_airflow("test", "outcome_collection", "--conf", json.dumps(conf))
    assert first["state"] == "success", first
    assert first["task_states"] == {"record": "success"}
    summary = first["xcom"]["record"]
    assert (summary["rows_read"], summary["inserted"], summary["positives"]) == (3, 2, 1)
    assert summary["quarantined"] == {"invalid_date": 1}
    assert summary["unknown_ids"] == 2  # no prediction was logged with these ids
    stored = _rows(
        db_url,
        "SELECT application_id, label, raw_label, outcome_date::text FROM loan_data.outcomes "
        "ORDER BY application_id",
    )
    assert stored == [("A-1", 1, "bad", "2024-05-01"), ("A-2", 0, "good", None)]

    outcomes.write_text("app,status,closed\nA-1,good,2024-06-01\nA-2,good,\nA-3,bad,May 1st\n")
    again = run_airflow("test", "outcome_collection", "--conf", json.dumps(conf))
    assert again["state"] == "success", again
    summary = again["xcom"]["record"]
    assert (summary["inserted"], summary["unchanged"], summary["updated"]) == (0, 1, 0)
    assert summary["quarantined"] == {"invalid_date": 1, "conflicts_with_stored_label": 1}
    assert summary["quarantine_added"] == 1  # the invalid date was quarantined already
    assert _count(db_url, "outcome_quarantine") == 2
    assert _rows(db_url, "SELECT label FROM loan_data.outcomes WHERE application_id = 'A-1'") == [
        (1,)
    ]


@pytest.mark.slow
def test_training_registers_a_model_and_validation_branches(
    db_url: str, run_airflow: Any, tiny_training_env: dict[str, str]
) -> None:
    # Data setup with the function the data_collection task calls (that DAG is tested above).
    from src.pipeline.collection import run_collection

    assert run_collection(batch_size=1500, data_date=DAY_1)["inserted"] == 1500

    training = run_airflow("test", "model_training", timeout=600)
    assert training["state"] == "success", training
    assert set(training["task_states"].values()) == {"success"}
    assert set(training["task_states"]) == {
        "prepare",
        "pretrain",
        "finetune",
        "evaluate",
        "register",
        "deploy",
        "report",
    }
    run_id = training["xcom"]["prepare"]
    assert isinstance(run_id, int)
    assert training["xcom"]["pretrain"] == training["xcom"]["evaluate"] == run_id
    version = training["xcom"]["register"]
    models = _rows(
        db_url,
        "SELECT model_version, status, is_active, training_run_id FROM loan_data.model_metadata",
    )
    # The first candidate is activated on registration; the gate then has nothing to do.
    assert models == [(version, "active", True, run_id)]
    assert training["xcom"]["deploy"]["model_version"] == version
    report = Path(training["xcom"]["report"])
    assert report.name == f"{version}.html" and f"Model report {version}" in report.read_text()
    stage = _scalar(db_url, "SELECT stage FROM loan_data.training_runs WHERE id = :id", id=run_id)
    assert stage == "registered"

    # Newly labelled rows after the model's snapshot, so validation can measure F1.
    assert run_collection(batch_size=1500, data_date=DAY_2)["inserted"] == 1500

    retrain = run_airflow(
        "test",
        "model_validation_deployment",
        "--logical-date",
        DAY_2,
        "--conf",
        json.dumps({"f1_threshold": 0.99}),
    )
    assert retrain["state"] == "success", retrain
    assert retrain["task_states"] == {
        "monitor": "success",
        "validate": "success",
        "check_retrain": "success",
        "trigger_model_training": "success",
        "skip_retraining": "skipped",
    }
    decision = retrain["xcom"]["validate"]
    assert decision["retrain"] is True and decision["model_version"] == version
    assert decision["n_samples"] > 0 and "F1" in decision["reason"]
    fired = {rule["name"] for rule in decision["rules"] if rule["fired"]}
    assert "f1_below_threshold" in fired, decision["rules"]
    assert retrain["xcom"]["monitor"] == decision["monitoring_run"]
    # The trigger queued a model_training run (dag.test does not run it) with our conf.
    [triggered] = retrain["triggered_runs"]
    assert triggered["dag_id"] == "model_training"
    assert triggered["run_id"] == retrain["trigger_run_ids"]["trigger_model_training"]
    assert triggered["conf"]["triggered_by"] == f"model_validation_deployment/{retrain['run_id']}"
    assert triggered["conf"]["reason"] == decision["reason"]
    perf = _rows(db_url, "SELECT retrain, model_version FROM loan_data.model_performance")
    assert perf == [(True, version)]

    keep = run_airflow(
        "test",
        "model_validation_deployment",
        "--logical-date",
        DAY_1,
        "--conf",
        # Every rule out of reach (the relative drop too: a quick model's F1 is noisy).
        json.dumps(
            {"f1_threshold": 0.0, "sample_threshold": 1_000_000, "performance_drop_ratio": 0.99}
        ),
    )
    assert keep["state"] == "success", keep
    assert keep["task_states"] == {
        "monitor": "success",
        "validate": "success",
        "check_retrain": "success",
        "trigger_model_training": "skipped",
        "skip_retraining": "success",
    }
    assert keep["xcom"]["validate"]["retrain"] is False
    assert keep["triggered_runs"] == []
    assert _count(db_url, "model_performance") == 2
    assert _count(db_url, "model_metadata") == 1  # nothing trained under dag.test


def test_domain_errors_fail_at_once_despite_retries(db_url: str, run_airflow: Any) -> None:
    """Airflow 3.3 retry_policy: NoDataError (nothing collected yet) is not retried."""
    result = run_airflow("test", "model_training", "--keep-retries")
    assert result["state"] == "failed"
    assert result["task_states"]["prepare"] == "failed"  # not up_for_retry
    assert result["try_numbers"]["prepare"] == 1
    assert {result["task_states"][t] for t in ("pretrain", "register", "deploy")} == {
        "upstream_failed"
    }
    assert "NoDataError" in result["output_tail"]
    assert _count(db_url, "training_runs") == 0
