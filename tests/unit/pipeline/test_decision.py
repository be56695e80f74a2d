from src.pipeline.validation import _decide

BASE = {"has_active": True, "window_days": 7, "sample_threshold": 1000, "new_samples": 10}


def test_no_active_model_always_retrains():
    retrain, reason = _decide(**(BASE | {"has_active": False}), mean_f1=None, f1_threshold=0.0)
    assert retrain and reason == "no active model"


def test_mean_f1_below_threshold_retrains():
    retrain, reason = _decide(**BASE, mean_f1=0.21, f1_threshold=0.8)
    assert retrain
    assert "0.210 < 0.800" in reason


def test_mean_f1_at_or_above_threshold_does_not_retrain():
    assert _decide(**BASE, mean_f1=0.8, f1_threshold=0.8)[0] is False
    assert _decide(**BASE, mean_f1=0.21, f1_threshold=0.0)[0] is False


def test_enough_new_samples_retrains_even_with_good_f1():
    retrain, reason = _decide(**(BASE | {"new_samples": 1000}), mean_f1=0.9, f1_threshold=0.8)
    assert retrain
    assert "1000 new labelled rows >= 1000" in reason


def test_no_f1_evidence_and_few_samples_keeps_model():
    retrain, reason = _decide(**BASE, mean_f1=None, f1_threshold=0.99)
    assert not retrain
    assert "no labelled rows yet" in reason
