"""Console output shared by the ``loan-default`` subcommands."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Pipes and CI logs get a wide console: rich would otherwise squeeze tables to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout (rich would wrap long lines and break parsers)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
