from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from config.settings import Settings
from src.models.artifact import ModelBundle, load_bundle, serialize_bundle, sha256_hex
from src.models.device import CPU, model_device
from src.models.metrics import classification_metrics
from src.models.pretraining import pretrain
from src.models.training import FinetuneResult, build_model, finetune, predict_proba
from src.models.training_config import TrainingConfig
from tests.unit.models.conftest import TINY_CONFIG, train_tiny


def test_config_from_settings_reads_same_named_fields() -> None:
    settings = Settings(batch_size=77, learning_rate=0.01, pretrain_epochs=3, seed=5, device="cpu")
    config = TrainingConfig.from_settings(settings)
    assert config.device == "cpu"
    assert config.batch_size == 77 and config.learning_rate == 0.01
    assert config.pretrain_epochs == 3 and config.seed == 5
    assert config.d_model == settings.d_model and config.dropout_rate == settings.dropout_rate
    assert config.torch_num_threads == settings.torch_num_threads
    assert config.early_stopping_metric == "roc_auc"  # our own field keeps its default


def test_config_dict_round_trip_is_json() -> None:
    config = TrainingConfig(batch_size=64, numerical_embedding=True)
    data = json.loads(json.dumps(config.to_dict()))
    assert TrainingConfig.from_dict(data) == config
    # Unknown keys from a newer artifact are ignored rather than crashing.
    assert TrainingConfig.from_dict({**data, "future_knob": 1}) == config


def test_same_seed_gives_identical_weights_and_probabilities(data: dict) -> None:
    a, b = train_tiny(data), train_tiny(data)
    for (name, ta), (_, tb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(ta, tb), f"weights differ in {name}"
    x_cat, x_num = data["pre"].transform(data["test"])
    assert np.array_equal(predict_proba(a, x_cat, x_num), predict_proba(b, x_cat, x_num))


def test_explicit_cpu_trains_bit_identically_to_the_default(data: dict) -> None:
    """DEVICE=cpu changes nothing where the default (auto) means CPU, as in this project's CI:
    the same weights and predictions bit for bit; and the artifact always holds CPU tensors."""
    assert TINY_CONFIG.device == "auto"
    default = train_tiny(data)
    on_cpu = train_tiny(data, dataclasses.replace(TINY_CONFIG, device="cpu"))
    assert model_device(on_cpu) == CPU
    x_cat, x_num = data["pre"].transform(data["test"])
    proba = predict_proba(on_cpu, x_cat, x_num)
    assert proba.dtype == np.float64 and proba.shape == (len(data["test"]),)
    bundle = ModelBundle(model=default, preprocessor=data["pre"], config=TINY_CONFIG, threshold=0.5)
    blob = serialize_bundle(bundle)
    stored = load_bundle(blob, expected_sha256=sha256_hex(blob)).model
    assert model_device(stored) == CPU
    for name, tensor in default.state_dict().items():
        assert torch.equal(stored.state_dict()[name], tensor.cpu()), f"stored {name} differs"
    if model_device(default) != CPU:  # a CUDA machine: auto trained there, floats differ
        assert np.isfinite(predict_proba(default, x_cat, x_num)).all()
        return
    for name, tensor in default.state_dict().items():
        assert torch.equal(on_cpu.state_dict()[name], tensor), f"weights differ in {name}"
    assert np.array_equal(predict_proba(default, x_cat, x_num), proba)


def test_different_seed_gives_different_model(data: dict) -> None:
    a = build_model(data["pre"], TINY_CONFIG)
    b = build_model(data["pre"], TrainingConfig(**{**TINY_CONFIG.to_dict(), "seed": 8}))
    assert not torch.equal(a.head.weight, b.head.weight)


def test_pretrain_returns_one_loss_per_epoch_and_changes_encoder(data: dict) -> None:
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    config = TrainingConfig(**{**TINY_CONFIG.to_dict(), "pretrain_epochs": 2})
    model = build_model(pre, config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = pretrain(model, x_cat, x_num, config=config, progress=False)
    assert len(losses) == 2 and all(np.isfinite(losses))
    # Upper bound: chance level of NT-Xent is log(2b - 1) for batch size b.
    assert losses[-1] < np.log(2 * config.batch_size - 1)
    assert not torch.equal(before["category_embed.weight"], model.category_embed.weight)
    # The classification head is not part of the contrastive objective.
    assert torch.equal(before["head.weight"], model.head.weight)
    skip = TrainingConfig(**{**TINY_CONFIG.to_dict(), "pretrain_epochs": 0})
    assert pretrain(model, x_cat, x_num, config=skip, progress=False) == []


def test_finetune_learns_and_restores_best_epoch(data: dict) -> None:
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    v_cat, v_num = pre.transform(data["valid"])
    model = build_model(pre, TINY_CONFIG)
    result = finetune(
        model,
        (x_cat, x_num, torch.from_numpy(data["y_train"])),
        (v_cat, v_num, torch.from_numpy(data["y_valid"])),
        config=TINY_CONFIG,
        progress=False,
    )
    assert isinstance(result, FinetuneResult)
    assert 1 <= result.best_epoch <= len(result.history) <= TINY_CONFIG.finetune_epochs
    best = result.history[result.best_epoch - 1]
    assert result.best_score == pytest.approx(best["valid_roc_auc"])
    assert result.best_score == max(h["valid_roc_auc"] for h in result.history)
    # The restored weights reproduce the best epoch's validation AUC.
    auc_now = classification_metrics(
        data["y_valid"], predict_proba(model, v_cat, v_num), threshold=0.5
    )["roc_auc"]
    assert auc_now == pytest.approx(result.best_score, abs=1e-9)
    t_cat, t_num = pre.transform(data["test"])
    test_auc = classification_metrics(
        data["y_test"], predict_proba(model, t_cat, t_num), threshold=0.5
    )["roc_auc"]
    assert test_auc > 0.75, f"the synthetic signal should be learnt, got AUC {test_auc:.3f}"
    assert not model.training


def test_smoothed_early_stopping_restores_the_best_windows_middle_epoch(data: dict) -> None:
    """window=3: best_score is the best 3-epoch mean of validation AUC, and the weights restored
    are the middle epoch's of that window (they reproduce that epoch's own AUC)."""
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    v_cat, v_num = pre.transform(data["valid"])
    config = dataclasses.replace(TINY_CONFIG, early_stopping_window=3, finetune_epochs=10)
    model = build_model(pre, config)
    result = finetune(
        model,
        (x_cat, x_num, torch.from_numpy(data["y_train"])),
        (v_cat, v_num, torch.from_numpy(data["y_valid"])),
        config=config,
        progress=False,
    )
    aucs = [h["valid_roc_auc"] for h in result.history]
    means = [float(np.mean(aucs[max(0, t - 2) : t + 1])) for t in range(len(aucs))]
    assert [h["valid_score_smoothed"] for h in result.history] == pytest.approx(means)
    end = int(np.argmax(means)) + 1  # first epoch whose trailing mean is the best
    assert result.best_score == pytest.approx(means[end - 1])
    assert result.best_epoch == end - (min(3, end) - 1) // 2
    restored = classification_metrics(
        data["y_valid"], predict_proba(model, v_cat, v_num), threshold=0.5
    )["roc_auc"]
    assert restored == pytest.approx(aucs[result.best_epoch - 1], abs=1e-9)


def test_early_stopping_window_is_validated_and_old_configs_read_as_one() -> None:
    with pytest.raises(ValueError, match="early_stopping_window"):
        TrainingConfig(early_stopping_window=0)
    stored = {k: v for k, v in TINY_CONFIG.to_dict().items() if k != "early_stopping_window"}
    assert TrainingConfig.from_dict(stored).early_stopping_window == 1
    windowed = dataclasses.replace(TINY_CONFIG, early_stopping_window=5)
    assert TrainingConfig.from_dict(windowed.to_dict()) == windowed


def test_early_stopping_on_loss_and_patience(data: dict) -> None:
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    v_cat, v_num = pre.transform(data["valid"])
    config = TrainingConfig(
        **{
            **TINY_CONFIG.to_dict(),
            "early_stopping_metric": "loss",
            "patience": 1,
            "finetune_epochs": 40,
            "learning_rate": 0.05,  # overfits fast, so patience must kick in
        }
    )
    model = build_model(pre, config)
    result = finetune(
        model,
        (x_cat, x_num, torch.from_numpy(data["y_train"])),
        (v_cat, v_num, torch.from_numpy(data["y_valid"])),
        config=config,
        progress=False,
    )
    assert len(result.history) == result.best_epoch + 1 < 40
    assert result.best_score == pytest.approx(-min(h["valid_loss"] for h in result.history))


def test_predict_proba_batches_and_eval_mode(data: dict) -> None:
    model = build_model(data["pre"], TINY_CONFIG)
    x_cat, x_num = data["pre"].transform(data["test"])
    full = predict_proba(model, x_cat, x_num)
    chunked = predict_proba(model, x_cat, x_num, batch_size=7)
    assert full.shape == (len(data["test"]),) and full.dtype == np.float64
    assert np.allclose(full, chunked, atol=1e-6)
    assert ((full > 0) & (full < 1)).all()
    assert not model.training


def test_pretrain_logs_each_epoch_next_to_chance(data: dict, caplog) -> None:
    """600 rows at batch 64: nine batches of 64 and one of 24, so chance is their weighted mean."""
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    config = TrainingConfig(**{**TINY_CONFIG.to_dict(), "pretrain_epochs": 2})
    with caplog.at_level("INFO", logger="src.models.pretraining"):
        losses = pretrain(build_model(pre, config), x_cat, x_num, config=config, progress=False)
    lines = [r.getMessage() for r in caplog.records if "pretrain epoch" in r.getMessage()]
    chance = (9 * 64 * np.log(127) + 24 * np.log(47)) / 600
    assert len(lines) == 2
    assert lines[1].startswith(f"pretrain epoch 2/2: NT-Xent {losses[1]:.4f}, chance {chance:.4f}")


def test_on_epoch_sees_every_validation_auc_and_can_stop_training(data: dict) -> None:
    """The search's pruning hook: called once per epoch with that epoch's validation ROC-AUC,
    and an exception raised there (optuna.TrialPruned) ends fine-tuning at once."""
    pre = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    v_cat, v_num = pre.transform(data["valid"])
    train_t = (x_cat, x_num, torch.from_numpy(data["y_train"]))
    valid_t = (v_cat, v_num, torch.from_numpy(data["y_valid"]))
    seen: list[tuple[int, float]] = []
    result = finetune(
        build_model(pre, TINY_CONFIG),
        train_t,
        valid_t,
        config=TINY_CONFIG,
        progress=False,
        on_epoch=lambda epoch, auc: seen.append((epoch, auc)),
    )
    assert seen == [(h["epoch"], h["valid_roc_auc"]) for h in result.history]

    class Stop(Exception):
        pass

    calls: list[int] = []

    def stop_at_two(epoch: int, auc: float) -> None:
        calls.append(epoch)
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        finetune(
            build_model(pre, TINY_CONFIG),
            train_t,
            valid_t,
            config=TINY_CONFIG,
            progress=False,
            on_epoch=stop_at_two,
        )
    assert calls == [1, 2]
