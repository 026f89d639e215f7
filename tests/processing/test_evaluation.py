"""Specification of the metrics: Hungarian cluster accuracy, gold clustering scores, internal quality, and
the classification report in SageMaker's model-quality layout."""
from __future__ import annotations

import numpy as np
import pytest

from processing.evaluation import (classification_scores, cluster_accuracy, clustering_scores,
                                   internal_cluster_quality)


def test_cluster_accuracy_matches_clusters_to_labels_one_to_one():
    assert cluster_accuracy(["a", "a", "b", "b"], [7, 7, 3, 3]) == 1.0
    # Two clusters cannot both be matched to "a": the best matching gets 3 of 4 right.
    assert cluster_accuracy(["a", "a", "a", "b"], [0, 1, 1, 2]) == 0.75


def test_clustering_scores_are_perfect_for_a_relabelled_partition_and_low_for_noise():
    truth = np.repeat(np.arange(5), 40)
    assert clustering_scores(truth, (truth + 2) % 5) == {"nmi": 1.0, "ari": 1.0, "acc": 1.0}
    noise = clustering_scores(truth, np.random.default_rng(0).integers(0, 5, size=200))
    assert noise["nmi"] < 0.1 and noise["ari"] < 0.05 and noise["acc"] < 0.4


def test_internal_quality_reports_silhouette_and_cluster_sizes():
    points = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99], [0.05, 1]], dtype=np.float32)
    quality = internal_cluster_quality(points, np.array([0, 0, 1, 1, 1]))
    assert quality["n_clusters"] == 2 and quality["smallest_cluster"] == 2 and quality["largest_cluster"] == 3
    assert quality["silhouette"] > 0.9


def test_internal_quality_of_a_single_cluster_has_no_silhouette():
    quality = internal_cluster_quality(np.eye(3, dtype=np.float32), np.zeros(3, dtype=int))
    assert np.isnan(quality["silhouette"]) and quality["n_clusters"] == 1


def test_classification_scores_follow_the_model_quality_layout():
    scores = classification_scores(["billing", "billing", "shipping", "shipping"],
                                   ["billing", "shipping", "shipping", "shipping"])
    assert scores["accuracy"]["value"] == 0.75
    assert scores["macro_f1"]["value"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert scores["per_class"]["billing"] == {"precision": 1.0, "recall": 0.5, "f1-score": pytest.approx(2 / 3),
                                              "support": 2}
    assert scores["confusion_matrix"] == {"billing": {"billing": 1, "shipping": 1},
                                          "shipping": {"billing": 0, "shipping": 2}}
    assert scores["n_samples"] == 4


def test_predicted_classes_missing_from_the_truth_still_appear():
    scores = classification_scores(["a", "a"], ["a", "z"])
    assert scores["per_class"]["z"]["support"] == 0
    assert scores["confusion_matrix"]["a"]["z"] == 1
