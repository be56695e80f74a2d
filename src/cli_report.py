"""``loan-default report``: write a model's report (one self-contained HTML file).

The CLI user can read the database, so the file includes the admin-only sections
(training configuration, source location) that the API hides without the admin key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from src.cli_output import console, emit_json


def add_report_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="write a model's report (HTML model card)")
    report.add_argument("version", nargs="?", help="model version (default: the active model)")
    report.add_argument("--source", help="model line of the active model to report on")
    report.add_argument(
        "--output", type=Path, help="file to write (default: MODEL_PATH/reports/VERSION.html)"
    )
    report.add_argument("--json", action="store_true", help="print the card as JSON instead")


def _report(args: argparse.Namespace) -> None:
    from src.reporting.card import build_card, resolve_version

    version = resolve_version(version=args.version, source=args.source)
    if args.json:
        emit_json(build_card(version=version, include_admin=True))
        return
    from src.reporting.output import write_report

    written = write_report(version=version, output=args.output)
    console.print(
        f"report of {version} written to {written.path} "
        f"({written.size_bytes / 1024:.0f} KiB, {written.seconds:.1f} s, "
        f"{written.test_rows} test rows); the API serves it at {written.url_path}",
        highlight=False,
        soft_wrap=True,
    )


REPORT_COMMANDS = {"report": _report}
