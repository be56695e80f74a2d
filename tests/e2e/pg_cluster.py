"""A throwaway PostgreSQL cluster that a test may stop and start at will.

The shared server on 5432 is used by everyone, so fault tests (database down, database back)
run against a private cluster: its own data directory under /tmp, its own free port, Unix
socket in that directory.  PostgreSQL refuses to run as root, so when the tests run as root
``initdb``/``pg_ctl`` run as the ``postgres`` OS user via ``runuser``.

Usage::

    with PgCluster.create() as cluster:    # initdb + start
        url = cluster.url                  # postgresql://postgres@127.0.0.1:PORT/postgres
        cluster.stop()                     # pg_ctl stop -m fast
        cluster.start()                    # same port, same data
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = os.environ.get("PG_OS_USER", "postgres")


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; tiny race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available() -> str | None:
    """None if a throwaway cluster can be made here, else the reason (for ``pytest.skip``)."""
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} not found (set PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            return f"running as root and there is no {PG_OS_USER!r} OS user for PostgreSQL"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not installed"
    return None


class PgCluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data_dir = root / "data"
        self.log_file = root / "postgres.log"
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    @contextmanager
    def create(cls, *, port: int | None = None) -> Iterator[PgCluster]:
        """initdb + start; always stopped and deleted afterwards."""
        root = Path(tempfile.mkdtemp(prefix="pg-e2e-", dir="/tmp"))
        cluster = cls(root, port or free_port())
        try:
            cluster._hand_to_postgres_user()
            cluster._pg(
                "initdb",
                "-D",
                str(cluster.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            )
            cluster.start()
            yield cluster
        finally:
            cluster.destroy()

    def start(self, *, timeout: int = 30) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(timeout),
            "start",
        )
        self.running = True

    def stop(self, *, mode: str = "fast", timeout: int = 30) -> None:
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(timeout), "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            with suppress(subprocess.CalledProcessError):
                self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------ helpers
    def _hand_to_postgres_user(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_OS_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_OS_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.root, check=False
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode,
                command,
                output=result.stdout,
                stderr=f"{result.stderr}\n{self.log_tail()}",
            )
