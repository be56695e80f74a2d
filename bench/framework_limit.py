"""The framework's limit: ``POST /predict`` against a trivial endpoint, same server, same client.

``wrk`` (Debian's package: ``apt-get install wrk``) drives 32 keep-alive connections for
``--duration`` seconds at ``GET /health`` and then at ``POST /predict`` (the bundled
``examples/request.json`` body, or a row of the served model's own training medians/modes),
against one uvicorn worker serving the active lending_club model of ``--database-url``.
The pair is measured twice in one run, with micro-batching off (``BATCH_MAX_SIZE=1``, as
serving was before it) and on (the defaults), each with a fresh server, so the ratios compare
like with like on a machine whose load changes.  It prints a markdown table and writes it to
docs/benchmarks.md (section ``framework_limit``).

    python bench/framework_limit.py --database-url sqlite:///data/demo.db   # after make demo
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import bench_parser, busy_processes, measured_table, publish, setup_logging
from serve import ROOT, prepare_database, start_server, stop_server

logger = logging.getLogger("bench.framework_limit")
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50/p99 (ms), timeouts and non-2xx answers from ``wrk --latency`` output."""

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(match.group(1)) * UNITS[match.group(2)] if match else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    timeouts = re.search(r"timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
        "p50": ms("50"),
        "p99": ms("99"),
        "timeouts": float(timeouts.group(1)) if timeouts else 0.0,
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def run_wrk(url: str, *, connections: int, duration: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "2s"]
    command += ["-s", str(script)] if script else []
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def logged_predictions(url: str) -> int:
    """Rows in ``loan_data.predictions``: compared with the answers wrk counted."""
    from sqlalchemy import func, select

    from src.data.database import get_engine, session_scope
    from src.data.tables import Prediction

    with session_scope(get_engine(url)) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def measure(url: str, workdir: Path, args: Any, env: dict[str, str]) -> dict[str, Any]:
    """``/health`` then ``/predict`` against one fresh server started with ``env``.

    The server is stopped (which flushes its prediction log) before the log is counted.
    """
    body = json.loads((ROOT / "examples" / "request.json").read_text())
    script = workdir / "predict.lua"
    script.write_text(LUA.format(body=json.dumps(body)))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        before = logged_predictions(url)
        process, base_url = start_server(url, workdir)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})
    try:
        run_wrk(f"{base_url}/health", connections=args.connections, duration=2, script=None)
        health = run_wrk(
            f"{base_url}/health", connections=args.connections, duration=args.duration, script=None
        )
        predict = run_wrk(
            f"{base_url}/predict",
            connections=args.connections,
            duration=args.duration,
            script=script,
        )
    finally:
        stop_server(process)
    logged = logged_predictions(url) - before
    return {"health": health, "predict": predict, "logged": logged}


def report(results: dict[str, dict[str, Any]], args: Any, busy: str) -> str:
    rows = []
    for name, r in results.items():
        h, p = r["health"], r["predict"]
        rows.append(
            [
                name,
                f"{h['rps']:,.0f}",
                f"{p['rps']:,.0f}",
                f"{p['rps'] / h['rps']:.0%}" if h["rps"] else "n/a",
                f"{p['p50']:.1f}",
                f"{p['p99']:.1f}",
                f"{p['p99'] / p['p50']:.1f}x" if p["p50"] else "n/a",
                f"{p['timeouts']:.0f} / {p['non_2xx']:.0f}",
                f"{p['requests']:,.0f} / {r['logged']:,}",
            ]
        )
    header = [
        "serving",
        "GET /health req/s",
        "POST /predict req/s",
        "predict / health",
        "predict p50 ms",
        "predict p99 ms",
        "p99 / p50",
        "timeouts (2 s) / non-2xx",
        "predict answered / logged",
    ]
    return (
        "## Serving: the framework's limit\n\n"
        f"`python bench/framework_limit.py`: `wrk -t1 -c{args.connections} "
        f"-d{args.duration}s` at `GET /health`, then at `POST /predict` "
        "(`examples/request.json`), one uvicorn worker on 127.0.0.1 serving the active "
        "lending_club model of the database given, 1 torch thread; wrk runs on the same 2 "
        "cores as the server. Each row is a fresh server: micro-batching off "
        "(`BATCH_MAX_SIZE=1`) and on (the defaults). *Answered*: the responses wrk completed; "
        "*logged*: rows the server added to `loan_data.predictions`, counted after it stopped "
        "(stopping flushes the log). The warm-up's 2 s of `/health` logs nothing; requests "
        "still in flight when wrk stops are answered and logged but not counted by wrk, so "
        "logged may exceed answered by at most the number of connections. Busiest processes "
        "at the end: "
        f"{busy}.\n\n" + measured_table(header, rows)
    )


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--database-url", help="serve this database's active model")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=60, help="seconds per measurement")
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args()
    setup_logging()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as tmp:
        workdir = Path(tmp)
        url = prepare_database(args.database_url, workdir)
        results = {}
        for name, env in (("batching off", {"BATCH_MAX_SIZE": "1"}), ("batching on", {})):
            results[name] = measure(url, workdir, args, env | {"TORCH_NUM_THREADS": "1"})
            logger.info("%s: %s", name, results[name])
    return publish("framework_limit", report(results, args, busy_processes()), args.output)


if __name__ == "__main__":
    sys.exit(main())
