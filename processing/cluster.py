"""Clustering messages into pseudo-labels: optional UMAP, then KMeans, both seeded.

Two choices are made from internal evidence only (never from gold labels):

* **k** (when `n_clusters="auto"`): the k on a geometric grid over `k_range` whose KMeans partition of
  the leading LSA components has the best silhouette; both candidates below then use that k.
* **UMAP or not** (when `use_umap="auto"`): both candidates (KMeans on the LSA features, KMeans on a UMAP
  embedding of them) are fitted and scored by *stability* (mean ARI between the partition and KMeans
  re-runs with other seeds) plus *learnability* (cross-validated accuracy of a ridge classifier predicting
  the cluster from the LSA features). UMAP's neighbour graph pulls apart fine-grained intents that
  overlap linearly, and then its partitions are far more stable; on broad topics with distinctive words
  it fragments large groups, and then its partitions are both less stable and less learnable. On our
  trials (docs/clustering.md) this picked UMAP for banking77 and plain KMeans for stackoverflow, as the
  gold labels would have.

Large inputs: everything is fitted on a seeded sample of at most `max_fit_rows` and the rest is assigned
with `predict`, so memory stays bounded (DESIGN.md, principle 5).

Tiny inputs: k clusters need more than k messages and at least k different ones (ValueError saying how many);
the k search stops below both; UMAP, whose spectral layout needs `umap_components + 2` rows, is skipped below
that (plain KMeans, the reason in `selection_["umap_skipped"]`), and its neighbours are capped at rows - 1.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple, Sequence

import numpy as np
import sklearn
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import KFold, cross_val_score

from processing.defaults import DEFAULT_K_RANGE
from processing.neighbours import cosine_neighbours
from processing.storage import keep_numba_kernels

SILHOUETTE_SAMPLE = 5000
# scikit-learn computes pairwise distances in chunks of up to `working_memory` MiB (default 1 GiB); smaller
# chunks halved the peak memory of clustering 10k embeddings (1.9 -> 1.0 GB) at no measurable cost.
WORKING_MEMORY_MIB = 128
# Ward initialisation builds its hierarchy on at most this many rows: ~100 MB of pairwise distances, ~1 s.
WARD_MAX_ROWS = 5000
PREDICT_CHUNK_ROWS = 50_000  # rows outside the fit sample assigned at a time


class MessageClusterer(BaseEstimator):
    """UMAP (optional, decided from evidence) + KMeans over L2-normalised feature vectors.

    KMeans starts from k-means++ (`n_init` times) or, with `kmeans_init="ward"`, once from the centroids of a
    Ward hierarchy of a sample (steadier on embedding spaces, docs/embeddings.md)."""

    def __init__(self, n_clusters: int | str = "auto", k_range: tuple[int, int] = DEFAULT_K_RANGE,
                 use_umap: bool | str = "auto", umap_neighbors: int = 50, umap_components: int = 5,
                 plain_components: int | None = 100, plain_projection: str = "head", n_init: int = 30,
                 kmeans_init: str = "k-means++", max_fit_rows: int = 20_000, seed: int = 0):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.use_umap = use_umap
        self.umap_neighbors = umap_neighbors
        self.umap_components = umap_components
        self.plain_components = plain_components
        self.plain_projection = plain_projection
        self.n_init = n_init
        self.kmeans_init = kmeans_init
        self.max_fit_rows = max_fit_rows
        self.seed = seed

    def fit(self, features: np.ndarray, y=None, strata: Sequence[str] | None = None) -> "MessageClusterer":
        """Choose UMAP/no-UMAP and k, then fit KMeans; evidence is kept in `selection_`. `strata` (each row's
        language) makes the search for k look past the languages (see _choose_k)."""
        with sklearn.config_context(working_memory=WORKING_MEMORY_MIB):
            return self._fit(features, strata)

    def _fit(self, features: np.ndarray, strata: Sequence[str] | None = None) -> "MessageClusterer":
        self._check_params(len(features))
        fit_rows = sample_indices(len(features), self.max_fit_rows, self.seed)
        sample = features[fit_rows]
        from processing.grouping import language_strata

        languages = language_strata(strata, len(features))  # checked, and None unless two languages hold a share
        languages = None if languages is None else languages[fit_rows]
        self._check_distinct(sample)
        use_umap, umap_skipped = self.use_umap, None
        if use_umap is not False and len(sample) < umap_min_rows(self.umap_components):
            # UMAP's spectral layout takes umap_components + 1 eigenvectors of the n x n neighbour graph, so it
            # needs more rows than that; on so few messages KMeans on the features is the sensible clustering.
            use_umap, umap_skipped = False, (f"{len(sample)} messages are too few for a {self.umap_components}-"
                                             f"dimensional UMAP embedding (it needs "
                                             f"{umap_min_rows(self.umap_components)}); plain KMeans used")
        self.plain_pca_ = None
        # The plain space serves the plain candidate and the search for k; UMAP alone with a given k needs neither.
        needs_plain_space = use_umap is not True or self.n_clusters == "auto"
        if (needs_plain_space and self.plain_projection == "pca" and self.plain_components
                and self.plain_components < min(sample.shape)):
            from sklearn.decomposition import PCA

            self.plain_pca_ = PCA(self.plain_components, svd_solver="full").fit(sample)
        plain = self._plain_space(sample) if needs_plain_space else None
        candidates = {"plain": None}
        if use_umap in ("auto", True):
            candidates["umap"] = self._fit_umap(sample)
        if use_umap is True:
            del candidates["plain"]
        # k is chosen once, in the LSA space: silhouette in a UMAP embedding (min_dist=0 packs points
        # into tight clumps) keeps rising with k and would always pick the top of the range.
        k, k_scores = self._choose_k(plain, languages) if self.n_clusters == "auto" else (int(self.n_clusters), {})
        evidence = {}
        fitted = {}
        for name, reducer in candidates.items():
            space = plain if reducer is None else reducer.embedding_.astype(np.float64)
            kmeans = self._kmeans(space, k)
            evidence[name] = {"k": k}
            if len(candidates) > 1:
                evidence[name] |= partition_evidence(sample, space, kmeans.labels_, k, self.seed)
            fitted[name] = (reducer, kmeans)
        chosen = max(evidence, key=lambda name: evidence[name].get("score", 0.0))
        self.umap_, self.kmeans_ = fitted[chosen]
        self.n_clusters_ = int(self.kmeans_.n_clusters)
        self.selection_ = {"chosen": chosen, "candidates": evidence, "k_silhouettes": k_scores,
                           # The best k at the end of the searched range: the range, not the data, decided.
                           "k_at_upper_bound": bool(k_scores) and k == max(k_scores),
                           "fit_rows": int(len(sample)), "umap_skipped": umap_skipped}
        return self

    def fit_predict(self, features: np.ndarray, y=None, progress: Callable[[int, int], None] | None = None,
                    strata: Sequence[str] | None = None) -> np.ndarray:
        """Fit, then return every row's cluster; rows of the fit sample keep the labels KMeans gave them, the rest
        are assigned PREDICT_CHUNK_ROWS at a time (bounded memory; `progress(done, total)` after each chunk)."""
        self.fit(features, strata=strata)
        labels = np.empty(len(features), dtype=np.int64)
        fit_rows = sample_indices(len(features), self.max_fit_rows, self.seed)
        labels[fit_rows] = self.kmeans_.labels_
        rest = np.setdiff1d(np.arange(len(features)), fit_rows, assume_unique=True)
        for start in range(0, len(rest), PREDICT_CHUNK_ROWS):  # each row's cluster is its own: chunks change nothing
            chunk = rest[start:start + PREDICT_CHUNK_ROWS]
            labels[chunk] = self.predict(features[chunk])
            if progress:
                progress(start + len(chunk), len(rest))
        return labels

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Map features into the space KMeans runs in (the UMAP embedding, or the leading LSA components)."""
        return self._plain_space(features) if self.umap_ is None else self.umap_.transform(features)

    def _plain_space(self, features: np.ndarray) -> np.ndarray:
        # Plain KMeans runs on the leading components, re-normalised: the tail is mostly noise for KMeans
        # (while UMAP's neighbour graph profits from all of it, docs/clustering.md), and high dimensions
        # make KMeans slow. LSA columns are already ordered ("head"); embeddings are projected by PCA first.
        if getattr(self, "plain_pca_", None) is not None:
            head = self.plain_pca_.transform(features)
        elif not self.plain_components or self.plain_components >= features.shape[1]:
            return features.astype(np.float64)
        else:
            head = features[:, :self.plain_components]
        norms = np.linalg.norm(head, axis=1, keepdims=True)
        # float64: scikit-learn's k-means++ computes float32 distances in slow upcasting chunks (10x here).
        return (head / np.where(norms == 0, 1, norms)).astype(np.float64)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Cluster id (0..k-1) of each row."""
        with sklearn.config_context(working_memory=WORKING_MEMORY_MIB):
            return self.kmeans_.predict(self.embed(features)).astype(np.int64)

    def _fit_umap(self, sample: np.ndarray) -> "NeighbourUmap":
        import umap  # imported lazily: numba compilation makes the import take seconds

        cache_umap_kernels()

        n_neighbors = min(self.umap_neighbors, len(sample) - 1)
        # Exact cosine neighbours by brute force instead of UMAP's NN-descent: seconds at our sample sizes,
        # and it spares the ~30 s of numba compilation NN-descent costs in every fresh process.
        distances, indices = cosine_neighbours(sample, sample, n_neighbors)
        with warnings.catch_warnings():
            # UMAP warns that a fixed random_state disables parallelism: that is the price of determinism.
            warnings.filterwarnings("ignore", message=".*random_state.*")
            # ...and that it has no search index of its own for `transform`: NeighbourUmap extends it instead.
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            reducer = umap.UMAP(n_neighbors=n_neighbors, n_components=self.umap_components, min_dist=0.0,
                                metric="cosine", random_state=self.seed,
                                precomputed_knn=(indices, distances.astype(np.float32)))
            reducer.fit(sample)
        return NeighbourUmap(sample, reducer.embedding_.astype(np.float32), n_neighbors)

    def _kmeans(self, space: np.ndarray, k: int) -> KMeans:
        if self.kmeans_init == "ward":
            return KMeans(k, init=ward_centroids(space, k, self.seed), n_init=1, random_state=self.seed).fit(space)
        return KMeans(k, n_init=self.n_init, random_state=self.seed).fit(space)

    def _choose_k(self, space: np.ndarray, languages: np.ndarray | None = None) -> tuple[int, dict]:
        # Candidates are fitted on the rows their silhouette is scored on: fitting on more (10k) doubled the
        # search's time without being scored.
        rows = sample_indices(len(space), SILHOUETTE_SAMPLE, self.seed)
        space = space[rows]
        # With two languages that each hold a real share, the leading components are mostly the language: the
        # silhouette then prefers splitting by language (demo data, 100,000 messages: k=4, clusters that were
        # the languages, against k=100 at 3,000). Each language's mean removed, as the grouping does, it scores
        # topics. One language (the share rule applied to all rows, as the grouping applies it): unchanged.
        if languages is not None:
            from processing.grouping import centred_by_stratum

            space = centred_by_stratum(space, languages[rows])
        low, high = self.k_range
        high = min(high, len(space) - 1, distinct_rows(space))  # more clusters than points leaves some empty
        grid = sorted({int(round(k)) for k in np.geomspace(low, high, num=12)})
        scores = {}
        for k in grid:
            labels = KMeans(k, n_init=3, random_state=self.seed).fit_predict(space)
            scores[k] = float(silhouette_score(space, labels, sample_size=min(SILHOUETTE_SAMPLE, len(space)),
                                               random_state=self.seed))
        return max(scores, key=scores.get), scores

    def _check_params(self, n_rows: int) -> None:
        if self.n_clusters != "auto" and (not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2):
            raise ValueError(f"n_clusters must be 'auto' or an integer >= 2, got {self.n_clusters!r}")
        if self.kmeans_init not in ("k-means++", "ward"):
            raise ValueError(f"kmeans_init must be 'k-means++' or 'ward', got {self.kmeans_init!r}")
        if self.plain_projection not in ("head", "pca"):
            raise ValueError(f"plain_projection must be 'head' or 'pca', got {self.plain_projection!r}")
        if self.use_umap not in ("auto", True, False):
            raise ValueError(f"use_umap must be 'auto', True or False, got {self.use_umap!r}")
        low, high = self.k_range
        if not 2 <= low <= high:
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {self.k_range!r}")
        for name, value, least in (("umap_neighbors", self.umap_neighbors, 2),
                                   ("umap_components", self.umap_components, 1),
                                   ("max_fit_rows", self.max_fit_rows, 1)):
            if not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        # KMeans, the k search (silhouette needs k < rows) and Ward all run on the fit sample: it must hold k + 1.
        k = self.n_clusters if self.n_clusters != "auto" else low
        fit_rows = min(n_rows, self.max_fit_rows)
        if fit_rows <= k:
            within = "" if fit_rows == n_rows else f" (the fit sample of max_fit_rows={self.max_fit_rows})"
            messages = "1 message is" if fit_rows == 1 else f"{fit_rows} messages{within} are"
            raise ValueError(f"{messages} too few to form {k} clusters: clustering needs at "
                             f"least {k + 1} messages; give more messages or {self._smaller_k()}")

    def _check_distinct(self, sample: np.ndarray) -> None:
        # Messages that clean to the same text share one vector: k clusters need k different vectors.
        k = self.n_clusters if self.n_clusters != "auto" else self.k_range[0]
        distinct = distinct_rows(sample)
        if distinct < k:
            raise ValueError(f"{len(sample)} messages hold only {distinct} different texts after cleaning: too few "
                             f"to form {k} clusters; clustering needs at least {k} different messages; give more "
                             f"messages or {self._smaller_k()}")

    def _smaller_k(self) -> str:
        return "a smaller k" if self.n_clusters != "auto" else f"a lower start of k_range {tuple(self.k_range)}"


def distinct_rows(points: np.ndarray) -> int:
    """How many different rows `points` holds."""
    return len({row.tobytes() for row in np.ascontiguousarray(points)})


def umap_min_rows(components: int) -> int:
    """The fewest rows UMAP can embed in `components` dimensions: its spectral layout takes components + 1
    eigenvectors of the rows' neighbour graph, which must be larger than that."""
    return components + 2


def cache_umap_kernels() -> None:
    """Let numba keep UMAP's compiled kernels on disk (storage.keep_numba_kernels): compiling them cost ~8 s in
    every fresh process, loading them takes a fraction of a second."""
    import umap.layouts
    import umap.umap_
    import umap.utils
    from numba.core.dispatcher import Dispatcher

    keep_numba_kernels(kernel for module in (umap.umap_, umap.layouts, umap.utils)
                       for kernel in vars(module).values() if isinstance(kernel, Dispatcher))


def ward_centroids(space: np.ndarray, k: int, seed: int, max_rows: int = WARD_MAX_ROWS) -> np.ndarray:
    """Centroids of a Ward hierarchy cut into k clusters, built on a seeded sample of at most `max_rows`
    (its memory grows with the square of the rows)."""
    from sklearn.cluster import AgglomerativeClustering

    sample = space[sample_indices(len(space), max_rows, seed)]
    labels = AgglomerativeClustering(k, linkage="ward").fit_predict(sample)
    return np.stack([sample[labels == cluster].mean(axis=0) for cluster in range(k)])


def partition_evidence(features: np.ndarray, space: np.ndarray, labels: np.ndarray, k: int,
                       seed: int) -> dict:
    """Stability (mean ARI against two reseeded KMeans runs) and learnability (3-fold CV accuracy of a
    linear classifier predicting the cluster from the features)."""
    reruns = [KMeans(k, n_init=1, random_state=seed + offset).fit_predict(space) for offset in (1, 2)]
    stability = float(np.mean([adjusted_rand_score(labels, rerun) for rerun in reruns]))
    # A ridge classifier solves all classes in one linear system: ~50x faster than a linear SVM here, and
    # it ranked the candidates the same on every benchmark dataset (docs/clustering.md).
    learnability = float(cross_val_score(RidgeClassifier(alpha=1.0), features, labels,
                                         cv=KFold(3, shuffle=True, random_state=seed)).mean())
    return {"stability": stability, "learnability": learnability, "score": stability + learnability}


class NeighbourUmap:
    """A fitted UMAP embedding of the fit sample, extended to new rows through their nearest fitted neighbours.

    A new row's coordinates are the similarity-weighted mean of its `n_neighbors` nearest fit rows' coordinates
    (cosine, processing/neighbours.py): the point UMAP's own `transform` starts from. It needs no search index of
    UMAP's (whose NN-descent is what costs the compilation time), and a fitted row maps to about where it is.
    """

    def __init__(self, fit_rows: np.ndarray, embedding: np.ndarray, n_neighbors: int):
        self.fit_rows = fit_rows
        self.embedding_ = embedding
        self.n_neighbors = n_neighbors

    def transform(self, features: np.ndarray) -> np.ndarray:
        """UMAP coordinates of `features`."""
        distances, indices = cosine_neighbours(features, self.fit_rows, self.n_neighbors)
        weights = np.clip(1.0 - distances, 1e-6, None)  # cosine similarity, kept positive
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.embedding_[indices]).astype(np.float64)


def sample_indices(n_rows: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted seeded sample of at most `max_rows` row indices (all rows when there are few)."""
    if n_rows <= max_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False))


def cluster_membership(clusters: np.ndarray, n_clusters: int):
    """Sparse (n_clusters x rows) 0/1 matrix: row c marks the messages of cluster c."""
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(len(clusters)), (clusters, np.arange(len(clusters)))),
                         shape=(n_clusters, len(clusters)))


def cluster_centroids(features: np.ndarray, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Unit-norm mean feature vector of each cluster (zeros for an empty cluster)."""
    # Each cluster's rows are added in row order, in float64, as np.add.at did (same bits), one cluster at a time:
    # no float64 copy of the whole matrix (3.2 GB at a million rows x 400), and faster than np.add.at (100,000 x
    # 784: 4.6 s) or a membership product over that copy (1M x 400: 7.1 -> 0.8 s).
    clusters = np.asarray(clusters)
    features = np.asarray(features)
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(n_clusters + 1))
    sums = np.zeros((n_clusters, features.shape[1]), dtype=np.float64)
    for cluster in range(n_clusters):
        rows = order[bounds[cluster]:bounds[cluster + 1]]
        if len(rows):
            sums[cluster] = features[rows].sum(axis=0, dtype=np.float64)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms == 0, 1, norms)).astype(np.float32)


def class_tfidf(term_counts, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Class-based TF-IDF (as in BERTopic): term weight per cluster from all its messages pooled."""
    per_class = np.asarray((cluster_membership(clusters, n_clusters) @ term_counts).todense(), dtype=np.float64)
    tf = per_class / np.maximum(per_class.sum(axis=1, keepdims=True), 1)
    mean_words_per_class = per_class.sum() / n_clusters
    idf = np.log1p(mean_words_per_class / np.maximum(per_class.sum(axis=0), 1))
    return tf * idf


class TermCounts(NamedTuple):
    """Unigram + bigram counts of feature texts (rows: messages) and the sorted vocabulary of their columns."""
    counts: object | None  # scipy CSR matrix; None when no text has a term
    vocabulary: np.ndarray

    def rows(self, indices: np.ndarray) -> "TermCounts":
        """The counts of some messages alone, exactly as counting those messages would give them: the columns
        of terms they use, in the same (sorted) order."""
        if self.counts is None:
            return self
        counts = self.counts[indices]
        used = np.flatnonzero(counts.getnnz(axis=0))
        if not len(used):
            return TermCounts(None, np.array([], dtype=object))
        return TermCounts(counts[:, used], self.vocabulary[used])


def term_counts(feature_texts: Sequence[str]) -> TermCounts:
    """Count the terms of the feature texts once, for every summary of one set of messages (the vectorising is
    the slow part: seconds per 100,000 messages)."""
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w\w+\b")
    try:
        return TermCounts(counter.fit_transform(feature_texts), counter.get_feature_names_out())
    except ValueError:  # every text empty: no terms to show, the rest of a summary still holds
        return TermCounts(None, np.array([], dtype=object))


def summarize_clusters(ids: Sequence[str], texts: Sequence[str], feature_texts: Sequence[str],
                       features: np.ndarray, clusters: np.ndarray, n_clusters: int, *,
                       n_terms: int = 10, n_centroid_terms: int = 30, n_representative: int = 5,
                       n_borderline: int = 3, terms: TermCounts | None = None) -> list[dict]:
    """Per cluster: size, top terms, representative and borderline messages, term-space centroid.

    The centroid is a {term: weight} map over c-TF-IDF terms: unlike LSA coordinates it means the same
    in every run, so clusters of a new run can be matched to the categories of an earlier one.
    Representative messages are the closest to the cluster's LSA centroid; borderline ones have the
    smallest margin between their own centroid and the nearest other one. `terms`: term_counts(feature_texts),
    when the caller has them already.
    """
    ids, texts = np.asarray(ids, dtype=object), np.asarray(texts, dtype=object)
    counts, vocabulary = terms if terms is not None else term_counts(feature_texts)
    weights = class_tfidf(counts, clusters, n_clusters) if counts is not None else np.zeros((n_clusters, 0))
    centroids = cluster_centroids(features, clusters, n_clusters)
    similarity = features @ centroids.T
    own = similarity[np.arange(len(clusters)), clusters]
    similarity[np.arange(len(clusters)), clusters] = -np.inf
    margin = own - similarity.max(axis=1) if n_clusters > 1 else own

    summary = []
    for cluster in range(n_clusters):
        members = np.flatnonzero(clusters == cluster)
        order = np.argsort(-weights[cluster], kind="stable")[:n_centroid_terms]
        order = order[weights[cluster, order] > 0]
        centroid_weights = weights[cluster, order]
        centroid_weights = centroid_weights / (np.linalg.norm(centroid_weights) or 1.0)
        representative = members[np.argsort(-own[members], kind="stable")[:n_representative]]
        borderline = members[np.argsort(margin[members], kind="stable")[:n_borderline]]
        summary.append({
            "cluster": cluster,
            "size": int(len(members)),
            "top_terms": [str(term) for term in vocabulary[order[:n_terms]]],
            "centroid_terms": {str(vocabulary[i]): round(float(w), 6) for i, w in zip(order, centroid_weights)},
            "representative": [{"id": str(ids[i]), "text": str(texts[i])} for i in representative],
            "borderline": [{"id": str(ids[i]), "text": str(texts[i]), "margin": round(float(margin[i]), 4)}
                           for i in borderline],
        })
    return summary


def top_terms_by_language(feature_texts: Sequence[str], languages: Sequence[str], clusters: np.ndarray,
                          n_clusters: int, n_terms: int = 10, terms: TermCounts | None = None
                          ) -> list[dict[str, list[str]]]:
    """Per cluster, {language: top c-TF-IDF terms of its messages in that language}: an es/en category shows the
    words of each language instead of whichever language has more messages (languages with no messages left out).
    `terms`: term_counts(feature_texts), when the caller has them already."""
    texts, languages = np.asarray(feature_texts, dtype=object), np.asarray(languages, dtype=object)
    result: list[dict[str, list[str]]] = [{} for _ in range(n_clusters)]
    for language in sorted({str(value) for value in languages if isinstance(value, str) and value}):
        rows = np.flatnonzero(languages == language)
        counts, vocabulary = terms.rows(rows) if terms is not None else term_counts(texts[rows])
        if counts is None:  # every text of this language empty: no terms in it
            continue
        weights = class_tfidf(counts, clusters[rows], n_clusters)
        present = np.bincount(clusters[rows], minlength=n_clusters)
        for cluster in np.flatnonzero(present):
            order = np.argsort(-weights[cluster], kind="stable")[:n_terms]
            result[cluster][language] = [str(vocabulary[i]) for i in order if weights[cluster, i] > 0]
    return result
