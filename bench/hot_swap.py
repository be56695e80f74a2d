"""Hot-swap latency: how long until a model activated in the registry answers over HTTP.

The e2e tests only prove that a promotion *eventually* reaches responses (with a generous
deadline, so a loaded machine cannot fail them); this script measures how fast.  It trains two
quick lending_club models in a throw-away PostgreSQL database, starts the real service
(uvicorn on 127.0.0.1, ``MODEL_POLL_INTERVAL_SECONDS`` as given), then ``--swaps`` times
activates the other model and times, from the commit of the activation, the first ``/predict``
answered by it (requests sent back to back).  Prints a markdown table; ``--output`` writes it
as the ``hot_swap`` section of a file (default: only printed).

    python bench/hot_swap.py --quick
    python bench/hot_swap.py --poll 0.5 --swaps 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _common import bench_parser, emit, fresh_database, measured_table, setup_logging


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--poll", type=float, default=0.5, help="MODEL_POLL_INTERVAL_SECONDS")
    parser.add_argument("--swaps", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="2 swaps (smoke run)")
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("WARNING")
    from src.pipeline.deployment import activate
    from tests.e2e.helpers import (
        active_predictor,
        champion_and_candidate,
        pipeline_env,
        real_requests,
    )
    from tests.e2e.server import running_server, wait_until

    swaps = 2 if args.quick else args.swaps
    latencies: list[float] = []
    with fresh_database("bench_swap") as url:
        versions = list(champion_and_candidate(url))  # the first is active
        request = real_requests(url, active_predictor(url).schema, 1)[0]
        env = {"MODEL_POLL_INTERVAL_SECONDS": str(args.poll)}
        with running_server(url, **env) as server, server.client() as client:
            wait_until(lambda: client.get("/ready").status_code == 200)
            for i in range(swaps):
                target = versions[(i + 1) % 2]
                with pipeline_env(url):
                    activate(model_version=target)
                committed = time.monotonic()

                def served(target: str = target) -> bool:
                    answer = client.post("/predict", json=request)
                    return answer.status_code == 200 and answer.json()["model_version"] == target

                wait_until(served, interval=0.0)
                latencies.append(time.monotonic() - committed)
    rows = [
        ["poll interval (s)", f"{args.poll:g}"],
        ["swaps", len(latencies)],
        ["activation -> first answer, median (s)", f"{statistics.median(latencies):.2f}"],
        ["max (s)", f"{max(latencies):.2f}"],
    ]
    return emit(
        "hot_swap", "## Hot swap\n\n" + measured_table(["figure", "value"], rows), args.output
    )


if __name__ == "__main__":
    sys.exit(main())
