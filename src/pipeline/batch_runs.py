"""The life of a batch run: resolve the model and start (or reuse) the run, then complete it.

Shared by ``loan-default score`` (``src.pipeline.batch_scoring``) and the ``batch_scoring``
DAG (``src.pipeline.batch_plan``), so both refuse the same mistakes with the same errors,
before anything is written, and complete a run only when every one of its rows is scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from src.data import batch_repository as batch
from src.data import repository as repo
from src.data.database import session_scope
from src.exceptions import ConfigurationError, ModelNotFoundError, NoDataError
from src.pipeline.model_lines import resolve_line
from src.pipeline.serving import predictor_for

if TYPE_CHECKING:
    import torch

    from src.data.batch_tables import BatchRun
    from src.data.tables import ModelMetadata
    from src.models.predictor import Predictor


def open_run(
    *,
    source: str | None,
    model_version: str | None,
    run_id: str,
    chunk_size: int,
    device: torch.device | None = None,
) -> tuple[BatchRun, Predictor]:
    """Check everything, verify the artifact, then start (or reuse) the run; nothing is
    written before every check has passed, so a refused run leaves no row behind.

    The predictor runs on ``device`` (default CPU: planning only verifies the artifact)."""
    if chunk_size < 1:
        raise ConfigurationError(f"chunk size must be at least 1, got {chunk_size}")
    model, run = _resolve(source=source, model_version=model_version, run_id=run_id)
    predictor = predictor_for(model, device=device)  # verified before the run is created
    if run is None:
        run = _start(run_id=run_id, model=model, chunk_size=chunk_size)
    return run, predictor


def _resolve(
    *, source: str | None, model_version: str | None, run_id: str
) -> tuple[ModelMetadata, BatchRun | None]:
    """The model to score with and the stored run (None for a new one); raises on any mismatch."""
    with session_scope() as session:
        run = batch.get_run(session, run_id=run_id)
    if run is not None:
        for name, given, stored in (
            ("source", source, run.source),
            ("model", model_version, run.model_version),
        ):
            if given is not None and given != stored:
                raise ConfigurationError(
                    f"batch run {run_id!r} scores {name} {stored!r}, not {given!r}; "
                    "use a new run id to score with other settings"
                )
        source, model_version = run.source, run.model_version
    if model_version is not None:
        with session_scope() as session:
            model = repo.get_model(session, version=model_version)
        if source is not None and source != model.source:
            raise ConfigurationError(
                f"model {model_version} belongs to model line {model.source!r}, "
                f"not to source {source!r}"
            )
        line = model.source
    else:
        line = resolve_line(source)
    with session_scope() as session:
        n_rows, _ = batch.source_extent(session, source=line)
        if not n_rows:
            raise NoDataError(
                f"source {line!r} has no stored rows to score; run `loan-default collect` first"
            )
        if model_version is None:
            active = repo.get_active_model(session, source=line)
            if active is None:
                raise ModelNotFoundError(
                    f"model line {line!r} has no active model; run `loan-default train` "
                    "or name one with --model"
                )
            model = active
    return model, run


def _start(*, run_id: str, model: ModelMetadata, chunk_size: int) -> BatchRun:
    """Record the run as ``running``, fixing the rows it covers (those stored now)."""
    with session_scope() as session:
        extent = batch.source_extent(session, source=model.source)
        run = batch.create_run(
            session, run_id=run_id, model=model, chunk_size=chunk_size, extent=extent
        )
    if (run.source, run.model_version) != (model.source, model.model_version):
        raise ConfigurationError(f"batch run {run_id!r} was just started with other settings")
    return run


def complete_if_done(*, run_id: str) -> tuple[str, int]:
    """``(status, rows scored)`` of the run, marking it complete once every row is scored.

    ``FOR UPDATE`` on the run row waits for the ranges writing (they hold it ``FOR SHARE``),
    so the count sees every score they commit.
    """
    with session_scope() as session:
        run = batch.lock_run(session, run_id=run_id)
        scored = batch.count_scores(session, run_id=run_id)
        if run.status != "complete" and scored >= run.rows_total:
            batch.mark_complete(session, run_id=run_id)
            return "complete", scored
        return run.status, scored
