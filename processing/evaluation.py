"""Metrics: classifier quality (held-out split, gold set) and cluster quality (internal and against gold).

Figures are fractions in [0, 1]. The `evaluation.json` layout follows SageMaker's model-quality
convention (`multiclass_classification_metrics.<metric>.value`) so the ConditionStep's JsonGet and the
Model Registry's model metrics read the same file.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

# Silhouette is O(n^2); a fixed-size seeded sample keeps it cheap and deterministic.
SILHOUETTE_SAMPLE = 5000


def cluster_accuracy(y_true: Sequence, clusters: Sequence) -> float:
    """Accuracy under the best one-to-one matching of clusters to labels (Hungarian algorithm)."""
    labels, clusters = pd.factorize(np.asarray(y_true))[0], pd.factorize(np.asarray(clusters))[0]
    contingency = np.zeros((clusters.max() + 1, labels.max() + 1))
    np.add.at(contingency, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-contingency)
    return float(contingency[rows, cols].sum() / len(labels))


def clustering_scores(y_true: Sequence, clusters: Sequence) -> dict:
    """NMI, ARI and Hungarian cluster accuracy of a partition against gold labels."""
    return {
        "nmi": float(metrics.normalized_mutual_info_score(y_true, clusters)),
        "ari": float(metrics.adjusted_rand_score(y_true, clusters)),
        "acc": cluster_accuracy(y_true, clusters),
    }


def internal_cluster_quality(features: np.ndarray, clusters: np.ndarray, seed: int = 0) -> dict:
    """Label-free quality of a partition: silhouette (cosine, sampled) and cluster size spread."""
    sizes = np.bincount(clusters)
    n_clusters = int((sizes > 0).sum())
    silhouette = float("nan")
    if 1 < n_clusters < len(clusters):
        silhouette = float(metrics.silhouette_score(
            features, clusters, metric="cosine",
            sample_size=min(SILHOUETTE_SAMPLE, len(clusters)), random_state=seed))
    return {
        "n_clusters": n_clusters,
        "silhouette": silhouette,
        "smallest_cluster": int(sizes[sizes > 0].min()),
        "largest_cluster": int(sizes.max()),
    }


def classification_scores(y_true: Sequence, y_pred: Sequence) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = sorted(set(y_true) | set(y_pred))
    report = metrics.classification_report(
        y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "accuracy": {"value": float(metrics.accuracy_score(y_true, y_pred))},
        "macro_f1": {"value": float(report["macro avg"]["f1-score"])},
        "weighted_f1": {"value": float(report["weighted avg"]["f1-score"])},
        "n_samples": int(len(y_true)),
        "per_class": {
            label: {key: float(report[label][key]) for key in ("precision", "recall", "f1-score")}
            | {"support": int(report[label]["support"])}
            for label in labels
        },
        # SageMaker's model-quality layout: confusion_matrix[true_label][predicted_label] = count.
        "confusion_matrix": {
            true: {pred: int(matrix[i, j]) for j, pred in enumerate(labels)}
            for i, true in enumerate(labels)
        },
    }
