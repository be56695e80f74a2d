"""Machinery behind the training stages: loading a run, persisting its output, splits.

Kept apart from ``src.pipeline.training`` so that module reads as the list of stages.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from sqlalchemy import select

from src.data.database import session_scope
from src.data.frames import LabelledFrame, load_frame
from src.data.tables import TrainingRun
from src.exceptions import LoanDefaultError
from src.models.artifact import ModelBundle, load_bundle, serialize_bundle, sha256_hex
from src.models.device import resolve_device
from src.models.training_config import TrainingConfig
from src.pipeline.splits import Splits, make_splits

logger = logging.getLogger(__name__)

STAGES = ("prepared", "pretrained", "finetuned", "evaluated", "registered")
# The evaluate stage stores the benchmark's figures in the run's metrics under this prefix.
BENCHMARK_PREFIX = "benchmark_"


@dataclass(frozen=True)
class StageOutput:
    """What a stage hands back to be stored on its run: the model state, test metrics, or both.

    Typed rather than a dict, so a misspelt key cannot silently store nothing.
    """

    bundle: ModelBundle | None = None
    metrics: dict[str, float] | None = None


def run_stage(
    run_id: int,
    *,
    needs: str,
    produces: str,
    work: Callable[[TrainingRun, Splits, TrainingConfig], StageOutput],
) -> int:
    """Run one stage of a training run: skip it if done, else load, work, persist.

    A failure records its cause in ``error`` but leaves ``stage`` at the last completed
    stage (there is no ``failed`` stage), so a retry or ``train --resume`` redoes this one.
    Also applies the run's ``torch_num_threads``: a stage is an entry point (a DAG task, the
    CLI), and the thread count is process-wide state the pure training code must not set.
    Its ``device`` is resolved (and logged) here, before any data is loaded, so DEVICE=cuda on
    a worker without CUDA fails at once; the training code resolves the same value itself.
    """
    with session_scope() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise LoanDefaultError(f"training run {run_id} does not exist")
        if run.stage in STAGES and STAGES.index(run.stage) >= STAGES.index(produces):
            logger.info("run %d already %s; nothing to do", run_id, run.stage)
            return run_id
        require_stage(run, needs)
    # Load data with the run's session closed: on SQLite a second open writer would wait on it.
    config = TrainingConfig.from_dict(run.config)
    device = resolve_device(config.device)
    logger.info(
        "run %d: %s -> %s on %s (DEVICE=%s)", run_id, needs, produces, device, config.device
    )
    frame = load_frame(source=run.source, max_raw_id=run.data_snapshot["max_raw_id"])
    splits = splits_for(frame, source=run.source, snapshot=run.data_snapshot, seed=config.seed)
    torch.set_num_threads(config.torch_num_threads)
    try:
        output = work(run, splits, config)
    except Exception as exc:
        with session_scope() as session:
            failed = session.get(TrainingRun, run_id)
            assert failed is not None
            failed.error = f"{produces} stage failed: {exc}"[:2000]
        raise
    with session_scope() as session:
        stored = session.get(TrainingRun, run_id)
        assert stored is not None
        if output.bundle is not None:
            stored.state = serialize_bundle(output.bundle)
            stored.state_sha256 = sha256_hex(stored.state)
        if output.metrics is not None:
            stored.metrics = output.metrics
        stored.stage, stored.error = produces, None
    logger.info("run %d: %s", run_id, produces)
    return run_id


def list_runs(*, unfinished_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """Newest runs first, as plain rows (no state bytes), for ``loan-default runs``."""
    columns = (
        TrainingRun.id,
        TrainingRun.source,
        TrainingRun.stage,
        TrainingRun.model_version,
        TrainingRun.error,
        TrainingRun.updated_at,
    )
    query = select(*columns).order_by(TrainingRun.id.desc()).limit(limit)
    if unfinished_only:
        query = query.where(TrainingRun.stage != "registered")
    with session_scope() as session:
        return [dict(row._mapping) for row in session.execute(query)]


def require_stage(run: TrainingRun, needed: str) -> None:
    if run.stage != needed:
        raise LoanDefaultError(
            f"training run {run.id} is at stage {run.stage!r}; this step needs {needed!r}"
        )


def load_state(run: TrainingRun) -> ModelBundle:
    if run.state is None or run.state_sha256 is None:
        raise LoanDefaultError(f"training run {run.id} has no stored model state")
    return load_bundle(run.state, expected_sha256=run.state_sha256)


def splits_for(frame: LabelledFrame, *, source: str, snapshot: dict[str, Any], seed: int) -> Splits:
    return make_splits(
        frame,
        source=source,
        test_fraction=snapshot["test_fraction"],
        validation_fraction=snapshot["validation_fraction"],
        seed=seed,
    )


def data_hash(frame: LabelledFrame) -> str:
    """Fingerprint of exactly which rows (and labels) a model was trained on."""
    digest = hashlib.sha256()
    for key, label in zip(frame.row_keys, frame.labels.tolist(), strict=True):
        digest.update(f"{key}\x1f{label}\x1e".encode())
    return digest.hexdigest()


def benchmark_of(metrics: dict[str, Any]) -> dict[str, float] | None:
    """The benchmark's figures from a run's stored metrics, prefix removed.

    None for a run evaluated before benchmarks were recorded (resumed at registration): its
    model is registered without one rather than refitted on a stage that already ran.
    """
    found = {
        key.removeprefix(BENCHMARK_PREFIX): float(value)
        for key, value in metrics.items()
        if key.startswith(BENCHMARK_PREFIX)
    }
    return found or None


def benchmark_verdict(*, roc_auc: float, benchmark: Mapping[str, Any] | None) -> tuple[bool, str]:
    """(passes, reason) of the ``REQUIRE_BEAT_BENCHMARK`` rule for one model.

    The model must beat its own benchmark strictly: a tie means the TabTransformer adds
    nothing a logistic regression does not.  Both figures are on the model's test rows
    (``src.models.baselines``), so no rescoring is needed.  A model registered before
    benchmarks were recorded has none; it passes, and the reason says so.
    """
    if not benchmark or "roc_auc" not in benchmark:
        return True, (
            "benchmark rule not applied: no benchmark recorded for this model "
            "(registered before benchmarks were)"
        )
    bench = float(benchmark["roc_auc"])
    comparison = (
        f"test roc_auc {roc_auc:.4f} vs its logistic-regression benchmark {bench:.4f} "
        "on the same test rows"
    )
    if math.isfinite(roc_auc) and math.isfinite(bench) and roc_auc > bench:
        return True, f"beat its benchmark: {comparison}"
    return False, f"did not beat its benchmark (REQUIRE_BEAT_BENCHMARK): {comparison}"
