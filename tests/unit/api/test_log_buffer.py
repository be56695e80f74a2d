"""The prediction-log buffer: bounded, FIFO, counts drops, requeues failed flushes in order."""

from __future__ import annotations

import threading

import pytest

from src.api.log_buffer import LogBuffer


def rows(*ids: int) -> list[dict[str, int]]:
    return [{"id": i} for i in ids]


def ids(batch: list[dict[str, int]]) -> list[int]:
    return [r["id"] for r in batch]


def test_fifo_take_respects_limit() -> None:
    buf = LogBuffer(10)
    buf.extend(rows(1, 2, 3))
    assert ids(buf.take(2)) == [1, 2]
    assert ids(buf.take(5)) == [3]
    assert buf.take(5) == []
    assert buf.dropped == 0


def test_overflow_drops_oldest_and_counts() -> None:
    buf = LogBuffer(3)
    for i in range(1, 6):
        buf.append({"id": i})
    assert len(buf) == 3
    assert buf.dropped == 2
    assert ids(buf.take(10)) == [3, 4, 5]


def test_requeue_puts_rows_back_in_front_in_order() -> None:
    buf = LogBuffer(10)
    buf.extend(rows(1, 2, 3, 4))
    failed = buf.take(2)
    buf.append({"id": 5})
    buf.requeue(failed)
    assert ids(buf.take(10)) == [1, 2, 3, 4, 5]
    assert buf.dropped == 0


def test_requeue_into_a_full_buffer_drops_the_oldest() -> None:
    buf = LogBuffer(3)
    buf.extend(rows(1, 2))
    failed = buf.take(2)
    buf.extend(rows(3, 4))
    buf.requeue(failed)  # 1, 2, 3, 4 -> capacity 3 drops row 1
    assert ids(buf.take(10)) == [2, 3, 4]
    assert buf.dropped == 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LogBuffer(0)


def test_concurrent_appends_lose_nothing_but_overflow() -> None:
    buf = LogBuffer(500)

    def produce(start: int) -> None:
        for i in range(start, start + 200):
            buf.append({"id": i})

    threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(buf) + buf.dropped == 800
    assert len(buf) == 500
