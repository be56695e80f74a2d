"""NT-Xent, the SimCLR contrastive loss, used to pretrain the encoder on unlabelled rows.

For N rows there are 2N views; each view's positive is the other view of the same row and
its negatives are the remaining 2N - 2 views.  Similarities are cosine similarities divided by
``temperature``; the loss is the cross-entropy of picking the positive, averaged over all 2N
anchors (both directions), exactly as in Chen et al. 2020.

:func:`chance_loss` is the loss of an encoder that has learnt nothing (every view equally
similar to every other): ``ln(2N - 1)``.  Pretraining logs its loss next to it, because a loss
that ends near chance (issue 13: 6.14-6.21 against 6.24 at batch 256) means pretraining shaped
almost nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z1: Tensor, z2: Tensor, *, temperature: float) -> Tensor:
    """Scalar NT-Xent loss for paired projections ``z1``, ``z2`` of shape (n, d)."""
    assert z1.shape == z2.shape and z1.ndim == 2, (
        f"z1 and z2 must be equal (n, d) tensors, got {tuple(z1.shape)} and {tuple(z2.shape)}"
    )
    assert temperature > 0, f"temperature must be positive, got {temperature}"
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2n, d), unit rows
    logits = z @ z.T / temperature  # (2n, 2n) cosine similarity / t
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # a view is not its own negative
    # The positive of view i is view i + n (and vice versa).
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # (2n,)
    return F.cross_entropy(logits, targets)


def chance_loss(n: int) -> float:
    """NT-Xent of uninformative projections for a batch of ``n`` rows: ``ln(2n - 1)``."""
    assert n >= 2, f"NT-Xent needs at least 2 rows, got {n}"
    return math.log(2 * n - 1)
