"""The fast unseen-category check agrees with the preprocessor's pandas implementation."""

from __future__ import annotations

from src.api.model_manager import LoadedModel
from src.data.frames import records_to_frame
from tests.unit.api.conftest import FakePredictor


def test_matches_preprocessor() -> None:
    predictor = FakePredictor()
    loaded = LoadedModel(predictor=predictor, version="v1", sha256="0", info={})  # type: ignore[arg-type]
    records = [
        {"term": "36", "grade": "A", "amount": 1.0, "rate": 1.0},
        {"term": "48", "grade": "A", "amount": 1.0, "rate": None},
        {"term": None, "grade": "Z", "amount": 1.0, "rate": 1.0},
        {"term": "12", "grade": "Q", "amount": 1.0, "rate": 1.0},
    ]
    expected = predictor.preprocessor.unseen_categories(records_to_frame(records, predictor.schema))
    assert (
        loaded.unseen_categories(records)
        == expected
        == [[], ["term"], ["grade"], ["term", "grade"]]
    )
