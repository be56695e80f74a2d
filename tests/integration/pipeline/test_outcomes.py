"""record_outcomes and `loan-default outcomes` against real PostgreSQL (and the demo's SQLite)."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from src.data.database import get_engine, init_db
from src.data.tables import Outcome, OutcomeQuarantine, Prediction
from src.exceptions import ConfigurationError, DataSourceError
from src.pipeline.outcomes import record_outcomes
from tests.integration.pipeline.test_cli import cli
from tests.integration.pipeline.test_cli_errors import one_line_error

pytestmark = [pytest.mark.integration]

OPTIONS = {"id_column": "app", "target": "status", "positive": "bad"}


def write(path: Path, rows: list[str], header: str = "app,status,closed") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def stored(engine: Engine) -> dict[str, tuple[int, str, dt.date | None, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Outcome.application_id,
                Outcome.label,
                Outcome.raw_label,
                Outcome.outcome_date,
                Outcome.updated_at,
            )
        )
        return {r[0]: (r[1], r[2], r[3], r[4] is not None) for r in rows}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def log_prediction(engine: Engine, application_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Prediction),
            {
                "prediction_id": f"pid-{application_id}",
                "request_id": "r",
                "application_id": application_id,
                "model_version": "v0001",
                "features": {},
                "probability": 0.3,
                "prediction": 0,
                "latency_ms": 1.0,
                "created_at": dt.datetime.now(dt.UTC),
            },
        )


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "postgresql":
        return get_engine(request.getfixturevalue("db_url"))
    engine = get_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    init_db(engine)
    return engine


def test_records_once_reports_unknown_ids_and_rerun_adds_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    log_prediction(engine, "007")
    source = write(
        tmp_path / "o.csv",
        ["007,bad,2024-01-02", "A2,good,", "A2,good,", "A3,bad,soon", ",bad,", "A4,,"],
    )
    run = dict(source=str(source), outcome_date_column="closed", engine=engine, **OPTIONS)
    first = record_outcomes(**run)  # type: ignore[arg-type]
    assert (first.rows_read, first.inserted, first.unchanged, first.repeated) == (6, 2, 0, 1)
    assert (first.positives, first.negatives) == (1, 1)
    assert first.quarantined == {"invalid_date": 1, "missing_id": 1, "missing_label": 1}
    assert first.quarantine_added == 3
    # "007" stays text (not the number 7), so it joins to the logged prediction.
    assert (first.unknown_ids, first.unknown_id_examples) == (1, ("A2",))
    assert stored(engine) == {
        "007": (1, "bad", dt.date(2024, 1, 2), False),
        "A2": (0, "good", None, False),
    }
    again = record_outcomes(**run)  # type: ignore[arg-type]
    assert (again.inserted, again.unchanged, again.quarantine_added) == (0, 2, 0)
    assert count(engine, Outcome) == 2 and count(engine, OutcomeQuarantine) == 3


def test_conflicting_label_is_quarantined_unless_allow_update(
    engine: Engine, tmp_path: Path
) -> None:
    record_outcomes(source=str(write(tmp_path / "a.csv", ["A1,bad,"])), engine=engine, **OPTIONS)
    changed = str(write(tmp_path / "b.csv", ["A1,good,2024-03-01", "A2,bad,"]))
    kept = record_outcomes(source=changed, engine=engine, **OPTIONS)
    assert (kept.inserted, kept.updated, kept.quarantined) == (
        1,
        0,
        {"conflicts_with_stored_label": 1},
    )
    with engine.connect() as conn:
        [(reason, record)] = conn.execute(
            select(OutcomeQuarantine.reason, OutcomeQuarantine.record)
        )
    assert "label 0 (raw 'good') differs from the stored label 1 (raw 'bad'" in reason
    assert str(tmp_path / "a.csv") in reason and "--allow-update" in reason
    assert record["app"] == "A1"
    assert stored(engine)["A1"] == (1, "bad", None, False)  # the stored label is kept
    assert record_outcomes(source=changed, engine=engine, **OPTIONS).quarantine_added == 0

    updated = record_outcomes(
        source=changed, engine=engine, allow_update=True, outcome_date_column="closed", **OPTIONS
    )
    assert (updated.updated, updated.unchanged, updated.quarantined) == (1, 1, {})
    assert stored(engine)["A1"] == (0, "good", dt.date(2024, 3, 1), True)
    assert count(engine, OutcomeQuarantine) == 1  # the earlier conflict stays as history


def test_an_id_with_two_labels_in_one_input_stores_none_of_them(
    engine: Engine, tmp_path: Path
) -> None:
    source = write(tmp_path / "o.csv", ["A1,bad,", "A2,good,", "A1,good,"])
    summary = record_outcomes(source=str(source), engine=engine, **OPTIONS)
    assert summary.inserted == 1 and summary.quarantined == {"conflicting_labels_in_input": 2}
    assert set(stored(engine)) == {"A2"}
    with engine.connect() as conn:
        reasons = list(conn.scalars(select(OutcomeQuarantine.reason)))
    assert len(reasons) == 2 and all("different labels" in r for r in reasons)


def test_empty_input_and_missing_columns_say_so_and_write_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    empty = record_outcomes(source=str(write(tmp_path / "empty.csv", [])), engine=engine, **OPTIONS)
    assert empty.rows_read == 0 and "has no rows: nothing recorded" in empty.message
    source = str(write(tmp_path / "o.csv", ["A1,bad,"]))
    with pytest.raises(DataSourceError, match=r"id column 'id' not found.*\['app', 'status'"):
        record_outcomes(source=source, engine=engine, **(OPTIONS | {"id_column": "id"}))
    with pytest.raises(DataSourceError, match="target column 'outcome' not found"):
        record_outcomes(source=source, engine=engine, **(OPTIONS | {"target": "outcome"}))
    with pytest.raises(DataSourceError, match="outcome date column 'when' not found"):
        record_outcomes(source=source, engine=engine, outcome_date_column="when", **OPTIONS)
    with pytest.raises(ConfigurationError, match="lending_club"):
        record_outcomes(source="lending_club", engine=engine, **OPTIONS)
    assert count(engine, Outcome) == count(engine, OutcomeQuarantine) == 0


def test_parquet_and_sql_sources_use_the_collect_readers(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    frame = pd.DataFrame({"app": ["P1", "P2"], "status": [1, 0]})
    frame.to_parquet(tmp_path / "o.parquet")
    options = OPTIONS | {"positive": "1"}
    parquet = record_outcomes(source=str(tmp_path / "o.parquet"), engine=engine, **options)
    assert (parquet.inserted, parquet.positives) == (2, 1)
    sql = record_outcomes(
        source="sql",
        sql_url=db_url,
        query="SELECT application_id AS app, 1 - label AS status FROM loan_data.outcomes",
        engine=engine,
        **options,
    )
    assert sql.quarantined == {"conflicts_with_stored_label": 2}
    assert sql.origin.startswith("sql ") and "SELECT application_id" in sql.origin


def test_concurrent_runs_neither_duplicate_nor_lose_outcomes(db_url: str, tmp_path: Path) -> None:
    rows = [f"C{i},{'bad' if i % 3 == 0 else 'good'}," for i in range(3000)]
    source = str(write(tmp_path / "o.csv", rows))
    engine = get_engine(db_url)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(
            pool.map(lambda _: record_outcomes(source=source, engine=engine, **OPTIONS), range(2))
        )
    assert sum(r.inserted for r in runs) == 3000
    assert sum(r.unchanged for r in runs) == 3000
    assert all(r.quarantined == {} for r in runs)
    assert count(engine, Outcome) == 3000


@pytest.mark.slow
def test_cli_prints_a_summary_json_and_one_line_errors(db_url: str, tmp_path: Path) -> None:
    source = str(write(tmp_path / "o.csv", ["A1,bad,2024-01-01", "A2,good,", "A3,,"]))
    args = ("outcomes", "--source", source, "--id-column", "app", "--target", "status")
    table = cli(db_url, *args, "--positive", "bad", "--outcome-date-column", "closed").stdout
    assert "inserted" in table and "missing_label: 1" in table
    assert "2 id(s) have no logged prediction yet" in table
    summary = json.loads(cli(db_url, *args, "--positive", "bad", "--json").stdout)
    assert (summary["inserted"], summary["unchanged"], summary["quarantine_added"]) == (0, 2, 0)
    missing = cli(db_url, *args[:3], "--id-column", "id", "--target", "status", "--positive",
                  "bad", check=False)  # fmt: skip
    one_line_error(missing, "id column 'id' not found", "['app', 'status', 'closed']")
    empty = write(tmp_path / "empty.csv", [])
    out = cli(db_url, "outcomes", "--source", str(empty), *args[3:], "--positive", "bad").stdout
    assert "has no rows: nothing recorded" in out
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    proc = cli(db_url, "outcomes", "--source", str(blank), *args[3:], "--positive", "bad",
               check=False)  # fmt: skip
    one_line_error(proc, "the file is empty")
