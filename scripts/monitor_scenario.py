"""The monitoring scenario, end to end over HTTP: `make monitor-demo` and its e2e test.

Given a database with lending_club collected and a model trained, and the API serving it:

1. send held-out applicants as they are, each with an ``application_id``, and monitor:
   the score PSI stays small and no feature leaves "stable";
2. send more held-out applicants with ``int_rate`` raised by 5 points and ``annual_inc``
   halved, and validate over them: those features are flagged "act", the score's PSI rises,
   and the decision is to retrain, naming the rules that fired;
3. record the true outcomes of the first batch with ``loan-default outcomes`` and monitor
   again: the realised metrics of those applicants appear in ``model_performance``, joined
   by ``application_id``, beside the CBPE estimate made before any outcome was known.

Run with ``OUTCOME_WINDOW_DAYS=0``: here outcomes arrive minutes after the predictions, not
a year later, so every prediction counts as matured.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from config.settings import get_settings
from src.data.database import session_scope
from src.data.frames import is_test_row
from src.data.tables import (
    CHAMPION,
    DriftMetric,
    ModelPerformance,
    Prediction,
    ProcessedData,
    RawData,
)
from src.pipeline.monitoring import MonitoringResult, monitor
from src.pipeline.validation import ValidationDecision, validate

SOURCE = "lending_club"
SHIFT = {"int_rate": ("+", 5.0), "annual_inc": ("*", 0.5)}
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applicant:
    application_id: str
    categorical: dict[str, Any]
    numerical: dict[str, Any]
    label: int  # the true outcome, 1 = default

    def request(self, *, shifted: bool = False) -> dict[str, Any]:
        numerical = dict(self.numerical)
        if shifted:
            for name, (op, amount) in SHIFT.items():
                if numerical.get(name) is not None:
                    value = float(numerical[name])
                    numerical[name] = value + amount if op == "+" else value * amount
        return {
            "application_id": self.application_id,
            "categorical_features": self.categorical,
            "numerical_features": numerical,
        }


@dataclass(frozen=True)
class ScenarioResult:
    stable: MonitoringResult
    stable_drift: list[DriftMetric]
    stable_estimate: ModelPerformance
    shifted: ValidationDecision
    shifted_drift: list[DriftMetric]
    after_outcomes: MonitoringResult
    realised: ModelPerformance
    outcomes_output: str
    n_shifted: int


def held_out_applicants(*, schema: Any, test_fraction: float) -> list[Applicant]:
    """The source's held-out test rows (no model trained on them), in a stable order."""
    with session_scope() as session:
        rows = session.execute(
            select(RawData.row_key, ProcessedData.features, ProcessedData.label)
            .join(ProcessedData, ProcessedData.raw_id == RawData.id)
            .where(RawData.source == SOURCE)
            .order_by(RawData.id)
        ).all()
    return [
        Applicant(
            application_id=f"app-{key}",
            categorical={c: features.get(c) for c in schema["categorical"]},
            numerical={n: features.get(n) for n in schema["numerical"]},
            label=int(label),
        )
        for key, features, label in rows
        if is_test_row(SOURCE, key, test_fraction=test_fraction)
    ]


def send(client: httpx.Client, applicants: list[Applicant], *, shifted: bool) -> int:
    """POST in batches of at most 500; returns how many predictions were answered."""
    answered = 0
    for start in range(0, len(applicants), 500):
        chunk = applicants[start : start + 500]
        body = {"records": [a.request(shifted=shifted) for a in chunk]}
        response = client.post("/predict/batch", json=body)
        response.raise_for_status()
        answered += len(response.json()["predictions"])
    return answered


def wait_for_log(expected: int, *, timeout: float = 60.0) -> None:
    """The API writes its prediction log in the background: wait until it has landed."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            logged = session.scalar(select(func.count()).where(Prediction.role == CHAMPION)) or 0
        if logged >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if logged < expected:
        raise RuntimeError(f"only {logged} of {expected} predictions were logged")


def write_outcomes(path: Path, applicants: list[Applicant]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["application_id", "Class"])
        for a in applicants:
            writer.writerow([a.application_id, "bad" if a.label else "good"])


def record_outcomes(path: Path) -> str:
    """``loan-default outcomes`` as a user runs it (same DATABASE_URL, a subprocess)."""
    command = [sys.executable, "-m", "src.cli", "outcomes", "--source", str(path)]
    command += ["--id-column", "application_id", "--target", "Class", "--positive", "bad"]
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        command, capture_output=True, text=True, env=os.environ, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"loan-default outcomes failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_scenario(
    *, base_url: str, workdir: Path, console: Console, first_batch: int = 600
) -> ScenarioResult:
    settings = get_settings()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        schema = client.get("/model").raise_for_status().json()["feature_schema"]
        applicants = held_out_applicants(schema=schema, test_fraction=settings.test_fraction)
        first, second = applicants[:first_batch], applicants[first_batch:]
        console.rule(f"1. {len(first)} held-out applicants, as they are")
        logged = send(client, first, shifted=False)
        wait_for_log(logged)
        stable = monitor(source=SOURCE)
        stable_drift = _drift_rows(stable.monitoring_run)
        show_drift(console, stable_drift)
        stable_estimate = _performance(stable.monitoring_run, estimated=True)

        console.rule(f"2. {len(second)} applicants with int_rate +5 points, annual_inc halved")
        # The shifted applicants are measured on their own ("since the campaign started");
        # over the whole window they would be mixed with the first batch.
        since = dt.datetime.now(dt.UTC)
        logged += send(client, second, shifted=True)
        wait_for_log(logged)
        shifted = validate(source=SOURCE, since=since)
        shifted_drift = _drift_rows(shifted.monitoring_run or "")
        show_drift(console, shifted_drift)
        show_rules(console, shifted)

    console.rule("3. the true outcomes of the first batch arrive: loan-default outcomes")
    path = workdir / "outcomes_batch1.csv"
    write_outcomes(path, first)
    outcomes_output = record_outcomes(path)
    console.print(outcomes_output.strip(), highlight=False)
    after = monitor(source=SOURCE)
    realised = _performance(after.monitoring_run, estimated=False)
    show_performance(console, estimate=stable_estimate, realised=realised)
    return ScenarioResult(
        stable=stable,
        stable_drift=stable_drift,
        stable_estimate=stable_estimate,
        shifted=shifted,
        shifted_drift=shifted_drift,
        after_outcomes=after,
        realised=realised,
        outcomes_output=outcomes_output,
        n_shifted=len(second),
    )


def _drift_rows(run: str) -> list[DriftMetric]:
    with session_scope() as session:
        stmt = select(DriftMetric).where(
            DriftMetric.monitoring_run == run, DriftMetric.population == "live"
        )
        return list(session.scalars(stmt.order_by(DriftMetric.id)).all())


def _performance(run: str, *, estimated: bool) -> ModelPerformance:
    with session_scope() as session:
        stmt = select(ModelPerformance).where(
            ModelPerformance.monitoring_run == run,
            ModelPerformance.population == "live",
            ModelPerformance.estimated.is_(estimated),
        )
        row = session.scalars(stmt).one_or_none()
    if row is None:
        kind = "estimated" if estimated else "realised"
        raise RuntimeError(f"monitoring run {run} wrote no {kind} live performance row")
    return row


def show_drift(console: Console, rows: list[DriftMetric]) -> None:
    table = Table(title="live drift (PSI of the score, CSI per feature)")
    for column in ("feature", "psi", "no-change p99", "n current", "status"):
        table.add_column(column, justify="right" if column != "feature" else "left")
    for row in rows:
        table.add_row(
            row.feature, f"{row.psi:.3f}", f"{row.psi_null_p99:.3f}", str(row.n_current), row.status
        )
    console.print(table)


def show_rules(console: Console, decision: ValidationDecision) -> None:
    table = Table(title=f"retraining decision: {'RETRAIN' if decision.retrain else 'keep'}")
    for column in ("rule", "fired", "value", "threshold"):
        table.add_column(column)
    for rule in decision.rules:
        value, threshold = rule["value"], rule["threshold"]
        table.add_row(
            rule["name"],
            "yes" if rule["fired"] else "",
            "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value),
            "" if threshold is None else f"{threshold:g}",
        )
    console.print(table)
    console.print(f"reason: {decision.reason}", highlight=False)


def show_performance(
    console: Console, *, estimate: ModelPerformance, realised: ModelPerformance
) -> None:
    se = realised.f1_se or 0.0
    table = Table(title="first batch: CBPE estimate (before outcomes) vs realised")
    for column in ("", "n", "F1", "precision", "recall", "ROC-AUC"):
        table.add_column(column, justify="right")
    for name, row in (("estimated", estimate), ("realised", realised)):
        table.add_row(
            name,
            str(row.n_samples),
            *(_fmt(getattr(row, k)) for k in ("f1_score", "precision", "recall", "roc_auc")),
        )
    console.print(table)
    console.print(
        f"realised F1 {_fmt(realised.f1_score)} ± 3 SE = ± {3 * se:.3f}; "
        f"estimate {_fmt(estimate.f1_score)}; {realised.missing_outcomes} matured without outcome",
        highlight=False,
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--workdir", type=Path, default=Path("data/monitor_demo"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    console = Console(width=None if sys.stdout.isatty() else 120)
    run_scenario(base_url=args.base_url, workdir=args.workdir, console=console)


if __name__ == "__main__":
    main()
