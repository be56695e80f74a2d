"""The retraining rules: each fires on its own evidence and says why with its numbers."""

from __future__ import annotations

import pytest

from config.settings import Settings
from src.pipeline.retraining_rules import (
    Evidence,
    Observed,
    RetrainingPolicy,
    ScoreDrift,
    evaluate_rules,
    summarise,
)

POLICY = RetrainingPolicy.from_settings(
    Settings(f1_score_threshold=0.8, retraining_sample_threshold=1000),
    f1_threshold=0.1,  # the reference design's 0.8 fires on every real loan book
)
TEST = {"f1_score": 0.30, "roc_auc": 0.72}


def fired(evidence: Evidence, policy: RetrainingPolicy = POLICY) -> set[str]:
    return {r.name for r in evaluate_rules(evidence, policy) if r.fired}


def test_quiet_evidence_fires_nothing_and_says_so() -> None:
    evidence = Evidence(
        has_active=True,
        mean_f1=0.29,
        new_samples=10,
        test_metrics=TEST,
        observed=[Observed("live", True, 900, {"f1_score": 0.29, "roc_auc": 0.71})],
        score_drift=[ScoreDrift("live", 0.02, 0.03, "stable", 0.25)],
        features_in_act={"live": []},
    )
    rules = evaluate_rules(evidence, POLICY)
    assert not any(r.fired for r in rules)
    retrain, reason = summarise(rules)
    assert not retrain and reason.startswith("no rule fired") and "0.290 >= 0.100" in reason


def test_each_rule_fires_on_its_own_evidence() -> None:
    assert fired(Evidence(has_active=False)) == {"no_active_model"}
    assert fired(Evidence(has_active=True, mean_f1=0.05)) == {"f1_below_threshold"}
    assert fired(Evidence(has_active=True, new_samples=1000)) == {"new_samples"}
    drop = Evidence(
        has_active=True,
        test_metrics=TEST,
        observed=[Observed("live", False, 500, {"f1_score": 0.20, "roc_auc": 0.71})],
    )
    assert fired(drop) == {"f1_score_drop_live"}  # 0.20 < 0.9 x 0.30; AUC 0.71 >= 0.648
    estimated = Evidence(
        has_active=True,
        test_metrics=TEST,
        observed=[Observed("live", True, 500, {"f1_score": 0.29, "roc_auc": 0.60})],
    )
    assert fired(estimated) == {"roc_auc_drop_live_estimated"}
    drift = Evidence(
        has_active=True,
        score_drift=[ScoreDrift("live", 0.4, 0.05, "act", 0.25)],
        features_in_act={"live": ["int_rate", "annual_inc"], "collected": []},
    )
    assert fired(drift) == {"score_psi_live", "features_in_act_live"}


def test_a_psi_above_the_band_but_within_noise_does_not_fire() -> None:
    # status comes from drift_status: "act" only above the no-change 99th percentile too.
    evidence = Evidence(has_active=True, score_drift=[ScoreDrift("live", 0.3, 0.5, "stable", 0.25)])
    assert fired(evidence) == set()


def test_reason_names_every_fired_rule_with_value_and_threshold() -> None:
    evidence = Evidence(
        has_active=True,
        score_drift=[ScoreDrift("live", 0.412, 0.05, "act", 0.25)],
        features_in_act={"live": ["int_rate", "annual_inc"]},
    )
    retrain, reason = summarise(evaluate_rules(evidence, POLICY))
    assert retrain
    assert "score_psi_live: score PSI 0.412" in reason
    assert "features_in_act_live: 2 live feature(s) in act (>= 1 fires): int_rate, annual_inc" in (
        reason
    )
    rows = [r.as_dict() for r in evaluate_rules(evidence, POLICY)]
    assert {"name", "fired", "value", "threshold", "detail"} <= set(rows[0])


def test_overrides_are_checked() -> None:
    policy = RetrainingPolicy.from_settings(Settings(), psi_act_threshold=0.5, f1_threshold=None)
    assert policy.psi_act_threshold == 0.5 and policy.f1_threshold == Settings().f1_score_threshold
    with pytest.raises(ValueError, match="unknown retraining thresholds"):
        RetrainingPolicy.from_settings(Settings(), f1_treshold=0.5)
    with pytest.raises(ValueError, match="must be below"):
        RetrainingPolicy.from_settings(Settings(), psi_investigate_threshold=0.3)
