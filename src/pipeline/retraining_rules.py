"""The retraining decision as data: every rule evaluated, with its value and threshold.

Pure (no I/O), so the decision an auditor reads in ``model_performance.details`` can be
replayed from the numbers stored beside it.  The rules:

* ``no_active_model``: nothing serves the line.
* ``f1_below_threshold``: the reference design's absolute rule, the mean realised F1 of the
  last ``F1_WINDOW_DAYS`` below ``F1_SCORE_THRESHOLD``.
* ``<metric>_drop_<population>[_estimated]``: realised or CBPE-estimated F1 / ROC-AUC more
  than ``PERFORMANCE_DROP_RATIO`` below the model's own held-out test figure.
* ``score_psi_<population>``: the score's PSI in the "act" band and above its no-change null.
* ``features_in_act_<population>``: at least ``DRIFT_ACT_FEATURES_THRESHOLD`` features in "act".
* ``new_samples``: at least ``RETRAINING_SAMPLE_THRESHOLD`` labelled rows no model trained on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from config.settings import Settings

RELATIVE_METRICS = ("f1_score", "roc_auc")

# RetrainingPolicy fields whose setting has another name (the rest share theirs).
POLICY_SETTINGS = {
    "f1_threshold": "f1_score_threshold",
    "sample_threshold": "retraining_sample_threshold",
    "min_samples": "drift_min_samples",
    "cooldown_hours": "retrain_cooldown_hours",
}


@dataclass(frozen=True)
class RetrainingPolicy:
    """The thresholds of every rule; the DAG's params override any of them per run."""

    f1_threshold: float
    f1_window_days: int
    sample_threshold: int
    performance_drop_ratio: float
    drift_act_features_threshold: int
    psi_investigate_threshold: float
    psi_act_threshold: float
    min_samples: int
    cooldown_hours: float

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetrainingPolicy:
        policy = cls(
            **{name: getattr(settings, POLICY_SETTINGS.get(name, name)) for name in FIELDS}
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown retraining thresholds {unknown}")
        policy = dataclasses.replace(policy, **given)
        if policy.psi_investigate_threshold >= policy.psi_act_threshold:
            raise ValueError(
                f"psi_investigate_threshold ({policy.psi_investigate_threshold}) must be below "
                f"psi_act_threshold ({policy.psi_act_threshold})"
            )
        return policy


FIELDS = tuple(f.name for f in dataclasses.fields(RetrainingPolicy))


@dataclass(frozen=True)
class Observed:
    """One measured (or estimated) performance of the active model on one population."""

    population: str  # collected | live
    estimated: bool
    n: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class ScoreDrift:
    population: str
    psi: float
    null_p99: float
    status: str  # stable | investigate | act (act only above the null)
    act_threshold: float


@dataclass(frozen=True)
class Evidence:
    """Everything the decision looks at, gathered by ``src.pipeline.validation``."""

    has_active: bool
    mean_f1: float | None = None
    new_samples: int = 0
    test_metrics: dict[str, float] = field(default_factory=dict)
    observed: Sequence[Observed] = ()
    score_drift: Sequence[ScoreDrift] = ()
    features_in_act: dict[str, list[str]] = field(default_factory=dict)  # population -> names


@dataclass(frozen=True)
class Rule:
    name: str
    fired: bool
    value: float | int | None
    threshold: float | int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return dataclasses.asdict(self) | {"value": value}


def evaluate_rules(evidence: Evidence, policy: RetrainingPolicy) -> list[Rule]:
    """Every rule, fired or not, in a fixed order (the first fired one leads the reason)."""
    rules = [
        Rule(
            "no_active_model",
            not evidence.has_active,
            int(not evidence.has_active),
            1,
            "the line has no active model" if not evidence.has_active else "a model is active",
        ),
        _f1_rule(evidence, policy),
        *_drop_rules(evidence, policy),
        *_drift_rules(evidence, policy),
        Rule(
            "new_samples",
            evidence.new_samples >= policy.sample_threshold,
            evidence.new_samples,
            policy.sample_threshold,
            f"{evidence.new_samples} new labelled rows no model was trained on",
        ),
    ]
    return rules


def summarise(rules: Sequence[Rule]) -> tuple[bool, str]:
    """(retrain, reason): the fired rules with their numbers, or why none fired."""
    fired = [r for r in rules if r.fired]
    if fired:
        return True, "; ".join(f"{r.name}: {r.detail}" for r in fired)
    return False, "no rule fired: " + "; ".join(
        r.detail for r in rules if r.name in ("f1_below_threshold", "new_samples")
    )


def _f1_rule(evidence: Evidence, policy: RetrainingPolicy) -> Rule:
    days, threshold, mean = policy.f1_window_days, policy.f1_threshold, evidence.mean_f1
    if mean is None:
        return Rule(
            "f1_below_threshold", False, None, threshold, f"no realised F1 in the last {days} days"
        )
    fired = mean < threshold
    sign = "<" if fired else ">="
    detail = f"{days}-day mean F1 (default class) {mean:.3f} {sign} {threshold:.3f}"
    return Rule("f1_below_threshold", fired, mean, threshold, detail)


def _drop_rules(evidence: Evidence, policy: RetrainingPolicy) -> list[Rule]:
    rules = []
    ratio = policy.performance_drop_ratio
    for obs in evidence.observed:
        kind = "estimated" if obs.estimated else "realised"
        for metric in RELATIVE_METRICS:
            reference = evidence.test_metrics.get(metric)
            value = obs.metrics.get(metric)
            if reference is None or value is None or not math.isfinite(value):
                continue
            floor = (1.0 - ratio) * reference
            name = f"{metric}_drop_{obs.population}" + ("_estimated" if obs.estimated else "")
            detail = (
                f"{kind} {metric} {value:.3f} on {obs.n} {obs.population} rows vs test "
                f"{reference:.3f} (floor {floor:.3f} = {1 - ratio:.0%} of test)"
            )
            rules.append(Rule(name, value < floor, value, floor, detail))
    return rules


def _drift_rules(evidence: Evidence, policy: RetrainingPolicy) -> list[Rule]:
    rules = []
    for drift in evidence.score_drift:
        detail = (
            f"score PSI {drift.psi:.3f} on {drift.population} rows ({drift.status}; act above "
            f"{drift.act_threshold:g} and above the no-change 99th percentile {drift.null_p99:.3f})"
        )
        rules.append(
            Rule(
                f"score_psi_{drift.population}",
                drift.status == "act",
                drift.psi,
                drift.act_threshold,
                detail,
            )
        )
    threshold = policy.drift_act_features_threshold
    for population, names in evidence.features_in_act.items():
        shown = ", ".join(names) if names else "none"
        rules.append(
            Rule(
                f"features_in_act_{population}",
                len(names) >= threshold,
                len(names),
                threshold,
                f"{len(names)} {population} feature(s) in act (>= {threshold} fires): {shown}",
            )
        )
    return rules
