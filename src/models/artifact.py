"""Model artifacts: one safetensors blob holding weights plus JSON metadata, never pickle.

Why safetensors: loading a pickle executes code, so a tampered model file in the registry
would be remote code execution.  safetensors holds only raw tensors and a JSON header; the
header's ``__metadata__`` (string -> string) carries our JSON documents.  Loading verifies the
sha256 recorded in the registry *before* parsing anything, then rebuilds the architecture from
stored constructor arguments and loads the weights strictly, so a blob that does not match its
own description fails loudly instead of producing silently wrong predictions.

A seed ensemble (``src.models.ensemble``) is the same format: its members share the one
stored architecture, their tensors are named ``members.<k>.<name>``, and an optional
``ensemble`` document records the member count.  A single model writes no such document, so
artifacts written before ensembles existed are single models and load as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from src.data.feature_schema import FeatureSchema
from src.exceptions import ArtifactIntegrityError
from src.models.calibration import Calibrator
from src.models.ensemble import ScoringModel, TabEnsemble, build_like
from src.models.preprocessing import Preprocessor
from src.models.training_config import TrainingConfig

FORMAT_TAG = "loan-default/tabtransformer-safetensors/v1"
_METADATA_KEYS = (
    "format",
    "config",
    "preprocessor",
    "feature_schema",
    "threshold",
    "architecture",
    "metadata",
)
# Optional documents: artifacts written before they existed load without them.
CALIBRATION_KEY = "calibration"
ENSEMBLE_KEY = "ensemble"


@dataclass
class ModelBundle:
    """Everything needed to serve a model: weights, preprocessing, config, calibration and
    threshold (which applies to the calibrated probability)."""

    model: ScoringModel  # one TabTransformer, or a TabEnsemble of them
    preprocessor: Preprocessor
    config: TrainingConfig
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)  # free JSON (version, metrics...)
    calibrator: Calibrator = field(default_factory=Calibrator)  # identity until fitted


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize_bundle(bundle: ModelBundle) -> bytes:
    """Safetensors bytes; every ``__metadata__`` value is a JSON document."""
    state = {
        name: tensor.detach().cpu().contiguous().clone()
        for name, tensor in bundle.model.state_dict().items()
    }
    documents: dict[str, Any] = {
        "format": FORMAT_TAG,
        "config": bundle.config.to_dict(),
        "preprocessor": bundle.preprocessor.to_dict(),
        "feature_schema": bundle.preprocessor.schema.to_dict(),
        "threshold": float(bundle.threshold),
        "architecture": bundle.model.architecture,
        "metadata": bundle.metadata,
        CALIBRATION_KEY: bundle.calibrator.to_dict(),
    }
    if isinstance(bundle.model, TabEnsemble):
        documents[ENSEMBLE_KEY] = {"size": bundle.model.size}
    metadata = {key: json.dumps(value, sort_keys=True) for key, value in documents.items()}
    return _canonical_header(st_save(state, metadata=metadata))


def _canonical_header(blob: bytes) -> bytes:
    """Rewrite the header with sorted keys so the same bundle always has the same sha256.

    safetensors emits its metadata map in hash order; tensor offsets are relative to the end
    of the header, so re-encoding the header (space-padded to 8 bytes, as safetensors does)
    leaves the tensor data valid.
    """
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob[8 + header_len :]


def load_bundle(data: bytes, *, expected_sha256: str) -> ModelBundle:
    """Verify the checksum, then decode; any failure is an :class:`ArtifactIntegrityError`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ArtifactIntegrityError(f"artifact must be bytes, got {type(data).__name__}")
    data = bytes(data)
    actual = sha256_hex(data)
    expected = str(expected_sha256).strip().lower()
    if not hmac.compare_digest(actual, expected):
        raise ArtifactIntegrityError(
            f"artifact checksum mismatch: expected sha256 {expected}, got {actual}"
        )
    metadata = _read_metadata(data)
    try:
        documents = {key: json.loads(metadata[key]) for key in _METADATA_KEYS}
    except (KeyError, json.JSONDecodeError) as exc:
        raise ArtifactIntegrityError(f"artifact metadata is incomplete or not JSON: {exc}") from exc
    if documents["format"] != FORMAT_TAG:
        raise ArtifactIntegrityError(
            f"unknown artifact format {documents['format']!r}; expected {FORMAT_TAG!r}"
        )
    try:
        tensors = st_load(data)
        config = TrainingConfig.from_dict(documents["config"])
        preprocessor = Preprocessor.from_dict(documents["preprocessor"])
        schema = FeatureSchema.from_dict(documents["feature_schema"])
        assert schema == preprocessor.schema, "feature schema differs from the preprocessor's"
        model = build_like(_architecture(documents["architecture"]), _ensemble_size(metadata))
        model.load_state_dict(tensors, strict=True)
        threshold = float(documents["threshold"])
        calibration = metadata.get(CALIBRATION_KEY)
        calibrator = (
            Calibrator() if calibration is None else Calibrator.from_dict(json.loads(calibration))
        )
    except ArtifactIntegrityError:
        raise
    except Exception as exc:  # any decoding problem means the artifact cannot be trusted
        raise ArtifactIntegrityError(f"artifact cannot be decoded: {exc}") from exc
    model.eval()
    model.requires_grad_(False)
    metadata_doc = documents["metadata"]
    if not isinstance(metadata_doc, dict):
        raise ArtifactIntegrityError("artifact metadata document must be a JSON object")
    return ModelBundle(
        model=model,
        preprocessor=preprocessor,
        config=config,
        threshold=threshold,
        metadata=metadata_doc,
        calibrator=calibrator,
    )


def _read_metadata(data: bytes) -> dict[str, str]:
    """Parse the safetensors header (u64 little-endian length + JSON) without the library.

    The Python safetensors API exposes ``__metadata__`` only for files, and we never write
    artifacts to disk in this package.
    """
    if len(data) < 8:
        raise ArtifactIntegrityError("artifact is too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len <= 0 or 8 + header_len > len(data):
        raise ArtifactIntegrityError("artifact header length is out of range: not safetensors")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactIntegrityError(f"artifact header is not valid JSON: {exc}") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ArtifactIntegrityError("artifact has no string __metadata__ section")
    return meta


def clone_model(model: ScoringModel) -> ScoringModel:
    """Independent copy with identical weights (e.g. to keep a champion while training)."""
    size = model.size if isinstance(model, TabEnsemble) else 1
    copy = build_like(model.architecture, size)
    copy.load_state_dict({k: v.clone() for k, v in model.state_dict().items()}, strict=True)
    return copy.train(model.training)


def _ensemble_size(metadata: dict[str, str]) -> int:
    """Members stored: 1 without an ``ensemble`` document (every artifact written before)."""
    document = metadata.get(ENSEMBLE_KEY)
    if document is None:
        return 1
    size = json.loads(document)["size"]
    if not isinstance(size, int) or size < 2:
        raise ArtifactIntegrityError(f"ensemble size must be an integer >= 2, got {size!r}")
    return size


__all__ = [
    "FORMAT_TAG",
    "ModelBundle",
    "clone_model",
    "load_bundle",
    "serialize_bundle",
    "sha256_hex",
]


def _architecture(document: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments, accepting artifacts written before ``linear_skip`` was removed.

    Models registered earlier store ``"linear_skip": false``; they are the same network, so
    they keep loading.  One trained with the skip has weights this code cannot rebuild.
    """
    arguments = dict(document)
    if arguments.pop("linear_skip", False):
        raise ArtifactIntegrityError(
            "artifact was trained with the removed linear_skip option; retrain the model"
        )
    return arguments
