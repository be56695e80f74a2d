"""``TrainingConfig``: the hyperparameters and schedule a run freezes and an artifact stores.

Its own module so that readers of a stored config (the artifact loader, the run machinery)
need not import the training loop, and so the defaults visibly come from one place:
``config.settings.Settings``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from config.settings import Settings, check_device_name
from src.models.calibration import CALIBRATION_METHODS
from src.models.ensemble import ENSEMBLE_PRETRAINING
from src.models.numeric_embedding import NUMERIC_ENCODINGS

EARLY_STOPPING_METRICS = ("roc_auc", "loss")


def _settings_default(name: str) -> Any:
    """The default ``config.settings.Settings`` declares: one set of defaults, not two.

    Read from the class, so no environment or ``.env`` is consulted here (this module does
    no I/O); the pipeline passes real settings through :meth:`TrainingConfig.from_settings`.
    """
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters and schedule; all but the last five fields are ``Settings``'.

    Their defaults come from Settings (the measured recommendation, module docstring);
    the last five are knobs Settings does not expose.
    """

    d_model: int = _settings_default("d_model")
    nhead: int = _settings_default("nhead")
    num_layers: int = _settings_default("num_layers")
    dim_feedforward: int = _settings_default("dim_feedforward")
    dropout_rate: float = _settings_default("dropout_rate")
    learning_rate: float = _settings_default("learning_rate")
    batch_size: int = _settings_default("batch_size")
    weight_decay: float = _settings_default("weight_decay")
    pretrain_epochs: int = _settings_default("pretrain_epochs")
    finetune_epochs: int = _settings_default("finetune_epochs")
    patience: int = _settings_default("patience")
    seed: int = _settings_default("seed")
    corruption_rate: float = _settings_default("corruption_rate")
    temperature: float = _settings_default("temperature")
    projection_dim: int = _settings_default("projection_dim")
    # plain | ple (src.models.numeric_embedding); configs stored before it existed are plain
    # (``from_dict``), whatever the current default.
    numeric_embedding: str = _settings_default("numeric_embedding")
    ple_bins: int = _settings_default("ple_bins")
    # Applied by the entry points (a stage, the API, the benchmarks), never inside training:
    # the thread count is process-wide state.
    torch_num_threads: int = _settings_default("torch_num_threads")
    # DEVICE as written (auto | cpu | cuda | cuda:N), resolved by src.models.device where the
    # model runs: a run prepared with "auto" trains on whatever its stage's machine has.
    # Configs stored before it existed read as the default.
    device: str = _settings_default("device")
    # How validation scores become PDs (src.models.calibration); configs stored before it
    # existed read as the default.
    calibration_method: str = _settings_default("calibration_method")
    # Fine-tuned members averaged in one artifact (src.models.ensemble); configs stored
    # before it existed read as 1 (``from_dict``), whatever the current default.
    ensemble_size: int = _settings_default("ensemble_size")
    # --- our own knobs (not in Settings; defaults chosen from measurements) ---
    early_stopping_metric: str = "roc_auc"  # "roc_auc" (higher is better) or "loss"
    # Early stopping compares the mean score of the last N epochs (src.models.early_stopping);
    # 1 = the single epoch's score.  Configs stored before it existed read as 1.
    early_stopping_window: int = 1
    numerical_embedding: bool = False
    use_cls: bool = False
    max_grad_norm: float = 1.0
    # With ensemble_size > 1: "shared" = pretrain once, copy into every member; "per_member"
    # = each member pretrains from its own seed (measured in docs/benchmarks.md).
    ensemble_pretraining: str = "shared"

    def __post_init__(self) -> None:
        # Raised, not asserted: ``python -O`` strips asserts, and a bad config must not train.
        if self.early_stopping_metric not in EARLY_STOPPING_METRICS:
            raise ValueError(
                f"early_stopping_metric must be one of {EARLY_STOPPING_METRICS}, "
                f"got {self.early_stopping_metric!r}"
            )
        if self.calibration_method not in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration_method must be one of {CALIBRATION_METHODS}, "
                f"got {self.calibration_method!r}"
            )
        try:
            check_device_name(self.device)
        except ValueError as exc:
            raise ValueError(f"{exc}, got {self.device!r}") from None
        if self.numeric_embedding not in NUMERIC_ENCODINGS:
            raise ValueError(
                f"numeric_embedding must be one of {NUMERIC_ENCODINGS}, "
                f"got {self.numeric_embedding!r}"
            )
        if self.numeric_embedding != "plain" and self.numerical_embedding:
            raise ValueError(
                "numeric_embedding=ple and numerical_embedding=True exclude each other"
            )
        if self.early_stopping_window < 1:
            raise ValueError(
                f"early_stopping_window must be >= 1, got {self.early_stopping_window}"
            )
        if self.ensemble_size < 1:
            raise ValueError(f"ensemble_size must be >= 1, got {self.ensemble_size}")
        if self.ensemble_pretraining not in ENSEMBLE_PRETRAINING:
            raise ValueError(
                f"ensemble_pretraining must be one of {ENSEMBLE_PRETRAINING}, "
                f"got {self.ensemble_pretraining!r}"
            )
        if self.ple_bins < 1:
            raise ValueError(f"ple_bins must be >= 1, got {self.ple_bins}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 (NT-Xent needs negatives), got {self.batch_size}"
            )

    @classmethod
    def from_settings(cls, settings: Any) -> TrainingConfig:
        """Read same-named lowercase attributes; fields Settings lacks keep their defaults."""
        values = {
            f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)
        }
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        # What a config stored before these fields existed meant, whatever today's default.
        before: dict[str, Any] = {
            "numeric_embedding": "plain",
            "early_stopping_window": 1,
            "ensemble_size": 1,
        }
        stored = before | dict(data)
        return cls(**{k: v for k, v in stored.items() if k in known})
