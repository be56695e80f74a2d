"""``bench/load.py --duration 10``: 32 concurrent clients, 0 errors, every prediction logged.

The benchmark starts its own uvicorn on 127.0.0.1 against a copy of the trained template,
sends real lending_club applicants to ``/predict`` for 10 seconds, waits for the log flush
and exits non-zero unless errors == 0 and logged rows == successful requests.  The figures
of the full 60-second run are in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import REPO_ROOT
from tests.faults.helpers import cli_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def test_ten_second_load_has_no_errors_and_logs_every_prediction(
    trained_db: str, tmp_path: Path
) -> None:
    report = tmp_path / "load.json"
    result = subprocess.run(
        [
            sys.executable,
            "bench/load.py",
            "--duration",
            "10",
            "--database-url",
            trained_db,
            "--json",
            str(report),
            "--reuse-id-every",
            "5",  # clients that reuse one X-Request-ID: every answer is still logged
        ],
        cwd=REPO_ROOT,
        env=cli_env(trained_db, TORCH_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(report.read_text())
    print(result.stdout)
    assert figures["clients"] == 32
    assert figures["errors"] == 0 and figures["error_kinds"] == {}
    assert figures["ok"] == figures["requests"] > 100
    assert figures["logged"] == figures["ok"]
    assert figures["reused_id_requests"] >= 32
    assert figures["server_dropped"] == 0
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert "| errors | 0 |" in result.stdout
