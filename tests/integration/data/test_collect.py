"""collect() on a real PostgreSQL (and once on SQLite): counts, idempotency, quarantine."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, delete, func, select

from src.data import ingest, pg_copy
from src.data.database import get_engine, init_db
from src.data.frames import load_frame
from src.data.ingest import collect
from src.data.processing import build_processed
from src.data.source_options import SourceOptions
from src.data.source_registry import get_source_schema, list_sources
from src.data.tables import DataSource, ProcessedData, QuarantinedRow, RawData
from src.exceptions import DataSourceError, NoDataError, SchemaError

DAY = dt.date(2026, 1, 5)


def counts(engine: Engine, source: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            int(conn.scalar(select(func.count()).where(table.source == source)) or 0)
            for table in (RawData, ProcessedData, QuarantinedRow)
        )


def consistent(summary) -> bool:
    return summary.read == (
        summary.already_stored + summary.inserted + summary.quarantined + summary.remaining
    )


def user_csv(tmp_path) -> tuple[str, int]:
    """An id-less CSV with text categories, numbers, a yes/no label and four bad rows."""
    rng = np.random.default_rng(0)
    n = 60
    data = pd.DataFrame(
        {
            "purpose": rng.choice(["car", "home", "study"], n),
            "region": rng.choice(["north", "south"], n),
            "income": rng.integers(10_000, 90_000, n).astype(str).astype(object),
            "amount": rng.normal(5000, 100, n).round(2),
            "label": rng.choice(["yes", "no"], n),
        }
    )
    data.loc[3, "label"] = None
    data.loc[7, "label"] = "maybe"
    data.loc[11, "income"] = "abc"
    data.loc[13, "income"] = "inf"
    data.loc[20] = data.loc[21]  # an exact duplicate row: stored twice, keyed :0 and :1
    path = tmp_path / "applicants.csv"
    data.to_csv(path, index=False)
    return str(path), n


def test_lending_club_in_batches_is_exactly_once(db_url):
    engine = get_engine()
    first = collect(batch_size=3000, data_date=DAY)  # the default source: lending_club
    assert (first.source, first.read, first.inserted, first.remaining) == (
        "lending_club",
        9857,
        3000,
        6857,
    )
    assert first.processed == 3000 and first.quarantined == 0
    rest = collect(source="lending_club", data_date=DAY + dt.timedelta(days=1))
    assert (rest.inserted, rest.already_stored, rest.remaining, rest.processed) == (
        6857,
        3000,
        0,
        6857,
    )
    assert counts(engine, "lending_club") == (9857, 9857, 0)
    again = collect(source="lending_club", batch_size=500)
    assert (again.inserted, again.quarantined, again.processed, again.already_stored) == (
        0,
        0,
        0,
        9857,
    )
    assert counts(engine, "lending_club") == (9857, 9857, 0)
    assert all(consistent(s) for s in (first, rest, again))
    frame = load_frame(source="lending_club")
    assert len(frame) == 9857 and (np.diff(frame.raw_ids) > 0).all()
    assert frame.row_keys[:3] == ["1", "2", "3"]  # source order is id order
    assert set(frame.data_dates[:3000]) == {DAY}
    assert set(frame.data_dates[3000:]) == {DAY + dt.timedelta(days=1)}
    assert frame.labels.sum() == 517  # the "bad" loans of lending_club
    assert "rownames" not in frame.features.columns
    later = load_frame(source="lending_club", min_raw_id_exclusive=int(frame.raw_ids[2999]))
    assert len(later) == 6857
    upto = load_frame(source="lending_club", max_raw_id=int(frame.raw_ids[99]))
    assert len(upto) == 100


def test_user_csv_with_bad_rows(db_url, tmp_path):
    engine = get_engine()
    path, n = user_csv(tmp_path)
    summary = collect(
        options=SourceOptions(source=path, target="label", positive="yes"), data_date=DAY
    )
    assert summary.source == "applicants"
    assert (summary.read, summary.quarantined, summary.inserted) == (n, 4, n - 4)
    assert summary.processed == n - 4 and summary.remaining == 0 and consistent(summary)
    assert counts(engine, "applicants") == (n - 4, n - 4, 4)
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(QuarantinedRow.reason, QuarantinedRow.record)).all())
        records = list(conn.scalars(select(RawData.record).order_by(RawData.id)))
    assert set(reasons) == {
        "missing target value in column 'label'",
        "unknown target value 'maybe' in column 'label' (expected one of ['no', 'yes'])",
        "non-numeric value 'abc' in numerical column 'income'",
        "non-finite value 'inf' in numerical column 'income'",
    }
    bad_income = reasons["non-numeric value 'abc' in numerical column 'income'"]
    assert bad_income["income"] == "abc" and bad_income["label"] in ("yes", "no")
    assert set(records[0]) == {"purpose", "region", "income", "amount"}
    assert isinstance(records[0]["income"], str)  # as received: the column held text
    schema = get_source_schema(source="applicants")
    assert schema.numerical == ("income", "amount") and schema.id_column is None
    frame = load_frame(source="applicants")
    assert frame.features["income"].dtype == np.float64
    assert frame.features["purpose"].map(type).eq(str).all()
    assert sorted(set(frame.labels.tolist())) == [0, 1]
    rerun = collect(source=path, data_date=DAY)  # target/positive come from the stored schema
    assert (rerun.inserted, rerun.quarantined, rerun.already_stored) == (0, 0, n)
    assert counts(engine, "applicants") == (n - 4, n - 4, 4)
    by_name = collect(source="applicants")  # a registered name reads its stored location
    assert by_name.read == n and by_name.inserted == 0


def test_parquet_source_with_detected_id_and_batches(db_url, tmp_path):
    data = pd.DataFrame(
        {
            "loan_id": np.arange(100, 300),
            "grade": np.where(np.arange(200) % 3 == 0, "A", "B"),
            "rate": np.linspace(0.05, 0.25, 200),
            "defaulted": np.where(np.arange(200) % 4 == 0, 1, 0),
        }
    )
    path = tmp_path / "loans.parquet"
    data.to_parquet(path)
    first = collect(options=SourceOptions(source=str(path), target="defaulted"), batch_size=150)
    assert (first.inserted, first.remaining) == (150, 50)
    schema = get_source_schema(source="loans")
    assert schema.id_column == "loan_id" and schema.positive_label == "1"  # guessed
    second = collect(source=str(path), batch_size=150)
    assert (second.inserted, second.remaining, second.already_stored) == (50, 0, 150)
    frame = load_frame(source="loans")
    assert frame.row_keys[0] == "100" and frame.labels.sum() == 50
    assert list(frame.features.columns) == ["grade", "rate"]


def test_sql_source(db_url, tmp_path):
    db = tmp_path / "origin.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE loans (id INTEGER, term TEXT, amount REAL, bad INTEGER)")
        conn.executemany(
            "INSERT INTO loans VALUES (?, ?, ?, ?)",
            [(i, "36" if i % 2 else "60", 1000.0 + i, int(i % 5 == 0)) for i in range(40)],
        )
    options = SourceOptions(
        source="sql",
        sql_url=f"sqlite:///{db}",
        query="SELECT * FROM loans ORDER BY id",
        target="bad",
        positive="1",
        categorical=["term"],  # digits, but a category
    )
    with pytest.raises(DataSourceError, match="needs a name"):
        collect(options=options)
    named = replace(options, name="origin_loans")
    summary = collect(options=named)
    assert (summary.inserted, summary.processed) == (40, 40)
    frame = load_frame(source="origin_loans")
    assert frame.labels.sum() == 8 and frame.features["term"].iloc[0] == "60"
    assert collect(options=named).inserted == 0
    # By its registered name: the stored query is read again (the URL is never stored).
    again = SourceOptions(source="origin_loans", sql_url=options.sql_url)
    assert collect(options=again).already_stored == 40


def test_credit_data_with_missing_values(db_url):
    summary = collect(source="credit_data")
    assert (summary.read, summary.inserted, summary.quarantined) == (4454, 4454, 0)
    frame = load_frame(source="credit_data")
    schema = frame.schema
    assert set(schema.nullable) >= {"Home", "Marital", "Job", "Income", "Assets", "Debt"}
    assert all(frame.features[c].dtype == object for c in schema.categorical)
    assert all(frame.features[c].dtype == np.float64 for c in schema.numerical)
    assert frame.features["Income"].isna().sum() > 0
    assert frame.features["Home"].isna().sum() > 0 and None in set(frame.features["Home"])
    assert frame.labels.dtype == np.int64 and frame.raw_ids.dtype == np.int64
    assert int(frame.labels.sum()) == 1254  # the 'bad' credits
    names = [s["name"] for s in list_sources()]
    assert names == ["credit_data"]


def test_overrides_must_match_the_stored_schema(db_url, tmp_path):
    collect(source="lending_club", batch_size=10)
    with pytest.raises(SchemaError, match="positive label 'good'"):
        collect(options=SourceOptions(source="lending_club", positive="good"))
    with pytest.raises(SchemaError, match="categorical column 'int_rate' \\(stored as numerical"):
        collect(options=SourceOptions(source="lending_club", categorical=["int_rate"]))
    assert (
        collect(
            options=SourceOptions(source="lending_club", numerical=["int_rate"]), batch_size=1
        ).inserted
        == 1
    )
    (tmp_path / "lending_club.csv").write_text("a,Class\n1,bad\n2,good\n")
    with pytest.raises(DataSourceError, match="already a bundled source"):
        collect(options=SourceOptions(source=str(tmp_path / "lending_club.csv"), target="Class"))
    with pytest.raises(NoDataError, match="never been collected"):
        load_frame(source="nope")


def test_build_processed_is_idempotent(db_url):
    engine = get_engine()
    collect(source="lending_club", batch_size=1000)
    before = load_frame(source="lending_club")  # written by the server-side fast path
    with engine.begin() as conn:
        deleted = conn.execute(delete(ProcessedData).where(ProcessedData.raw_id % 3 == 0)).rowcount
    assert deleted > 0
    assert build_processed(source="lending_club") == deleted
    assert counts(engine, "lending_club") == (1000, 1000, 0)
    assert build_processed(source="lending_club") == 0
    after = load_frame(source="lending_club")  # a third of it rebuilt by the Python path
    pd.testing.assert_frame_equal(after.features, before.features)
    assert (after.labels == before.labels).all() and after.row_keys == before.row_keys


def test_racing_collect_stores_each_row_once(db_url, monkeypatch):
    engine = get_engine()
    collect(source="lending_club", batch_size=2000)
    # Pretend another collect stored those 2000 rows after this one looked at the table.
    monkeypatch.setattr(ingest, "_stored_keys", lambda *_: ({}, set()))
    summary = collect(source="lending_club", batch_size=5000)
    assert (summary.inserted, summary.already_stored, summary.remaining) == (3000, 2000, 4857)
    assert counts(engine, "lending_club") == (5000, 5000, 0)
    with engine.connect() as conn:
        keys = list(conn.scalars(select(RawData.row_key).order_by(RawData.id)))
    assert keys == [str(i) for i in range(1, 5001)]


def test_collect_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'local.db'}"
    engine = get_engine(url)
    try:
        init_db(engine)
        path, n = user_csv(tmp_path)
        first = collect(
            options=SourceOptions(source=path, target="label", positive="yes"),
            batch_size=30,
            engine=engine,
        )
        second = collect(source=path, engine=engine)
        assert first.inserted + second.inserted == n - 4
        assert first.quarantined + second.quarantined == 4
        assert second.remaining == 0 and consistent(first) and consistent(second)
        assert counts(engine, "applicants") == (n - 4, n - 4, 4)
        assert collect(source=path, engine=engine).inserted == 0
        lc = collect(source="lending_club", batch_size=300, engine=engine)
        assert (lc.inserted, lc.processed) == (300, 300)
        frame = load_frame(source="lending_club", engine=engine)
        assert len(frame) == 300 and frame.features["int_rate"].dtype == np.float64
        with engine.connect() as conn:
            assert conn.scalar(select(DataSource.kind).where(DataSource.name == "applicants"))
    finally:
        engine.dispose()


def test_psycopg2_urls_take_the_copy_path_too(db_url, monkeypatch):
    engine = get_engine(db_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    copies = []
    real_copy = pg_copy.copy_lines
    monkeypatch.setattr(
        pg_copy, "copy_lines", lambda cursor, *a: copies.append(cursor) or real_copy(cursor, *a)
    )
    try:
        assert engine.dialect.driver == "psycopg2"
        summary = collect(source="lending_club", batch_size=2500, engine=engine)
        assert (summary.inserted, summary.processed) == (2500, 2500)
        assert len(copies) == 1 and hasattr(copies[0], "copy_expert")
        assert counts(engine, "lending_club") == (2500, 2500, 0)
    finally:
        engine.dispose()
