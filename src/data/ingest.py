"""collect(): incremental, exactly-once ingestion of a source into raw_data (+ quarantine).

Every source row gets a stable key (its id, or a content hash plus an occurrence
counter), so re-running a collect, or running two at once, never stores a row
twice: keys already stored are skipped up front, and the unique (source, row_key)
constraints settle any race.  Rows that fail validation go to ``quarantine`` with
a reason instead of being dropped.  On PostgreSQL rows travel by COPY and
processed_data is filled server-side (``src.data.pg_copy``), because per-row round
trips and per-row JSON work would dominate the cost of large batches.

The pieces live next door: reading sources (``sources``), registration and the
stored schema (``source_registry``), row keys and checks (``validation``) and the
writes (``storage``); this module orders them into one collect.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from config.settings import get_settings
from src.data.database import get_engine
from src.data.feature_schema import FeatureSchema
from src.data.processing import build_processed
from src.data.source_options import SourceOptions
from src.data.source_registry import reconcile, register, resolve_registered
from src.data.sources import read_source
from src.data.storage import store_quarantined, store_valid
from src.data.tables import QuarantinedRow, RawData
from src.data.unlabelled import store_unlabelled, unlabelled_keys
from src.data.validation import changed_labels, check_rows, row_keys, with_key_problems
from src.data.values import label_texts
from src.exceptions import ConfigurationError, SchemaError

__all__ = ["CHUNK_ROWS", "IngestSummary", "collect"]

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000  # rows per transaction: bounds memory and the work a kill can lose


@dataclass(frozen=True)
class IngestSummary:
    """What one collect did: ``read == already_stored + inserted + quarantined + unlabelled +
    remaining``.

    ``changed_labels`` counts stored rows (part of ``already_stored``) whose label in the
    source now differs: the stored label is kept and the new version quarantined.
    """

    source: str
    read: int
    inserted: int
    quarantined: int
    already_stored: int
    remaining: int
    processed: int
    changed_labels: int = 0
    unlabelled: int = 0  # rows stored in unlabelled_data (``collect --unlabelled``)
    out_of_range: dict[str, int] = field(default_factory=dict)  # column -> rows quarantined

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect(
    *,
    options: SourceOptions | None = None,
    source: str | None = None,
    batch_size: int | None = None,
    data_date: dt.date | None = None,
    engine: Engine | None = None,
    unlabelled: bool = False,
) -> IngestSummary:
    """Store the next ``batch_size`` unseen rows of a source (all when None), then process them.

    The first collect of a source infers and stores its feature schema (honouring
    the overrides in ``options``); later collects reuse it and reject contradicting
    overrides.  The source may also be the name of a registered file/bundled/SQL source.
    ``source`` alone is short for ``options=SourceOptions(source=...)``; neither given:
    the ``DATA_SOURCE`` setting.

    ``unlabelled=True`` declares the source partially labelled: a row whose label cell is
    empty is an application without an outcome yet and goes to ``unlabelled_data`` (used by
    contrastive pretraining only) instead of quarantine.  Such a row is collected again, into
    ``raw_data``, once a later read of the source has its label.
    """
    if options is not None and source is not None:
        raise ConfigurationError("pass the source either in options or as source=, not both")
    if batch_size is not None and batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size}")
    options = options or SourceOptions(source=source)
    engine = engine or get_engine()
    data_date = data_date or dt.datetime.now(dt.UTC).date()
    spec, stored = resolve_registered(
        engine=engine, source=options.source or get_settings().data_source, options=options
    )
    frame = read_source(spec)
    schema_dict = stored.feature_schema if stored else register(engine, spec, frame)
    schema = FeatureSchema.from_dict(schema_dict)
    reconcile(schema, options=options)  # again: a concurrent first collect may have won
    needed = [*schema.features, schema.target, *([schema.id_column] if schema.id_column else [])]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise SchemaError(f"source {spec.name!r} lacks columns of its stored schema: {absent}")
    keys, key_problems = row_keys(frame, schema)
    stored_labels, quarantined_keys = _stored_keys(engine, spec.name)
    seen = stored_labels.keys() | quarantined_keys
    no_label = np.array([t is None for t in label_texts(frame[schema.target])], dtype=bool)
    no_label &= unlabelled
    pool = unlabelled_keys(engine, spec.name) if unlabelled else set()
    pending = np.flatnonzero(
        np.fromiter(
            (
                k not in seen and not (bare and k in pool)
                for k, bare in zip(keys, no_label, strict=True)
            ),
            bool,
            len(keys),
        )
    )
    batch = pending if batch_size is None else pending[:batch_size]
    inserted = quarantined = processed = stored_unlabelled = 0
    max_abs, out_of_range = get_settings().max_abs_numeric_value, Counter[str]()
    for start in range(0, len(batch), CHUNK_ROWS):
        chunk_rows = batch[start : start + CHUNK_ROWS]
        with engine.begin() as conn:  # one transaction per chunk: a kill loses one chunk at most
            for rows, labelled in (
                (chunk_rows[~no_label[chunk_rows]], True),
                (chunk_rows[no_label[chunk_rows]], False),
            ):
                if not len(rows):
                    continue
                chunk = frame.iloc[rows].reset_index(drop=True)
                checked = check_rows(
                    chunk,
                    schema,
                    labels=schema_dict.get("labels"),
                    max_abs=max_abs,
                    require_label=labelled,
                )
                out_of_range.update(checked.out_of_range)
                reasons = with_key_problems(checked.reasons, rows, key_problems)
                chunk_keys = [keys[i] for i in rows]
                if labelled:
                    ins, proc = store_valid(
                        conn, spec.name, schema, checked, reasons, chunk_keys, data_date
                    )
                    inserted, processed = inserted + ins, processed + proc
                else:
                    stored_unlabelled += store_unlabelled(
                        conn, spec.name, schema, checked, reasons, chunk_keys, data_date
                    )
                quarantined += store_quarantined(
                    conn, spec.name, chunk, reasons, chunk_keys, data_date
                )
    processed += build_processed(source=spec.name, engine=engine)
    changed = changed_labels(label_texts(frame[schema.target]), keys, stored_labels, schema.target)
    if changed.rows:
        with engine.begin() as conn:
            store_quarantined(
                conn,
                spec.name,
                frame.iloc[changed.rows].reset_index(drop=True),
                list(changed.reasons),
                changed.keys,
                data_date,
            )
        logger.warning(
            "%d stored rows of %s have a changed label (kept; see quarantine), e.g. %s",
            len(changed.rows),
            spec.name,
            changed.reasons[0],
        )
    summary = IngestSummary(
        source=spec.name,
        read=len(frame),
        inserted=inserted,
        quarantined=quarantined,
        already_stored=len(frame)
        - len(pending)
        + len(batch)
        - inserted
        - quarantined
        - stored_unlabelled,
        remaining=len(pending) - len(batch),
        processed=processed,
        changed_labels=len(changed.rows),
        unlabelled=stored_unlabelled,
        out_of_range=dict(out_of_range),
    )
    logger.info("collect %s (data_date %s): %s", spec.name, data_date, summary.as_dict())
    return summary


def _stored_keys(engine: Engine, source: str) -> tuple[dict[str, str], set[str]]:
    """Keys already taken: stored rows with their labels, and quarantined keys."""
    with engine.connect() as conn:
        raw = conn.execute(
            select(RawData.row_key, RawData.label).where(RawData.source == source)
        ).all()
        quarantined = conn.scalars(
            select(QuarantinedRow.row_key).where(QuarantinedRow.source == source)
        )
        return dict(raw), set(quarantined)
