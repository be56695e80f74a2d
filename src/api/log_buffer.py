"""A bounded, thread-safe FIFO of prediction-log rows that counts what it drops.

Pure (no I/O) so its overflow and retry rules are unit-testable.  Why these rules:

* The request path only appends; it never waits on the database.
* When full, the *oldest* row is dropped: during a long outage the rows kept are the
  newest, and the drop is counted so the loss is visible in ``/metrics``.
* A failed flush puts its rows back at the front, in their original order, so the next
  flush retries them first; inserts are idempotent per ``prediction_id``, so a flush whose
  commit succeeded but whose acknowledgement was lost does not duplicate rows.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

Row = dict[str, Any]


class LogBuffer:
    """FIFO with capacity ``capacity``; ``dropped`` counts rows lost to overflow."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._rows: deque[Row] = deque()
        self._lock = threading.Lock()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, row: Row) -> None:
        self.extend([row])

    def extend(self, rows: list[Row]) -> None:
        """Add rows at the back; drop (and count) the oldest beyond capacity."""
        with self._lock:
            self._rows.extend(rows)
            self._trim()

    def take(self, limit: int) -> list[Row]:
        """Remove and return up to ``limit`` of the oldest rows."""
        with self._lock:
            count = min(limit, len(self._rows))
            return [self._rows.popleft() for _ in range(count)]

    def requeue(self, rows: list[Row]) -> None:
        """Put rows from a failed flush back at the front, keeping their order.

        If newer rows filled the buffer meanwhile, the oldest rows are dropped first,
        consistently with :meth:`extend`.
        """
        with self._lock:
            self._rows.extendleft(reversed(rows))
            self._trim()

    def _trim(self) -> None:
        overflow = len(self._rows) - self.capacity
        for _ in range(max(overflow, 0)):
            self._rows.popleft()
        self.dropped += max(overflow, 0)
