"""Shadow scoring on the request path: sampled deterministically, queued without blocking,
never changing an answer; the worker's rows name the answer they mirror."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from src.api.main import create_app
from src.api.model_manager import LoadedModel
from src.api.shadow import ShadowScorer, sampled
from src.api.state import Services
from tests.unit.api.conftest import FakePredictor, make_services, valid_request


class ShadowPredictor(FakePredictor):
    """A challenger: another version, another threshold, a shifted score."""

    version = "v0008"
    threshold = 0.6

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.clip(super().predict_proba(frame) * 0.8 + 0.1, 0.0, 1.0)


class BrokenPredictor(ShadowPredictor):
    def predict_records(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, list]:
        raise RuntimeError("shadow exploded")


def _loaded(predictor: FakePredictor) -> LoadedModel:
    return LoadedModel(
        predictor=predictor,  # type: ignore[arg-type]  # a duck-typed stand-in
        version=predictor.version,
        sha256="1" * 64,
        info={},
    )


def _with_shadow(
    services: Services, predictor: FakePredictor | None, *, queue_size: int = 100, room: bool = True
) -> ShadowScorer:
    scorer = ShadowScorer(
        log_rows=services.log.submit,
        log_has_room=lambda: room,
        metrics=services.metrics,
        share=1.0,
        queue_size=queue_size,
    )
    scorer.model = _loaded(predictor) if predictor is not None else None
    services.shadow = scorer
    return scorer


def _counter(scorer: ShadowScorer, result: str) -> float:
    return scorer.counter.labels(result=result)._value.get()


def _shadow_rows(services: Services) -> list[dict[str, Any]]:
    return [r for r in list(services.log.buffer._rows) if r["role"] == "shadow"]


def test_sampling_is_deterministic_nested_and_close_to_the_share():
    keys = [f"app-{i}" for i in range(20_000)]
    at_20 = {k for k in keys if sampled(k, 0.2)}
    at_50 = {k for k in keys if sampled(k, 0.5)}
    assert at_20 <= at_50  # raising the share keeps every application already shadowed
    assert len(at_20) / len(keys) == pytest.approx(0.2, abs=0.015)
    assert len(at_50) / len(keys) == pytest.approx(0.5, abs=0.015)
    assert [sampled(k, 0.5) for k in keys[:100]] == [sampled(k, 0.5) for k in keys[:100]]
    assert all(sampled(k, 1.0) for k in keys[:100])
    assert not any(sampled(k, 0.0) for k in keys[:100])
    assert not sampled(None, 0.5)


def test_answers_are_the_champions_and_the_shadow_rows_mirror_them():
    plain = TestClient(create_app(make_services()))
    services = make_services()
    scorer = _with_shadow(services, ShadowPredictor())
    client = TestClient(create_app(services))
    body = valid_request() | {"application_id": "app-1"}
    without = plain.post("/predict", json=body).json()
    scorer.start()
    try:
        answered = [client.post("/predict", json=body).json() for _ in range(3)]
        batch = client.post("/predict/batch", json={"records": [valid_request()] * 2}).json()
        deadline = time.monotonic() + 10
        while len(_shadow_rows(services)) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scorer.stop()
    fresh = ("prediction_id", "request_id")  # generated per request
    for answer in answered:  # the shadow changed nothing in the answer
        assert {k: v for k, v in answer.items() if k not in fresh} == {
            k: v for k, v in without.items() if k not in fresh
        }
        assert answer["model_version"] == "v0007"
    rows = _shadow_rows(services)
    champion_rows = [r for r in services.log.buffer._rows if r["role"] == "champion"]
    assert len(champion_rows) == 5 and len(rows) == 5
    answer_ids = {a["prediction_id"] for a in answered} | {
        p["prediction_id"] for p in batch["predictions"]
    }
    assert {r["champion_prediction_id"] for r in rows} == answer_ids
    assert {r["model_version"] for r in rows} == {"v0008"}
    first = next(r for r in rows if r["champion_prediction_id"] == answered[0]["prediction_id"])
    expected = answered[0]["probability"] * 0.8 + 0.1
    assert first["probability"] == pytest.approx(expected)
    assert first["prediction"] == int(expected >= 0.6)
    assert first["application_id"] == "app-1"
    assert _counter(scorer, "scored") == 5


def test_a_full_queue_drops_and_counts_without_blocking():
    services = make_services()
    scorer = _with_shadow(services, ShadowPredictor(), queue_size=1)  # worker not started
    champion = services.models.current
    assert champion is not None
    answers = [{"request_id": "r1", "prediction_id": "p1", "application_id": None}]
    records = [{"term": "36", "grade": "B", "amount": 3000.0, "rate": 7.5}]
    assert scorer.submit(champion, records, answers) == 1
    started = time.perf_counter()
    assert scorer.submit(champion, records * 2, answers * 2) == 0
    assert time.perf_counter() - started < 0.5
    assert _counter(scorer, "dropped") == 2
    scorer.stop()  # what was queued is counted as dropped, not scored
    assert _counter(scorer, "dropped") == 3


def test_no_shadow_rows_for_the_champion_itself_or_without_a_shadow():
    services = make_services()
    scorer = _with_shadow(services, FakePredictor())  # same version as the champion
    champion = services.models.current
    assert champion is not None
    answers = [{"request_id": "r1", "prediction_id": "p1"}]
    assert scorer.submit(champion, [{}], answers) == 0
    scorer.model = None
    assert scorer.submit(champion, [{}], answers) == 0


def test_a_failing_shadow_or_a_backed_up_log_costs_no_answer():
    services = make_services()
    scorer = _with_shadow(services, BrokenPredictor())
    client = TestClient(create_app(services))
    scorer.start()
    try:
        response = client.post("/predict", json=valid_request())
        deadline = time.monotonic() + 10
        while _counter(scorer, "failed") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scorer.stop()
    assert response.status_code == 200 and response.json()["model_version"] == "v0007"
    assert _counter(scorer, "failed") == 1
    assert _shadow_rows(services) == []

    services = make_services()
    scorer = _with_shadow(services, ShadowPredictor(), room=False)
    champion = services.models.current
    assert champion is not None
    record = {"term": "36", "grade": "B", "amount": 3000.0, "rate": 7.5}
    scorer.submit(champion, [record], [{"request_id": "r", "prediction_id": "p"}])
    scorer.score([scorer._queue.get_nowait()])
    assert _counter(scorer, "dropped") == 1 and _shadow_rows(services) == []
