"""Specification of the exact cosine neighbour search behind UMAP's graph and the placement of new rows:
scikit-learn's brute-force answer, bit for bit, with equal distances in reference order."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.neighbors import NearestNeighbors

from processing.cluster import WORKING_MEMORY_MIB
from processing.neighbours import cosine_neighbours


def scikit_learn_neighbours(queries: np.ndarray, reference: np.ndarray, k: int):
    """What the clusterer used before: scikit-learn's brute-force cosine kneighbors under its working memory."""
    with sklearn.config_context(working_memory=WORKING_MEMORY_MIB):
        return NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(reference).kneighbors(queries)


def neighbours(queries: np.ndarray, reference: np.ndarray, k: int):
    """cosine_neighbours as the clusterer calls it: under the same working memory."""
    with sklearn.config_context(working_memory=WORKING_MEMORY_MIB):
        return cosine_neighbours(queries, reference, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distances_are_scikit_learns_bit_for_bit_in_its_dtype(dtype):
    rng = np.random.default_rng(0)
    reference, queries = rng.normal(size=(3000, 40)).astype(dtype), rng.normal(size=(700, 40)).astype(dtype)
    expected_distances, expected_indices = scikit_learn_neighbours(queries, reference, 15)
    distances, indices = neighbours(queries, reference, 15)
    assert distances.dtype == expected_distances.dtype == dtype
    np.testing.assert_array_equal(distances, expected_distances)
    # The neighbours too, wherever a row's distances are all different (float32 rounding ties a few).
    untied = np.array([len(np.unique(row)) == len(row) for row in expected_distances])
    assert untied.mean() > 0.9
    np.testing.assert_array_equal(indices[untied], expected_indices[untied])
    if dtype == np.float64:
        np.testing.assert_array_equal(indices, expected_indices)


def test_each_row_gets_its_k_nearest_nearest_first():
    rng = np.random.default_rng(1)
    reference, queries = rng.normal(size=(500, 8)), rng.normal(size=(50, 8))
    distances, indices = cosine_neighbours(queries, reference, 7)
    unit = lambda points: points / np.linalg.norm(points, axis=1, keepdims=True)  # noqa: E731
    all_distances = 1 - unit(queries) @ unit(reference).T
    np.testing.assert_allclose(distances, np.sort(all_distances, axis=1)[:, :7], atol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(all_distances, indices, axis=1), distances, atol=1e-12)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_equal_distances_come_in_reference_order():
    # Duplicate messages share a vector: their distances to any query are equal, and the lower row comes first,
    # on every machine (scikit-learn's order among them is np.argpartition's, which depends on the CPU).
    rng = np.random.default_rng(2)
    distinct = rng.normal(size=(20, 6))
    reference = np.vstack([distinct, distinct[[3, 3, 3]], distinct])  # row 3 five times: 3, 20, 21, 22, 26
    distances, indices = cosine_neighbours(distinct[[3]], reference, 5)
    assert indices[0].tolist() == [3, 20, 21, 22, 26]
    assert len(set(distances[0].tolist())) == 1
    zero_query = cosine_neighbours(np.zeros((1, 6)), reference, 4)  # no direction: every distance is 1
    assert zero_query[1][0].tolist() == [0, 1, 2, 3] and (zero_query[0] == 1).all()


def test_the_number_of_threads_changes_nothing():
    rng = np.random.default_rng(3)
    reference, queries = rng.normal(size=(400, 10)).astype(np.float32), rng.normal(size=(333, 10)).astype(np.float32)
    alone = cosine_neighbours(queries, reference, 9, workers=1)
    shared = cosine_neighbours(queries, reference, 9, workers=3)
    for left, right in zip(alone, shared):
        np.testing.assert_array_equal(left, right)


@pytest.mark.parametrize("k", [0, 401])
def test_k_outside_the_reference_is_a_clear_error(k):
    with pytest.raises(ValueError, match="k must be between 1 and the 400 reference rows"):
        cosine_neighbours(np.ones((2, 3)), np.ones((400, 3)), k)


def test_the_kernel_is_compiled_into_the_tweetops_cache_folder(embedding_cache_dir):
    cosine_neighbours(np.eye(3), np.eye(3), 2)
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or embedding_cache_dir / "numba")
    assert any(path.name.startswith("neighbours._select_nearest") for path in folder.rglob("*.nbi"))
