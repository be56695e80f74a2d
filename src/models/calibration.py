"""Turning the network's scores into calibrated probabilities of default (PDs).

Fine-tuning uses a class-weighted loss, so raw scores are inflated: on lending_club a 5 %
default rate came with an F1 threshold near 0.71.  Risk teams price, provision (IFRS 9 /
CECL) and set cut-offs on PDs, and the performance estimate of ``src.models.cbpe`` is only as
good as the calibration, so every model maps its scores through a :class:`Calibrator` fitted
on the validation split after fine-tuning:

* ``platt``: a logistic regression on the logit of the score (two numbers, monotone, so the
  ranking and ROC-AUC are exactly unchanged);
* ``isotonic``: a monotone step function (more flexible; ties can move ROC-AUC slightly);
* ``auto`` picks the one with the lower **cross-validated** log loss on the validation split:
  in-sample, isotonic would always win by over-fitting.

Serving needs neither sklearn nor pickle: Platt is two floats, isotonic a list of knots
applied with ``np.interp``; both are stored as JSON in the artifact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

CALIBRATION_METHODS = ("auto", "platt", "isotonic", "none")
# Calibrated PDs stay inside (0, 1): a PD of exactly 0 or 1 gives an infinite log loss and
# claims a certainty no credit model has.
PD_FLOOR = 1e-4
_EPS = 1e-7
MIN_POSITIVES_PER_FOLD = 2


@dataclass(frozen=True)
class Calibrator:
    """A fitted score -> PD map; ``identity`` for models trained before calibration existed."""

    method: str = "identity"  # identity | platt | isotonic
    params: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)  # cv log loss per method

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated PDs (n,) for raw scores (n,); float64."""
        p = np.asarray(proba, dtype=np.float64)
        if self.method == "identity":
            return p
        if self.method == "platt":
            z = self.params["a"] * _logit(p) + self.params["b"]
            out = 1.0 / (1.0 + np.exp(-z))
        elif self.method == "isotonic":
            out = np.interp(p, self.params["x"], self.params["y"])
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return np.clip(out, PD_FLOOR, 1.0 - PD_FLOOR)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "diagnostics": self.diagnostics}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        method = str(data.get("method", ""))
        params = dict(data.get("params") or {})
        if method == "platt" and not {"a", "b"} <= set(params):
            raise ValueError("platt calibration needs parameters a and b")
        if method == "isotonic":
            x, y = params.get("x"), params.get("y")
            if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y) or not x:
                raise ValueError("isotonic calibration needs equally long, non-empty x and y")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValueError("isotonic calibration knots must be non-decreasing")
        if method not in ("identity", "platt", "isotonic"):
            raise ValueError(f"unknown calibration method {method!r}")
        return cls(method=method, params=params, diagnostics=dict(data.get("diagnostics") or {}))


def fit_calibrator(
    labels: np.ndarray,
    raw_proba: np.ndarray,
    *,
    method: str = "auto",
    folds: int = 5,
    seed: int = 0,
) -> Calibrator:
    """Fit on (validation) labels and raw scores; see the module docstring for ``auto``.

    A split with one class only gives the identity (nothing to fit), with a warning; too few
    of one class to cross-validate makes ``auto`` take Platt (two parameters) without a
    comparison.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(raw_proba, dtype=np.float64).ravel()
    assert y.shape == p.shape, f"labels {y.shape} and scores {p.shape} differ in length"
    if method == "none":
        return Calibrator()
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if min(positives, negatives) == 0:
        logger.warning("calibration skipped: the validation split has only one class")
        return Calibrator(diagnostics={"skipped": "the validation split has only one class"})
    if method == "auto" and min(positives, negatives) < MIN_POSITIVES_PER_FOLD * folds:
        # Too few of one class to cross-validate a choice: the two-parameter fit is the safe one.
        logger.warning(
            "calibration: %d positive / %d negative validation rows are too few to compare "
            "methods; using Platt",
            positives,
            negatives,
        )
        platt = _fit_platt(y, p)
        note = {"requested": "auto", "chosen_without_cv": True, "n": len(y), "positives": positives}
        return Calibrator(method=platt.method, params=platt.params, diagnostics=note)
    losses = {m: _cv_log_loss(y, p, method=m, folds=folds, seed=seed) for m in _FITTERS}
    losses["identity"] = _log_loss(y, p)
    chosen = min(_FITTERS, key=losses.__getitem__) if method == "auto" else method
    calibrator = _FITTERS[chosen](y, p)
    diagnostics = {"cv_log_loss": losses, "requested": method, "n": len(y), "positives": positives}
    logger.info(
        "calibration: %s (cross-validated log loss %s)",
        chosen,
        ", ".join(f"{k} {v:.4f}" for k, v in losses.items()),
    )
    return Calibrator(method=calibrator.method, params=calibrator.params, diagnostics=diagnostics)


def _fit_platt(y: np.ndarray, p: np.ndarray) -> Calibrator:
    from sklearn.linear_model import LogisticRegression

    # C large: an (almost) unregularised fit of two parameters on ~1,000 rows.
    model = LogisticRegression(C=1e6).fit(_logit(p).reshape(-1, 1), y)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if a <= 0:  # a decreasing map would reverse the ranking: keep the raw score instead
        logger.warning("Platt slope %.3f <= 0: the score does not rank; calibration skipped", a)
        return Calibrator()
    return Calibrator(method="platt", params={"a": a, "b": b})


def _fit_isotonic(y: np.ndarray, p: np.ndarray) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=PD_FLOOR, y_max=1.0 - PD_FLOOR, out_of_bounds="clip")
    model.fit(p, y)
    x = [float(v) for v in model.X_thresholds_]
    knots = [float(v) for v in model.y_thresholds_]
    return Calibrator(method="isotonic", params={"x": x, "y": knots})


_FITTERS = {"platt": _fit_platt, "isotonic": _fit_isotonic}


def _cv_log_loss(y: np.ndarray, p: np.ndarray, *, method: str, folds: int, seed: int) -> float:
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    total = 0.0
    for fit_idx, held_idx in splitter.split(p.reshape(-1, 1), y):
        calibrator = _FITTERS[method](y[fit_idx], p[fit_idx])
        total += _log_loss(y[held_idx], calibrator.apply(p[held_idx])) * len(held_idx)
    return total / len(y)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1.0 - q)))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(q) - np.log1p(-q)
