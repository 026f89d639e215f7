"""Grouping fine clusters into proposed categories: an average-linkage (cosine) hierarchy over the fine clusters'
centroids, cut where internal evidence says (never gold labels), or where the analyst says.

KMeans over-splits on purpose (a fine k keeps small intents apart); an analyst reviews categories, not dozens of
template-level sub-clusters. The centroids are measured from the data's centre, and in a multilingual set from
each language's own centre, so that one topic's Spanish and English clusters can meet. The cut is the number of
groups whose partition of the messages has the best silhouette in `space` (each message compared with its own
language), among the cuts whose groups do not depend on the language when there are several.

Which space: the message features (what cluster_job passes), not the UMAP embedding KMeans may run in. UMAP with
min_dist=0 packs neighbouring intents into a few dense clumps, so its silhouette prefers coarse cuts (banking77:
18 groups for 77 intents). docs/clustering.md has the measured table, `python -m benchmarks.categories`
reproduces it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from processing.cluster import sample_indices

SILHOUETTE_SAMPLE = 5000  # rows the silhouette of each candidate cut is computed on (seeded sample)
# A multilingual set's categories are topics, not languages: a cut counts as language-independent when the NMI of
# its groups with the messages' languages is at most this (demo data: 0.03 or less up to 10 groups, 0.15 from 14, where
# the hierarchy keeps one topic's Spanish and English clusters apart).
LANGUAGE_INDEPENDENCE = 0.05
MIN_LANGUAGE_SHARE = 0.05  # a language counts as a stratum of its own from this share of the messages
GROUPING_MAX_ROWS = 100_000  # messages the grouping is measured on (a seeded sample above that)


@dataclass
class CategoryGrouping:
    """Fine cluster -> proposed category (group), with the hierarchy and the evidence for the cut."""

    group_of_cluster: np.ndarray  # int, one per fine cluster; groups numbered 0..n_groups-1, largest first
    n_groups: int
    evidence: dict = field(default_factory=dict)  # JSON-able: linkage rows, score per candidate cut, the cut, why

    def groups(self) -> list[list[int]]:
        """Fine clusters of each group, in group order."""
        return [np.flatnonzero(self.group_of_cluster == g).tolist() for g in range(self.n_groups)]


def group_clusters(space: np.ndarray, clusters: np.ndarray, n_clusters: int, *, n_groups: int | str = "auto",
                   seed: int = 0, strata: np.ndarray | None = None, max_rows: int = GROUPING_MAX_ROWS
                   ) -> CategoryGrouping:
    """Group `n_clusters` fine clusters (`clusters`: one per row of `space`) into proposed categories.

    `n_groups="auto"` chooses the cut from internal evidence; an integer forces it (capped at the fine clusters
    that have members). `strata` (e.g. each message's language) makes the cut's silhouette compare messages
    only with messages of their own stratum: with an English sentence model, Spanish and English messages lie
    far apart, and the whole-space silhouette then prefers the cut that only separates the languages.

    Above `max_rows` messages the grouping is measured on a seeded sample of that many (its float64 copies of the
    space would not fit in memory at a million rows); a fine cluster with no message in the sample joins group 0."""
    space, clusters = np.asarray(space), np.asarray(clusters, dtype=np.int64)
    _check(space, clusters, n_clusters, n_groups)
    if len(space) > max_rows:
        rows = sample_indices(len(space), max_rows, seed)
        space, clusters = space[rows], clusters[rows]
        strata = None if strata is None else np.asarray(strata)[rows]
    space = np.asarray(space, dtype=np.float64)
    sizes = np.bincount(clusters, minlength=n_clusters)
    present = np.flatnonzero(sizes)
    languages = language_strata(strata, len(clusters))
    # Cosine between centroids measured from the data's centre (per language when there are several), not from
    # the origin: on banking77 that proposed 85 categories for 77 (NMI 83.1) against 70 (81.7) uncentred.
    centred = centred_by_stratum(space, np.zeros(len(space)) if languages is None else languages)
    centroids = np.stack([centred[clusters == c].mean(axis=0) for c in present])
    linkage = average_cosine_linkage(centroids)
    candidates = range(1, len(present) + 1)
    independence = {}
    if n_groups == "auto":
        scores = cut_scores(space, clusters, present, linkage, seed, strata)
        if languages is not None:
            independence = language_dependence(clusters, present, linkage, languages)
        allowed = {n: s for n, s in scores.items() if independence.get(n, 0.0) <= LANGUAGE_INDEPENDENCE} or scores
        chosen = max(allowed, key=lambda n: (allowed[n], -n)) if allowed else len(present)
        why = ("the cut whose grouped partition has the best silhouette in the clustering space"
               + (f", among the cuts whose groups are independent of the language (NMI with it <= "
                  f"{LANGUAGE_INDEPENDENCE})" if languages is not None and len(allowed) < len(scores) else "")
               if scores else f"{len(present)} fine cluster(s) with members: nothing to choose")
    else:
        scores = {}
        chosen = min(int(n_groups), len(present))
        why = f"forced: n_groups={n_groups}" + (f", capped at the {len(present)} fine clusters with members"
                                                  if chosen < int(n_groups) else "")
    assert chosen in candidates
    labels_of_present = cut_tree(linkage, len(present), chosen)
    group_of_cluster = _largest_first(labels_of_present, sizes[present], present, n_clusters, sizes)
    return CategoryGrouping(group_of_cluster=group_of_cluster, n_groups=chosen, evidence={
        "method": "average linkage (cosine) on fine-cluster centroids, "
                  + ("each language's mean removed" if languages is not None else "the mean removed"),
        "space_dimensions": int(space.shape[1]),
        "linkage": [[int(a), int(b), round(float(h), 6), int(n)] for a, b, h, n in linkage],
        "leaves": present.tolist(),
        "scores": {str(n): round(s, 6) for n, s in scores.items()},
        "language_dependence": {str(n): round(v, 6) for n, v in independence.items()},
        "criterion": ("silhouette" + (" within strata" if strata is not None else "")
                      + (", language-independent cuts" if languages is not None else "")) if n_groups == "auto"
                     else "forced",
        "chosen": chosen, "why": why})


def _check(space: np.ndarray, clusters: np.ndarray, n_clusters: int, n_groups: int | str) -> None:
    if space.ndim != 2 or len(space) != len(clusters):
        raise ValueError(f"space must have one row per message ({len(clusters)}), got shape {space.shape}")
    if len(clusters) == 0:
        raise ValueError("no messages to group")
    if clusters.min() < 0 or clusters.max() >= n_clusters:
        raise ValueError(f"cluster ids must lie in 0..{n_clusters - 1}, got {clusters.min()}..{clusters.max()}")
    if n_groups != "auto" and (isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer))
                               or n_groups < 1):
        raise ValueError(f"n_groups must be 'auto' or an integer >= 1, got {n_groups!r}")


def language_strata(strata: np.ndarray | None, n_rows: int) -> np.ndarray | None:
    """The strata as language labels when at least two of them hold MIN_LANGUAGE_SHARE of the messages each;
    None otherwise (one language, or a few stray detections: nothing to make the categories independent of)."""
    if strata is None:
        return None
    strata = np.asarray(strata, dtype=str)
    if len(strata) != n_rows:
        raise ValueError(f"strata must have one value per message ({n_rows}), got {len(strata)}")
    _, counts = np.unique(strata, return_counts=True)
    return strata if (counts >= MIN_LANGUAGE_SHARE * n_rows).sum() >= 2 else None


def centred_by_stratum(space: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """`space` with each stratum's mean subtracted from its rows.

    With an English sentence model a Spanish message and its English twin lie far apart, mostly along one
    language direction; removing each language's mean takes that direction out, so a hierarchy can join a
    Spanish and an English cluster of the same topic (demo data: the nearest other-language cluster has the
    same category for 58% of the fine clusters before, 68% after)."""
    centred = np.array(space, dtype=np.float64)
    for value in np.unique(strata):
        rows = strata == value
        centred[rows] -= centred[rows].mean(axis=0)
    return centred


def average_cosine_linkage(centroids: np.ndarray) -> np.ndarray:
    """scipy linkage rows (a, b, height, size) of average linkage with cosine distances between centroids."""
    from scipy.cluster.hierarchy import linkage

    from scipy.spatial.distance import pdist

    if len(centroids) < 2:
        return np.zeros((0, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = pdist(centroids, metric="cosine")
    # A centroid equal to the mean it was centred on has no direction (tiny inputs): as unlike anything as can be.
    return linkage(np.nan_to_num(distances, nan=1.0, posinf=2.0, neginf=0.0), method="average")


def language_dependence(clusters: np.ndarray, present: np.ndarray, linkage: np.ndarray,
                        languages: np.ndarray) -> dict[int, float]:
    """NMI between each cut's groups and the messages' languages, for every cut from 2 to all fine clusters."""
    from sklearn.metrics import normalized_mutual_info_score

    position = np.full(int(clusters.max()) + 1, -1)
    position[present] = np.arange(len(present))
    fine = position[clusters]
    # The languages as integer codes in sorted order: the same contingency tables and scores, bit for bit, without
    # sorting the strings again for every cut (100 cuts of 100,000 messages: 3.8 s).
    languages = np.unique(languages, return_inverse=True)[1]
    return {n: float(normalized_mutual_info_score(languages, cut_tree(linkage, len(present), n)[fine]))
            for n in range(2, len(present) + 1)}


def cut_tree(linkage: np.ndarray, n_leaves: int, n_groups: int) -> np.ndarray:
    """Group (0..n_groups-1, in order of first leaf) of each leaf after the first n_leaves - n_groups merges."""
    parent = list(range(2 * n_leaves - 1))

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    for step in range(n_leaves - n_groups):
        a, b = int(linkage[step, 0]), int(linkage[step, 1])
        parent[a] = parent[b] = n_leaves + step
    roots = [root(leaf) for leaf in range(n_leaves)]
    order = {r: g for g, r in enumerate(dict.fromkeys(roots))}
    return np.array([order[r] for r in roots], dtype=np.int64)


def cut_scores(space: np.ndarray, clusters: np.ndarray, present: np.ndarray, linkage: np.ndarray,
               seed: int, strata: np.ndarray | None = None) -> dict[int, float]:
    """Silhouette of the grouped partition of a seeded sample of rows, for every cut from 2 to all fine clusters.

    Distances are summed once per (row, fine cluster); a group's mean distance is then a sum over its fine
    clusters, so each cut costs O(rows x fine clusters) instead of a new O(rows^2) silhouette."""
    rows = sample_indices(len(space), SILHOUETTE_SAMPLE, seed)
    position = np.full(int(clusters.max()) + 1, -1)
    position[present] = np.arange(len(present))
    fine = position[clusters[rows]]
    labels = np.zeros(len(rows), dtype=np.int64) if strata is None else np.unique(
        np.asarray(strata, dtype=str)[rows], return_inverse=True)[1]
    # Per stratum: its rows' distance sums to each fine cluster, counting only rows of the same stratum.
    parts = [(members, distance_sums(space[rows[members]], fine[members], len(present)))
             for members in (np.flatnonzero(labels == s) for s in np.unique(labels)) if len(members) > 1]
    scores = {}
    for n in range(2, len(present) + 1):
        group_of_fine = cut_tree(linkage, len(present), n)
        weighted = [len(members) * grouped_silhouette(sums, fine[members], group_of_fine)
                    for members, sums in parts]
        scores[n] = float(sum(weighted) / sum(len(members) for members, _ in parts))
    return scores


def distance_sums(points: np.ndarray, labels: np.ndarray, n_labels: int, chunk: int = 1000) -> np.ndarray:
    """(rows x labels) sums of the Euclidean distances from each point to the points of each label."""
    sums = np.zeros((len(points), n_labels))
    squared = (points ** 2).sum(axis=1)
    onehot = np.zeros((len(points), n_labels))
    onehot[np.arange(len(points)), labels] = 1.0
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        d2 = squared[start:start + chunk, None] + squared[None, :] - 2.0 * block @ points.T
        sums[start:start + chunk] = np.sqrt(np.clip(d2, 0.0, None)) @ onehot
    return sums


def grouped_silhouette(sums: np.ndarray, fine: np.ndarray, group_of_fine: np.ndarray) -> float:
    """Mean silhouette (as scikit-learn defines it: 0 for a point alone in its group) of the partition that puts
    each row in the group of its fine cluster, from per-fine-cluster distance sums."""
    if len(np.unique(group_of_fine[fine])) < 2:
        return 0.0  # one group among these rows: nothing is separated
    n_groups = int(group_of_fine.max()) + 1
    membership = np.zeros((len(group_of_fine), n_groups))
    membership[np.arange(len(group_of_fine)), group_of_fine] = 1.0
    group_sums = sums @ membership
    group_sizes = np.bincount(group_of_fine[fine], minlength=n_groups).astype(np.float64)
    own = group_of_fine[fine]
    rows = np.arange(len(fine))
    own_size = group_sizes[own]
    a = group_sums[rows, own] / np.maximum(own_size - 1, 1)
    other = group_sums / np.where(group_sizes > 0, group_sizes, np.nan)
    other[rows, own] = np.inf
    other = np.where(np.isnan(other), np.inf, other)
    b = other.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def _largest_first(labels: np.ndarray, present_sizes: np.ndarray, present: np.ndarray, n_clusters: int,
                   sizes: np.ndarray) -> np.ndarray:
    """Renumber groups by size (largest first, ties by lowest fine cluster); empty fine clusters join group 0."""
    n = int(labels.max()) + 1
    group_sizes = np.bincount(labels, weights=present_sizes, minlength=n)
    first_leaf = [int(present[labels == g].min()) for g in range(n)]
    order = sorted(range(n), key=lambda g: (-group_sizes[g], first_leaf[g]))
    renumber = np.empty(n, dtype=np.int64)
    renumber[order] = np.arange(n)
    result = np.zeros(n_clusters, dtype=np.int64)
    result[present] = renumber[labels]
    return result


MAP_POINTS = 2000  # messages drawn on the report's 2-D map (a seeded sample)


def map_points(space: np.ndarray, labels: np.ndarray, ids, seed: int = 0, max_points: int = MAP_POINTS) -> dict:
    """A 2-D picture of at most `max_points` seeded messages: the first two principal components of `space`
    (exact SVD, so the same rows give the same picture), with each point's label and message id."""
    rows = sample_indices(len(space), max_points, seed)
    points = np.asarray(np.asarray(space)[rows], dtype=np.float64)  # the sample only, not a float64 copy of all
    centred = points - points.mean(axis=0)
    if len(points) > 1 and np.any(centred):
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        components = components[:2]
        # SVD signs are arbitrary: make each axis's largest coordinate positive, so the picture never flips.
        components = components * np.sign(components[np.arange(len(components)),
                                                      np.abs(components).argmax(axis=1)])[:, None]
        xy = centred @ components.T
    else:
        xy = np.zeros((len(points), 2))
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((len(points), 2 - xy.shape[1]))])
    ids = np.asarray(ids, dtype=object)
    return {"x": [round(float(v), 4) for v in xy[:, 0]], "y": [round(float(v), 4) for v in xy[:, 1]],
            "category": [int(v) for v in np.asarray(labels)[rows]], "id": [str(v) for v in ids[rows]]}


def category_summaries(group_summary: list[dict], grouping: CategoryGrouping, names: list[str],
                       terms_by_language: list[dict[str, list[str]]]) -> list[dict]:
    """clusters.json "categories": each group's summarize_clusters entry (computed with groups as clusters) with
    its fine clusters, its draft-map name and its top terms per language; no centroid (the fine clusters have)."""
    fine = grouping.groups()
    return [{"category": g, "clusters": fine[g], "size": entry["size"], "name": names[g],
             "top_terms": entry["top_terms"], "top_terms_by_language": terms_by_language[g],
             "representative": entry["representative"], "borderline": entry["borderline"]}
            for g, entry in enumerate(group_summary)]
