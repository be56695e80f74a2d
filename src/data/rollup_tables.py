"""Drift bin counts of logged answers, rolled up per model version and hour at write time.

Counting every feature's bins over a million logged predictions means parsing a million
JSONB documents (about 8x a plain scan before any binning; 40x with it, docs/benchmarks.md).
The prediction logger knows the model's reference profile when it writes a batch, so it adds
the batch's bin counts here in the same transaction: a window's counts are then a sum of one
count vector per index and hour.  The rollup is only ever a shortcut: ``src.data.drift_rollup``
uses an hour's counts only when its fingerprint (row count and sum of ``predictions.id``)
equals the hour's logged answers, and counts every other hour from the rows themselves, so
the result is the same as counting every row.  Only answers (``role = 'champion'``) are
rolled up: drift is measured on live traffic only.  Declared on the shared ``Base`` and
re-exported by ``src.data.tables``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from src.data.table_base import SCHEMA, Base

CountsType = ARRAY(sa.BigInteger()).with_variant(sa.JSON(), "sqlite")


class DriftRollupBucket(Base):
    """One model version's logged answers in one hour: how many, and the sum of their ids."""

    __tablename__ = "drift_rollup_buckets"
    __table_args__ = {"schema": SCHEMA}

    model_version: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    # sha256 of the reference profile the counts were binned with: counts binned with any
    # other profile are never used (``drift_rollup.profile_digest``).
    profile_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    n_rows: Mapped[int] = mapped_column(sa.BigInteger)
    # Numeric: a sum of bigint ids over an hour may exceed bigint; PostgreSQL's sum() is
    # numeric too, so the fingerprint compares exactly.
    id_sum: Mapped[int] = mapped_column(sa.Numeric(40, 0))


class DriftRollupCount(Base):
    """One hour's counts of one index, in its count vector's layout (``drift_counts``).

    An array per index rather than a row per bin: a flush upserts one row per index and hour,
    and a week's window reads 168 x 23 rows.  (JSON on SQLite, where nothing is rolled up.)
    """

    __tablename__ = "drift_rollup_counts"
    __table_args__ = {"schema": SCHEMA}

    model_version: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    profile_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    feature: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    counts: Mapped[list[int]] = mapped_column(CountsType)
