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

* a fine cluster is **new** when its reference-neighbour ratio is below `new_max_reference_ratio`; the new fine
  clusters joined into a candidate stay new only when so few reference neighbours are unlikely by chance at the
  candidate's size (one-sided binomial test, `new_alpha`): a small candidate needs stronger evidence than a large
  one, and one that lacks it goes back to the categories its messages were assigned to;
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
from scipy.stats import binom

from processing.cluster import cluster_centroids

NEW = -1  # label of a fine cluster that matches no current category
NEIGHBOUR_CHUNK = 1000  # window rows whose similarities to every pooled row are held at once


@dataclass(frozen=True)
class MatchThresholds:
    """Thresholds of the matching rules (defaults chosen on banking77, docs/evolution.md)."""

    neighbours: int = 15  # nearest neighbours per window message for the reference-neighbour ratio
    new_max_reference_ratio: float = 0.5  # a fine cluster is new below this mean reference-neighbour ratio
    # A candidate stays new when a share of reference neighbours as low as its own has at most this chance among its
    # messages if the window looked like the reference (new_cluster_pvalue). With a reference a quarter of the
    # pooled rows, 10 messages without a reference neighbour happen by chance (p 0.07); 18 do not (p 0.01).
    new_alpha: float = 0.01
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


def expected_reference_share(n_window: int, n_reference: int) -> float:
    """The share of a window message's neighbours expected to be reference rows if both were drawn alike."""
    return n_reference / max(n_window + n_reference - 1, 1)


def new_cluster_pvalue(mean_ratio: np.ndarray, sizes: np.ndarray, expected_share: float) -> np.ndarray:
    """Per cluster, the chance of so few reference neighbours if the window looked like the reference: a one-sided
    binomial test with one trial per message (its share of reference neighbours, summed over the cluster and
    rounded), not one per neighbour, because near-duplicate messages share their neighbours."""
    sizes = np.asarray(sizes)
    observed = np.rint(np.nan_to_num(mean_ratio, nan=1.0) * expected_share * sizes)
    return binom.cdf(observed, sizes, expected_share)


def unconfirmed_candidates(group_of_fine: np.ndarray, keys: dict[int, int], mean_ratio: np.ndarray,
                           fine_sizes: np.ndarray, expected_share: float,
                           thresholds: MatchThresholds) -> tuple[list[int], dict[int, float]]:
    """(fine clusters of the candidate groups whose evidence is chance at their size, p-value per candidate group):
    a candidate's ratio is its fine clusters' size-weighted mean, its size their sum (new_cluster_pvalue)."""
    pvalues, weak = {}, []
    for group, key in keys.items():
        if key != NEW:
            continue
        members = np.flatnonzero(group_of_fine == group)
        size = fine_sizes[members].sum()
        ratio = (np.nan_to_num(mean_ratio[members], nan=1.0) * fine_sizes[members]).sum() / max(size, 1)
        pvalues[group] = float(new_cluster_pvalue(np.array([ratio]), np.array([size]), expected_share)[0])
        if pvalues[group] > thresholds.new_alpha:
            weak += members.tolist()
    return sorted(weak), pvalues


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
    """Agglomerative grouping of parts: the two most similar components join while they are at least `distinct`
    alike; then the smallest component under `min_size` joins its most similar, until none is left (largest
    component first, members largest first). Small pieces of one topic thus gather before they are compared with
    another topic (a greedy pass, largest first, gave each piece to the largest component and lost splits)."""
    components = [[i] for i in range(len(parts))]
    weights = [float(sizes[i]) for i in range(len(parts))]
    sums = [centroids[i] * sizes[i] for i in range(len(parts))]
    while len(components) > 1:
        means = unit_rows(np.stack(sums))
        similarity = means @ means.T
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[a, b] < distinct:
            small = [c for c in range(len(components)) if weights[c] < min_size]
            if not small:
                break
            a = min(small, key=lambda c: (weights[c], min(components[c])))
            b = int(np.argmax(similarity[a]))
        a, b = min(a, b), max(a, b)
        components[a] += components.pop(b)
        weights[a] += weights.pop(b)
        sums[a] = sums[a] + sums.pop(b)
    order = sorted(range(len(components)), key=lambda c: (-weights[c], min(components[c])))
    return [sorted(components[c], key=lambda i: (-sizes[i], i)) for c in order]


def fine_languages(fine: np.ndarray, n_fine: int, languages: np.ndarray | None, min_share: float = 0.8) -> np.ndarray:
    """Per fine cluster the language of at least `min_share` of its messages, or "" (mixed, or no languages)."""
    result = np.full(n_fine, "", dtype=object)
    if languages is None:
        return result
    for f in range(n_fine):
        values, counts = np.unique(np.asarray(languages)[fine == f], return_counts=True)
        if len(counts) and counts.max() >= min_share * counts.sum():
            result[f] = str(values[counts.argmax()])
    return result


def language_halves(components: list[list[int]], parts: list[np.ndarray], fine_language: np.ndarray) -> bool:
    """Whether two or more components are each in one language, a different one each: one topic's Spanish and
    English halves (a lexical feature space keeps them apart), not a split."""
    if len(components) < 2:
        return False
    languages = [set(fine_language[np.concatenate([parts[i] for i in component])].tolist()) for component in components]
    single = [next(iter(values)) for values in languages if len(values) == 1 and "" not in values]
    return len(single) == len(components) and len(set(single)) == len(single)


def window_groups(base_group: np.ndarray, fine_labels: np.ndarray, merges: list[list[int]], counts: np.ndarray,
                  fine_centroids: np.ndarray, distinct: float, thresholds: MatchThresholds,
                  typical_size: float = 0.0,
                  fine_language: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, int]]:
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
        components = join_parts(by_base, sizes, centroids, distinct, min_part)
        if fine_language is not None and language_halves(components, by_base, fine_language):
            components = [sum(components, [])]
        for component in components:
            pieces.append((value, sorted(np.concatenate([by_base[i] for i in component]).tolist())))
    piece_sizes = [int(fine_sizes[members].sum()) for _, members in pieces]
    order = sorted(range(len(pieces)), key=lambda i: (-piece_sizes[i], pieces[i][1][0]))
    group_of_fine = np.zeros(len(fine_labels), dtype=np.int64)
    keys = {}
    for group, i in enumerate(order):
        group_of_fine[pieces[i][1]] = group
        keys[group] = pieces[i][0]
    return group_of_fine, keys


def pool_weak_candidates(weak_groups: list[int], group_of_fine: np.ndarray, base_group: np.ndarray,
                         mean_ratio: np.ndarray, fine_sizes: np.ndarray, expected_share: float,
                         thresholds: MatchThresholds) -> tuple[dict[int, int], list[int]]:
    """({fine cluster: the fine cluster whose group it joins}, weak groups left): weak candidates in one branch of the
    hierarchy are tested together, and join into one candidate when together they are not chance. A new topic
    seen through a small reference comes in pieces each too small to tell from chance (its templates share few
    words, so they do not join by similarity), while the hierarchy puts them in one branch."""
    joins, left = {}, []
    by_branch: dict[int, list[int]] = {}
    for group in weak_groups:
        members = np.flatnonzero(group_of_fine == group)
        by_branch.setdefault(int(np.bincount(base_group[members]).argmax()), []).append(group)
    for branch in sorted(by_branch):
        groups = by_branch[branch]
        members = np.flatnonzero(np.isin(group_of_fine, groups))
        size = fine_sizes[members].sum()
        ratio = (np.nan_to_num(mean_ratio[members], nan=1.0) * fine_sizes[members]).sum() / max(size, 1)
        pooled = float(new_cluster_pvalue(np.array([ratio]), np.array([size]), expected_share)[0])
        if len(groups) > 1 and pooled <= thresholds.new_alpha:
            target = int(np.flatnonzero(group_of_fine == groups[0])[0])
            joins.update({int(f): target for f in members})
        else:
            left += groups
    return joins, sorted(left)


def attach_or_return(weak_groups: list[int], confirmed_groups: list[int], group_of_fine: np.ndarray,
                     fine_centroids: np.ndarray, fine_sizes: np.ndarray,
                     known_centroids: np.ndarray) -> tuple[dict[int, int], list[int]]:
    """For candidates without evidence of their own (unconfirmed_candidates): ({fine cluster: a fine cluster of the
    confirmed candidate it joins}, fine clusters that go back to their messages' categories). A fragment joins the
    confirmed candidate nearest to it when that is nearer than every known category (a new topic's small pieces),
    otherwise it returns (chance, not a topic)."""
    def centroid(group: int) -> np.ndarray:
        members = group_of_fine == group
        return unit_rows((fine_centroids[members] * fine_sizes[members, None]).sum(axis=0, keepdims=True))[0]

    confirmed = np.stack([centroid(g) for g in confirmed_groups]) if confirmed_groups else None
    joins, returned = {}, []
    for group in weak_groups:
        members = np.flatnonzero(group_of_fine == group).tolist()
        point = centroid(group)
        known = float((known_centroids @ point).max()) if len(known_centroids) else -np.inf
        if confirmed is not None and float((confirmed @ point).max()) > known:
            target = confirmed_groups[int(np.argmax(confirmed @ point))]
            joins.update({f: int(np.flatnonzero(group_of_fine == target)[0]) for f in members})
        else:
            returned += members
    return joins, sorted(returned)


def regroup(group_of_fine: np.ndarray, keys: dict[int, int], joins: dict[int, int],
            fine_sizes: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Groups with each fine cluster in `joins` moved to its target's group, renumbered largest first."""
    moved = group_of_fine.copy()
    for fine, target in joins.items():
        moved[fine] = group_of_fine[target]
    kept = sorted(set(moved.tolist()), key=lambda g: (-int(fine_sizes[moved == g].sum()),
                                                       int(np.flatnonzero(moved == g)[0])))
    number = {old: new for new, old in enumerate(kept)}
    return np.array([number[g] for g in moved], dtype=np.int64), {number[g]: keys[g] for g in kept}


def category_centroids(reference: np.ndarray, reference_index: np.ndarray, n_categories: int) -> np.ndarray:
    """Unit-norm centroid of each category's reference vectors (zeros for a category with none)."""
    keep = reference_index >= 0
    if not keep.any():
        return np.zeros((n_categories, reference.shape[1] if reference.ndim == 2 else 0), dtype=np.float32)
    return cluster_centroids(unit_rows(reference[keep]), reference_index[keep], n_categories)
