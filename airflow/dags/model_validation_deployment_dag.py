"""Daily validation of the active model; triggers ``model_training`` when retraining is due.

validate -> check_retrain -> trigger_model_training | skip_retraining

``validate`` scores the active model on the newly labelled rows and writes a
``loan_data.model_performance`` row with the decision.  Retraining is due when the 7-day
mean F1 is below ``F1_SCORE_THRESHOLD`` (0.8), when at least ``RETRAINING_SAMPLE_THRESHOLD``
new samples arrived, or when no model is active (a cooldown after a rejected challenger
suppresses immediate re-retraining).  The triggered ``model_training`` run ends with the
champion/challenger gate, so a new model is deployed only if it is better.

The trigger does not wait for the training run: the retrain is its own DAG run, visible and
retryable on its own.  Params (``--conf`` / trigger form): ``source``, ``f1_threshold``,
``sample_threshold`` (defaults from the settings).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task
from dag_policy import DAILY_DAG_ARGS, optional_param, source_param

PARAMS = {
    "source": source_param(),
    "f1_threshold": optional_param(
        "number",
        "retrain when the 7-day mean F1 is below this (default F1_SCORE_THRESHOLD)",
        minimum=0,
        maximum=1,
    ),
    "sample_threshold": optional_param(
        "integer",
        "retrain after this many new samples (default RETRAINING_SAMPLE_THRESHOLD)",
        minimum=1,
    ),
}


@dag(
    dag_id="model_validation_deployment",
    description="Validate the active model daily and trigger model_training when needed",
    params=PARAMS,
    **DAILY_DAG_ARGS | {"tags": ["loan-default", "validation"], "doc_md": __doc__},
)
def model_validation_deployment() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def validate(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Score the active model, record model_performance and decide on retraining."""
        from src.pipeline.validation import validate as validate_model

        params = params or {}
        f1_threshold = params.get("f1_threshold")
        sample_threshold = params.get("sample_threshold")
        decision = validate_model(
            source=params.get("source") or None,
            f1_threshold=None if f1_threshold is None else float(f1_threshold),
            sample_threshold=None if sample_threshold is None else int(sample_threshold),
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

    check_retrain(validate()) >> [trigger, skip]


model_validation_deployment()
