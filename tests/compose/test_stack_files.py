"""Static checks of the container stack: docker-compose.yml, Dockerfile, .devcontainer.

No Docker engine is needed: the files are parsed (PyYAML / json) and compared with what the
README, docs/airflow.md and the reference design promise (names, ports, commands).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = ROOT / "docker-compose.yml"
DEV_COMPOSE_PATH = ROOT / ".devcontainer" / "docker-compose.devcontainer.yml"
DOCKERFILE = ROOT / "Dockerfile"

# ${VAR}, ${VAR:-default}, ${VAR:?message} ...; "$$" escapes a literal dollar.
VAR_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
SECRETS = {
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__FERNET_KEY",
    "ADMIN_API_KEY",
    "PREDICT_API_KEY",
}
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE_PATH)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _healthcheck(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def _env_example_keys() -> set[str]:
    path = ROOT / ".env.example"
    if not path.exists():
        pytest.fail(".env.example is missing")
    keys = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if m:
            keys.add(m.group(1))
    return keys


# --- parsing and variables ------------------------------------------------------------


def test_compose_files_parse() -> None:
    for path in (COMPOSE_PATH, DEV_COMPOSE_PATH):
        assert "services" in _load(path), path


@pytest.mark.parametrize("path", [COMPOSE_PATH, DEV_COMPOSE_PATH], ids=lambda p: p.name)
def test_every_variable_is_documented_in_env_example(path: Path) -> None:
    used = {m.group(1) for m in VAR_RE.finditer(path.read_text())}
    assert used, "expected ${VAR} references"
    missing = used - _env_example_keys()
    assert not missing, f"add to .env.example: {sorted(missing)}"


@pytest.mark.parametrize("path", [COMPOSE_PATH, DEV_COMPOSE_PATH], ids=lambda p: p.name)
def test_secrets_are_required_never_defaulted(path: Path) -> None:
    """Every secret is ``${VAR:?message}``: compose refuses to start without it."""
    for m in VAR_RE.finditer(path.read_text()):
        if m.group(1) in SECRETS:
            assert m.group(2) == ":?" and m.group(3).strip(), m.group(0)
    assert {m.group(1) for m in VAR_RE.finditer(COMPOSE_PATH.read_text())} >= SECRETS


def test_env_example_ships_no_secret_values() -> None:
    text = (ROOT / ".env.example").read_text()
    for name in SECRETS:
        m = re.search(rf"^{name}=(.*)$", text, flags=re.M)
        assert m, f"{name} missing from .env.example"
        assert m.group(1).strip() == "", f"{name} must be empty in .env.example"


@pytest.mark.parametrize("path", [COMPOSE_PATH, DEV_COMPOSE_PATH], ids=lambda p: p.name)
def test_no_literal_passwords(path: Path) -> None:
    data = _load(path)
    for name, service in data["services"].items():
        for key, value in _env(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET|_KEY$|TOKEN", key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), (name, key, value)
            for url in value.split("://")[1:]:
                userinfo = url.split("@", 1)[0] if "@" in url else ""
                if ":" in userinfo:  # user:password@host
                    password = userinfo.split(":", 1)[1]
                    assert password.startswith("${POSTGRES_PASSWORD:?"), (name, key)
    text = path.read_text()
    for word in ("mlops_password", "changeme", "change-me", "airflow:airflow", "admin123"):
        assert word not in text


# --- services as documented -------------------------------------------------------------


def test_services_present(services: dict[str, Any]) -> None:
    expected = {"postgres", "init", "api", "redis", "airflow-worker", *AIRFLOW_SERVICES}
    assert expected <= set(services)


def test_container_names_used_by_the_reference_commands(services: dict[str, Any]) -> None:
    assert services["postgres"]["container_name"] == "loan_postgres"
    assert services["airflow-scheduler"]["container_name"] == "loan_airflow_scheduler"
    # Scalable services must not pin a container name.
    assert "container_name" not in services["airflow-worker"]


def test_postgres(services: dict[str, Any], compose: dict[str, Any]) -> None:
    pg = services["postgres"]
    env = _env(pg)
    assert env["POSTGRES_USER"] == "mlops_user"
    assert env["POSTGRES_DB"] == "loan_default"
    assert "pg_isready" in _healthcheck(pg)
    volumes = pg["volumes"]
    assert "./config/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" in volumes
    data_volume = next(v.split(":")[0] for v in volumes if v.endswith(":/var/lib/postgresql/data"))
    assert data_volume in compose["volumes"]  # a named volume, not a bind mount
    assert any(str(p).endswith(":5432") for p in pg["ports"])


def test_init_sql_creates_schema_and_airflow_database() -> None:
    sql = (ROOT / "config" / "init.sql").read_text()
    assert re.search(r"CREATE SCHEMA IF NOT EXISTS loan_data", sql)
    assert re.search(r"CREATE DATABASE airflow", sql)


@pytest.mark.parametrize(
    ("service", "port", "path"),
    [("airflow-apiserver", 8080, "/api/v2/monitor/health"), ("api", 8000, "/health")],
)
def test_http_services_ports_and_healthchecks(
    services: dict[str, Any], service: str, port: int, path: str
) -> None:
    svc = services[service]
    assert any(str(p).endswith(f":{port}") for p in svc["ports"])
    assert f"localhost:{port}{path}" in _healthcheck(svc)


PUBLISHED = {
    "postgres": ("POSTGRES_PUBLISHED_PORT", 5432),
    "airflow-apiserver": ("AIRFLOW_PUBLISHED_PORT", 8080),
    "api": ("API_PUBLISHED_PORT", 8000),
}


def test_ports_bound_to_loopback_on_non_colliding_defaults(services: dict[str, Any]) -> None:
    """127.0.0.1 unless PUBLISH_ADDRESS says otherwise, and never a native service's port
    (PostgreSQL 5432, Airflow 8080, `make serve` 8000) by default."""
    published = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            m = re.fullmatch(r"\$\{PUBLISH_ADDRESS:-127\.0\.0\.1\}:\$\{(\w+):-(\d+)\}:(\d+)", port)
            assert m, (
                f"{name}: publish as ${{PUBLISH_ADDRESS:-127.0.0.1}}:${{X_PUBLISHED_PORT:-N}}:P"
            )
            published[name] = (m[1], int(m[3]))
            assert int(m[2]) not in {5432, 8080, 8000}, (name, port)
    assert published == PUBLISHED
    assert "API_PORT" not in {variable for variable, _ in published.values()}


def test_one_build_for_the_project_image(services: dict[str, Any], compose: dict[str, Any]) -> None:
    builders = [name for name, svc in services.items() if "build" in svc]
    assert builders == ["init"]
    build = services["init"]["build"]
    assert build["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim}"
    assert build["args"]["TORCH_INDEX_URL"].startswith("${TORCH_INDEX_URL:-")
    assert "x-project-image" not in compose


def test_base_images_are_overridable(services: dict[str, Any]) -> None:
    assert services["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:15}"
    assert services["redis"]["image"] == "${REDIS_IMAGE:-redis:7-alpine}"
    for name in ("python", "postgres", "redis"):
        assert (ROOT / "docker" / "base" / name / "Dockerfile").exists()
    script = (ROOT / "scripts" / "base_images.sh").read_text()
    assert "debootstrap --variant=minbase" in script and "docker import" in script
    entrypoint = (ROOT / "docker" / "base" / "postgres" / "docker-entrypoint.sh").read_text()
    for honoured in (
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "docker-entrypoint-initdb.d",
    ):
        assert honoured in entrypoint


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", value)
    assert m, value
    return int(m[1]) * (60 if m[2] == "m" else 1)


def test_healthchecks_survive_a_busy_two_core_host(services: dict[str, Any]) -> None:
    """A check gets at least 20 s (an Airflow process can stall that long on 2 busy cores) and
    no check imports all of Airflow through `airflow jobs check` (51 s seen there)."""
    for name, svc in services.items():
        if "healthcheck" not in svc:
            continue
        check = svc["healthcheck"]
        assert _seconds(check["timeout"]) >= 10, name
        assert "airflow jobs check" not in _healthcheck(svc), name
        if name.startswith("airflow"):
            assert _seconds(check["timeout"]) >= 20, name
            assert _seconds(check.get("start_period", "0s")) >= 120, name
    for name, job in (
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ):
        assert f"scripts/airflow_job_alive.py {job}" in _healthcheck(services[name])


def test_containers_get_container_settings_not_the_laptop_env(services: dict[str, Any]) -> None:
    """No service reads .env (laptop values such as MODEL_PATH=./models); the project's
    tunable settings are passed through by name, locations are the container's own."""
    from config.settings import Settings

    owned = {"DATABASE_URL", "MODEL_PATH", "API_HOST", "API_PORT"}
    tunable = {name.upper() for name in Settings.model_fields} - owned
    for name, svc in services.items():
        assert "env_file" not in svc, name
        if name in ("postgres", "redis"):
            continue
        env = svc["environment"]
        assert tunable - {"ADMIN_API_KEY", "PREDICT_API_KEY"} <= set(env), name
        passed = {k for k, v in env.items() if v is None}
        assert passed <= tunable, name
        assert env["MODEL_PATH"] == "/app/models", name
    assert _env(services["api"])["API_HOST"] == "0.0.0.0"


def test_execution_api_client_waits_and_retries(services: dict[str, Any]) -> None:
    env = _env(services["airflow-scheduler"])
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30
    assert int(env["AIRFLOW__WORKERS__EXECUTION_API_RETRIES"]) >= 5


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if name != "init":
            assert "healthcheck" in svc, name


def test_depends_on_waits_for_health_or_completion(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with a condition"
        for dep, spec in deps.items():
            condition = spec["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, name
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
            else:
                assert dep == "init"
    for name in (*AIRFLOW_SERVICES, "api", "airflow-worker"):
        deps = services[name]["depends_on"]
        assert deps["init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services["init"]["restart"] == "no"


def test_init_service_prepares_both_databases_and_the_admin(services: dict[str, Any]) -> None:
    init = services["init"]
    script = ROOT / "scripts" / "airflow_init.sh"
    assert "scripts/airflow_init.sh" in _command(init)
    body = script.read_text()
    assert "loan-default init-db" in body
    assert "airflow db migrate" in body
    assert "AIRFLOW_ADMIN_PASSWORD" in body
    assert "AIRFLOW_ADMIN_PASSWORD" in _env(init)
    # The api-server reads the password file that init writes.
    auth = _env(init)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["airflow-apiserver"]["volumes"]}
    init_mounts = {v.split(":")[1]: v.split(":")[0] for v in init["volumes"]}
    folder = str(Path(auth).parent)
    assert mounts[folder] == init_mounts[folder]


def test_airflow_services_share_image_config_and_dags(services: dict[str, Any]) -> None:
    image = services["api"]["image"]
    for name in (*AIRFLOW_SERVICES, "init", "airflow-worker"):
        svc = services[name]
        assert svc["image"] == image, name  # one image: tasks can import src and torch
        assert "build" not in svc or name == "init", name
        env = _env(svc)
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["DATABASE_URL"].endswith("@postgres:5432/loan_default"), name
        assert "AIRFLOW__API_AUTH__JWT_SECRET" in env, name
        if name != "init":
            assert "./airflow/dags:/opt/airflow/dags:ro" in svc["volumes"], name
    assert services["init"]["build"]["context"] == "."


def test_airflow_commands(services: dict[str, Any]) -> None:
    assert _command(services["airflow-apiserver"]).startswith("airflow api-server")
    assert _command(services["airflow-scheduler"]) == "airflow scheduler"
    assert _command(services["airflow-dag-processor"]) == "airflow dag-processor"
    assert _command(services["airflow-triggerer"]) == "airflow triggerer"
    assert _command(services["airflow-worker"]) == "airflow celery worker"


def test_celery_profile(services: dict[str, Any]) -> None:
    for name in ("redis", "airflow-worker"):
        assert services[name]["profiles"] == ["celery"]
    for name, svc in services.items():
        if name not in ("redis", "airflow-worker"):
            assert "profiles" not in svc, name  # the default stack needs no profile
    executor = _env(services["airflow-scheduler"])["AIRFLOW__CORE__EXECUTOR"]
    assert executor == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert str(services["airflow-worker"]["deploy"]["replicas"]).startswith("${AIRFLOW_WORKERS")
    assert "redis://redis:6379" in _env(services["airflow-worker"])["AIRFLOW__CELERY__BROKER_URL"]


def test_api_service(services: dict[str, Any]) -> None:
    api = services["api"]
    assert _command(api).startswith("loan-default serve")  # uvicorn with settings' limits
    assert "--port 8000" in _command(api)
    env = _env(api)
    assert {"ADMIN_API_KEY", "PREDICT_API_KEY", "DATABASE_URL"} <= set(env)


# --- the commands the stack runs exist in the project -----------------------------------


def test_entry_points_exist(services: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["loan-default"] == "src.cli:main"
    assert (ROOT / "src" / "cli.py").exists()
    assert (ROOT / "src" / "api" / "main.py").exists()
    assert "apache-airflow==3.3.2" in pyproject["project"]["optional-dependencies"]["airflow"]
    for name, svc in services.items():
        for token in _command(svc).split():
            if token.startswith("scripts/"):
                assert (ROOT / token).exists(), (name, token)


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    # No `# syntax=` line: BuildKit would fetch that frontend from Docker Hub.
    assert "syntax=" not in text
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, flags=re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, flags=re.M)
    for folder in ("wheelhouse", "docker/ca-certificates"):
        assert f"source={folder}," in text
        assert (ROOT / folder / "README.md").exists()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in {"root", "0", "0:0"}
    assert "https://download.pytorch.org/whl/cpu" in text
    assert re.search(r"\.\[\$\{extras\}\]|\.\[airflow", text)
    assert 'extras="airflow"' in text
    airflow_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["airflow"]
    assert any(r.startswith("apache-airflow-providers-celery") for r in airflow_extra)
    for line in re.findall(r"^COPY\s+(.+)$", text, flags=re.M):
        sources = [t for t in line.split()[:-1] if not t.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    lines = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv"} <= lines
    assert "README.md" not in lines  # pyproject's readme, needed by the build


def test_devcontainer_uses_the_compose_stack() -> None:
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    files = [ROOT / ".devcontainer" / f for f in config["dockerComposeFile"]]
    assert files[0].resolve() == COMPOSE_PATH
    merged: dict[str, Any] = {}
    for f in files:
        merged |= _load(f)["services"]
    dev = merged[config["service"]]
    assert config["workspaceFolder"] == "/app"
    # Paths in every file of the list are relative to the first file's folder: the repo root.
    assert ".:/app:cached" in dev["volumes"]
    assert dev["build"]["context"] == "."
    assert (ROOT / dev["build"]["dockerfile"]).exists()
    assert dev["build"]["args"]["INSTALL_DEV"] == "true"


def test_docs_show_the_reference_commands_verbatim() -> None:
    doc = (ROOT / "docs" / "airflow.md").read_text()
    assert "docker exec loan_airflow_scheduler airflow dags trigger model_training" in doc
    assert (
        'docker exec -it loan_postgres psql -U mlops_user -d loan_default -c "SELECT * FROM '
        'loan_data.model_metadata WHERE is_active = true;"'
    ) in doc
    for needle in ("/auth/token", "/api/v2/dags/model_training/dagRuns", "make airflow"):
        assert needle in doc
    assert "--profile celery" in doc
