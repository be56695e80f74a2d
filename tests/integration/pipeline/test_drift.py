"""Drift of a real (tiny) lending_club model: profile at registration, stable and shifted windows.

One model is trained for the module (6,000 rows, quick settings) in its own database; a
further 2,000 rows are collected after it, and windows of logged predictions are made from
its held-out test rows (never trained or tuned on), scored by the model itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import session_scope, throwaway_database
from src.data.drift_queries import live_counts, unlabelled_counts
from src.data.frames import is_test_row, load_frame, records_to_frame
from src.data.tables import DriftMetric, ModelProfile, Prediction, ProcessedData, UnlabelledRow
from src.exceptions import ConfigurationError
from src.pipeline.drift import measure_drift
from src.pipeline.drift_profiles import ensure_profile
from src.pipeline.serving import predictor_for
from src.pipeline.training import train
from tests.conftest import ADMIN_URL
from tests.integration.pipeline.conftest import ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUICK = {"NUM_LAYERS": "2", "PRETRAIN_EPOCHS": "1", "FINETUNE_EPOCHS": "3", "PATIENCE": "2"}
DAY = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def trained() -> Iterator[str]:
    """The version of a model trained on 6,000 rows, with 2,000 rows collected after it."""
    with (
        throwaway_database(ADMIN_URL, prefix="drift_test") as url,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("DATABASE_URL", url)
        for key, value in QUICK.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        ingest(6000, day=1)
        version = train(progress=False).model_version
        ingest(2000, day=2)
        yield version
        get_settings.cache_clear()


def _model(version: str) -> Any:
    with session_scope() as session:
        return repo.get_model(session, version=version)


def _log_test_rows(
    version: str, *, start: dt.datetime, shift: bool, limit: int | None = None
) -> int:
    """Log the model's held-out test rows as predictions at ``start`` (shifted if asked)."""
    model = _model(version)
    frame = load_frame(source="lending_club", max_raw_id=model.data_snapshot["max_raw_id"])
    fraction = model.data_snapshot["test_fraction"]
    held_out = [is_test_row("lending_club", k, test_fraction=fraction) for k in frame.row_keys]
    features = frame.subset(np.array(held_out)).features.iloc[:limit]
    if shift:
        features = features.assign(
            int_rate=features["int_rate"] + 5.0, annual_inc=features["annual_inc"] / 2.0
        )
    records = features.astype(object).where(features.notna(), None).to_dict("records")
    predictor = predictor_for(model)
    proba = predictor.predict_proba(records_to_frame(records, predictor.schema))
    with session_scope() as session:
        session.add_all(
            Prediction(
                prediction_id=f"{start.isoformat()}-{i}",
                request_id="drift-test",
                model_version=version,
                features=record,
                probability=float(p),
                prediction=int(p >= predictor.threshold),
                latency_ms=1.0,
                created_at=start + dt.timedelta(minutes=i),
            )
            for i, (record, p) in enumerate(zip(records, proba, strict=True))
        )
    return len(records)


def _measure(version: str, *, population: str, start: dt.datetime, run: str) -> Any:
    with session_scope() as session:
        return measure_drift(
            session,
            model=repo.get_model(session, version=version),
            population=population,
            window_start=start,
            window_end=start + dt.timedelta(days=7),
            monitoring_run=run,
        )


def _rows(run: str) -> list[DriftMetric]:
    with session_scope() as session:
        return list(session.scalars(select(DriftMetric).where(DriftMetric.monitoring_run == run)))


def test_profile_is_stored_at_registration_and_rebuilt_identically(trained):
    with session_scope() as session:
        stored = session.get(ModelProfile, trained)
        assert stored is not None
        profile = stored.profile
        snapshot = repo.get_model(session, version=trained).data_snapshot
    assert profile["origin"] == "registration"
    assert profile["n_rows"] == snapshot["n_train"] == stored.n_rows
    assert profile["score"]["n_rows"] == snapshot["n_valid"]
    assert len(profile["features"]["int_rate"]["edges"]) == 9
    with session_scope() as session:  # as for a model registered before migration 0003
        session.execute(delete(ModelProfile).where(ModelProfile.model_version == trained))
    with session_scope() as session:
        rebuilt = ensure_profile(session, model=repo.get_model(session, version=trained))
    assert rebuilt["origin"] == "rebuilt" and rebuilt["rows_match"] is True
    assert rebuilt["features"] == profile["features"]
    assert rebuilt["score"]["shares"] == pytest.approx(profile["score"]["shares"])
    assert rebuilt["score"]["edges"] == pytest.approx(profile["score"]["edges"])
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ModelProfile)) == 1


def test_unshifted_window_is_stable_and_shifted_one_flags_int_rate_and_annual_inc(trained):
    n = _log_test_rows(trained, start=DAY, shift=False)
    stable = _measure(trained, population="live", start=DAY, run="stable")
    assert stable.note is None and stable.n_current == n >= 1000
    assert stable.features_in_act == []
    assert {f.feature: f.status for f in stable.features} == {
        f.feature: "stable" for f in stable.features
    }
    assert stable.score is not None and stable.score.status == "stable"

    later = DAY + dt.timedelta(days=10)
    _log_test_rows(trained, start=later, shift=True)
    shifted = _measure(trained, population="live", start=later, run="shifted")
    assert sorted(shifted.features_in_act) == ["annual_inc", "int_rate"]
    schema = _model(trained).feature_schema
    assert [f.feature for f in shifted.features] == schema["categorical"] + schema["numerical"]
    by_name = {f.feature: f for f in shifted.features}
    assert by_name["int_rate"].psi > by_name["int_rate"].psi_null_p99
    rows = _rows("shifted")
    assert len(rows) == len(shifted.features) + 1 == 23  # 22 features + the score
    score_row = next(r for r in rows if r.feature == "__score__")
    assert score_row.window_start is not None and score_row.n_current == shifted.n_current
    detail = by_name["int_rate"].detail
    assert len(detail["bins"]) == len(detail["reference"]) == len(detail["current"])
    assert sum(detail["current"]) == pytest.approx(1.0)
    with session_scope() as session:  # the SQL counts equal the Python counts on real rows
        profile = repo.get_profile(session, model_version=trained)
        both = [
            live_counts(
                session,
                profile=profile,
                model_version=trained,
                window_start=later,
                window_end=later + dt.timedelta(days=7),
                in_database=flag,
            )
            for flag in (True, False)
        ]
    assert {k: v.tolist() for k, v in both[0].counts.items()} == {
        k: v.tolist() for k, v in both[1].counts.items()
    }


def test_too_few_predictions_write_nothing_and_say_so(trained):
    start = DAY + dt.timedelta(days=30)
    _log_test_rows(trained, start=start, shift=False, limit=12)
    report = _measure(trained, population="live", start=start, run="few")
    assert report.features == [] and report.score is None and report.n_current == 12
    assert report.note is not None and report.note.startswith(f"12 live predictions of {trained}")
    assert "at least DRIFT_MIN_SAMPLES=100 are needed" in report.note
    assert _rows("few") == []


def test_collected_rows_are_measured_with_their_scores(trained):
    report = _measure(trained, population="collected", start=DAY, run="collected")
    assert report.n_current == 2000 and report.score is not None
    assert report.score.n_current == 2000
    rows = _rows("collected")
    assert len(rows) == len(report.features) + 1
    assert all(r.population == "collected" and r.window_start is None for r in rows)
    with pytest.raises(ConfigurationError, match="population"):
        _measure(trained, population="yesterday", start=DAY, run="bad")


def test_unlabelled_applications_collected_since_registration_are_measured(trained):
    """Applications without an outcome yet (``collect --unlabelled``) are a population too:
    the rows collected after the model, shifted, as they would arrive before any label."""
    model = _model(trained)
    after = int(model.data_snapshot["max_raw_id"])
    with session_scope() as session:
        assert _measure(trained, population="unlabelled", start=DAY, run="none").n_current == 0
        stored = session.execute(
            select(ProcessedData.raw_id, ProcessedData.features).where(
                ProcessedData.source == "lending_club", ProcessedData.raw_id > after
            )
        ).all()
        for key, features in stored:
            shifted = dict(features)
            shifted["int_rate"] = features["int_rate"] + 5.0
            shifted["annual_inc"] = features["annual_inc"] / 2.0
            session.add(
                UnlabelledRow(
                    source="lending_club",
                    row_key=f"u-{key}",
                    data_date=DAY.date(),
                    record=shifted,
                    features=shifted,
                )
            )
    report = _measure(trained, population="unlabelled", start=DAY, run="unlabelled")
    assert report.n_current == len(stored) == 2000 and report.score is not None
    assert sorted(report.features_in_act) == ["annual_inc", "int_rate"]
    rows = _rows("unlabelled")
    assert len(rows) == len(report.features) + 1
    assert all(r.population == "unlabelled" and r.window_start is None for r in rows)
    with session_scope() as session:  # the SQL counts equal the Python counts
        profile = repo.get_profile(session, model_version=trained)
        both = [
            unlabelled_counts(
                session,
                profile=profile,
                source="lending_club",
                after=model.created_at,
                in_database=flag,
            )
            for flag in (True, False)
        ]
    assert {k: v.tolist() for k, v in both[0].counts.items()} == {
        k: v.tolist() for k, v in both[1].counts.items()
    }
