"""The hyperparameter search space of ``loan-default tune`` (documented in the README).

Versioned: a stored result records ``SEARCH_SPACE_VERSION``, so a result found in an older,
different space is recognisable.  Change a range, add or remove a parameter -> bump it.

Only architecture, optimisation and pretraining knobs are searched.  The schedule (epochs,
patience), the seed, the device and the numeric encoding stay the deployment's settings: the
search runs a shortened schedule to fit its budget, and a stored result must not shorten
production training.  ``nhead`` is drawn from divisors of every ``d_model`` choice, so every
point of the space is a valid model.
"""

from __future__ import annotations

from typing import Any, Protocol

SEARCH_SPACE_VERSION = 1

D_MODEL_CHOICES = (16, 32, 64)
NHEAD_CHOICES = (2, 4)
DIM_FEEDFORWARD_CHOICES = (32, 64, 128)
BATCH_SIZE_CHOICES = (128, 256, 512)

# name -> (kind, low, high, log) for numbers, or ("categorical", choices); the README table
# is this mapping.
SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": ("float", 1e-4, 3e-3, True),
    "weight_decay": ("float", 1e-3, 0.3, True),
    "dropout_rate": ("float", 0.0, 0.5, False),
    "d_model": ("categorical", D_MODEL_CHOICES),
    "nhead": ("categorical", NHEAD_CHOICES),
    "num_layers": ("int", 1, 6, False),
    "dim_feedforward": ("categorical", DIM_FEEDFORWARD_CHOICES),
    "batch_size": ("categorical", BATCH_SIZE_CHOICES),
    "corruption_rate": ("float", 0.2, 0.8, False),
    "temperature": ("float", 0.1, 1.0, True),
}


class Trial(Protocol):
    """The part of ``optuna.Trial`` the space uses (kept structural: no import needed here)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = ...) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = ...) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def suggest(trial: Trial) -> dict[str, Any]:
    """One point of the space: ``TrainingConfig`` field name -> value."""
    params: dict[str, Any] = {}
    for name, spec in SPACE.items():
        kind = spec[0]
        if kind == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=spec[3])
        elif kind == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2], log=spec[3])
        else:
            params[name] = trial.suggest_categorical(name, list(spec[1]))
    return params


def in_space(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` restricted to the space's names (e.g. the defaults, enqueued as trial 0).

    Values outside a range are kept: optuna evaluates an enqueued point as given.
    """
    return {name: params[name] for name in SPACE if name in params}
