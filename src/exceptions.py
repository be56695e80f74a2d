"""Domain exceptions; the API maps them to HTTP statuses in ``src.api``, the CLI to one line."""

from __future__ import annotations


class LoanDefaultError(Exception):
    """Base class: every error a user can cause or fix derives from it."""


class ConfigurationError(LoanDefaultError):
    """A setting or argument is inconsistent (for example an unknown source)."""


class DataSourceError(LoanDefaultError):
    """A source cannot be read, or its schema does not fit what was asked for."""


class SchemaError(LoanDefaultError):
    """A feature schema is invalid (overlapping columns, missing target ...)."""


class MissingColumnError(DataSourceError, SchemaError):
    """A column the caller named (id, target, date) is not in the source.

    Still a ``DataSourceError`` for callers that catch those, and a ``SchemaError`` so that
    Airflow's retry policy fails it at once: re-reading the same source finds the same columns.
    """


class NoDataError(LoanDefaultError):
    """There are not enough stored rows for the requested operation."""


class IncompleteBatchError(LoanDefaultError):
    """A batch run cannot be completed: some of its rows have no score."""


class ModelNotFoundError(LoanDefaultError):
    """The requested model version (or an active model) does not exist."""


class ArtifactIntegrityError(LoanDefaultError):
    """A stored artifact failed its checksum or could not be decoded safely."""


class PromotionError(LoanDefaultError):
    """A model cannot be activated (wrong status, failed gate, lost a race)."""


class InvalidInputError(LoanDefaultError):
    """A prediction request does not match the model's feature schema."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ExplainTooLarge(LoanDefaultError):
    """``explain=true`` asked for more records x features than MAX_EXPLAIN_CELLS allows.

    Occlusion costs one model row per (record, feature): an unbounded request is an unbounded
    amount of CPU time for one caller.
    """

    def __init__(self, records: int, features: int, limit: int) -> None:
        super().__init__(
            f"explain=true: {records} records x {features} features = {records * features} "
            f"exceeds MAX_EXPLAIN_CELLS ({limit}); send at most {max(limit // features, 1)} "
            "records per request when explaining, or omit explain"
        )
        self.records, self.features, self.limit = records, features, limit


class ModelUnavailableError(LoanDefaultError):
    """A model line exists but its model cannot be served right now (registry unreachable,
    or its active artifact fails to load); retrying later may succeed."""
