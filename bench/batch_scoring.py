"""Batch scoring throughput: ``loan-default score`` in one process over 100k and 1M rows.

In a fresh PostgreSQL database (created and dropped here) lending_club is collected and a
model with the production architecture is trained for one epoch of each stage (its weights
do not change the speed of a forward pass).  The 9,857 stored rows are then replicated in SQL
(new row keys, same features) up to each size, in raw_data and processed_data.  At each size a
child process (a fresh interpreter) runs ``score_source`` over the whole source in chunks of
``BATCH_SCORING_CHUNK_SIZE`` rows, then the same run id again (a complete run: nothing left to
score, so that row shows the cost of checking), and reports rows/s and its peak RSS.

The ``batch_scoring`` DAG on 1 and 2 Celery workers is not measured here: that needs the
Celery executor run for real, which is open work (docs/scale-out.md).

    python bench/batch_scoring.py                       # 100k and 1M: writes docs/benchmarks.md
    python bench/batch_scoring.py --quick --output /tmp/b.md   # 20k rows, a smoke run
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import _common as common

logger = logging.getLogger("bench.batch_scoring")
SCRIPT = Path(__file__).resolve()
# One epoch per stage: the architecture (what scoring costs) stays the production default.
TRAINING = {"PRETRAIN_EPOCHS": "1", "FINETUNE_EPOCHS": "1", "PATIENCE": "1"}
REPLICATE = """
INSERT INTO loan_data.raw_data (source, row_key, data_date, record, label)
SELECT r.source, r.row_key || '~' || g, r.data_date, r.record, r.label
FROM loan_data.raw_data r
CROSS JOIN generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
WHERE r.source = 'lending_club' AND strpos(r.row_key, '~') = 0
ORDER BY g, r.id
LIMIT :rows
"""
COPIES = """
SELECT max(split_part(row_key, '~', 2)::int) FROM loan_data.raw_data
WHERE source = 'lending_club' AND strpos(row_key, '~') > 0
"""
BASE_ROWS = 9857  # lending_club as collected
PROCESS = """
INSERT INTO loan_data.processed_data (raw_id, source, data_date, features, label)
SELECT n.id, n.source, n.data_date, p.features, p.label
FROM loan_data.raw_data n
JOIN loan_data.raw_data o ON o.source = n.source AND o.row_key = split_part(n.row_key, '~', 1)
JOIN loan_data.processed_data p ON p.raw_id = o.id
WHERE n.source = 'lending_club' AND n.id > :after
"""


def prepare(url: str) -> str:
    """Collect lending_club and train the model to score with; returns its version."""
    os.environ.update(TRAINING)
    common.use_database(url)
    from src.data.ingest import collect
    from src.pipeline.training import train

    collect(source="lending_club")
    return train(source="lending_club", progress=False).model_version


def grow(url: str, rows: int) -> float:
    """Replicate stored rows until the source holds ``rows``; returns seconds."""
    from sqlalchemy import func, select, text

    from src.data.database import get_engine
    from src.data.tables import ProcessedData

    started = time.perf_counter()
    with get_engine(url).begin() as conn:
        stored = int(conn.scalar(select(func.count()).select_from(ProcessedData)) or 0)
        after = int(conn.scalar(select(func.max(ProcessedData.raw_id))) or 0)
        missing = rows - stored
        if missing > 0:
            copies = conn.scalar(text(COPIES)) or 0  # suffixes used by earlier growth
            first = int(copies) + 1
            params = {"first": first, "last": first + missing // BASE_ROWS + 1, "rows": missing}
            conn.execute(text(REPLICATE), params)
            conn.execute(text(PROCESS), {"after": after})
    with get_engine(url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE loan_data.raw_data, loan_data.processed_data")
        )
    return time.perf_counter() - started


def child_measure(chunk_size: int) -> dict[str, Any]:
    """Score the whole source, then resume the complete run, in this (fresh) process."""
    from src.pipeline.batch_scoring import score_source

    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    first = score_source(source="lending_club", run_id=run_id, chunk_size=chunk_size)
    again = score_source(source="lending_club", run_id=run_id, chunk_size=chunk_size)
    return {
        "rows": first.rows_total,
        "scored": first.rows_scored,
        "seconds": first.seconds,
        "rows_per_second": first.rows_per_second,
        "again_seconds": again.seconds,
        "again_scored": again.rows_scored,
        "peak_rss_mib": common.peak_rss_mib(),
    }


def report(results: list[dict[str, Any]], *, version: str, args: Any, busy: str) -> str:
    rows = [
        [
            f"{r['rows']:,}",
            f"{r['grow_s']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['again_seconds']:.2f} ({r['again_scored']} scored)",
            f"{r['peak_rss_mib']:.0f}",
        ]
        for r in results
    ]
    threads = os.environ.get("TORCH_NUM_THREADS", "1 (the default)")
    return (
        "## Batch scoring throughput\n\n"
        f"`python bench/batch_scoring.py{' --quick' if args.quick else ''}`: `score_source` "
        "(what `loan-default score` runs) in one child process over every processed "
        "lending_club row of a fresh PostgreSQL 15 database on 127.0.0.1, lending_club "
        f"replicated in SQL up to each size; model {version} with the production architecture "
        f"(one training epoch per stage); chunks of {args.chunk_size:,} rows, each one "
        f"transaction; TORCH_NUM_THREADS={threads}. *Again*: the same run id once the run is "
        "complete. Peak RSS: the child's `VmHWM`. The DAG on 1 and 2 Celery workers is not "
        f"measured (open work). Busiest processes at the end: {busy}.\n\n"
        + common.measured_table(
            [
                "rows",
                "replicate + VACUUM (s)",
                "score (s)",
                "rows/s",
                "again (s)",
                "child peak RSS (MiB)",
            ],
            rows,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = common.bench_parser(__doc__, quick="20k rows only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--child", metavar="URL", help="(internal) measure in this process")
    args = parser.parse_args(argv)
    if args.child:
        common.use_database(args.child)
        common.report_result(child_measure(args.chunk_size))
        return 0
    common.setup_logging()
    sizes = [20_000] if args.quick else sorted(args.sizes)
    results = []
    with common.fresh_database("bench_batch") as url:
        version = prepare(url)
        for size in sizes:
            grow_s = grow(url, size)
            result = common.run_script_child(SCRIPT, url, "--chunk-size", str(args.chunk_size)) | {
                "grow_s": grow_s
            }
            logger.info("%d rows: %s", size, result)
            results.append(result)
    text = report(results, version=version, args=args, busy=common.busy_processes())
    return common.publish("batch_scoring", text, args.output)


if __name__ == "__main__":
    sys.exit(main())
