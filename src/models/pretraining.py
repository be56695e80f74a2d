"""Contrastive pretraining: SCARF-corrupted views of each row pulled together by NT-Xent.

No labels are used, so it can see every applicant (``src.pipeline.pretrain_pool``).  Seeded
like fine-tuning (``src.models.training``): the same seed, data and thread count give the
same weights, and on CPU the corruption draws from the batch-order stream.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from src.models.augmentation import corrupt
from src.models.device import resolve_device
from src.models.losses import chance_loss, nt_xent
from src.models.training import batches, set_seed
from src.models.training_config import TrainingConfig
from src.models.transformer import ProjectionHead, TabTransformer

logger = logging.getLogger(__name__)


def pretrain(
    model: TabTransformer,
    x_cat: Tensor,
    x_num: Tensor,
    *,
    config: TrainingConfig,
    progress: bool = True,
) -> list[float]:
    """Contrastive pretraining of ``model.encode``; returns the mean loss per epoch.

    Each epoch's loss is logged (INFO) next to its chance level, the row-weighted mean of
    ``ln(2b - 1)`` over its batches: a loss that stays near chance learnt nothing.
    Two SCARF-corrupted views of each batch go through encoder + a throw-away projection head
    and NT-Xent pulls the views of the same row together.  No labels are used.  Moves
    ``model`` to ``config.device`` and leaves it there.
    """
    if config.pretrain_epochs <= 0:
        return []
    assert x_cat.shape[0] == x_num.shape[0], "x_cat and x_num need the same number of rows"
    device = resolve_device(config.device)
    set_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # Corruption draws on the batches' device; on CPU from the batch-order stream, as it did
    # before DEVICE existed, so a CPU run's weights do not depend on how CPU was chosen.
    corruption = generator
    if device.type != "cpu":
        corruption = torch.Generator(device=device).manual_seed(config.seed)
    model.to(device)
    head = ProjectionHead(d_in=model.d_repr, projection_dim=config.projection_dim).to(device)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    model.train()
    head.train()
    losses: list[float] = []
    bar = tqdm(range(config.pretrain_epochs), desc="pretrain", disable=not progress)
    for epoch in bar:
        total, count, chance = 0.0, 0, 0.0
        for idx in batches(x_cat.shape[0], config.batch_size, generator):
            if len(idx) < 2:  # a lone row has no negatives
                continue
            b_cat, b_num = x_cat[idx].to(device), x_num[idx].to(device)
            views = [
                corrupt(
                    b_cat,
                    b_num,
                    rate=config.corruption_rate,
                    generator=corruption,
                    numerical_groups=model.numerical_groups,
                )
                for _ in range(2)
            ]
            z1, z2 = (head(model.encode(c, n)) for c, n in views)  # (b, projection_dim) each
            loss = nt_xent(z1, z2, temperature=config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
            chance += chance_loss(len(idx)) * len(idx)
        losses.append(total / max(count, 1))
        chance /= max(count, 1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", chance=f"{chance:.4f}")
        logger.info(
            "pretrain epoch %d/%d: NT-Xent %.4f, chance %.4f (%.4f below chance)",
            epoch + 1,
            config.pretrain_epochs,
            losses[-1],
            chance,
            chance - losses[-1],
        )
    logger.info("pretraining done: %d epochs, final loss %.4f", len(losses), losses[-1])
    return losses
