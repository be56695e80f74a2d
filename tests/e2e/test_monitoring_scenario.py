"""Issue 11's scenario against real PostgreSQL and the real HTTP API (uvicorn).

The same scenario is ``make monitor-demo`` (scripts/monitor_scenario.py); here its results
are checked: stable drift on held-out applicants, "act" and a retraining decision on shifted
ones, and realised metrics joined by application_id that agree with the CBPE estimate.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from scripts.monitor_scenario import ScenarioResult, run_scenario
from tests.e2e.helpers import collect_rows, fresh_database, metric_value, pipeline_env, train_model
from tests.e2e.server import ApiServer, running_server

FIRST_BATCH = 600


@dataclass
class Ran:
    result: ScenarioResult
    server: ApiServer
    output: str


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    workdir: Path = tmp_path_factory.mktemp("monitor")
    with fresh_database() as url, pipeline_env(url), pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTCOME_WINDOW_DAYS", "0")  # outcomes arrive at once: all have matured
        from config.settings import get_settings

        get_settings.cache_clear()
        collect_rows(batch_size=20_000)
        train_model()
        with running_server(url) as server:
            buffer = io.StringIO()
            result = run_scenario(
                base_url=server.base_url,
                workdir=workdir,
                console=Console(file=buffer, width=120),
                first_batch=FIRST_BATCH,
            )
            yield Ran(result, server, buffer.getvalue())


def _by_feature(rows: list) -> dict[str, object]:
    return {row.feature: row for row in rows}


def test_held_out_applicants_as_they_are_show_no_drift(ran: Ran) -> None:
    drift = _by_feature(ran.result.stable_drift)
    assert "__score__" in drift and "int_rate" in drift, ran.output
    assert drift["__score__"].psi < 0.1, ran.output
    assert {row.status for row in ran.result.stable_drift} == {"stable"}, ran.output
    assert all(row.n_current == FIRST_BATCH for row in ran.result.stable_drift)


def test_shifted_applicants_are_flagged_and_retraining_is_decided(ran: Ran) -> None:
    drift = _by_feature(ran.result.shifted_drift)
    assert drift["int_rate"].status == "act" and drift["annual_inc"].status == "act", ran.output
    # The score moves, beyond its no-change null; how far depends on how strongly the model
    # reacts to these two features (docs/monitoring.md: the TabTransformer ~0.15, a logistic
    # regression ~0.9 on the same shift), so its band is not asserted.
    stable_score = _by_feature(ran.result.stable_drift)["__score__"]
    assert drift["__score__"].psi > max(2 * stable_score.psi, drift["__score__"].psi_null_p99)
    assert drift["__score__"].status in ("investigate", "act"), ran.output
    for row in drift.values():  # every alarm is above its no-change null, and recorded so
        if row.status != "stable":
            assert row.psi > row.psi_null_p99
    decision = ran.result.shifted
    fired = {rule["name"] for rule in decision.rules if rule["fired"]}
    assert decision.retrain, decision.reason
    assert "features_in_act_live" in fired, decision.rules
    assert "int_rate" in decision.reason and "annual_inc" in decision.reason
    assert all(row.n_current == ran.result.n_shifted for row in ran.result.shifted_drift)


def test_outcomes_are_joined_by_application_id_and_match_the_estimate(ran: Ran) -> None:
    realised, estimate = ran.result.realised, ran.result.stable_estimate
    assert realised.n_samples == FIRST_BATCH and not realised.estimated
    assert estimate.estimated and estimate.n_samples == FIRST_BATCH
    assert realised.f1_score is not None and realised.f1_se is not None and realised.f1_se > 0
    assert estimate.f1_score is not None
    gap = abs(estimate.f1_score - realised.f1_score)
    assert gap <= 3 * realised.f1_se, ran.output
    assert realised.details and "gap" in realised.details  # realised - estimate, same rows


def test_the_api_reports_monitoring_and_prometheus_gauges(ran: Ran) -> None:
    with ran.server.client() as client:
        body = client.get("/monitoring").raise_for_status().json()
        metrics = client.get("/metrics").text
    live = body["drift"]["populations"]["live"]
    assert live["score"]["feature"] == "__score__"
    kinds = {(p["population"], p["estimated"]) for p in body["performance"]}
    assert ("live", False) in kinds
    psi = live["score"]["psi"]
    sample = f'loan_default_score_psi{{model_version="{body["model_version"]}",population="live"}}'
    assert metric_value(metrics, sample) == pytest.approx(psi)
    assert "loan_default_feature_psi{" in metrics
