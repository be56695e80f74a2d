"""Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware`` on the hot path).

* :class:`RequestMetricsMiddleware` counts and times every request by route *template*
  (``/predict``, never a raw path, so unknown URLs cannot explode label cardinality).
* :class:`BodySizeLimitMiddleware` refuses a declared Content-Length above the limit before
  the body is read; chunked bodies are capped while being read (``deps.read_body``).
* :class:`BodyTimeoutMiddleware` answers 408 when the body does not arrive in time: uvicorn
  has no body-read timeout, so a client trickling a partial body would hold a connection
  (and a slot of ``--limit-concurrency``) forever.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.metrics import ServiceMetrics

UNMATCHED = "unmatched"


class HttpMiddleware:
    """Passes lifespan and websocket traffic through untouched; subclasses see HTTP only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestMetricsMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route: Any = scope.get("route")
            endpoint = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(
                endpoint, scope["method"], status_code, time.perf_counter() - started
            )


class BodySizeLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            detail = f"request body exceeds MAX_REQUEST_BYTES ({self.max_bytes} bytes)"
            await _send_json(send, 413, {"detail": detail})
            return
        await self.app(scope, receive, send)


class BodyReadTimeout(Exception):
    """The request body did not arrive within the deadline (raised from ``receive``)."""


class BodyTimeoutMiddleware(HttpMiddleware):
    """The whole request body must arrive within ``timeout_seconds`` of the request's start.

    ``receive`` is wrapped: while the body is incomplete each call waits only for what is left
    of the deadline; on expiry the request is answered 408 with ``Connection: close`` (the
    rest of the body is never read, so the connection cannot be reused).
    """

    def __init__(self, app: ASGIApp, *, timeout_seconds: float) -> None:
        super().__init__(app)
        self.timeout_seconds = timeout_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.0))
            except TimeoutError:
                raise BodyReadTimeout from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except BodyReadTimeout:
            if not started:
                detail = (
                    f"request body not received within API_BODY_TIMEOUT_SECONDS "
                    f"({self.timeout_seconds:g} s)"
                )
                await _send_json(send, 408, {"detail": detail})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None


async def _send_json(send: Send, status_code: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
