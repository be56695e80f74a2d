"""``loan-default tune``: search hyperparameters on the validation split, store the best.

The search itself is ``src.pipeline.tuning``; later ``train`` runs of the source use the
stored result unless ``TRAINING_PRESET`` or an explicit setting says otherwise
(``src.pipeline.training_presets``).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from src.cli_output import console, emit_json

DESCRIPTION = (
    "Optuna search (seeded TPE, median pruning on per-epoch validation ROC-AUC) of the "
    "TabTransformer's hyperparameters on a source's validation split; the test split is never "
    "read.  The best configuration is stored in loan_data.tuned_configs and used by later "
    "`train` runs of the source (TRAINING_PRESET=auto|tuned)."
)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {number}")
    return number


def add_tune_parser(sub: Any) -> None:
    tune = sub.add_parser(
        "tune", help="search hyperparameters, store the best", description=DESCRIPTION
    )
    tune.add_argument("--trials", type=int, required=True, help="trials to run (at least 1)")
    tune.add_argument("--source", help="source to tune on (default: DATA_SOURCE)")
    tune.add_argument("--timeout", type=float, help="stop starting trials after SECONDS")
    tune.add_argument("--seed", type=int, help="sampler seed (default: SEED)")
    tune.add_argument(
        "--pretrain-epochs", type=_non_negative_int, default=3, help="per trial (default 3)"
    )
    tune.add_argument(
        "--finetune-epochs", type=_positive_int, default=15, help="per trial (default 15)"
    )
    tune.add_argument("--patience", type=_positive_int, default=4, help="per trial (default 4)")
    tune.add_argument("--json", action="store_true", help="machine-readable output")


def _tune(args: argparse.Namespace) -> None:
    from src.pipeline.tuning import TrialSchedule, tune

    result = tune(
        trials=args.trials,
        source=args.source,
        timeout=args.timeout,
        seed=args.seed,
        schedule=TrialSchedule(
            pretrain_epochs=args.pretrain_epochs,
            finetune_epochs=args.finetune_epochs,
            patience=args.patience,
        ),
    )
    if args.json:
        emit_json(result.as_dict())
        return
    table = Table(title=f"tuned config {result.tuned_config_id} for {result.source}")
    table.add_column("hyperparameter")
    table.add_column("value", justify="right")
    for name, value in result.config.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    baseline = result.baseline_valid_roc_auc
    console.print(
        f"best validation ROC-AUC {result.best_valid_roc_auc:.4f} (Settings configuration: "
        f"{'not completed' if baseline is None else f'{baseline:.4f}'}); {result.n_trials} "
        f"trials, {result.n_pruned} pruned, {result.seconds:.0f} s.  Later `train` runs of "
        f"{result.source!r} use it (TRAINING_PRESET=auto|tuned).",
        highlight=False,
    )


TUNE_COMMANDS = {"tune": _tune}
