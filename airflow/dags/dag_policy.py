"""Retry policy shared by every DAG in this folder: one list of errors that a retry cannot fix.

The DAG files import ``DEFAULT_ARGS`` from here (Airflow puts the DAG folder on ``sys.path``
when it parses a file or runs a task), so all tasks back off the same way and fail at once
on the same errors.  This module is parsed with the DAG files: it imports only the public
``airflow.sdk`` and the standard library (``tests/airflow`` checks that), and it names the
exceptions by dotted path, so parsing imports nothing from ``src``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, Param, RetryAction, RetryRule, dag

# Errors that come back unchanged on every try, so a retry only delays the failure (and,
# for training, repeats hours of work).  Subclasses match too.  Deliberately absent:
# ``DataSourceError``: a SQL source's server or a mounted file may be back a minute later;
# database and network errors (SQLAlchemy, psycopg): the usual transient failures.
NOT_RETRYABLE_EXCEPTIONS: tuple[str, ...] = (
    # A setting or argument is wrong (unknown source, bad option): a person must change it.
    "src.exceptions.ConfigurationError",
    # Options contradict the stored schema, or a schema is invalid: fixed until changed.
    "src.exceptions.SchemaError",
    # Too few stored rows: more arrive with the next collect, not within a retry delay.
    "src.exceptions.NoDataError",
    # The model version (or an active model) does not exist: a retry finds the same rows.
    "src.exceptions.ModelNotFoundError",
    # An artifact failed its checksum or cannot be decoded: the stored bytes do not change.
    "src.exceptions.ArtifactIntegrityError",
    # A promotion lost a race or failed its gate: repeating it must not flip the decision.
    "src.exceptions.PromotionError",
    # A batch run's rows are still unscored after its scoring tasks: re-counting finds the same.
    "src.exceptions.IncompleteBatchError",
    # Records do not match the model's schema: the same records fail the same way.
    "src.exceptions.InvalidInputError",
    # A bug or bad data in our own code (validation logic, frames): deterministic.
    "builtins.ValueError",
    "builtins.TypeError",
)

NOT_RETRYABLE = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=list(NOT_RETRYABLE_EXCEPTIONS),
            action=RetryAction.FAIL,
            reason="configuration, data or logic error: fix the cause, then clear the task",
        )
    ]
)

# Back-off 1, 2, 4 ... minutes, capped; a DAG or task may override any of these.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mlops",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=20),
    "retry_policy": NOT_RETRYABLE,
}

# What every DAG of the product shares: one run at a time, no backfill of past dates.
COMMON_DAG_ARGS: dict[str, Any] = {
    "start_date": datetime(2024, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}
# The two daily DAGs (collection, validation): a run longer than this is stuck.
DAILY_DAG_ARGS: dict[str, Any] = COMMON_DAG_ARGS | {
    "schedule": "@daily",
    "dagrun_timeout": timedelta(hours=2),
}


def daily_dag(
    dag_id: str, description: str, *, params: dict[str, Param], tag: str, doc: str | None
) -> Any:
    """``@dag`` for a daily DAG of the product (``DAILY_DAG_ARGS``), tagged ``loan-default``."""
    return dag(
        dag_id=dag_id,
        description=description,
        params=params,
        tags=["loan-default", tag],
        doc_md=doc,
        **DAILY_DAG_ARGS,
    )


def optional_param(kind: str, description: str, **bounds: Any) -> Param:
    """A trigger-form param that may be left empty (null: the setting's default applies)."""
    return Param(None, type=["null", kind], description=description, **bounds)


def required_param(kind: str, description: str, **bounds: Any) -> Param:
    """A trigger-form param with no default: a run cannot start until it is given."""
    return Param(type=kind, description=description, **bounds)


def source_param() -> Param:
    """The model line (source) param every DAG takes; a fresh object per DAG."""
    return optional_param("string", "data source (default DATA_SOURCE)")
