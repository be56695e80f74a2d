"""Each model's drift reference profile: built at registration, or on demand for older models.

The profile is built from the same deterministic split the model was trained on
(``splits_for`` over the rows up to its snapshot's ``max_raw_id``): features from the
training split, the score from the model's probabilities on the validation split.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.frames import load_frame
from src.data.tables import ModelMetadata, TrainingRun
from src.exceptions import LoanDefaultError
from src.models.artifact import ModelBundle, load_bundle
from src.models.drift import build_profile
from src.models.predictor import Predictor
from src.models.training_config import TrainingConfig
from src.pipeline.splits import Splits
from src.pipeline.training_runs import data_hash, load_state, require_stage, splits_for

logger = logging.getLogger(__name__)


def reference_profile(*, bundle: ModelBundle, splits: Splits, origin: str) -> dict[str, Any]:
    """The profile of ``bundle``: training-split features, validation-split scores."""
    scores = Predictor(bundle).predict_proba(splits.valid.features)
    profile = build_profile(splits.train.features, bundle.preprocessor.schema, scores)
    return profile | {"origin": origin}


def profile_for_run(*, run_id: int) -> dict[str, Any] | None:
    """The profile of an evaluated run's model (None when the run is already registered).

    Built before the registration transaction opens: loading the rows with a write
    transaction open would make a second SQLite writer wait on it.
    """
    with session_scope() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise LoanDefaultError(f"training run {run_id} does not exist")
        if run.stage == "registered":
            return None
        require_stage(run, "evaluated")
        bundle = load_state(run)
        source, snapshot, config = run.source, run.data_snapshot, run.config
    frame = load_frame(source=source, max_raw_id=snapshot["max_raw_id"])
    seed = TrainingConfig.from_dict(config).seed
    splits = splits_for(frame, source=source, snapshot=snapshot, seed=seed)
    return reference_profile(bundle=bundle, splits=splits, origin="registration")


def ensure_profile(session: Session, *, model: ModelMetadata) -> dict[str, Any]:
    """``model``'s stored profile; built and stored first for a model registered without one.

    Models registered before migration 0003 have none: their training rows are reloaded by
    the same deterministic split (rows up to the snapshot's ``max_raw_id``, the run's seed and
    fractions).  If those rows changed since (``data_hash`` differs) the profile is still
    built, flagged ``rows_match: false``, and a warning is logged.
    """
    stored = repo.get_profile(session, model_version=model.model_version)
    if stored is not None:
        return stored
    snapshot = model.data_snapshot
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else get_engine()
    frame = load_frame(source=model.source, max_raw_id=int(snapshot["max_raw_id"]), engine=engine)
    seed = TrainingConfig.from_dict(model.training_config).seed
    splits = splits_for(frame, source=model.source, snapshot=snapshot, seed=seed)
    bundle = load_bundle(model.artifact, expected_sha256=model.artifact_sha256)
    rows_match = data_hash(frame) == snapshot.get("data_hash")
    if not rows_match:
        logger.warning(
            "model %s: its training rows changed since registration; profile is approximate",
            model.model_version,
        )
    profile = reference_profile(bundle=bundle, splits=splits, origin="rebuilt")
    profile["rows_match"] = rows_match
    try:
        with session.begin_nested():  # a concurrent monitoring run may store it first
            repo.add_profile(session, model_version=model.model_version, profile=profile)
    except IntegrityError:
        stored = repo.get_profile(session, model_version=model.model_version)
        if stored is None:
            raise
        return stored
    logger.info("built the missing drift profile of %s", model.model_version)
    return profile
