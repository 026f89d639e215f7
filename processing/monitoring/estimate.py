"""Classifier performance estimated without labels, in the manner of CBPE (NannyML's confidence-based
performance estimation): each prediction is correct with the probability its confidence says, once that
confidence is recalibrated on the baseline's held-out split.

- accuracy: the mean probability of being right;
- macro-F1: per category, expected true positives (the probability of being right of the messages predicted
  as it), false positives (the rest of them) and false negatives (the probability of being wrong of messages
  predicted as another category, sent to this one in the proportions the held-out errors went).
Only the predictions are needed (category, confidence, novel), never the full probability vectors. Messages of a
category the model never saw are wrong whatever their confidence: the novel-flagged messages in excess of the
baseline's novel share are counted as such.
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression


def fit_calibration(confidence: np.ndarray, correct: np.ndarray) -> dict:
    """Isotonic map from confidence to the chance of being right, fitted on held-out predictions (JSON-able)."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float))
    return {"x": [float(v) for v in model.X_thresholds_], "y": [float(v) for v in model.y_thresholds_]}


def chance_correct(confidence: np.ndarray, calibration: dict | None) -> np.ndarray:
    """Each prediction's probability of being right: its recalibrated confidence (the confidence itself
    when there is no calibration)."""
    confidence = np.asarray(confidence, dtype=float)
    if not calibration or not calibration["x"]:
        return confidence
    return np.interp(confidence, calibration["x"], calibration["y"])


def error_destinations(predicted: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    """For each predicted category, where its held-out errors truly belonged (shares over the other categories,
    with a add-one prior so that every other category keeps some weight)."""
    predicted, truth = np.asarray(predicted, dtype=object), np.asarray(truth, dtype=object)
    result = {}
    for category in classes:
        others = [c for c in classes if c != category]
        wrong = truth[(predicted == category) & (truth != category)]
        counts = np.array([np.sum(wrong == c) for c in others], dtype=float) + 1.0
        result[str(category)] = {str(c): float(v) for c, v in zip(others, counts / counts.sum())}
    return result


def novelty_adjustment(novel: np.ndarray, baseline_novel_share: float) -> float:
    """The factor on a novel-flagged message's chance of being right: of the batch's flagged messages, the share
    the baseline's own rate explains keeps its chance; the excess is taken to belong to no known category (always
    wrong), the one shift that confidence cannot see (CBPE assumes no new classes)."""
    share = float(np.mean(novel)) if len(novel) else 0.0
    return min(1.0, baseline_novel_share / share) if share > baseline_novel_share else 1.0


def estimate_performance(predicted: np.ndarray, confidence: np.ndarray, calibration: dict | None,
                         destinations: dict[str, dict[str, float]], novel: np.ndarray | None = None,
                         baseline_novel_share: float | None = None) -> dict:
    """Estimated accuracy and macro-F1 of a batch of predictions (None for an empty batch); with `novel` and the
    baseline's novel share, flagged messages in excess of that share count as wrong (novelty_adjustment)."""
    predicted = np.asarray(predicted, dtype=object)
    if len(predicted) == 0:
        return {"accuracy": None, "macro_f1": None}
    right = chance_correct(confidence, calibration)
    if novel is not None and baseline_novel_share is not None:
        novel = np.asarray(novel, dtype=bool)
        right = np.where(novel, right * novelty_adjustment(novel, baseline_novel_share), right)
    classes = sorted(set(destinations) | set(predicted.tolist()), key=str)
    true_positive = {c: float(right[predicted == c].sum()) for c in classes}
    false_positive = {c: float((1 - right[predicted == c]).sum()) for c in classes}
    false_negative = dict.fromkeys(classes, 0.0)
    for source in classes:
        wrong = false_positive[source]
        shares = destinations.get(source) or {c: 1 / max(len(classes) - 1, 1) for c in classes if c != source}
        for target, share in shares.items():
            if target in false_negative:
                false_negative[target] += wrong * share
    f1 = []
    for c in classes:
        support = true_positive[c] + false_negative[c]
        if support < 0.5 and not (predicted == c).any():
            continue  # a category absent from the batch does not count, as in scikit-learn's macro average
        denominator = 2 * true_positive[c] + false_positive[c] + false_negative[c]
        f1.append(2 * true_positive[c] / denominator if denominator else 0.0)
    return {"accuracy": float(right.mean()), "macro_f1": float(np.mean(f1)) if f1 else None}


def unknown_words_correction(right: np.ndarray, suspect: np.ndarray, baseline_suspect_share: float) -> float:
    """What to take off an estimated accuracy for messages made mostly of words the classifier never saw (and
    not already flagged novel), measured on the drift sample: their share above the baseline's is taken to
    belong to no known category, so that part of their chance of being right is removed."""
    suspect = np.asarray(suspect, dtype=bool)
    share = float(suspect.mean()) if len(suspect) else 0.0
    if share <= baseline_suspect_share:
        return 0.0
    excess = (share - baseline_suspect_share) / share
    return float(excess * np.sum(np.asarray(right, dtype=float)[suspect]) / len(suspect))
