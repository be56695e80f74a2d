"""Opt-in model options measured in docs/benchmarks.md: the linear skip and weight EMA."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from src.models.artifact import ModelBundle, load_bundle, serialize_bundle, sha256_hex
from src.models.metrics import classification_metrics
from src.models.training import TrainingConfig, build_model, predict_proba
from tests.unit.models.conftest import TINY_CONFIG, train_tiny


def test_linear_skip_starts_as_the_plain_model(data: dict) -> None:
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["valid"])
    plain = build_model(pre, TINY_CONFIG)
    wide = build_model(pre, dataclasses.replace(TINY_CONFIG, linear_skip=True))
    assert wide.architecture["linear_skip"] is True
    # Zero-initialised wide part: same seed, same logits before training.
    torch.testing.assert_close(
        predict_proba(plain, x_cat, x_num), predict_proba(wide, x_cat, x_num)
    )


@pytest.mark.parametrize(
    "options", [{"linear_skip": True}, {"ema_decay": 0.9}], ids=["linear_skip", "ema"]
)
def test_options_learn_and_round_trip_through_the_artifact(data: dict, options: dict) -> None:
    config = dataclasses.replace(TINY_CONFIG, **options)
    model = train_tiny(data, config)
    t_cat, t_num = data["pre"].transform(data["test"])
    proba = predict_proba(model, t_cat, t_num)
    auc = classification_metrics(data["y_test"], proba, threshold=0.5)["roc_auc"]
    assert auc > 0.75, f"the synthetic signal should be learnt, got AUC {auc:.3f}"
    blob = serialize_bundle(
        ModelBundle(model=model, preprocessor=data["pre"], config=config, threshold=0.5)
    )
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    assert loaded.config == config
    torch.testing.assert_close(predict_proba(loaded.model, t_cat, t_num), proba)


def test_ema_decay_must_be_below_one() -> None:
    with pytest.raises(AssertionError):
        TrainingConfig(ema_decay=1.0)
