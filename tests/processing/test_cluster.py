"""Specification of clustering: seeded UMAP/KMeans, k and UMAP chosen from internal evidence only,
sampling for large inputs, and the per-cluster summary an analyst reviews."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processing.cluster import (MessageClusterer, class_tfidf, cluster_centroids, partition_evidence,
                                sample_indices, summarize_clusters, ward_centroids)
from processing.evaluation import clustering_scores
from processing.features import SentenceEmbeddingFeaturizer, TfidfLsaFeaturizer


@pytest.fixture(scope="module")
def features(demo_messages) -> np.ndarray:
    return TfidfLsaFeaturizer(n_components=100).fit_transform(demo_messages)


def blobs(n_per_blob: int, centers: int, dims: int = 20, spread: float = 0.05, seed: int = 0) -> np.ndarray:
    """Unit-norm points around `centers` random directions: a partition with an obvious k."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(centers, dims))
    points = np.repeat(directions, n_per_blob, axis=0) + spread * rng.normal(size=(centers * n_per_blob, dims))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_auto_k_finds_the_number_of_well_separated_groups():
    points = blobs(60, centers=6)
    clusterer = MessageClusterer(n_clusters="auto", k_range=(2, 12), use_umap=False).fit(points)
    assert clusterer.n_clusters_ == 6
    assert set(clusterer.selection_["k_silhouettes"]) >= {2, 12}


def bilingual_topics(n: int = 1200, topics: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features of `topics` topics where each message's language moves it further than its topic does (as with an
    English sentence model on Spanish and English messages): the rows, and each row's language."""
    rng = np.random.default_rng(seed)
    topic, spanish = rng.integers(0, topics, n), rng.integers(0, 2, n).astype(bool)
    rows = np.zeros((n, topics + 1))
    rows[:, 0] = np.where(spanish, 2.0, -2.0)
    rows[np.arange(n), 1 + topic] = 1.0
    return rows + rng.normal(0, 0.15, rows.shape), np.where(spanish, "es", "en")


def test_the_search_for_k_looks_past_the_languages_when_it_is_told_them():
    rows, languages = bilingual_topics()
    settings = dict(n_clusters="auto", k_range=(2, 12), use_umap=False, plain_components=None, n_init=3)
    blind = MessageClusterer(**settings).fit(rows)
    told = MessageClusterer(**settings).fit(rows, strata=languages)
    assert blind.n_clusters_ == 2  # the language split: the silhouette's favourite when nothing says otherwise
    assert told.n_clusters_ == 6  # the topics (the clusters themselves may still differ by language: the grouping
    # of the fine clusters into categories takes the languages out, processing/grouping.py)
    one_language = MessageClusterer(**settings).fit(rows, strata=np.full(len(rows), "es"))
    assert one_language.selection_["k_silhouettes"] == blind.selection_["k_silhouettes"]  # nothing to look past
    with pytest.raises(ValueError, match="strata must have one value per message"):
        MessageClusterer(**settings).fit(rows, strata=languages[:10])


def test_given_k_is_used_and_labels_cover_every_row(features):
    labels = MessageClusterer(n_clusters=8, use_umap=False).fit_predict(features)
    assert labels.shape == (len(features),)
    assert set(labels) == set(range(8))


def test_clusters_recover_demo_categories_without_seeing_labels(demo_messages, features):
    labels = MessageClusterer(n_clusters=16, use_umap="auto", seed=0).fit_predict(features)
    # 8 categories in two languages: 16 clusters should each be mostly one category.
    counts = pd.crosstab(labels, demo_messages["label"])
    purity = counts.max(axis=1).sum() / len(labels)
    assert purity > 0.75


def test_umap_choice_records_the_evidence_of_both_candidates(features):
    clusterer = MessageClusterer(n_clusters=8, use_umap="auto", seed=0).fit(features)
    candidates = clusterer.selection_["candidates"]
    assert set(candidates) == {"plain", "umap"}
    for evidence in candidates.values():
        assert 0 <= evidence["learnability"] <= 1 and -1 <= evidence["stability"] <= 1
        assert evidence["score"] == pytest.approx(evidence["stability"] + evidence["learnability"])
    best = max(candidates, key=lambda name: candidates[name]["score"])
    assert clusterer.selection_["chosen"] == best
    assert (clusterer.umap_ is not None) == (best == "umap")


def test_same_seed_gives_identical_labels(features):
    first = MessageClusterer(n_clusters=8, use_umap=True, seed=1).fit_predict(features)
    second = MessageClusterer(n_clusters=8, use_umap=True, seed=1).fit_predict(features)
    np.testing.assert_array_equal(first, second)


def test_rows_outside_the_fit_sample_are_assigned_to_their_nearest_cluster():
    points = blobs(200, centers=4)
    clusterer = MessageClusterer(n_clusters=4, use_umap=False, max_fit_rows=100, seed=0)
    labels = clusterer.fit_predict(points)
    assert clusterer.selection_["fit_rows"] == 100
    truth = np.repeat(np.arange(4), 200)
    assert clustering_scores(truth, labels)["acc"] == 1.0
    np.testing.assert_array_equal(clusterer.predict(points), labels)


def test_with_umap_rows_outside_the_fit_sample_join_the_cluster_of_their_neighbours():
    points = blobs(150, centers=4, dims=30)
    clusterer = MessageClusterer(n_clusters=4, use_umap=True, umap_neighbors=10, max_fit_rows=200, seed=0)
    labels = clusterer.fit_predict(points)
    assert clusterer.selection_["fit_rows"] == 200 and clusterer.selection_["chosen"] == "umap"
    assert clustering_scores(np.repeat(np.arange(4), 150), labels)["acc"] == 1.0
    # Fitted rows map back to about where UMAP placed them, so they keep their cluster.
    np.testing.assert_array_equal(clusterer.predict(points), labels)


def test_plain_candidate_clusters_the_renormalised_leading_components():
    points = blobs(50, centers=3, dims=30)
    clusterer = MessageClusterer(n_clusters=3, use_umap=False, plain_components=10).fit(points)
    embedded = clusterer.embed(points)
    assert embedded.shape == (150, 10)
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("params, message", [
    ({"n_clusters": 1}, "n_clusters must be 'auto' or an integer >= 2"),
    ({"n_clusters": "many"}, "n_clusters must be"),
    ({"use_umap": "maybe"}, "use_umap must be"),
    ({"k_range": (5, 3)}, "k_range must satisfy"),
    ({"kmeans_init": "random"}, "kmeans_init must be 'k-means\\+\\+' or 'ward'"),
    ({"n_clusters": 500}, "too few to form 500 clusters"),
])
def test_bad_parameters_are_named_in_the_error(params, message):
    with pytest.raises(ValueError, match=message):
        MessageClusterer(**params).fit(blobs(20, centers=3))


def test_partition_evidence_rates_a_real_partition_above_a_random_one():
    points = blobs(60, centers=5)
    truth = np.repeat(np.arange(5), 60)
    noise = np.random.default_rng(0).integers(0, 5, size=len(points))
    real, random = (partition_evidence(points, points, labels, 5, seed=0) for labels in (truth, noise))
    assert real["learnability"] > 0.95 > 0.5 > random["learnability"]
    assert real["score"] > random["score"]


def test_umap_kernels_are_compiled_into_the_tweetops_cache_folder(embedding_cache_dir):
    # numba would otherwise recompile UMAP's kernels in every process (4-8 s); NUMBA_CACHE_DIR, if set, wins.
    MessageClusterer(n_clusters=2, use_umap=True).fit(blobs(30, centers=2))
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or embedding_cache_dir / "numba")
    kernels = {path.name.split("-")[0] for path in folder.rglob("*.nbi")}
    assert "layouts._optimize_layout_euclidean_single_epoch" in kernels


def test_ward_centroids_come_from_a_bounded_sample_and_land_on_the_groups():
    points = blobs(60, centers=5)
    centroids = ward_centroids(points, 5, seed=0, max_rows=40)  # 40 of 300 rows: about 8 per group
    group_centers = points.reshape(5, 60, -1).mean(axis=1)
    distances = np.linalg.norm(centroids[:, None] - group_centers[None], axis=2)
    assert sorted(distances.argmin(axis=1)) == [0, 1, 2, 3, 4]  # one centroid per group
    assert distances.min(axis=1).max() < 0.1


def test_ward_initialised_kmeans_recovers_the_groups_and_is_seeded():
    points = blobs(60, centers=5)
    truth = np.repeat(np.arange(5), 60)
    first, second = (MessageClusterer(n_clusters=5, use_umap=False, kmeans_init="ward", seed=3).fit_predict(points)
                     for _ in range(2))
    assert clustering_scores(truth, first)["ari"] == pytest.approx(1.0)
    np.testing.assert_array_equal(first, second)


def test_sample_indices_are_sorted_seeded_and_bounded():
    assert list(sample_indices(5, 10, seed=0)) == [0, 1, 2, 3, 4]
    sample = sample_indices(1000, 100, seed=4)
    assert len(sample) == 100 == len(set(sample)) and list(sample) == sorted(sample)
    np.testing.assert_array_equal(sample, sample_indices(1000, 100, seed=4))


def test_centroids_are_unit_means_and_empty_clusters_are_zero():
    points = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    centroids = cluster_centroids(points, np.array([0, 0, 1]), n_clusters=3)
    np.testing.assert_allclose(centroids, [[1, 0], [0, 1], [0, 0]])


def test_centroids_add_each_cluster_rows_in_row_order_in_float64():
    # The bits of np.add.at's sequential float64 sums, which earlier centroids (and their summaries) were made of.
    rng = np.random.default_rng(3)
    points = rng.normal(size=(5000, 64)).astype(np.float32) * rng.lognormal(size=(5000, 1)).astype(np.float32)
    clusters = rng.integers(0, 7, size=5000)
    sums = np.zeros((8, 64))
    np.add.at(sums, clusters, points.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    expected = (sums / np.where(norms == 0, 1, norms)).astype(np.float32)
    np.testing.assert_array_equal(cluster_centroids(points, clusters, n_clusters=8), expected)


def test_class_tfidf_ranks_a_cluster_own_words_first():
    import scipy.sparse as sp

    # columns: refund, order, hello ; "order" appears in both clusters, so it is less distinctive
    counts = sp.csr_matrix(np.array([[2, 1, 0], [1, 1, 0], [0, 1, 2], [0, 1, 1]]))
    weights = class_tfidf(counts, np.array([0, 0, 1, 1]), n_clusters=2)
    assert weights[0].argmax() == 0 and weights[1].argmax() == 2
    assert weights[0, 1] < weights[0, 0]


def test_summary_gives_each_cluster_its_size_terms_examples_and_a_comparable_centroid(demo_messages, features):
    labels = MessageClusterer(n_clusters=8, use_umap=False).fit_predict(features)
    summary = summarize_clusters(demo_messages["id"], demo_messages["text"], demo_messages["feature_text"],
                                 features, labels, 8, n_representative=4, n_borderline=2)
    assert [c["cluster"] for c in summary] == list(range(8))
    assert sum(c["size"] for c in summary) == len(demo_messages)
    by_id = dict(zip(demo_messages["id"], labels))
    for cluster in summary:
        assert 1 <= len(cluster["top_terms"]) <= 10
        assert len(cluster["representative"]) == min(4, cluster["size"])
        assert all(by_id[m["id"]] == cluster["cluster"] for m in cluster["representative"] + cluster["borderline"])
        weights = np.array(list(cluster["centroid_terms"].values()))
        assert np.linalg.norm(weights) == pytest.approx(1.0, abs=1e-4)
        assert set(cluster["top_terms"]) <= set(cluster["centroid_terms"])
    # Borderline messages sit nearer another cluster than representative ones do.
    assert np.mean([m["margin"] for c in summary for m in c["borderline"]]) < 0.3


def test_a_k_at_the_end_of_the_searched_range_is_reported():
    points = blobs(40, centers=9)
    narrow = MessageClusterer(n_clusters="auto", k_range=(2, 5), use_umap=False).fit(points)
    wide = MessageClusterer(n_clusters="auto", k_range=(2, 20), use_umap=False).fit(points)
    assert narrow.n_clusters_ == 5 and narrow.selection_["k_at_upper_bound"] is True
    assert wide.n_clusters_ == 9 and wide.selection_["k_at_upper_bound"] is False


CLUSTERING_SETTINGS = pytest.mark.parametrize("settings", [TfidfLsaFeaturizer.clustering_params,
                                                           SentenceEmbeddingFeaturizer.clustering_params],
                                              ids=["tfidf-lsa", "sentence-embeddings"])


@CLUSTERING_SETTINGS
def test_a_batch_of_one_to_twelve_messages_is_clustered_into_k_or_refused_saying_how_many_are_needed(settings):
    for n in range(1, 13):
        points = blobs(1, centers=n, dims=24, seed=n)  # n different messages
        for k in range(2, 6):
            clusterer = MessageClusterer(n_clusters=k, seed=0, **settings)
            if n <= k:
                messages = "1 message is" if n == 1 else f"{n} messages are"
                with pytest.raises(ValueError, match=f"{messages} too few to form {k} clusters: clustering "
                                                     f"needs at least {k + 1} messages"):
                    clusterer.fit(points)
                continue
            labels = clusterer.fit_predict(points)
            assert sorted(set(labels)) == list(range(k)) and clusterer.n_clusters_ == k, (n, k)


@CLUSTERING_SETTINGS
def test_the_k_search_on_a_tiny_batch_stays_below_the_number_of_messages(settings):
    for n in range(1, 13):
        points = blobs(1, centers=n, dims=24, seed=n)
        clusterer = MessageClusterer(n_clusters="auto", k_range=(2, 5), seed=0, **settings)
        if n <= 2:
            with pytest.raises(ValueError, match="needs at least 3 messages; give more messages or a lower start "
                                                 "of k_range"):
                clusterer.fit(points)
            continue
        clusterer.fit(points)
        assert max(clusterer.selection_["k_silhouettes"]) <= min(5, n - 1)
        assert 2 <= clusterer.n_clusters_ <= min(5, n - 1)


@CLUSTERING_SETTINGS
def test_umap_is_skipped_and_the_reason_recorded_when_the_batch_is_too_small_to_embed(settings):
    needed = settings["umap_components"] + 2
    small = MessageClusterer(n_clusters=2, seed=0, **settings).fit(blobs(1, centers=needed - 1, dims=24))
    assert small.umap_ is None and small.selection_["chosen"] == "plain"
    assert f"too few for a {settings['umap_components']}-dimensional UMAP embedding (it needs {needed})" \
        in small.selection_["umap_skipped"]
    enough = MessageClusterer(n_clusters=2, seed=0, **{**settings, "use_umap": True}).fit(
        blobs(1, centers=needed, dims=24))
    assert enough.umap_ is not None and enough.selection_["umap_skipped"] is None


@pytest.mark.parametrize("n_clusters", [3, "auto"])
def test_a_batch_of_identical_messages_is_refused_for_lack_of_different_texts(n_clusters):
    points = np.repeat(blobs(1, centers=1, dims=24), 9, axis=0)
    with pytest.raises(ValueError, match="9 messages hold only 1 different texts after cleaning: too few to form"):
        MessageClusterer(n_clusters=n_clusters, k_range=(2, 5), use_umap=False).fit(points)


def test_the_k_search_stops_at_the_number_of_different_messages():
    points = np.repeat(blobs(1, centers=3, dims=24), 4, axis=0)  # 12 messages, 3 different texts
    clusterer = MessageClusterer(n_clusters="auto", k_range=(2, 8), use_umap=False, seed=0).fit(points)
    assert max(clusterer.selection_["k_silhouettes"]) == 3


def test_a_fit_sample_smaller_than_k_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"10 messages \(the fit sample of max_fit_rows=10\) are too few to form 12"):
        MessageClusterer(n_clusters=12, use_umap=False, max_fit_rows=10).fit(blobs(10, centers=5))


@pytest.mark.parametrize("params, message", [
    ({"umap_neighbors": 1}, "umap_neighbors must be an integer >= 2"),
    ({"umap_components": 0}, "umap_components must be an integer >= 1"),
    ({"max_fit_rows": 0}, "max_fit_rows must be an integer >= 1"),
])
def test_sizes_the_clusterer_depends_on_are_checked(params, message):
    with pytest.raises(ValueError, match=message):
        MessageClusterer(n_clusters=2, **params).fit(blobs(20, centers=3))


def test_top_terms_by_language_show_each_languages_own_words_per_cluster():
    from processing.cluster import top_terms_by_language

    texts = ["cancel subscription", "cancel my subscription", "cancelar suscripcion", "cancelar la suscripcion",
             "card lost", "lost my card"]
    languages = ["en", "en", "es", "es", "en", "en"]
    terms = top_terms_by_language(texts, languages, np.array([0, 0, 0, 0, 1, 1]), 2, n_terms=3)
    assert "cancel" in terms[0]["en"] and "cancelar" in terms[0]["es"]
    assert not {"cancelar", "suscripcion"} & set(terms[0]["en"])
    assert set(terms[1]) == {"en"} and "lost" in terms[1]["en"]  # no Spanish message: no Spanish terms


def test_terms_counted_once_give_the_summaries_that_count_for_themselves(demo_messages, features):
    from processing.cluster import term_counts, top_terms_by_language

    texts = demo_messages["feature_text"].fillna("")
    labels = MessageClusterer(n_clusters=8, use_umap=False).fit_predict(features)
    counted = term_counts(texts)
    spanish = np.flatnonzero(demo_messages["lang"].eq("es"))
    alone, restricted = term_counts(texts.iloc[spanish]), counted.rows(spanish)  # one language's messages
    assert restricted.counts.shape == alone.counts.shape and (restricted.counts != alone.counts).nnz == 0
    assert restricted.vocabulary.tolist() == alone.vocabulary.tolist()
    arguments = (demo_messages["id"], demo_messages["text"], texts, features, labels, 8)
    assert summarize_clusters(*arguments, terms=counted) == summarize_clusters(*arguments)
    assert top_terms_by_language(texts, demo_messages["lang"], labels, 8, terms=counted) == \
        top_terms_by_language(texts, demo_messages["lang"], labels, 8)
    empty = term_counts(["", " "])  # no terms at all: nothing to show, nothing breaks
    assert empty.counts is None and empty.rows(np.array([0])).counts is None


def test_rows_outside_the_fit_sample_are_assigned_a_chunk_at_a_time_with_progress(monkeypatch):
    import processing.cluster

    points = blobs(250, centers=4)
    whole = MessageClusterer(n_clusters=4, use_umap=False, max_fit_rows=100, seed=0).fit_predict(points)
    monkeypatch.setattr(processing.cluster, "PREDICT_CHUNK_ROWS", 400)
    calls = []
    chunked = MessageClusterer(n_clusters=4, use_umap=False, max_fit_rows=100, seed=0).fit_predict(
        points, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(chunked, whole)
    assert calls == [(400, 900), (800, 900), (900, 900)]
