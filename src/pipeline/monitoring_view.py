"""The latest monitoring state of a model as plain data: what ``GET /monitoring``,
``loan-default monitor`` and the Prometheus gauges show.

Read-only: it reports the rows the last monitoring run wrote (``drift_metrics``) and the
newest performance row of each kind (realised / estimated, live / collected).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from src.data import monitoring_repository as mon
from src.data.monitoring_tables import SCORE
from src.data.tables import DriftMetric, ModelPerformance

VIEW_METRICS = ("f1_score", "precision", "recall", "accuracy", "roc_auc", "ks", "ece")


def monitoring_snapshot(session: Session, *, model_version: str) -> dict[str, Any]:
    """``{"model_version", "drift": {...}, "performance": [...]}`` for one model."""
    drift_rows = mon.latest_drift(session, model_version=model_version)
    performance = mon.latest_performance(session, model_version=model_version)
    return {
        "model_version": model_version,
        "drift": _drift(drift_rows),
        "performance": [_performance(row) for row in performance],
    }


def _drift(rows: Any) -> dict[str, Any] | None:
    if not rows:
        return None
    first: DriftMetric = rows[0]
    populations: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = populations.setdefault(
            row.population, {"n_current": row.n_current, "score": None, "features": []}
        )
        item = {
            "feature": row.feature,
            "psi": _number(row.psi),
            "psi_null_p99": _number(row.psi_null_p99),
            "status": row.status,
            "n_reference": row.n_reference,
            "n_current": row.n_current,
        }
        if row.feature == SCORE:
            entry["score"] = item
        else:
            entry["features"].append(item)
    return {
        "monitoring_run": first.monitoring_run,
        "computed_at": first.computed_at.isoformat(),
        "window_start": first.window_start.isoformat() if first.window_start else None,
        "window_end": first.window_end.isoformat() if first.window_end else None,
        "populations": populations,
    }


def _performance(row: ModelPerformance) -> dict[str, Any]:
    details = row.details or {}
    return {
        "population": row.population,
        "estimated": row.estimated,
        "evaluated_at": row.evaluated_at.isoformat(),
        "window_start": row.window_start.isoformat() if row.window_start else None,
        "window_end": row.window_end.isoformat() if row.window_end else None,
        "n_samples": row.n_samples,
        "missing_outcomes": row.missing_outcomes,
        "metrics": {k: _number(getattr(row, k)) for k in VIEW_METRICS},
        "f1_se": _number(row.f1_se),
        "gap_to_estimate": details.get("gap"),
        "retrain": row.retrain if row.population == "collected" else None,
        "reason": row.reason,
    }


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
