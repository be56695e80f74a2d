"""Daily monitoring and validation of the active model; triggers ``model_training`` when due.

monitor -> validate -> check_retrain -> trigger_model_training | skip_retraining

``monitor`` measures the active model (``src.pipeline.monitoring``): PSI of the score and of
every feature on the last days' logged predictions and on newly collected rows
(``loan_data.drift_metrics``), the CBPE-estimated performance of predictions still waiting
for their outcome, and the realised performance of matured predictions joined to
``loan_data.outcomes``.  It hands on only its run id.

``validate`` scores the active model on the newly labelled rows (the reference design's
``loan_data.model_performance`` row) and evaluates every retraining rule with its value and
threshold: the 7-day mean F1 below ``F1_SCORE_THRESHOLD``, a relative drop of F1 / ROC-AUC,
the score PSI in "act", features in "act", ``RETRAINING_SAMPLE_THRESHOLD`` new samples, no
active model.  The rules are stored with the decision, so it can be replayed; a cooldown
after a rejected challenger suppresses immediate re-retraining.  The triggered
``model_training`` run ends with the champion/challenger gate.

The trigger does not wait for the training run: the retrain is its own DAG run, visible and
retryable on its own.  Every threshold is a param (``--conf`` / trigger form); empty means
the setting's default.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import task
from dag_policy import daily_dag, optional_param, source_param

# Param name -> (JSON type, description, bounds); each overrides the setting of that name.
THRESHOLDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "f1_threshold": (
        "number",
        "retrain when the 7-day mean F1 is below this (F1_SCORE_THRESHOLD)",
        {"minimum": 0, "maximum": 1},
    ),
    "sample_threshold": (
        "integer",
        "retrain after this many new samples (RETRAINING_SAMPLE_THRESHOLD)",
        {"minimum": 1},
    ),
    "performance_drop_ratio": (
        "number",
        "retrain when F1 / ROC-AUC fall this fraction below test (PERFORMANCE_DROP_RATIO)",
        {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
    ),
    "psi_investigate_threshold": (
        "number",
        "PSI above this is 'investigate' (PSI_INVESTIGATE_THRESHOLD)",
        {"exclusiveMinimum": 0},
    ),
    "psi_act_threshold": (
        "number",
        "PSI above this is 'act' (PSI_ACT_THRESHOLD)",
        {"exclusiveMinimum": 0},
    ),
    "drift_act_features_threshold": (
        "integer",
        "retrain when at least this many features are in 'act' (DRIFT_ACT_FEATURES_THRESHOLD)",
        {"minimum": 1},
    ),
}
WINDOWS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "drift_window_days": (
        "integer",
        "days of logged predictions measured (DRIFT_WINDOW_DAYS)",
        {"minimum": 1},
    ),
    "outcome_window_days": (
        "integer",
        "days after which an outcome has matured (OUTCOME_WINDOW_DAYS)",
        {"minimum": 0},
    ),
}
DESCRIPTION = "Validate the active model daily and trigger model_training when needed"
PARAMS = {"source": source_param()} | {
    name: optional_param(kind, text, **bounds)
    for name, (kind, text, bounds) in (THRESHOLDS | WINDOWS).items()
}


def _given(params: dict[str, Any] | None, names: dict[str, Any]) -> dict[str, Any]:
    """The params of ``names`` that were set (None: the setting applies)."""
    return {k: v for k, v in (params or {}).items() if k in names and v is not None}


@daily_dag("model_validation_deployment", DESCRIPTION, params=PARAMS, tag="validation", doc=__doc__)
def model_validation_deployment() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def monitor(params: dict[str, Any] | None = None) -> str:
        """Measure drift and live performance of the active model; returns the run id."""
        from src.pipeline.monitoring import monitor as monitor_model

        params = params or {}
        result = monitor_model(source=params.get("source") or None, **_given(params, WINDOWS))
        return result.monitoring_run

    @task(execution_timeout=timedelta(hours=1))
    def validate(monitoring_run: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Score the active model on new rows, evaluate every rule, record the decision."""
        from src.pipeline.validation import validate as validate_model

        params = params or {}
        decision = validate_model(
            source=params.get("source") or None,
            monitoring_run=monitoring_run,
            **_given(params, THRESHOLDS),
        )
        return decision.as_dict()

    @task.branch(retries=0)
    def check_retrain(decision: dict[str, Any]) -> str:
        """Follow the decision recorded by ``validate``."""
        return "trigger_model_training" if decision["retrain"] else "skip_retraining"

    trigger = TriggerDagRunOperator(
        task_id="trigger_model_training",
        trigger_dag_id="model_training",
        conf={
            "source": "{{ params.source or '' }}",
            "reason": "{{ ti.xcom_pull(task_ids='validate')['reason'] }}",
            "triggered_by": "{{ dag.dag_id }}/{{ run_id }}",
        },
        # Waiting would block a worker slot for the whole training (and hangs under
        # dag.test); the deploy gate is the last task of model_training instead.
        wait_for_completion=False,
        retries=1,
        retry_policy=None,
    )
    skip = EmptyOperator(task_id="skip_retraining")

    check_retrain(validate(monitor())) >> [trigger, skip]


model_validation_deployment()
