"""Celery smoke test: ``batch_scoring`` on two real Celery workers, then with one SIGKILLed.

1. creates two throw-away PostgreSQL databases (Airflow metadata and Celery results;
   project data) and a temporary ``AIRFLOW_HOME``;
2. runs ``airflow db migrate`` while the project database is prepared with the CLI
   (``init-db``, ``collect`` lending_club, ``train`` a tiny model) and lending_club is
   replicated in SQL to ``CELERY_SMOKE_ROWS`` rows (default 200,000; scripts/portfolio.py);
3. starts api-server, scheduler, dag-processor and two ``airflow celery worker`` processes
   (CeleryExecutor, Redis broker; scripts/celery_stack.py);
4. run A: triggers ``batch_scoring`` and checks exactly-once: one score per stored row, no
   row twice, the run ``complete``, the rows inserted by the mapped tasks summing to the row
   count, and tasks run on both workers;
5. run B: triggers it again (a new batch run); once another range has finished and worker-1
   has read its range but not yet written the scores (its open transaction, seen in
   ``pg_stat_activity``), SIGKILLs every process of worker-1 (the worker, its pool, and the
   task supervisor and task, which sit in a process group of their own).  The scheduler
   declares the lost task instance failed after the heartbeat timeout and retries it on
   worker-2; the same exactly-once checks then hold, and the output says whether the
   killed try's transaction rolled back (expected) or had just committed (a race the checks
   also accept: each range is committed by exactly one try);
6. always stops every process it started (by process group, then by AIRFLOW_HOME in the
   environment) and drops both databases.

Exit status 0 on success, 1 on failure.  ``make airflow-celery-smoke``.  Settings: the
``AIRFLOW_SMOKE_*`` variables of ``airflow_smoke.py``, ``CELERY_SMOKE_ROWS``,
``CELERY_SMOKE_CHUNK`` (rows per mapped task, default 20,000), ``CELERY_BROKER_URL``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from airflow_api import Api
from airflow_harness import (
    T0,
    SmokeFailure,
    choose_api_port,
    log,
    run_cli,
    smoke_main,
    step,
    write_admin_password,
)
from airflow_smoke import TINY_ENV
from celery_stack import CeleryStack
from portfolio import grow
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

DAG_ID = "batch_scoring"
ROWS = int(os.environ.get("CELERY_SMOKE_ROWS", "200000"))
CHUNK = int(os.environ.get("CELERY_SMOKE_CHUNK", "20000"))
CHECKS = """
SELECT
  (SELECT count(*) FROM loan_data.processed_data WHERE source = 'lending_club') AS stored,
  (SELECT count(*) FROM loan_data.batch_scores WHERE run_id = :run) AS scores,
  (SELECT count(DISTINCT row_key) FROM loan_data.batch_scores WHERE run_id = :run) AS keys,
  (SELECT count(*) FROM loan_data.processed_data p
     JOIN loan_data.raw_data r ON r.id = p.raw_id
     WHERE p.source = 'lending_club' AND NOT EXISTS (
       SELECT 1 FROM loan_data.batch_scores s WHERE s.run_id = :run AND s.row_key = r.row_key)
  ) AS unscored,
  (SELECT status FROM loan_data.batch_runs WHERE run_id = :run) AS status
"""
# Rows read, scores not yet written: the range's transaction is open, mid-forward-pass.
IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE application_name = :app AND datname = current_database()
  AND state = 'idle in transaction' AND query ILIKE 'SELECT%loan_data.%'
"""


def exactly_once(
    api: Api, project: Engine, dag_run: str, run_id: str, lost: frozenset[int] = frozenset()
) -> str:
    """Every stored row has exactly one score in the run, and each range was committed once.

    Per range (the mapped task's XCom): ``scored + skipped == rows``.  A range whose first try
    died (``lost``, or any range that needed a retry) was committed either by that try (its
    retry skips every row) or, once its transaction rolled back, by the retry (which scores
    every row); any other range must have scored all its rows itself.  So the rows the tasks
    inserted plus those the dead tries committed add up to the stored rows, and no row was
    written twice.
    """
    with project.connect() as conn:
        row = conn.execute(text(CHECKS), {"run": run_id}).mappings().one()
    stored, scores, keys = row["stored"], row["scores"], row["keys"]
    tis = score_tasks(api, dag_run)
    ranges = {ti["map_index"]: api.xcom(DAG_ID, dag_run, "score", ti["map_index"]) for ti in tis}
    # Any retried range counts as lost too: a try the scheduler gave up on (no heartbeat on a
    # loaded machine) may have committed before it was stopped, like a killed one.
    lost = lost | {ti["map_index"] for ti in tis if ti["try_number"] > 1}
    inserted = sum(int(r["scored"]) for r in ranges.values())
    by_dead_tries = sum(int(ranges[i]["skipped"]) for i in lost)
    checks = [
        (scores == stored, f"{scores} scores for {stored} stored rows"),
        (keys == scores, f"{scores - keys} rows scored twice"),
        (row["unscored"] == 0, f"{row['unscored']} stored rows without a score"),
        (row["status"] == "complete", f"run status {row['status']!r}, not 'complete'"),
        (inserted + by_dead_tries == stored, f"{inserted} + {by_dead_tries} != {stored} rows"),
    ]
    for index, r in sorted(ranges.items()):
        if int(r["scored"]) + int(r["skipped"]) != int(r["rows"]):
            checks.append((False, f"range {index}: {r}"))
        if index in lost and 0 not in (int(r["scored"]), int(r["skipped"])):
            checks.append((False, f"range {index} was half committed: {r}"))
        if index not in lost and int(r["skipped"]):
            checks.append((False, f"range {index} found rows scored by someone else: {r}"))
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise SmokeFailure(f"batch run {run_id}: " + "; ".join(problems))
    fates = []
    for i in sorted(lost):
        fate = "had committed; the retry skipped" if ranges[i]["skipped"] else "rolled back; "
        fate += "" if ranges[i]["skipped"] else "the retry scored"
        fates.append(f"range {i}: the dead try {fate} {ranges[i]['rows']:,} rows")
    return (
        f"{scores:,} scores = {stored:,} stored rows, {keys:,} distinct, 0 unscored, "
        f"status {row['status']}; {len(ranges)} ranges, inserted {inserted:,} by their tasks"
        + "".join(f"; {fate}" for fate in fates)
    )


def open_transaction(project: Engine, worker: str) -> bool:
    """Whether ``worker`` is between reading a range and writing its scores."""
    with project.connect() as conn:
        return bool(conn.execute(text(IN_TRANSACTION), {"app": worker}).scalar())


def score_tasks(api: Api, run_id: str) -> list[dict[str, Any]]:
    return [ti for ti in api.task_instances(DAG_ID, run_id) if ti["task_id"] == "score"]


def describe(tis: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"[{ti['map_index']}] {ti['state']} on {ti['hostname'] or '-'} try {ti['try_number']}"
        for ti in sorted(tis, key=lambda t: t["map_index"])
    )


def run_a(api: Api, project: Engine, deadline: float) -> str:
    dag_run = api.trigger(DAG_ID, {"run_id": "smoke-a", "chunk_size": CHUNK})
    if api.wait_run(DAG_ID, dag_run, deadline) != "success":
        raise SmokeFailure(f"run A failed: {api.task_states(DAG_ID, dag_run)}")
    tis = score_tasks(api, dag_run)
    step("run A score tasks: %s", describe(tis))
    hosts = {ti["hostname"] for ti in tis}
    if hosts != {"worker-1", "worker-2"}:
        raise SmokeFailure(f"run A ran on {sorted(hosts)}, expected both workers")
    checked = exactly_once(api, project, dag_run, "smoke-a")
    step("run A exactly once: %s", checked)
    return f"run A: {len(tis)} ranges on worker-1 and worker-2; {checked}"


def run_b(api: Api, stack: CeleryStack, project: Engine, deadline: float) -> str:
    dag_run = api.trigger(DAG_ID, {"run_id": "smoke-b", "chunk_size": CHUNK})
    while True:  # mid-run: one range done, another one in worker-1's open transaction
        tis = score_tasks(api, dag_run)
        held = [t for t in tis if t["state"] == "running" and t["hostname"] == "worker-1"]
        done = any(t["state"] == "success" for t in tis)
        if held and done and open_transaction(project, "worker-1"):
            break
        if api.run_state(DAG_ID, dag_run) in ("success", "failed") or time.monotonic() > deadline:
            raise SmokeFailure(f"run B never had a range running on worker-1: {describe(tis)}")
        time.sleep(0.5)
    lost = frozenset(t["map_index"] for t in held)
    pids = stack.groups.kill("worker-1", signal.SIGKILL)
    step("SIGKILLed worker-1 (pids %s) mid-transaction in ranges %s", pids, sorted(lost))
    if stack.groups.members("worker-1"):
        raise SmokeFailure(f"worker-1 survived SIGKILL: {stack.groups.members('worker-1')}")
    if api.wait_run(DAG_ID, dag_run, deadline) != "success":
        raise SmokeFailure(f"run B failed: {describe(score_tasks(api, dag_run))}")
    tis = score_tasks(api, dag_run)
    step("run B score tasks: %s", describe(tis))
    retried = [t for t in tis if t["map_index"] in lost]
    wrong = [t for t in retried if t["hostname"] != "worker-2" or t["try_number"] < 2]
    if wrong:
        raise SmokeFailure(f"lost ranges not retried on worker-2: {describe(wrong)}")
    checked = exactly_once(api, project, dag_run, "smoke-b", lost)
    step("run B exactly once: %s", checked)
    return f"run B: worker-1 killed holding ranges {sorted(lost)}, retried on worker-2; {checked}"


def smoke(home: Path, metadata_url: str, project_url: str, timeout: float) -> str:
    deadline = T0 + timeout
    port = choose_api_port()
    password = write_admin_password(home)
    stack = CeleryStack(home, port, metadata_url, project_url, TINY_ENV)
    project = create_engine(project_url)  # the checks' one pool (polled every 0.5 s in run B)
    try:
        stack.migrate()
        run_cli(["init-db"], stack.env)
        run_cli(["collect", "--data-date", "2024-01-01"], stack.env)
        run_cli(["train", "--no-progress"], stack.env)
        step("replicated lending_club to %d rows in %.1f s", ROWS, grow(project_url, ROWS))
        stack.start()
        for number in (1, 2):
            stack.start_worker(number)
        api = Api(f"http://127.0.0.1:{port}", alive=stack.check_alive)
        api.wait_healthy(deadline)
        api.login("admin", password)
        api.wait_for_dags([DAG_ID], deadline)
        api.unpause(DAG_ID)
        return "\n".join(["", run_a(api, project, deadline), run_b(api, stack, project, deadline)])
    except BaseException:
        for name in stack.groups.procs:
            log.error("%s log (tail):\n%s", name, stack.groups.tail(name, 25))
        raise
    finally:
        project.dispose()
        stack.stop()


def main() -> int:
    return smoke_main(
        label="CELERY SMOKE",
        databases=("airflow_celery", "loan_celery"),
        default_timeout=900,
        smoke=smoke,
    )


if __name__ == "__main__":
    sys.exit(main())
