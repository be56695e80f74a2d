"""Micro-batching with a real (tiny) TabTransformer: shared passes, same answers, own errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from src.api.metrics import ServiceMetrics
from src.api.micro_batch import MicroBatcher
from src.exceptions import InvalidInputError
from src.models.artifact import ModelBundle
from src.models.predictor import Predictor
from tests.unit.models.conftest import SCHEMA, TINY_CONFIG, make_frame, train_tiny


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:  # the name marks these tests slow: they train a model
    from src.models.preprocessing import Preprocessor

    train, y_train = make_frame(400, seed=1)
    valid, y_valid = make_frame(100, seed=2)
    data = {"train": train, "y_train": y_train, "valid": valid, "y_valid": y_valid}
    data["pre"] = Preprocessor.fit(train, SCHEMA)
    model = train_tiny(data)
    return ModelBundle(model=model, preprocessor=data["pre"], config=TINY_CONFIG, threshold=0.5)


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    frame, _ = make_frame(n, seed=seed)
    return [
        {
            k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in r.items()
        }
        for r in frame.to_dict("records")
    ]


@contextmanager
def running(
    metrics: ServiceMetrics | None = None, latency_ms: float = 20
) -> Iterator[MicroBatcher]:
    """A started batcher (its worker thread running), stopped on exit."""
    batcher = MicroBatcher(
        max_rows=64, max_latency_ms=latency_ms, metrics=metrics or ServiceMetrics()
    )
    batcher.start()
    try:
        yield batcher
    finally:
        batcher.stop()


def _rows_observed(metrics: ServiceMetrics) -> tuple[float, float]:
    """(requests observed, rows summed over them) of the batch-size histogram."""
    count = metrics.registry.get_sample_value("predict_batch_rows_count") or 0.0
    total = metrics.registry.get_sample_value("predict_batch_rows_sum") or 0.0
    return count, total


def _concurrently(batcher: MicroBatcher, calls: list[tuple[Predictor, list[dict]]]) -> list[Any]:
    """Every call started at once (a barrier), each in its own thread, as request threads are."""
    barrier = threading.Barrier(len(calls))

    def run(call: tuple[Predictor, list[dict]]) -> Any:
        barrier.wait()
        try:
            return batcher.predict(*call)
        except Exception as exc:  # returned, so the test can look at each call's outcome
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_lone_request_is_scored_at_once(bundle: ModelBundle) -> None:
    metrics = ServiceMetrics()
    with running(metrics, latency_ms=50) as batcher:
        predictor = Predictor(bundle)
        records = _records(1, seed=5)
        proba, unseen = batcher.predict(predictor, records)
        np.testing.assert_array_equal(proba, predictor.predict_records(records)[0])
        assert unseen == [[]]
        assert metrics.registry.get_sample_value("predict_batch_wait_seconds_sum") == 0.0


def test_concurrent_requests_share_passes_and_get_their_own_scores(bundle: ModelBundle) -> None:
    metrics = ServiceMetrics()
    with running(metrics, latency_ms=20) as batcher:
        predictor = Predictor(bundle)
        records = _records(48, seed=6)
        results = _concurrently(batcher, [(predictor, [r]) for r in records])
    expected = predictor.predict_records(records)[0]
    got = np.concatenate([proba for proba, _ in results])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)  # batch size changes no answer
    count, rows = _rows_observed(metrics)
    assert count == 48 and rows > count  # some requests were scored together


def test_requests_for_another_model_are_never_mixed_in(bundle: ModelBundle) -> None:
    other_bundle = ModelBundle(
        model=train_tiny(
            {
                "train": make_frame(400, seed=8)[0],
                "y_train": make_frame(400, seed=8)[1],
                "valid": make_frame(100, seed=9)[0],
                "y_valid": make_frame(100, seed=9)[1],
                "pre": bundle.preprocessor,
            }
        ),
        preprocessor=bundle.preprocessor,
        config=TINY_CONFIG,
        threshold=0.5,
    )
    first, second = Predictor(bundle), Predictor(other_bundle)
    records = _records(24, seed=10)
    calls = [(first if i % 2 else second, [r]) for i, r in enumerate(records)]
    with running(latency_ms=20) as batcher:
        results = _concurrently(batcher, calls)
    for (predictor, rows), (proba, _) in zip(calls, results, strict=True):
        np.testing.assert_allclose(proba, predictor.predict_records(rows)[0], atol=1e-6)
    assert not np.allclose(
        first.predict_records(records)[0], second.predict_records(records)[0], atol=1e-3
    ), "the two models must differ for this test to mean anything"


def test_one_bad_request_fails_alone(bundle: ModelBundle) -> None:
    """A record that fails scoring (a number as text the parser refuses) fails only its own
    request: the batch is retried one request at a time."""
    predictor = Predictor(bundle)
    records = _records(12, seed=11)
    bad = dict(records[3], rate="not a number")
    calls = [(predictor, [bad if i == 3 else r]) for i, r in enumerate(records)]
    with running(latency_ms=20) as batcher:
        results = _concurrently(batcher, calls)
    assert isinstance(results[3], InvalidInputError) and "rate" in str(results[3])
    for i, result in enumerate(results):
        if i != 3:
            np.testing.assert_allclose(
                result[0], predictor.predict_records([records[i]])[0], atol=1e-6
            )


def test_without_a_running_worker_requests_are_scored_directly(bundle: ModelBundle) -> None:
    batcher = MicroBatcher(max_rows=64, max_latency_ms=20, metrics=ServiceMetrics())
    predictor = Predictor(bundle)
    records = _records(8, seed=12)
    results = _concurrently(batcher, [(predictor, [r]) for r in records])  # never started
    np.testing.assert_allclose(
        np.concatenate([p for p, _ in results]), predictor.predict_records(records)[0], atol=1e-6
    )


def test_async_callers_share_passes_and_get_their_own_scores(bundle: ModelBundle) -> None:
    """What ``/predict`` does: many awaiting requests, no thread each, one worker scoring."""
    metrics = ServiceMetrics()
    predictor = Predictor(bundle)
    records = _records(48, seed=13)

    async def all_at_once(batcher: MicroBatcher) -> list[Any]:
        calls = (batcher.predict_async(predictor, [r]) for r in records)
        return await asyncio.gather(*calls)

    with running(metrics, latency_ms=20) as batcher:
        results = asyncio.run(all_at_once(batcher))
    expected = predictor.predict_records(records)[0]
    got = np.concatenate([proba for proba, _ in results])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    count, rows = _rows_observed(metrics)
    assert count == 48 and rows > count  # some requests were scored together


def test_a_lone_async_request_does_not_wait_for_company(bundle: ModelBundle) -> None:
    """With nothing else in flight the worker scores at once instead of waiting out
    BATCH_MAX_LATENCY_MS (here 2 s) for requests that are not coming."""
    metrics = ServiceMetrics()
    predictor = Predictor(bundle)
    with running(metrics, latency_ms=2000) as batcher:
        for record in _records(3, seed=14):
            asyncio.run(batcher.predict_async(predictor, [record]))
    waited = metrics.registry.get_sample_value("predict_batch_wait_seconds_sum")
    assert waited is not None and waited < 1.0, waited


def test_a_waiter_that_gave_up_does_not_stop_the_worker(bundle: ModelBundle) -> None:
    predictor = Predictor(bundle)
    records = _records(2, seed=15)
    with running(latency_ms=20) as batcher:
        abandoned = batcher.submit(predictor, records[:1])
        abandoned.cancel()  # as a timed-out request's future is
        proba, _ = batcher.predict(predictor, records[1:])  # the worker is still answering
        late = asyncio.run(batcher.predict_async(predictor, records[1:]))
    np.testing.assert_allclose(proba, predictor.predict_records(records[1:])[0], atol=1e-6)
    np.testing.assert_allclose(late[0], proba, atol=1e-6)
