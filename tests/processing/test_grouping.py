"""Grouping fine clusters into proposed categories (processing/grouping.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from processing.grouping import centred_by_stratum, group_clusters, language_dependence, map_points


def nested_blobs(n_groups: int = 4, fine_per_group: int = 5, rows: int = 40, seed: int = 0):
    """Rows in `n_groups` far-apart groups, each made of `fine_per_group` nearby fine clusters (shuffled ids)."""
    rng = np.random.default_rng(seed)
    points, fine, truth = [], [], []
    for group in range(n_groups):
        centre = rng.normal(size=8) * 10
        for part in range(fine_per_group):
            points.append(centre + rng.normal(size=8) * 1.5 + rng.normal(size=(rows, 8)) * 0.3)
            fine += [group * fine_per_group + part] * rows
            truth += [group] * rows
    shuffle = rng.permutation(n_groups * fine_per_group)
    return np.vstack(points), shuffle[np.array(fine)], np.array(truth)


def test_well_separated_groups_of_fine_clusters_are_recovered_with_auto_cut():
    space, fine, truth = nested_blobs()
    grouping = group_clusters(space, fine, 20)
    assert grouping.n_groups == 4
    grouped = grouping.group_of_cluster[fine]
    # every true group is exactly one proposed category
    assert all(len(set(grouped[truth == g])) == 1 for g in range(4))
    assert len(set(grouped)) == 4
    assert grouping.evidence["chosen"] == 4 and grouping.evidence["criterion"] == "silhouette"


def test_the_silhouette_of_each_cut_is_the_silhouette_of_the_grouped_messages():
    space, fine, _ = nested_blobs()
    grouping = group_clusters(space, fine, 20)
    expected = silhouette_score(space, grouping.group_of_cluster[fine])
    assert grouping.evidence["scores"]["4"] == pytest.approx(expected, abs=1e-5)


def test_a_forced_number_of_groups_is_honoured_and_groups_are_numbered_largest_first():
    space, fine, _ = nested_blobs()
    for n in (1, 2, 7, 20):
        grouping = group_clusters(space, fine, 20, n_groups=n)
        assert grouping.n_groups == n and sorted(set(grouping.group_of_cluster)) == list(range(n))
        sizes = np.bincount(grouping.group_of_cluster[fine], minlength=n)
        assert list(sizes) == sorted(sizes, reverse=True)
        assert grouping.evidence["criterion"] == "forced"


def test_grouping_is_deterministic_and_its_evidence_is_json():
    space, fine, _ = nested_blobs(seed=3)
    first, second = group_clusters(space, fine, 20, seed=5), group_clusters(space, fine, 20, seed=5)
    assert np.array_equal(first.group_of_cluster, second.group_of_cluster)
    assert json.dumps(first.evidence) == json.dumps(second.evidence)
    assert len(first.evidence["linkage"]) == 19  # one merge per fine cluster but the last


def test_one_fine_cluster_is_one_category_and_two_are_grouped_by_the_evidence():
    rng = np.random.default_rng(0)
    one = group_clusters(rng.normal(size=(5, 3)), np.zeros(5, dtype=int), 1)
    assert one.n_groups == 1 and one.group_of_cluster.tolist() == [0]
    assert "nothing to choose" in one.evidence["why"]
    two_apart = np.vstack([rng.normal(size=(10, 3)), rng.normal(size=(10, 3)) + 50])
    two = group_clusters(two_apart, np.repeat([0, 1], 10), 2)
    assert two.n_groups == 2 and sorted(two.group_of_cluster.tolist()) == [0, 1]


def test_a_fine_cluster_without_messages_still_belongs_to_a_group():
    space, fine, _ = nested_blobs(n_groups=2, fine_per_group=2)
    grouping = group_clusters(space, fine, 5)  # cluster 4 has no messages
    assert len(grouping.group_of_cluster) == 5 and grouping.group_of_cluster[4] in range(grouping.n_groups)


def test_a_forced_cut_above_the_fine_clusters_is_capped_and_says_so():
    space, fine, _ = nested_blobs(n_groups=2, fine_per_group=2)
    grouping = group_clusters(space, fine, 4, n_groups=9)
    assert grouping.n_groups == 4 and "capped" in grouping.evidence["why"]


@pytest.mark.parametrize("n_groups", [0, -1, "some", 2.5, True])
def test_a_bad_number_of_groups_is_refused_in_one_sentence(n_groups):
    space, fine, _ = nested_blobs(n_groups=2, fine_per_group=2)
    with pytest.raises(ValueError, match="n_groups must be 'auto' or an integer >= 1"):
        group_clusters(space, fine, 4, n_groups=n_groups)


def test_cluster_ids_outside_the_fine_clusters_are_refused():
    with pytest.raises(ValueError, match="cluster ids must lie in 0..1"):
        group_clusters(np.zeros((3, 2)), np.array([0, 1, 2]), 2)


def test_the_map_points_are_a_seeded_two_dimensional_sample_with_labels_and_ids():
    space, fine, _ = nested_blobs()
    ids = [f"m{i}" for i in range(len(space))]
    points = map_points(space, fine, ids, seed=1, max_points=100)
    assert len(points["x"]) == len(points["y"]) == len(points["category"]) == len(points["id"]) == 100
    assert points == map_points(space, fine, ids, seed=1, max_points=100)
    row = ids.index(points["id"][0])
    assert points["category"][0] == fine[row]


def bilingual_blobs(n_topics: int = 3, fine_per_language: int = 2, rows: int = 30, seed: int = 0):
    """Topics written in two languages: each language shifts every message along its own far-off direction (as an
    English sentence model places Spanish text), and each (topic, language) pair has its own fine clusters."""
    rng = np.random.default_rng(seed)
    language_shift = {"es": rng.normal(size=8) * 30, "en": rng.normal(size=8) * 30}
    topics = rng.normal(size=(n_topics, 8)) * 10
    points, fine, truth, languages = [], [], [], []
    for topic in range(n_topics):
        for language, shift in language_shift.items():
            for _ in range(fine_per_language):
                points.append(topics[topic] + shift + rng.normal(size=8) + rng.normal(size=(rows, 8)) * 0.3)
                fine += [len(set(fine))] * rows
                truth += [topic] * rows
                languages += [language] * rows
    return np.vstack(points), np.array(fine), np.array(truth), np.array(languages)


def test_each_languages_mean_is_removed_from_its_own_rows():
    space = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0], [20.0, 0.0]])
    centred = centred_by_stratum(space, np.array(["es", "es", "en", "en"]))
    assert centred.tolist() == [[-1.0, -1.0], [1.0, 1.0], [-5.0, 0.0], [5.0, 0.0]]


def test_a_bilingual_set_is_grouped_by_topic_across_languages_not_by_language():
    space, fine, truth, languages = bilingual_blobs()
    grouping = group_clusters(space, fine, int(fine.max()) + 1, strata=languages)
    grouped = grouping.group_of_cluster[fine]
    assert grouping.n_groups == 3
    assert all(len(set(grouped[truth == t])) == 1 for t in range(3))  # each topic one category, both languages
    assert "language-independent" in grouping.evidence["criterion"]
    assert grouping.evidence["language_dependence"]["3"] < 0.05 < grouping.evidence["language_dependence"]["6"]


def test_without_the_language_rule_the_same_set_would_be_split_by_language():
    space, fine, truth, languages = bilingual_blobs()
    grouping = group_clusters(space, fine, int(fine.max()) + 1)  # no strata: one language assumed
    grouped = grouping.group_of_cluster[fine]
    assert set(grouped[languages == "es"]).isdisjoint(grouped[languages == "en"])


def test_a_few_stray_language_detections_are_not_a_language_of_their_own():
    space, fine, _ = nested_blobs()
    languages = np.array(["en"] * len(fine))
    languages[:5] = "es"  # under 5% of the messages
    with_strays = group_clusters(space, fine, 20, strata=languages)
    assert "language-independent" not in with_strays.evidence["criterion"]
    assert with_strays.evidence["language_dependence"] == {}
    assert with_strays.n_groups == 4


def test_language_dependence_is_zero_for_groups_that_span_both_languages_evenly():
    clusters = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    languages = np.array(["es", "en"] * 4)
    linkage = np.array([[0, 1, 0.1, 2], [2, 3, 0.1, 2], [4, 5, 0.5, 4]], dtype=float)
    dependence = language_dependence(clusters, np.arange(4), linkage, languages)
    assert dependence[2] == pytest.approx(0.0) and dependence[4] == pytest.approx(0.0)


def test_above_max_rows_the_grouping_is_measured_on_a_seeded_sample_of_the_messages():
    from processing.cluster import sample_indices

    space, fine, _ = nested_blobs()
    whole = group_clusters(space, fine, 20, seed=3)
    unsampled = group_clusters(space, fine, 20, seed=3, max_rows=len(space))
    np.testing.assert_array_equal(unsampled.group_of_cluster, whole.group_of_cluster)
    assert unsampled.evidence == whole.evidence
    rows = sample_indices(len(space), 300, seed=3)
    sampled = group_clusters(space, fine, 20, seed=3, max_rows=300)
    on_sample = group_clusters(space[rows], fine[rows], 20, seed=3)
    np.testing.assert_array_equal(sampled.group_of_cluster, on_sample.group_of_cluster)
    assert sampled.evidence == on_sample.evidence and sampled.n_groups == 4
