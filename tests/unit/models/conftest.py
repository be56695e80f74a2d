"""Small synthetic data and a tiny trained model shared by the model-core unit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from src.data.feature_schema import FeatureSchema
from src.models.artifact import ModelBundle
from src.models.preprocessing import Preprocessor
from src.models.pretraining import pretrain
from src.models.training import build_model, finetune
from src.models.training_config import TrainingConfig

SCHEMA = FeatureSchema(
    categorical=("grade", "state"),
    numerical=("income", "rate", "count"),
    target="Class",
    positive_label="bad",
    nullable=("state", "income"),
)


def make_frame(n: int, *, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose default risk rises with grade and rate, plus a heavy-tailed income."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(["A", "B", "C", "D"], size=n)
    state = rng.choice(["CA", "NY", "TX"], size=n).astype(object)
    state[rng.random(n) < 0.1] = None
    income = rng.lognormal(mean=10.5, sigma=1.0, size=n)
    income[rng.random(n) < 0.1] = np.nan
    rate = rng.normal(12.0, 4.0, size=n)
    count = rng.poisson(1.0, size=n).astype(float)
    score = (
        pd.Series(grade).map({"A": -1.5, "B": -0.5, "C": 0.5, "D": 1.5}).to_numpy()
        + 0.4 * (rate - 12.0)
        - 2.0
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-score))).astype(np.int64)
    frame = pd.DataFrame(
        {"grade": grade, "state": state, "income": income, "rate": rate, "count": count}
    )
    return frame, y


TINY_CONFIG = TrainingConfig(
    d_model=8,
    nhead=2,
    num_layers=1,
    dim_feedforward=16,
    dropout_rate=0.1,
    learning_rate=3e-3,
    batch_size=64,
    pretrain_epochs=1,
    finetune_epochs=6,
    patience=3,
    seed=7,
    projection_dim=8,
    torch_num_threads=1,
)


@pytest.fixture(scope="session")
def data() -> dict[str, object]:
    train, y_train = make_frame(600, seed=1)
    valid, y_valid = make_frame(200, seed=2)
    test, y_test = make_frame(200, seed=3)
    pre = Preprocessor.fit(train, SCHEMA)
    return {
        "train": train,
        "y_train": y_train,
        "valid": valid,
        "y_valid": y_valid,
        "test": test,
        "y_test": y_test,
        "pre": pre,
    }


def train_tiny(data: dict, config: TrainingConfig = TINY_CONFIG) -> torch.nn.Module:
    pre: Preprocessor = data["pre"]
    x_cat, x_num = pre.transform(data["train"])
    v_cat, v_num = pre.transform(data["valid"])
    model = build_model(pre, config)
    pretrain(model, x_cat, x_num, config=config, progress=False)
    finetune(
        model,
        (x_cat, x_num, torch.from_numpy(data["y_train"])),
        (v_cat, v_num, torch.from_numpy(data["y_valid"])),
        config=config,
        progress=False,
    )
    return model


@pytest.fixture(scope="session")
def bundle(data: dict) -> ModelBundle:
    model = train_tiny(data)
    return ModelBundle(
        model=model,
        preprocessor=data["pre"],
        config=TINY_CONFIG,
        threshold=0.42,
        metadata={"model_version": "v-test", "metrics": {"roc_auc": 0.9}},
    )


PLE_CONFIG = TrainingConfig(**(TINY_CONFIG.to_dict() | {"numeric_embedding": "ple", "ple_bins": 6}))


@pytest.fixture(scope="session")
def ple_data(data: dict) -> dict[str, object]:
    """The same rows as ``data``, preprocessed with piecewise-linear encoding."""
    pre = Preprocessor.fit(data["train"], SCHEMA, numeric_encoding="ple", n_bins=6)
    return data | {"pre": pre}


@pytest.fixture(scope="session")
def ple_bundle(ple_data: dict) -> ModelBundle:
    model = train_tiny(ple_data, PLE_CONFIG)
    return ModelBundle(
        model=model,
        preprocessor=ple_data["pre"],
        config=PLE_CONFIG,
        threshold=0.42,
        metadata={"model_version": "v-ple"},
    )
