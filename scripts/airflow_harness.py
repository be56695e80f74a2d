"""What the Airflow smoke tests share: throw-away databases, process groups, the REST client.

``airflow_smoke.py`` (``airflow standalone``, LocalExecutor) and ``airflow_celery_smoke.py``
(CeleryExecutor, one process per component, two workers) import this module; so does
``bench/batch_scoring.py --dag`` through :mod:`celery_stack`.  Everything they start runs in
its own process group and is stopped by PID (``process_groups.ProcessGroups``), also on
failure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TERMINAL = {"success", "failed"}

log = logging.getLogger("airflow_smoke")
T0 = time.monotonic()


class SmokeFailure(RuntimeError):
    pass


def step(message: str, *args: Any) -> None:
    log.info("[%5.1fs] " + message, time.monotonic() - T0, *args)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_api_port(variable: str = "AIRFLOW_SMOKE_PORT") -> int:
    """The port named by ``variable``, else 8080, else any free port."""
    wanted = os.environ.get(variable)
    if wanted:
        if not port_is_free(int(wanted)):
            raise SmokeFailure(f"{variable}={wanted} is in use")
        return int(wanted)
    if port_is_free(8080):
        return 8080
    port = free_port()
    step("port 8080 is busy (another Airflow?); using %d", port)
    return port


@contextlib.contextmanager
def temp_databases(*prefixes: str, keep: bool) -> Iterator[list[str]]:
    """Fresh PostgreSQL databases on the admin server; dropped on exit unless ``keep``."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = [f"{p}_{uuid.uuid4().hex[:10]}" for p in prefixes]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise SmokeFailure(f"cannot create databases on {ADMIN_URL}: {exc}") from exc
    base = make_url(ADMIN_URL)
    try:
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        if keep:
            step("kept databases %s", ", ".join(names))
        else:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def loan_default_cmd() -> list[str]:
    exe = shutil.which("loan-default")
    if exe:
        return [exe]
    # Not pip-installed: run the same entry point from the checkout.
    return [sys.executable, "-c", "import sys; from src.cli import main; sys.exit(main())"]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    step("$ loan-default %s", " ".join(args))
    proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [*loan_default_cmd(), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise SmokeFailure(
            f"loan-default {' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def airflow_env(home: Path, port: int, metadata_url: str, project_url: str) -> dict[str, str]:
    """Environment of every Airflow process: temp home, our DAGs, PostgreSQL, 127.0.0.1 only."""
    airflow_db = make_url(metadata_url).set(drivername="postgresql+psycopg")
    airflow_db_str = airflow_db.render_as_string(hide_password=False)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db_str,
        # Airflow derives an asyncpg URL otherwise; psycopg 3 does async too.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db_str,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # No scheduled (cron) runs: only the runs a script triggers, so its checks are exact.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # Log servers of the scheduler and triggerer: free ports, so parallel runs coexist.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "DATABASE_URL": project_url,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    }
    env.pop("AIRFLOW_CONFIG", None)
    return env


def write_admin_password(home: Path) -> str:
    """A known password for the simple auth manager's ``admin`` (its default file)."""
    password = secrets.token_urlsafe(16)
    path = home / "simple_auth_manager_passwords.json.generated"
    path.write_text(json.dumps({"admin": password}) + "\n")
    return password


def _raise_on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def smoke_main(
    *,
    label: str,
    databases: tuple[str, str],
    default_timeout: float,
    smoke: Callable[[Path, str, str, float], str],
) -> int:
    """The entry point both smoke tests share: logging, signals, temp home and databases.

    ``smoke(home, metadata_url, project_url, timeout)`` returns the summary line(s).  Exit
    status 0 on success, 1 on failure, timeout or SIGTERM/SIGHUP/Ctrl-C; AIRFLOW_SMOKE_TIMEOUT
    and AIRFLOW_SMOKE_KEEP=1 (keep AIRFLOW_HOME and the databases) apply to both.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_on_signal)
    timeout = float(os.environ.get("AIRFLOW_SMOKE_TIMEOUT", str(default_timeout)))
    keep = os.environ.get("AIRFLOW_SMOKE_KEEP") == "1"
    home = Path(tempfile.mkdtemp(prefix=f"{databases[0]}_"))
    try:
        with temp_databases(*databases, keep=keep) as (metadata_url, project_url):
            summary = smoke(home, metadata_url, project_url, timeout)
        log.info("%s OK after %.0f s: %s", label, time.monotonic() - T0, summary)
        return 0
    except (SmokeFailure, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        log.error("%s FAILED after %.0f s: %s", label, time.monotonic() - T0, exc)
        return 1
    finally:
        if keep:
            step("kept AIRFLOW_HOME %s", home)
        else:
            shutil.rmtree(home, ignore_errors=True)
