"""The matching rules on small hand-made arrays: reference neighbours, fine-cluster labels, merges, window groups."""
from __future__ import annotations

import numpy as np
import pytest

from processing.evolution.match import (pool_weak_candidates, NEW, MatchThresholds, attach_or_return, distinct_threshold,
                                        expected_reference_share, fine_cluster_labels, fine_languages, join_parts,
                                        language_halves, merged_components,
                                        new_cluster_pvalue, reference_neighbour_ratio, regroup,
                                        unconfirmed_candidates, window_groups)


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


def test_small_pieces_of_one_topic_gather_before_they_are_compared_with_another_topic():
    # Topic A is one large part; topic B comes in three pieces, each under the minimum size but together over it,
    # and each a little nearer to A than a greedy pass would need to hand it to A.
    centroids = np.array([[1.0, 0.0], [0.5, 0.87], [0.45, 0.89], [0.55, 0.84]])
    sizes = np.array([100.0, 20.0, 20.0, 20.0])
    components = join_parts(list(range(4)), sizes, centroids, distinct=0.9, min_size=30.0)
    assert components == [[0], [1, 2, 3]]


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


def test_no_reference_neighbour_among_ten_messages_is_chance_but_among_eighteen_it_is_evidence_of_a_new_topic():
    share = expected_reference_share(1942, 573)  # the demo window against its baseline's reference
    assert share == pytest.approx(0.228, abs=0.001)
    pvalues = new_cluster_pvalue(np.array([0.0, 0.0, 0.0, 1.0]), np.array([10, 18, 80, 80]), share)
    assert pvalues[0] == pytest.approx((1 - share) ** 10) and pvalues[0] > MatchThresholds().new_alpha
    assert pvalues[1] < MatchThresholds().new_alpha < pvalues[0]
    assert pvalues[2] < 1e-8
    assert pvalues[3] > 0.4  # as many reference neighbours as expected: no evidence at all


def test_a_small_candidate_is_unconfirmed_and_a_large_one_with_the_same_ratio_is_confirmed():
    group_of_fine = np.array([0, 1, 1, 2])
    keys = {0: 0, 1: NEW, 2: NEW}
    mean_ratio = np.array([1.0, 0.1, 0.0, 0.1])
    sizes = np.array([60, 30, 20, 9])
    weak, pvalues = unconfirmed_candidates(group_of_fine, keys, mean_ratio, sizes, 0.25, MatchThresholds())
    assert weak == [3]
    assert set(pvalues) == {1, 2} and pvalues[1] < 0.01 < pvalues[2]


def test_an_unconfirmed_piece_joins_the_confirmed_candidate_nearer_than_every_category_and_otherwise_returns():
    group_of_fine = np.array([0, 1, 2, 3])  # 0: a known category's group, 1: a confirmed candidate, 2 and 3: weak
    centroids = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.98, 0.0], [0.98, 0.2, 0.0]])
    known = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    joins, returned = attach_or_return([2, 3], [1], group_of_fine, centroids, np.array([50, 40, 8, 8]), known)
    assert joins == {2: 1} and returned == [3]
    # Without a confirmed candidate every piece returns.
    assert attach_or_return([2, 3], [], group_of_fine, centroids, np.array([50, 40, 8, 8]), known) == ({}, [2, 3])


def test_regrouping_moves_joined_fine_clusters_and_numbers_the_groups_largest_first_again():
    group_of_fine, keys = regroup(np.array([0, 1, 2, 3]), {0: 4, 1: NEW, 2: 7, 3: NEW}, {3: 1},
                                  np.array([50, 30, 40, 25]))
    assert group_of_fine.tolist() == [1, 0, 2, 0]
    assert keys == {0: NEW, 1: 4, 2: 7}


def test_a_fine_cluster_has_a_language_when_most_of_its_messages_share_it():
    fine = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    languages = np.array(["es", "es", "es", "es", "es", "en", "en", "es", "en", "es"])
    assert fine_languages(fine, 3, languages).tolist() == ["es", "", ""]
    assert fine_languages(fine, 2, None).tolist() == ["", ""]


def test_a_category_whose_parts_are_only_its_spanish_and_english_halves_is_not_a_split():
    parts = [np.array([0]), np.array([1]), np.array([2])]
    assert language_halves([[0], [1]], parts, np.array(["es", "en", "es"]))
    assert not language_halves([[0], [2]], parts, np.array(["es", "en", "es"]))  # two Spanish topics: a split
    assert not language_halves([[0], [1]], parts, np.array(["es", "", "es"]))  # a mixed part: a split
    assert not language_halves([[0, 1, 2]], parts, np.array(["es", "en", "es"]))
    base_group = np.array([0, 1])
    counts = np.array([[30, 0], [25, 0]])
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    group_of_fine, keys = window_groups(base_group, np.array([0, 0]), [], counts, centroids, 0.7, MatchThresholds(),
                                        fine_language=np.array(["es", "en"], dtype=object))
    assert group_of_fine.tolist() == [0, 0] and keys == {0: 0}


def test_weak_candidates_in_one_branch_are_tested_together_and_join_when_together_they_are_not_chance():
    # Four new pieces of 20 messages with no reference neighbour, against an expected share of 0.1: alone each is
    # chance (0.9 ** 20 = 0.12), together (0.9 ** 80) they are not. Pieces 0-2 share branch 0; piece 3 is alone.
    group_of_fine = np.array([0, 1, 2, 3])
    base_group = np.array([0, 0, 0, 1])
    ratio, sizes = np.zeros(4), np.full(4, 20)
    joins, left = pool_weak_candidates([0, 1, 2, 3], group_of_fine, base_group, ratio, sizes, 0.1, MatchThresholds())
    assert joins == {0: 0, 1: 0, 2: 0} and left == [3]
    # pieces that look like the reference stay weak together
    joins, left = pool_weak_candidates([0, 1, 2], group_of_fine, base_group, np.ones(4), sizes, 0.1, MatchThresholds())
    assert joins == {} and left == [0, 1, 2]
