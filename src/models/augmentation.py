"""SCARF feature corruption (Bahri et al. 2022) for contrastive pretraining of tabular rows.

Each feature of each row is, with probability ``rate``, replaced by the same feature's value
in another row of the batch.  That is a draw from the feature's empirical marginal, so a
corrupted value is always plausible for its column (unlike Gaussian noise on a category code)
and the model must learn which *combinations* of values identify a row.

An original numerical feature may span two ``x_num`` columns (the scaled value and its
missing flag).  ``numerical_groups`` lists those column groups; a group is corrupted as one
unit with one donor row, so a flag always matches its value.

The masks and donor indices are drawn on the batch's device (``generator`` must live there):
on a GPU, corruption then costs no host round trip per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def corrupt(
    x_cat: Tensor,
    x_num: Tensor,
    *,
    rate: float,
    generator: torch.Generator,
    numerical_groups: Sequence[Sequence[int]] | None = None,
) -> tuple[Tensor, Tensor]:
    """Return corrupted copies of ``x_cat`` (b, n_cat) and ``x_num`` (b, n_num), on their device."""
    assert 0.0 <= rate <= 1.0, f"rate must be in [0, 1], got {rate}"
    assert x_cat.shape[0] == x_num.shape[0], "x_cat and x_num need the same batch size"
    assert x_cat.device == x_num.device, "x_cat and x_num need the same device"
    device = x_cat.device
    b, n_cat = x_cat.shape
    n_num = x_num.shape[1]
    groups = [list(g) for g in numerical_groups] if numerical_groups else None
    if groups is None:
        groups = [[j] for j in range(n_num)]
    assert sorted(c for cols in groups for c in cols) == list(range(n_num)), (
        f"numerical_groups must partition the {n_num} x_num columns: {groups}"
    )
    unit_of_col = torch.empty(n_num, dtype=torch.long)  # (n_num,) group index per column
    for g, cols in enumerate(groups):
        unit_of_col[cols] = g
    if b < 2 or rate == 0.0:
        return x_cat.clone(), x_num.clone()

    n_units = n_cat + len(groups)
    mask = torch.rand(b, n_units, generator=generator, device=device) < rate  # (b, units)
    # A donor is any *other* row: shift each row's index by 1..b-1 (mod b).
    shift = torch.randint(1, b, (b, n_units), generator=generator, device=device)  # (b, units)
    donor = (torch.arange(b, device=device).unsqueeze(1) + shift) % b  # (b, units)

    mask_cat, donor_cat = mask[:, :n_cat], donor[:, :n_cat]  # (b, n_cat)
    new_cat = torch.where(mask_cat, x_cat.gather(0, donor_cat), x_cat)

    num_units = (n_cat + unit_of_col).to(device)  # (n_num,) unit index per numerical column
    mask_num, donor_num = mask[:, num_units], donor[:, num_units]  # (b, n_num)
    new_num = torch.where(mask_num, x_num.gather(0, donor_num), x_num)
    return new_cat, new_num
