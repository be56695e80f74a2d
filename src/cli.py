"""``loan-default``: the command line, running the same functions as the Airflow DAGs.

User mistakes (bad arguments, missing data, unreachable database) end in one
clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from config.settings import describe_settings_error, get_settings
from src.cli_batch import SCORE_COMMANDS, add_score_parser
from src.cli_benchmark import BENCHMARK_COMMANDS, add_benchmark_parser
from src.cli_commands import COMMANDS
from src.cli_monitoring import add_parsers as add_monitoring_parsers
from src.cli_output import csv_list
from src.cli_report import REPORT_COMMANDS, add_report_parser
from src.cli_shadow import SHADOW_COMMANDS, add_shadow_parsers
from src.cli_tune import TUNE_COMMANDS, add_tune_parser
from src.exceptions import LoanDefaultError
from src.utils.logging import configure_logging, redact

errors = Console(stderr=True, soft_wrap=True)


def _add_reading_flags(parser: argparse.ArgumentParser) -> None:
    """How to read a SQL or CSV source: the same flags for ``collect`` and ``outcomes``."""
    parser.add_argument("--sql-url", help="database URL for --source sql")
    parser.add_argument("--query", help="SQL query for --source sql")
    parser.add_argument(
        "--na-values",
        type=csv_list,
        help="comma-separated CSV cell values to read as missing (default: only empty cells)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loan-default", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default=None, help="override LOG_LEVEL")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create the loan_data schema and apply migrations")

    collect = sub.add_parser("collect", help="ingest the next batch of a source")
    collect.add_argument("--source", help="lending_club | credit_data | FILE.csv|.parquet | sql")
    collect.add_argument("--name", help="name to store the source under (default: derived)")
    collect.add_argument("--target", help="label column (required for a file or SQL source)")
    collect.add_argument("--positive", help="label value of the positive (default) class")
    collect.add_argument("--id-column", help="row identifier column (becomes the row key)")
    collect.add_argument("--categorical", type=csv_list, help="comma-separated override")
    collect.add_argument("--numerical", type=csv_list, help="comma-separated override")
    _add_reading_flags(collect)
    collect.add_argument("--batch-size", type=int, help="take at most N new rows (default: all)")
    collect.add_argument("--data-date", help="date to tag rows with (YYYY-MM-DD, default today)")
    collect.add_argument(
        "--unlabelled",
        action="store_true",
        help="rows with an empty label are applications without an outcome yet: store them "
        "for pretraining (loan_data.unlabelled_data) instead of quarantining them",
    )

    train = sub.add_parser("train", help="pretrain, fine-tune, evaluate and register a model")
    train.add_argument("--source", help="source to train on (default: DATA_SOURCE)")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.add_argument(
        "--resume", type=int, metavar="RUN_ID", help="finish an interrupted run (see `runs`)"
    )
    runs = sub.add_parser("runs", help="list training runs (resume one with train --resume)")
    runs.add_argument("--unfinished", action="store_true", help="only runs not yet registered")
    runs.add_argument("--json", action="store_true", help="machine-readable output")

    add_monitoring_parsers(sub)

    deploy = sub.add_parser("deploy", help="promote a candidate if it beats the active model")
    deploy.add_argument("--model-version", help="candidate to deploy (default: newest)")
    deploy.add_argument("--source", help="model line (default: DATA_SOURCE or the only one)")
    activate = sub.add_parser("activate", help="force-activate a model version (rollback)")
    activate.add_argument("model_version")
    add_shadow_parsers(sub)

    export = sub.add_parser("export", help="write a model's verified artifact to MODEL_PATH")
    export.add_argument("model_version", nargs="?", help="default: the active model")
    export.add_argument("--source", help="model line of the active model to export")

    models = sub.add_parser("models", help="show the model registry")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--source", help="show one model line only")

    predict = sub.add_parser("predict", help="score request(s) with the active model")
    predict.add_argument(
        "--json",
        required=True,
        type=Path,
        dest="json_file",
        help='file with {"categorical_features":..,"numerical_features":..} or a list of them; '
        'each may carry an "application_id" (1-64 characters), echoed in the answer',
    )
    predict.add_argument("--explain", action="store_true", help="add reason codes")
    predict.add_argument("--source", help="model line to score with (default: DATA_SOURCE)")
    _outcomes_parser(sub)

    add_report_parser(sub)
    add_score_parser(sub)
    add_benchmark_parser(sub)
    add_tune_parser(sub)

    serve = sub.add_parser("serve", help="run the FastAPI service with uvicorn")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="uvicorn worker processes (default: WEB_CONCURRENCY, 1); /metrics merges them all",
    )
    return parser


def _outcomes_parser(sub: Any) -> None:
    outcomes = sub.add_parser(
        "outcomes",
        help="record realised outcomes (labels) of applications by application_id",
        description="Record realised outcomes in loan_data.outcomes, joined to logged "
        "predictions by application_id.  Re-running the same input adds nothing; a different "
        "label for a stored id is quarantined unless --allow-update.",
    )
    outcomes.add_argument("--source", required=True, help="FILE.csv|.parquet | sql")
    _add_reading_flags(outcomes)
    outcomes.add_argument("--id-column", required=True, help="column holding the application_id")
    outcomes.add_argument("--target", required=True, help="column holding the outcome")
    outcomes.add_argument(
        "--positive",
        required=True,
        help="target value meaning default: it is recorded as label 1, and any other "
        "non-missing value as label 0 (a missing value is quarantined)",
    )
    outcomes.add_argument("--outcome-date-column", help="column with the outcome date (ISO)")
    outcomes.add_argument(
        "--allow-update",
        action="store_true",
        help="replace a stored outcome whose label differs (default: quarantine the new row)",
    )
    outcomes.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(args.log_level or get_settings().log_level)
        return int(
            (
                COMMANDS
                | REPORT_COMMANDS
                | SCORE_COMMANDS
                | BENCHMARK_COMMANDS
                | SHADOW_COMMANDS
                | TUNE_COMMANDS
            )[args.command](args)
            or 0
        )
    except ValidationError as exc:  # an invalid setting (env or .env), named by its variable
        errors.print(f"[bold red]error:[/] {redact(describe_settings_error(exc))}", highlight=False)
    except LoanDefaultError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    except (OperationalError, ProgrammingError) as exc:
        errors.print(f"[bold red]error:[/] {_database_error(exc)}", highlight=False)
    except SQLAlchemyError as exc:
        errors.print(
            f"[bold red]error:[/] database error: {redact(str(exc)).splitlines()[0]}",
            highlight=False,
        )
    except OSError as exc:  # MODEL_PATH a file, a missing input, no permission ...
        where = f" ({exc.filename})" if exc.filename else ""
        errors.print(
            f"[bold red]error:[/] {exc.strerror or type(exc).__name__}{where}", highlight=False
        )
    except ValueError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return 2


def _database_error(exc: OperationalError | ProgrammingError) -> str:
    """A missing loan_data table means the schema was never created: say how to create it."""
    detail = " ".join(line.strip() for line in redact(str(exc.orig or exc)).splitlines()).strip()
    missing = ("does not exist" in detail and "loan_data" in detail) or "no such table" in detail
    if missing:
        return f"the database has no loan_data schema yet ({detail}): run `loan-default init-db`"
    if isinstance(exc, OperationalError):
        return f"database unreachable: {detail}"
    return f"database error: {detail}"


if __name__ == "__main__":
    sys.exit(main())
