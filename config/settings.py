"""The one settings object, read from the environment and `.env`.

Names match the reference design's environment variables (``DATABASE_URL``,
``F1_SCORE_THRESHOLD`` ...); pydantic-settings matches them case-insensitively.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the stack; each one is also listed in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- storage -------------------------------------------------------------
    database_url: str = "sqlite:///./data/loan_default.db"
    model_path: Path = Path("./models")
    log_level: str = "INFO"

    # --- data collection -----------------------------------------------------
    data_source: str = "lending_club"
    ingest_batch_size: int = Field(default=2000, ge=1)
    # Finite numbers beyond this magnitude are quarantined at ingest: values near 1e308
    # overflow the training statistics (a mean of inf, NaN predictions).
    max_abs_numeric_value: float = Field(default=1e15, gt=0.0, allow_inf_nan=False)
    # The data_collection DAG's default for its ``unlabelled`` param: rows with an empty label
    # are applications without an outcome yet (unlabelled_data) rather than quarantined.
    collect_unlabelled: bool = False

    # --- retraining policy ---------------------------------------------------
    f1_score_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    retraining_sample_threshold: int = Field(default=1000, ge=1)
    f1_window_days: int = Field(default=7, ge=1)
    retrain_cooldown_hours: float = Field(default=24.0, ge=0.0)
    promotion_metric: Literal["roc_auc", "f1_score", "pr_auc"] = "roc_auc"
    promotion_min_delta: float = 0.0
    # SR 11-7 benchmark rule: refuse to deploy a model whose test ROC-AUC does not exceed its
    # own logistic-regression benchmark's (src.models.baselines; same rows). Models registered
    # before benchmarks were recorded have none and are not blocked.
    require_beat_benchmark: bool = False

    # --- monitoring (drift, outcomes, estimated performance) -------------------
    # PSI/CSI is measured over the last DRIFT_WINDOW_DAYS of logged predictions (and over the
    # rows collected since the model's training snapshot); a window with fewer than
    # DRIFT_MIN_SAMPLES rows is reported, not measured.  A prediction older than
    # OUTCOME_WINDOW_DAYS has a matured outcome: a missing one is reported, never taken as good.
    drift_window_days: int = Field(default=7, ge=1)
    drift_min_samples: int = Field(default=100, ge=1)
    # On PostgreSQL, live drift counts a repeatable random sample of about this many rows of
    # the window when more than that are left outside the write-time rollup (0: count every
    # row; docs/monitoring.md).  The reference profile has a few thousand
    # rows, so past ~25,000 current rows most of PSI's noise is the reference's, not the sample's.
    drift_sample_rows: int = Field(default=25_000, ge=0)
    outcome_window_days: int = Field(default=365, ge=0)
    # Bands of the credit-risk convention: < investigate stable, > act act (and above the
    # 99th percentile of PSI under no change, so small samples do not raise alarms).
    psi_investigate_threshold: float = Field(default=0.1, gt=0.0)
    psi_act_threshold: float = Field(default=0.25, gt=0.0)
    # Retrain when at least this many features are in "act".
    drift_act_features_threshold: int = Field(default=1, ge=1)
    # Retrain when realised or estimated F1 / ROC-AUC fall more than this fraction below the
    # model's own held-out test figure.
    performance_drop_ratio: float = Field(default=0.1, gt=0.0, lt=1.0)
    # How validation scores become PDs: auto = Platt or isotonic, whichever has the lower
    # cross-validated log loss on the validation split.
    calibration_method: Literal["auto", "platt", "isotonic", "none"] = "auto"

    # --- model hyperparameters ------------------------------------------------
    # Reference design values, except BATCH_SIZE (32 -> 256: 2.5x faster per epoch on 2 CPU
    # cores, same AUC) and LEARNING_RATE (3e-4 -> 1e-3, scaled with the batch); see README.
    d_model: int = Field(default=32, ge=4)
    nhead: int = Field(default=4, ge=1)
    num_layers: int = Field(default=6, ge=1)
    dim_feedforward: int = Field(default=64, ge=4)
    dropout_rate: float = Field(default=0.3, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    batch_size: int = Field(default=256, ge=2)
    weight_decay: float = Field(default=0.05, ge=0.0)

    # Where a train run's hyperparameters come from (src.pipeline.training_presets): auto =
    # the source's newest `loan-default tune` result if any, else these defaults; tuned = that
    # result (an error without one); defaults = these settings; reference = the reference
    # design's values.  A hyperparameter set explicitly in the environment wins over any preset.
    training_preset: Literal["auto", "tuned", "defaults", "reference"] = "auto"

    # --- training schedule ---------------------------------------------------
    pretrain_epochs: int = Field(default=10, ge=0)
    finetune_epochs: int = Field(default=40, ge=1)
    patience: int = Field(default=6, ge=1)
    seed: int = 42
    corruption_rate: float = Field(default=0.6, ge=0.0, le=1.0)
    temperature: float = Field(default=0.5, gt=0.0)
    projection_dim: int = Field(default=32, ge=2)
    # How numerical features reach the TabTransformer: plain = one scaled, layer-normed vector
    # joined after the attention; ple = each feature a token (piecewise-linear encoding over
    # PLE_BINS training-quantile bins, src.models.numeric_embedding) that the attention sees.
    numeric_embedding: Literal["plain", "ple"] = "plain"
    ple_bins: int = Field(default=16, ge=1, le=256)
    # Rows without a label that contrastive pretraining sees besides the training split
    # (src.pipeline.pretrain_pool); fine-tuning, calibration and evaluation never see them.
    # Off by default: the pool helped on lending_club and hurt on credit_data
    # (docs/benchmarks.md, "Pretraining on unlabelled applicants").
    pretrain_on_unlabelled: bool = False
    pretrain_on_predictions: bool = False
    # Fine-tuned members whose probabilities one artifact averages (src.models.ensemble):
    # 1 = a single model; K > 1 pretrains once and fine-tunes K copies with seeds SEED..SEED+K-1.
    ensemble_size: int = Field(default=1, ge=1, le=16)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=0.9)
    torch_num_threads: int = Field(default=1, ge=1)
    # Where training, batch scoring and serving run the model: auto = CUDA when this PyTorch
    # build sees a GPU, else CPU; cuda (or cuda:N) refuses to start without one
    # (src.models.device).  Artifacts are always stored as CPU tensors.
    device: str = "auto"

    # --- serving -------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # A client that holds a connection cannot hold the server: the whole request body must
    # arrive within API_BODY_TIMEOUT_SECONDS (408 otherwise), an idle keep-alive connection is
    # closed after API_TIMEOUT_KEEP_ALIVE_SECONDS, and beyond API_LIMIT_CONCURRENCY open
    # connections/tasks uvicorn answers 503 (`loan-default serve` and the container use these).
    api_body_timeout_seconds: float = Field(default=30.0, gt=0.0)
    api_timeout_keep_alive_seconds: int = Field(default=5, ge=1)
    api_limit_concurrency: int = Field(default=64, ge=1)
    # uvicorn worker processes of `loan-default serve` (its --workers flag wins).  Each one
    # loads, polls and hot-swaps the model and flushes its prediction log on its own; with
    # more than one, /metrics merges all workers (Prometheus multiprocess mode).  The limits
    # above (and TORCH_NUM_THREADS, the database pool) apply per worker.
    web_concurrency: int = Field(default=1, ge=1)
    model_poll_interval_seconds: float = Field(default=10.0, gt=0.0)
    admin_api_key: SecretStr | None = None
    predict_api_key: SecretStr | None = None
    max_batch_size: int = Field(default=1000, ge=1)
    # Adaptive micro-batching of concurrent /predict calls: a lone request is scored at once;
    # under load, requests wait at most BATCH_MAX_LATENCY_MS to share one forward pass of at
    # most BATCH_MAX_SIZE rows (1: no batching).
    batch_max_size: int = Field(default=64, ge=1)
    batch_max_latency_ms: float = Field(default=2.0, ge=0.0)
    max_request_bytes: int = Field(default=2_000_000, ge=1024)
    # ?explain=true costs (features + 1) model rows per record: they go through the model at
    # most EXPLAIN_ROWS_PER_PASS at a time (bounded memory, ~100 KiB per row at 64 features),
    # and a request may ask for at most MAX_EXPLAIN_CELLS records x features (413 above: CPU
    # time grows with it, ~65 ms per record at 64 features on one core).
    explain_rows_per_pass: int = Field(default=1024, ge=1)
    max_explain_cells: int = Field(default=20_000, ge=1)
    # `loan-default score`: source rows scored (and committed) per transaction.  A run killed
    # mid-way loses at most one chunk of work; larger chunks amortise the per-commit cost.
    batch_scoring_chunk_size: int = Field(default=10_000, ge=1)
    prediction_log_buffer_size: int = Field(default=100_000, ge=1)
    prediction_log_flush_seconds: float = Field(default=1.0, gt=0.0)
    cors_origins: list[str] = Field(default_factory=list)
    # Shadow scoring of a challenger (docs/shadow.md): SHADOW_MODE=on scores SHADOW_SHARE of
    # the traffic also with the line's newest candidate (or the version `loan-default shadow`
    # named, which works with SHADOW_MODE=off too), off the request path: a bounded queue of
    # SHADOW_QUEUE_SIZE requests that drops (and counts) when full.  SHADOW_SHARE=0 turns
    # shadow scoring off whatever was named.  SHADOW_MIN_SAMPLES > 0: `deploy` refuses to
    # promote a candidate over a champion before it has shadow-scored that many applications.
    shadow_mode: Literal["off", "on"] = "off"
    shadow_share: float = Field(default=1.0, ge=0.0, le=1.0)
    shadow_queue_size: int = Field(default=1000, ge=1)
    shadow_min_samples: int = Field(default=0, ge=0)

    @field_validator("admin_api_key", "predict_api_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("device", mode="before")
    @classmethod
    def _known_device(cls, value: object) -> object:
        return check_device_name(value) if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _non_empty_url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("DATABASE_URL must not be empty")
        return quote_password(value.strip())

    @model_validator(mode="after")
    def _ordered_psi_bands(self) -> Settings:
        if self.psi_investigate_threshold >= self.psi_act_threshold:
            raise ValueError(
                f"PSI_INVESTIGATE_THRESHOLD ({self.psi_investigate_threshold}) must be below "
                f"PSI_ACT_THRESHOLD ({self.psi_act_threshold})"
            )
        return self

    @model_validator(mode="after")
    def _consistent_model_shape(self) -> Settings:
        # Checked here, not by an assert deep in the model: a run must not be created first.
        if self.d_model % self.nhead:
            raise ValueError(
                f"D_MODEL ({self.d_model}) must be divisible by NHEAD ({self.nhead}); "
                f"e.g. NHEAD in {[h for h in range(1, self.d_model + 1) if self.d_model % h == 0]}"
            )
        return self


DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(value: str) -> str:
    """``value`` normalised (trimmed, lower case) if it names a device we support, else ValueError.

    Here, not in ``src.models.device``, so that Settings validates without importing torch
    (the CLI reports a bad setting in one line before loading anything heavy);
    ``TrainingConfig`` uses it too, so a stored config is held to the same rule.
    """
    name = value.strip().lower()
    if not _DEVICE_RE.fullmatch(name):
        raise ValueError(f"DEVICE must be one of {', '.join(DEVICE_CHOICES)}")
    return name


def quote_password(url: str) -> str:
    """Percent-encode a password that holds an unencoded ``@`` (or ``:``) in a database URL.

    ``postgresql://u:p@ss@host/db`` is otherwise parsed with host ``ss@host``: the connection
    fails and the error message prints part of the password.  The LAST ``@`` before the path
    separates the credentials from the host, which is what the user meant.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if authority.count("@") < 2:
        return url
    credentials, _, host = authority.rpartition("@")
    user, colon, password = credentials.partition(":")
    if not colon:
        return url
    encoded = quote(password, safe="")
    return f"{scheme}://{user}:{encoded}@{host}{slash}{path}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Cached so the whole process shares one object; tests call ``cache_clear``.

    Read lazily (no module-level instance): an invalid setting then surfaces where the CLI,
    the API or a task can report it in one line, not as a traceback at import time.
    """
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """One line per invalid setting, named as the user wrote it (the environment variable)."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error.get("loc", ())).upper() or "settings"
        given = error.get("input")
        shown = f" (got {given!r})" if isinstance(given, (str, int, float)) else ""
        parts.append(f"{name}: {error.get('msg', 'invalid')}{shown}")
    return "invalid settings: " + "; ".join(parts)
