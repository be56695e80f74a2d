"""The one training recipe (``src.models.fitting``) and the config contract it relies on."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
import torch

from config.settings import Settings
from src.exceptions import ArtifactIntegrityError
from src.models.artifact import ModelBundle, load_bundle, serialize_bundle, sha256_hex
from src.models.fitting import Rows, finetune_bundle, fit_bundle, pretrain_bundle
from src.models.training import predict_proba
from src.models.training_config import TrainingConfig
from tests.unit.models.conftest import SCHEMA, TINY_CONFIG


def _rows(data: dict, part: str) -> Rows:
    return Rows(features=data[part], labels=data[f"y_{part}"], schema=SCHEMA)


def _test_proba(bundle: ModelBundle, data: dict) -> np.ndarray:
    return predict_proba(bundle.model, *bundle.preprocessor.transform(data["test"]))


def test_staged_run_through_stored_state_equals_one_call(data: dict) -> None:
    """The pipeline stores the pretrained bundle between two processes; the bench does not."""
    whole = fit_bundle(_rows(data, "train"), _rows(data, "valid"), TINY_CONFIG, progress=False)
    pretrained = pretrain_bundle(data["train"], schema=SCHEMA, config=TINY_CONFIG, progress=False)
    blob = serialize_bundle(pretrained)
    stored = load_bundle(blob, expected_sha256=sha256_hex(blob))
    torch.manual_seed(12345)  # whatever the process did before, fine-tuning seeds itself
    staged = finetune_bundle(
        stored, train=_rows(data, "train"), valid=_rows(data, "valid"), progress=False
    )
    assert np.array_equal(_test_proba(whole, data), _test_proba(staged, data))
    assert whole.threshold == staged.threshold
    assert whole.metadata == staged.metadata
    assert set(whole.metadata) == {"pretrain_losses", "best_epoch", "best_valid_score"}


def test_training_leaves_the_thread_count_to_the_caller(data: dict) -> None:
    before = torch.get_num_threads()
    config = dataclasses.replace(TINY_CONFIG, torch_num_threads=before + 1, finetune_epochs=1)
    fit_bundle(_rows(data, "train"), _rows(data, "valid"), config, progress=False)
    assert torch.get_num_threads() == before


def test_pretrain_features_fit_the_preprocessor(data: dict) -> None:
    pool = data["train"].iloc[:100]
    config = dataclasses.replace(TINY_CONFIG, finetune_epochs=1)
    bundle = fit_bundle(
        _rows(data, "train"), _rows(data, "valid"), config, progress=False, pretrain_features=pool
    )
    assert (
        bundle.preprocessor.to_dict()
        == pretrain_bundle(
            pool, schema=SCHEMA, config=config, progress=False
        ).preprocessor.to_dict()
    )


def test_config_defaults_are_the_settings_defaults() -> None:
    config = TrainingConfig()
    for name, field in Settings.model_fields.items():
        if hasattr(config, name):
            assert getattr(config, name) == field.default, name
    assert config.torch_num_threads == Settings.model_fields["torch_num_threads"].default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"early_stopping_metric": "f1"}, "early_stopping_metric"),
        ({"batch_size": 1}, "batch"),
        ({"device": "gpu"}, "DEVICE must be one of auto, cpu, cuda, cuda:N"),
    ],
)
def test_invalid_config_raises_even_under_python_O(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**values)


def test_removed_options_in_a_stored_config_are_ignored() -> None:
    stored = TINY_CONFIG.to_dict() | {"linear_skip": False, "ema_decay": 0.0}
    assert TrainingConfig.from_dict(stored) == TINY_CONFIG


def test_a_config_stored_before_devices_existed_reads_as_auto() -> None:
    stored = {k: v for k, v in TINY_CONFIG.to_dict().items() if k != "device"}
    assert TrainingConfig.from_dict(stored).device == "auto"
    assert TrainingConfig.from_dict(stored | {"device": "cpu"}).device == "cpu"


def _with_architecture(blob: bytes, **extra: object) -> bytes:
    """The same artifact with keys added to its stored architecture (an older writer)."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header["__metadata__"]
    meta["architecture"] = json.dumps(json.loads(meta["architecture"]) | extra)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + blob[8 + n :]


def test_artifact_from_before_linear_skip_was_removed_still_loads(
    bundle: ModelBundle, data: dict
) -> None:
    old = _with_architecture(serialize_bundle(bundle), linear_skip=False)
    loaded = load_bundle(old, expected_sha256=sha256_hex(old))
    assert np.array_equal(_test_proba(loaded, data), _test_proba(bundle, data))
    skipped = _with_architecture(serialize_bundle(bundle), linear_skip=True)
    with pytest.raises(ArtifactIntegrityError, match="linear_skip"):
        load_bundle(skipped, expected_sha256=sha256_hex(skipped))
