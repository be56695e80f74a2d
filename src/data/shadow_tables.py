"""The shadow model named for a model line (``loan-default shadow VERSION``).

One row per line at most (the primary key): every API replica's poller reads it, so naming a
shadow on one machine reaches them all without a restart or a shared file.  Without a row, a
server with ``SHADOW_MODE=on`` shadows the line's newest candidate.  Declared on the shared
``Base`` and re-exported by ``src.data.tables``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base, utcnow


class ShadowModel(Base):
    __tablename__ = "shadow_models"
    __table_args__ = {"schema": SCHEMA}

    source: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    model_version: Mapped[str] = mapped_column(
        sa.String(64),
        sa.ForeignKey(f"{SCHEMA}.model_metadata.model_version", ondelete="CASCADE"),
    )
    named_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
