"""Serving cost of a seed ensemble: in-process single-row and batch latency, K=1 vs K members.

The same work ``bench/serve.py`` times as its in-process *records path* (``request_to_record``
-> ``Predictor.predict_records``: one batched forward pass per member, then calibration), for
artifacts of the production architecture (Settings defaults) with 1 and with K members, fitted
on the same lending_club rows.  Latency does not depend on how well a model is trained, so the
fits are short (``--epochs``).  Calls to the predictors alternate one by one, so both see the
same machine load; each predictor is loaded back from its serialised, checksummed artifact as
the API would.  Prints a markdown table (nothing is written to docs/benchmarks.md).

    python bench/ensemble_latency.py --sizes 1,3
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import busy_processes, latency_rows, markdown_table, setup_logging
from serve import row

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench.ensemble_latency")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3", help="ensemble sizes, comma-separated")
    parser.add_argument("--single", type=int, default=2000, help="single-row calls per size")
    parser.add_argument("--batches", type=int, default=30, help="1,000-row calls per size")
    parser.add_argument("--epochs", type=int, default=1, help="pretrain and fine-tune epochs")
    return parser.parse_args()


def fitted_predictors(sizes: list[int], epochs: int) -> tuple[dict[int, Any], list[dict]]:
    """One predictor per ensemble size (loaded from its artifact) and request bodies."""
    from config.settings import get_settings
    from src.data.source_options import SourceOptions
    from src.models.artifact import load_bundle, serialize_bundle, sha256_hex
    from src.models.fitting import Rows, fit_bundle
    from src.models.predictor import Predictor
    from src.models.training_config import TrainingConfig
    from src.pipeline.benchmark_data import load_benchmark_data

    data = load_benchmark_data(SourceOptions(source="lending_club"))
    n = len(data.labels)
    cut = int(n * 0.85)
    train = Rows(data.features.iloc[:cut], data.labels[:cut], data.schema)
    valid = Rows(data.features.iloc[cut:], data.labels[cut:], data.schema)
    base = TrainingConfig.from_settings(get_settings())
    base = dataclasses.replace(
        base, pretrain_epochs=epochs, finetune_epochs=epochs, torch_num_threads=1, device="cpu"
    )
    predictors: dict[int, Any] = {}
    for size in sizes:
        started = time.perf_counter()
        config = dataclasses.replace(base, ensemble_size=size)
        blob = serialize_bundle(fit_bundle(train, valid, config, progress=False))
        predictors[size] = Predictor(load_bundle(blob, expected_sha256=sha256_hex(blob)))
        logger.info(
            "K=%d: fitted in %.1fs, artifact %.0f KiB",
            size,
            time.perf_counter() - started,
            len(blob) / 1024,
        )
    schema = data.schema
    frame = data.features.iloc[cut:].head(1000)
    requests = [
        {
            "categorical_features": {c: _plain(r[c]) for c in schema.categorical},
            "numerical_features": {c: _plain(r[c]) for c in schema.numerical},
        }
        for r in frame.to_dict("records")
    ]
    return predictors, requests


def _plain(value: Any) -> Any:
    """JSON-like request value: NaN/None -> None, numpy scalars unwrapped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def measure(
    predictors: dict[int, Any], requests: list[dict], single: int, batches: int
) -> list[dict[str, Any]]:
    """Single-row and 1,000-row records-path calls, the sizes interleaved call by call."""
    from src.pipeline.request_records import request_to_record

    sizes = sorted(predictors)
    schema = predictors[sizes[0]].schema
    records = [request_to_record(r, schema=schema) for r in requests]

    def single_call(size: int, i: int) -> None:
        one = request_to_record(requests[i % len(requests)], schema=schema)
        predictors[size].predict_records([one])

    def batch_call(size: int, _: int) -> None:
        predictors[size].predict_records(records)

    out: list[dict[str, Any]] = []
    for name, call, n, rows in (
        ("single row, records path", single_call, single, 1),
        (f"{len(records)}-row batch, records path", batch_call, batches, len(records)),
    ):
        for i in range(5):  # warm-up
            for size in sizes:
                call(size, i)
        seconds = np.empty((len(sizes), n))
        for i in range(n):
            for k, size in enumerate(sizes):
                started = time.perf_counter()
                call(size, i)
                seconds[k, i] = time.perf_counter() - started
        out += [row(name, f"K={size}", rows, seconds[k]) for k, size in enumerate(sizes)]
    return out


def main() -> int:
    sys.path.insert(0, str(ROOT))
    setup_logging()
    args = parse_args()
    import torch

    torch.set_num_threads(1)  # TORCH_NUM_THREADS=1, as the server runs
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    predictors, requests = fitted_predictors(sizes, args.epochs)
    results = measure(predictors, requests, args.single, args.batches)
    rows = latency_rows(results)
    print(markdown_table(["measurement", "members", "calls", "p50 ms", "p99 ms", "rows/s"], rows))
    print(f"\nBusiest processes at the end: {busy_processes()}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
