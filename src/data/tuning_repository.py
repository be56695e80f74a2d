"""Reads and writes of ``loan_data.tuned_configs`` (``src.data.tuning_tables``).

Kept apart from ``src.data.repository`` (the registry): a tuned configuration is an input to
training, not a model, and only ``loan-default tune`` writes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.data.tuning_tables import TunedConfig


def store_tuned_config(
    session: Session,
    *,
    source: str,
    config: dict[str, Any],
    best_valid_roc_auc: float,
    n_trials: int,
    n_pruned: int,
    search_space_version: int,
    details: dict[str, Any],
) -> TunedConfig:
    """Append one search's result; it becomes the source's newest (the one ``train`` uses)."""
    row = TunedConfig(
        source=source,
        config=dict(config),
        best_valid_roc_auc=float(best_valid_roc_auc),
        n_trials=int(n_trials),
        n_pruned=int(n_pruned),
        search_space_version=int(search_space_version),
        details=details,
    )
    session.add(row)
    session.flush()
    return row


def latest_tuned_config(session: Session, *, source: str) -> TunedConfig | None:
    """The newest stored search of ``source`` (ties on time broken by id), or None."""
    query = (
        select(TunedConfig)
        .where(TunedConfig.source == source)
        .order_by(TunedConfig.created_at.desc(), TunedConfig.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
