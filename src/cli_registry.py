"""The registry subcommands of ``loan-default``: runs, deploy, activate, models, export.

They read and change ``loan_data.model_metadata`` through ``src.data.repository`` and the
pipeline's deployment functions, as the Airflow DAGs do.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from config.settings import get_settings
from src.cli_output import console, emit_json


def _runs(args: argparse.Namespace) -> None:
    from src.pipeline.training_runs import list_runs

    rows = list_runs(unfinished_only=args.unfinished)
    if args.json:
        emit_json([r | {"updated_at": r["updated_at"].isoformat()} for r in rows])
        return
    table = Table(title="training runs (newest first)")
    for key in ("run", "source", "stage", "model", "updated", "error"):
        table.add_column(key)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["source"],
            r["stage"],
            r["model_version"] or "-",
            r["updated_at"].strftime("%Y-%m-%d %H:%M"),
            (r["error"] or "")[:80],
        )
    console.print(table)
    if any(r["stage"] != "registered" for r in rows):
        console.print("finish a run with `loan-default train --resume RUN_ID`")


def resolve_line(source: str | None) -> str:
    from src.pipeline.model_lines import resolve_line as resolve

    return resolve(source)


def _deploy(args: argparse.Namespace) -> None:
    from src.pipeline.deployment import deploy

    result = deploy(model_version=args.model_version, source=args.source)
    if result.model_version is None:
        console.print(result.reason, highlight=False)
        return
    verdict = "promoted" if result.promoted else "not promoted"
    if result.reason.startswith("already the champion"):
        verdict = "unchanged"
    console.print(f"{result.model_version}: {verdict} — {result.reason}", highlight=False)
    if result.shadow is not None:  # its live agreement while it was the shadow
        from src.cli_shadow import describe

        for line in describe(result.shadow):
            console.print(line, highlight=False, soft_wrap=True)


def _activate(args: argparse.Namespace) -> None:
    from src.pipeline.deployment import activate

    retired = activate(model_version=args.model_version)
    console.print(f"{args.model_version} is active" + (f"; retired {retired}" if retired else ""))


def _models(args: argparse.Namespace) -> None:
    from src.data import repository as repo
    from src.data.database import session_scope
    from src.models.metrics import METRIC_NAMES

    with session_scope() as session:
        rows = repo.list_models(session, source=args.source)
        data = [_model_row(m) for m in rows]
    if args.json:
        emit_json(data)
        return
    table = Table(title="loan_data.model_metadata — held-out test metrics, default class")
    # A narrow table: accuracy, Brier score and log loss only with --json.
    shown = tuple(n for n in METRIC_NAMES if n not in ("accuracy", "brier_score", "log_loss"))
    # "bench auc": the logistic-regression benchmark's ROC-AUC on the same test rows.
    columns = ("version", "status", "active", "rows", *shown, "bench auc", "threshold")
    for col in (*columns, "created (UTC)"):
        table.add_column(col, no_wrap=True)
    for d in data:
        bench = (d["benchmark_metrics"] or {}).get("roc_auc")
        table.add_row(
            d["model_version"],
            d["status"],
            "*" if d["is_active"] else "",
            str(d["data_snapshot"].get("row_count", "")),
            *("—" if d[k] is None else f"{d[k]:.3f}" for k in shown),
            "—" if bench is None else f"{bench:.3f}",
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
    from src.pipeline.serving import predictor_for

    line = None if args.model_version else resolve_line(args.source)
    with session_scope() as session:
        model = (
            repo.get_model(session, version=args.model_version)
            if args.model_version
            else repo.get_active_model(session, source=line or "")
        )
        if model is None:
            raise ModelNotFoundError(
                f"model line {line!r} has no active model; name a version to export"
            )
        predictor_for(model)  # never export bytes that fail verification
        version, artifact, digest = model.model_version, model.artifact, model.artifact_sha256
    directory = get_settings().model_path
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        from src.exceptions import ConfigurationError

        raise ConfigurationError(
            f"MODEL_PATH={directory}: expected a directory (or a path where one can be "
            "created), but it or one of its parents is a file"
        ) from None
    path = directory / f"{version}.safetensors"
    path.write_bytes(artifact)
    console.print(f"{path}  sha256 {digest}", highlight=False)


def _model_row(model: Any) -> dict[str, Any]:
    from src.models.metrics import METRIC_NAMES

    keys = (
        "model_version",
        "status",
        "is_active",
        "source",
        "data_snapshot",
        *METRIC_NAMES,
        "benchmark_metrics",
        "threshold",
        "status_reason",
        "artifact_sha256",
    )
    row = {k: getattr(model, k) for k in keys}
    row["created_at"] = model.created_at.isoformat()
    return row


REGISTRY_COMMANDS = {
    "runs": _runs,
    "deploy": _deploy,
    "activate": _activate,
    "models": _models,
    "export": _export,
}
