"""``loan-default tune``: an Optuna search of the TabTransformer's hyperparameters.

Why it is built this way:

* It judges trials on the **validation split only** (``src.pipeline.splits.tuning_splits``
  never hands over the test rows): the test split stays what it is everywhere else, an
  unbiased judge of the model later trained with the chosen configuration.  The train and
  validation rows are exactly those a ``train`` run of the same data and seed uses.
* TPE (seeded: the same data, seed and trial count propose the same trials) with a
  ``MedianPruner`` on per-epoch validation ROC-AUC during fine-tuning, so a clearly worse
  trial stops after a few epochs instead of costing a full run.
* Trial 0 is always the current Settings configuration: the search's best is never worse on
  validation than what training would use without it, and the log shows the gain over it.
* Trials run a shortened schedule (``TrialSchedule``) to fit the budget; the stored result
  holds only the searched hyperparameters, never the schedule.
* The result is appended to ``loan_data.tuned_configs``; ``train`` picks it up through
  ``TRAINING_PRESET`` (``src.pipeline.training_presets``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

from config.settings import get_settings
from src.data.database import session_scope
from src.data.frames import LabelledFrame, load_frame
from src.data.tuning_repository import store_tuned_config
from src.exceptions import ConfigurationError, LoanDefaultError, NoDataError
from src.models.fitting import finetune_bundle, pretrain_bundle
from src.models.training_config import TrainingConfig
from src.pipeline.model_lines import resolve_line
from src.pipeline.splits import tuning_splits
from src.pipeline.training_runs import data_hash
from src.pipeline.tuning_space import SEARCH_SPACE_VERSION, in_space, suggest

logger = logging.getLogger(__name__)

# The pruner judges a trial only after this many fine-tuning epochs (early AUC is noisy) and
# only once this many trials have completed (a median of fewer says little).
PRUNER_WARMUP_EPOCHS = 3
PRUNER_STARTUP_TRIALS = 3


@dataclass(frozen=True)
class TrialSchedule:
    """The shortened schedule every trial runs (the production schedule is not searched)."""

    pretrain_epochs: int = 3
    finetune_epochs: int = 15
    patience: int = 4


@dataclass(frozen=True)
class TuneResult:
    tuned_config_id: int
    source: str
    config: dict[str, Any]
    best_valid_roc_auc: float
    baseline_valid_roc_auc: float | None  # trial 0: the Settings configuration
    n_trials: int
    n_pruned: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tune(
    *,
    trials: int,
    source: str | None = None,
    timeout: float | None = None,
    schedule: TrialSchedule | None = None,
    seed: int | None = None,
) -> TuneResult:
    """Search ``trials`` configurations (or until ``timeout`` seconds), store the best."""
    import optuna

    if trials < 1:
        raise ConfigurationError(f"--trials must be at least 1, got {trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigurationError(f"--timeout must be positive, got {timeout}")
    schedule = schedule or TrialSchedule()
    settings = get_settings()
    source = resolve_line(source)
    frame = load_frame(source=source)
    if len(frame.labels) == 0:
        raise NoDataError(f"no processed rows for source {source!r}; run `loan-default collect`")
    base = dataclasses.replace(
        TrainingConfig.from_settings(settings), **dataclasses.asdict(schedule)
    )
    train, valid = tuning_splits(
        frame,
        source=source,
        test_fraction=settings.test_fraction,
        validation_fraction=settings.validation_fraction,
        seed=base.seed,
    )
    torch.set_num_threads(base.torch_num_threads)
    sampler_seed = base.seed if seed is None else seed
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # we log each trial ourselves
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=sampler_seed, n_startup_trials=max(1, min(10, trials // 2))
        ),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_EPOCHS
        ),
    )
    study.enqueue_trial(in_space(TrainingConfig.from_settings(settings).to_dict()))
    started = time.monotonic()
    study.optimize(
        _objective(base, train, valid, optuna), n_trials=trials, timeout=timeout, catch=()
    )
    seconds = time.monotonic() - started
    states = optuna.trial.TrialState
    complete = [t for t in study.trials if t.state == states.COMPLETE]
    n_pruned = sum(t.state == states.PRUNED for t in study.trials)
    if not complete:
        raise LoanDefaultError(
            f"no trial of {len(study.trials)} completed ({n_pruned} pruned) within the budget; "
            "nothing stored: allow more --trials or a longer --timeout"
        )
    best = study.best_trial
    best_value = float(study.best_value)
    first = study.trials[0]
    baseline = first.value if first.state == states.COMPLETE else None
    details = {
        "trial_schedule": dataclasses.asdict(schedule),
        "sampler": "TPE",
        "sampler_seed": sampler_seed,
        "pruner": {
            "kind": "median",
            "warmup_epochs": PRUNER_WARMUP_EPOCHS,
            "startup_trials": PRUNER_STARTUP_TRIALS,
        },
        "timeout_seconds": timeout,
        "seconds": round(seconds, 1),
        "baseline_valid_roc_auc": baseline,
        "best_trial": best.number,
        "data": {
            "max_raw_id": int(frame.raw_ids.max()),
            "data_hash": data_hash(frame),
            "n_train": len(train.labels),
            "n_valid": len(valid.labels),
            "split_seed": base.seed,
        },
        "trials": [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
            for t in study.trials
        ],
    }
    with session_scope() as session:
        row = store_tuned_config(
            session,
            source=source,
            config=dict(best.params),
            best_valid_roc_auc=best_value,
            n_trials=len(study.trials),
            n_pruned=n_pruned,
            search_space_version=SEARCH_SPACE_VERSION,
            details=details,
        )
        row_id = row.id
    logger.info(
        "tuned %s: best validation ROC-AUC %.4f (trial %d; Settings configuration %s) after "
        "%d trials, %d pruned, %.0f s; stored as tuned config %d",
        source,
        best_value,
        best.number,
        "not completed" if baseline is None else f"{baseline:.4f}",
        len(study.trials),
        n_pruned,
        seconds,
        row_id,
    )
    return TuneResult(
        tuned_config_id=row_id,
        source=source,
        config=dict(best.params),
        best_valid_roc_auc=best_value,
        baseline_valid_roc_auc=baseline,
        n_trials=len(study.trials),
        n_pruned=n_pruned,
        seconds=seconds,
    )


def _objective(
    base: TrainingConfig, train: LabelledFrame, valid: LabelledFrame, optuna: Any
) -> Any:
    """Optuna's objective: the production recipe on one point, best validation ROC-AUC."""

    def objective(trial: Any) -> float:
        params = suggest(trial)
        config = dataclasses.replace(base, **params)
        bundle = pretrain_bundle(train.features, schema=train.schema, config=config, progress=False)

        def report(epoch: int, valid_auc: float) -> None:
            trial.report(valid_auc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation ROC-AUC {valid_auc:.4f} at epoch {epoch}")

        try:
            bundle = finetune_bundle(
                bundle, train=train, valid=valid, progress=False, on_epoch=report
            )
        except optuna.TrialPruned:
            logger.info("trial %d pruned: %s", trial.number, params)
            raise
        score = float(bundle.metadata["best_valid_score"])
        logger.info("trial %d: validation ROC-AUC %.4f with %s", trial.number, score, params)
        return score

    return objective
