"""Security defaults of the real service and CLI, over real HTTP and real PostgreSQL.

A private PostgreSQL cluster (``tests/e2e/pg_cluster.py``) is switched to password
(scram-sha-256) authentication, so that a right password, a wrong one and an unreachable
server can all be tried with a ``DATABASE_URL`` that contains a password, and every byte the
CLI and the API print or log is searched for it.

The service started on the right password runs with every default: no ADMIN_API_KEY, no
PREDICT_API_KEY, no CORS origin, the default MAX_REQUEST_BYTES.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from src.data import repository as repo
from src.data.database import get_engine, init_db
from src.data.feature_schema import FeatureSchema
from tests.e2e import pg_cluster
from tests.e2e.helpers import real_requests
from tests.e2e.pg_cluster import PgCluster, free_port
from tests.e2e.server import ApiServer, running_server
from tests.faults.helpers import cli_env, copy_model, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

PASSWORD = f"pw-{secrets.token_hex(12)}"  # distinctive: any occurrence in output is a leak
# A second role whose password holds unencoded ``@``: a URL parser that splits at the first
# ``@`` takes the tail for the host and prints it in "could not translate host name".
AT_TAIL = f"at-{secrets.token_hex(8)}"
AT_PASSWORD = f"p@{AT_TAIL}@q"
DEFAULTS = {"ADMIN_API_KEY": "", "PREDICT_API_KEY": "", "CORS_ORIGINS": "[]"}


@dataclass
class PasswordDatabase:
    cluster: PgCluster
    url: str  # with the right password
    wrong_url: str
    unreachable_url: str
    query_url: str  # the right password as ``?password=`` (libpq and psycopg accept it)
    wrong_query_url: str
    at_url: str  # role ``atuser``, password with unencoded ``@`` written as-is
    wrong_at_url: str


@pytest.fixture(scope="module")
def password_db(template_url: str) -> Iterator[PasswordDatabase]:
    """A cluster that demands a password, holding a copy of the template's model and rows."""
    reason = pg_cluster.available()
    if reason:
        pytest.skip(reason)
    with PgCluster.create() as cluster:
        trusted = get_engine(cluster.url)
        with trusted.begin() as conn:
            conn.execute(text(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'"))
            conn.execute(text(f"CREATE ROLE atuser LOGIN SUPERUSER PASSWORD '{AT_PASSWORD}'"))
        trusted.dispose()
        hba = cluster.data_dir / "pg_hba.conf"
        hba.write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        cluster.stop()
        cluster.start()
        base = f"postgresql://postgres:{{}}@127.0.0.1:{cluster.port}/postgres"
        url = base.format(PASSWORD)
        plain = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres?password="
        at_base = f"postgresql://atuser:{{}}@127.0.0.1:{cluster.port}/postgres"
        init_db(get_engine(url))
        copy_model(template_url, url, version="v0001", new_version="v0001")
        repo.activate_model(get_engine(url), version="v0001", reason="security test")
        yield PasswordDatabase(
            cluster,
            url,
            wrong_url=base.format(PASSWORD[::-1]),
            unreachable_url=f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/postgres",
            query_url=plain + PASSWORD,
            wrong_query_url=plain + PASSWORD[::-1],
            at_url=at_base.format(AT_PASSWORD),
            wrong_at_url=at_base.format(AT_PASSWORD[::-1]),
        )
        get_engine(url).dispose()


@pytest.fixture(scope="module")
def default_server(password_db: PasswordDatabase) -> Iterator[ApiServer]:
    """The service with every security setting at its default (and DEBUG logging)."""
    with running_server(password_db.url, LOG_LEVEL="DEBUG", **DEFAULTS) as server:
        yield server


@pytest.fixture(scope="module")
def request_body(template_url: str, default_server: ApiServer) -> dict[str, Any]:
    """A real lending_club applicant (rows from the template: the cluster holds the model)."""
    info = httpx.get(f"{default_server.base_url}/model", timeout=30).json()
    return real_requests(template_url, FeatureSchema.from_dict(info["feature_schema"]), 1)[0]


# --------------------------------------------------------------------------- defaults
def test_admin_endpoints_are_closed_by_default(default_server: ApiServer) -> None:
    with default_server.client() as client:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}):
            response = client.post("/admin/reload", headers=headers)
            assert response.status_code == 403, response.text
            assert "ADMIN_API_KEY" in response.json()["detail"]


def test_prediction_is_open_by_default(
    default_server: ApiServer, request_body: dict[str, Any]
) -> None:
    with default_server.client() as client:
        assert client.post("/predict", json=request_body).status_code == 200


def test_cors_is_closed_by_default(default_server: ApiServer, request_body: dict[str, Any]) -> None:
    origin = {"Origin": "https://evil.example"}
    with default_server.client() as client:
        preflight = client.options(
            "/predict",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        simple = client.post("/predict", json=request_body, headers=origin)
        model = client.get("/model", headers=origin)
    assert simple.status_code == 200 and model.status_code == 200
    assert preflight.status_code == 400  # Starlette: "Disallowed CORS origin"
    for response in (preflight, simple, model):
        # Without Access-Control-Allow-Origin a browser gives the page nothing.
        assert "access-control-allow-origin" not in response.headers, dict(response.headers)
        assert "access-control-allow-credentials" not in response.headers


def test_request_size_is_limited(default_server: ApiServer) -> None:
    limit = 2_000_000  # MAX_REQUEST_BYTES default
    with default_server.client() as client:
        declared = client.post(
            "/predict", content=b" " * (limit + 1), headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to check
            for _ in range(limit // 65536 + 2):
                yield b" " * 65536

        chunked = client.post(
            "/predict", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 413
        assert "MAX_REQUEST_BYTES" in chunked.json()["detail"]
        batch = client.post(
            "/predict/batch",
            content=b" " * (limit + 1),
            headers={"Content-Type": "application/json"},
        )
        assert batch.status_code == 413
        assert client.get("/health").status_code == 200  # and the service is fine


# --------------------------------------------------------------------------- keys on
def test_api_keys_when_set(password_db: PasswordDatabase, request_body: dict[str, Any]) -> None:
    """What compose runs with: PREDICT_API_KEY and ADMIN_API_KEY both set (from .env)."""
    predict_key, admin_key = secrets.token_hex(8), secrets.token_hex(8)
    with (
        running_server(
            password_db.url, PREDICT_API_KEY=predict_key, ADMIN_API_KEY=admin_key
        ) as server,
        server.client() as client,
    ):
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": admin_key}):
            response = client.post("/predict", json=request_body, headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["www-authenticate"] == "X-API-Key"
            batch = client.post("/predict/batch", json={"records": [request_body]}, headers=headers)
            assert batch.status_code == 401
        ok = client.post("/predict", json=request_body, headers={"X-API-Key": predict_key})
        assert ok.status_code == 200
        for headers in ({}, {"X-API-Key": predict_key}):
            assert client.post("/admin/reload", headers=headers).status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": admin_key}).status_code == 200
        doc = client.get("/openapi.json").json()
        assert doc["paths"]["/predict"]["post"]["security"] == [{"APIKeyHeader": []}]
        for path in ("/health", "/ready", "/metrics"):  # probes stay open for orchestrators
            assert client.get(path).status_code == 200


# --------------------------------------------------------------------------- password
def assert_no_password(where: str, text: str) -> None:
    for secret in (PASSWORD, AT_TAIL):
        assert secret not in text, f"database password printed in {where}"
        assert secret[::-1] not in text, f"wrong database password printed in {where}"


def test_cli_never_prints_the_database_password(password_db: PasswordDatabase) -> None:
    debug = ("--log-level", "DEBUG")
    runs = {
        "init-db (right password)": (password_db.url, ("init-db",), 0, "***"),
        "models (right password)": (password_db.url, ("models",), 0, "v0001"),
        "collect (right password)": (
            password_db.url,
            ("collect", "--source", "lending_club", "--batch-size", "200"),
            0,
            "collect",
        ),
        "models (wrong password)": (
            password_db.wrong_url,
            ("models",),
            2,
            "password authentication failed",
        ),
        "init-db (wrong password)": (
            password_db.wrong_url,
            ("init-db",),
            2,
            "password authentication failed",
        ),
        "models (unreachable)": (password_db.unreachable_url, ("models",), 2, "refused"),
    }
    for name, (url, args, code, evidence) in runs.items():
        result = run_cli(url, *debug, *args, env=cli_env(url))
        output = result.stdout + result.stderr
        assert result.returncode == code, (name, output)
        assert evidence in output, (name, output)  # the path we meant to test really ran
        assert_no_password(name, output)


def test_every_password_form_is_masked(password_db: PasswordDatabase) -> None:
    """``?password=`` in the query string and an unencoded ``@``: never printed, both work."""
    debug = ("--log-level", "DEBUG")
    sql = ("collect", "--source", "sql", "--name", "remote", "--target", "y", "--query", "SELECT 1")
    db = password_db
    runs = {
        "init-db (?password=)": (db.query_url, ("init-db",), 0, "?password=***"),
        "models (?password=)": (db.query_url, ("models",), 0, "v0001"),
        "models (wrong ?password=)": (db.wrong_query_url, ("models",), 2, "authentication failed"),
        "init-db (unencoded @)": (db.at_url, ("init-db",), 0, "postgresql://atuser:***@"),
        "models (unencoded @)": (db.at_url, ("models",), 0, "v0001"),
        "models (wrong, unencoded @)": (db.wrong_at_url, ("models",), 2, "authentication failed"),
        "collect --sql-url (wrong ?password=)": (
            db.url,
            (*sql, "--sql-url", db.wrong_query_url),
            2,
            "?password=***: connection failed",
        ),
        "collect --sql-url (wrong, unencoded @)": (
            db.url,
            (*sql, "--sql-url", db.wrong_at_url),
            2,
            'password authentication failed for user "atuser"',
        ),
    }
    for name, (url, args, code, evidence) in runs.items():
        result = run_cli(url, *debug, *args, env=cli_env(url))
        output = result.stdout + result.stderr
        assert result.returncode == code, (name, output)
        assert evidence in output, (name, output)
        assert_no_password(name, output)
    with running_server(db.query_url, LOG_LEVEL="DEBUG", **DEFAULTS) as server:
        with server.client() as client:
            assert client.get("/ready").status_code == 200
        server.stop()
        log = Path(server._log.name).read_text(errors="replace")
    assert "serving from postgresql://postgres@127.0.0.1" in log and "?password=***" in log
    assert_no_password("API log (?password=)", log)


def test_api_never_logs_or_returns_the_database_password(
    password_db: PasswordDatabase, default_server: ApiServer, request_body: dict[str, Any]
) -> None:
    seen: list[str] = []
    with default_server.client() as client:  # the right password, DEBUG logging
        seen += [client.post("/predict", json=request_body).text, client.get("/model").text]
    for url, detail in (
        (password_db.wrong_url, "password authentication failed"),
        (password_db.unreachable_url, "refused"),
    ):
        admin_key = secrets.token_hex(8)
        with (
            running_server(url, LOG_LEVEL="DEBUG", ADMIN_API_KEY=admin_key) as server,
            server.client() as client,
        ):
            ready = client.get("/ready")
            assert ready.status_code == 503 and detail in ready.json()["detail"], ready.text
            reload = client.post("/admin/reload", headers={"X-API-Key": admin_key})
            assert reload.status_code == 503 and detail in reload.json()["error"], reload.text
            seen += [
                ready.text,
                reload.text,
                client.get("/model").text,
                client.get("/metrics").text,
            ]
            server.stop()  # shutdown logs too (the final flush)
            log = Path(server._log.name).read_text(errors="replace")
        assert detail in log  # the failure was logged, without the password
        assert_no_password(f"API log ({detail})", log)
    assert_no_password("API responses", "\n".join(seen))
    default_log = Path(default_server._log.name).read_text(errors="replace")
    # The lines that do print the URL ran, masked (DEBUG: engine creation; INFO: startup).
    assert "serving from postgresql://postgres:***@" in default_log
    assert "created engine for postgresql://postgres:***@" in default_log
    assert_no_password("API log (right password)", default_log)
