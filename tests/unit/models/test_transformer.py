from __future__ import annotations

import pytest
import torch

from src.models.transformer import ProjectionHead, TabTransformer

BASE = {"d_model": 8, "nhead": 2, "num_layers": 2, "dim_feedforward": 16, "dropout": 0.1}


def _inputs(b: int, cards: list[int], n_num: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    cols = [torch.randint(0, c, (b,), generator=g) for c in cards]
    x_cat = torch.stack(cols, 1) if cols else torch.zeros(b, 0, dtype=torch.long)
    return x_cat, torch.randn(b, n_num, generator=g)


@pytest.mark.parametrize(
    ("cards", "n_num", "options"),
    [
        ([3, 5, 2], 4, {}),
        ([], 4, {}),  # numeric-only CSV
        ([3, 7], 0, {}),  # categorical-only CSV
        ([3, 5], 1, {}),  # a single numeric feature
        ([3, 5], 4, {"numerical_embedding": True, "use_cls": True}),
        ([], 3, {"numerical_embedding": True}),
        ([4], 0, {"use_cls": True}),
    ],
)
def test_shapes_and_gradients(cards: list[int], n_num: int, options: dict) -> None:
    model = TabTransformer(cardinalities=cards, n_numerical=n_num, **BASE, **options)
    x_cat, x_num = _inputs(6, cards, n_num)
    h = model.encode(x_cat, x_num)
    assert h.shape == (6, model.d_repr)
    logits = model(x_cat, x_num)
    assert logits.shape == (6,)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_single_numeric_feature_is_not_erased_by_layernorm() -> None:
    model = TabTransformer(cardinalities=[], n_numerical=1, **BASE).eval()
    x_cat = torch.zeros(2, 0, dtype=torch.long)
    out = model(x_cat, torch.tensor([[-2.0], [3.0]]))
    assert out[0] != out[1], "with one numeric feature the model must still see its value"


def test_categorical_values_change_the_output() -> None:
    model = TabTransformer(cardinalities=[4, 4], n_numerical=2, **BASE).eval()
    x_num = torch.zeros(2, 2)
    out = model(torch.tensor([[0, 1], [3, 1]]), x_num)
    assert out[0] != out[1]


def test_input_width_is_checked() -> None:
    model = TabTransformer(cardinalities=[3], n_numerical=2, **BASE)
    with pytest.raises(AssertionError, match="x_num"):
        model(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 3))


def test_architecture_rebuilds_an_identical_model() -> None:
    torch.manual_seed(0)
    model = TabTransformer(
        cardinalities=[3, 5], n_numerical=3, numerical_groups=[[0, 2], [1]], **BASE
    ).eval()
    clone = TabTransformer(**model.architecture).eval()
    clone.load_state_dict(model.state_dict(), strict=True)
    x_cat, x_num = _inputs(5, [3, 5], 3)
    assert torch.equal(model(x_cat, x_num), clone(x_cat, x_num))
    assert clone.numerical_groups == [[0, 2], [1]]


def test_projection_head_shape() -> None:
    head = ProjectionHead(d_in=12, projection_dim=6)
    assert head(torch.randn(4, 12)).shape == (4, 6)
