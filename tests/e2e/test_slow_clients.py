"""Slow and greedy clients against a real ``loan-default serve`` over real sockets.

uvicorn has no body-read timeout: before ``BodyTimeoutMiddleware`` a client that sent the
headers and a few bytes of a declared body, then trickled the rest, held its connection for
as long as it liked.  Now the body must arrive within API_BODY_TIMEOUT_SECONDS (408, then the
connection is closed), and API_LIMIT_CONCURRENCY (passed to uvicorn by ``loan-default serve``)
turns clients away with 503 instead of letting them pile up.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.e2e.server import PATIENCE, running_server, wait_until

pytestmark = [pytest.mark.e2e]


def _open_partial_post(port: int, body: bytes, sent: int) -> socket.socket:
    """A POST /predict announcing ``len(body)`` bytes of which only ``sent`` are sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:sent])
    return sock


def _padded_request(served: Served, size: int) -> bytes:
    """A valid request, padded with JSON whitespace to ``size`` bytes (never fully sent)."""
    body = json.dumps(served.requests[0]).encode()
    return body + b" " * (size - len(body))


def test_slowly_trickled_body_gets_408_and_the_connection_closes(served: Served) -> None:
    env = {"API_BODY_TIMEOUT_SECONDS": "2"}
    with running_server(served.database_url, via_cli=True, **env) as server:
        body = _padded_request(served, 10_000)  # at 10 bytes/s: ~17 minutes to send
        started = time.monotonic()  # before the headers leave: the server's clock starts later
        sock = _open_partial_post(server.port, body, sent=20)
        answer = b""
        with sock:
            sock.settimeout(0.1)
            position = 20
            while not answer and time.monotonic() - started < PATIENCE:
                try:
                    sock.sendall(body[position : position + 1])  # one byte every 0.1 s
                    position += 1
                except (BrokenPipeError, ConnectionResetError):  # closed: the answer is in
                    sock.settimeout(PATIENCE)  # (the recv below then reads it, or EOF)
                try:
                    answer = sock.recv(65536)
                except TimeoutError:
                    continue
            elapsed = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert position < len(body)
            sock.settimeout(PATIENCE)
            while chunk := sock.recv(65536):  # the server closes: recv returns b""
                answer += chunk  # the body may come in a later segment than the headers
            assert b"connection: close" in answer.lower()
            assert b"API_BODY_TIMEOUT_SECONDS" in answer
        assert elapsed >= 2.0  # not refused before the deadline
        with server.client() as client:  # the server is fine afterwards
            assert client.post("/predict", json=served.requests[0]).status_code == 200
            metrics = client.get("/metrics").text
        assert 'status="408"' in metrics


def test_connections_beyond_the_concurrency_limit_get_503(served: Served) -> None:
    env = {"API_LIMIT_CONCURRENCY": "2", "API_BODY_TIMEOUT_SECONDS": str(PATIENCE)}
    with running_server(served.database_url, via_cli=True, **env) as server:
        body = _padded_request(served, 1_000)
        held = [_open_partial_post(server.port, body, sent=10) for _ in range(2)]
        try:
            refused = httpx.get(f"{server.base_url}/health", timeout=PATIENCE)
            assert refused.status_code == 503, refused.text
        finally:
            for sock in held:
                sock.close()

        def healthy() -> bool:
            try:
                return httpx.get(f"{server.base_url}/health", timeout=PATIENCE).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy)  # slots come back as soon as the greedy clients leave
