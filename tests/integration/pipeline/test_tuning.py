"""``loan-default tune`` on the real PostgreSQL: a real (tiny) search, stored, then used.

Also the precedence of ``TRAINING_PRESET`` (src.pipeline.training_presets) and the errors a
user can cause.  Trials run a tiny schedule so the whole module takes well under a minute.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from config.settings import get_settings
from src.data.database import session_scope
from src.data.frames import load_frame
from src.data.tables import ModelMetadata, TunedConfig
from src.data.tuning_repository import latest_tuned_config, store_tuned_config
from src.exceptions import ConfigurationError
from src.pipeline.splits import make_splits, tuning_splits
from src.pipeline.training import train
from src.pipeline.training_presets import REFERENCE, resolve_training_config
from src.pipeline.tuning import TrialSchedule, tune
from src.pipeline.tuning_space import SEARCH_SPACE_VERSION, SPACE
from tests.integration.pipeline.conftest import ingest
from tests.integration.pipeline.test_cli import cli
from tests.integration.pipeline.test_cli_errors import one_line_error

TINY = TrialSchedule(pretrain_epochs=1, finetune_epochs=2, patience=1)


def _store(source: str, **config: object) -> int:
    with session_scope() as session:
        row = store_tuned_config(
            session,
            source=source,
            config=dict(config),
            best_valid_roc_auc=0.7,
            n_trials=1,
            n_pruned=0,
            search_space_version=SEARCH_SPACE_VERSION,
            details={},
        )
        return row.id


@pytest.mark.slow
def test_tune_stores_the_best_config_and_train_uses_it(fast_db: str) -> None:
    ingest(2000)
    result = tune(trials=3, source="lending_club", schedule=TINY, seed=0)
    with session_scope() as session:
        row = latest_tuned_config(session, source="lending_club")
        assert row is not None and row.id == result.tuned_config_id
        assert set(row.config) == set(SPACE)
        assert row.n_trials == 3 and row.search_space_version == SEARCH_SPACE_VERSION
        values = [t["value"] for t in row.details["trials"] if t["state"] == "COMPLETE"]
        assert row.best_valid_roc_auc == pytest.approx(max(values))
        assert 0.5 < row.best_valid_roc_auc <= 1.0
        assert row.n_pruned == sum(t["state"] == "PRUNED" for t in row.details["trials"])
        # Trial 0 is the Settings configuration (NUM_LAYERS=2 from fast_training_env).
        assert row.details["trials"][0]["params"]["num_layers"] == 2
        assert row.details["trial_schedule"] == {
            "pretrain_epochs": 1,
            "finetune_epochs": 2,
            "patience": 1,
        }
        tuned = dict(row.config)
    # The search saw exactly train's training and validation rows, and no test row.
    settings = get_settings()
    frame = load_frame(source="lending_club")
    splits = make_splits(
        frame,
        source="lending_club",
        test_fraction=settings.test_fraction,
        validation_fraction=settings.validation_fraction,
        seed=settings.seed,
    )
    data = row.details["data"]
    assert (data["n_train"], data["n_valid"]) == (
        len(splits.train.labels),
        len(splits.valid.labels),
    )

    trained = train(source="lending_club", progress=False)
    with session_scope() as session:
        model = session.scalars(
            select(ModelMetadata).where(ModelMetadata.model_version == trained.model_version)
        ).one()
        config = model.training_config
    assert config["training_preset"] == "tuned"
    assert config["tuned_config_id"] == result.tuned_config_id
    # Searched values are used, except those the environment set explicitly (they win).
    for name in ("learning_rate", "weight_decay", "dropout_rate", "d_model", "temperature"):
        assert config[name] == pytest.approx(tuned[name]), name
    assert config["num_layers"] == 2 and config["batch_size"] == 256
    assert {"num_layers", "batch_size"} <= set(config["explicit_settings"])
    # The production schedule, not the search's shortened one.
    assert (config["pretrain_epochs"], config["finetune_epochs"]) == (1, 3)


def test_tuning_splits_are_make_splits_without_the_test_rows(fast_db: str) -> None:
    ingest(1500)
    frame = load_frame(source="lending_club")
    kwargs = {"source": "lending_club", "test_fraction": 0.2, "validation_fraction": 0.15}
    splits = make_splits(frame, seed=7, **kwargs)
    train_rows, valid_rows = tuning_splits(frame, seed=7, **kwargs)
    assert train_rows.row_keys == splits.train.row_keys
    assert valid_rows.row_keys == splits.valid.row_keys
    assert not set(splits.test.row_keys) & (set(train_rows.row_keys) | set(valid_rows.row_keys))


def test_auto_uses_the_newest_tuned_config_else_the_defaults(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LEARNING_RATE", "D_MODEL", "NHEAD", "TRAINING_PRESET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    untuned = resolve_training_config(settings, source="lending_club")
    assert untuned.preset == "defaults" and untuned.tuned_config_id is None
    assert untuned.config.learning_rate == settings.learning_rate
    _store("lending_club", learning_rate=0.002, d_model=16)
    newest = _store("lending_club", learning_rate=0.0005, d_model=64, nhead=2)
    _store("credit_data", learning_rate=0.003)
    resolved = resolve_training_config(settings, source="lending_club")
    assert (resolved.preset, resolved.tuned_config_id) == ("tuned", newest)
    assert (resolved.config.learning_rate, resolved.config.d_model) == (0.0005, 64)
    assert resolved.recorded()["training_preset"] == "tuned"
    assert resolve_training_config(settings, source="other").preset == "defaults"


def test_explicit_settings_win_over_the_tuned_config(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store("lending_club", learning_rate=0.0005, dropout_rate=0.1)
    monkeypatch.setenv("LEARNING_RATE", "0.002")
    get_settings.cache_clear()
    resolved = resolve_training_config(get_settings(), source="lending_club")
    assert resolved.preset == "tuned"
    assert resolved.config.learning_rate == 0.002  # the environment's
    assert resolved.config.dropout_rate == 0.1  # the tuned one
    assert "learning_rate" in resolved.explicit


def test_defaults_and_reference_presets_ignore_a_stored_config(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LEARNING_RATE", "BATCH_SIZE", "NUM_LAYERS"):
        monkeypatch.delenv(name, raising=False)
    _store("lending_club", learning_rate=0.0005, batch_size=512)
    monkeypatch.setenv("TRAINING_PRESET", "defaults")
    get_settings.cache_clear()
    defaults = resolve_training_config(get_settings(), source="lending_club")
    assert defaults.preset == "defaults" and defaults.config.batch_size == 256
    monkeypatch.setenv("TRAINING_PRESET", "reference")
    get_settings.cache_clear()
    reference = resolve_training_config(get_settings(), source="lending_club")
    assert reference.preset == "reference" and reference.tuned_config_id is None
    for name, value in REFERENCE.items():
        assert getattr(reference.config, name) == value, name
    assert (reference.config.batch_size, reference.config.learning_rate) == (32, 3e-4)


def test_tuned_preset_without_a_stored_config_is_an_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINING_PRESET", "tuned")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="loan-default tune --source lending_club"):
        resolve_training_config(get_settings(), source="lending_club")


@pytest.mark.slow
def test_tune_cli_errors_are_one_line_and_store_nothing(fast_db: str) -> None:
    cli(fast_db, "init-db")
    ingest(600)
    one_line_error(cli(fast_db, "tune", "--trials", "0", check=False), "--trials", "at least 1")
    one_line_error(
        cli(fast_db, "tune", "--trials", "2", "--source", "nope", check=False),
        "'nope' has not been collected",
    )
    one_line_error(
        cli(fast_db, "tune", "--trials", "2", "--timeout", "0", check=False), "--timeout"
    )
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(TunedConfig)) == 0
