"""Training as resumable stages: prepare -> pretrain -> finetune -> evaluate -> register.

Each stage loads its input from ``loan_data.training_runs``, does its work and
stores its output there, so an Airflow retry resumes at the stage that failed
and a killed run never leaves a half-registered model (registration is one
transaction at the very end).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.processing import get_source_schema, load_frame
from src.data.tables import TrainingRun
from src.exceptions import LoanDefaultError, NoDataError
from src.models.artifact import serialize_bundle
from src.models.baselines import benchmark_metrics
from src.models.device import resolve_device
from src.models.fitting import finetune_bundle, pretrain_bundle
from src.models.metrics import METRIC_NAMES, classification_metrics
from src.models.training import predict_proba
from src.models.training_config import TrainingConfig
from src.pipeline.drift_profiles import profile_for_run
from src.pipeline.model_lines import resolve_line
from src.pipeline.pretrain_pool import pool_for_run, pool_snapshot
from src.pipeline.splits import Splits
from src.pipeline.training_presets import resolve_training_config
from src.pipeline.training_runs import (
    BENCHMARK_PREFIX,
    StageOutput,
    benchmark_of,
    benchmark_verdict,
    data_hash,
    load_state,
    require_stage,
    run_stage,
    splits_for,
)

logger = logging.getLogger(__name__)

UNCALIBRATED_SHOWN = ("roc_auc", "brier_score", "log_loss", "ece")


@dataclass(frozen=True)
class TrainResult:
    run_id: int
    model_version: str
    metrics: dict[str, float]
    threshold: float
    activated: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_version": self.model_version,
            "metrics": self.metrics,
            "threshold": self.threshold,
            "activated": self.activated,
        }


def prepare_training(*, source: str | None = None) -> int:
    """Freeze the data snapshot and config for a new run; returns the run id.

    The config follows ``TRAINING_PRESET`` (``src.pipeline.training_presets``): the source's
    tuned configuration when one is stored, unless the environment sets a hyperparameter.
    """
    settings = get_settings()
    source = resolve_line(source)
    frame = load_frame(source=source)
    if len(frame.labels) == 0:
        raise NoDataError(f"no processed rows for source {source!r}; run `loan-default collect`")
    resolved = resolve_training_config(settings, source=source)
    config = resolved.config
    snapshot = {
        "row_count": len(frame.labels),
        "positive_count": int(frame.labels.sum()),
        "min_raw_id": int(frame.raw_ids.min()),
        "max_raw_id": int(frame.raw_ids.max()),
        "data_hash": data_hash(frame),
        "test_fraction": settings.test_fraction,
        "validation_fraction": settings.validation_fraction,
    }
    snapshot |= splits_for(frame, source=source, snapshot=snapshot, seed=config.seed).sizes()
    snapshot |= pool_snapshot(source, frame=frame, snapshot=snapshot, settings=settings)
    with session_scope() as session:
        run = TrainingRun(
            source=source, stage="prepared", config=resolved.recorded(), data_snapshot=snapshot
        )
        session.add(run)
        session.flush()
        run_id = run.id
    logger.info("training run %d prepared on %s: %s", run_id, source, snapshot)
    return run_id


def pretrain_stage(*, run_id: int, progress: bool = True) -> int:
    """Fit preprocessing on the training split plus the pretraining pool; run NT-Xent.

    The pool (``src.pipeline.pretrain_pool``: unlabelled applications, optionally logged
    applicants, never test-split rows) joins the training split here and only here: the
    later stages read the labelled splits alone.
    """

    def work(run: TrainingRun, splits: Splits, config: TrainingConfig) -> StageOutput:
        train = splits.train
        pool = pool_for_run(
            run_id=run.id, source=run.source, splits=splits, snapshot=run.data_snapshot
        )
        features = pd.concat([train.features, pool], ignore_index=True)
        bundle = pretrain_bundle(features, schema=train.schema, config=config, progress=progress)
        return StageOutput(bundle=bundle)

    return run_stage(run_id, needs="prepared", produces="pretrained", work=work)


def finetune_stage(*, run_id: int, progress: bool = True) -> int:
    """Fine-tune with a classification head; pick the F1-maximising threshold on validation."""

    def work(run: TrainingRun, splits: Splits, config: TrainingConfig) -> StageOutput:
        bundle = finetune_bundle(
            load_state(run), train=splits.train, valid=splits.valid, progress=progress
        )
        return StageOutput(bundle=bundle)

    return run_stage(run_id, needs="pretrained", produces="finetuned", work=work)


def evaluate_stage(*, run_id: int) -> int:
    """Score the held-out test split: preprocessing, early stopping and threshold never saw it.

    Also fits the benchmark (``src.models.baselines``) on the model's own training rows, with
    validation in the same roles (model selection, F1 threshold), and scores it on the same
    test rows with the same metric function: recorded beside the model, never served.
    """

    def work(run: TrainingRun, splits: Splits, config: TrainingConfig) -> StageOutput:
        bundle = load_state(run)
        x_cat, x_num = bundle.preprocessor.transform(splits.test.features)
        model = bundle.model.to(resolve_device(config.device))  # run_stage logged the device
        raw = predict_proba(model, x_cat, x_num)  # CPU probabilities
        labels = splits.test.labels
        metrics = classification_metrics(
            labels, bundle.calibrator.apply(raw), threshold=bundle.threshold
        )
        # The raw (class-weighted) score's threshold-free figures, kept beside the
        # calibrated ones so the run shows what calibration changed.
        uncalibrated = classification_metrics(labels, raw, threshold=0.5)
        before = {f"uncalibrated_{k}": uncalibrated[k] for k in UNCALIBRATED_SHOWN}
        logger.info(
            "run %d test metrics (positive class = default, %s-calibrated): %s; before "
            "calibration: %s",
            run_id,
            bundle.calibrator.method,
            metrics,
            before,
        )
        benchmark = benchmark_metrics(train=splits.train, valid=splits.valid, test=splits.test)
        logger.info("run %d benchmark (logistic regression) test metrics: %s", run_id, benchmark)
        stored = {f"{BENCHMARK_PREFIX}{k}": v for k, v in benchmark.items()}
        return StageOutput(metrics=metrics | before | stored)

    return run_stage(run_id, needs="finetuned", produces="evaluated", work=work)


def register_stage(*, run_id: int) -> str:
    """Register the run's model as a candidate (active at once if its line has no champion)."""
    engine = get_engine()
    with session_scope(engine) as session:
        source = session.scalar(select(TrainingRun.source).where(TrainingRun.id == run_id))
    if source is None:
        raise LoanDefaultError(f"training run {run_id} does not exist")
    schema = get_source_schema(source=source)
    profile = profile_for_run(run_id=run_id)
    for attempt in range(1, _REGISTER_ATTEMPTS + 1):
        try:
            version = _register_once(engine, run_id=run_id, schema=schema, profile=profile)
            break
        except IntegrityError as exc:  # a concurrent registration took the version (SQLite)
            if attempt == _REGISTER_ATTEMPTS:
                raise LoanDefaultError(
                    f"could not allocate a model version for run {run_id} after "
                    f"{attempt} attempts: {exc.orig}"
                ) from exc
            logger.warning("version taken by a concurrent registration; retrying (%d)", attempt)
    with session_scope(engine) as session:
        has_active = repo.get_active_version(session, source=source) is not None
        model = repo.get_model(session, version=version, with_artifact=False)
        beats, verdict = benchmark_verdict(roc_auc=model.roc_auc, benchmark=model.benchmark_metrics)
    if has_active:
        return version
    if get_settings().require_beat_benchmark and not beats:
        # The rule holds for a line's first model too: no champion beats one that loses to
        # its own logistic regression.  It stays a candidate; `deploy` will reject it.
        logger.warning("%s not activated although line %r has none: %s", version, source, verdict)
        return version
    repo.activate_model(
        engine, version=version, reason=f"first model of line {source!r}: none was active"
    )
    return version


_REGISTER_ATTEMPTS = 5


def _register_once(engine: Any, *, run_id: int, schema: Any, profile: dict[str, Any] | None) -> str:
    with session_scope(engine) as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        if run.stage == "registered" and run.model_version:
            return run.model_version
        require_stage(run, "evaluated")
        if profile is None:  # registered by another process since profile_for_run looked
            raise LoanDefaultError(f"training run {run_id} has no drift profile to register")
        bundle = load_state(run)
        bundle.preprocessor.check_finite()  # a run resumed from older state: never register NaN
        metrics = run.metrics or {}
        row = repo.register_model(
            session,
            run=run,
            feature_schema=schema.to_dict(),
            threshold=bundle.threshold,
            metrics={name: float(metrics[name]) for name in METRIC_NAMES},
            benchmark_metrics=benchmark_of(metrics),
            build_artifact=lambda version: serialize_bundle(
                replace(bundle, metadata=bundle.metadata | {"model_version": version})
            ),
            profile=profile,
        )
        run.stage, run.model_version, run.state = "registered", row.model_version, None
        version = row.model_version
    logger.info("registered %s from run %d", version, run_id)
    return version


def train(*, source: str | None = None, progress: bool = True) -> TrainResult:
    """All stages in one process (the CLI path); the DAG runs them as separate tasks."""
    return resume(run_id=prepare_training(source=source), progress=progress)


def resume(*, run_id: int, progress: bool = True) -> TrainResult:
    """Run the stages a run still lacks; each stage skips itself when already done.

    This is how a run interrupted anywhere (a killed worker, a lost registration race)
    is finished from the CLI: ``loan-default train --resume RUN_ID``.
    """
    pretrain_stage(run_id=run_id, progress=progress)
    finetune_stage(run_id=run_id, progress=progress)
    evaluate_stage(run_id=run_id)
    version = register_stage(run_id=run_id)
    with session_scope() as session:
        model = repo.get_model(session, version=version, with_artifact=False)
        metrics = {k: getattr(model, k) for k in METRIC_NAMES}
        return TrainResult(
            run_id=run_id,
            model_version=version,
            metrics=metrics,
            threshold=model.threshold,
            activated=model.is_active,
        )
