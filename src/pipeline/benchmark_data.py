"""The rows a benchmark compares models on, read and typed exactly as ingestion reads them.

``loan-default benchmark`` and ``bench/model_quality.py`` both come here: the source is
resolved and read by ``src.data.sources`` (a bundled name, a CSV or a Parquet file), the
schema inferred by ``infer_schema`` and the features typed by ``coerce_features``, so every
model gets the same raw features the production model would be trained on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.data.feature_schema import FeatureSchema, infer_schema
from src.data.frames import coerce_features
from src.data.source_options import SourceOptions
from src.data.sources import read_source, resolve_source
from src.exceptions import ConfigurationError, DataSourceError, NoDataError

logger = logging.getLogger(__name__)

# The 10pct regime labels this share of each training part (a stratified sample).
LABELLED_FRACTION = {"all": 1.0, "10pct": 0.10}
# Each class needs this many rows in every labelled part so a stratified validation split
# can hold it at all (early stopping, model choice and the threshold all need both classes).
MIN_CLASS_PER_LABELLED_PART = 2


@dataclass(frozen=True)
class BenchmarkData:
    """Typed feature frame, 0/1 labels (1 = the positive value) and the inferred schema."""

    features: pd.DataFrame
    labels: np.ndarray
    schema: FeatureSchema


def load_benchmark_data(options: SourceOptions, *, max_rows: int | None = None) -> BenchmarkData:
    """Read ``options.source`` and type it; ``max_rows`` subsamples (seed 0) before anything.

    Rows without a label are dropped: they can be neither trained on nor scored.
    """
    if options.source == "sql":
        raise DataSourceError("benchmark reads a bundled dataset or a CSV/Parquet file, not sql")
    spec = resolve_source(options)
    if spec.positive_label is None:
        raise DataSourceError(
            f"no positive value given for {spec.describe()} (pass --positive, the target "
            "value meaning default)"
        )
    raw = read_source(spec)
    if max_rows is not None and len(raw) > max_rows:
        raw = raw.sample(n=max_rows, random_state=0).reset_index(drop=True)
    assert spec.target is not None  # resolve_source guarantees it
    raw = raw[raw[spec.target].notna()].reset_index(drop=True)
    schema = infer_schema(
        raw,
        target=spec.target,
        positive_label=spec.positive_label,
        id_column=spec.id_column,
        categorical=spec.categorical,
        numerical=spec.numerical,
    )
    features = coerce_features(raw, schema)
    labels = (raw[spec.target].astype(str) == schema.positive_label).to_numpy(dtype=np.int64)
    logger.info(
        "benchmark data: %d rows, %d positive, %d features (%s)",
        len(labels),
        int(labels.sum()),
        len(schema.features),
        spec.describe(),
    )
    return BenchmarkData(features=features, labels=labels, schema=schema)


def required_per_class(*, folds: int, regimes: Sequence[str]) -> int:
    """Fewest rows of each class for ``folds`` stratified folds under ``regimes``.

    Every fold needs one row of the class in its test part, and every labelled training part
    (``(folds-1)/folds`` of the rows, times the regime's labelled fraction) needs
    :data:`MIN_CLASS_PER_LABELLED_PART` for its validation split.
    """
    fraction = min(LABELLED_FRACTION[r] for r in regimes)
    per_training_part = MIN_CLASS_PER_LABELLED_PART / fraction
    return max(folds, math.ceil(per_training_part * folds / (folds - 1)))


def check_benchmarkable(labels: np.ndarray, *, folds: int, regimes: Sequence[str]) -> None:
    """Fail with the number needed when a class is too small for the folds and regimes."""
    if folds < 2:
        raise ConfigurationError(f"--folds must be at least 2, got {folds}")
    unknown = sorted(set(regimes) - set(LABELLED_FRACTION))
    if unknown or not regimes:
        raise ConfigurationError(
            f"unknown regimes {unknown}; choose from {sorted(LABELLED_FRACTION)}"
        )
    needed = required_per_class(folds=folds, regimes=regimes)
    positives = int(labels.sum())
    for name, count in (("positives", positives), ("negatives", len(labels) - positives)):
        if count < needed:
            raise NoDataError(
                f"too few {name} for {folds} folds with regimes {','.join(regimes)}: "
                f"{count} rows, at least {needed} needed (fewer folds, or only the 'all' "
                "regime, need fewer)"
            )
