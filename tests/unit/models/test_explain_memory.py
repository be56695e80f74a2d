"""Explanations run in bounded chunks: same answers, peak memory independent of batch size.

One unchunked pass over a 1,000-record batch with 60 categorical columns needed ~6 GB; the
probe measures the peak RSS growth of ``Predictor.explain`` in a fresh subprocess (torch
allocates outside Python's allocator, so tracemalloc cannot see it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.models.artifact import ModelBundle
from src.models.predictor import Predictor

REPO_ROOT = Path(__file__).resolve().parents[3]
PROBE = "tests.unit.models.explain_memory_probe"


def test_chunked_explanations_match_one_pass(bundle: ModelBundle, data: dict) -> None:
    predictor = Predictor(bundle)
    frame = data["test"].iloc[:40]
    one_pass = predictor.explain(frame, top_k=3, max_rows_per_pass=10**9)
    for rows_per_pass in (1, 7, 60):
        chunked = predictor.explain(frame, top_k=3, max_rows_per_pass=rows_per_pass)
        assert len(chunked) == len(one_pass)
        for got, want in zip(chunked, one_pass, strict=True):
            assert [r["feature"] for r in got] == [r["feature"] for r in want]
            for g, w in zip(got, want, strict=True):
                assert g["effect"] == pytest.approx(w["effect"], abs=1e-5)


def _peak_growth_mib(records: int, rows_per_pass: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", PROBE, str(records), str(rows_per_pass)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return float(json.loads(result.stdout.strip().splitlines()[-1])["growth_mib"])


def test_explain_peak_memory_does_not_grow_with_batch_size() -> None:
    # 64 features -> 65 model rows per record: 32 records already fill several chunks.
    small = _peak_growth_mib(32, rows_per_pass=512)
    large = _peak_growth_mib(320, rows_per_pass=512)  # 10x the records
    # Unchunked, 320 records grew the peak by ~2 GB (~6.5 MiB per record); chunked, the
    # growth is that of one chunk plus allocator noise, whatever the batch size.
    assert large < small + 64, (small, large)
    assert large < 400, (small, large)
