"""Exact cosine nearest neighbours by brute force, for UMAP's neighbour graph and for placing new rows in it.

`cosine_neighbours(queries, reference, k)` computes what scikit-learn's
`NearestNeighbors(metric="cosine", algorithm="brute").kneighbors` computes under the clusterer's working memory:
the same distances, bit for bit (1 - cosine similarity of the L2-normalised rows, clipped to [0, 2], from the
same matrix product in the same chunks), and the same neighbours, nearest first. Only the order among equal
distances is defined differently: by reference row, where scikit-learn's is whatever `np.argpartition` leaves,
which numpy 2 dispatches to CPU-specific selection code (AVX-512, AVX2 or plain), so that duplicate messages could
get other neighbours, and the clustering another result, on another machine. Here the same data give the same
neighbours everywhere.

Why not scikit-learn's own: its selection step (`np.argpartition` over each row of the distance matrix, then a
sort) took 39 of the 60 s the neighbour searches cost in the Cluster step at 100,000 messages (20,000 fit rows,
50 neighbours): 19-45 ns per distance. The kernel below keeps each row's k best in a sorted insertion list while
scanning the row once (about 1.5 ns per distance), on every core, without the GIL.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def cosine_neighbours(queries: np.ndarray, reference: np.ndarray, k: int,
                      workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest reference rows of each query row by cosine distance: (distances, indices), each
    (n_queries, k), nearest first, equal distances in reference order. Queries are taken in chunks of
    scikit-learn's `working_memory`, as it does; `workers` threads (default: the CPUs)."""
    import sklearn
    from sklearn.preprocessing import normalize

    queries, reference = np.asarray(queries), np.asarray(reference)
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must be between 1 and the {len(reference)} reference rows, got {k}")
    # scikit-learn's rule (check_pairwise_arrays): float32 when both are, float64 otherwise.
    dtype = np.float32 if queries.dtype == np.float32 and reference.dtype == np.float32 else np.float64
    unit_reference = normalize(reference.astype(dtype, copy=False))
    distances = np.empty((len(queries), k), dtype=dtype)
    indices = np.empty((len(queries), k), dtype=np.intp)
    # pairwise_distances_chunked's rule: the matrix product's bits can depend on the rows it is given at once.
    chunk_rows = max(1, int(sklearn.get_config()["working_memory"] * 2 ** 20 // (8 * len(reference))))
    kernel = _nearest_kernel()
    workers = workers or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(queries), chunk_rows):
            stop = min(start + chunk_rows, len(queries))
            similarities = normalize(queries[start:stop].astype(dtype, copy=False)) @ unit_reference.T
            bands = [rows for rows in np.array_split(np.arange(stop - start), workers) if len(rows)]
            list(pool.map(lambda rows: kernel(similarities, rows[0], rows[-1] + 1, dtype(0), dtype(1), dtype(2),
                                              distances[start:stop], indices[start:stop]), bands))
    return distances, indices


def _select_nearest(similarities, first, last, zero, one, two, distances, indices):
    """Rows first..last-1 of `similarities`: the k (= distances.shape[1]) smallest distances and their columns,
    kept in a sorted list while the row is scanned once. A later equal distance never displaces an earlier one
    (strict comparisons), so ties stay in reference order. Compiled by numba (_nearest_kernel)."""
    k = distances.shape[1]
    for row in range(first, last):
        count = 0
        for column in range(similarities.shape[1]):
            distance = one - similarities[row, column]  # as scikit-learn: S *= -1; S += 1; np.clip(S, 0, 2)
            if distance < zero:
                distance = zero
            elif distance > two:
                distance = two
            if count < k:
                position = count
                count += 1
            elif distance < distances[row, k - 1]:
                position = k - 1
            else:
                continue
            while position > 0 and distances[row, position - 1] > distance:
                distances[row, position] = distances[row, position - 1]
                indices[row, position] = indices[row, position - 1]
                position -= 1
            distances[row, position] = distance
            indices[row, position] = column


def _nearest_kernel():
    """_select_nearest compiled by numba (imported on first use), kept on disk as UMAP's kernels are."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        from processing.storage import keep_numba_kernels

        _KERNEL = numba.njit(nogil=True)(_select_nearest)
        keep_numba_kernels([_KERNEL])
    return _KERNEL


_KERNEL = None
