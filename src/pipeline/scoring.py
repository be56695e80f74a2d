"""Loading a registered model for scoring, always through checksum verification."""

from __future__ import annotations

from src.data.tables import ModelMetadata
from src.models.artifact import load_bundle
from src.models.predictor import Predictor


def predictor_for(model: ModelMetadata) -> Predictor:
    """A predictor for a registry row; raises ArtifactIntegrityError if the bytes were altered."""
    return Predictor(load_bundle(model.artifact, expected_sha256=model.artifact_sha256))
