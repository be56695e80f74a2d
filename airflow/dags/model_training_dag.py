"""Train a TabTransformer candidate, register it, and deploy it only if it beats the champion.

prepare -> pretrain -> finetune -> evaluate -> register -> deploy -> report

Each stage is a separate task that calls one ``src.pipeline`` function and passes the
training-run id (an int) or the model version (a str) on by XCom.  Every stage persists its
state in ``loan_data.training_runs`` and returns at once when already done, so an Airflow
retry resumes at the failed stage.  ``deploy`` is the champion/challenger gate: the candidate
becomes active only if it passes (the very first candidate is activated by ``register``).
``report`` writes the new model's report (an HTML model card, gate decision included) to
``MODEL_PATH/reports/<version>.html``; its task log gives that path and the API's URL.

Run it from the UI, ``airflow dags trigger model_training`` or the REST API; the
``model_validation_deployment`` DAG triggers it when retraining is needed.  It has no
schedule and is created unpaused, so a triggered run starts without a visit to the UI.
Param: ``source`` (default: ``DATA_SOURCE``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task
from dag_policy import COMMON_DAG_ARGS, source_param

STAGE_TIMEOUT = timedelta(hours=3)


@dag(
    dag_id="model_training",
    description="Pretrain, fine-tune, evaluate and register a model; deploy it if it wins",
    schedule=None,
    **COMMON_DAG_ARGS,
    # Unscheduled, so active from the start: triggers (CLI, REST, the validation DAG) just run.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=12),
    params={"source": source_param()},
    tags=["loan-default", "training"],
    doc_md=__doc__,
)
def model_training() -> None:
    @task
    def prepare(params: dict[str, Any] | None = None) -> int:
        """Snapshot the training data and create a training run; returns its id."""
        from src.pipeline.training import prepare_training

        return prepare_training(source=(params or {}).get("source") or None)

    # The argument is ``training_run_id``: ``run_id`` is a reserved Airflow context key.
    @task(execution_timeout=STAGE_TIMEOUT)
    def pretrain(training_run_id: int) -> int:
        """Contrastive (SCARF) pre-training of the encoder."""
        from src.pipeline.training import pretrain_stage

        return pretrain_stage(run_id=training_run_id, progress=False)

    @task(execution_timeout=STAGE_TIMEOUT)
    def finetune(training_run_id: int) -> int:
        """Supervised fine-tuning of the classifier."""
        from src.pipeline.training import finetune_stage

        return finetune_stage(run_id=training_run_id, progress=False)

    @task(execution_timeout=STAGE_TIMEOUT)
    def evaluate(training_run_id: int) -> int:
        """Metrics on the held-out test split."""
        from src.pipeline.training import evaluate_stage

        return evaluate_stage(run_id=training_run_id)

    @task
    def register(training_run_id: int) -> str:
        """Store the artifact and metrics as a candidate in model_metadata; returns its version."""
        from src.pipeline.training import register_stage

        return register_stage(run_id=training_run_id)

    @task
    def deploy(model_version: str) -> dict[str, Any]:
        """Champion/challenger gate: promote the candidate only if it beats the active model."""
        from src.pipeline.deployment import deploy as deploy_model

        return deploy_model(model_version=model_version).as_dict()

    @task
    def report(model_version: str) -> str:
        """Write the model card to MODEL_PATH/reports and log where to read it."""
        import logging

        from src.reporting.output import write_report

        written = write_report(version=model_version)
        logging.getLogger("airflow.task").info(
            "model report of %s written to %s; the API serves it at %s",
            model_version,
            written.path,
            written.url_path,
        )
        return str(written.path)

    version = register(evaluate(finetune(pretrain(prepare()))))
    deploy(version) >> report(version)


model_training()
