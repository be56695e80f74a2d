"""Resolving and reading sources: bundled datasets, files and SQL, with clear errors."""

from __future__ import annotations

import sqlite3
from dataclasses import FrozenInstanceError, replace
from typing import Any

import pandas as pd
import pytest

from src.data.ingest import collect
from src.data.source_options import SourceOptions
from src.data.sources import (
    BUNDLED,
    default_source_name,
    read_source,
    resolve_source,
    source_kind,
)
from src.exceptions import ConfigurationError, DataSourceError


def test_bundled_sources_have_their_known_roles():
    spec = resolve_source(SourceOptions(source="lending_club"))
    assert (spec.kind, spec.name, spec.target, spec.positive_label, spec.id_column) == (
        "bundled",
        "lending_club",
        "Class",
        "bad",
        "rownames",
    )
    frame = read_source(resolve_source(SourceOptions(source="credit_data")))
    assert len(frame) == 4454 and "Status" in frame.columns


def test_unknown_source_lists_the_bundled_names():
    with pytest.raises(DataSourceError) as info:
        resolve_source(SourceOptions(source="lending_clubb"))
    for name in BUNDLED:
        assert name in str(info.value)


def test_source_kind_and_default_names():
    assert source_kind("lending_club") == "bundled"
    assert source_kind("data/loans.CSV") == "file"
    assert source_kind("x.pq") == "file"
    assert source_kind("sql") == "sql"
    assert source_kind("whatever") is None
    assert default_source_name("/tmp/my_loans.parquet") == "my_loans"
    assert default_source_name("/tmp/my_loans.parquet", name="other") == "other"
    with pytest.raises(DataSourceError, match="needs a name"):
        default_source_name("sql")


def test_file_errors_are_clear(tmp_path):
    with pytest.raises(DataSourceError, match="file not found"):
        resolve_source(SourceOptions(source=str(tmp_path / "missing.csv"), target="y"))
    path = tmp_path / "loans.csv"
    path.write_text("a,y\n1,yes\n")
    with pytest.raises(DataSourceError, match="no target column given"):
        resolve_source(SourceOptions(source=str(path)))
    with pytest.raises(DataSourceError, match="target column 'label' not found"):
        read_source(resolve_source(SourceOptions(source=str(path), target="label")))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    with pytest.raises(DataSourceError, match="cannot read"):
        read_source(resolve_source(SourceOptions(source=str(broken), target="y")))


def test_file_spec_stores_the_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "loans.csv").write_text("a,y\n1,yes\n2,no\n")
    monkeypatch.chdir(tmp_path)
    spec = resolve_source(SourceOptions(source="loans.csv", target="y", positive="yes"))
    assert spec.location == str(tmp_path / "loans.csv")
    assert read_source(spec)["y"].tolist() == ["yes", "no"]


def test_sql_source(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE loans (id INTEGER, amount REAL, y TEXT)")
        conn.executemany("INSERT INTO loans VALUES (?, ?, ?)", [(1, 2.5, "bad"), (2, 3.0, "ok")])
    url = f"sqlite:///{db}"
    with pytest.raises(DataSourceError, match="needs both --sql-url and --query"):
        resolve_source(SourceOptions(source="sql", name="loans", target="y"))
    spec = resolve_source(
        SourceOptions(
            source="sql",
            name="loans",
            target="y",
            sql_url=url,
            query="SELECT * FROM loans ORDER BY id",
        )
    )
    pd.testing.assert_frame_equal(
        read_source(spec), pd.DataFrame({"id": [1, 2], "amount": [2.5, 3.0], "y": ["bad", "ok"]})
    )
    secret = resolve_source(
        SourceOptions(
            source="sql",
            name="x",
            target="y",
            sql_url="postgresql://u:hunter2@db/x",
            query="SELECT 1",
        )
    )
    assert "hunter2" not in repr(secret) and "hunter2" not in secret.describe()
    bad = resolve_source(
        SourceOptions(
            source="sql", name="loans", target="y", sql_url=url, query="SELECT * FROM nope"
        )
    )
    with pytest.raises(DataSourceError, match="query failed"):
        read_source(bad)


def test_collect_rejects_a_non_positive_batch_size():
    with pytest.raises(ConfigurationError, match="batch_size"):
        collect(source="lending_club", batch_size=0)


def test_collect_takes_the_source_once():
    with pytest.raises(ConfigurationError, match="not both"):
        collect(options=SourceOptions(source="lending_club"), source="credit_data")


def test_source_options_are_frozen_and_normalised() -> None:
    from_argparse: Any = ["a"]  # the CLI hands lists; they are stored as tuples
    options = SourceOptions(source="x.csv", positive=" 1 ", categorical=from_argparse)
    assert (options.positive, options.categorical, options.na_values) == ("1", ("a",), None)
    assert options.numerical is None and hash(options) == hash(replace(options))
    with pytest.raises(FrozenInstanceError):
        options.target = "y"  # type: ignore[misc]
