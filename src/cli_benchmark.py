"""``loan-default benchmark``: our model against baselines on the user's own portfolio.

The same comparison as docs/benchmarks.md (``src.pipeline.benchmark``), on a CSV/Parquet file
or a bundled dataset read exactly as ``collect`` reads it; no database needed.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from rich.table import Table

from src.cli_output import console, csv_list

logger = logging.getLogger(__name__)
DESCRIPTION = (
    "Stratified K-fold comparison of the production TabTransformer (with and without "
    "contrastive pretraining), logistic regression and LightGBM, identical folds for every "
    "model, with all labels and with 10% of them: the comparison of docs/benchmarks.md."
)


def add_benchmark_parser(sub: Any) -> None:
    what = "compare the TabTransformer with logistic regression and LightGBM on your data"
    bench = sub.add_parser("benchmark", help=what, description=DESCRIPTION)
    bench.add_argument("--source", required=True, help="FILE.csv|.parquet | lending_club | ...")
    bench.add_argument("--target", help="label column (required for a file)")
    bench.add_argument("--positive", help="target value of the positive (default) class")
    bench.add_argument("--id-column", help="row identifier column (not a feature)")
    bench.add_argument("--na-values", type=csv_list, help="CSV cell values to read as missing")
    bench.add_argument("--folds", type=int, default=5, help="outer stratified folds (default 5)")
    bench.add_argument("--regimes", type=csv_list, default=["all", "10pct"], help="all,10pct")
    bench.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    bench.add_argument("--json", type=Path, help="also write mean/std per model and regime here")
    bench.add_argument("--quick", action="store_true", help="tiny models, <=1500 rows (smoke)")
    bench.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _benchmark(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from config.settings import get_settings
    from src.data.source_options import SourceOptions
    from src.models.baselines import LGBM_GRID
    from src.pipeline.benchmark import (
        MODELS,
        QUICK_ROWS,
        benchmark_config,
        plan_folds,
        run_benchmark,
        summarise,
    )
    from src.pipeline.benchmark_data import check_benchmarkable, load_benchmark_data

    data = load_benchmark_data(
        SourceOptions.from_mapping(vars(args)), max_rows=QUICK_ROWS if args.quick else None
    )
    check_benchmarkable(data.labels, folds=args.folds, regimes=args.regimes)
    plans = plan_folds(
        data.labels,
        folds=args.folds,
        regimes=args.regimes,
        seed=args.seed,
        valid_fraction=get_settings().validation_fraction,
    )
    config = benchmark_config(quick=args.quick)
    with tqdm(total=len(plans) * len(MODELS), desc="benchmark", disable=args.no_progress) as bar:

        def report(result: Any) -> None:
            bar.update()
            logger.info(
                "%s %s fold %d: ROC-AUC %.3f (%.1f s)",
                result.plan.regime,
                result.model,
                result.plan.fold,
                result.roc_auc,
                result.fit_seconds,
            )

        results = run_benchmark(
            data,
            plans=plans,
            config=config,
            lgbm_grid=LGBM_GRID[:1] if args.quick else LGBM_GRID,
            on_result=report,
        )
    summary = summarise(results, rows=len(data.labels), folds=args.folds)
    _print_summary(summary, regimes=args.regimes, positive=data.schema.positive_label)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        console.print(f"wrote {args.json}", highlight=False)


def _print_summary(summary: dict[str, Any], *, regimes: list[str], positive: str) -> None:
    table = Table(
        title=f"benchmark: {summary['rows']:,} rows, {summary['folds']}-fold stratified CV "
        f"(mean ± std over folds; F1 of {positive!r} at the validation-tuned threshold)"
    )
    for column in ("labels", "labelled rows", "model", "ROC-AUC", "PR-AUC", "F1", "fit time (s)"):
        table.add_column(column, justify="left" if column in ("labels", "model") else "right")
    for regime in regimes:
        for model, by_regime in summary["models"].items():
            cell = by_regime[regime]

            def fmt(metric: str, digits: int = 3, cell: dict[str, Any] = cell) -> str:
                return f"{cell[metric]['mean']:.{digits}f} ± {cell[metric]['std']:.{digits}f}"

            table.add_row(
                regime,
                f"{cell['labelled_rows']:,}",
                model,
                fmt("roc_auc"),
                fmt("pr_auc"),
                fmt("f1"),
                fmt("fit_seconds", 1),
            )
    console.print(table)


BENCHMARK_COMMANDS = {"benchmark": _benchmark}
