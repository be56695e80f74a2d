"""Serving-side inference: feature frames -> probabilities, labels and occlusion reasons.

A :class:`Predictor` is immutable after construction: the model is put in eval mode with
gradients off once, and every call runs under ``torch.inference_mode``, so many request
threads can share one instance without locks.

Explanations are model-agnostic occlusion: a feature's effect on a row is how much the default
probability drops when that feature alone is replaced by its training reference value (mode
or median).  The (row, feature) occlusions go through the model in batched forward passes of
bounded size (``max_rows_per_pass``), so memory does not grow with the number of records.

The model runs on the ``device`` it is given (CPU by default; the entry points pass the
resolved ``DEVICE``).  Preprocessing and occlusion stay on CPU; only the forward pass's inputs
go to the device, and probabilities come back as CPU numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from src.data.feature_schema import FeatureSchema
from src.models.artifact import ModelBundle
from src.models.device import CPU
from src.models.preprocessing import Preprocessor
from src.models.record_transform import plain_records, transform_records


class Predictor:
    """Thread-safe, read-only wrapper around a :class:`ModelBundle`."""

    def __init__(self, bundle: ModelBundle, *, device: torch.device = CPU) -> None:
        self._bundle = bundle
        self._device = device
        self._model = bundle.model.to(device)  # in place: the bundle's model moves too
        self._model.eval()
        self._model.requires_grad_(False)
        pre = bundle.preprocessor
        self._references = pre.reference_values()
        ref_frame = pd.DataFrame([{c: self._references[c] for c in pre.schema.features}])
        ref_cat, ref_num = pre.transform(ref_frame)
        self._ref_cat = ref_cat[0]  # (n_cat,)
        self._ref_num = ref_num[0]  # (n_num_out,)
        self._groups = pre.numerical_groups  # x_num columns per numerical feature

    # ------------------------------------------------------------------ properties
    @property
    def version(self) -> str | None:
        value = self._bundle.metadata.get("model_version")
        return None if value is None else str(value)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def threshold(self) -> float:
        return float(self._bundle.threshold)

    @property
    def schema(self) -> FeatureSchema:
        return self._bundle.preprocessor.schema

    @property
    def preprocessor(self) -> Preprocessor:
        return self._bundle.preprocessor

    @property
    def metadata(self) -> dict[str, Any]:
        return self._bundle.metadata

    # ------------------------------------------------------------------ inference
    def _occlusion_effects(self, x_cat: Tensor, x_num: Tensor) -> np.ndarray:
        """``p(row) - p(row with feature f at its reference)``, (n, F), in one forward pass."""
        n, n_cat = x_cat.shape
        n_feat = n_cat + len(self._groups)  # C + number of numerical features
        # Occluded copies: (n, F, C) and (n, F, M); copy f has feature f set to its reference.
        occ_cat = x_cat.unsqueeze(1).repeat(1, n_feat, 1)
        occ_num = x_num.unsqueeze(1).repeat(1, n_feat, 1)
        for j in range(n_cat):
            occ_cat[:, j, j] = self._ref_cat[j]
        for g, cols in enumerate(self._groups):
            occ_num[:, n_cat + g, cols] = self._ref_num[cols]
        # Rows where occlusion changes nothing get effect 0 exactly (no float noise).
        changed = (occ_cat != x_cat.unsqueeze(1)).any(-1) | (occ_num != x_num.unsqueeze(1)).any(-1)
        all_cat = torch.cat([x_cat, occ_cat.reshape(n * n_feat, n_cat)])  # (n + n*F, C)
        all_num = torch.cat([x_num, occ_num.reshape(n * n_feat, -1)])  # (n + n*F, M)
        proba = self._proba(all_cat, all_num)
        p_orig = proba[:n]  # (n,)
        p_occ = proba[n:].reshape(n, n_feat)  # (n, F)
        return np.where(changed.numpy(), p_orig[:, None] - p_occ, 0.0)

    def _proba(self, x_cat: Tensor, x_num: Tensor) -> np.ndarray:
        """Calibrated PDs: the network's score mapped through the bundle's calibrator."""
        device = self._device
        with torch.inference_mode():
            logits = self._model(x_cat.to(device), x_num.to(device))
            raw = torch.sigmoid(logits).double().cpu().numpy()
        return self._bundle.calibrator.apply(raw)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of default (n,) per row, in one forward pass."""
        if len(frame) == 0:
            return np.zeros(0, dtype=np.float64)
        x_cat, x_num = self._bundle.preprocessor.transform(frame)
        return self._proba(x_cat, x_num)

    def predict_records(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[str]]]:
        """Calibrated PDs and each record's unseen categories, for validated request records.

        The serving hot path: no DataFrame (``src.models.record_transform``), identical
        results.  Records that need parsing (numbers as text) take the DataFrame path.
        """
        pre = self._bundle.preprocessor
        if not records:
            return np.zeros(0, dtype=np.float64), []
        if plain_records(records, pre):
            x_cat, x_num, unseen = transform_records(pre, records)
            return self._proba(x_cat, x_num), unseen
        from src.data.frames import records_to_frame

        frame = records_to_frame(records, pre.schema)
        return self.predict_proba(frame), self.unseen_categories(frame)

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, 0/1 labels) using the bundle's tuned threshold."""
        proba = self.predict_proba(frame)
        return proba, (proba >= self.threshold).astype(np.int64)

    def unseen_categories(self, frame: pd.DataFrame) -> list[list[str]]:
        return self._bundle.preprocessor.unseen_categories(frame)

    def explain(
        self, frame: pd.DataFrame, *, top_k: int = 5, max_rows_per_pass: int = 1024
    ) -> list[list[dict[str, Any]]]:
        """Per row, up to ``top_k`` features that raised the default probability the most.

        Each entry is ``{"feature", "value", "reference", "effect"}`` with
        ``effect = p(original row) - p(row with this feature set to its reference)``;
        only positive effects are returned, sorted by effect descending.

        Rows are explained in chunks of at most ``max_rows_per_pass`` model rows (each record
        costs ``features + 1`` of them), so peak memory is bounded by the chunk, not by the
        number of records: one pass over 1,000 records x 64 features needed ~6 GB.
        """
        n = len(frame)
        if n == 0:
            return []
        x_cat, x_num = self._bundle.preprocessor.transform(frame)  # (n, C), (n, M)
        features = list(self.schema.features)
        per_pass = max(1, max_rows_per_pass // (len(features) + 1))  # records per forward pass
        effects = np.concatenate(
            [
                self._occlusion_effects(
                    x_cat[start : start + per_pass], x_num[start : start + per_pass]
                )
                for start in range(0, n, per_pass)
            ]
        )  # (n, F)
        reasons: list[list[dict[str, Any]]] = []
        for i in range(n):
            order = np.argsort(-effects[i], kind="stable")
            row: list[dict[str, Any]] = []
            for f in order[: max(top_k, 0)]:
                if effects[i, f] <= 0:
                    break
                name = features[f]
                row.append(
                    {
                        "feature": name,
                        "value": _jsonable(frame[name].iloc[i]),
                        "reference": _jsonable(self._references[name]),
                        "effect": float(effects[i, f]),
                    }
                )
            reasons.append(row)
        return reasons


def _jsonable(value: Any) -> Any:
    """Plain Python value for JSON: numpy scalars unwrapped, NaN/None -> None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if np.ndim(value) == 0 and pd.isna(value):  # pd.NA, NaT
        return None
    return value
