from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from src.exceptions import ArtifactIntegrityError
from src.models.artifact import (
    FORMAT_TAG,
    ModelBundle,
    load_bundle,
    serialize_bundle,
    sha256_hex,
)
from src.models.calibration import Calibrator
from src.models.predictor import Predictor
from src.models.training import predict_proba
from tests.unit.models.conftest import make_frame

DATA = Path(__file__).parent / "data"


def _header(blob: bytes) -> dict:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n])


def test_round_trip_gives_identical_probabilities(bundle: ModelBundle, data: dict) -> None:
    blob = serialize_bundle(bundle)
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    x_cat, x_num = bundle.preprocessor.transform(data["test"])
    l_cat, l_num = loaded.preprocessor.transform(data["test"])
    assert np.array_equal(
        predict_proba(bundle.model, x_cat, x_num), predict_proba(loaded.model, l_cat, l_num)
    )
    assert loaded.threshold == bundle.threshold
    assert loaded.config == bundle.config
    assert loaded.metadata == bundle.metadata
    assert loaded.preprocessor.to_dict() == bundle.preprocessor.to_dict()
    assert not loaded.model.training


def test_metadata_values_are_json_strings(bundle: ModelBundle) -> None:
    meta = _header(serialize_bundle(bundle))["__metadata__"]
    assert json.loads(meta["format"]) == FORMAT_TAG
    for key in ("config", "preprocessor", "feature_schema", "threshold", "architecture"):
        json.loads(meta[key])
    assert json.loads(meta["feature_schema"])["categorical"] == ["grade", "state"]


def test_serialisation_is_deterministic(bundle: ModelBundle) -> None:
    assert sha256_hex(serialize_bundle(bundle)) == sha256_hex(serialize_bundle(bundle))


@pytest.mark.parametrize("position", [3, 100, -5])
def test_flipped_byte_is_rejected(bundle: ModelBundle, position: int) -> None:
    blob = serialize_bundle(bundle)
    expected = sha256_hex(blob)
    tampered = bytearray(blob)
    tampered[position] ^= 0x01
    with pytest.raises(ArtifactIntegrityError, match="checksum"):
        load_bundle(bytes(tampered), expected_sha256=expected)


def test_wrong_sha_is_rejected(bundle: ModelBundle) -> None:
    blob = serialize_bundle(bundle)
    with pytest.raises(ArtifactIntegrityError, match="checksum"):
        load_bundle(blob, expected_sha256="0" * 64)


@pytest.mark.parametrize(
    "blob", [b"", b"not a safetensors file at all", struct.pack("<Q", 10**9) + b"{}"]
)
def test_malformed_blob_with_matching_sha_is_rejected(blob: bytes) -> None:
    with pytest.raises(ArtifactIntegrityError):
        load_bundle(blob, expected_sha256=sha256_hex(blob))


def _reencode(bundle: ModelBundle, **changes: str) -> bytes:
    meta = dict(_header(serialize_bundle(bundle))["__metadata__"])
    meta.update(changes)
    state = {k: v.contiguous() for k, v in bundle.model.state_dict().items()}
    return st_save(state, metadata=meta)


def test_unknown_format_tag_is_rejected(bundle: ModelBundle) -> None:
    blob = _reencode(bundle, format=json.dumps("someone-else/v9"))
    with pytest.raises(ArtifactIntegrityError, match="unknown artifact format"):
        load_bundle(blob, expected_sha256=sha256_hex(blob))


def test_weights_that_do_not_fit_the_architecture_are_rejected(bundle: ModelBundle) -> None:
    arch = dict(bundle.model.architecture, num_layers=bundle.model.architecture["num_layers"] + 1)
    blob = _reencode(bundle, architecture=json.dumps(arch))
    with pytest.raises(ArtifactIntegrityError, match="cannot be decoded"):
        load_bundle(blob, expected_sha256=sha256_hex(blob))


def test_missing_metadata_key_is_rejected(bundle: ModelBundle) -> None:
    state = {k: v.contiguous() for k, v in bundle.model.state_dict().items()}
    blob = st_save(state, metadata={"format": json.dumps(FORMAT_TAG)})
    with pytest.raises(ArtifactIntegrityError, match="incomplete"):
        load_bundle(blob, expected_sha256=sha256_hex(blob))


def test_calibrator_travels_with_the_artifact(bundle: ModelBundle, data: dict) -> None:
    calibrated = dataclasses.replace(
        bundle, calibrator=Calibrator(method="platt", params={"a": 0.8, "b": -1.5})
    )
    blob = serialize_bundle(calibrated)
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    assert loaded.calibrator == Calibrator(method="platt", params={"a": 0.8, "b": -1.5})
    raw = np.array([0.1, 0.5, 0.9])
    assert np.array_equal(loaded.calibrator.apply(raw), calibrated.calibrator.apply(raw))


def test_an_artifact_written_before_calibration_loads_as_identity(bundle: ModelBundle) -> None:
    meta = dict(_header(serialize_bundle(bundle))["__metadata__"])
    del meta["calibration"]  # what every model registered before migration 0003 stores
    state = {k: v.contiguous() for k, v in bundle.model.state_dict().items()}
    blob = st_save(state, metadata=meta)
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    assert loaded.calibrator.method == "identity"
    assert np.array_equal(loaded.calibrator.apply(np.array([0.3, 0.7])), [0.3, 0.7])


def test_a_malformed_calibrator_is_refused(bundle: ModelBundle) -> None:
    bad = json.dumps({"method": "isotonic", "params": {"x": [0.5, 0.1], "y": [0.1, 0.2]}})
    blob = _reencode(bundle, calibration=bad)
    with pytest.raises(ArtifactIntegrityError, match="non-decreasing"):
        load_bundle(blob, expected_sha256=sha256_hex(blob))


def test_ple_round_trip_gives_identical_probabilities(
    ple_bundle: ModelBundle, ple_data: dict
) -> None:
    blob = serialize_bundle(ple_bundle)
    meta = _header(blob)["__metadata__"]
    assert json.loads(meta["architecture"])["numerical_tokens"] is True
    assert json.loads(meta["preprocessor"])["bin_edges"] == ple_bundle.preprocessor.bin_edges
    loaded = load_bundle(blob, expected_sha256=sha256_hex(blob))
    assert loaded.preprocessor.numeric_encoding == "ple"
    assert loaded.config.numeric_embedding == "ple"
    x_cat, x_num = ple_bundle.preprocessor.transform(ple_data["test"])
    l_cat, l_num = loaded.preprocessor.transform(ple_data["test"])
    assert torch.equal(x_num, l_num)
    assert np.array_equal(
        predict_proba(ple_bundle.model, x_cat, x_num), predict_proba(loaded.model, l_cat, l_num)
    )


def test_artifact_written_before_ple_loads_and_predicts_exactly_as_before() -> None:
    """``data/pre_ple_artifact.*``: a tiny model serialised by the code before PLE existed
    (commit c581543), with the probabilities that code's Predictor gave on fixed rows."""
    blob = (DATA / "pre_ple_artifact.safetensors").read_bytes()
    golden = json.loads((DATA / "pre_ple_artifact.json").read_text())
    loaded = load_bundle(blob, expected_sha256=golden["sha256"])
    assert loaded.preprocessor.numeric_encoding == "plain"
    assert loaded.config.numeric_embedding == "plain"  # stored config lacks the field
    assert not loaded.model.numerical_tokens
    frame, _ = make_frame(golden["test_frame"]["n"], seed=golden["test_frame"]["seed"])
    proba = Predictor(loaded).predict_proba(frame)
    np.testing.assert_array_equal(proba, np.array(golden["probabilities"]))
    # A plain model written today stores the same preprocessor and architecture documents.
    meta = _header(blob)["__metadata__"]
    assert loaded.preprocessor.to_dict() == json.loads(meta["preprocessor"])
    assert loaded.model.architecture == json.loads(meta["architecture"])
