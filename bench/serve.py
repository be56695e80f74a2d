"""Serving benchmark: HTTP (uvicorn subprocess on 127.0.0.1) vs the same model in-process.

Measures, in one run, single-row and 1,000-row batch latency (p50/p99) and throughput, for

* **in-process**: ``request_to_record`` -> ``Predictor.predict_records`` (the work a request
  does, minus HTTP/JSON), and
* **HTTP**: ``POST /predict`` and ``POST /predict/batch`` over keep-alive connections,
  sequentially (latency) and from several client threads (single-row throughput).

In-process and HTTP calls alternate one by one, so on a shared, noisy machine both see the
same load and their ratio stays meaningful.  The hot path is measured the same way: one row
as a bare forward pass of its preprocessed tensors, through the DataFrame path serving used
before, and through the records path it uses now, interleaved call by call.

The model comes from ``--database-url`` (its active model) or, by default, from a temporary
SQLite database into which lending_club is collected and a model trained with quick settings.
All request loops are bounded and everything stays on 127.0.0.1.

    python bench/serve.py --quick                 # < 60 s, smoke-run by the test suite
    python bench/serve.py --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    QUICK_TRAINING,
    busy_processes,
    latency_rows,
    markdown_table,
    measured_table,
    publish,
    setup_logging,
)

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="use this database's active model")
    parser.add_argument("--quick", action="store_true", help="small counts, finishes < 60 s")
    parser.add_argument("--single", type=int, help="single-row requests per measurement")
    parser.add_argument("--batches", type=int, help="1,000-row batches per measurement")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    args = parser.parse_args()
    args.single = args.single or (80 if args.quick else 2000)
    args.batches = args.batches or (5 if args.quick else 50)
    return args


def prepare_database(url: str | None, workdir: Path) -> str:
    """The URL to serve from; trains a quick model into a fresh SQLite file when none given."""
    from config.settings import get_settings

    if url:
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        return url
    url = f"sqlite:///{workdir / 'bench.db'}"
    os.environ.update({"DATABASE_URL": url, **QUICK_TRAINING})
    get_settings.cache_clear()
    from src.data.database import init_db
    from src.data.ingest import collect
    from src.pipeline.training import train

    started = time.perf_counter()
    init_db()
    collect(source="lending_club", batch_size=3000)
    version = train(source="lending_club", progress=False).model_version
    print(f"trained {version} into {url} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return url


def load_model_and_requests(url: str, count: int) -> tuple[Any, list[dict[str, Any]]]:
    from sqlalchemy import select

    from src.data import repository as repo
    from src.data.database import get_engine, session_scope
    from src.data.tables import ProcessedData
    from src.pipeline.serving import predictor_for

    with session_scope(get_engine(url)) as session:
        row = repo.get_active_model(session, source="lending_club")
        if row is None:
            sys.exit(f"no active model in {url}")
        predictor = predictor_for(row)
        stored = session.scalars(
            select(ProcessedData.features)
            .where(ProcessedData.source == row.source)
            .order_by(ProcessedData.raw_id)
            .limit(count)
        ).all()
    schema = predictor.schema
    requests = [
        {
            "categorical_features": {c: f.get(c) for c in schema.categorical},
            "numerical_features": {n: f.get(n) for n in schema.numerical},
        }
        for f in stored
    ]
    if not requests:
        sys.exit("no stored rows to build requests from")
    return predictor, [requests[i % len(requests)] for i in range(count)]


# --------------------------------------------------------------------------- measuring
def paired(
    local: Callable[[int], Any], remote: Callable[[int], Any], n: int, warmup: int
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate in-process and HTTP calls so both see the same machine load (fair ratios)."""
    for i in range(warmup):
        local(i)
        remote(i)
    out = np.empty((2, n))
    for i in range(n):
        for k, call in enumerate((local, remote)):
            started = time.perf_counter()
            call(i)
            out[k, i] = time.perf_counter() - started
    return out[0], out[1]


def row(
    name: str, path: str, rows_per_call: int, seconds: np.ndarray, wall: float | None = None
) -> dict[str, Any]:
    wall = wall if wall is not None else float(seconds.sum())
    return {
        "name": name,
        "path": path,
        "calls": len(seconds),
        "p50": float(np.percentile(seconds, 50)) * 1000,
        "p99": float(np.percentile(seconds, 99)) * 1000,
        "throughput": rows_per_call * len(seconds) / wall,
    }


def measure(
    predictor: Any, requests: list[dict[str, Any]], base_url: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """In-process = validation + records -> tensors + one forward pass: a request's work
    minus HTTP/JSON (what ``score_records`` runs)."""
    import httpx
    import torch

    from config.settings import get_settings
    from src.pipeline.request_records import request_to_record

    torch.set_num_threads(get_settings().torch_num_threads)  # as the server does
    schema = predictor.schema
    batch = requests[: args.batch_size]

    def score(rows: list[dict[str, Any]]) -> None:
        records = [request_to_record(r, schema=schema) for r in rows]
        predictor.predict_records(records)  # what score_records runs (pandas-free)

    with httpx.Client(base_url=base_url, timeout=60) as client:

        def post(path: str, body: Any) -> None:
            response = client.post(path, json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

        local_1, http_1 = paired(
            lambda i: score([requests[i % len(requests)]]),
            lambda i: post("/predict", requests[i % len(requests)]),
            args.single,
            warmup=10,
        )
        local_b, http_b = paired(
            lambda i: score(batch),
            lambda i: post("/predict/batch", {"records": batch}),
            args.batches,
            warmup=1,
        )
    concurrent, wall = concurrent_singles(base_url, requests, args)
    name_b = f"{args.batch_size}-row batch"
    bare, frame, records = hot_path(predictor, requests, args.single)
    return [
        row("single row, forward pass only", "in-process", 1, bare),
        row("single row, DataFrame path (before)", "in-process", 1, frame),
        row("single row, records path (now)", "in-process", 1, records),
        row("single row", "in-process", 1, local_1),
        row("single row", "HTTP", 1, http_1),
        row(name_b, "in-process", args.batch_size, local_b),
        row(name_b, "HTTP", args.batch_size, http_b),
        row(f"single row, {args.concurrency} client threads", "HTTP", 1, concurrent, wall),
    ]


def hot_path(
    predictor: Any, requests: list[dict[str, Any]], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row three ways, interleaved: the bare forward pass of an already-preprocessed row,
    the DataFrame path serving used before (validate, frame, transform, forward, unseen
    categories) and the records path it uses now (validate, records -> tensors, forward)."""
    from src.data.frames import records_to_frame
    from src.models.record_transform import transform_records
    from src.pipeline.request_records import request_to_record

    schema = predictor.schema
    tensors = [
        transform_records(predictor.preprocessor, [request_to_record(r, schema=schema)])[:2]
        for r in requests
    ]

    def forward(i: int) -> None:
        predictor._proba(*tensors[i % len(tensors)])

    def frame_path(i: int) -> None:
        frame = records_to_frame(
            [request_to_record(requests[i % len(requests)], schema=schema)], schema
        )
        predictor.predict_proba(frame)
        predictor.unseen_categories(frame)

    def records_path(i: int) -> None:
        predictor.predict_records([request_to_record(requests[i % len(requests)], schema=schema)])

    calls = (forward, frame_path, records_path)
    for i in range(10):
        for call in calls:
            call(i)
    out = np.empty((3, n))
    for i in range(n):
        for k, call in enumerate(calls):
            started = time.perf_counter()
            call(i)
            out[k, i] = time.perf_counter() - started
    return out[0], out[1], out[2]


def concurrent_singles(
    base_url: str, requests: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[np.ndarray, float]:
    """Server throughput with several keep-alive clients (the clients share the same CPUs)."""
    import httpx

    per_thread = max(args.single // args.concurrency, 1)
    latencies: list[list[float]] = [[] for _ in range(args.concurrency)]
    failures: list[int] = []

    def worker(k: int) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for i in range(per_thread):
                started = time.perf_counter()
                response = client.post(
                    "/predict", json=requests[(k * per_thread + i) % len(requests)]
                )
                latencies[k].append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} concurrent requests failed: {failures[:5]}")
    return np.array([x for lat in latencies for x in lat]), time.perf_counter() - started


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "MODEL_POLL_INTERVAL_SECONDS": "5"}
    env.pop("PREDICT_API_KEY", None)
    log = (workdir / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "src.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(process)
    sys.exit("server did not become ready:\n" + (workdir / "uvicorn.log").read_text()[-3000:])


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def report(results: list[dict[str, Any]], args: argparse.Namespace, busy: str) -> str:
    """The figures as markdown; a full run also writes them to docs/benchmarks.md."""
    from config.settings import get_settings

    by_key = {(r["name"], r["path"]): r for r in results}
    rows = latency_rows(results)
    ratios = []
    for name in ("single row", f"{args.batch_size}-row batch"):
        http, local = by_key[(name, "HTTP")], by_key[(name, "in-process")]
        p50, rate = http["p50"] / local["p50"], http["throughput"] / local["throughput"]
        ratios.append([name, f"{p50:.2f}x", f"{rate:.2f}x"])
    bare = by_key[("single row, forward pass only", "in-process")]["p50"]
    hot = []
    for name in ("forward pass only", "DataFrame path (before)", "records path (now)"):
        p50 = by_key[(f"single row, {name}", "in-process")]["p50"]
        hot.append([name, f"{p50:.2f}", f"{p50 / bare:.1f}x"])
    source = "the database given" if args.database_url else "a quick model trained here"
    return (
        "## Serving: the hot path\n\n"
        f"`python bench/serve.py{' --quick' if args.quick else ''}`: the active lending_club "
        f"model of {source}, uvicorn on 127.0.0.1 in a subprocess, "
        f"{get_settings().torch_num_threads} torch thread(s) (TORCH_NUM_THREADS). Every "
        "in-process call alternates with its HTTP counterpart, and the three single-row "
        "hot-path measurements alternate call by call, so each pair saw the same load. "
        "*Forward pass only*: the row's already-preprocessed tensors through the model and its "
        "calibrator. *DataFrame path (before)*: `request_to_record` -> `records_to_frame` -> "
        "`Preprocessor.transform` -> forward -> `unseen_categories`, what serving ran before. "
        "*Records path (now)*: `request_to_record` -> `Predictor.predict_records` (no pandas; "
        "the tensors equal the DataFrame path's bit for bit, "
        "`tests/unit/models/test_record_transform.py`), what `/predict` runs now. Busiest "
        f"processes at the end: {busy}.\n\n"
        + markdown_table(["measurement", "path", "calls", "p50 ms", "p99 ms", "rows/s"], rows)
        + "\n\n"
        + markdown_table(
            ["measurement", "HTTP / in-process p50", "HTTP / in-process rows/s"], ratios
        )
        + "\n\n"
        + measured_table(["single row, in-process", "p50 ms", "x bare forward pass"], hot)
    )


def main() -> int:
    sys.path.insert(0, str(ROOT))
    setup_logging()
    args = parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        workdir = Path(tmp)
        url = prepare_database(args.database_url, workdir)
        predictor, requests = load_model_and_requests(url, max(args.batch_size, 200))
        process, base_url = start_server(url, workdir)
        try:
            results = measure(predictor, requests, base_url, args)
        finally:
            stop_server(process)
    text = report(results, args, busy_processes())
    if args.quick:  # a smoke run: its figures are printed, not published
        sys.stdout.write(text + "\n")
    else:
        publish("serving", text)
    print(f"total {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
