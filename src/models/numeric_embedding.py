"""Piecewise-linear encoding (PLE) of numerical features and the tokens built from it.

Gorishniy et al. 2022 ("On Embeddings for Numerical Features in Tabular Deep Learning") show
that a transformer which sees each numerical feature as a *token* built from a piecewise-linear
encoding of its value, with bin edges at training quantiles, reaches GBDT level on tabular
benchmarks.  Our plain path feeds numerics as one layer-normed vector next to the flattened
tokens, so the attention never sees them (issue 13).

Why it is built this way:

* **Edges are fitted on the training rows only** (``Preprocessor.fit``) at the quantiles of
  the *observed* values: imputed medians would pile up in one bin and distort the quantiles.
  Repeated quantiles (counts, 0/1 columns) collapse, so a feature gets at most ``n_bins``
  bins and at least one.  Edges are plain floats: they live in the preprocessor's JSON.
* **Bounded encoding**: bin ``t`` with edges ``[b_{t-1}, b_t]`` encodes
  ``clip((x - b_{t-1}) / (b_t - b_{t-1}), 0, 1)``.  Every component is monotonic in ``x``; at
  the edge ``b_k`` bins ``1..k`` are 1 and the rest 0.  Values beyond the training range
  saturate (the paper lets the first and last bin extrapolate): a typo like an income of 1e12
  cannot push a token, and so the logit, arbitrarily far.
* **Missing values** are median-imputed before encoding, exactly like the plain path, and keep
  their missing-indicator column; the token of a feature is a linear map of its bins *and* its
  flag (:class:`FeatureTokenizer`), so "missing" and "at the median" are distinguishable.
* The encoding is numpy float64 (one code path for training, batches and the pandas-free
  serving path); the tokenizer is torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

NUMERIC_ENCODINGS = ("plain", "ple")


def fit_quantile_edges(values: np.ndarray, n_bins: int) -> list[float]:
    """Increasing bin edges (at least two) at the quantiles of the observed ``values``.

    ``values`` is a float64 array with NaN for missing; NaNs are ignored.  A feature with no
    observed value or a single distinct value gets the one bin ``[v, v + 1]`` (its encoding is
    then 0 at ``v`` and rises to 1 one unit above), so every feature has a token.
    """
    assert n_bins >= 1, f"n_bins must be >= 1, got {n_bins}"
    observed = values[~np.isnan(values)]  # (n_observed,)
    if observed.size == 0:
        return [0.0, 1.0]
    with np.errstate(over="ignore", invalid="ignore"):  # absurd spreads: check_edges refuses
        quantiles = np.quantile(observed, np.linspace(0.0, 1.0, n_bins + 1))  # (n_bins + 1,)
    edges = np.unique(quantiles)  # sorted, repeated quantiles collapsed
    if edges.size < 2:
        return [float(edges[0]), float(edges[0]) + 1.0]
    return [float(e) for e in edges]


def ple_encode(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """(n, len(edges) - 1) float64 piecewise-linear encoding of finite ``values`` (n,)."""
    assert values.ndim == 1, f"values must be 1-d, got shape {values.shape}"
    assert len(edges) >= 2, f"need at least two edges, got {list(edges)}"
    bounds = np.asarray(edges, dtype=np.float64)  # (T + 1,)
    left, width = bounds[:-1], np.diff(bounds)  # (T,), (T,) all > 0
    with np.errstate(over="ignore", invalid="ignore"):  # huge inputs saturate just below
        scaled = (values[:, None] - left[None, :]) / width[None, :]  # (n, T)
    return np.clip(scaled, 0.0, 1.0)


def check_edges(edges: Sequence[float]) -> str | None:
    """Why ``edges`` cannot encode (not finite, not strictly increasing), or None if fine."""
    bounds = np.asarray(edges, dtype=np.float64)
    if bounds.ndim != 1 or bounds.size < 2:
        return f"need at least two bin edges, got {list(edges)}"
    if not np.isfinite(bounds).all() or not np.isfinite(np.diff(bounds)).all():
        return "bin edges are not finite (values too large to be real)"
    if not (np.diff(bounds) > 0).all():
        return "bin edges are not strictly increasing"
    return None


class FeatureTokenizer(nn.Module):
    """One token per numerical feature: its own linear map of that feature's ``x_num`` columns.

    ``groups[f]`` lists the ``x_num`` columns of feature ``f`` (its PLE bins and, if it has
    one, its missing flag); groups differ in width, so they are gathered into a zero-padded
    (b, n_features, width) block and mapped with one batched einsum.
    """

    index: Tensor  # (n_features, width) registered buffers, derived from ``groups``
    mask: Tensor  # (n_features, width)

    def __init__(self, *, groups: Sequence[Sequence[int]], d_model: int) -> None:
        super().__init__()
        assert len(groups) > 0 and all(len(g) > 0 for g in groups), f"empty group in {groups}"
        n_features, width = len(groups), max(len(g) for g in groups)
        index = torch.zeros(n_features, width, dtype=torch.long)
        mask = torch.zeros(n_features, width)
        for f, cols in enumerate(groups):
            index[f, : len(cols)] = torch.tensor(list(cols), dtype=torch.long)
            mask[f, : len(cols)] = 1.0
        # Derived from the architecture's groups, so not part of the stored weights.
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        # nn.Linear's default init per feature: tokens start at the scale of the category
        # embeddings instead of near zero.
        bound = 1.0 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(n_features, width, d_model).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))

    def forward(self, x_num: Tensor) -> Tensor:
        """(b, n_num) -> (b, n_features, d_model)."""
        block = x_num[:, self.index] * self.mask  # (b, n_features, width), padding zeroed
        return torch.einsum("bfw,fwd->bfd", block, self.weight) + self.bias
