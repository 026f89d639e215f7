"""The matching rules on small hand-made arrays: reference neighbours, fine-cluster labels, merges, window groups."""
from __future__ import annotations

import numpy as np
import pytest

from processing.evolution.match import (NEW, MatchThresholds, distinct_threshold, fine_cluster_labels, join_parts,
                                        merged_components, reference_neighbour_ratio, window_groups)


def blob(center: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """n unit vectors scattered around `center`."""
    points = center + noise * rng.standard_normal((n, len(center)))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_a_topic_with_reference_messages_around_it_has_a_ratio_of_one_or_more_and_a_new_topic_zero():
    rng = np.random.default_rng(0)
    known, new = np.eye(8)[0], np.eye(8)[1]
    reference = blob(known, 40, rng)
    window = np.vstack([blob(known, 40, rng), blob(new, 40, rng)])
    ratio = reference_neighbour_ratio(window, reference, neighbours=10)
    # Half of the known messages' neighbours are reference messages where a third were expected (the new topic
    # takes half of the window but none of the reference).
    assert ratio[:40].mean() == pytest.approx(1.5, abs=0.2)
    assert ratio[40:].max() == 0.0


def test_without_reference_vectors_the_ratio_is_unknown_rather_than_zero():
    ratio = reference_neighbour_ratio(np.eye(4), np.zeros((0, 4)), neighbours=3)
    assert np.isnan(ratio).all()


def test_a_fine_cluster_takes_the_category_most_of_its_messages_were_assigned_unless_no_reference_is_near():
    fine = np.array([0, 0, 0, 1, 1, 1])
    assigned = np.array([2, 2, 1, 0, 0, 0])
    ratio = np.array([1.0, 0.9, 1.1, 0.1, 0.0, 0.2])
    labels, mean_ratio, counts = fine_cluster_labels(fine, 2, assigned, 3, ratio, MatchThresholds())
    assert labels.tolist() == [2, NEW]
    assert mean_ratio.round(3).tolist() == [1.0, 0.1]
    assert counts.tolist() == [[0, 1, 2], [3, 0, 0]]


def test_two_categories_whose_messages_share_the_same_fine_clusters_are_merged_and_separated_ones_are_not():
    # Fine clusters 0 and 1 each hold categories 0 and 1 about half and half; cluster 2 is category 2 alone;
    # cluster 3 holds mostly 3 with a minority of 2 (not a merge: most of 2 lies in its own cluster).
    counts = np.array([[20, 18, 0, 0], [15, 17, 0, 0], [0, 0, 30, 0], [0, 0, 10, 25]])
    labels = np.array([0, 1, 2, 3])
    merges, evidence = merged_components(labels, counts, MatchThresholds())
    assert merges == [[0, 1]]
    assert set(evidence) == {(0, 1)}
    assert evidence[(0, 1)]["mixed"] == pytest.approx([1.0, 1.0]) and not evidence[(0, 1)]["twins"]


def test_two_categories_with_twin_baseline_centroids_nearest_to_one_fine_cluster_are_merged_however_assigned():
    # The classifier put nearly all of the twins' messages in category 1: they share no cluster at 25% each.
    counts = np.array([[2, 40, 0], [0, 0, 30]])
    similarity = np.array([[1.0, 0.95, 0.3], [0.95, 1.0, 0.3], [0.3, 0.3, 1.0]])
    merges, evidence = merged_components(np.array([1, 2]), counts, MatchThresholds(), similarity, np.array([0, 0, 1]))
    assert merges == [[0, 1]] and evidence[(0, 1)]["twins"]
    # The same twins nearest to different fine clusters are separated by the window: no merge.
    merges, _ = merged_components(np.array([1, 2]), counts, MatchThresholds(), similarity, np.array([0, 1, 1]))
    assert merges == []


def test_categories_in_new_fine_clusters_do_not_count_towards_a_merge():
    counts = np.array([[20, 18], [0, 30]])
    merges, _ = merged_components(np.array([NEW, 1]), counts, MatchThresholds())
    assert merges == []


def test_parts_far_apart_and_large_enough_stay_apart_and_a_small_or_close_part_joins_the_most_similar():
    centroids = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.99, 0.14, 0.0], [0.0, 0.0, 1.0]])
    sizes = np.array([50.0, 40.0, 30.0, 5.0])
    components = join_parts(list(range(4)), sizes, centroids, distinct=0.7, min_size=10.0)
    assert components == [[0, 2, 3], [1]]


def test_the_distinct_threshold_is_the_lower_quartile_of_the_categories_nearest_neighbour_similarity_unless_given():
    centroids = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    nearest = [0.8, 0.8, 0.6, 0.0]  # each category's similarity to its nearest other category
    assert distinct_threshold(centroids, np.arange(4), MatchThresholds()) == pytest.approx(np.quantile(nearest, 0.25))
    assert distinct_threshold(centroids, np.arange(4), MatchThresholds(distinct_similarity=0.3)) == 0.3


def test_window_groups_keep_new_clusters_apart_from_known_ones_even_inside_one_branch_of_the_hierarchy():
    base_group = np.array([0, 0, 0, 1])  # the hierarchy put fine clusters 0, 1 and 2 together
    labels = np.array([0, NEW, 0, 1])
    counts = np.array([[30, 0], [0, 0], [20, 0], [0, 25]])
    centroids = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.95, 0.31, 0.0], [0.0, 1.0, 0.0]])
    group_of_fine, keys = window_groups(base_group, labels, [], np.column_stack([counts, [0, 12, 0, 0]]), centroids,
                                        0.7, MatchThresholds())
    assert group_of_fine.tolist() == [0, 2, 0, 1]
    assert keys == {0: 0, 1: 1, 2: NEW}


def test_one_category_in_two_distinct_branches_holding_a_real_share_each_becomes_two_groups():
    base_group = np.array([0, 1])
    counts = np.array([[30, 0], [25, 0]])
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    group_of_fine, keys = window_groups(base_group, np.array([0, 0]), [], counts, centroids, 0.7, MatchThresholds())
    assert sorted(group_of_fine.tolist()) == [0, 1]
    assert keys == {0: 0, 1: 0}


def test_distinct_parts_smaller_than_half_a_typical_category_are_one_category_not_a_split():
    base_group = np.array([0, 1])
    counts = np.array([[30, 0], [25, 0]])
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    # A typical category has 120 messages in the window: parts of 30 and 25 are sub-structure of one topic.
    group_of_fine, keys = window_groups(base_group, np.array([0, 0]), [], counts, centroids, 0.7, MatchThresholds(),
                                        typical_size=120)
    assert group_of_fine.tolist() == [0, 0] and keys == {0: 0}
    # With a lower bar (0.2 of 120 = 24 messages a part) they are a split again.
    group_of_fine, _ = window_groups(base_group, np.array([0, 0]), [], counts, centroids, 0.7,
                                     MatchThresholds(split_min_typical=0.2), typical_size=120)
    assert sorted(group_of_fine.tolist()) == [0, 1]
