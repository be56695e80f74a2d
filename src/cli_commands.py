"""The implementations of the ``loan-default`` subcommands (parsing lives in ``src.cli``).

Each command calls the same ``src.pipeline`` / ``src.data`` functions as the Airflow
DAGs and prints a human-readable summary (or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from config.settings import get_settings
from src.cli_monitoring import MONITORING_COMMANDS
from src.cli_output import console, emit_json, print_counts
from src.cli_registry import REGISTRY_COMMANDS, resolve_line

# The ``outcomes`` flags handed to record_outcomes() as they are.
OUTCOME_ARGS = (
    "id_column",
    "target",
    "positive",
    "outcome_date_column",
    "allow_update",
    "sql_url",
    "query",
    "na_values",
)


def _init_db(_: argparse.Namespace) -> None:
    from src.data.database import init_db, redact_url

    revision = init_db()
    console.print(f"database {redact_url(get_settings().database_url)} at revision {revision}")


def _collect(args: argparse.Namespace) -> None:
    import datetime as dt

    from src.data.ingest import collect
    from src.data.source_options import SourceOptions

    summary = collect(
        options=SourceOptions.from_mapping(vars(args)),
        batch_size=args.batch_size,
        data_date=dt.date.fromisoformat(args.data_date) if args.data_date else None,
        unlabelled=args.unlabelled,
    )
    print_counts(f"collect: {summary.source}", summary.as_dict())
    if summary.out_of_range:
        console.print(
            "quarantined for a magnitude beyond MAX_ABS_NUMERIC_VALUE, per column: "
            + ", ".join(f"{col}: {n}" for col, n in summary.out_of_range.items())
        )


def _train(args: argparse.Namespace) -> None:
    from src.models.metrics import METRIC_NAMES
    from src.pipeline.training import resume, train

    if args.resume is not None and args.source:
        raise ValueError("--resume continues an existing run; it takes no --source")
    progress = not args.no_progress
    result = (
        resume(run_id=args.resume, progress=progress)
        if args.resume is not None
        else train(source=args.source, progress=progress)
    )
    table = Table(
        title=f"model {result.model_version} — held-out test metrics (positive class = default)"
    )
    for key in (*METRIC_NAMES, "threshold"):
        table.add_column(key, justify="right")
    table.add_row(*(f"{result.metrics[k]:.4f}" for k in METRIC_NAMES), f"{result.threshold:.4f}")
    console.print(table)
    state = "active" if result.activated else "candidate (run `loan-default deploy`)"
    console.print(f"registered {result.model_version} as {state}")


def _predict(args: argparse.Namespace) -> None:
    """Score a request file with a line's champion: the API's validation and response items."""
    from src.data import repository as repo
    from src.data.application_ids import request_application_id
    from src.data.database import session_scope
    from src.exceptions import ModelNotFoundError
    from src.pipeline.request_records import request_to_record
    from src.pipeline.serving import (
        configured_device,
        predictor_for,
        score_records,
    )

    payload = _read_request_json(args.json_file)
    requests = payload if isinstance(payload, list) else [payload]
    line = resolve_line(args.source)
    device = configured_device(purpose=f"predict ({line})")
    with session_scope() as session:
        model = repo.get_active_model(session, source=line)
        if model is None:
            raise ModelNotFoundError(
                f"model line {line!r} has no active model; run `loan-default train` first"
            )
        predictor = predictor_for(model, device=device)
    prefixes = [f"[{i}]." if len(requests) > 1 else "" for i in range(len(requests))]
    records = [
        request_to_record(r, schema=predictor.schema, prefix=p)
        for r, p in zip(requests, prefixes, strict=True)
    ]
    ids = [request_application_id(r) for r in requests]  # validated just above
    items = score_records(predictor, records, application_ids=ids, explain=args.explain).items
    out = [{k: v for k, v in item.items() if k != "request_id"} for item in items]
    emit_json(out if isinstance(payload, list) else out[0])


def _outcomes(args: argparse.Namespace) -> None:
    """Record realised outcomes; the summary as a table (or JSON), then what to look at."""
    from src.pipeline.outcomes import record_outcomes

    summary = record_outcomes(source=args.source, **{k: getattr(args, k) for k in OUTCOME_ARGS})
    if args.json:
        emit_json(summary.as_dict())
        return
    print_counts(f"outcomes: {summary.origin}", summary.as_dict(), skip=("quarantine_added",))
    if summary.quarantined:
        console.print(
            f"quarantined ({summary.quarantine_added} new in loan_data.outcome_quarantine): "
            + ", ".join(f"{kind}: {n}" for kind, n in sorted(summary.quarantined.items())),
            highlight=False,
        )
    if summary.unknown_ids:
        console.print(
            f"{summary.unknown_ids} id(s) have no logged prediction yet, e.g. "
            + ", ".join(summary.unknown_id_examples),
            highlight=False,
        )
    console.print(summary.message, highlight=False)


def _read_request_json(path: Path) -> Any:
    """Parse the request file; a malformed or absurdly nested one is a one-line user error."""
    from src.exceptions import InvalidInputError

    try:
        return json.loads(path.read_text())
    except RecursionError:
        raise InvalidInputError(str(path), "JSON nested too deeply to be a request") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(str(path), f"not valid JSON ({exc})") from None


def _serve(args: argparse.Namespace) -> None:
    """uvicorn with the connection limits from settings (the body timeout is middleware).

    The app goes to uvicorn as an import string: each worker process imports it on its own.
    Several workers share one ``/metrics`` through a multiprocess directory set up first.
    """
    import uvicorn

    from src.api.multiprocess import multiprocess_metrics

    settings = get_settings()
    workers = settings.web_concurrency if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    with multiprocess_metrics(workers=workers):
        uvicorn.run(
            "src.api.main:app",
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            log_level=settings.log_level.lower(),
            timeout_keep_alive=settings.api_timeout_keep_alive_seconds,
            limit_concurrency=settings.api_limit_concurrency,
            workers=workers,
        )


COMMANDS = (
    REGISTRY_COMMANDS
    | MONITORING_COMMANDS
    | {
        "init-db": _init_db,
        "collect": _collect,
        "train": _train,
        "predict": _predict,
        "outcomes": _outcomes,
        "serve": _serve,
    }
)
