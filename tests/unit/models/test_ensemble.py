"""Seed ensembles (``src.models.ensemble``): averaging, the recipe, the artifact, serving."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from src.exceptions import ArtifactIntegrityError
from src.models.artifact import ModelBundle, clone_model, load_bundle, serialize_bundle, sha256_hex
from src.models.calibration import fit_calibrator
from src.models.ensemble import (
    TabEnsemble,
    mean_probability_logit,
    member_seeds,
    members_of,
)
from src.models.fitting import Rows, fit_bundle
from src.models.metrics import best_f1_threshold
from src.models.predictor import Predictor
from src.models.training import predict_proba
from src.models.training_config import TrainingConfig
from src.models.transformer import TabTransformer
from tests.unit.models.conftest import SCHEMA, TINY_CONFIG, make_frame

DATA = Path(__file__).parent / "data"
ENSEMBLE_CONFIG = dataclasses.replace(TINY_CONFIG, ensemble_size=3)


def _rows(data: dict, part: str) -> Rows:
    return Rows(features=data[part], labels=data[f"y_{part}"], schema=SCHEMA)


def _fit(data: dict, config: TrainingConfig) -> ModelBundle:
    return fit_bundle(_rows(data, "train"), _rows(data, "valid"), config, progress=False)


def _proba(model: torch.nn.Module, bundle: ModelBundle, frame: object) -> np.ndarray:
    return predict_proba(model, *bundle.preprocessor.transform(frame))  # type: ignore[arg-type]


def _header(blob: bytes) -> dict:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n])


@pytest.fixture(scope="module")
def single(data: dict) -> ModelBundle:
    return _fit(data, TINY_CONFIG)


@pytest.fixture(scope="module")
def ensemble(data: dict) -> ModelBundle:
    return _fit(data, ENSEMBLE_CONFIG)


# ---------------------------------------------------------------------------- averaging
def test_mean_probability_logit_is_the_logit_of_the_mean_probability() -> None:
    logits = torch.tensor([[-3.0, 0.0, 2.5, 8.0], [1.0, -0.5, 2.5, -8.0], [0.2, 4.0, 2.5, 0.0]])
    mean = torch.sigmoid(logits.double()).mean(0)
    expected = torch.log(mean) - torch.log1p(-mean)
    torch.testing.assert_close(mean_probability_logit(logits).double(), expected, atol=1e-5, rtol=0)
    # One member: its own logits.  Equal members: the same logit.
    torch.testing.assert_close(mean_probability_logit(logits[:1]), logits[0])
    torch.testing.assert_close(mean_probability_logit(logits[2:3].repeat(4, 1)), logits[2])


def test_mean_of_tiny_probabilities_keeps_float32_precision() -> None:
    """sigmoid(-120) underflows float32 to 0: a naive mean-then-logit would give -inf."""
    logits = torch.tensor([[-120.0], [-130.0]])
    out = mean_probability_logit(logits)
    expected = -120.0 + np.log((1.0 + np.exp(-10.0)) / 2.0)
    assert torch.isfinite(out).all()
    assert abs(float(out[0]) - expected) < 1e-3


def test_member_seeds_start_at_the_single_model_seed() -> None:
    assert member_seeds(7, 3) == [7, 8, 9]
    with pytest.raises(ValueError):
        member_seeds(7, 0)


def test_config_validates_and_old_configs_read_as_one_member() -> None:
    with pytest.raises(ValueError, match="ensemble_size"):
        dataclasses.replace(TINY_CONFIG, ensemble_size=0)
    with pytest.raises(ValueError, match="ensemble_pretraining"):
        dataclasses.replace(TINY_CONFIG, ensemble_pretraining="twice")
    stored = {k: v for k, v in ENSEMBLE_CONFIG.to_dict().items() if not k.startswith("ensemble")}
    assert TrainingConfig.from_dict(stored).ensemble_size == 1
    assert TrainingConfig.from_dict(ENSEMBLE_CONFIG.to_dict()) == ENSEMBLE_CONFIG


# ---------------------------------------------------------------------------- recipe
def test_ensemble_averages_its_members_probabilities(ensemble: ModelBundle, data: dict) -> None:
    assert isinstance(ensemble.model, TabEnsemble) and ensemble.model.size == 3
    members = [_proba(m, ensemble, data["test"]) for m in members_of(ensemble.model)]
    mean = _proba(ensemble.model, ensemble, data["test"])
    np.testing.assert_allclose(mean, np.mean(members, axis=0), atol=1e-6, rtol=0)
    # Different fine-tuning seeds give different members.
    assert not np.allclose(members[0], members[1]) and not np.allclose(members[1], members[2])


def test_member_zero_is_the_single_model_and_pretraining_is_shared(
    single: ModelBundle, ensemble: ModelBundle, data: dict
) -> None:
    first = members_of(ensemble.model)[0]
    assert np.array_equal(
        _proba(first, ensemble, data["test"]), _proba(single.model, single, data["test"])
    )
    assert ensemble.metadata["pretrain_losses"] == single.metadata["pretrain_losses"]
    assert "member_pretrain_losses" not in ensemble.metadata  # pretrained once
    assert len(ensemble.metadata["member_best_epochs"]) == 3


def test_calibration_and_threshold_are_fitted_on_the_mean_validation_probability(
    ensemble: ModelBundle, data: dict
) -> None:
    raw_valid = _proba(ensemble.model, ensemble, data["valid"])
    calibrator = fit_calibrator(
        data["y_valid"], raw_valid, method=ensemble.config.calibration_method, seed=7
    )
    assert calibrator.to_dict() == ensemble.calibrator.to_dict()
    assert ensemble.threshold == best_f1_threshold(data["y_valid"], calibrator.apply(raw_valid))


def test_per_member_pretraining_pretrains_each_member_from_its_own_seed(
    single: ModelBundle, data: dict
) -> None:
    config = dataclasses.replace(
        ENSEMBLE_CONFIG, ensemble_size=2, ensemble_pretraining="per_member"
    )
    bundle = _fit(data, config)
    losses = bundle.metadata["member_pretrain_losses"]
    assert len(losses) == 2 and losses[0] == single.metadata["pretrain_losses"]
    assert losses[0] != losses[1]
    first = members_of(bundle.model)[0]
    assert np.array_equal(
        _proba(first, bundle, data["test"]), _proba(single.model, single, data["test"])
    )


def test_without_pretraining_members_start_from_their_own_initialisation(data: dict) -> None:
    config = dataclasses.replace(ENSEMBLE_CONFIG, ensemble_size=2, pretrain_epochs=0)
    bundle = _fit(data, config)
    a, b = members_of(bundle.model)
    assert isinstance(bundle.model, TabEnsemble)
    assert not torch.equal(a.column_embed, b.column_embed)


# ---------------------------------------------------------------------------- artifact
def test_ensemble_artifact_round_trip_gives_identical_probabilities(
    ensemble: ModelBundle, data: dict
) -> None:
    blob = serialize_bundle(ensemble)
    meta = _header(blob)["__metadata__"]
    assert json.loads(meta["ensemble"]) == {"size": 3}
    assert all(name.startswith("members.") for name in st_load(blob))
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    assert isinstance(loaded.model, TabEnsemble) and loaded.model.size == 3
    assert not loaded.model.training
    assert np.array_equal(
        _proba(loaded.model, loaded, data["test"]), _proba(ensemble.model, ensemble, data["test"])
    )
    assert loaded.config == ensemble.config and loaded.threshold == ensemble.threshold
    assert loaded.calibrator.to_dict() == ensemble.calibrator.to_dict()
    assert sha256_hex(serialize_bundle(loaded)) == sha256_hex(blob)
    copy = clone_model(ensemble.model)
    assert isinstance(copy, TabEnsemble)
    assert np.array_equal(
        _proba(copy, ensemble, data["test"]), _proba(ensemble.model, ensemble, data["test"])
    )


def test_single_model_artifact_has_no_ensemble_document(single: ModelBundle) -> None:
    blob = serialize_bundle(single)
    assert "ensemble" not in _header(blob)["__metadata__"]
    assert not any(name.startswith("members.") for name in st_load(blob))
    assert isinstance(load_bundle(blob, expected_sha256=sha256_hex(blob)).model, TabTransformer)


@pytest.mark.parametrize("claimed", ['{"size": 2}', '{"size": 1}', '{"size": "3"}', "[]"])
def test_ensemble_document_that_disagrees_with_the_tensors_is_rejected(
    ensemble: ModelBundle, claimed: str
) -> None:
    blob = serialize_bundle(ensemble)
    metadata = _header(blob)["__metadata__"] | {"ensemble": claimed}
    forged = st_save(dict(st_load(blob)), metadata=metadata)
    with pytest.raises(ArtifactIntegrityError):
        load_bundle(forged, expected_sha256=sha256_hex(forged))


def test_artifact_written_before_ensembles_loads_as_a_single_model() -> None:
    golden = json.loads((DATA / "pre_ple_artifact.json").read_text())
    loaded = load_bundle(
        (DATA / "pre_ple_artifact.safetensors").read_bytes(), expected_sha256=golden["sha256"]
    )
    assert isinstance(loaded.model, TabTransformer)
    assert loaded.config.ensemble_size == 1


# ---------------------------------------------------------------------------- serving
def test_predictor_serves_the_calibrated_mean_and_explains(
    ensemble: ModelBundle, data: dict
) -> None:
    blob = serialize_bundle(ensemble)
    predictor = Predictor(load_bundle(blob, expected_sha256=sha256_hex(blob)))
    frame, _ = make_frame(25, seed=11)
    expected = ensemble.calibrator.apply(_proba(ensemble.model, ensemble, frame))
    np.testing.assert_array_equal(predictor.predict_proba(frame), expected)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    proba, unseen = predictor.predict_records(records)
    np.testing.assert_allclose(proba, expected, atol=1e-12, rtol=0)
    assert len(unseen) == 25
    reasons = predictor.explain(frame.head(5), top_k=3)
    assert len(reasons) == 5 and any(reasons)
    assert all(r["effect"] > 0 for row in reasons for r in row)
