"""Matching the clusters of a new window to the current categories (pure: arrays in, evidence and decisions out).

Three kinds of evidence, none of them gold labels:

* **reference neighbours**: among each window message's nearest neighbours (window and baseline reference
  messages pooled), the share that are reference messages, divided by the share expected if the window looked
  like the reference. A topic the model was trained on has reference messages nearby (ratio about 1); a new
  topic has none (ratio near 0), however close its centroid is to a sibling category's.
* **member overlap**: the current classifier's category for each window message; a fine cluster belongs to the
  category most of its messages were assigned to.
* **centroid similarity**: cosine between a window group's centroid and a category's centroid in the baseline
  reference vectors (the training-time picture of the category).

Decisions, per fine cluster then per category (thresholds in MatchThresholds, every number used in the evidence):

* a fine cluster is **new** when its reference-neighbour ratio is below `new_max_reference_ratio`;
* two or more categories are **merged** when most of each one's messages sit in fine clusters they share (each
  holding at least `merge_min_share` of the cluster), or when their baseline centroids are twins (cosine >=
  `merge_min_similarity`) nearest to one same fine cluster: the window does not separate them any more;
* a category is **split** when its fine clusters form parts that hold at least `split_min_share` of it each (and
  `split_min_typical` of a typical category's messages) and whose centroids are further apart than
  `distinct_similarity` (neighbouring categories' typical distance);
* a category is **gone** when its share of the window fell below `gone_max_ratio` of its baseline share;
* otherwise it is **kept**, with how far it moved (1 - cosine of baseline and window centroids).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from processing.cluster import cluster_centroids

NEW = -1  # label of a fine cluster that matches no current category
NEIGHBOUR_CHUNK = 1000  # window rows whose similarities to every pooled row are held at once


@dataclass(frozen=True)
class MatchThresholds:
    """Thresholds of the matching rules (defaults chosen on banking77, docs/evolution.md)."""

    neighbours: int = 15  # nearest neighbours per window message for the reference-neighbour ratio
    new_max_reference_ratio: float = 0.5  # a fine cluster is new below this mean reference-neighbour ratio
    merge_min_share: float = 0.25  # a category is present in a fine cluster holding this share of its messages
    merge_min_mixed: float = 0.75  # merged: this share of each category's messages lie in fine clusters they share
    merge_min_similarity: float = 0.9  # ...or their baseline centroids are this alike and one fine cluster is nearest
    split_min_share: float = 0.25  # a part of a split holds at least this share of the category's window messages
    # ...and at least this share of a typical category's (the median's) messages in the window: clustering finds
    # sub-structure in many single topics (phrasings), whose parts are as far apart as two topics' but smaller.
    split_min_typical: float = 0.5
    # Parts whose centroids are less similar than this are distinct; None: the lower quartile of the current
    # categories' similarity to their nearest other category (as far apart as neighbouring categories are).
    distinct_similarity: float | None = None
    distinct_quantile: float = 0.25
    new_join_similarity: float = 0.8  # new fine clusters in one branch of the hierarchy join at this similarity
    gone_max_ratio: float = 0.1  # gone: window share below this fraction of the baseline share

    def to_dict(self) -> dict:
        """JSON-able form, as recorded in a proposal."""
        return asdict(self)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def reference_neighbour_ratio(vectors: np.ndarray, reference: np.ndarray, neighbours: int) -> np.ndarray:
    """Per window row: share of its nearest neighbours (cosine, window and reference pooled, itself excluded)
    that are reference rows, over the share expected if both were drawn alike; NaN when there is no reference."""
    n, m = len(vectors), len(reference)
    if m == 0 or n + m < 2:
        return np.full(n, np.nan)
    k = min(neighbours, n + m - 1)
    pooled = np.vstack([unit_rows(reference), unit_rows(vectors)])
    window = pooled[m:]
    ratio = np.empty(n)
    for start in range(0, n, NEIGHBOUR_CHUNK):
        block = window[start:start + NEIGHBOUR_CHUNK] @ pooled.T
        rows = np.arange(len(block))
        block[rows, m + start + rows] = -np.inf  # a message is not its own neighbour
        nearest = np.argpartition(-block, k - 1, axis=1)[:, :k]
        ratio[start:start + len(block)] = (nearest < m).mean(axis=1)
    return ratio / (m / (n + m - 1))


def crosstab(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> np.ndarray:
    """Counts of (row label, column label) pairs; columns labelled -1 are not counted."""
    counts = np.zeros((n_rows, n_columns), dtype=np.int64)
    keep = columns >= 0
    np.add.at(counts, (rows[keep], columns[keep]), 1)
    return counts


def distinct_threshold(category_centroids: np.ndarray, present: np.ndarray, thresholds: MatchThresholds) -> float:
    """The centroid similarity below which two parts count as distinct topics (see MatchThresholds)."""
    if thresholds.distinct_similarity is not None:
        return float(thresholds.distinct_similarity)
    centroids = category_centroids[present]
    if len(centroids) < 2:
        return 0.5
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.quantile(similarity.max(axis=1), thresholds.distinct_quantile))


def fine_cluster_labels(fine: np.ndarray, n_fine: int, assigned: np.ndarray, n_categories: int,
                        ratio: np.ndarray, thresholds: MatchThresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label per fine cluster: the category most of its messages were assigned to, or NEW; mean reference ratio
    per fine cluster; fine x category assignment counts)."""
    counts = crosstab(fine, assigned, n_fine, n_categories)
    sizes = np.bincount(fine, minlength=n_fine)
    ratio_sums = np.bincount(fine, weights=np.nan_to_num(ratio, nan=1.0), minlength=n_fine)
    mean_ratio = np.where(sizes > 0, ratio_sums / np.maximum(sizes, 1), np.nan)
    labels = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), NEW)
    if not np.isnan(ratio).all():
        labels = np.where(mean_ratio < thresholds.new_max_reference_ratio, NEW, labels)
    return labels, mean_ratio, counts


def merged_components(fine_labels: np.ndarray, counts: np.ndarray, thresholds: MatchThresholds,
                      category_similarity: np.ndarray | None = None,
                      nearest_fine: np.ndarray | None = None) -> tuple[list, dict]:
    """Sets of categories the window does not separate, and the evidence per merged pair {(a, b): {...}}.

    A pair merges when most of each one's messages lie in fine clusters they share (`mixed`: the share of a's
    messages in clusters where b holds `merge_min_share` too, and the same for b), or when their baseline
    centroids are as alike as two halves of one category (cosine >= `merge_min_similarity`, from
    `category_similarity`) and the fine cluster nearest to both is the same: the classifier may divide such twins
    arbitrarily (all of one cluster to one of them), so their messages need not share clusters."""
    known = fine_labels != NEW
    per_category = counts[known].sum(axis=0)
    shares = counts[known] / np.maximum(counts[known].sum(axis=1, keepdims=True), 1)
    present = shares >= thresholds.merge_min_share
    parent = list(range(counts.shape[1]))

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    evidence = {}
    candidates = {(int(a), int(b)) for row in present for a in np.flatnonzero(row) for b in np.flatnonzero(row)
                  if a < b}
    twins = set()
    if category_similarity is not None and nearest_fine is not None:
        close = np.triu(category_similarity >= thresholds.merge_min_similarity, k=1)
        twins = {(int(a), int(b)) for a, b in zip(*np.nonzero(close))
                 if nearest_fine[a] >= 0 and nearest_fine[a] == nearest_fine[b] and per_category[[a, b]].min() > 0}
    for a, b in sorted(candidates | twins):
        together = present[:, a] & present[:, b]
        mixed_a = counts[known][together, a].sum() / max(per_category[a], 1)
        mixed_b = counts[known][together, b].sum() / max(per_category[b], 1)
        if min(mixed_a, mixed_b) >= thresholds.merge_min_mixed or (a, b) in twins:
            evidence[(a, b)] = {"mixed": [float(mixed_a), float(mixed_b)], "twins": (a, b) in twins}
            if category_similarity is not None:
                evidence[(a, b)]["reference_similarity"] = float(category_similarity[a, b])
            parent[root(b)] = root(a)
    components: dict[int, list[int]] = {}
    for a, b in evidence:
        for node in (a, b):
            components.setdefault(root(node), [])
    for node in range(counts.shape[1]):
        if root(node) in components and node not in components[root(node)]:
            components[root(node)].append(node)
    return [sorted(members) for _, members in sorted(components.items())], evidence


def join_parts(parts: list[np.ndarray], sizes: np.ndarray, centroids: np.ndarray, distinct: float,
               min_size: float) -> list[list[int]]:
    """Greedy grouping of parts (largest first): a part starts a component of its own when it is at least
    `min_size` and less similar than `distinct` to every component so far; otherwise it joins the most similar."""
    order = sorted(range(len(parts)), key=lambda i: (-sizes[i], i))
    components: list[list[int]] = []
    component_sums: list[np.ndarray] = []
    for i in order:
        if components:
            means = unit_rows(np.stack(component_sums))
            similarity = means @ centroids[i]
            best = int(np.argmax(similarity))
            if similarity[best] >= distinct or sizes[i] < min_size:
                components[best].append(i)
                component_sums[best] = component_sums[best] + centroids[i] * sizes[i]
                continue
        components.append([i])
        component_sums.append(centroids[i] * sizes[i])
    return components


def window_groups(base_group: np.ndarray, fine_labels: np.ndarray, merges: list[list[int]], counts: np.ndarray,
                  fine_centroids: np.ndarray, distinct: float, thresholds: MatchThresholds,
                  typical_size: float = 0.0) -> tuple[np.ndarray, dict[int, int]]:
    """Window group of each fine cluster, and the key each group was made for.

    The hierarchy's groups (`base_group`) are refined by the match: fine clusters of one category (or one merge)
    form one group, or several when their parts are distinct (a split); new fine clusters stay apart from known
    ones, and within one base group join when their centroids are not distinct. A part of a split holds
    `split_min_share` of its category and `split_min_typical` of `typical_size` messages. Keys: category index >= 0,
    -2 - merge number for a merge, NEW for a candidate."""
    merge_of = {c: number for number, members in enumerate(merges) for c in members}
    key = np.array([(-2 - merge_of[label]) if label in merge_of else label for label in fine_labels])
    fine_sizes = counts.sum(axis=1) if counts.shape[1] else np.zeros(len(fine_labels))
    pieces: list[tuple[int, list[int]]] = []
    for value in sorted(set(key.tolist())):
        members = np.flatnonzero(key == value)
        by_base = [members[base_group[members] == b] for b in sorted(set(base_group[members].tolist()))]
        if value == NEW:
            # Candidates: different branches of the hierarchy stay apart; within one, clusters join only when
            # they are as close as one topic's clusters are (a mixed candidate cannot be accepted as it is).
            for part in by_base:
                for component in join_parts(list(part), fine_sizes[part].astype(float), fine_centroids[part],
                                            thresholds.new_join_similarity, 0.0):
                    pieces.append((NEW, sorted(part[component].tolist())))
            continue
        # A part's weight is the category's own messages in it (a merge: its categories' messages).
        own = [value] if value >= 0 else merges[-2 - value]
        sizes = np.array([counts[np.ix_(part, own)].sum() for part in by_base], dtype=float)
        centroids = unit_rows(np.stack([(fine_centroids[part] * fine_sizes[part, None]).sum(axis=0)
                                        for part in by_base]))
        total = counts[np.ix_(np.flatnonzero(fine_labels != NEW), own)].sum()
        min_part = max(thresholds.split_min_share * total, thresholds.split_min_typical * typical_size)
        for component in join_parts(by_base, sizes, centroids, distinct, min_part):
            pieces.append((value, sorted(np.concatenate([by_base[i] for i in component]).tolist())))
    piece_sizes = [int(fine_sizes[members].sum()) for _, members in pieces]
    order = sorted(range(len(pieces)), key=lambda i: (-piece_sizes[i], pieces[i][1][0]))
    group_of_fine = np.zeros(len(fine_labels), dtype=np.int64)
    keys = {}
    for group, i in enumerate(order):
        group_of_fine[pieces[i][1]] = group
        keys[group] = pieces[i][0]
    return group_of_fine, keys


def category_centroids(reference: np.ndarray, reference_index: np.ndarray, n_categories: int) -> np.ndarray:
    """Unit-norm centroid of each category's reference vectors (zeros for a category with none)."""
    keep = reference_index >= 0
    if not keep.any():
        return np.zeros((n_categories, reference.shape[1] if reference.ndim == 2 else 0), dtype=np.float32)
    return cluster_centroids(unit_rows(reference[keep]), reference_index[keep], n_categories)
