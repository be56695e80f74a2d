"""Console output, and the comma-list argument type, shared by the ``loan-default`` commands."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

# Pipes and CI logs get a wide console: rich would otherwise squeeze tables to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout (rich would wrap long lines and break parsers)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_counts(title: str, counts: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    """The integer entries of a summary as a one-row table, in the summary's order."""
    columns = [k for k, v in counts.items() if isinstance(v, int) and k not in skip]
    table = Table(title=title)
    for key in columns:
        table.add_column(key, justify="right")
    table.add_row(*(str(counts[k]) for k in columns))
    console.print(table)


def csv_list(value: str) -> list[str]:
    """A comma-separated argument as its non-empty, stripped items."""
    return [v.strip() for v in value.split(",") if v.strip()]
