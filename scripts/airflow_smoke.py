"""Scheduler smoke test: real ``airflow standalone``, REST trigger, retrain, new model row.

1. creates two throw-away PostgreSQL databases (Airflow metadata, project data) and a
   temporary ``AIRFLOW_HOME`` with a known admin password for the simple auth manager;
2. starts ``airflow standalone`` on 127.0.0.1 (scheduler, dag-processor, triggerer,
   api-server; LocalExecutor with parallelism 2) in its own process group;
3. meanwhile prepares the project database with the CLI: ``init-db``, ``collect`` a small
   slice of lending_club, ``train`` a tiny first model (active), ``collect`` a few more rows;
4. waits for ``/api/v2/monitor/health``, gets a JWT from ``POST /auth/token``, unpauses the
   three DAGs and triggers ``model_validation_deployment`` with ``{"f1_threshold": 0.99}``;
5. waits until that run succeeded, the ``model_training`` run it triggered succeeded and a
   new ``loan_data.model_metadata`` row exists; prints run/task states and row counts;
6. always stops every process it started (process group, then a sweep of any process whose
   environment carries this run's AIRFLOW_HOME) and drops both databases.

Exit status 0 on success, 1 on failure or timeout.  Run it with ``make airflow-smoke``.
Settings (environment): AIRFLOW_SMOKE_PORT (default 8080, or a free port when 8080 is
busy), AIRFLOW_SMOKE_TIMEOUT (seconds, default 600), AIRFLOW_SMOKE_KEEP=1 (keep the temp
AIRFLOW_HOME and databases for debugging), TEST_ADMIN_DATABASE_URL (server to create the
databases on, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from airflow_api import Api
from airflow_harness import (
    T0,
    SmokeFailure,
    airflow_env,
    choose_api_port,
    log,
    run_cli,
    smoke_main,
    step,
    write_admin_password,
)
from process_groups import ProcessGroups
from sqlalchemy import create_engine, text

DAG_IDS = ("data_collection", "model_training", "model_validation_deployment")

# A tiny model on a small slice, so the whole smoke test takes a few minutes on 2 cores.
TINY_ENV = {
    "NUM_LAYERS": "1",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "2",
    "PATIENCE": "2",
    "BATCH_SIZE": "256",
    "DATA_SOURCE": "lending_club",
    "INGEST_BATCH_SIZE": "1500",
    "TORCH_NUM_THREADS": "1",
}


def count_models(project_url: str) -> int:
    engine = create_engine(project_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM loan_data.model_metadata")).scalar())
    finally:
        engine.dispose()


def task_logs(home: Path, dag_id: str, run_id: str) -> str:
    """The task log files of one run (printed when the smoke test fails)."""
    chunks = []
    for path in sorted((home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log")):
        body = path.read_text(errors="replace").splitlines()[-40:]
        chunks.append(f"--- {path.relative_to(home)} ---\n" + "\n".join(body))
    return "\n".join(chunks) or f"(no task logs for {dag_id} {run_id})"


def smoke(home: Path, metadata_url: str, project_url: str, timeout: float) -> str:
    deadline = T0 + timeout
    port = choose_api_port()
    env = airflow_env(home, port, metadata_url, project_url) | TINY_ENV
    env |= {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "2"}
    password = write_admin_password(home)
    stack = ProcessGroups(home)
    try:
        airflow = shutil.which("airflow", path=env["PATH"])
        if not airflow:
            raise SmokeFailure("`airflow` is not on PATH: pip install -e '.[dev]' into .venv")
        stack.start("standalone", [airflow, "standalone"], env)
        # The project DB is prepared while Airflow boots.
        run_cli(["init-db"], env)
        run_cli(["collect", "--batch-size", "1500", "--data-date", "2024-01-01"], env)
        run_cli(["train", "--no-progress"], env)
        run_cli(["collect", "--batch-size", "500", "--data-date", "2024-01-02"], env)
        before = count_models(project_url)
        step("model_metadata rows before: %d", before)

        api = Api(f"http://127.0.0.1:{port}", alive=stack.check_alive)
        api.wait_healthy(deadline)
        step("api-server healthy on port %d", port)
        api.login("admin", password)
        step("JWT from POST /auth/token")
        api.wait_for_dags(DAG_IDS, deadline)
        api.unpause(*DAG_IDS)

        validation_id = api.trigger("model_validation_deployment", {"f1_threshold": 0.99})
        state = api.wait_run("model_validation_deployment", validation_id, deadline)
        v_tasks = api.task_states("model_validation_deployment", validation_id)
        step("model_validation_deployment tasks: %s", v_tasks)
        if state != "success" or v_tasks.get("trigger_model_training") != "success":
            raise SmokeFailure(
                "validation run did not trigger retraining:\n"
                + task_logs(home, "model_validation_deployment", validation_id)
            )

        training_id = api.find_triggered_run(
            "model_training", f"model_validation_deployment/{validation_id}", deadline
        )
        state = api.wait_run("model_training", training_id, deadline)
        t_tasks = api.task_states("model_training", training_id)
        step("model_training tasks: %s", t_tasks)
        if state != "success":
            raise SmokeFailure(
                "model_training failed:\n" + task_logs(home, "model_training", training_id)
            )
        step("deploy gate: %s", api.xcom("model_training", training_id, "deploy"))

        after = count_models(project_url)
        step("model_metadata rows before: %d, after: %d", before, after)
        if after <= before:
            raise SmokeFailure("no new model_metadata row")
        return (
            f"model_validation_deployment {validation_id}=success -> "
            f"model_training {training_id}=success; model_metadata {before} -> {after} rows"
        )
    except BaseException:
        log.error("airflow standalone log (tail):\n%s", stack.tail("standalone"))
        raise
    finally:
        stack.stop()


def main() -> int:
    return smoke_main(
        label="SMOKE", databases=("airflow_smoke", "loan_smoke"), default_timeout=600, smoke=smoke
    )


if __name__ == "__main__":
    sys.exit(main())
