"""Seed ensembles: K fine-tuned TabTransformers whose probabilities one artifact averages.

Why it is built this way:

* :class:`TabEnsemble` is an ``nn.Module`` whose ``forward`` returns the **logit of the mean
  member probability**, so every caller that applies ``sigmoid`` to a model's output (the
  training helpers, the benchmark, the predictor's calibrated hot path, occlusion
  explanations, batch scoring) gets the averaged probability without knowing it holds K
  members.  Each member runs one batched forward pass over the whole batch.
* Probabilities, not logits, are averaged: that is the usual deep-ensemble rule, and it keeps
  one over-confident member from dominating.  The mean is taken in log space
  (``logsumexp`` of log-sigmoids), so a mean of tiny probabilities keeps float32 precision
  instead of rounding to 0 before the logit.
* ``ensemble_size == 1`` never builds a ``TabEnsemble``: a single model stays a plain
  ``TabTransformer``, so its artifact keeps today's bytes and older artifacts load unchanged.
* Member ``k`` is fine-tuned (and, without shared pretraining, initialised) with seed
  ``seed + k``, so member 0 is exactly the single model the same seed would give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from src.models.transformer import TabTransformer

# How members get their pretrained weights: "shared" = one contrastive pretraining, copied
# into every member before fine-tuning; "per_member" = each member pretrains from its own
# seed (K times the pretraining cost).
ENSEMBLE_PRETRAINING = ("shared", "per_member")


def member_seeds(seed: int, size: int) -> list[int]:
    """The seeds of an ensemble's members: ``seed, seed + 1, ...`` (member 0 = single model)."""
    if size < 1:
        raise ValueError(f"an ensemble needs at least one member, got {size}")
    return [seed + k for k in range(size)]


def mean_probability_logit(logits: Tensor) -> Tensor:
    """``logit(mean_k sigmoid(logits[k]))`` for member logits (K, b) -> (b,), computed stably.

    ``log mean p = logsumexp(logsigmoid(l)) - log K`` and likewise for ``1 - p`` with ``-l``;
    their difference is the logit of the mean probability.
    """
    if logits.ndim != 2 or logits.shape[0] < 1:
        raise ValueError(f"member logits must be (K >= 1, b), got {tuple(logits.shape)}")
    log_k = math.log(logits.shape[0])
    log_p = torch.logsumexp(nn.functional.logsigmoid(logits), dim=0) - log_k  # (b,)
    log_q = torch.logsumexp(nn.functional.logsigmoid(-logits), dim=0) - log_k  # (b,)
    return log_p - log_q


class TabEnsemble(nn.Module):
    """K TabTransformers of one architecture; ``forward`` gives the mean-probability logit."""

    def __init__(self, members: Sequence[TabTransformer]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("a TabEnsemble needs at least two members; use the model itself")
        architecture = members[0].architecture
        if any(m.architecture != architecture for m in members[1:]):
            raise ValueError("ensemble members must share one architecture")
        self.members = nn.ModuleList(members)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def architecture(self) -> dict[str, Any]:
        """The members' shared constructor arguments (what the artifact stores once)."""
        first: TabTransformer = self.members[0]  # type: ignore[assignment]
        return first.architecture

    def member_list(self) -> list[TabTransformer]:
        """The members, typed (``nn.ModuleList`` indexing is untyped)."""
        return [m for m in self.members if isinstance(m, TabTransformer)]

    def member_logits(self, x_cat: Tensor, x_num: Tensor) -> Tensor:
        """Each member's logits (K, b): one batched forward pass per member."""
        return torch.stack([member(x_cat, x_num) for member in self.members])

    def forward(self, x_cat: Tensor, x_num: Tensor) -> Tensor:
        """Logits (b,) of the members' mean default probability."""
        return mean_probability_logit(self.member_logits(x_cat, x_num))


# What a bundle serves: one model, or an ensemble of them behind the same interface.
ScoringModel = TabTransformer | TabEnsemble


def ensemble_of(members: Sequence[TabTransformer]) -> ScoringModel:
    """The one member itself when there is one, else their :class:`TabEnsemble`."""
    if len(members) == 1:
        return members[0]
    return TabEnsemble(members)


def members_of(model: ScoringModel) -> list[TabTransformer]:
    """The member models (a single model is its own only member)."""
    return model.member_list() if isinstance(model, TabEnsemble) else [model]


def build_like(architecture: dict[str, Any], size: int) -> ScoringModel:
    """An untrained model (or ensemble of ``size``) to load stored weights into."""
    return ensemble_of([TabTransformer(**architecture) for _ in range(size)])
