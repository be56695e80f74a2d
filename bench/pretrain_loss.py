"""Does contrastive pretraining learn?  NT-Xent per epoch against its chance level.

NT-Xent of an encoder that learnt nothing is ``ln(2b - 1)`` for a batch of ``b`` rows (6.24 at
batch 256).  Issue 13 found the production recipe ending at 6.14-6.21: barely below chance.
This runs only the pretraining stage (``src.models.fitting.pretrain_bundle``, the production
recipe) on the training rows of fold 0 of ``bench/model_quality.py``'s folds, once per
configuration, and prints the loss of the first and last epoch next to chance.  Whether a
lower loss helps the fine-tuned model is measured with ``bench/model_quality.py --set ...``.

    python bench/pretrain_loss.py --datasets lending_club credit_data \
        --config defaults= --config "t=0.1:temperature=0.1" --config "c=0.3:corruption_rate=0.3"
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from _common import setup_logging

logger = logging.getLogger("bench.pretrain_loss")


def epoch_chance(n_rows: int, batch_size: int) -> float:
    """Row-weighted chance level of one epoch, batches as ``training.pretrain`` cuts them."""
    from src.models.losses import chance_loss

    sizes = [batch_size] * (n_rows // batch_size)
    if n_rows % batch_size >= 2:  # a lone last row is skipped by pretraining
        sizes.append(n_rows % batch_size)
    return sum(chance_loss(s) * s for s in sizes) / sum(sizes)


def parse_config(text: str) -> tuple[str, dict[str, object]]:
    """``name=`` or ``name:key=json:key=json`` -> (name, overrides)."""
    name, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(":")):
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    return name.rstrip("="), overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["lending_club", "credit_data"])
    parser.add_argument("--config", action="append", default=[], help="name:key=json:...")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    torch.set_num_threads(1)
    from config.settings import get_settings
    from src.data.source_options import SourceOptions
    from src.models.fitting import pretrain_bundle
    from src.pipeline.benchmark import benchmark_config, plan_folds
    from src.pipeline.benchmark_data import load_benchmark_data

    configs = [parse_config(c) for c in args.config] or [("defaults", {})]
    print("| dataset | config | rows | epoch 1 | last epoch | chance | below chance (last) | s |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        data = load_benchmark_data(SourceOptions(source=dataset))
        plan = plan_folds(
            data.labels,
            folds=5,
            regimes=["all"],
            seed=0,
            valid_fraction=get_settings().validation_fraction,
        )[0]
        features = data.features.iloc[plan.fit].reset_index(drop=True)
        for name, overrides in configs:
            config = benchmark_config(quick=False, overrides={"torch_num_threads": 1, **overrides})
            start = time.perf_counter()
            bundle = pretrain_bundle(features, schema=data.schema, config=config, progress=False)
            losses = bundle.metadata["pretrain_losses"]
            chance = epoch_chance(len(features), config.batch_size)
            print(
                f"| {dataset} | {name} | {len(features):,} | {losses[0]:.3f} | {losses[-1]:.3f} "
                f"| {chance:.3f} | {chance - losses[-1]:.3f} | {time.perf_counter() - start:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
