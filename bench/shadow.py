"""Shadow scoring's cost to the answers: /predict latency and throughput, shadow off vs on.

Trains two quick lending_club models in a throw-away PostgreSQL database (the first is the
champion, the second a candidate), then runs the real service (uvicorn on 127.0.0.1) twice:
``SHADOW_MODE=off`` and ``SHADOW_MODE=on`` with ``SHADOW_SHARE=1.0`` (every request
shadowed: the worst case).  Each run sends ``--requests`` sequential ``/predict`` calls
(client-side latency percentiles), then the same number from ``--clients`` concurrent clients
(throughput), and reads how many shadow scores were logged and dropped.  The shadow runs in a
thread of the same process, so on a machine whose cores are all busy it competes with the
answers for CPU.  That contention is what the concurrent figure shows.

    python bench/shadow.py --quick
    python bench/shadow.py --requests 2000 --clients 4 --output docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import bench_parser, emit, fresh_database, measured_table, setup_logging


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="100 requests (smoke run)")
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _run(url: str, mode: str, bodies: list[dict[str, Any]], clients: int) -> dict[str, float]:
    import httpx

    from tests.e2e.helpers import metric_value
    from tests.e2e.server import running_server, wait_until

    env = {"SHADOW_MODE": mode, "SHADOW_SHARE": "1.0", "LOG_LEVEL": "WARNING"}
    with running_server(url, **env) as server, server.client() as client:
        wait_until(lambda: client.get("/ready").status_code == 200)
        if mode == "on":
            wait_until(lambda: client.get("/model").json().get("shadow_version") is not None)
        for body in bodies[:20]:  # warm-up
            client.post("/predict", json=body)
        latencies = []
        for body in bodies:
            started = time.perf_counter()
            response = client.post("/predict", json=body)
            latencies.append((time.perf_counter() - started) * 1000.0)
            response.raise_for_status()

        def send(chunk: list[dict[str, Any]]) -> None:
            with httpx.Client(base_url=server.base_url, timeout=30) as own:
                for body in chunk:
                    own.post("/predict", json=body).raise_for_status()

        chunks = [bodies[i::clients] for i in range(clients)]
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, chunks))
        throughput = len(bodies) / (time.perf_counter() - started)
        time.sleep(1.5)  # let the shadow queue drain and the log flush
        metrics = client.get("/metrics").text
    return {
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "throughput": throughput,
        "scored": metric_value(metrics, 'shadow_predictions_total{result="scored"}'),
        "dropped": metric_value(metrics, 'shadow_predictions_total{result="dropped"}'),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("WARNING")
    from tests.e2e.helpers import active_predictor, champion_and_candidate, real_requests

    count = 100 if args.quick else args.requests
    with fresh_database("bench_shadow") as url:
        champion_and_candidate(url)  # SHADOW_MODE=on shadows the candidate
        pool = real_requests(url, active_predictor(url).schema, 200)
        bodies = [pool[i % len(pool)] | {"application_id": f"b-{i}"} for i in range(count)]
        results = {mode: _run(url, mode, bodies, args.clients) for mode in ("off", "on")}
    rows = [
        [
            f"SHADOW_MODE={mode}",
            f"{r['p50']:.2f}",
            f"{r['p99']:.2f}",
            f"{r['throughput']:.0f}",
            f"{r['scored']:.0f}",
            f"{r['dropped']:.0f}",
        ]
        for mode, r in results.items()
    ]
    header = [
        "server",
        "sequential p50 (ms)",
        "p99 (ms)",
        f"{args.clients} clients (req/s)",
        "shadow scored",
        "shadow dropped",
    ]
    intro = (
        "## Shadow scoring overhead\n\n"
        f"{count} sequential `/predict` calls, then {count} from {args.clients} clients; "
        "`SHADOW_SHARE=1.0`.\n\n"
    )
    return emit("shadow", intro + measured_table(header, rows), args.output)


if __name__ == "__main__":
    sys.exit(main())
