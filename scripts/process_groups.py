"""Processes started by the smoke tests, each in its own session, always stopped by PID.

A process is found again by its process group, its ancestry (a descendant that moved to a
group of its own) or ``AIRFLOW_HOME=<this run's home>`` in its environment, so :meth:`stop`
leaves nothing behind even when a component forks daemons.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from airflow_harness import REPO, SmokeFailure, step


def _live_pids() -> Iterator[int]:
    """PIDs of running processes; zombies (dead, not yet reaped by their parent) excluded."""
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] != "Z":
                yield int(entry.name)


class ProcessGroups:
    """Named processes, each in its own session; stopped by process group and by env marker."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()  # on purpose: not a failure of check_alive

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out: IO[bytes]
        with open(self.home / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: one killpg stops it all
            )  # fmt: skip
        self.procs[name] = proc
        step("started %s (pid %d): %s", name, proc.pid, " ".join(argv[-3:]))
        return proc

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(n for n in self.procs if n not in self.killed):
            code = self.procs[name].poll()
            if code is not None:
                raise SmokeFailure(f"{name} exited with {code}:\n{self.tail(name)}")

    def members(self, name: str) -> list[int]:
        """Live PIDs started as ``name``: its process group and every descendant.

        Descendants matter: Airflow 3's task supervisor puts each task process in a process
        group of its own, so a ``killpg`` of a Celery worker alone leaves its task running.
        """
        parents: dict[int, int] = {}
        found = set()
        for pid in _live_pids():
            with contextlib.suppress(OSError, ProcessLookupError, ValueError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                parents[pid] = int(stat[stat.rindex(")") + 2 :].split()[1])
                if os.getpgid(pid) == self.procs[name].pid:
                    found.add(pid)
        grown = True
        while grown:
            new = {pid for pid, parent in parents.items() if parent in found} - found
            found |= new
            grown = bool(new)
        return sorted(found)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Send ``sig`` to every process of :meth:`members`; returns the PIDs it reached."""
        self.killed.add(name)
        reached: list[int] = []
        deadline = time.monotonic() + 10  # the kernel needs a moment to tear a process down
        while (pids := self.members(name)) and time.monotonic() < deadline:
            for pid in pids:  # again for any child forked since the last pass
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            reached += [pid for pid in pids if pid not in reached]
            time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.procs[name].wait(timeout=10)
        return reached

    def leftovers(self) -> list[int]:
        """Our processes still alive: one of our groups, or our AIRFLOW_HOME in the env."""
        groups = {p.pid for p in self.procs.values()}
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for pid in _live_pids():
            if pid == os.getpid():
                continue
            with contextlib.suppress(OSError, ProcessLookupError):
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                if os.getpgid(pid) in groups or marker in environ:
                    found.append(pid)
        return found

    def stop(self) -> None:
        """SIGTERM every group, SIGKILL what is left after 30 s; fails if anything survives."""
        if not self.procs:
            return
        step("stopping %s", ", ".join(self.procs))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.leftovers():
            for proc in self.procs.values():
                proc.poll()
            time.sleep(0.5)
        left = self.leftovers()
        if left:
            step("still running after SIGTERM: %s; sending SIGKILL", left)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        left = self.leftovers()
        if left:
            raise SmokeFailure(f"processes left running: {left}")
        step("every process stopped")

    def tail(self, name: str, lines: int = 60) -> str:
        try:
            body = (self.home / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log of {name})"
        return "\n".join(body[-lines:])
