"""Model report size and generation time for a model with about 2,000 held-out test rows.

Builds a fresh PostgreSQL database, collects ``--rows`` lending_club rows (20% are test rows
by the hash split), trains two quick models (the second through the gate), logs
``--logged`` explained-able decisions, then times ``write_report`` in this process (imports
already paid, as in the API) ``--repeat`` times, and the ``loan-default report`` command as
a user runs it (a fresh interpreter: imports included).

    python bench/report.py                 # writes the "report" section of docs/benchmarks.md
    python bench/report.py --output /tmp/b.md
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as common

logger = logging.getLogger("bench.report")


def log_decisions(version: str, count: int) -> None:
    """Score ``count`` stored rows with the model and log them, as the API's log would."""
    from sqlalchemy import select

    from src.data import repository as repo
    from src.data.database import session_scope
    from src.data.tables import Prediction, ProcessedData
    from src.pipeline.serving import predictor_for, score_records

    with session_scope() as session:
        model = repo.get_model(session, version=version)
        records = list(session.scalars(select(ProcessedData.features).limit(count)))
    predictor = predictor_for(model)
    scored = score_records(predictor, records, model_version=version)
    with session_scope() as session:
        session.add_all(
            Prediction(**(row | {"request_id": row["request_id"] or "bench"}))
            for row in scored.log_rows
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--logged", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args()
    common.setup_logging("WARNING")
    os.environ.update(common.QUICK_TRAINING)
    with common.fresh_database("bench_report") as url:
        common.use_database(url)
        from src.data.ingest import collect
        from src.pipeline.deployment import deploy
        from src.pipeline.training import train
        from src.reporting.output import write_report

        collect(source="lending_club", batch_size=args.rows)
        train(source="lending_club", progress=False)
        version = train(source="lending_club", progress=False).model_version
        deploy(model_version=version)
        log_decisions(version, args.logged)
        folder = Path(tempfile.mkdtemp(prefix="bench_report_"))
        runs = [
            write_report(version=version, output=folder / f"{i}.html") for i in range(args.repeat)
        ]
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "src.cli",
                "report",
                version,
                "--output",
                str(folder / "cli.html"),
            ],
            cwd=common.ROOT,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
            capture_output=True,
            text=True,
        )
        cli_seconds = time.perf_counter() - started
        logger.info(done.stdout)
    rows = [
        ("held-out test rows", runs[0].test_rows),
        ("logged decisions explained", args.logged),
        ("report size", f"{runs[0].size_bytes / 1024:.0f} KiB"),
        ("write_report, warm process (s)", common.mean_std([r.seconds for r in runs], 2)),
        ("`loan-default report` wall time, imports included (s)", f"{cli_seconds:.2f}"),
    ]
    text = "\n".join(
        [
            "## Model report (`bench/report.py`)",
            "",
            common.machine_line(),
            "",
            common.markdown_table(("measure", "value"), rows),
        ]
    )
    return common.publish("report", text, args.output)


if __name__ == "__main__":
    sys.exit(main())
