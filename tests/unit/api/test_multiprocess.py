"""The multiprocess-metrics directory: who creates, empties and removes it, and the sweep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.settings import get_settings
from src.api.multiprocess import ENV_VAR, forget_dead_workers, multiprocess_metrics
from src.cli import main

NO_SUCH_PID = 2**22 + 1  # above Linux's largest pid_max: never a running process


def test_one_worker_without_a_directory_stays_single_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with multiprocess_metrics(workers=1) as path:
        assert path is None
        assert ENV_VAR not in os.environ


def test_several_workers_get_a_private_directory_removed_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with multiprocess_metrics(workers=3) as path:
        assert path is not None and path.is_dir() and not any(path.iterdir())
        assert os.environ[ENV_VAR] == str(path)
    assert not path.exists()
    assert ENV_VAR not in os.environ


def test_a_configured_directory_is_created_or_emptied_of_metric_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "prom"
    monkeypatch.setenv(ENV_VAR, str(shared))
    with multiprocess_metrics(workers=2) as path:
        assert path == shared and shared.is_dir()
    (shared / "counter_123.db").write_bytes(b"old run")
    (shared / "notes.txt").write_text("not ours")
    with multiprocess_metrics(workers=1) as path:
        assert path == shared
        assert [p.name for p in shared.iterdir()] == ["notes.txt"]
    assert shared.is_dir()  # the user's directory is kept


def test_sweep_drops_live_gauges_of_exited_workers_only(tmp_path: Path) -> None:
    names = [
        f"gauge_liveall_{NO_SUCH_PID}.db",
        f"gauge_livemin_{NO_SUCH_PID}.db",
        f"gauge_all_{NO_SUCH_PID}.db",
        f"counter_{NO_SUCH_PID}.db",
        f"histogram_{NO_SUCH_PID}.db",
        f"gauge_liveall_{os.getpid()}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert forget_dead_workers(tmp_path) == [NO_SUCH_PID]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def test_serve_refuses_zero_workers_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv("WEB_CONCURRENCY", "0")
    get_settings.cache_clear()
    try:
        assert main(["serve"]) == 2
        assert "WEB_CONCURRENCY" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
