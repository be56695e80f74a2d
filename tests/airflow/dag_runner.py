"""Runs Airflow in a child process for the tests in this folder and writes JSON results.

Airflow configures its ORM, logging and ``sys.path`` when it is imported, so every test
talks to it through ``python -m tests.airflow.dag_runner`` with the Airflow environment
variables already set (see ``conftest.py``); the pytest process never imports Airflow.

    python -m tests.airflow.dag_runner inspect --out result.json
    python -m tests.airflow.dag_runner test DAG_ID --out result.json \
        [--conf JSON] [--logical-date ISO]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("dag_runner")

# Modules that must never be imported while Airflow parses the DAG files.
HEAVY_MODULES = (
    "torch",
    "sklearn",
    "src.pipeline",
    "src.data.database",
    "src.data.ingest",
    "src.models",
)


def _track_connections() -> list[str]:
    """Record every DB-API connection opened from now on (SQLAlchemy pools and raw drivers)."""
    opened: list[str] = []

    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    @event.listens_for(Pool, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        opened.append(f"sqlalchemy:{type(dbapi_connection).__module__}")

    import sqlite3

    import psycopg
    import psycopg2

    def wrap(module: Any, name: str) -> None:
        original = getattr(module, name)

        def connect(*args: Any, **kwargs: Any) -> Any:
            opened.append(f"{module.__name__}.{name}")
            return original(*args, **kwargs)

        setattr(module, name, connect)

    wrap(psycopg2, "connect")
    wrap(psycopg, "connect")
    wrap(sqlite3, "connect")
    return opened


def _dag_bag() -> Any:
    """The DAG folder parsed as the dag-processor and task runner do: the folder on sys.path.

    That is what lets the DAG files import their shared ``dag_policy`` module.
    """
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    return BundleDagBag(dag_folder=folder, bundle_path=Path(folder))


def inspect_dags() -> dict[str, Any]:
    """Parse the DAG folder like the dag-processor does and describe what it found."""
    before = set(sys.modules)
    opened = _track_connections()

    bag = _dag_bag()
    dags: dict[str, Any] = {}
    for dag_id, dag in bag.dags.items():
        tasks = {}
        for t in dag.tasks:
            info: dict[str, Any] = {
                "downstream": sorted(t.downstream_task_ids),
                "operator": type(t).__name__,
                "retries": t.retries,
                "retry_exponential_backoff": t.retry_exponential_backoff,
                "has_retry_policy": getattr(t, "retry_policy", None) is not None,
                "is_mapped": bool(t.is_mapped),
            }
            if type(t).__name__ == "TriggerDagRunOperator":
                info["trigger_dag_id"] = t.trigger_dag_id
                info["wait_for_completion"] = t.wait_for_completion
            tasks[t.task_id] = info
        dags[dag_id] = {
            "fileloc": Path(dag.fileloc).name,
            "schedule": str(dag.schedule),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "params": sorted(dag.params.keys()),
            "tasks": tasks,
        }
    imported = set(sys.modules) - before
    return {
        "import_errors": bag.import_errors,
        "dags": dags,
        "heavy_modules": sorted(
            m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY_MODULES)
        ),
        "connections": opened,
    }


def run_dag_test(
    dag_id: str, *, conf: dict[str, Any] | None, logical_date: str | None, keep_retries: bool
) -> dict[str, Any]:
    """``dag.test()`` one run (tasks in this process) and report what happened.

    Retries are switched off unless ``keep_retries``: dag.test() would sit out the retry
    delay of a failing task.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = _dag_bag()
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if not keep_retries:
        for t in dag.tasks:
            t.retries = 0

    when = dt.datetime.fromisoformat(logical_date) if logical_date else None
    started = time.monotonic()
    dr = dag.test(logical_date=when, run_conf=conf)
    seconds = round(time.monotonic() - started, 1)

    with create_session() as session:
        instances = dr.get_task_instances(session=session)
        tis = {ti.task_id: ti.state for ti in instances if ti.map_index < 0}
        tries = {ti.task_id: ti.try_number for ti in instances if ti.map_index < 0}
        # Mapped tasks: one state per map index, in map-index order.
        mapped: dict[str, list[str]] = {}
        for ti in sorted(instances, key=lambda t: t.map_index):
            if ti.map_index >= 0:
                mapped.setdefault(ti.task_id, []).append(str(ti.state))
        xcoms: dict[str, Any] = {}
        mapped_xcoms: dict[str, list[Any]] = {}
        values = session.scalars(
            XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id, key="return_value")
        )
        for x in sorted(values, key=lambda v: v.map_index):
            if x.map_index >= 0:
                mapped_xcoms.setdefault(x.task_id, []).append(XComModel.deserialize_value(x))
            else:
                xcoms[x.task_id] = XComModel.deserialize_value(x)
        trigger_ids = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.scalars(
                XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id, key="trigger_run_id")
            )
        }
        triggered_runs = [
            {"dag_id": r.dag_id, "run_id": r.run_id, "state": r.state, "conf": r.conf}
            for r in session.scalars(
                select(DagRun).where(DagRun.run_id.in_([str(v) for v in trigger_ids.values()]))
            )
        ]
    return {
        "dag_id": dag_id,
        "run_id": dr.run_id,
        "state": dr.state,
        "logical_date": dr.logical_date.isoformat() if dr.logical_date else None,
        "dag_test_seconds": seconds,
        "task_states": tis,
        "mapped_task_states": mapped,
        "try_numbers": tries,
        "xcom": xcoms,
        "mapped_xcom": mapped_xcoms,
        "trigger_run_ids": trigger_ids,
        "triggered_runs": triggered_runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_inspect = sub.add_parser("inspect")
    p_inspect.add_argument("--out", required=True)
    p_test = sub.add_parser("test")
    p_test.add_argument("dag_id")
    p_test.add_argument("--out", required=True)
    p_test.add_argument("--conf", default=None)
    p_test.add_argument("--logical-date", default=None)
    p_test.add_argument("--keep-retries", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO)
    if args.command == "inspect":
        result = inspect_dags()
    else:
        result = run_dag_test(
            args.dag_id,
            conf=json.loads(args.conf) if args.conf else None,
            logical_date=args.logical_date,
            keep_retries=args.keep_retries,
        )
    Path(args.out).write_text(json.dumps(result, default=str, indent=2))
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
