"""Peak-memory probe for ``Predictor.explain``, run in a fresh subprocess per measurement.

``python -m tests.unit.models.explain_memory_probe RECORDS [ROWS_PER_PASS]`` builds an
untrained TabTransformer over 60 categorical + 4 numerical columns (the shape that made one
explained record cost ~6 MiB), explains RECORDS rows and prints one JSON line with the growth
of the process's peak RSS (``ru_maxrss``) caused by that call.  Torch allocates outside
Python's allocator, so tracemalloc would not see the tensors; the OS's peak RSS does.
"""

from __future__ import annotations

import json
import resource
import sys

import numpy as np
import pandas as pd
import torch

from src.data.feature_schema import FeatureSchema
from src.models.artifact import ModelBundle
from src.models.predictor import Predictor
from src.models.preprocessing import Preprocessor
from src.models.training import TrainingConfig, build_model

N_CATEGORICAL = 60
NUMERICAL = ("n0", "n1", "n2", "n3")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        f"c{i:02d}": rng.choice(["a", "b", "c", "d", "e"], size=n) for i in range(N_CATEGORICAL)
    }
    data.update({name: rng.normal(size=n) for name in NUMERICAL})
    return pd.DataFrame(data)


def _predictor() -> Predictor:
    schema = FeatureSchema(
        categorical=tuple(f"c{i:02d}" for i in range(N_CATEGORICAL)),
        numerical=NUMERICAL,
        target="y",
        positive_label="1",
    )
    pre = Preprocessor.fit(_frame(200, seed=0), schema)
    config = TrainingConfig(num_layers=2, torch_num_threads=1)
    return Predictor(
        ModelBundle(model=build_model(pre, config), preprocessor=pre, config=config, threshold=0.5)
    )


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    records = int(argv[0])
    kwargs = {"max_rows_per_pass": int(argv[1])} if len(argv) > 1 else {}
    predictor = _predictor()
    frame = _frame(records, seed=1)
    predictor.explain(frame.iloc[:1], top_k=5, **kwargs)  # warm up allocator and kernels
    before = _peak_mib()
    reasons = predictor.explain(frame, top_k=5, **kwargs)
    assert len(reasons) == records
    sys.stdout.write(json.dumps({"records": records, "growth_mib": _peak_mib() - before}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
