from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from src.models.artifact import ModelBundle
from src.models.predictor import Predictor
from src.models.training import predict_proba


@pytest.fixture(scope="module")
def predictor(bundle: ModelBundle) -> Predictor:
    return Predictor(bundle)


def test_properties(predictor: Predictor, bundle: ModelBundle) -> None:
    assert predictor.version == "v-test"
    assert predictor.threshold == 0.42
    assert predictor.schema == bundle.preprocessor.schema


def test_predict_proba_matches_training_helper(predictor: Predictor, data: dict) -> None:
    frame = data["test"]
    got = predictor.predict_proba(frame)
    x_cat, x_num = predictor.preprocessor.transform(frame)
    expected = predict_proba(predictor._model, x_cat, x_num)
    assert got.shape == (len(frame),)
    assert np.allclose(got, expected, atol=1e-7)
    proba, labels = predictor.predict(frame)
    assert np.array_equal(labels, (proba >= 0.42).astype(int))
    assert predictor.predict_proba(frame.iloc[:0]).shape == (0,)


def test_an_explicit_cpu_device_gives_identical_results(bundle: ModelBundle, data: dict) -> None:
    default = Predictor(bundle)
    on_cpu = Predictor(bundle, device=torch.device("cpu"))
    assert default.device == on_cpu.device == torch.device("cpu")
    assert next(on_cpu._model.parameters()).device == torch.device("cpu")
    frame = data["test"].iloc[:20].reset_index(drop=True)
    proba = on_cpu.predict_proba(frame)
    assert isinstance(proba, np.ndarray) and proba.dtype == np.float64
    assert np.array_equal(proba, default.predict_proba(frame))
    assert on_cpu.explain(frame.iloc[:3]) == default.explain(frame.iloc[:3])
    records = frame.iloc[:5].astype(object).where(frame.iloc[:5].notna(), None)
    got, unseen = on_cpu.predict_records(records.to_dict("records"))
    expected, expected_unseen = default.predict_records(records.to_dict("records"))
    assert np.array_equal(got, expected) and unseen == expected_unseen


@pytest.mark.parametrize("fixture", ["bundle", "ple_bundle"])
def test_explain_effects_match_separately_occluded_predictions(
    fixture: str, data: dict, request: pytest.FixtureRequest
) -> None:
    """Occlusion replaces a feature's whole ``x_num`` group (with PLE: all its bins + flag)."""
    predictor = Predictor(request.getfixturevalue(fixture))
    frame = data["test"].iloc[:12].reset_index(drop=True)
    refs = predictor.preprocessor.reference_values()
    p_orig = predictor.predict_proba(frame)
    reasons = predictor.explain(frame, top_k=len(refs))
    assert len(reasons) == len(frame)
    n_checked = 0
    for i, row_reasons in enumerate(reasons):
        effects = [r["effect"] for r in row_reasons]
        assert effects == sorted(effects, reverse=True)
        assert all(e > 0 for e in effects)
        for reason in row_reasons:
            occluded = frame.iloc[[i]].copy()
            occluded[reason["feature"]] = [refs[reason["feature"]]]
            p_occ = predictor.predict_proba(occluded)[0]
            assert reason["effect"] == pytest.approx(p_orig[i] - p_occ, abs=1e-5)
            assert reason["reference"] == refs[reason["feature"]]
            original = frame.loc[i, reason["feature"]]
            if isinstance(original, float) and np.isnan(original):
                assert reason["value"] is None
            else:
                assert reason["value"] == original
            n_checked += 1
    assert n_checked > 0, "some features must raise the risk of some rows"
    # Features left out really had no positive effect.
    for i, row_reasons in enumerate(reasons):
        listed = {r["feature"] for r in row_reasons}
        for name in set(refs) - listed:
            occluded = frame.iloc[[i]].copy()
            occluded[name] = [refs[name]]
            assert p_orig[i] - predictor.predict_proba(occluded)[0] <= 1e-5


def test_explain_top_k_and_reference_rows(predictor: Predictor, data: dict) -> None:
    frame = data["test"].iloc[:20].reset_index(drop=True)
    assert all(len(r) <= 2 for r in predictor.explain(frame, top_k=2))
    assert predictor.explain(frame, top_k=0) == [[] for _ in range(20)]
    # A row equal to the reference everywhere has nothing to explain.
    reference_row = pd.DataFrame([predictor.preprocessor.reference_values()])
    assert predictor.explain(reference_row) == [[]]
    assert predictor.explain(frame.iloc[:0]) == []


def test_unseen_categories_are_reported(predictor: Predictor, data: dict) -> None:
    frame = data["test"].iloc[:2].copy().reset_index(drop=True)
    frame.loc[0, "state"] = "Atlantis"
    assert predictor.unseen_categories(frame) == [["state"], []]
    assert np.isfinite(predictor.predict_proba(frame)).all()


def test_concurrent_predictions_are_consistent(predictor: Predictor, data: dict) -> None:
    frames = [data["test"].iloc[i * 20 : (i + 1) * 20] for i in range(8)]
    expected = [predictor.predict_proba(f) for f in frames]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(predictor.predict_proba, frames * 3))
    for i, proba in enumerate(got):
        assert np.allclose(proba, expected[i % 8], atol=1e-7)
