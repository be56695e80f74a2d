"""Tuned configurations found by ``loan-default tune`` (``loan_data.tuned_configs``).

One row per search, never updated: the newest row of a source is the configuration its
later ``train`` runs use (``TRAINING_PRESET=auto|tuned``), and older rows stay as the history
of what each search found, so a model's ``training_config.tuned_config_id`` always points at
the row it was built from.  Declared on the shared ``Base`` and re-exported by
``src.data.tables``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base, IdType, utcnow


class TunedConfig(Base):
    __tablename__ = "tuned_configs"
    __table_args__ = (
        sa.Index("ix_tuned_configs_source_created", "source", "created_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(sa.String(128))
    # Only the searched hyperparameters (TrainingConfig field names); the schedule, seed and
    # device stay the deployment's own settings.
    config: Mapped[dict[str, Any]]
    best_valid_roc_auc: Mapped[float] = mapped_column(sa.Float)
    n_trials: Mapped[int] = mapped_column(sa.Integer)
    n_pruned: Mapped[int] = mapped_column(sa.Integer)
    search_space_version: Mapped[int] = mapped_column(sa.Integer)
    # How the search was run (trial schedule, seed, timeout, data snapshot): what the best
    # validation ROC-AUC above is a figure of.
    details: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
