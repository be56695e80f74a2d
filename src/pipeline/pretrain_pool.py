"""The rows without a label that contrastive pretraining sees besides the training split.

NT-Xent pretraining needs no labels, so applications whose outcome is not known yet
(``unlabelled_data``, from ``collect --unlabelled``) and, with ``PRETRAIN_ON_PREDICTIONS``,
applicants from the prediction log can teach the encoder what applicants look like.  They
reach :func:`src.models.fitting.pretrain_bundle` only: fine-tuning, calibration, the
threshold and evaluation read labelled splits, which these rows can never be part of.

What is kept out, so no model pretrains on rows it is judged on:

* any row whose key is in the source's held-out test split (``is_test_row``, the same hash
  rule as for labelled rows);
* a logged prediction whose ``application_id`` is a test-split key or a labelled row's key,
  or whose features equal those of a stored labelled row or of a test-split unlabelled row
  (a request may carry a stored applicant without an id);
* repeated applicants (identical features are pretrained on once).

The pool is frozen when a run is prepared (:func:`pool_bounds`: the largest ids it may use),
so a retried pretrain stage sees exactly the rows counted in the run's snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from config.settings import Settings
from src.data.database import get_engine
from src.data.feature_schema import FeatureSchema
from src.data.frames import LabelledFrame, feature_dicts, is_test_row, records_to_frame
from src.data.tables import CHAMPION, ModelMetadata, Prediction, UnlabelledRow
from src.data.unlabelled import load_unlabelled
from src.exceptions import LoanDefaultError
from src.pipeline.splits import Splits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainPool:
    """Typed features of the pool (columns as the schema's) and where they came from."""

    features: pd.DataFrame
    unlabelled_rows: int
    prediction_rows: int

    def counts(self) -> dict[str, int]:
        """The counts a run's snapshot (and so ``model_metadata.data_snapshot``) records."""
        return {
            "n_pretrain_unlabelled": self.unlabelled_rows,
            "n_pretrain_predictions": self.prediction_rows,
        }


def pool_snapshot(
    source: str, *, frame: LabelledFrame, snapshot: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """What a new run's snapshot records of its pool: the id bounds and the row counts.

    ``snapshot`` is the run's labelled snapshot so far (``max_raw_id``, ``test_fraction``).
    """
    engine = get_engine()
    bounds = pool_bounds(source, settings=settings, engine=engine)
    pool = load_pool(
        source=source,
        schema=frame.schema,
        labelled=frame.features,
        labelled_keys=frame.row_keys,
        snapshot={**snapshot, **bounds},
        engine=engine,
    )
    return bounds | pool.counts()


def pool_for_run(
    *, run_id: int, source: str, splits: Splits, snapshot: Mapping[str, Any]
) -> pd.DataFrame:
    """The pool features of a prepared run; raises if they no longer match its snapshot."""
    parts = (splits.train, splits.valid, splits.test)
    pool = load_pool(
        source=source,
        schema=splits.train.schema,
        labelled=pd.concat([p.features for p in parts], ignore_index=True),
        labelled_keys=[key for p in parts for key in p.row_keys],
        snapshot=snapshot,
        engine=get_engine(),
    )
    expected = {k: int(snapshot.get(k, 0)) for k in pool.counts()}
    if pool.counts() != expected:
        raise LoanDefaultError(
            f"run {run_id}: the pretraining pool is {pool.counts()}, but the run was prepared "
            f"with {expected} (were unlabelled rows or predictions deleted?)"
        )
    return pool.features


def pool_bounds(source: str, *, settings: Settings, engine: Engine) -> dict[str, int | None]:
    """The largest ``unlabelled_data`` and ``predictions`` ids a new run may pretrain on.

    None: that part of the pool is switched off (``PRETRAIN_ON_UNLABELLED``,
    ``PRETRAIN_ON_PREDICTIONS``); 0: on, but nothing stored yet.
    """
    with engine.connect() as conn:
        unlabelled = conn.scalar(
            select(func.max(UnlabelledRow.id)).where(UnlabelledRow.source == source)
        )
        predictions = conn.scalar(select(func.max(Prediction.id)))
    return {
        "pretrain_unlabelled_max_id": int(unlabelled or 0)
        if settings.pretrain_on_unlabelled
        else None,
        "pretrain_predictions_max_id": int(predictions or 0)
        if settings.pretrain_on_predictions
        else None,
    }


def load_pool(
    *,
    source: str,
    schema: FeatureSchema,
    labelled: pd.DataFrame,
    labelled_keys: list[str],
    snapshot: Mapping[str, Any],
    engine: Engine,
) -> PretrainPool:
    """The pool a run's ``snapshot`` allows; ``labelled`` are all of the run's labelled rows.

    A snapshot without pool bounds (a run prepared before the pool existed) gets none.
    """
    max_unlabelled = snapshot.get("pretrain_unlabelled_max_id")
    max_prediction = snapshot.get("pretrain_predictions_max_id")
    if max_unlabelled is None and max_prediction is None:  # the default: no pool, no cost
        return PretrainPool(records_to_frame([], schema), 0, 0)
    fraction = float(snapshot["test_fraction"])
    seen = {_content(f) for f in feature_dicts(labelled)}
    frames: list[pd.DataFrame] = []
    n_unlabelled = n_predictions = 0
    if max_unlabelled is not None:
        rows = load_unlabelled(
            engine, source=source, max_id=int(max_unlabelled), max_raw_id=snapshot["max_raw_id"]
        )
        typed = feature_dicts(records_to_frame([record for _, record in rows], schema))
        kept = []
        for (key, _), record in zip(rows, typed, strict=True):
            content = _content(record)
            if is_test_row(source, key, test_fraction=fraction):
                seen.add(content)  # a test applicant: never pretrained on, by any route
            elif content not in seen:
                kept.append(record)
                seen.add(content)
        frames.append(records_to_frame(kept, schema))
        n_unlabelled = len(kept)
    if max_prediction is not None:
        barred = set(labelled_keys)
        logged = _logged_applicants(engine, source=source, max_id=int(max_prediction))
        candidates = [
            record
            for app_id, record in logged
            if app_id is None
            or (app_id not in barred and not is_test_row(source, app_id, test_fraction=fraction))
        ]
        typed = feature_dicts(records_to_frame(candidates, schema))
        kept = []
        for record in typed:
            content = _content(record)
            if content not in seen:
                kept.append(record)
                seen.add(content)
        frames.append(records_to_frame(kept, schema))
        n_predictions = len(kept)
    features = pd.concat(frames, ignore_index=True) if frames else records_to_frame([], schema)
    logger.info(
        "pretraining pool of %s: %d unlabelled applications, %d logged applicants",
        source,
        n_unlabelled,
        n_predictions,
    )
    return PretrainPool(features, n_unlabelled, n_predictions)


def _logged_applicants(
    engine: Engine, *, source: str, max_id: int
) -> list[tuple[str | None, dict[str, Any]]]:
    """``(application_id, features)`` of the line's answered predictions with ``id <= max_id``."""
    stmt = (
        select(Prediction.application_id, Prediction.features)
        .join(ModelMetadata, ModelMetadata.model_version == Prediction.model_version)
        .where(
            ModelMetadata.source == source,
            Prediction.role == CHAMPION,
            Prediction.id <= max_id,
        )
        .order_by(Prediction.id)
    )
    with engine.connect() as conn:
        return [(row.application_id, row.features) for row in conn.execute(stmt)]


def _content(features: Mapping[str, Any]) -> str:
    """An applicant's identity by content: its typed features as canonical JSON."""
    return json.dumps(features, sort_keys=True, default=str)
