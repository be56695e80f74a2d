from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from src.models.losses import chance_loss, nt_xent


def _hand_nt_xent(z1: np.ndarray, z2: np.ndarray, temperature: float) -> float:
    """SimCLR NT-Xent written with plain loops, straight from the paper's definition."""
    views = [*list(z1), *list(z2)]
    n2 = len(views)
    n = n2 // 2

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        dot = sum(float(x) * float(y) for x, y in zip(a, b, strict=True))
        na = math.sqrt(sum(float(x) ** 2 for x in a))
        nb = math.sqrt(sum(float(y) ** 2 for y in b))
        return dot / (na * nb)

    total = 0.0
    for i in range(n2):
        j = (i + n) % n2  # the other view of the same row
        numerator = math.exp(cos(views[i], views[j]) / temperature)
        denominator = sum(
            math.exp(cos(views[i], views[k]) / temperature) for k in range(n2) if k != i
        )
        total += -math.log(numerator / denominator)
    return total / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_hand_computation(temperature: float) -> None:
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(3, 4))
    z2 = rng.normal(size=(3, 4))
    expected = _hand_nt_xent(z1, z2, temperature)
    got = nt_xent(
        torch.tensor(z1, dtype=torch.float64),
        torch.tensor(z2, dtype=torch.float64),
        temperature=temperature,
    )
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_nt_xent_tiny_example_by_hand() -> None:
    # Two orthogonal rows, views identical: cos(i, own pair) = 1, cos to other row = 0.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    t = 0.5
    # For each of the 4 anchors: positives exp(1/t); negatives: two others with cos 0.
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 2 * math.exp(0.0)))
    assert nt_xent(z, z.clone(), temperature=t).item() == pytest.approx(expected, rel=1e-12)


def test_nt_xent_prefers_aligned_views_and_has_gradients() -> None:
    torch.manual_seed(0)
    z1 = torch.randn(8, 5, requires_grad=True)
    aligned = nt_xent(z1, z1.detach() + 0.01 * torch.randn(8, 5), temperature=0.5)
    shuffled = nt_xent(z1, z1.detach()[torch.randperm(8)], temperature=0.5)
    assert aligned.item() < shuffled.item()
    aligned.backward()
    assert z1.grad is not None and torch.isfinite(z1.grad).all()


def test_nt_xent_is_scale_invariant() -> None:
    torch.manual_seed(1)
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    base = nt_xent(z1, z2, temperature=0.3)
    assert nt_xent(5 * z1, 0.2 * z2, temperature=0.3).item() == pytest.approx(base.item(), rel=1e-5)


def test_nt_xent_rejects_mismatched_shapes() -> None:
    with pytest.raises(AssertionError):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3), temperature=0.5)


def test_chance_loss_is_the_loss_of_identical_projections() -> None:
    """All views alike: the positive is one of 2n - 1 equally likely candidates."""
    z = torch.ones(7, 4)
    assert chance_loss(7) == pytest.approx(math.log(13))
    assert float(nt_xent(z, z.clone(), temperature=0.5)) == pytest.approx(chance_loss(7), rel=1e-6)
