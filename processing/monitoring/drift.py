"""Two-sample tests between a scored batch and its package's baseline, and what changed.

- data drift: two permutation two-sample tests in the model's feature space (the maximum mean discrepancy with a
  Gaussian kernel of the baseline's median distance as bandwidth, and the k-nearest-neighbour test) and a test of
  the share of messages made mostly of words the classifier never saw, Bonferroni-combined so that batches drawn
  from the baseline's own distribution alarm at rate alpha at most; the MMD witness function ranks the batch
  messages most unlike the baseline, and a two-proportion test per word says which terms changed;
- prediction drift: a chi-square test of the category shares, the Jensen-Shannon distance, and per category a
  two-proportion test (Holm-adjusted) with a Newcombe interval for the change;
- one-dimensional descriptors (confidence, text length): Kolmogorov-Smirnov; languages: chi-square.
"""
from __future__ import annotations

import re

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.feature_extraction.text import CountVectorizer

HISTOGRAM_BINS = 10
TERM_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # words of two letters or more, accents included; no number tokens


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances between the rows of a and b (never negative)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def median_bandwidth(vectors: np.ndarray, max_rows: int = 1000, seed: int = 0) -> float:
    """The median pairwise distance of (a seeded sample of) the rows: the kernel's bandwidth."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) > max_rows:
        vectors = vectors[np.random.default_rng(seed).choice(len(vectors), max_rows, replace=False)]
    distances = squared_distances(vectors, vectors)[np.triu_indices(len(vectors), k=1)]
    median = float(np.sqrt(np.median(distances))) if len(distances) else 1.0
    return median if median > 0 else 1.0


def distinct_rows(vectors: np.ndarray, max_similarity: float = 0.95) -> np.ndarray:
    """Indices of the rows that are not a near copy (cosine similarity above `max_similarity`) of an earlier row:
    retweets and lightly edited copies are not independent draws, which the two-sample test assumes."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    similarity = np.triu(unit @ unit.T, k=1)  # [i, j] for i < j: row j against every earlier row
    return np.flatnonzero(similarity.max(axis=0, initial=-1.0) <= max_similarity)


def mmd_test(reference: np.ndarray, batch: np.ndarray, bandwidth: float, permutations: int = 500,
             seed: int = 0) -> dict:
    """The MMD permutation test alone: statistic (the biased squared MMD w'Kw, w = 1/n on reference rows and
    -1/m on batch rows), p-value, and the witness value of each batch row (see drift_test)."""
    result = drift_test(reference, batch, bandwidth, permutations, seed)
    return {"statistic": result["statistic"], "p_value": result["mmd_p_value"], "witness": result["witness"]}


def drift_test(reference: np.ndarray, batch: np.ndarray, bandwidth: float, permutations: int = 500,
               seed: int = 0, neighbours: int = 10) -> dict:
    """Two permutation tests on the same pooled sample and the same permutations, combined by Bonferroni
    (p = min(1, 2 * the smaller p-value), so the false-alarm rate stays at most alpha):

    - MMD (Gaussian kernel): sensitive to any change of the distribution, e.g. shares moving;
    - k-nearest-neighbour (Schilling 1986; Henze 1988): the share of each message's `neighbours` nearest messages
      that come from its own sample. A new topic forms a region the reference does not cover, whose messages are
      each other's neighbours: this test sees a 10% new topic that the MMD, which averages over all pairs,
      can miss.
    The MMD witness of each batch row is returned too (high = unlike the baseline). Every permutation reuses the
    one kernel matrix and neighbour graph: B permutations cost one (N x N) @ (N x B) product."""
    reference, batch = np.asarray(reference, dtype=np.float64), np.asarray(batch, dtype=np.float64)
    n, m = len(reference), len(batch)
    stacked = np.vstack([reference, batch])
    distances = squared_distances(stacked, stacked)
    kernel = np.exp(-distances / (2.0 * bandwidth ** 2))
    weights = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n + m) for _ in range(permutations)]
    permuted = np.stack([weights[order] for order in orders], axis=1)
    mmd = float(weights @ kernel @ weights)
    mmd_null = np.einsum("ij,ij->j", kernel @ permuted, permuted)

    np.fill_diagonal(distances, np.inf)
    k = max(1, min(neighbours, n + m - 1))
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    labels = np.arange(n + m) >= n  # True for batch rows
    knn = float((labels[nearest] == labels[:, None]).mean())
    permuted_labels = np.stack([labels[order] for order in orders], axis=1)  # (n + m) x permutations
    knn_null = (permuted_labels[nearest] == permuted_labels[:, None, :]).mean(axis=(0, 1))

    mmd_p = float((1 + np.sum(mmd_null >= mmd - 1e-12)) / (1 + permutations))
    knn_p = float((1 + np.sum(knn_null >= knn - 1e-12)) / (1 + permutations))
    witness = kernel[n:, n:].mean(axis=1) - kernel[n:, :n].mean(axis=1)
    return {"statistic": mmd, "mmd_p_value": mmd_p, "knn_statistic": knn, "knn_p_value": knn_p,
            "p_value": min(1.0, 2 * min(mmd_p, knn_p)), "witness": witness}


WORD_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern: the classifier's words


def unknown_word_shares(texts: list[str], vocabulary: frozenset[str]) -> np.ndarray:
    """Per message, the share of its words (feature_text, as the classifier tokenises it) that the classifier's
    vocabulary does not have (0 for a message without words)."""
    shares = np.zeros(len(texts))
    for row, text in enumerate(texts):
        words = WORD_PATTERN.findall(str(text).lower())
        if words:
            shares[row] = sum(word not in vocabulary for word in words) / len(words)
    return shares


def unknown_words_test(reference: np.ndarray, batch: np.ndarray, quantile: float = 0.95) -> float:
    """One-sided p-value that more of the batch's messages than of the baseline's are mostly made of words the
    classifier never saw (above the baseline's 95th percentile of that share): a new topic brings its own
    vocabulary, which a feature space fitted without it can hide. A tail test, not a rank test: a new topic
    moves a tenth of the messages far, not every message a little."""
    if len(reference) == 0 or len(batch) == 0:
        return 1.0
    limit = float(np.quantile(reference, quantile))
    above_batch, above_reference = int((batch > limit).sum()), int((reference > limit).sum())
    # Fisher's exact test: the z-test ran at 5.7% on 600 same-distribution pairs at alpha 5% (Fisher: 3.3%), the
    # limit being the reference's own quantile.
    table = [[above_batch, len(batch) - above_batch], [above_reference, len(reference) - above_reference]]
    return float(stats.fisher_exact(table, alternative="greater")[1])


def changed_terms(reference_texts: list[str], batch_texts: list[str], top: int = 12, min_z: float = 3.0) -> dict:
    """Words whose share of messages changed most between the baseline's reference sample and the batch sample:
    a two-proportion z-test per word on document frequencies, |z| >= min_z. more_frequent and less_frequent in the
    batch, strongest first."""
    empty = {"more_frequent": [], "less_frequent": []}
    if not reference_texts or not batch_texts:
        return empty
    vectorizer = CountVectorizer(binary=True, token_pattern=TERM_PATTERN, lowercase=True)
    try:
        counts = vectorizer.fit_transform(list(reference_texts) + list(batch_texts))
    except ValueError:  # no word at all (e.g. only emoji)
        return empty
    n_ref, n_batch = len(reference_texts), len(batch_texts)
    ref_share = np.asarray(counts[:n_ref].sum(axis=0)).ravel() / n_ref
    batch_share = np.asarray(counts[n_ref:].sum(axis=0)).ravel() / n_batch
    pooled = (ref_share * n_ref + batch_share * n_batch) / (n_ref + n_batch)
    z = (batch_share - ref_share) / np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_batch) + 1e-12)
    terms = vectorizer.get_feature_names_out()

    def listed(order, keep) -> list[dict]:
        return [{"term": str(terms[i]), "z": round(float(z[i]), 3), "batch_share": round(float(batch_share[i]), 6),
                 "baseline_share": round(float(ref_share[i]), 6)} for i in order if keep(z[i])][:top]

    return {"more_frequent": listed(np.lexsort((terms, -z)), lambda value: value >= min_z),  # ties by term
            "less_frequent": listed(np.lexsort((terms, z)), lambda value: value <= -min_z)}


def newcombe_interval(x1: int, n1: int, x0: int, n0: int, z: float = 1.959964) -> tuple[float, float]:
    """95% interval for p1 - p0 (batch minus baseline) by Newcombe's hybrid score method (Wilson per side)."""
    def wilson(x, n):
        if n == 0:
            return 0.0, 1.0
        p = x / n
        scale = 1 + z * z / n
        centre, half = (p + z * z / (2 * n)) / scale, z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
        return centre - half, centre + half

    p1, p0 = (x1 / n1 if n1 else 0.0), (x0 / n0 if n0 else 0.0)
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    return (float(d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)), float(d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)))


def two_proportion_p_value(x1: int, n1: int, x0: int, n0: int, alternative: str = "two-sided") -> float:
    """p-value of the pooled two-proportion z-test of x1/n1 against x0/n0."""
    if n1 == 0 or n0 == 0:
        return 1.0
    pooled = (x1 + x0) / (n1 + n0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x0 / n0) / se
    return float(stats.norm.sf(z) if alternative == "greater" else 2 * stats.norm.sf(abs(z)))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = np.argsort(p_values, kind="stable")
    adjusted, running = np.empty(len(p_values)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def prediction_drift(baseline_counts: dict[str, int], batch_counts: dict[str, int], alpha: float = 0.01,
                     min_change: float = 0.02) -> dict:
    """Category shares of the batch against the baseline's: chi-square, Jensen-Shannon distance, and per
    category the change, its interval and a Holm-adjusted p-value. Detected when the chi-square test rejects
    and at least one category changed significantly by at least `min_change`."""
    categories = sorted(set(baseline_counts) | set(batch_counts), key=str)
    x0 = np.array([baseline_counts.get(c, 0) for c in categories], dtype=float)
    x1 = np.array([batch_counts.get(c, 0) for c in categories], dtype=float)
    n0, n1 = x0.sum(), x1.sum()
    table = np.vstack([x0, x1])[:, (x0 + x1) > 0]
    chi2_p = float(stats.chi2_contingency(table, correction=False)[1]) if table.shape[1] > 1 else 1.0
    raw = [two_proportion_p_value(int(b), int(n1), int(a), int(n0)) for a, b in zip(x0, x1)]
    adjusted = holm(raw)
    rows = []
    for category, a, b, p in zip(categories, x0, x1, adjusted):
        change = b / n1 - a / n0
        rows.append({"category": category, "baseline_share": round(a / n0, 6), "batch_share": round(b / n1, 6),
                     "change": round(change, 6),
                     "interval": [round(v, 6) for v in newcombe_interval(int(b), int(n1), int(a), int(n0))],
                     "p_value": p, "significant": bool(p < alpha and abs(change) >= min_change)})
    rows.sort(key=lambda row: (-abs(row["change"]), str(row["category"])))
    return {"detected": bool(chi2_p < alpha and any(row["significant"] for row in rows)), "alpha": alpha,
            "chi2_p_value": chi2_p, "jensen_shannon": float(jensenshannon(x0 / n0, x1 / n1, base=2)),
            "categories": rows}


def histogram(baseline: np.ndarray, batch: np.ndarray, edges: np.ndarray) -> dict:
    """Shares of the baseline and the batch in the same bins."""
    def shares(values):
        counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
        return [round(float(c / max(len(values), 1)), 6) for c in counts]

    return {"edges": [round(float(e), 6) for e in edges], "baseline": shares(baseline), "batch": shares(batch)}


def distribution_shift(baseline: np.ndarray, batch: np.ndarray, edges: np.ndarray) -> dict:
    """Means, the Kolmogorov-Smirnov test and histograms of a one-dimensional descriptor."""
    baseline, batch = np.asarray(baseline, dtype=float), np.asarray(batch, dtype=float)
    ks = stats.ks_2samp(baseline, batch) if len(baseline) and len(batch) else None
    return {"baseline_mean": float(baseline.mean()) if len(baseline) else None,
            "batch_mean": float(batch.mean()) if len(batch) else None,
            "ks_statistic": float(ks.statistic) if ks else None, "ks_p_value": float(ks.pvalue) if ks else None,
            "histogram": histogram(baseline, batch, edges)}


def share_test(baseline_counts: dict[str, int], batch_counts: dict[str, int]) -> dict:
    """Shares of each value in the baseline and the batch, with a chi-square p-value (languages, reasons)."""
    keys = sorted(set(baseline_counts) | set(batch_counts))
    x0 = np.array([baseline_counts.get(k, 0) for k in keys], dtype=float)
    x1 = np.array([batch_counts.get(k, 0) for k in keys], dtype=float)
    table = np.vstack([x0, x1])[:, (x0 + x1) > 0]
    p = float(stats.chi2_contingency(table, correction=False)[1]) if table.shape[1] > 1 and x0.sum() and x1.sum() \
        else 1.0
    return {"baseline": {k: round(float(v / max(x0.sum(), 1)), 6) for k, v in zip(keys, x0)},
            "batch": {k: round(float(v / max(x1.sum(), 1)), 6) for k, v in zip(keys, x1)}, "p_value": p}
