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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
DAG_IDS = ("data_collection", "model_training", "model_validation_deployment")
ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TERMINAL = {"success", "failed"}

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


def choose_api_port() -> int:
    wanted = os.environ.get("AIRFLOW_SMOKE_PORT")
    if wanted:
        if not port_is_free(int(wanted)):
            raise SmokeFailure(f"AIRFLOW_SMOKE_PORT={wanted} is in use")
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


def count_models(project_url: str) -> int:
    engine = create_engine(project_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM loan_data.model_metadata")).scalar())
    finally:
        engine.dispose()


class Standalone:
    """``airflow standalone`` in its own session/process group, always torn down."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env = env
        self.home = home
        self.log_path = home / "standalone.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        airflow = shutil.which("airflow", path=self.env["PATH"])
        if not airflow:
            raise SmokeFailure("`airflow` is not on PATH: pip install -e '.[dev]' into .venv")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                [airflow, "standalone"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: one killpg stops everything
            )
        step("airflow standalone started (pid %d), log %s", self.proc.pid, self.log_path)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise SmokeFailure(f"airflow standalone exited with {self.proc.returncode}")

    def _leftovers(self) -> list[int]:
        """Our processes still alive: same process group, or our AIRFLOW_HOME in the env."""
        if self.proc is None:
            return []
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            pid = int(entry.name)
            if pid == os.getpid():
                continue
            try:
                if os.getpgid(pid) == self.proc.pid:
                    found.append(pid)
                    continue
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(pid)
            except (OSError, ProcessLookupError):
                continue
        return found

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        step("stopping Airflow (process group %d)", pgid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._leftovers():
            self.proc.poll()
            time.sleep(0.5)
        left = self._leftovers()
        if left:
            step("still running after SIGTERM: %s; sending SIGKILL", left)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        left = self._leftovers()
        if left:
            raise SmokeFailure(f"processes left running: {left}")
        step("Airflow stopped; no process left")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no standalone log)"


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=30)

    def wait_healthy(self, deadline: float, stack: Standalone) -> None:
        while True:
            stack.check_alive()
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r = self.client.get("/api/v2/monitor/health")
                if r.status_code == 200:
                    health = r.json()
                    if (
                        health["metadatabase"]["status"] == "healthy"
                        and health["scheduler"]["status"] == "healthy"
                    ):
                        return
            if time.monotonic() > deadline:
                raise SmokeFailure("timed out waiting for /api/v2/monitor/health")
            time.sleep(1)

    def login(self, username: str, password: str) -> None:
        r = self.client.post("/auth/token", json={"username": username, "password": password})
        if r.status_code not in (200, 201):
            raise SmokeFailure(f"POST /auth/token -> {r.status_code}: {r.text}")
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.client.request(method, path, **kwargs)
        if r.status_code >= 300:
            raise SmokeFailure(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    def wait_for_dags(self, deadline: float, stack: Standalone) -> None:
        while True:
            stack.check_alive()
            found = {
                d["dag_id"]
                for d in self.request("GET", "/api/v2/dags", params={"limit": 100})["dags"]
            }
            if set(DAG_IDS) <= found:
                return
            if time.monotonic() > deadline:
                raise SmokeFailure(f"DAGs not parsed in time; found {sorted(found)}")
            time.sleep(1)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def wait_run(self, dag_id: str, run_id: str, deadline: float, stack: Standalone) -> str:
        last = None
        while True:
            stack.check_alive()
            state = self.run_state(dag_id, run_id)
            if state != last:
                step("%s %s: %s", dag_id, run_id, state)
                last = state
            if state in TERMINAL:
                return state
            if time.monotonic() > deadline:
                raise SmokeFailure(f"timed out waiting for {dag_id} {run_id} (state {state})")
            time.sleep(2)

    def find_triggered_training(self, marker: str, deadline: float, stack: Standalone) -> str:
        while True:
            stack.check_alive()
            runs = self.request("GET", "/api/v2/dags/model_training/dagRuns")["dag_runs"]
            for run in runs:
                if (run.get("conf") or {}).get("triggered_by") == marker:
                    return str(run["dag_run_id"])
            if time.monotonic() > deadline:
                raise SmokeFailure(f"no model_training run with triggered_by={marker}")
            time.sleep(1)


def task_logs(home: Path, dag_id: str, run_id: str) -> str:
    """The task log files of one run (printed when the smoke test fails)."""
    chunks = []
    for path in sorted((home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log")):
        body = path.read_text(errors="replace").splitlines()[-40:]
        chunks.append(f"--- {path.relative_to(home)} ---\n" + "\n".join(body))
    return "\n".join(chunks) or f"(no task logs for {dag_id} {run_id})"


def build_env(home: Path, port: int, metadata_url: str, project_url: str) -> dict[str, str]:
    airflow_db = make_url(metadata_url).set(drivername="postgresql+psycopg")
    airflow_db_str = airflow_db.render_as_string(hide_password=False)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **TINY_ENV,
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
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
        # No scheduled (cron) runs: only the run this script triggers, so the test is exact.
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


def smoke(home: Path, metadata_url: str, project_url: str, timeout: float) -> str:
    deadline = T0 + timeout
    port = choose_api_port()
    env = build_env(home, port, metadata_url, project_url)
    password = secrets.token_urlsafe(16)
    (home / "simple_auth_manager_passwords.json.generated").write_text(
        json.dumps({"admin": password}) + "\n"
    )
    stack = Standalone(env, home)
    try:
        stack.start()
        # The project DB is prepared while Airflow boots.
        run_cli(["init-db"], env)
        run_cli(["collect", "--batch-size", "1500", "--data-date", "2024-01-01"], env)
        run_cli(["train", "--no-progress"], env)
        run_cli(["collect", "--batch-size", "500", "--data-date", "2024-01-02"], env)
        before = count_models(project_url)
        step("model_metadata rows before: %d", before)

        api = Api(f"http://127.0.0.1:{port}")
        api.wait_healthy(deadline, stack)
        step("api-server healthy on port %d", port)
        api.login("admin", password)
        step("JWT from POST /auth/token")
        api.wait_for_dags(deadline, stack)
        for dag_id in DAG_IDS:
            api.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        step("unpaused %s", ", ".join(DAG_IDS))

        run = api.request(
            "POST",
            "/api/v2/dags/model_validation_deployment/dagRuns",
            json={"logical_date": None, "conf": {"f1_threshold": 0.99}},
        )
        validation_id = str(run["dag_run_id"])
        step("triggered model_validation_deployment %s with f1_threshold=0.99", validation_id)
        state = api.wait_run("model_validation_deployment", validation_id, deadline, stack)
        v_tasks = api.task_states("model_validation_deployment", validation_id)
        step("model_validation_deployment tasks: %s", v_tasks)
        if state != "success" or v_tasks.get("trigger_model_training") != "success":
            raise SmokeFailure(
                "validation run did not trigger retraining:\n"
                + task_logs(home, "model_validation_deployment", validation_id)
            )

        training_id = api.find_triggered_training(
            f"model_validation_deployment/{validation_id}", deadline, stack
        )
        state = api.wait_run("model_training", training_id, deadline, stack)
        t_tasks = api.task_states("model_training", training_id)
        step("model_training tasks: %s", t_tasks)
        if state != "success":
            raise SmokeFailure(
                "model_training failed:\n" + task_logs(home, "model_training", training_id)
            )
        deploy = api.request(
            "GET",
            f"/api/v2/dags/model_training/dagRuns/{training_id}/taskInstances/deploy"
            "/xcomEntries/return_value",
        )
        step("deploy gate: %s", deploy.get("value"))

        after = count_models(project_url)
        step("model_metadata rows before: %d, after: %d", before, after)
        if after <= before:
            raise SmokeFailure("no new model_metadata row")
        return (
            f"model_validation_deployment {validation_id}=success -> "
            f"model_training {training_id}=success; model_metadata {before} -> {after} rows"
        )
    except BaseException:
        log.error("airflow standalone log (tail):\n%s", stack.tail())
        raise
    finally:
        stack.stop()


def _raise_on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_on_signal)
    timeout = float(os.environ.get("AIRFLOW_SMOKE_TIMEOUT", "600"))
    keep = os.environ.get("AIRFLOW_SMOKE_KEEP") == "1"
    home = Path(tempfile.mkdtemp(prefix="airflow_smoke_"))
    try:
        with temp_databases("airflow_smoke", "loan_smoke", keep=keep) as (meta_url, proj_url):
            summary = smoke(home, meta_url, proj_url, timeout)
        log.info("SMOKE OK after %.0f s: %s", time.monotonic() - T0, summary)
        return 0
    except (SmokeFailure, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        log.error("SMOKE FAILED after %.0f s: %s", time.monotonic() - T0, exc)
        return 1
    finally:
        if keep:
            step("kept AIRFLOW_HOME %s", home)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
