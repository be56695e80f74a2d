"""``loan-default``: the command line, running the same functions as the Airflow DAGs.

User mistakes (bad arguments, missing data, unreachable database) end in one
clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from config.settings import get_settings
from src.exceptions import LoanDefaultError
from src.utils.logging import configure_logging, redact

# Pipes and CI logs get a wide console: rich would otherwise squeeze tables to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("loan_default")
METRICS = ("f1_score", "accuracy", "precision", "recall", "roc_auc", "pr_auc")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


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
    collect.add_argument("--categorical", type=_csv, help="comma-separated override")
    collect.add_argument("--numerical", type=_csv, help="comma-separated override")
    collect.add_argument("--sql-url", help="database URL for --source sql")
    collect.add_argument("--query", help="SQL query for --source sql")
    collect.add_argument("--batch-size", type=int, help="take at most N new rows (default: all)")
    collect.add_argument("--data-date", help="date to tag rows with (YYYY-MM-DD, default today)")

    train = sub.add_parser("train", help="pretrain, fine-tune, evaluate and register a model")
    train.add_argument("--source", help="source to train on (default: DATA_SOURCE)")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")

    validate = sub.add_parser("validate", help="score the active model on new labelled rows")
    validate.add_argument("--source")
    validate.add_argument("--f1-threshold", type=float, help="override F1_SCORE_THRESHOLD")
    validate.add_argument(
        "--sample-threshold", type=int, help="override RETRAINING_SAMPLE_THRESHOLD"
    )
    validate.add_argument("--json", action="store_true", help="print the decision as JSON")

    deploy = sub.add_parser("deploy", help="promote a candidate if it beats the active model")
    deploy.add_argument("--model-version", help="candidate to deploy (default: newest)")
    activate = sub.add_parser("activate", help="force-activate a model version (rollback)")
    activate.add_argument("model_version")

    export = sub.add_parser("export", help="write a model's verified artifact to MODEL_PATH")
    export.add_argument("model_version", nargs="?", help="default: the active model")

    models = sub.add_parser("models", help="show the model registry")
    models.add_argument("--json", action="store_true", help="machine-readable output")

    predict = sub.add_parser("predict", help="score request(s) with the active model")
    predict.add_argument(
        "--json",
        required=True,
        type=Path,
        dest="json_file",
        help='file with {"categorical_features":..,"numerical_features":..} or a list of them',
    )
    predict.add_argument("--explain", action="store_true", help="add reason codes")

    serve = sub.add_parser("serve", help="run the FastAPI service with uvicorn")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level or get_settings().log_level)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except LoanDefaultError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    except OperationalError as exc:
        errors.print(
            f"[bold red]error:[/] database unreachable: {redact(str(exc.orig))}".strip(),
            highlight=False,
        )
    except SQLAlchemyError as exc:
        errors.print(
            f"[bold red]error:[/] database error: {redact(str(exc)).splitlines()[0]}",
            highlight=False,
        )
    except (FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return 2


def _emit_json(data: Any) -> None:
    """Plain JSON on stdout (rich would wrap long lines and break parsers)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _init_db(_: argparse.Namespace) -> None:
    from src.data.database import init_db, redact_url

    revision = init_db()
    console.print(f"database {redact_url(get_settings().database_url)} at revision {revision}")


def _collect(args: argparse.Namespace) -> None:
    import datetime as dt

    from src.data.ingest import collect

    summary = collect(
        source=args.source,
        name=args.name,
        target=args.target,
        positive=args.positive,
        id_column=args.id_column,
        categorical=args.categorical,
        numerical=args.numerical,
        sql_url=args.sql_url,
        query=args.query,
        batch_size=args.batch_size,
        data_date=dt.date.fromisoformat(args.data_date) if args.data_date else None,
    )
    table = Table(title=f"collect: {summary.source}")
    for key in ("read", "inserted", "quarantined", "already_stored", "remaining", "processed"):
        table.add_column(key, justify="right")
    d = summary.as_dict()
    table.add_row(
        *(
            str(d[k])
            for k in ("read", "inserted", "quarantined", "already_stored", "remaining", "processed")
        )
    )
    console.print(table)


def _train(args: argparse.Namespace) -> None:
    from src.pipeline.training import train

    result = train(source=args.source, progress=not args.no_progress)
    table = Table(
        title=f"model {result.model_version} — held-out test metrics (positive class = default)"
    )
    for key in (*METRICS, "threshold"):
        table.add_column(key, justify="right")
    table.add_row(*(f"{result.metrics[k]:.4f}" for k in METRICS), f"{result.threshold:.4f}")
    console.print(table)
    state = "active" if result.activated else "candidate (run `loan-default deploy`)"
    console.print(f"registered {result.model_version} as {state}")


def _validate(args: argparse.Namespace) -> None:
    from src.pipeline.validation import validate

    decision = validate(
        source=args.source, f1_threshold=args.f1_threshold, sample_threshold=args.sample_threshold
    )
    if args.json:
        _emit_json(decision.as_dict())
        return
    if decision.metrics:
        shown = ", ".join(f"{k}={decision.metrics[k]:.4f}" for k in METRICS)
        console.print(
            f"{decision.model_version} on {decision.n_samples} new labelled rows "
            f"(positive class = default): {shown}"
        )
    verdict = "RETRAIN" if decision.retrain else "no retraining"
    console.print(f"decision: {verdict} — {decision.reason}", highlight=False)


def _deploy(args: argparse.Namespace) -> None:
    from src.pipeline.deployment import deploy

    result = deploy(model_version=args.model_version)
    verdict = "promoted" if result.promoted else "not promoted"
    console.print(f"{result.model_version or '-'}: {verdict} — {result.reason}", highlight=False)


def _activate(args: argparse.Namespace) -> None:
    from src.pipeline.deployment import activate

    retired = activate(model_version=args.model_version)
    console.print(f"{args.model_version} is active" + (f"; retired {retired}" if retired else ""))


def _models(args: argparse.Namespace) -> None:
    from src.data import repository as repo
    from src.data.database import session_scope

    with session_scope() as session:
        rows = repo.list_models(session)
        data = [_model_row(m) for m in rows]
    if args.json:
        _emit_json(data)
        return
    table = Table(title="loan_data.model_metadata — held-out test metrics, default class")
    shown = ("f1_score", "precision", "recall", "roc_auc", "pr_auc")
    for col in ("version", "status", "active", "rows", *shown, "threshold", "created (UTC)"):
        table.add_column(col, no_wrap=True)
    for d in data:
        table.add_row(
            d["model_version"],
            d["status"],
            "*" if d["is_active"] else "",
            str(d["data_snapshot"].get("row_count", "")),
            *(f"{d[k]:.3f}" for k in shown),
            f"{d['threshold']:.3f}",
            d["created_at"][:16].replace("T", " "),
        )
    console.print(table)
    for d in data:
        console.print(f"  {d['model_version']}: {d['status_reason'] or ''}", highlight=False)


def _export(args: argparse.Namespace) -> None:
    from src.data import repository as repo
    from src.data.database import session_scope
    from src.exceptions import ModelNotFoundError
    from src.pipeline.scoring import predictor_for

    with session_scope() as session:
        model = (
            repo.get_model(session, version=args.model_version)
            if args.model_version
            else repo.get_active_model(session)
        )
        if model is None:
            raise ModelNotFoundError("no active model; name a version to export")
        predictor_for(model)  # never export bytes that fail verification
        version, artifact, digest = model.model_version, model.artifact, model.artifact_sha256
    directory = get_settings().model_path
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}.safetensors"
    path.write_bytes(artifact)
    console.print(f"{path}  sha256 {digest}", highlight=False)


def _model_row(model: Any) -> dict[str, Any]:
    keys = (
        "model_version",
        "status",
        "is_active",
        "source",
        "data_snapshot",
        *METRICS,
        "threshold",
        "status_reason",
        "artifact_sha256",
    )
    row = {k: getattr(model, k) for k in keys}
    row["created_at"] = model.created_at.isoformat()
    return row


def _predict(args: argparse.Namespace) -> None:
    from src.data import repository as repo
    from src.data.database import session_scope
    from src.data.processing import records_to_frame
    from src.exceptions import ModelNotFoundError
    from src.pipeline.prediction import request_to_record
    from src.pipeline.scoring import predictor_for

    payload = json.loads(args.json_file.read_text())
    requests = payload if isinstance(payload, list) else [payload]
    with session_scope() as session:
        model = repo.get_active_model(session)
        if model is None:
            raise ModelNotFoundError("no active model; run `loan-default train` first")
        predictor = predictor_for(model)
    records = [
        request_to_record(r, schema=predictor.schema, prefix=f"[{i}]." if len(requests) > 1 else "")
        for i, r in enumerate(requests)
    ]
    frame = records_to_frame(records, predictor.schema)
    proba = predictor.predict_proba(frame)
    reasons = predictor.explain(frame) if args.explain else [None] * len(records)
    unseen = predictor.preprocessor.unseen_categories(frame)
    out = [
        {
            "prediction": int(p >= predictor.threshold),
            "probability": float(p),
            "model_version": predictor.version,
            "threshold": predictor.threshold,
            "unseen_categories": u,
            **({"reasons": r} if r is not None else {}),
        }
        for p, u, r in zip(proba, unseen, reasons, strict=True)
    ]
    _emit_json(out if isinstance(payload, list) else out[0])


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "src.api.main:app",
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level=settings.log_level.lower(),
    )


COMMANDS = {
    "init-db": _init_db,
    "collect": _collect,
    "train": _train,
    "validate": _validate,
    "deploy": _deploy,
    "export": _export,
    "activate": _activate,
    "models": _models,
    "predict": _predict,
    "serve": _serve,
}

if __name__ == "__main__":
    sys.exit(main())
