"""Several model lines (sources) in one database, each with its own champion.

A lender runs several portfolios with different columns; each line is trained, validated
and deployed on its own rows, and never judged against another line's model.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from src.data import repository as repo
from src.data.database import session_scope
from src.data.ingest import collect
from src.data.source_options import SourceOptions
from src.data.tables import ModelMetadata, ModelPerformance, TrainingRun
from src.pipeline.deployment import deploy
from src.pipeline.training import (
    evaluate_stage,
    finetune_stage,
    prepare_training,
    pretrain_stage,
    register_stage,
    train,
)
from src.pipeline.validation import validate
from tests.integration.pipeline.test_cli import write_user_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def write_card_csv(path: Path, n: int = 1200, seed: int = 7) -> None:
    """A second portfolio with other columns and a 0/1 label: a different schema."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["branch", "online", "broker"], n)
    utilization = rng.uniform(0, 1.2, n).round(3)
    limit = rng.lognormal(8.5, 0.6, n).round(0)
    logit = -2.0 + 2.5 * utilization + 0.7 * (channel == "broker")
    bad = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {"channel": channel, "utilization": utilization, "credit_limit": limit, "bad": bad * 1}
    )
    frame.to_csv(path, index=False)


def champions() -> dict[str, str]:
    with session_scope() as session:
        rows = session.execute(
            select(ModelMetadata.source, ModelMetadata.model_version).where(ModelMetadata.is_active)
        ).all()
    return {source: version for source, version in rows}


def test_two_lines_with_different_schemas_keep_their_own_champions(fast_db, tmp_path):
    loans, cards = tmp_path / "loans.csv", tmp_path / "cards.csv"
    write_user_csv(loans)
    write_card_csv(cards)
    collect(
        options=SourceOptions(source=str(loans), target="defaulted", positive="yes"), batch_size=900
    )
    collect(options=SourceOptions(source=str(cards), target="bad", positive="1"), batch_size=900)
    first_loans = train(source="loans", progress=False)
    first_cards = train(source="cards", progress=False)
    assert first_loans.activated and first_cards.activated  # each line's first model
    assert champions() == {"loans": first_loans.model_version, "cards": first_cards.model_version}

    collect(source="loans")
    collect(source="cards")
    for line, champion in champions().items():
        decision = validate(source=line, f1_threshold=0.0, sample_threshold=10_000)
        assert (decision.model_version, decision.n_samples) == (champion, 300), decision
    with session_scope() as session:
        scored = session.execute(
            select(ModelPerformance.source, ModelPerformance.model_version)
        ).all()
    assert sorted(scored) == sorted(champions().items())

    challenger = train(source="cards", progress=False)
    assert not challenger.activated
    result = deploy(source="cards")
    assert result.model_version == challenger.model_version
    assert result.champion_version == first_cards.model_version  # never the loans model
    expected = challenger.model_version if result.promoted else first_cards.model_version
    assert champions() == {"loans": first_loans.model_version, "cards": expected}
    nothing = deploy(source="loans")
    assert nothing.model_version is None and "no candidate" in nothing.reason


def test_concurrent_registrations_get_distinct_versions(fast_db, tmp_path):
    data = tmp_path / "loans.csv"
    write_user_csv(data)
    collect(options=SourceOptions(source=str(data), target="defaulted", positive="yes"))
    runs = []
    for _ in range(2):
        run_id = prepare_training(source="loans")
        for stage in (pretrain_stage, finetune_stage):
            stage(run_id=run_id, progress=False)
        evaluate_stage(run_id=run_id)
        runs.append(run_id)
    barrier, versions, errors = threading.Barrier(2), {}, []

    def register(run_id: int) -> None:
        barrier.wait()
        try:
            versions[run_id] = register_stage(run_id=run_id)
        except Exception as exc:  # whatever the loser got is the failure to report
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(versions.values()) == ["v0001", "v0002"]
    with session_scope() as session:
        stages = session.scalars(select(TrainingRun.stage).where(TrainingRun.id.in_(runs))).all()
        assert list(stages) == ["registered", "registered"]
        assert repo.get_active_version(session, source="loans") in versions.values()


def test_reference_design_psql_query_prints_a_readable_row(fast_db, tmp_path):
    """The reference design's registry query, verbatim: no artifact hex in the output."""
    data = tmp_path / "loans.csv"
    write_user_csv(data)
    collect(options=SourceOptions(source=str(data), target="defaulted", positive="yes"))
    train(source="loans", progress=False)
    query = "SELECT * FROM loan_data.model_metadata WHERE is_active = true;"
    out = subprocess.run(
        ["psql", fast_db, "-c", query], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "v0001" in out and "(1 row)" in out
    assert len(out.encode()) < 20_000, f"{len(out.encode())} bytes"
    with session_scope() as session:
        model = repo.get_model(session, version="v0001")
        assert model is not None and model.artifact_size > 20_000  # the bytes moved, not shrank
        assert model.artifact_sha256 in out
