"""Rendering a card built from small arrays: self-contained, every section, no NaN."""

from __future__ import annotations

import json
from html import escape

import numpy as np

from src.models.metrics import classification_metrics
from src.reporting import render, sections

RNG = np.random.default_rng(0)
Y = (RNG.random(400) < 0.25).astype(int)
P = np.clip(0.2 + 0.25 * Y + RNG.normal(0, 0.15, 400), 0.001, 0.999)
# A weaker benchmark on the same rows: more noise on the same signal.
P_BENCH = np.clip(0.2 + 0.25 * Y + RNG.normal(0, 0.3, 400), 0.001, 0.999)
BENCH_METRICS = classification_metrics(Y, P_BENCH, threshold=0.35) | {
    "threshold": 0.35,
    "C": 0.1,
}


def small_card(*, admin: bool) -> dict:
    evaluation = sections.evaluate(Y, P, threshold=0.4)
    comparison = sections.compare(
        labels=Y, proba=P, threshold=0.4, rival_proba=np.clip(P + 0.1, 0, 1), rival_threshold=0.5
    )
    return sections.clean(
        {
            "generated_at": "2024-01-01T00:00:00+00:00",
            "model": {
                "version": "v0007",
                "source": "lending_club",
                "model_type": "tab_transformer",
                "created_at": "2024-01-01T00:00:00+00:00",
                "status": "candidate",
                "status_reason": "awaiting deployment gate",
                "threshold": 0.4,
                "artifact_sha256": "ab" * 32,
                "artifact_size": 1234,
                "training_run_id": 3,
                "data_snapshot": {"n_test": 400},
                "feature_schema": {
                    "categorical": ["grade"],
                    "numerical": ["int_rate"],
                    "target": "Class",
                    "positive_label": "bad",
                },
                "registry_metrics": {"roc_auc": evaluation["metrics"]["roc_auc"]},
            },
            "admin": {"training_config": {"seed": 42}, "source": None}
            if admin
            else {"note": "admin only: send the key"},
            "status_history": [
                {
                    "at": "2024-01-01T00:00:00",
                    "event": "registered",
                    "success": True,
                    "reason": None,
                    "by": "training pipeline",
                }
            ],
            "intended_use": sections.intended_use(
                source="lending_club", evaluation=evaluation, n_features=2, threshold=0.4
            ),
            **evaluation,
            "benchmark": sections.benchmark(
                model_metrics=evaluation["metrics"], benchmark_metrics=BENCH_METRICS
            ),
            "comparison": {
                "rival": "v0006",
                "rival_status": "active",
                "role": "current champion",
                "gate": {"event": "pending", "reason": "awaiting"},
                **comparison,
            },
            "over_time": {
                "performance": [
                    {
                        "at": "2024-01-02T00:00:00+00:00",
                        "population": "live",
                        "estimated": False,
                        "n_samples": 50,
                        "f1_score": 0.3,
                        "roc_auc": 0.7,
                        "ks": 0.3,
                        "ece": 0.05,
                        "retrain": False,
                    },
                ],
                "drift": [
                    {
                        "at": "2024-01-02T00:00:00+00:00",
                        "population": "live",
                        "feature": "__score__",
                        "psi": 0.04,
                        "status": "stable",
                    },
                ],
            },
            "explanations": {"sample": 0, "recomputed": True, "features": []},
        }
    )


def test_report_is_self_contained_and_has_every_section() -> None:
    html = render.render_report(small_card(admin=False))
    policy = escape(render.PAGE_POLICY).replace("&#x27;", "&#39;")  # Jinja's spelling of '
    assert f'content="{policy}"' in html
    assert "<script" not in html and "<link" not in html and "@import" not in html
    for section in (
        "details",
        "intended-use",
        "discrimination",
        "calibration",
        "decisions",
        "benchmark",
        "comparison",
        "over-time",
        "explanations",
    ):
        assert f'id="{section}"' in html
    for plot in (
        "roc",
        "pr",
        "ks",
        "reliability",
        "confusion",
        "scores",
        "lift",
        "performance",
        "drift",
    ):
        assert f'id="plot-{plot}" src="data:image/svg+xml;base64,' in html
    assert "admin only" in html and 'id="training-config"' not in html


def test_admin_view_shows_the_training_configuration() -> None:
    html = render.render_report(small_card(admin=True))
    assert 'id="training-config"' in html and '"seed": 42' in html


def test_card_is_strict_json_and_the_f1_note_quotes_the_interval() -> None:
    card = small_card(admin=False)
    json.dumps(card, allow_nan=False)  # NaN would break JSON clients
    low, high = card["discrimination"]["bootstrap"]["f1_score"]
    note = next(t for t in card["intended_use"] if t.startswith("What F1 the data supports"))
    assert f"{low:.3f}-{high:.3f}" in note


def test_comparison_marks_lower_is_better_metrics_correctly() -> None:
    rows = {r["metric"]: r for r in small_card(admin=False)["comparison"]["metrics"]}
    brier = rows["brier_score"]
    assert brier["better"] == (brier["model"] < brier["rival"])
    auc = rows["roc_auc"]
    assert auc["delta"] == auc["model"] - auc["rival"]


def test_registry_page_escapes_what_it_shows() -> None:
    rows = [
        {
            "version": "v1",
            "source": "<b>x</b>",
            "status": "active",
            "status_reason": None,
            "created_at": "2024-01-01T00:00:00",
            "n_test": 10,
            "metrics": dict.fromkeys(("roc_auc", "gini", "ks", "f1_score", "brier_score", "ece")),
            "previous_champion": None,
            "deltas": None,
            "report": "/models/v1/report",
            "card": "/models/v1/card.json",
        }
    ]
    html = render.render_registry(rows, generated_at="now")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_benchmark_section_names_the_better_model_on_roc_auc() -> None:
    mine = classification_metrics(Y, P, threshold=0.4)
    assert mine["roc_auc"] > BENCH_METRICS["roc_auc"]  # the less noisy score ranks better
    card = small_card(admin=False)
    rows = {r["metric"]: r for r in card["benchmark"]["metrics"]}
    assert rows["roc_auc"]["model"] == mine["roc_auc"]
    assert rows["roc_auc"]["benchmark"] == BENCH_METRICS["roc_auc"]
    assert rows["roc_auc"]["better"] is True
    assert rows["brier_score"]["better"] == (mine["brier_score"] < BENCH_METRICS["brier_score"])
    assert card["benchmark"]["verdict"].startswith("This model is better than its benchmark")
    html = render.render_report(card)
    assert 'id="benchmark-table"' in html
    assert f"{mine['roc_auc']:.3f} vs {BENCH_METRICS['roc_auc']:.3f}" in html

    # Swapped: the benchmark wins, and the report says so plainly.
    swapped = sections.benchmark(model_metrics=BENCH_METRICS, benchmark_metrics=mine)
    assert swapped["verdict"].startswith("The logistic-regression benchmark is better")
    assert {r["metric"]: r["better"] for r in swapped["metrics"]}["roc_auc"] is False


def test_a_model_without_a_benchmark_says_so() -> None:
    card = small_card(admin=False)
    card["benchmark"] = sections.benchmark(model_metrics=card["metrics"], benchmark_metrics=None)
    html = render.render_report(card)
    assert "registered before benchmarks were" in html
    assert 'id="benchmark-table"' not in html
