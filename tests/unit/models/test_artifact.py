from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
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
from src.models.training import predict_proba


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
