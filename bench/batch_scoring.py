"""Batch scoring throughput: ``loan-default score`` in one process over 100k and 1M rows.

In a fresh PostgreSQL database (created and dropped here) lending_club is collected and a
model with the production architecture is trained for one epoch of each stage (its weights
do not change the speed of a forward pass).  The 9,857 stored rows are then replicated in SQL
(new row keys, same features) up to each size, in raw_data and processed_data.  At each size a
child process (a fresh interpreter) runs ``score_source`` over the whole source in chunks of
``BATCH_SCORING_CHUNK_SIZE`` rows, then the same run id again (a complete run: nothing left to
score, so that row shows the cost of checking), and reports rows/s and its peak RSS.

Then, at the largest size, the ``batch_scoring`` DAG runs on Airflow's CeleryExecutor with
one worker, then two (bench/_dag_scaling.py; the stack of ``make airflow-celery-smoke``):
rows/s, the 1 -> 2 worker speed-up and each worker's peak RSS.  ``--no-dag`` skips that.

    python bench/batch_scoring.py                       # 100k and 1M: writes docs/benchmarks.md
    python bench/batch_scoring.py --quick --output /tmp/b.md   # 20k rows (DAG: 2 ranges)
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import _common as common

sys.path.insert(0, str(common.ROOT / "scripts"))
from _dag_scaling import measure_dag
from portfolio import grow

logger = logging.getLogger("bench.batch_scoring")
SCRIPT = Path(__file__).resolve()
# One epoch per stage: the architecture (what scoring costs) stays the production default.
TRAINING = {"PRETRAIN_EPOCHS": "1", "FINETUNE_EPOCHS": "1", "PATIENCE": "1"}


def prepare(url: str) -> str:
    """Collect lending_club and train the model to score with; returns its version."""
    os.environ.update(TRAINING)
    common.use_database(url)
    from src.data.ingest import collect
    from src.pipeline.training import train

    collect(source="lending_club")
    return train(source="lending_club", progress=False).model_version


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


def dag_report(dag: list[dict[str, Any]], *, rows: int, chunk_size: int) -> str:
    if not dag:
        return "The DAG on Celery workers was not measured in this run (`--no-dag`).\n"
    base = dag[0]["span_s"]
    table = [
        [
            str(r["workers"]),
            str(r["ranges"]),
            f"{r['wall_s']:.1f}",
            f"{r['span_s']:.1f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['rows_per_second'] / r['workers']:,.0f}",
            f"{base / r['span_s']:.2f}x",
            ", ".join(f"{v:.0f}" for _, v in sorted(r["peak_rss_mib"].items())),
        ]
        for r in dag
    ]
    return (
        f"\n### The `batch_scoring` DAG on Celery workers ({rows:,} rows)\n\n"
        "The same database, Airflow 3 with the CeleryExecutor (api-server, scheduler, "
        "dag-processor, Redis broker, each worker `-c 1`: the stack of `make "
        f"airflow-celery-smoke`), ranges of {chunk_size:,} rows, a new batch run each time. "
        "*Span*: first mapped `score` start to last end (Airflow's task timestamps); *wall*: "
        "trigger to DAG run success. Peak RSS per worker: the summed RSS of the worker's "
        "processes (worker, pool process, task supervisor, task process), sampled every 0.5 s; "
        "pages the forked processes share are counted in each, so it is an upper bound. "
        "Goal: speed-up >= 1.7x from 1 to 2 workers on 2 cores, where the scheduler, "
        "api-server and dag-processor share the same cores.\n\n"
        + common.markdown_table(
            [
                "workers",
                "ranges",
                "wall (s)",
                "span (s)",
                "rows/s",
                "rows/s per worker",
                "speed-up (span)",
                "peak RSS per worker (MiB)",
            ],
            table,
        )
    )


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
        f"complete. Peak RSS: the child's `VmHWM`. Busiest processes at the end: {busy}.\n\n"
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
    parser.add_argument("--dag-chunk-size", type=int, default=50_000, help="rows per DAG range")
    parser.add_argument("--no-dag", action="store_true", help="skip the Celery DAG runs")
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
        chunk = 10_000 if args.quick else args.dag_chunk_size
        dag = [] if args.no_dag else measure_dag(url, rows=sizes[-1], chunk_size=chunk, env={})
    text = report(results, version=version, args=args, busy=common.busy_processes())
    text += dag_report(dag, rows=sizes[-1], chunk_size=chunk)
    return common.publish("batch_scoring", text, args.output)


if __name__ == "__main__":
    sys.exit(main())
