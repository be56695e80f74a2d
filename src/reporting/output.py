"""Writing a report file: what ``loan-default report`` and the ``model_training`` DAG call.

Files go under ``MODEL_PATH/reports/<version>.html`` unless a path is given, so the
DAG's reports sit next to the exported artifacts and can be archived with them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import NamedTuple

from config.settings import get_settings
from src.reporting.card import build_card
from src.reporting.render import render_report

logger = logging.getLogger(__name__)


class WrittenReport(NamedTuple):
    """A written report: where it is, how large, how long it took, on how many test rows."""

    version: str
    path: Path
    size_bytes: int
    seconds: float
    test_rows: int

    @property
    def url_path(self) -> str:
        """Where the running API serves the same report."""
        return f"/models/{self.version}/report"


def default_report_path(version: str) -> Path:
    return get_settings().model_path / "reports" / f"{version}.html"


def write_report(
    *, version: str, output: Path | None = None, include_admin: bool = True
) -> WrittenReport:
    """Build the card, render it and write it atomically (a reader never sees half a file)."""
    started = time.perf_counter()
    card = build_card(version=version, include_admin=include_admin)
    html = render_report(card)
    path = output or default_report_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    written = WrittenReport(
        version=version,
        path=path.resolve(),
        size_bytes=len(html.encode()),
        seconds=time.perf_counter() - started,
        test_rows=int(card["rows"]["n"]),
    )
    logger.info(
        "report of %s written to %s (%d bytes, %.1f s, %d test rows)",
        version,
        written.path,
        written.size_bytes,
        written.seconds,
        written.test_rows,
    )
    return written
