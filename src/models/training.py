"""Training: supervised fine-tuning (after ``src.models.pretraining``), and inference.

Why it is built this way:

* Everything random draws from generators seeded by ``config.seed`` (and ``set_seed`` for
  weight init and dropout), so the same seed, data and thread count give identical weights.
* Class imbalance (≈5% defaults in lending_club) is handled by ``BCEWithLogits`` with
  ``pos_weight = n_negative / n_positive``: every row is still seen each epoch, unlike
  balanced sampling, and the decision threshold is re-chosen on validation data anyway.
* Early stopping watches validation ROC-AUC (``early_stopping_metric="roc_auc"``), the metric
  models are promoted on; validation loss is available as ``"loss"``.  The score can be a
  mean over the last ``early_stopping_window`` epochs (``src.models.early_stopping``: a small
  validation split makes one epoch's AUC noisy); the weights of the best window's middle epoch
  are restored at the end.
* Nothing here sets the torch thread count: it is process-wide, so the entry points
  (a pipeline stage, the API, the benchmarks) apply ``torch_num_threads``.
* The model runs on ``config.device`` (``src.models.device``); batches are copied there one
  at a time (device memory is bounded by the batch, not the data), batch order is drawn on
  CPU, and losses, metrics and predictions come back as CPU values.

Measured (docs/benchmarks.md, "what we tried"; 5 paired folds): the Settings defaults give
test ROC-AUC ~0.72-0.74 on lending_club (logistic regression 0.755) and ~0.84 on credit_data.
``numeric_embedding="ple"`` helps without pretraining but ties with it at ~3.4x the cost per
epoch, so it is opt-in; a Wide & Deep linear skip and an EMA of the weights were within fold
noise or worse, so both were removed.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from src.models.device import model_device, resolve_device
from src.models.early_stopping import SmoothedEarlyStopping
from src.models.ensemble import ScoringModel
from src.models.metrics import classification_metrics
from src.models.preprocessing import Preprocessor
from src.models.training_config import TrainingConfig
from src.models.transformer import TabTransformer

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    best_epoch: int  # 1-based epoch whose weights were restored
    # Validation ROC-AUC (or minus the validation loss), averaged over the best window of
    # ``early_stopping_window`` epochs centred on best_epoch (src.models.early_stopping)
    best_score: float
    history: list[dict[str, float]]


def set_seed(seed: int) -> None:
    """Seed every global RNG that training touches (python, numpy, torch)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(preprocessor: Preprocessor, config: TrainingConfig) -> TabTransformer:
    """A freshly initialised model sized for the preprocessor's outputs (seeded init)."""
    set_seed(config.seed)
    return TabTransformer(
        cardinalities=preprocessor.cardinalities,
        n_numerical=preprocessor.n_numerical_out,
        d_model=config.d_model,
        nhead=config.nhead,
        num_layers=config.num_layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout_rate,
        numerical_embedding=config.numerical_embedding,
        use_cls=config.use_cls,
        numerical_groups=preprocessor.numerical_groups,
        numerical_tokens=preprocessor.numeric_encoding == "ple",
    )


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """A seeded shuffle of ``range(n)`` cut into batches (pretraining and fine-tuning)."""
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


def finetune(
    model: TabTransformer,
    train: tuple[Tensor, Tensor, Tensor],
    valid: tuple[Tensor, Tensor, Tensor],
    *,
    config: TrainingConfig,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FinetuneResult:
    """Supervised training with early stopping; ``train``/``valid`` are (x_cat, x_num, y).

    ``on_epoch(epoch, valid_roc_auc)`` is called after every epoch (1-based): the
    hyperparameter search reports to its pruner there and stops a hopeless trial by raising,
    without this module knowing about the search library.

    Seeds itself from ``config.seed`` (like ``build_model`` and ``pretrain``), so fine-tuning a
    stored pretrained model in a fresh process gives the same weights as one process doing all.
    Moves ``model`` to ``config.device`` and leaves it there; the tensors given stay on CPU.
    """
    x_cat, x_num, y = train
    v_cat, v_num, v_y = valid
    assert x_cat.shape[0] == x_num.shape[0] == y.shape[0], "train tensors differ in rows"
    assert v_cat.shape[0] == v_num.shape[0] == v_y.shape[0], "valid tensors differ in rows"
    y = y.float().view(-1)  # (n,)
    v_y_np = v_y.view(-1).numpy().astype(int)
    n_pos = float(y.sum())
    if not 0 < n_pos < len(y):
        raise ValueError("training labels need both classes")
    device = resolve_device(config.device)
    model.to(device)
    pos_weight = torch.tensor((len(y) - n_pos) / n_pos, device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    set_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    stopper: SmoothedEarlyStopping[dict[str, Tensor]] = SmoothedEarlyStopping(
        window=config.early_stopping_window, patience=config.patience
    )
    initial_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    bar = tqdm(range(config.finetune_epochs), desc="finetune", disable=not progress)
    for epoch in bar:
        model.train()
        total = 0.0
        for idx in batches(len(y), config.batch_size, generator):
            logits = model(x_cat[idx].to(device), x_num[idx].to(device))
            loss = loss_fn(logits, y[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            total += loss.item() * len(idx)
        valid_logits = predict_logits(model, v_cat, v_num)  # (n_valid,) on CPU
        valid_loss = float(loss_fn(valid_logits.to(device), v_y.float().view(-1).to(device)))
        proba = torch.sigmoid(valid_logits).double().numpy()
        valid_auc = classification_metrics(v_y_np, proba, threshold=0.5)["roc_auc"]
        use_auc = config.early_stopping_metric == "roc_auc" and not np.isnan(valid_auc)
        score = valid_auc if use_auc else -valid_loss
        stopper.update(score, lambda: copy.deepcopy(model.state_dict()))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / len(y),
                "valid_loss": valid_loss,
                "valid_roc_auc": valid_auc,
                "valid_score_smoothed": stopper.smoothed(),
            }
        )
        bar.set_postfix(loss=f"{total / len(y):.4f}", auc=f"{valid_auc:.4f}")
        logger.debug("finetune epoch %d: %s", epoch + 1, history[-1])
        if on_epoch is not None:
            on_epoch(epoch + 1, valid_auc)
        if stopper.should_stop():
            logger.info("early stopping at epoch %d (best %d)", epoch + 1, stopper.best_epoch)
            break
    model.load_state_dict(stopper.best_state if stopper.best_state is not None else initial_state)
    model.eval()
    logger.info(
        "fine-tuning done: best epoch %d, smoothed score %.4f (window %d)",
        stopper.best_epoch,
        stopper.best_score,
        config.early_stopping_window,
    )
    return FinetuneResult(
        best_epoch=stopper.best_epoch, best_score=stopper.best_score, history=history
    )


def predict_logits(
    model: ScoringModel, x_cat: Tensor, x_num: Tensor, *, batch_size: int = 4096
) -> Tensor:
    """CPU logits (n,) in eval mode without autograd; switches a training model to eval.

    For a seed ensemble these are the logits of the members' mean probability.

    Inputs go to wherever the model's weights are, so a caller never tracks the device.
    """
    if model.training:  # only flip when needed: concurrent readers never mutate the module
        model.eval()
    device = model_device(model)
    out: list[Tensor] = []
    with torch.inference_mode():
        for start in range(0, x_cat.shape[0], batch_size):
            stop = start + batch_size
            out.append(model(x_cat[start:stop].to(device), x_num[start:stop].to(device)).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def predict_proba(
    model: ScoringModel, x_cat: Tensor, x_num: Tensor, *, batch_size: int = 4096
) -> np.ndarray:
    """Positive-class probabilities (n,) as float64; puts the model in eval mode."""
    logits = predict_logits(model, x_cat, x_num, batch_size=batch_size)
    return torch.sigmoid(logits).double().numpy()
