"""Specification of the estimate without labels (CBPE-style): on predictions whose correctness follows their
calibrated confidence, the estimated accuracy and macro-F1 match what the labels would have said; a
recalibration on held-out predictions repairs an over-confident model."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from processing.monitoring.estimate import (chance_correct, error_destinations, estimate_performance,
                                            fit_calibration)

CLASSES = ["billing", "cards", "delivery", "support"]
PREDICTED_SHARES = [0.4, 0.3, 0.2, 0.1]
# Where each category's errors truly belong (the error destinations the estimator learns from held-out data).
CONFUSED_WITH = {"billing": [0.0, 0.7, 0.2, 0.1], "cards": [0.6, 0.0, 0.1, 0.3],
                 "delivery": [0.1, 0.1, 0.0, 0.8], "support": [0.5, 0.25, 0.25, 0.0]}


def predictions(seed: int, rows: int = 20_000, chance=lambda confidence: confidence):
    """Predicted category, reported confidence and the truth: right with probability chance(confidence),
    otherwise a category drawn from CONFUSED_WITH."""
    rng = np.random.default_rng(seed)
    predicted = rng.choice(CLASSES, size=rows, p=PREDICTED_SHARES).astype(object)
    confidence = rng.uniform(0.35, 1.0, size=rows)
    right = rng.random(rows) < chance(confidence)
    wrong = np.empty(rows, dtype=object)
    for category in CLASSES:
        rows_of = predicted == category
        wrong[rows_of] = rng.choice(CLASSES, size=rows_of.sum(), p=CONFUSED_WITH[category])
    truth = np.where(right, predicted, wrong)
    return predicted, confidence, truth


def fitted(seed: int, chance=lambda confidence: confidence):
    """Calibration and error destinations fitted on a held-out split."""
    predicted, confidence, truth = predictions(seed, chance=chance)
    return fit_calibration(confidence, predicted == truth), error_destinations(predicted, truth, CLASSES)


def test_estimated_accuracy_is_within_two_points_of_the_realised_accuracy():
    calibration, destinations = fitted(seed=0)
    predicted, confidence, truth = predictions(seed=1)
    estimate = estimate_performance(predicted, confidence, calibration, destinations)
    assert estimate["accuracy"] == pytest.approx(np.mean(predicted == truth), abs=0.02)


def test_estimated_macro_f1_is_within_three_points_of_scikit_learns_on_the_realised_labels():
    calibration, destinations = fitted(seed=0)
    predicted, confidence, truth = predictions(seed=2)
    estimate = estimate_performance(predicted, confidence, calibration, destinations)
    realised = f1_score(truth.astype(str), predicted.astype(str), average="macro")
    assert estimate["macro_f1"] == pytest.approx(realised, abs=0.03)


def test_the_estimates_follow_a_batch_whose_confidence_fell():
    calibration, destinations = fitted(seed=0)
    predicted, confidence, truth = predictions(seed=3)
    low = confidence < 0.6  # a batch of mostly unsure predictions: far worse than the held-out split
    keep = low | (np.arange(len(low)) % 10 == 0)
    estimate = estimate_performance(predicted[keep], confidence[keep], calibration, destinations)
    assert estimate["accuracy"] == pytest.approx(np.mean(predicted[keep] == truth[keep]), abs=0.03)
    assert estimate["accuracy"] < np.mean(predicted == truth) - 0.1


def test_calibration_fixes_an_over_confident_model():
    over_confident = lambda confidence: confidence ** 3  # says 0.8 when it is right half the time
    calibration, destinations = fitted(seed=0, chance=over_confident)
    predicted, confidence, truth = predictions(seed=4, chance=over_confident)
    realised = np.mean(predicted == truth)
    with_calibration = estimate_performance(predicted, confidence, calibration, destinations)["accuracy"]
    without = estimate_performance(predicted, confidence, None, destinations)["accuracy"]
    assert abs(with_calibration - realised) <= 0.02 < abs(without - realised)
    assert abs(with_calibration - realised) < abs(without - realised) / 5


def test_the_calibration_is_a_monotone_json_able_map_into_probabilities():
    calibration, _ = fitted(seed=0, chance=lambda confidence: confidence ** 2)
    assert set(calibration) == {"x", "y"} and all(isinstance(v, float) for v in calibration["x"] + calibration["y"])
    mapped = chance_correct(np.linspace(0, 1, 101), calibration)
    assert np.all(np.diff(mapped) >= 0) and mapped.min() >= 0 and mapped.max() <= 1
    assert chance_correct(np.array([0.3, 0.9]), None).tolist() == [0.3, 0.9]  # no calibration: confidence itself


def test_error_destinations_are_shares_of_the_other_categories_with_an_add_one_prior():
    predicted = np.array(["a", "a", "a", "a", "b", "c"], dtype=object)
    truth = np.array(["a", "b", "b", "c", "b", "c"], dtype=object)
    destinations = error_destinations(predicted, truth, ["a", "b", "c"])
    assert destinations["a"] == pytest.approx({"b": 3 / 5, "c": 2 / 5})  # errors b, b, c plus one each
    assert destinations["b"] == pytest.approx({"a": 0.5, "c": 0.5})  # no errors: the prior alone


def test_a_perfectly_confident_batch_is_estimated_perfect():
    predicted = np.array(["a", "b", "c", "a"], dtype=object)
    estimate = estimate_performance(predicted, np.ones(4), None, {})
    assert estimate == {"accuracy": 1.0, "macro_f1": 1.0}


def test_an_empty_batch_has_no_estimate():
    assert estimate_performance(np.array([], dtype=object), np.array([]), None, {}) == \
        {"accuracy": None, "macro_f1": None}
