"""The registry listing behind ``GET /models``: every version, its metrics and the deltas
to the champion it was measured against when it arrived.

"Previous champion" of a model is the model of the same line that was active when it was
registered (the last ``promoted`` event before its creation).  Deltas compare registry test
metrics; when the two models' test rows differ, the report's same-rows comparison is the
one to trust, which the page says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.data import repository as repo
from src.data.tables import ModelEvent, ModelMetadata
from src.reporting.sections import clean

LISTED = ("roc_auc", "gini", "ks", "f1_score", "brier_score", "ece")
DELTAS = ("roc_auc", "ks", "f1_score")


def registry_listing(session: Session, *, source: str | None = None) -> list[dict[str, Any]]:
    """Newest first; plain data for the HTML page and ``GET /models.json``."""
    models = list(repo.list_models(session, source=source))
    by_version = {m.model_version: m for m in models}
    promotions = session.execute(
        select(ModelEvent.created_at, ModelEvent.model_version)
        .where(ModelEvent.event == "promoted", ModelEvent.success.is_(True))
        .order_by(ModelEvent.created_at, ModelEvent.id)
    ).all()
    rows = []
    for model in reversed(models):
        previous = _previous_champion(model, promotions, by_version)
        rows.append(
            {
                "version": model.model_version,
                "source": model.source,
                "status": model.status,
                "status_reason": model.status_reason,
                "created_at": model.created_at.isoformat(),
                "n_test": (model.data_snapshot or {}).get("n_test"),
                "metrics": {name: getattr(model, name) for name in LISTED},
                "previous_champion": previous.model_version if previous else None,
                "deltas": (
                    {name: _delta(getattr(model, name), getattr(previous, name)) for name in DELTAS}
                    if previous
                    else None
                ),
                "report": f"/models/{model.model_version}/report",
                "card": f"/models/{model.model_version}/card.json",
            }
        )
    return clean(rows)


def _previous_champion(
    model: ModelMetadata, promotions: Any, by_version: dict[str, ModelMetadata]
) -> ModelMetadata | None:
    champion = None
    for at, version in promotions:
        if at > model.created_at:
            break
        other = by_version.get(version or "")
        if other is not None and other.source == model.source and version != model.model_version:
            champion = other
    return champion


def _delta(mine: float | None, theirs: float | None) -> float | None:
    return None if mine is None or theirs is None else mine - theirs
