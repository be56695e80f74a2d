"""The one training recipe: pretrain, fine-tune, choose the threshold -> a ``ModelBundle``.

Production (the resumable stages in ``src.pipeline.training``) and the model comparison
(``src.pipeline.benchmark``: ``loan-default benchmark``, bench/model_quality.py) call these
functions, so what is benchmarked is what is trained.  The pipeline runs
:func:`pretrain_bundle` and :func:`finetune_bundle` as two stages (an Airflow retry resumes
between them); :func:`fit_bundle` composes them in one call.

Pure: no database, no files, no process-wide settings (the caller applies the torch thread
count).  Seeding is one rule: ``build_model``, ``pretrain`` and ``finetune`` each seed from
``config.seed``, so running both steps in one process or in two gives the same weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from src.data.feature_schema import FeatureSchema
from src.models.artifact import ModelBundle
from src.models.calibration import fit_calibrator
from src.models.metrics import best_f1_threshold
from src.models.preprocessing import Preprocessor
from src.models.training import build_model, finetune, predict_proba, pretrain, set_seed
from src.models.training_config import TrainingConfig


class LabelledRows(Protocol):
    """What training needs from a split: ``src.data.frames.LabelledFrame`` is one."""

    @property
    def features(self) -> pd.DataFrame: ...

    @property
    def labels(self) -> np.ndarray: ...

    @property
    def schema(self) -> FeatureSchema: ...


@dataclasses.dataclass(frozen=True)
class Rows:
    """A plain :class:`LabelledRows`, for callers without a ``LabelledFrame`` (the benchmark)."""

    features: pd.DataFrame
    labels: np.ndarray  # 0/1, 1 = positive class
    schema: FeatureSchema


def pretrain_bundle(
    features: pd.DataFrame,
    *,
    schema: FeatureSchema,
    config: TrainingConfig,
    progress: bool,
) -> ModelBundle:
    """Fit preprocessing on ``features``, build the model, run NT-Xent pretraining on them.

    Preprocessing is fitted on the rows that are pretrained on (production: the training
    split; the benchmark's few-labels regime: every training row, labelled or not), never on
    validation or test rows.  The threshold is a placeholder until :func:`finetune_bundle`.
    """
    set_seed(config.seed)
    preprocessor = Preprocessor.fit(
        features, schema, numeric_encoding=config.numeric_embedding, n_bins=config.ple_bins
    )
    model = build_model(preprocessor, config)
    x_cat, x_num = preprocessor.transform(features)
    losses = pretrain(model, x_cat, x_num, config=config, progress=progress)
    return ModelBundle(
        model=model,
        preprocessor=preprocessor,
        config=config,
        threshold=0.5,
        metadata={"pretrain_losses": losses},
    )


def finetune_bundle(
    bundle: ModelBundle,
    *,
    train: LabelledRows,
    valid: LabelledRows,
    progress: bool,
    on_epoch: Callable[[int, float], None] | None = None,
) -> ModelBundle:
    """Fine-tune ``bundle.model`` in place, calibrate on ``valid``, pick the threshold there.

    The calibrator (``src.models.calibration``) is fitted on the validation split's raw
    scores, and the F1-maximising threshold is chosen on the calibrated ones, so the stored
    threshold applies to the PD that is served.

    Uses ``bundle.config``: the config a model was built with is the one it is trained with.
    Early stopping and the threshold see only ``valid``; the caller keeps the test rows apart.
    ``on_epoch`` goes to :func:`src.models.training.finetune` (the search's pruning hook).
    """
    bundle.model.requires_grad_(True)  # a loaded bundle is frozen and inference-ready
    pre = bundle.preprocessor
    train_t = (*pre.transform(train.features), _label_tensor(train.labels))
    valid_t = (*pre.transform(valid.features), _label_tensor(valid.labels))
    result = finetune(
        bundle.model, train_t, valid_t, config=bundle.config, progress=progress, on_epoch=on_epoch
    )
    raw_valid = predict_proba(bundle.model, valid_t[0], valid_t[1])
    calibrator = fit_calibrator(
        valid.labels, raw_valid, method=bundle.config.calibration_method, seed=bundle.config.seed
    )
    threshold = best_f1_threshold(valid.labels, calibrator.apply(raw_valid))
    metadata = bundle.metadata | {
        "best_epoch": result.best_epoch,
        "best_valid_score": result.best_score,
    }
    return dataclasses.replace(
        bundle, threshold=float(threshold), metadata=metadata, calibrator=calibrator
    )


def fit_bundle(
    train: LabelledRows,
    valid: LabelledRows,
    config: TrainingConfig,
    *,
    progress: bool,
    pretrain_features: pd.DataFrame | None = None,
) -> ModelBundle:
    """Pretrain then fine-tune: the whole recipe in one call.

    ``pretrain_features`` (default: ``train.features``) are the rows preprocessing is fitted
    on and pretraining sees; the benchmark passes unlabelled rows there.
    """
    features = train.features if pretrain_features is None else pretrain_features
    bundle = pretrain_bundle(features, schema=train.schema, config=config, progress=progress)
    return finetune_bundle(bundle, train=train, valid=valid, progress=progress)


def _label_tensor(labels: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(labels, dtype=torch.float32)
