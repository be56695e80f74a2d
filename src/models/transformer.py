"""TabTransformer (Huang et al. 2020), in the style of lucidrains' tab-transformer-pytorch.

Categorical columns become tokens (value embedding + column embedding) that a Transformer
encoder contextualises; numerical features are layer-normed and concatenated with the
flattened contextual tokens; an MLP maps that to one logit.  ``encode`` stops before the last
linear layer: that representation is what contrastive (SCARF / NT-Xent) pretraining shapes,
so pretraining trains the embeddings, the transformer *and* the MLP trunk.

Options (off by default; measurements are in the ``training`` module docstring):
``numerical_embedding`` turns each numerical feature into a token too (per-feature linear
embedding, as in FT-Transformer) so the attention also sees numerics; ``use_cls`` prepends a
learned CLS token; ``numerical_tokens`` makes each numerical *feature* one token, a linear map
of its group of ``x_num`` columns (PLE bins + missing flag: ``src.models.numeric_embedding``).
A Wide & Deep linear skip was measured as no better and removed
(docs/benchmarks.md, "what we tried").  Zero categorical or zero numerical columns are
supported (user CSVs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from src.models.numeric_embedding import FeatureTokenizer


class TabTransformer(nn.Module):
    """Binary classifier returning logits of the positive (default) class."""

    category_offsets: Tensor  # a registered buffer (nn.Module.__getattr__ is untyped)

    def __init__(
        self,
        *,
        cardinalities: Sequence[int],
        n_numerical: int,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        mlp_hidden_mults: Sequence[int] = (4, 2),
        numerical_embedding: bool = False,
        use_cls: bool = False,
        numerical_groups: Sequence[Sequence[int]] | None = None,
        numerical_tokens: bool = False,
    ) -> None:
        super().__init__()
        # JSON-able constructor arguments: the artifact stores them to rebuild the model.
        self.architecture: dict[str, Any] = {
            "cardinalities": [int(c) for c in cardinalities],
            "n_numerical": int(n_numerical),
            "d_model": int(d_model),
            "nhead": int(nhead),
            "num_layers": int(num_layers),
            "dim_feedforward": int(dim_feedforward),
            "dropout": float(dropout),
            "mlp_hidden_mults": [int(m) for m in mlp_hidden_mults],
            "numerical_embedding": bool(numerical_embedding),
            "use_cls": bool(use_cls),
            "numerical_groups": [list(map(int, g)) for g in numerical_groups]
            if numerical_groups
            else None,
        }
        if numerical_tokens:  # only when on: plain models keep the pre-PLE artifact bytes
            self.architecture["numerical_tokens"] = True
        assert all(c >= 1 for c in cardinalities), f"cardinalities must be >= 1: {cardinalities}"
        assert n_numerical >= 0, f"n_numerical must be >= 0, got {n_numerical}"
        assert len(cardinalities) + n_numerical > 0, "the model needs at least one feature"
        assert d_model % nhead == 0, f"d_model={d_model} must be divisible by nhead={nhead}"
        assert not (numerical_tokens and numerical_embedding), (
            "numerical_tokens and numerical_embedding are two ways to tokenise numerics: pick one"
        )
        self.n_categorical = len(cardinalities)
        self.n_numerical = n_numerical
        self.numerical_embedding = numerical_embedding
        self.numerical_tokens = numerical_tokens and n_numerical > 0
        self.use_cls = use_cls
        # Layout of x_num (value + missing flag per original feature), used by corruption.
        groups = [list(g) for g in numerical_groups] if numerical_groups else None
        if groups is None:
            groups = [[i] for i in range(n_numerical)]
        flat = sorted(i for g in groups for i in g)
        assert flat == list(range(n_numerical)), f"groups must partition x_num: {groups}"
        self.numerical_groups = groups

        # One embedding table for all categorical columns; offsets select each column's block.
        sizes = torch.tensor(list(cardinalities), dtype=torch.long)  # (n_cat,)
        offsets = sizes.cumsum(0) - sizes  # exclusive cumsum: start of each column's block
        self.register_buffer("category_offsets", offsets, persistent=False)  # (n_cat,)
        self.category_embed = nn.Embedding(max(sum(cardinalities), 1), d_model)
        self.column_embed = nn.Parameter(torch.randn(self.n_categorical, d_model) * 0.02)
        n_tokens = self.n_categorical
        if numerical_embedding and n_numerical > 0:
            self.num_weight = nn.Parameter(torch.randn(n_numerical, d_model) * 0.02)
            self.num_bias = nn.Parameter(torch.randn(n_numerical, d_model) * 0.02)
            n_tokens += n_numerical
        if self.numerical_tokens:
            self.feature_tokenizer = FeatureTokenizer(groups=groups, d_model=d_model)
            n_tokens += len(groups)
        if use_cls:
            self.cls_token = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
            n_tokens += 1
        self.n_tokens = n_tokens

        self.transformer: nn.TransformerEncoder | None = None
        if n_tokens > 0:
            layer = nn.TransformerEncoderLayer(
                d_model=d_model,
                nhead=nhead,
                dim_feedforward=dim_feedforward,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,  # pre-norm is the stable choice for deep, small models
            )
            self.transformer = nn.TransformerEncoder(
                layer, num_layers=num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
            )
        # LayerNorm over a single feature would always output 0, so it needs >= 2 inputs.
        # (Unused but kept with numerical_embedding: its stored weights include it.)
        self.numerical_norm: nn.Module = (
            nn.LayerNorm(n_numerical)
            if n_numerical >= 2 and not self.numerical_tokens
            else nn.Identity()
        )

        tokenised = numerical_embedding or self.numerical_tokens
        d_in = n_tokens * d_model + (0 if tokenised else n_numerical)
        base = max(d_in // 8, 16)
        hidden = [base * m for m in mlp_hidden_mults]
        layers: list[nn.Module] = []
        prev = d_in
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.ReLU(), nn.Dropout(dropout)]
            prev = width
        self.trunk = nn.Sequential(*layers)
        self.d_repr = prev
        self.head = nn.Linear(prev, 1)

    def _tokens(self, x_cat: Tensor, x_num: Tensor) -> Tensor:
        """(b, n_tokens, d_model) tokens before the transformer."""
        parts: list[Tensor] = []
        b = x_cat.shape[0]
        if self.use_cls:
            parts.append(self.cls_token.expand(b, -1, -1))  # (b, 1, d)
        if self.n_categorical:
            idx = x_cat + self.category_offsets  # (b, n_cat)
            parts.append(self.category_embed(idx) + self.column_embed)  # (b, n_cat, d)
        if self.numerical_embedding and self.n_numerical:
            # (b, n_num, 1) * (n_num, d) + (n_num, d) -> (b, n_num, d)
            parts.append(x_num.unsqueeze(-1) * self.num_weight + self.num_bias)
        if self.numerical_tokens:
            parts.append(self.feature_tokenizer(x_num))  # (b, n_features, d)
        return torch.cat(parts, dim=1)

    def encode(self, x_cat: Tensor, x_num: Tensor) -> Tensor:
        """Representation (b, d_repr) that contrastive pretraining shapes."""
        assert x_cat.ndim == 2 and x_cat.shape[1] == self.n_categorical, (
            f"x_cat must be (b, {self.n_categorical}), got {tuple(x_cat.shape)}"
        )
        assert x_num.ndim == 2 and x_num.shape[1] == self.n_numerical, (
            f"x_num must be (b, {self.n_numerical}), got {tuple(x_num.shape)}"
        )
        assert x_cat.shape[0] == x_num.shape[0], "x_cat and x_num need the same batch size"
        features: list[Tensor] = []
        if self.transformer is not None:
            tokens = self.transformer(self._tokens(x_cat, x_num))  # (b, n_tokens, d)
            features.append(tokens.flatten(1))  # (b, n_tokens * d)
        if self.n_numerical and not (self.numerical_embedding or self.numerical_tokens):
            features.append(self.numerical_norm(x_num))  # (b, n_num)
        return self.trunk(torch.cat(features, dim=1))  # (b, d_repr)

    def forward(self, x_cat: Tensor, x_num: Tensor) -> Tensor:
        """Logits (b,) of the positive class."""
        return self.head(self.encode(x_cat, x_num)).squeeze(-1)  # (b,)


class ProjectionHead(nn.Module):
    """SimCLR projection g(h): the NT-Xent loss is applied to its output, then it is dropped."""

    def __init__(self, *, d_in: int, projection_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(d_in, projection_dim)
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, projection_dim)
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)  # (b, projection_dim)
