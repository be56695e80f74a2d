"""The Docker engine under ``make compose-smoke``: installed if absent, started only if needed.

- :func:`ensure_tools` installs Debian's ``docker.io`` and ``debootstrap`` when missing, and
  Compose v2 and buildx from Debian trixie's ``docker-compose``/``docker-buildx`` packages
  (they install on bookworm with dpkg) when ``docker compose`` is missing or older than 2.24.
- :class:`Daemon` uses a daemon that already answers and leaves it alone.  Otherwise it
  records the firewall (``iptables-save``/``ip6tables-save``), ``ip_forward`` and the network
  links, starts ``dockerd`` with a throw-away data root, and at exit stops it by PID, deletes
  the data root and restores what dockerd changed, checking that the firewall reads as before.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger("compose-smoke")

MIN_COMPOSE = (2, 24)
TRIXIE = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} trixie main\n"
FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class DockerSetupError(RuntimeError):
    """The engine could not be installed, started or put back as it was."""


def _run(args: list[str], timeout: float = 600, check: bool = True) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise DockerSetupError(f"{' '.join(args)} -> {proc.returncode}: {proc.stderr[-800:]}")
    return proc.stdout


def compose_version() -> tuple[int, int] | None:
    """``docker compose`` as (major, minor), or None when the plugin is missing."""
    proc = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    match = re.match(r"v?(\d+)\.(\d+)", proc.stdout.strip())
    return (int(match[1]), int(match[2])) if proc.returncode == 0 and match else None


def _apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=900)


def _install_trixie_compose() -> None:
    mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(prefix="trixie-") as tmp:
        root = Path(tmp)
        (root / "lists" / "partial").mkdir(parents=True)
        (root / "archives" / "partial").mkdir(parents=True)
        (root / "sources.list").write_text(TRIXIE.format(mirror=mirror))
        opts = [
            f"-oDir::Etc::SourceList={root / 'sources.list'}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={root / 'lists'}",
            f"-oDir::Cache::Archives={root / 'archives'}",
        ]
        _run(["apt-get", *opts, "update", "-qq"])
        subprocess.run(
            ["apt-get", *opts, "download", "docker-compose", "docker-buildx"],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=600,
        )
        _run(["dpkg", "-i", *map(str, sorted(root.glob("*.deb")))])


def ensure_tools() -> None:
    missing = [tool for tool in ("docker", "dockerd", "debootstrap") if not shutil.which(tool)]
    if missing:
        log.info("installing docker.io and debootstrap (missing: %s)", ", ".join(missing))
        _apt_install("docker.io", "debootstrap")
    version = compose_version()
    if version is None or version < MIN_COMPOSE:
        log.info("docker compose is %s; installing Debian trixie's Compose v2 and buildx", version)
        _install_trixie_compose()
        version = compose_version()
    if version is None or version < MIN_COMPOSE:
        raise DockerSetupError(f"docker compose {version} is older than 2.24 after installing")


def daemon_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def _firewall() -> dict[str, str]:
    """The rule sets as text, without the comments and counters that change on every read."""
    dumps = {}
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            text = _run([tool], check=False)
            lines = [line for line in text.splitlines() if not line.startswith("#")]
            dumps[tool] = "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in lines)
    return dumps


def _links() -> set[str]:
    return set(re.findall(r"^\d+: ([^:@]+)", _run(["ip", "-o", "link", "show"]), re.M))


class Daemon:
    """``with Daemon(): ...``: a Docker daemon for the block, put back as it was afterwards."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.root: Path | None = None

    def __enter__(self) -> Daemon:
        if daemon_answers():
            log.info("using the Docker daemon that already answers (it is left running)")
            return self
        self.firewall, self.forward, self.links = _firewall(), FORWARD.read_text(), _links()
        self.root = Path(tempfile.mkdtemp(prefix="compose-smoke-docker-"))
        logfile = (self.root / "dockerd.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'dockerd.pid'}",
            ],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not daemon_answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "dockerd.log").read_text()[-1500:]
                self.__exit__(None, None, None)
                raise DockerSetupError(f"dockerd did not come up:\n{tail}")
            time.sleep(0.5)
        log.info("started dockerd (pid %d), data root %s", self.proc.pid, self.root / "data")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is None or self.root is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            log.warning("dockerd did not stop in 90 s; killing its process group")
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for line in Path("/proc/mounts").read_text().splitlines():
            mountpoint = line.split()[1]
            if mountpoint.startswith(str(self.root)):
                subprocess.run(["umount", "-l", mountpoint], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self._restore()
        log.info("stopped dockerd (pid %d); removed its data root", self.proc.pid)

    def _restore(self) -> None:
        for link in sorted(_links() - self.links):
            subprocess.run(["ip", "link", "delete", link], check=False, capture_output=True)
        if FORWARD.read_text() != self.forward:
            FORWARD.write_text(self.forward)
        for tool, before in self.firewall.items():
            family = "ip6" if tool.startswith("ip6") else "ip"
            restore = tool.replace("-save", "-restore")
            tables_now = set(re.findall(r"^\*(\w+)", _firewall()[tool], re.M))
            tables_before = set(re.findall(r"^\*(\w+)", before, re.M))
            for table in sorted(tables_now - tables_before):
                # dockerd created the table: delete it whole (nft), else empty it.
                if not (shutil.which("nft") and _nft_delete(family, table)):
                    for flag in ("-F", "-X"):
                        _run([tool.replace("-save", ""), "-t", table, flag], check=False)
            if tables_before:
                subprocess.run([restore], input=before + "\n", text=True, check=True)
        changed = [tool for tool, text in _firewall().items() if text != self.firewall[tool]]
        if changed or FORWARD.read_text() != self.forward:
            raise DockerSetupError(f"could not restore {changed or 'ip_forward'} after dockerd")
        log.info("firewall rules, ip_forward and network links are as before dockerd started")


def _nft_delete(family: str, table: str) -> bool:
    proc = subprocess.run(
        ["nft", "delete", "table", family, table], capture_output=True, check=False
    )
    return proc.returncode == 0
