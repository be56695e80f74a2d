"""Registered sources (loan_data.data_sources): their kind, location and fixed schema.

The first collect of a source infers its feature schema and stores it here; the
first writer wins a race.  Later collects reuse the stored schema and reject
options that contradict it, because rows already stored were validated and
processed against it.  A registered name can be collected again without
repeating where it lives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from src.data.database import get_engine
from src.data.feature_schema import FeatureSchema, infer_schema_with_exclusions
from src.data.source_options import SourceOptions
from src.data.sources import SourceSpec, default_source_name, resolve_source, source_kind
from src.data.storage import insert_ignore
from src.data.tables import DataSource, RawData
from src.data.values import label_texts
from src.exceptions import DataSourceError, NoDataError, SchemaError

logger = logging.getLogger(__name__)

POSITIVE_GUESSES = ("bad", "default", "defaulted", "yes", "y", "true", "1")


def registration(engine: Engine, name: str) -> DataSource | None:
    """The stored registration of ``name`` (detached from any session), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(DataSource).where(DataSource.name == name)).first()
    if row is None:
        return None
    return DataSource(
        name=row.name, kind=row.kind, location=row.location, feature_schema=row.feature_schema
    )


def get_source_schema(*, source: str, engine: Engine | None = None) -> FeatureSchema:
    """The stored schema of a collected source; ``NoDataError`` when never collected."""
    engine = engine or get_engine()
    stored = registration(engine, source)
    if stored is None or stored.feature_schema is None:
        with engine.connect() as conn:
            known = list(conn.scalars(select(DataSource.name).order_by(DataSource.name)))
        raise NoDataError(
            f"source {source!r} has never been collected (known sources: {known or 'none'}); "
            "run `loan-default collect` first"
        )
    return FeatureSchema.from_dict(dict(stored.feature_schema))


def list_sources(*, engine: Engine | None = None) -> list[dict[str, Any]]:
    """Registered sources with their kind, location and stored row counts."""
    engine = engine or get_engine()
    raw_counts = select(RawData.source, func.count().label("n")).group_by(RawData.source).subquery()
    stmt = (
        select(
            DataSource.name,
            DataSource.kind,
            DataSource.location,
            DataSource.created_at,
            func.coalesce(raw_counts.c.n, 0),
        )
        .outerjoin(raw_counts, raw_counts.c.source == DataSource.name)
        .order_by(DataSource.name)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {"name": n, "kind": k, "location": loc, "created_at": c, "raw_rows": int(cnt)}
        for n, k, loc, c, cnt in rows
    ]


def resolve_registered(
    *, engine: Engine, source: str, options: SourceOptions
) -> tuple[SourceSpec, DataSource | None]:
    """The spec to read ``source`` with, filled in from its stored registration if any.

    ``options.na_values`` (None: not given) is fixed at the first collect like the schema:
    reading "NA" as missing in one run and as text in the next would change the
    stored values and the content keys of the same rows.
    """
    source_name = default_source_name(source, name=options.name)
    stored = registration(engine, source_name)
    query = options.query
    if stored is None:
        read_with = replace(options, na_values=options.na_values or ())
    else:
        kind = source_kind(source)
        if kind is None:  # a registered name: read it again from where it was registered
            source, query = (
                ("sql", query or stored.location)
                if stored.kind == "sql"
                else (stored.location, query)
            )
        elif kind != stored.kind:
            raise DataSourceError(
                f"source name {source_name!r} is already a {stored.kind} source "
                f"({stored.location}); pass --name to store this one under another name"
            )
        known = FeatureSchema.from_dict(stored.feature_schema)
        reconcile(known, options=options)
        read_with = replace(
            options,
            target=options.target or known.target,
            positive=options.positive or known.positive_label,
            id_column=options.id_column or known.id_column,
            na_values=_stored_na_values(stored.feature_schema, options.na_values),
        )
    spec = resolve_source(replace(read_with, source=source, name=source_name, query=query))
    return spec, stored


def _stored_na_values(
    stored_schema: dict[str, Any], given: Sequence[str] | None
) -> tuple[str, ...] | None:
    """The NA tokens a registered source is read with; ``given`` must agree with them."""
    known = stored_schema.get("na_values")  # absent: registered before the option existed
    have = None if known is None else tuple(known)
    if given is not None and tuple(given) != have:
        stored_as = "pandas' default NA strings" if have is None else list(have)
        raise SchemaError(
            f"options contradict the stored schema of this source: na values {list(given)!r} "
            f"(stored: {stored_as}) (use --name to start a new source)"
        )
    return have


def register(engine: Engine, spec: SourceSpec, frame: pd.DataFrame) -> dict[str, Any]:
    """Infer and store the schema on a source's first collect (the first writer wins a race).

    The stored dict also keeps the two known labels (the positive and the most
    frequent other value); rows with any other label are quarantined later.
    """
    if frame.empty:
        raise DataSourceError(f"{spec.describe()} returned no rows; cannot infer its schema")
    assert spec.target is not None  # resolve_source guarantees it
    labels = label_texts(frame[spec.target])
    counts = pd.Series(labels, dtype=object).value_counts()
    positive = spec.positive_label or _guess_positive(spec.target, list(counts.index))
    if positive not in counts.index:
        raise SchemaError(
            f"positive label {positive!r} not found in target {spec.target!r}; "
            f"values seen: {sorted(counts.index)[:10]}"
        )
    negatives = sorted((-int(c), str(v)) for v, c in counts.items() if v != positive)
    if not negatives:
        raise SchemaError(f"target {spec.target!r} holds only {positive!r}; need two classes")
    if len(negatives) > 1:
        logger.warning(
            "target %r of %s: values %s are neither %r nor %r; such rows will be quarantined",
            spec.target,
            spec.name,
            [v for _, v in negatives[1:11]],
            positive,
            negatives[0][1],
        )
    schema, excluded = infer_schema_with_exclusions(
        frame.assign(**{spec.target: pd.Series(labels, index=frame.index, dtype=object)}),
        target=spec.target,
        positive_label=positive,
        id_column=spec.id_column,
        categorical=spec.categorical,
        numerical=spec.numerical,
    )
    if excluded:
        logger.warning(
            "%s: %d column(s) not used as features: %s (pass --categorical or --numerical "
            "with a new --name to use one anyway)",
            spec.describe(),
            len(excluded),
            "; ".join(f"{col!r} {why}" for col, why in excluded.items()),
        )
    row = {
        "name": spec.name,
        "kind": spec.kind,
        "location": spec.location,
        "feature_schema": schema.to_dict()
        | {
            "labels": [positive, negatives[0][1]],
            "na_values": list(spec.na_values or ()),
            "excluded": excluded,
        },
    }
    with engine.begin() as conn:
        insert_ignore(conn, DataSource, [row], ["name"])
    winner = registration(engine, spec.name)
    assert winner is not None
    logger.info("registered %s with schema %s", spec.describe(), winner.feature_schema)
    return dict(winner.feature_schema)


def _guess_positive(target: str, labels: list[str]) -> str:
    for guess in POSITIVE_GUESSES:
        match = [label for label in labels if label.lower() == guess]
        if match:
            return match[0]
    raise SchemaError(
        f"cannot tell which value of target {target!r} is the positive class "
        f"(values: {sorted(labels)[:10]}); pass --positive"
    )


def reconcile(schema: FeatureSchema, *, options: SourceOptions) -> None:
    """Explicit options must agree with the stored schema (it is fixed at first collect)."""
    problems = [
        f"{what} {given!r} (stored: {have!r})"
        for what, given, have in (
            ("target", options.target, schema.target),
            ("positive label", options.positive, schema.positive_label),
            ("id column", options.id_column, schema.id_column),
        )
        if given is not None and given != have
    ]
    for role, given, have in (
        ("categorical", options.categorical, schema.categorical),
        ("numerical", options.numerical, schema.numerical),
    ):
        for col in given or ():
            if col not in have:
                stored_as = (
                    "categorical"
                    if col in schema.categorical
                    else "numerical"
                    if col in schema.numerical
                    else "not a feature"
                )
                problems.append(f"{role} column {col!r} (stored as {stored_as})")
    if problems:
        raise SchemaError(
            "options contradict the stored schema of this source: "
            + "; ".join(problems)
            + " (use --name to start a new source)"
        )
