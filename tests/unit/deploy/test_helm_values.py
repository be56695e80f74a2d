"""deploy/helm/airflow-values.yaml, checked statically (it is not deployed on a cluster here).

It must parse, set only keys that the official chart documents for Airflow 3 (chart >= 1.19,
"Parameters reference" of the Helm chart docs; ``config`` is free-form airflow.cfg), and agree
with what this repository pins and builds: the Airflow version, the executor our DAGs are
tested with on Celery, the DAG folder the Dockerfile bakes in.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
VALUES = ROOT / "deploy" / "helm" / "airflow-values.yaml"

# Keys of the chart's values that this file may set (each documented in the chart's
# parameters reference); a new key goes here only after checking it there.
DOCUMENTED = {
    "executor",
    "defaultAirflowRepository",
    "defaultAirflowTag",
    "airflowVersion",
    "images.airflow.pullPolicy",
    "images.useDefaultImageForMigration",
    "postgresql.enabled",
    "data.metadataSecretName",
    "data.resultBackendSecretName",
    "data.brokerUrlSecretName",
    "redis.enabled",
    "workers.replicas",
    "workers.keda.enabled",
    "workers.keda.minReplicaCount",
    "workers.keda.maxReplicaCount",
    "workers.keda.cooldownPeriod",
    "workers.persistence.enabled",
    "workers.resources",
    "apiServer.replicas",
    "scheduler.replicas",
    "dagProcessor.enabled",
    "triggerer.enabled",
    "extraEnvFrom",
    "config",
}
OPAQUE = {"config", "workers.resources"}  # free-form below these keys (airflow.cfg, k8s)


def _values() -> dict[str, Any]:
    loaded = yaml.safe_load(VALUES.read_text())
    assert isinstance(loaded, dict), "the values file must be a mapping"
    return loaded


def _paths(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in OPAQUE:
            found |= _paths(value, f"{path}.")
        else:
            found.add(path)
    return found


def test_only_documented_chart_keys() -> None:
    assert _paths(_values()) <= DOCUMENTED, sorted(_paths(_values()) - DOCUMENTED)


def test_versions_and_executor_match_the_repository() -> None:
    values = _values()
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["airflow"]
    airflow_pin = next(p for p in pinned if p.startswith("apache-airflow=="))
    version = airflow_pin.split("==", 1)[1]
    assert values["airflowVersion"] == version
    assert values["defaultAirflowTag"].startswith(version)
    assert values["executor"] == "CeleryExecutor"
    dockerfile = (ROOT / "Dockerfile").read_text()
    # The image installs the airflow extra, so it can run Celery workers.
    assert any(p.startswith("apache-airflow-providers-celery") for p in pinned)
    assert 'extras="airflow"' in dockerfile
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.M)
    assert workdir and re.search(r"^COPY airflow \./airflow", dockerfile, re.M)
    assert values["config"]["core"]["dags_folder"] == f"{workdir.group(1)}/airflow/dags"
    assert (ROOT / "airflow" / "dags" / "batch_scoring_dag.py").exists()


def test_production_choices() -> None:
    values = _values()
    assert values["postgresql"]["enabled"] is False and values["data"]["metadataSecretName"]
    assert values["redis"]["enabled"] is False and values["data"]["brokerUrlSecretName"]
    keda = values["workers"]["keda"]
    assert keda["enabled"] and 1 <= keda["minReplicaCount"] <= keda["maxReplicaCount"]
    assert values["workers"]["persistence"]["enabled"] is False
    assert values["config"]["celery"]["worker_concurrency"] >= 1
    assert "loan-default-settings" in values["extraEnvFrom"]
