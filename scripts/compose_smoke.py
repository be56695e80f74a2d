"""`docker compose up` for real: build, start and drive the container stack, then remove it.

Steps (each one timed; the table is printed at the end):
1. host: Docker engine, Compose >= 2.24 and debootstrap installed if absent; ``dockerd``
   started only if no daemon answers (throw-away data root; stopped by PID at the end, with
   the firewall, ``ip_forward`` and network links put back as they were);
2. base images: the official ones when they can be pulled, else built from Debian packages
   by ``scripts/base_images.sh`` (or as SMOKE_BASE_IMAGES=official|debian says);
3. the project image, built once (``docker compose build``), and the devcontainer image
   (INSTALL_DEV=true), in which ``pytest tests/unit`` must pass;
4. ``docker compose up -d --wait``: every service healthy;
5. the reference design's commands as written (``-t`` for ``-it``): ``docker-compose ps`` /
   ``logs postgres``, ``docker exec loan_airflow_scheduler airflow dags trigger`` for
   data_collection then model_training (both must succeed, watched through the REST API),
   the ``psql`` query (exactly one active model), ``POST /predict`` on the published port
   (200, answered by that model), model_validation_deployment, ``docker-compose restart
   airflow-scheduler`` (healthy again, a new run completes);
6. ``--profile celery`` with two workers: a model_training run executes on a Celery worker;
7. ``docker compose down -v``: no container, volume or network of the project is left.

Run it with ``make compose-smoke`` (root, as CI).  SMOKE_TIMEOUT bounds each wait (s).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compose_checks import StackChecks
from docker_host import Daemon, DockerSetupError, ensure_tools

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("compose-smoke")
T0 = time.monotonic()
TIMINGS: list[tuple[str, float]] = []
CA_COPY = REPO / "docker" / "ca-certificates" / "compose-smoke-host-bundle.crt"
WHEEL_DIRS = (Path("/opt/wheels"), REPO / "wheelhouse")

# A tiny model, so training takes about a minute on 2 cores; the rest as a user would have it.
SMOKE_SETTINGS = {
    "NUM_LAYERS": "1",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "2",
    "PATIENCE": "2",
    "INGEST_BATCH_SIZE": "2000",
    "TORCH_NUM_THREADS": "1",
    "AIRFLOW_WORKERS": "2",
}


class SmokeFailure(RuntimeError):
    """A step's check failed; the message says which and what was seen."""


@contextmanager
def timed(name: str) -> Iterator[None]:
    start = time.monotonic()
    log.info("== %s", name)
    yield
    TIMINGS.append((name, time.monotonic() - start))
    log.info("== %s: %.0f s", name, TIMINGS[-1][1])


def sh(*args: str, timeout: float = 900, check: bool = True) -> str:
    """Run a command as a user would type it; its output is logged and returned."""
    log.info("$ %s", " ".join(args))
    proc = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = proc.stdout + proc.stderr
    for line in out.strip().splitlines()[-12:]:
        log.info("  | %s", line)
    if check and proc.returncode != 0:
        raise SmokeFailure(f"{' '.join(args)} exited {proc.returncode}:\n{out[-2000:]}")
    return out


def smoke_environment() -> None:
    """Secrets and settings for the stack, in this process's environment (so that every
    command, the reference ones included, sees them as a user's shell would)."""
    if (REPO / ".env").exists():
        log.warning(".env exists: values the smoke does not set come from it")
    fernet = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    os.environ.update(
        {
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": fernet,
            "ADMIN_API_KEY": secrets.token_urlsafe(16),
            "PREDICT_API_KEY": secrets.token_urlsafe(16),
            **SMOKE_SETTINGS,
        }
    )


def base_images() -> None:
    mode = os.environ.get("SMOKE_BASE_IMAGES", "auto")
    if all(os.environ.get(v) for v in ("BASE_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE")):
        log.info("using BASE_IMAGE, POSTGRES_IMAGE and REDIS_IMAGE from the environment")
        return
    if mode in ("auto", "official"):
        official = ("python:3.11-slim", "postgres:15", "redis:7-alpine")
        pulled = [sh("docker", "pull", image, timeout=600, check=False) for image in official]
        if all("Status:" in out for out in pulled):
            return
        if mode == "official":
            raise SmokeFailure(
                "SMOKE_BASE_IMAGES=official but the official images cannot be pulled"
            )
        log.info("the official images cannot be pulled: building them from Debian packages")
    out = sh("bash", "scripts/base_images.sh", timeout=1800)
    for name, value in re.findall(r"^(BASE_IMAGE|POSTGRES_IMAGE|REDIS_IMAGE)=(\S+)$", out, re.M):
        os.environ[name] = value


def build_context_extras() -> list[Path]:
    """The host's CA bundle (a proxy may re-sign TLS) and a local torch CPU wheel, if any,
    handed to the build; returns what was added, to remove afterwards."""
    added = []
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        shutil.copyfile(bundle, CA_COPY)
        added.append(CA_COPY)
    wheels = sorted(w for d in WHEEL_DIRS if d.is_dir() for w in d.glob("torch-*+cpu-*.whl"))
    if wheels and not list((REPO / "wheelhouse").glob("torch-*.whl")):
        target = REPO / "wheelhouse" / wheels[-1].name
        shutil.copyfile(wheels[-1], target)
        added.append(target)
        log.info("torch from the local wheel %s", wheels[-1].name)
    return added


def devcontainer_tests() -> None:
    files = ["-f", "docker-compose.yml", "-f", ".devcontainer/docker-compose.devcontainer.yml"]
    sh("docker", "compose", *files, "build", "dev", timeout=1800)
    out = sh(
        "docker", "run", "--rm", "-v", f"{REPO}:/app:ro", "loan-default-mlops:dev",
        "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "--timeout", "600",
        timeout=1800,
    )  # fmt: skip
    if not re.search(r"\d+ passed", out) or re.search(r"\d+ (failed|error)", out):
        raise SmokeFailure("pytest tests/unit did not pass in the devcontainer image")


def smoke() -> str:
    timeout = float(os.environ.get("SMOKE_TIMEOUT", "900"))
    with timed("host: engine, compose, debootstrap"):
        ensure_tools()
    with Daemon():
        added: list[Path] = []
        try:
            smoke_environment()
            with timed("base images"):
                base_images()
            added = build_context_extras()
            with timed("build the project image (docker compose build)"):
                sh("docker", "compose", "build", timeout=1800)
            with timed("devcontainer image + pytest tests/unit inside it"):
                devcontainer_tests()
            with timed("docker compose up -d --wait (every service healthy)"):
                sh("docker", "compose", "up", "-d", "--wait", "--wait-timeout", f"{timeout:.0f}")
            checks = StackChecks(sh=sh, timed=timed, timeout=timeout, failure=SmokeFailure)
            return checks.run_all()
        finally:
            if sys.exc_info()[0] is not None:
                sh("docker", "compose", "--profile", "celery", "ps", "-a", check=False)
                sh("docker", "compose", "--profile", "celery", "logs", "--tail", "30", check=False)
            with timed("docker compose --profile celery down -v"):
                sh("docker", "compose", "--profile", "celery", "down", "-v", "--remove-orphans",
                   check=False)  # fmt: skip
                left = sh(
                    "docker",
                    "ps",
                    "-aq",
                    "--filter",
                    "label=com.docker.compose.project=loan-default",
                )
                for kind in ("volume", "network"):
                    left += sh(
                        "docker",
                        kind,
                        "ls",
                        "-q",
                        "--filter",
                        "label=com.docker.compose.project=loan-default",
                    )
            for path in added:
                path.unlink(missing_ok=True)
            if left.strip():
                raise SmokeFailure(f"left behind after down -v: {left.split()}")


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    # A CI timeout or Ctrl-C still takes the stack down and stops the dockerd we started.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        summary = smoke()
        status = 0
    except (SmokeFailure, DockerSetupError, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        summary, status = f"{exc}", 1
    for name, seconds in TIMINGS:
        log.info("%6.0f s  %s", seconds, name)
    word = "OK" if status == 0 else "FAILED"
    log.info("COMPOSE SMOKE %s after %.0f s: %s", word, time.monotonic() - T0, summary)
    return status


if __name__ == "__main__":
    sys.exit(main())
