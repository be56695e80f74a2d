"""``loan-default monitor`` and ``loan-default validate``: drift, live performance, the decision."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from rich.table import Table

from src.cli_output import console, emit_json

# validate's flags -> RetrainingPolicy fields (each overrides the setting of the same name).
THRESHOLD_FLAGS = {
    "--f1-threshold": ("f1_threshold", float, "F1_SCORE_THRESHOLD"),
    "--sample-threshold": ("sample_threshold", int, "RETRAINING_SAMPLE_THRESHOLD"),
    "--performance-drop-ratio": ("performance_drop_ratio", float, "PERFORMANCE_DROP_RATIO"),
    "--psi-investigate-threshold": (
        "psi_investigate_threshold",
        float,
        "PSI_INVESTIGATE_THRESHOLD",
    ),
    "--psi-act-threshold": ("psi_act_threshold", float, "PSI_ACT_THRESHOLD"),
    "--drift-act-features-threshold": (
        "drift_act_features_threshold",
        int,
        "DRIFT_ACT_FEATURES_THRESHOLD",
    ),
}


def add_parsers(sub: Any) -> None:
    monitor = sub.add_parser(
        "monitor", help="measure drift and live performance (realised and estimated)"
    )
    monitor.add_argument("--source", help="model line (default: DATA_SOURCE or the only one)")
    monitor.add_argument("--drift-window-days", type=int, help="override DRIFT_WINDOW_DAYS")
    monitor.add_argument("--outcome-window-days", type=int, help="override OUTCOME_WINDOW_DAYS")
    monitor.add_argument(
        "--since",
        type=_timestamp,
        help="measure live predictions made since this UTC time (ISO 8601), not the window",
    )
    monitor.add_argument("--json", action="store_true", help="print the result as JSON")

    validate = sub.add_parser(
        "validate", help="monitor, score the active model on new rows, decide on retraining"
    )
    validate.add_argument("--source")
    validate.add_argument(
        "--since", type=_timestamp, help="monitor live predictions made since this UTC time"
    )
    for flag, (dest, kind, setting) in THRESHOLD_FLAGS.items():
        validate.add_argument(flag, dest=dest, type=kind, help=f"override {setting}")
    validate.add_argument("--json", action="store_true", help="print the decision as JSON")


def _monitor(args: argparse.Namespace) -> None:
    from src.data.database import session_scope
    from src.pipeline.monitoring import monitor
    from src.pipeline.monitoring_view import monitoring_snapshot

    result = monitor(
        source=args.source,
        drift_window_days=args.drift_window_days,
        outcome_window_days=args.outcome_window_days,
        since=args.since,
    )
    snapshot = None
    if result.model_version is not None:
        with session_scope() as session:
            snapshot = monitoring_snapshot(session, model_version=result.model_version)
    if args.json:
        emit_json(
            {"monitoring_run": result.monitoring_run, "notes": result.notes, **(snapshot or {})}
        )
        return
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    if snapshot is not None:
        show_snapshot(snapshot)


def show_snapshot(snapshot: dict[str, Any]) -> None:
    drift = snapshot.get("drift")
    if drift:
        for population, entry in drift["populations"].items():
            table = Table(
                title=f"{snapshot['model_version']} drift, {population} ({entry['n_current']} rows)"
            )
            for column in ("feature", "psi", "no-change p99", "status"):
                table.add_column(column, justify="left" if column == "feature" else "right")
            items = ([entry["score"]] if entry["score"] else []) + entry["features"]
            for item in items:
                table.add_row(
                    item["feature"],
                    _fmt(item["psi"]),
                    _fmt(item["psi_null_p99"]),
                    item["status"],
                )
            console.print(table)
    table = Table(title=f"{snapshot['model_version']} performance (default class)")
    for column in ("population", "kind", "n", "missing", "F1", "±SE", "ROC-AUC", "ECE"):
        table.add_column(column, justify="right")
    for row in snapshot.get("performance", []):
        metrics = row["metrics"]
        table.add_row(
            row["population"],
            "estimated" if row["estimated"] else "realised",
            str(row["n_samples"]),
            str(row["missing_outcomes"]),
            _fmt(metrics.get("f1_score")),
            _fmt(row["f1_se"]),
            _fmt(metrics.get("roc_auc")),
            _fmt(metrics.get("ece")),
        )
    console.print(table)


def _validate(args: argparse.Namespace) -> None:
    from src.pipeline.validation import validate

    thresholds = {dest: getattr(args, dest) for dest, _, _ in THRESHOLD_FLAGS.values()}
    decision = validate(source=args.source, since=args.since, **thresholds)
    if args.json:
        emit_json(decision.as_dict())
        return
    if decision.metrics:
        shown = ", ".join(
            f"{k}={decision.metrics[k]:.4f}" for k in ("f1_score", "roc_auc", "ks", "ece")
        )
        console.print(
            f"{decision.model_version} on {decision.n_samples} new labelled rows "
            f"(positive class = default): {shown}",
            highlight=False,
        )
    table = Table(title="retraining rules")
    for column in ("rule", "fired", "value", "threshold"):
        table.add_column(column)
    for rule in decision.rules:
        table.add_row(
            rule["name"],
            "yes" if rule["fired"] else "",
            _fmt(rule["value"]),
            _fmt(rule["threshold"]),
        )
    console.print(table)
    verdict = "RETRAIN" if decision.retrain else "no retraining"
    console.print(f"decision: {verdict} — {decision.reason}", highlight=False)


def _timestamp(text: str) -> dt.datetime:
    """ISO 8601; a time without a zone is UTC (what the database stores)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2026-12-01T08:00, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


MONITORING_COMMANDS = {"monitor": _monitor, "validate": _validate}
