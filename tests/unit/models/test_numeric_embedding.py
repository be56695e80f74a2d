"""Piecewise-linear encoding: edges, values, the preprocessor's PLE state and the tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from src.exceptions import InvalidInputError
from src.models.augmentation import corrupt
from src.models.numeric_embedding import (
    FeatureTokenizer,
    check_edges,
    fit_quantile_edges,
    ple_encode,
)
from src.models.preprocessing import Preprocessor
from src.models.training_config import TrainingConfig
from src.models.transformer import TabTransformer
from tests.unit.models.conftest import SCHEMA, make_frame


# ------------------------------------------------------------------ edges and encoding
def test_edges_are_quantiles_of_observed_values_only() -> None:
    values = np.array([np.nan, *range(101), np.nan], dtype=np.float64)
    assert fit_quantile_edges(values, 4) == [0.0, 25.0, 50.0, 75.0, 100.0]


def test_repeated_quantiles_collapse_and_degenerate_features_get_one_bin() -> None:
    counts = np.array([0.0] * 80 + [1.0] * 15 + [2.0] * 5)
    edges = fit_quantile_edges(counts, 8)
    assert edges == sorted(set(edges)) and edges[0] == 0.0 and edges[-1] == 2.0
    assert len(edges) - 1 < 8
    assert fit_quantile_edges(np.full(10, 3.5), 8) == [3.5, 4.5]
    assert fit_quantile_edges(np.full(10, np.nan), 8) == [0.0, 1.0]


def test_encoding_at_edges_is_a_step_and_between_edges_linear() -> None:
    edges = [0.0, 1.0, 3.0, 7.0]
    encoded = ple_encode(np.array([*edges, 2.0, -5.0, 1e300, -1e300]), edges)
    assert encoded.shape == (8, 3)
    np.testing.assert_array_equal(
        encoded,
        [
            [0, 0, 0],  # b0
            [1, 0, 0],  # b1: bin 1 full
            [1, 1, 0],  # b2
            [1, 1, 1],  # b3
            [1, 0.5, 0],  # half-way through bin 2
            [0, 0, 0],  # below the training range: saturates
            [1, 1, 1],  # absurdly large: saturates, no inf / nan
            [0, 0, 0],
        ],
    )


def test_encoding_is_monotonic_in_every_component() -> None:
    rng = np.random.default_rng(0)
    edges = fit_quantile_edges(rng.lognormal(size=500), 10)
    grid = np.linspace(-1.0, 40.0, 2001)
    encoded = ple_encode(grid, edges)  # (2001, T)
    assert (np.diff(encoded, axis=0) >= 0).all()
    assert ((encoded >= 0) & (encoded <= 1)).all()


@pytest.mark.parametrize(
    ("edges", "problem"),
    [([1.0], "at least two"), ([0.0, np.inf], "not finite"), ([0.0, 0.0], "increasing")],
)
def test_bad_edges_are_named(edges: list[float], problem: str) -> None:
    assert problem in (check_edges(edges) or "")


# ------------------------------------------------------------------ preprocessor state
def _ple(frame: pd.DataFrame, n_bins: int = 6) -> Preprocessor:
    return Preprocessor.fit(frame, SCHEMA, numeric_encoding="ple", n_bins=n_bins)


def test_layout_groups_bins_then_flags() -> None:
    frame, _ = make_frame(500, seed=0)
    pre = _ple(frame)
    widths = pre.value_widths
    assert widths[0] == widths[1] == 6  # continuous income and rate: all bins
    assert 1 <= widths[2] < 6  # Poisson counts: repeated quantiles merge
    assert pre.indicator_columns == ["income"]  # the only column with missing values
    assert pre.n_numerical_out == sum(widths) + 1
    groups = pre.numerical_groups
    assert groups[0] == [*range(6), sum(widths)]  # income's bins + its flag
    assert groups[1] == list(range(6, 12))
    _x_cat, x_num = pre.transform(frame)
    assert x_num.shape == (500, pre.n_numerical_out) and x_num.dtype == torch.float32
    assert ((x_num >= 0) & (x_num <= 1)).all()


def test_edges_are_fitted_on_the_training_frame_only() -> None:
    train, _ = make_frame(400, seed=0)
    other, _ = make_frame(400, seed=5)
    pre = _ple(train)
    expected = fit_quantile_edges(train["rate"].to_numpy(dtype=float), 6)
    assert pre.bin_edges["rate"] == expected
    before = json.dumps(pre.to_dict())
    pre.transform(other)  # transforming other rows never refits
    assert json.dumps(pre.to_dict()) == before
    assert pre.bin_edges["rate"] != _ple(other).bin_edges["rate"]


def test_missing_values_encode_as_the_median_with_their_flag() -> None:
    train, _ = make_frame(400, seed=0)
    pre = _ple(train)
    rows = pd.DataFrame(
        {
            "grade": ["A", "A"],
            "state": ["CA", "CA"],
            "income": [np.nan, pre.medians["income"]],
            "rate": [12.0, 12.0],
            "count": [1.0, 1.0],
        }
    )
    _, x_num = pre.transform(rows)
    bins, flag = pre.numerical_groups[0][:-1], pre.numerical_groups[0][-1]
    assert torch.equal(x_num[0, bins], x_num[1, bins])  # imputed like the plain path
    assert x_num[0, flag] == 1 and x_num[1, flag] == 0  # and still told apart


def test_json_round_trip_transforms_identically() -> None:
    train, _ = make_frame(400, seed=0)
    test, _ = make_frame(300, seed=9)
    pre = _ple(train)
    state = json.loads(json.dumps(pre.to_dict()))
    assert state["format_version"] == 2 and state["numeric_encoding"] == "ple"
    again = Preprocessor.from_dict(state)
    assert again.bin_edges == pre.bin_edges
    for a, b in zip(pre.transform(test), again.transform(test), strict=True):
        assert torch.equal(a, b)


def test_plain_state_is_written_as_before_ple() -> None:
    train, _ = make_frame(400, seed=0)
    state = Preprocessor.fit(train, SCHEMA).to_dict()
    assert state["format_version"] == 1
    assert "numeric_encoding" not in state and "bin_edges" not in state
    assert Preprocessor.from_dict(state).numeric_encoding == "plain"


def test_non_finite_training_edges_are_refused() -> None:
    train, _ = make_frame(50, seed=0)
    train["rate"] = [1.7e308, -1.7e308] * 25  # quantile spacing overflows
    with pytest.raises(InvalidInputError, match="rate: training bin edges are not finite"):
        _ple(train)


# ------------------------------------------------------------------ tokens, model, config
def test_tokenizer_maps_each_group_to_one_token_ignoring_other_columns() -> None:
    torch.manual_seed(0)
    tok = FeatureTokenizer(groups=[[0, 1, 4], [2, 3]], d_model=8)
    x = torch.rand(5, 5)
    out = tok(x)  # (b, n_features, d)
    assert out.shape == (5, 2, 8)
    changed = x.clone()
    changed[:, 2:4] += 1.0  # only feature 1's columns
    new = tok(changed)
    assert torch.equal(new[:, 0], out[:, 0]) and not torch.allclose(new[:, 1], out[:, 1])
    expected = x[:, [0, 1, 4]] @ tok.weight[0, :3] + tok.bias[0]  # padding plays no part
    torch.testing.assert_close(out[:, 0], expected)


def test_model_with_numerical_tokens_attends_to_one_token_per_feature() -> None:
    model = TabTransformer(
        cardinalities=[3, 4],
        n_numerical=9,
        numerical_groups=[[0, 1, 2, 8], [3, 4, 5], [6, 7]],
        numerical_tokens=True,
        d_model=8,
        nhead=2,
        num_layers=1,
        dim_feedforward=16,
        dropout=0.0,
    )
    assert model.n_tokens == 2 + 3
    assert model.architecture["numerical_tokens"] is True
    x_cat, x_num = torch.zeros(4, 2, dtype=torch.long), torch.rand(4, 9)
    assert model(x_cat, x_num).shape == (4,)
    clone = TabTransformer(**model.architecture)
    clone.load_state_dict(model.state_dict(), strict=True)


def test_corruption_swaps_a_features_bins_and_flag_as_one_unit() -> None:
    frame, _ = make_frame(256, seed=0)
    pre = _ple(frame)
    x_cat, x_num = pre.transform(frame)
    gen = torch.Generator().manual_seed(0)
    _c_cat, c_num = corrupt(
        x_cat, x_num, rate=0.5, generator=gen, numerical_groups=pre.numerical_groups
    )
    for cols in pre.numerical_groups:
        block = {tuple(r) for r in x_num[:, cols].tolist()}
        # Every corrupted group is some real row's whole group: bins and flag stay coherent.
        assert {tuple(r) for r in c_num[:, cols].tolist()} <= block
        assert not torch.equal(c_num[:, cols], x_num[:, cols])  # and corruption happened


def test_config_validates_and_old_configs_read_as_plain() -> None:
    with pytest.raises(ValueError, match="numeric_embedding"):
        TrainingConfig(numeric_embedding="periodic")
    with pytest.raises(ValueError, match="exclude"):
        TrainingConfig(numeric_embedding="ple", numerical_embedding=True)
    stored = TrainingConfig(numeric_embedding="ple").to_dict()
    assert TrainingConfig.from_dict(stored).numeric_embedding == "ple"
    del stored["numeric_embedding"]
    assert TrainingConfig.from_dict(stored).numeric_embedding == "plain"
