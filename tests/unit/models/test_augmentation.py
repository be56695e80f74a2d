from __future__ import annotations

import pytest
import torch

from src.models.augmentation import corrupt


def _unique_batch(b: int, n_cat: int, n_num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every cell distinct, and column j's values live in their own range."""
    rows = torch.arange(b).unsqueeze(1)
    x_cat = rows + 1000 * torch.arange(n_cat).unsqueeze(0)  # (b, n_cat)
    x_num = (rows + 1000 * torch.arange(n_num).unsqueeze(0)).float() + 0.5  # (b, n_num)
    return x_cat, x_num


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_corruption_rate_and_values_from_column_marginal(rate: float) -> None:
    x_cat, x_num = _unique_batch(256, 3, 4)
    gen = torch.Generator().manual_seed(0)
    total_changed, total_cells = 0, 0
    for _ in range(20):
        c, n = corrupt(x_cat, x_num, rate=rate, generator=gen)
        assert c.shape == x_cat.shape and n.shape == x_num.shape
        assert c.dtype == x_cat.dtype and n.dtype == x_num.dtype
        for j in range(3):
            assert set(c[:, j].tolist()) <= set(x_cat[:, j].tolist())
        for j in range(4):
            assert set(n[:, j].tolist()) <= set(x_num[:, j].tolist())
        # Values are unique per column, so a change means a donor row other than itself.
        total_changed += int((c != x_cat).sum() + (n != x_num).sum())
        total_cells += x_cat.numel() + x_num.numel()
    observed = total_changed / total_cells
    # 35,840 cells: the binomial standard error is below 0.003.
    assert observed == pytest.approx(rate, abs=0.015)


def test_inputs_are_not_modified_and_rate_zero_is_identity() -> None:
    x_cat, x_num = _unique_batch(32, 2, 2)
    before = (x_cat.clone(), x_num.clone())
    gen = torch.Generator().manual_seed(1)
    c, n = corrupt(x_cat, x_num, rate=0.0, generator=gen)
    assert torch.equal(c, x_cat) and torch.equal(n, x_num)
    corrupt(x_cat, x_num, rate=1.0, generator=gen)
    assert torch.equal(x_cat, before[0]) and torch.equal(x_num, before[1])


def test_rate_one_replaces_every_cell_from_another_row() -> None:
    x_cat, x_num = _unique_batch(16, 2, 3)
    c, n = corrupt(x_cat, x_num, rate=1.0, generator=torch.Generator().manual_seed(2))
    assert (c != x_cat).all() and (n != x_num).all()


def test_groups_keep_value_and_missing_flag_together() -> None:
    b = 200
    value = torch.arange(b).float()
    flag = (torch.arange(b) % 3 == 0).float()  # flag is a function of the row
    x_num = torch.stack([value, torch.randn(b), flag], dim=1)  # col 2 is col 0's flag
    x_cat = torch.zeros(b, 0, dtype=torch.long)
    c, n = corrupt(
        x_cat,
        x_num,
        rate=0.5,
        generator=torch.Generator().manual_seed(3),
        numerical_groups=[[0, 2], [1]],
    )
    assert c.shape == (b, 0)
    donor_rows = n[:, 0].long()
    assert torch.equal(n[:, 2], flag[donor_rows]), "flag must come from the value's donor row"
    assert (n[:, 0] != value).any()


def test_same_generator_seed_gives_same_corruption() -> None:
    x_cat, x_num = _unique_batch(64, 2, 2)
    a = corrupt(x_cat, x_num, rate=0.5, generator=torch.Generator().manual_seed(9))
    b = corrupt(x_cat, x_num, rate=0.5, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_single_row_and_empty_blocks_do_not_crash() -> None:
    gen = torch.Generator().manual_seed(0)
    c, n = corrupt(torch.tensor([[1, 2]]), torch.tensor([[0.5]]), rate=1.0, generator=gen)
    assert c.tolist() == [[1, 2]] and n.tolist() == [[0.5]]
    c, n = corrupt(torch.zeros(8, 0, dtype=torch.long), torch.randn(8, 2), rate=0.5, generator=gen)
    assert c.shape == (8, 0) and n.shape == (8, 2)


def test_bad_groups_are_rejected() -> None:
    with pytest.raises(AssertionError, match="partition"):
        corrupt(
            torch.zeros(4, 0, dtype=torch.long),
            torch.randn(4, 2),
            rate=0.5,
            generator=torch.Generator(),
            numerical_groups=[[0]],
        )
