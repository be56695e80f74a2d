"""The one training recipe: pretrain, fine-tune, choose the threshold -> a ``ModelBundle``.

Production (the resumable stages in ``src.pipeline.training``) and the model comparison
(``src.pipeline.benchmark``: ``loan-default benchmark``, bench/model_quality.py) call these
functions, so what is benchmarked is what is trained.  The pipeline runs
:func:`pretrain_bundle` and :func:`finetune_bundle` as two stages (an Airflow retry resumes
between them); :func:`fit_bundle` composes them in one call.

Pure: no database, no files, no process-wide settings (the caller applies the torch thread
count).  Seeding is one rule: ``build_model``, ``pretrain`` and ``finetune`` each seed from
``config.seed``, so running both steps in one process or in two gives the same weights.

With ``ensemble_size`` K > 1 (``src.models.ensemble``) member k uses seed ``seed + k``:
by default one pretraining is shared (copied into the K members when fine-tuning starts), or
each member pretrains itself (``ensemble_pretraining="per_member"``, and always when there is
no pretraining, so members at least start from different initialisations).  Calibration and
the F1 threshold are fitted on the members' *mean* validation probability, so the served
``probability`` stays a calibrated PD.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from src.data.feature_schema import FeatureSchema
from src.models.artifact import ModelBundle
from src.models.calibration import fit_calibrator
from src.models.ensemble import ScoringModel, ensemble_of, member_seeds, members_of
from src.models.metrics import best_f1_threshold
from src.models.preprocessing import Preprocessor
from src.models.pretraining import pretrain
from src.models.training import FinetuneResult, build_model, finetune, predict_proba, set_seed
from src.models.training_config import TrainingConfig
from src.models.transformer import TabTransformer

logger = logging.getLogger(__name__)


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
    A shared-pretraining ensemble is still one model here; per-member pretraining returns
    the K pretrained members as one ensemble.
    """
    set_seed(config.seed)
    preprocessor = Preprocessor.fit(
        features, schema, numeric_encoding=config.numeric_embedding, n_bins=config.ple_bins
    )
    x_cat, x_num = preprocessor.transform(features)
    own = config.ensemble_pretraining == "per_member" or config.pretrain_epochs <= 0
    seeds = member_seeds(config.seed, config.ensemble_size if own else 1)
    members: list[TabTransformer] = []
    losses: list[list[float]] = []
    for seed in seeds:
        member_config = dataclasses.replace(config, seed=seed)
        members.append(build_model(preprocessor, member_config))
        losses.append(pretrain(members[-1], x_cat, x_num, config=member_config, progress=progress))
    metadata: dict[str, object] = {"pretrain_losses": losses[0]}
    if len(losses) > 1:
        metadata["member_pretrain_losses"] = losses
    return ModelBundle(
        model=ensemble_of(members),
        preprocessor=preprocessor,
        config=config,
        threshold=0.5,
        metadata=metadata,
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
    With ``ensemble_size`` K > 1, a single pretrained model is first copied into K members;
    member k is fine-tuned with seed ``seed + k`` (member 0 is the single model's run), and
    the calibrator and threshold are fitted on the members' mean validation probability.
    """
    config = bundle.config
    members = _members_for(bundle.model, config.ensemble_size)
    pre = bundle.preprocessor
    train_t = (*pre.transform(train.features), _label_tensor(train.labels))
    valid_t = (*pre.transform(valid.features), _label_tensor(valid.labels))
    results: list[FinetuneResult] = []
    for member, seed in zip(members, member_seeds(config.seed, len(members)), strict=True):
        member_config = dataclasses.replace(config, seed=seed)
        hook = on_epoch if not results else None  # a search prunes on the first member's curve
        results.append(
            finetune(
                member, train_t, valid_t, config=member_config, progress=progress, on_epoch=hook
            )
        )
    model = ensemble_of(members)
    raw_valid = predict_proba(model, valid_t[0], valid_t[1])  # the members' mean
    calibrator = fit_calibrator(
        valid.labels, raw_valid, method=config.calibration_method, seed=config.seed
    )
    threshold = best_f1_threshold(valid.labels, calibrator.apply(raw_valid))
    metadata = bundle.metadata | {
        "best_epoch": results[0].best_epoch,
        "best_valid_score": results[0].best_score,
    }
    if len(results) > 1:
        metadata["member_best_epochs"] = [r.best_epoch for r in results]
        metadata["member_best_valid_scores"] = [r.best_score for r in results]
        logger.info(
            "ensemble of %d: member validation scores %s",
            len(results),
            ", ".join(f"{r.best_score:.4f}" for r in results),
        )
    return dataclasses.replace(
        bundle, model=model, threshold=float(threshold), metadata=metadata, calibrator=calibrator
    )


def _members_for(model: ScoringModel, size: int) -> list[TabTransformer]:
    """The members to fine-tune, gradients on (a loaded bundle is frozen for inference).

    One pretrained model becomes ``size`` identical copies (shared pretraining); an ensemble
    pretrained per member must already have ``size`` members.
    """
    members = members_of(model)
    if len(members) == 1 and size > 1:
        members += [copy.deepcopy(members[0]) for _ in range(size - 1)]
    if len(members) != size:
        raise ValueError(f"the pretrained model has {len(members)} members; config wants {size}")
    for member in members:
        member.requires_grad_(True)
    return members


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
