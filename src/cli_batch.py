"""``loan-default score``: batch-score every stored row of a source, resumable by run id.

Re-running with the same ``--run-id`` after an interruption scores only the rows the run is
missing (see ``src.pipeline.batch_scoring``).  The run id is logged when the run starts, so a
killed run started without ``--run-id`` can still be named (it is also in loan_data.batch_runs).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from src.cli_output import console, emit_json, print_counts

HELP = "batch-score every stored row of a source (resumable with --run-id)"
DESCRIPTION = (
    "Score every processed row of a source with its active model (or --model) into "
    "loan_data.batch_scores, one transaction per chunk.  A run interrupted mid-way stays "
    "'running'; the same command with its --run-id scores only the missing rows."
)


def add_score_parser(sub: Any) -> None:
    score = sub.add_parser("score", help=HELP, description=DESCRIPTION)
    score.add_argument(
        "--source", help="model line to score (default: DATA_SOURCE or the only one)"
    )
    score.add_argument(
        "--model", dest="model_version", metavar="VERSION", help="model version (default: active)"
    )
    score.add_argument("--run-id", metavar="ID", help="run to start or resume (default: a new id)")
    score.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        help="rows per transaction (default: BATCH_SCORING_CHUNK_SIZE)",
    )
    score.add_argument(
        "--output",
        type=Path,
        metavar="PATH.parquet",
        help="also write the run's scores to PATH.parquet",
    )
    score.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    score.add_argument("--json", action="store_true", help="print the summary as JSON")


def _score(args: argparse.Namespace) -> None:
    from config.settings import get_settings
    from src.pipeline.batch_scoring import score_source

    if args.output is not None and args.output.suffix.lower() not in (".parquet", ".pq"):
        raise ValueError(f"--output must name a .parquet file, got {args.output}")
    if args.run_id is not None and not 1 <= len(args.run_id) <= 64:
        raise ValueError("--run-id must be 1 to 64 characters")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    chunk_size = args.chunk_size or get_settings().batch_scoring_chunk_size
    summary = score_source(
        source=args.source,
        model_version=args.model_version,
        run_id=args.run_id,
        chunk_size=chunk_size,
        progress=not (args.no_progress or args.json),
    )
    result: dict[str, Any] = asdict(summary)
    if args.output is not None:
        result["output"] = str(_write_parquet(summary.run_id, args.output))
    if args.json:
        emit_json(result)
        return
    print_counts(f"score: run {summary.run_id} ({summary.status})", asdict(summary))
    console.print(
        f"{summary.rows_scored} rows scored by {summary.model_version} in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:.0f} rows/s), {summary.rows_skipped} already done",
        highlight=False,
    )
    if "output" in result:
        console.print(f"scores written to {result['output']}", highlight=False)


def _write_parquet(run_id: str, path: Path) -> Path:
    """Every score of the run (not only this invocation's) as one Parquet file."""
    from src.data.batch_repository import scores_frame
    from src.data.database import get_engine

    path.parent.mkdir(parents=True, exist_ok=True)
    scores_frame(get_engine(), run_id=run_id).to_parquet(path, index=False)
    return path


SCORE_COMMANDS = {"score": _score}
