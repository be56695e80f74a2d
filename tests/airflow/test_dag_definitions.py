"""The DAG files as Airflow's DagBag parses them: ids, task graphs, settings, parse cost."""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from src.exceptions import DataSourceError, MissingColumnError
from tests.airflow.conftest import DAG_IDS, DAGS_FOLDER, _run
from tests.conftest import ADMIN_URL

POLICY_MODULE = "dag_policy"  # airflow/dags/dag_policy.py: DEFAULT_ARGS and the retry policy

EXPECTED_GRAPHS = {
    "batch_scoring": {"plan": ["score"], "score": ["summarise"], "summarise": []},
    "data_collection": {"collect": []},
    "model_training": {
        "prepare": ["pretrain"],
        "pretrain": ["finetune"],
        "finetune": ["evaluate"],
        "evaluate": ["register"],
        "register": ["deploy", "report"],
        "deploy": ["report"],
        "report": [],
    },
    "model_validation_deployment": {
        "monitor": ["validate"],
        "validate": ["check_retrain"],
        "check_retrain": ["skip_retraining", "trigger_model_training"],
        "trigger_model_training": [],
        "skip_retraining": [],
    },
    "outcome_collection": {"record": []},
}


@pytest.fixture(scope="module")
def parsed(airflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One DagBag parse in a fresh interpreter, as the dag-processor would do it."""
    out = tmp_path_factory.mktemp("inspect") / "inspect.json"
    _run(
        [sys.executable, "-m", "tests.airflow.dag_runner", "inspect", "--out", str(out)],
        env=airflow_env,
        timeout=180,
    )
    return json.loads(out.read_text())


def test_dagbag_has_no_import_errors_and_every_dag(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert set(parsed["dags"]) == DAG_IDS
    assert {d: parsed["dags"][d]["fileloc"] for d in DAG_IDS} == {
        "batch_scoring": "batch_scoring_dag.py",
        "data_collection": "data_collection_dag.py",
        "model_training": "model_training_dag.py",
        "model_validation_deployment": "model_validation_deployment_dag.py",
        "outcome_collection": "outcome_collection_dag.py",
    }


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_task_graph(parsed: dict[str, Any], dag_id: str) -> None:
    tasks = parsed["dags"][dag_id]["tasks"]
    assert {t: info["downstream"] for t, info in tasks.items()} == EXPECTED_GRAPHS[dag_id]


def test_schedules_and_run_limits(parsed: dict[str, Any]) -> None:
    dags = parsed["dags"]
    assert dags["data_collection"]["schedule"] == "@daily"
    assert dags["model_validation_deployment"]["schedule"] == "@daily"
    assert dags["model_training"]["schedule"] == "None"
    assert dags["outcome_collection"]["schedule"] == "None"  # manual trigger only
    assert dags["batch_scoring"]["schedule"] == "None"
    for dag in dags.values():
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
    assert dags["data_collection"]["params"] == ["batch_size", "source", "unlabelled"]
    assert dags["model_training"]["params"] == ["source"]
    assert dags["model_validation_deployment"]["params"] == [
        "drift_act_features_threshold",
        "drift_window_days",
        "f1_threshold",
        "outcome_window_days",
        "performance_drop_ratio",
        "psi_act_threshold",
        "psi_investigate_threshold",
        "sample_threshold",
        "source",
    ]
    assert dags["batch_scoring"]["params"] == ["chunk_size", "model_version", "run_id", "source"]
    assert dags["outcome_collection"]["params"] == [
        "allow_update",
        "id_column",
        "outcome_date_column",
        "positive",
        "query",
        "source",
        "sql_url",
        "target",
    ]


def test_retry_settings(parsed: dict[str, Any]) -> None:
    training = parsed["dags"]["model_training"]["tasks"]
    for task_id in ("prepare", "pretrain", "finetune", "evaluate", "register", "deploy", "report"):
        assert training[task_id]["retries"] >= 1, task_id
        assert training[task_id]["retry_exponential_backoff"] == 2.0, task_id
        assert training[task_id]["has_retry_policy"], task_id
    collect = parsed["dags"]["data_collection"]["tasks"]["collect"]
    assert collect["retries"] >= 1 and collect["retry_exponential_backoff"] == 2.0
    validation = parsed["dags"]["model_validation_deployment"]["tasks"]
    assert validation["validate"]["has_retry_policy"]  # logic errors fail at once
    assert validation["monitor"]["has_retry_policy"]
    assert validation["check_retrain"]["retries"] == 0
    assert validation["check_retrain"]["operator"] == "_BranchPythonDecoratedOperator"
    trigger = validation["trigger_model_training"]
    assert trigger["operator"] == "TriggerDagRunOperator"
    assert trigger["trigger_dag_id"] == "model_training"
    assert trigger["wait_for_completion"] is False
    assert validation["skip_retraining"]["operator"] == "EmptyOperator"
    record = parsed["dags"]["outcome_collection"]["tasks"]["record"]
    assert record["retries"] >= 1 and record["has_retry_policy"]  # a re-run adds nothing


def test_batch_scoring_maps_score_over_the_planned_ranges(parsed: dict[str, Any]) -> None:
    tasks = parsed["dags"]["batch_scoring"]["tasks"]
    assert {t: info["is_mapped"] for t, info in tasks.items()} == {
        "plan": False,
        "score": True,
        "summarise": False,
    }
    for task_id, info in tasks.items():  # every task is idempotent: retried with back-off ...
        assert info["retries"] >= 1, task_id
        assert info["retry_exponential_backoff"] == 2.0, task_id
    # ... except on errors a retry cannot fix (checked where the policy is reachable).
    assert all(info["has_retry_policy"] for info in tasks.values())


def test_parsing_imports_no_torch_and_opens_no_connection(parsed: dict[str, Any]) -> None:
    assert parsed["heavy_modules"] == []
    assert parsed["connections"] == []


def _module_level_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(DAGS_FOLDER.glob("*_dag.py")), ids=lambda p: p.name)
def test_dag_files_are_thin(path: Path) -> None:
    """Only airflow/stdlib at module level; each task imports one src module in its body."""
    tree = ast.parse(path.read_text())
    top = _module_level_imports(tree)
    allowed = ("__future__", "datetime", "typing", "airflow.")
    # The one local module a DAG file may import at parse time (checked just below).
    assert all(m.startswith(allowed) or m == POLICY_MODULE for m in top), top
    task_functions = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any("task" in ast.unparse(d) for d in node.decorator_list)
    ]
    assert task_functions
    for fn in task_functions:
        body_imports = {
            n.module for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and n.module
        }
        if fn.name == "check_retrain":  # the branch reads the XCom decision only
            assert body_imports == set()
        else:
            assert len(body_imports) == 1 and next(iter(body_imports)).startswith("src."), (
                fn.name,
                body_imports,
            )


def test_policy_module_is_light_and_names_real_exceptions() -> None:
    """dag_policy is parsed with every DAG: stdlib and public airflow.sdk only, no src."""
    tree = ast.parse((DAGS_FOLDER / f"{POLICY_MODULE}.py").read_text())
    assert _module_level_imports(tree) == {"__future__", "datetime", "typing", "airflow.sdk"}
    listed = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and ast.unparse(node.target) == "NOT_RETRYABLE_EXCEPTIONS"
        and node.value is not None
    )
    assert listed and len(set(listed)) == len(listed)
    classes = []
    for path in listed:
        module, _, name = path.rpartition(".")
        classes.append(getattr(importlib.import_module(module), name))
        assert issubclass(classes[-1], Exception), path
    # A source read can fail transiently (a SQL server restarting): that one is retried ...
    assert "src.exceptions.DataSourceError" not in listed
    assert not issubclass(DataSourceError, tuple(classes))
    # ... but not a named column missing from it: re-reading finds the same columns.
    assert issubclass(MissingColumnError, tuple(classes))


BAD_DAG = """
import os

import torch  # noqa: F401
from airflow.sdk import dag
from sqlalchemy import create_engine, text

with create_engine(os.environ["PROBE_DB_URL"]).connect() as conn:
    conn.execute(text("SELECT 1"))


@dag(dag_id="heavy_at_parse_time", schedule=None)
def heavy_at_parse_time():
    pass


heavy_at_parse_time()
"""


def test_parse_probe_detects_torch_and_connections(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    """The inspector used above does flag a DAG file that is heavy at parse time."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "heavy_dag.py").write_text(BAD_DAG)
    out = tmp_path / "inspect.json"
    _run(
        [sys.executable, "-m", "tests.airflow.dag_runner", "inspect", "--out", str(out)],
        env={**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PROBE_DB_URL": ADMIN_URL},
        timeout=180,
    )
    result = json.loads(out.read_text())
    assert set(result["dags"]) == {"heavy_at_parse_time"}
    assert "torch" in result["heavy_modules"]
    assert result["connections"]
