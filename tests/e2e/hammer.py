"""Load during a model switch: a thread that keeps calling /predict, and the switch check.

Shared by the hot-swap tests (activate, shadow promotion, several workers): each must show
that while requests keep coming, the answers move from the old version to the new one at
one point, with no failed request in between.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.e2e.server import wait_until


class Hammer(threading.Thread):
    """Sends /predict back to back and records (status, model_version) of every response."""

    def __init__(self, base_url: str, request: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.request = base_url, request
        self.results: list[tuple[int, str | None]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stop.is_set() and len(self.results) < 20_000:
                try:
                    response = client.post("/predict", json=self.request)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                version = response.json().get("model_version") if response.is_success else None
                self.results.append((response.status_code, version))

    def versions_seen(self) -> list[str | None]:
        return [v for _, v in self.results]


@contextmanager
def switch_under_load(
    base_url: str, request: dict[str, Any], *, old: str, new: str
) -> Iterator[Hammer]:
    """Hammer /predict while the body switches ``old`` -> ``new``; then check the switch.

    The body runs once a few answers have come back; afterwards the hammer keeps going until
    ``new`` answers and a few more requests have passed, so a late failure would be seen.
    """
    hammer = Hammer(base_url, request)
    hammer.start()
    try:
        wait_until(lambda: len(hammer.results) >= 5)
        yield hammer
        wait_until(lambda: new in hammer.versions_seen())
        count = len(hammer.results)
        wait_until(lambda: len(hammer.results) >= count + 5)
    finally:
        hammer.stop.set()
        hammer.join(30)
    assert_switched(hammer, old=old, new=new)


def assert_switched(hammer: Hammer, *, old: str, new: str) -> None:
    """Every request answered 200, by ``old`` until one point and by ``new`` from then on."""
    assert not hammer.errors, hammer.errors[:3]
    assert {status for status, _ in hammer.results} == {200}
    versions = hammer.versions_seen()
    switch = versions.index(new)
    assert set(versions[:switch]) == {old} and set(versions[switch:]) == {new}
