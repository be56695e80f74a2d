"""Which hyperparameters a ``train`` run uses: ``TRAINING_PRESET`` and its precedence.

Precedence, highest first (README "Tuning"):

1. A hyperparameter set explicitly in the environment or ``.env`` (``LEARNING_RATE=...``):
   an operator's explicit choice always wins, whatever the preset.
2. The preset's values: ``tuned`` = the source's newest ``loan-default tune`` result
   (``loan_data.tuned_configs``), ``reference`` = the reference design's hyperparameters,
   ``defaults`` = none (the Settings defaults).  ``auto`` (the default) is ``tuned`` when the
   source has a stored search and ``defaults`` otherwise, so running ``tune`` once is enough
   for later runs, the DAG's included, to pick its result up.
3. The Settings defaults (``config/settings.py``).

The preset actually applied, the tuned row's id and the explicit settings that won are
recorded in the run's config and so in ``model_metadata.training_config``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from config.settings import Settings
from src.data.database import session_scope
from src.data.tuning_repository import latest_tuned_config
from src.exceptions import ConfigurationError
from src.models.training_config import TrainingConfig

logger = logging.getLogger(__name__)

PRESETS = ("auto", "tuned", "defaults", "reference")

# The reference design's hyperparameters (its README.ko.md, "주요 하이퍼파라미터"); the
# Settings defaults differ in BATCH_SIZE and LEARNING_RATE (README, Configuration).
REFERENCE: dict[str, Any] = {
    "d_model": 32,
    "nhead": 4,
    "num_layers": 6,
    "dim_feedforward": 64,
    "dropout_rate": 0.3,
    "learning_rate": 3e-4,
    "batch_size": 32,
}


@dataclass(frozen=True)
class ResolvedConfig:
    """A run's config and where its values came from (recorded with the model)."""

    config: TrainingConfig
    preset: str  # the preset applied: tuned | reference | defaults (never auto)
    tuned_config_id: int | None
    explicit: tuple[str, ...]  # hyperparameters the environment set, which won over the preset

    def recorded(self) -> dict[str, Any]:
        """The run's stored config: the fields, plus the provenance keys above.

        ``TrainingConfig.from_dict`` ignores the extra keys, so stored runs still load.
        """
        return self.config.to_dict() | {
            "training_preset": self.preset,
            "tuned_config_id": self.tuned_config_id,
            "explicit_settings": list(self.explicit),
        }


def resolve_training_config(settings: Settings, *, source: str) -> ResolvedConfig:
    """The config a new run of ``source`` trains with, by the precedence above.

    ``TRAINING_PRESET=tuned`` with no stored search for ``source`` is an error (one line),
    not a silent fall-back: the operator asked for something that does not exist.
    """
    base = TrainingConfig.from_settings(settings)
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    explicit = tuple(sorted(set(settings.model_fields_set) & fields))
    requested = settings.training_preset
    values: dict[str, Any] = {}
    tuned_id: int | None = None
    preset = "defaults"
    if requested in ("auto", "tuned"):
        with session_scope() as session:
            row = latest_tuned_config(session, source=source)
            if row is not None:
                values, tuned_id, preset = dict(row.config), row.id, "tuned"
        if row is None and requested == "tuned":
            raise ConfigurationError(
                f"TRAINING_PRESET=tuned but no tuned configuration is stored for source "
                f"{source!r}: run `loan-default tune --source {source} --trials N` first"
            )
    elif requested == "reference":
        values, preset = dict(REFERENCE), "reference"
    applied = {k: v for k, v in values.items() if k in fields and k not in explicit}
    config = dataclasses.replace(base, **applied)
    if config.d_model % config.nhead:
        raise ConfigurationError(
            f"preset {preset!r} with the explicit settings {list(explicit)} gives D_MODEL "
            f"{config.d_model} not divisible by NHEAD {config.nhead}"
        )
    logger.info(
        "training preset %s (TRAINING_PRESET=%s%s): %s; explicit settings kept: %s",
        preset,
        requested,
        f", tuned config {tuned_id}" if tuned_id is not None else "",
        applied or "no changes",
        list(explicit) or "none",
    )
    return ResolvedConfig(config=config, preset=preset, tuned_config_id=tuned_id, explicit=explicit)
