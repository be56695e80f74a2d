"""Drift of a model's inputs (CSI per feature) and of its score (PSI), written to drift_metrics.

Three populations are compared with the model's reference profile
(``src.pipeline.drift_profiles``):

* ``live``: the predictions the model logged in ``[window_start, window_end)``; their score is
  the logged probability.
* ``collected``: the source's rows collected after the model's training snapshot
  (``raw_id > data_snapshot["max_raw_id"]``), whatever the window; they were never scored,
  so they are scored here in chunks of rows (bounded memory).  Their drift_metrics rows
  carry no window.
* ``unlabelled``: the source's applications collected without an outcome
  (``collect --unlabelled``) since the model was registered, scored the same way: who
  applies now, months before their outcomes could be collected.  No window either.

Every index row stores the PSI, the 99th percentile of PSI under no change at these sample
sizes, and the bin shares of both sides, so an alarm can be replayed and plotted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from config.settings import get_settings
from src.data.drift_counts import count_numbers
from src.data.drift_queries import (
    PopulationCounts,
    collected_counts,
    iter_collected_features,
    iter_unlabelled_features,
    live_counts,
    unlabelled_counts,
)
from src.data.frames import records_to_frame
from src.data.monitoring_tables import SCORE
from src.data.tables import DriftMetric, ModelMetadata
from src.exceptions import ConfigurationError
from src.models.artifact import load_bundle
from src.models.drift import (
    bin_labels,
    drift_status,
    occupied_bins,
    psi,
    psi_null_p99,
    reference_shares,
)
from src.models.predictor import Predictor
from src.pipeline.drift_profiles import ensure_profile

logger = logging.getLogger(__name__)

POPULATIONS = ("live", "collected", "unlabelled")


@dataclass(frozen=True)
class DriftIndex:
    """PSI (score) or CSI (feature) of one population against the reference profile."""

    feature: str
    psi: float
    psi_null_p99: float
    n_reference: int
    n_current: int
    status: str  # stable | investigate | act
    detail: dict[str, Any]  # {"bins": labels, "reference": shares, "current": shares}


@dataclass(frozen=True)
class DriftReport:
    """What one measurement found; ``note`` says why nothing was measured, if so."""

    population: str
    n_current: int
    score: DriftIndex | None
    features: list[DriftIndex]
    features_in_act: list[str]
    note: str | None
    sampled_from: int | None = None  # rows in the window, when ``n_current`` is a sample


def measure_drift(
    session: Session,
    *,
    model: ModelMetadata,
    population: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    monitoring_run: str,
) -> DriftReport:
    """Measure ``population``'s drift from ``model``'s profile; one drift_metrics row per index.

    With fewer than DRIFT_MIN_SAMPLES rows nothing is written and the report's ``note`` says
    how many rows there were and how many are needed.
    """
    settings = get_settings()
    profile = ensure_profile(session, model=model)
    version = model.model_version
    # Stored rows were never scored: they are streamed to the model below (not live answers).
    unscored: Callable[[], Iterator[list[dict[str, Any]]]] | None = None
    if population == "live":
        counts = live_counts(
            session,
            profile=profile,
            model_version=version,
            window_start=window_start,
            window_end=window_end,
            sample_rows=settings.drift_sample_rows,
        )
        what = f"live predictions of {version} between {window_start} and {window_end}"
    elif population == "collected":
        after = int(model.data_snapshot["max_raw_id"])
        counts = collected_counts(session, profile=profile, source=model.source, after_raw_id=after)
        unscored = partial(
            iter_collected_features, session, source=model.source, after_raw_id=after
        )
        what = f"rows of {model.source!r} collected after {version}'s snapshot (raw_id > {after})"
    elif population == "unlabelled":
        since = model.created_at
        counts = unlabelled_counts(session, profile=profile, source=model.source, after=since)
        unscored = partial(iter_unlabelled_features, session, source=model.source, after=since)
        what = (
            f"unlabelled applications of {model.source!r} collected since {version}'s registration"
        )
    else:
        raise ConfigurationError(f"unknown drift population {population!r}; use {POPULATIONS}")
    needed = settings.drift_min_samples
    if counts.n < needed:
        note = f"{counts.n} {what}; at least DRIFT_MIN_SAMPLES={needed} are needed"
        logger.info("drift not measured: %s", note)
        return DriftReport(population, counts.n, None, [], [], note)
    if unscored is not None:
        counts = _with_scores(model=model, profile=profile, counts=counts, chunks=unscored())
    bands = {"investigate": settings.psi_investigate_threshold, "act": settings.psi_act_threshold}
    # In the schema's order: JSONB does not keep the profile's key order.
    schema = model.feature_schema
    names = [n for n in (*schema["categorical"], *schema["numerical"]) if n in profile["features"]]
    entries = [(n, profile["features"][n]) for n in names] + [(SCORE, profile["score"])]
    indexes = {
        name: _index(name, entry, counts.counts[name], sampled_from=counts.sampled_from, **bands)
        for name, entry in entries
    }
    windowed = population == "live"
    for index in indexes.values():
        session.add(
            DriftMetric(
                monitoring_run=monitoring_run,
                model_version=version,
                window_start=window_start if windowed else None,
                window_end=window_end if windowed else None,
                population=population,
                **dataclasses.asdict(index),  # DriftIndex's fields are the table's columns
            )
        )
    session.flush()
    score = indexes.pop(SCORE)
    features = list(indexes.values())
    in_act = [i.feature for i in features if i.status == "act"]
    sampled = f" sampled from {counts.sampled_from}" if counts.sampled_from else ""
    logger.info(
        "drift of %s (%s, %d rows%s): score %s (PSI %.3f); features in act: %s",
        version,
        population,
        counts.n,
        sampled,
        score.status,
        score.psi,
        in_act or "none",
    )
    return DriftReport(population, counts.n, score, features, in_act, None, counts.sampled_from)


def _index(
    name: str,
    entry: dict[str, Any],
    current: np.ndarray,
    *,
    investigate: float,
    act: float,
    sampled_from: int | None,
) -> DriftIndex:
    """PSI of ``current`` against the entry; its null p99 at the counted (sample) size."""
    reference = reference_shares(entry)
    n_current = int(current.sum())
    value = psi(reference, current)
    null = psi_null_p99(
        bins=occupied_bins(reference), n_reference=int(entry["n_rows"]), n_current=n_current
    )
    detail = {
        "bins": bin_labels(entry),
        "reference": [float(s) for s in reference],
        "current": [float(c) / n_current for c in current],
    }
    if sampled_from is not None:
        detail["sampled_from"] = sampled_from
    status = drift_status(value, null_p99=null, investigate=investigate, act=act)
    return DriftIndex(name, value, null, int(entry["n_rows"]), n_current, status, detail)


def _with_scores(
    *,
    model: ModelMetadata,
    profile: dict[str, Any],
    counts: PopulationCounts,
    chunks: Iterator[list[dict[str, Any]]],
) -> PopulationCounts:
    """Add the score's counts for stored rows: scored by the model in chunks of rows."""
    bundle = load_bundle(model.artifact, expected_sha256=model.artifact_sha256)
    predictor = Predictor(bundle)
    entry = profile["score"]
    total = count_numbers(entry, np.zeros(0))
    for records in chunks:
        scores = predictor.predict_proba(records_to_frame(records, predictor.schema))
        total = total + count_numbers(entry, scores)
    return PopulationCounts(n=counts.n, counts=counts.counts | {SCORE: total})
