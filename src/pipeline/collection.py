"""The collection step as the DAG and CLI call it: ingest a batch, then build processed_data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from src.data.ingest import collect


def run_collection(
    *, source: str | None = None, batch_size: int | None = None, data_date: str | None = None,
) -> dict[str, Any]:
    """Ingest the next ``batch_size`` rows of ``source`` tagged with ``data_date`` (ISO date)."""
    date = dt.date.fromisoformat(data_date[:10]) if data_date else None
    return collect(source=source, batch_size=batch_size, data_date=date).as_dict()
