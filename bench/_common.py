"""Helpers shared by the bench scripts: markdown sections, statistics, throw-away databases.

Each script owns one section of ``docs/benchmarks.md`` between ``<!-- BEGIN name -->`` and
``<!-- END name -->`` markers and rewrites only that section (:func:`write_section`), so the
scripts can be rerun independently.  Quick (smoke) runs pass ``--output`` to a temporary file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "benchmarks.md"
ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DOC_HEADER = (
    "# Benchmarks\n\n"
    "Every figure below is written by a script in `bench/` (each owns the section between its\n"
    "markers and rewrites only that).  Rerun a script to refresh its section.\n"
)

logger = logging.getLogger("bench")


# Settings of the throwaway models benchmarks train when no database is given: the model is
# only something to serve or report on, so the smallest that trains in seconds.
QUICK_TRAINING = {
    "NUM_LAYERS": "1",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "2",
    "PATIENCE": "1",
    "BATCH_SIZE": "256",
    "TORCH_NUM_THREADS": "1",
}


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Training and ingestion log per stage at INFO; keep the bench output readable.
    for name in ("src", "alembic", "lightgbm"):
        logging.getLogger(name).setLevel(logging.WARNING)


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    """``mean ± std`` (sample std; just the value for one run)."""
    vals = [float(v) for v in values]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    """One line describing where the numbers were measured."""
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, load average at the end {load}"
    )


def bench_parser(doc: str | None, *, quick: str | None = None) -> argparse.ArgumentParser:
    """A benchmark's parser: described by its docstring's first line; ``--quick`` when its
    help is given (every quick mode is a smoke run whose figures are not published)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    if quick is not None:
        parser.add_argument("--quick", action="store_true", help=quick)
    return parser


RESULT_PREFIX = "BENCH_RESULT "  # the line a benchmark's child process reports its figures on


def peak_rss_mib() -> float:
    """This process's peak resident set size (MiB), as the kernel counts it for this image.

    Not ``ru_maxrss``: on Linux it survives ``exec``, so a child started while its parent held
    large buffers would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def report_result(result: dict[str, object]) -> None:
    """A child's figures, on the one stdout line its parent reads (``run_script_child``)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def run_script_child(script: Path, url: str, *args: str) -> dict[str, Any]:
    """``script --child URL ARGS`` in a fresh interpreter on database ``url``; its figures."""
    proc = subprocess.run(
        [sys.executable, str(script), "--child", url, *args],
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    line = next(x for x in reversed(proc.stdout.splitlines()) if x.startswith(RESULT_PREFIX))
    result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
    return result


def busy_processes() -> str:
    """The five busiest processes by CPU share (command names): what ran beside a benchmark."""
    out = subprocess.run(
        ["ps", "-eo", "pcpu=,comm=", "--sort=-pcpu"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return ", ".join(" ".join(line.split()[::-1]) + "%" for line in out[:5]) or "n/a"


def measured_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A figure table closed by the line that says where it was measured."""
    return f"{markdown_table(header, rows)}\n\nMeasured on: {machine_line()}.\n"


def latency_rows(results: Sequence[dict[str, Any]]) -> list[list[object]]:
    """One table row per latency measurement: name, path, calls, p50/p99 ms, throughput."""
    return [
        [
            r["name"],
            r["path"],
            r["calls"],
            f"{r['p50']:.2f}",
            f"{r['p99']:.2f}",
            f"{r['throughput']:,.0f}",
        ]
        for r in results
    ]


def write_section(name: str, body: str, path: Path | None = None) -> Path:
    """Replace (or append) the section ``name`` of ``path`` (default docs/benchmarks.md)."""
    path = Path(path or DOC)
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def publish(name: str, text: str, path: Path | None = None) -> int:
    """Print a benchmark's report and write it as section ``name`` of the doc; exit status 0."""
    print(text)
    written = write_section(name, text, path)
    logger.info("wrote section %r of %s", name, written)
    return 0


def emit(name: str, body: str, output: Path | None) -> int:
    """Print a report; with ``--output``, also write it as section ``name`` there; exit 0."""
    sys.stdout.write(body)
    if output is not None:
        write_section(name, body, output)
    return 0


@contextmanager
def fresh_database(prefix: str = "bench") -> Iterator[str]:
    """Create an empty, migrated PostgreSQL database; yield its URL; drop it afterwards."""
    from src.data.database import throwaway_database

    with throwaway_database(ADMIN_URL, prefix=prefix) as url:
        yield url


def use_database(url: str) -> None:
    """Make ``url`` the DATABASE_URL that project code reads through get_settings()."""
    from config.settings import get_settings

    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
