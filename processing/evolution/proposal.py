"""The evolution proposal: cluster a window of new messages, match its groups to the current categories, and
write what changed (kept, split, merged, gone, new candidates) with every number behind each decision.

`propose` is pure (data in, a JSON-able document out); the `tweetops evolve` job reads the window and the model
package, calls it and writes proposal.json. The document's shape is "tweetops.evolution.proposal/1"
(docs/evolution.md); its id is a hash of its content, so the same inputs and seed give the same proposal.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from processing.category_map import CategoryMap, readable_name
from processing.cluster import (MessageClusterer, cluster_centroids, sample_indices, summarize_clusters, term_counts,
                                top_terms_by_language)
from processing.evolution.match import (NEW, MatchThresholds, attach_or_return, category_centroids,
                                        distinct_threshold, expected_reference_share, fine_cluster_labels,
                                        fine_languages, merged_components, reference_neighbour_ratio, regroup,
                                        pool_weak_candidates, unconfirmed_candidates,
                                        unit_rows, window_groups)
from processing.grouping import MIN_LANGUAGE_SHARE, CategoryGrouping, centred_by_stratum, group_clusters

SCHEMA = "tweetops.evolution.proposal/1"
MAP_POINTS = 2000  # window messages drawn on the proposal's 2-D map
LANGUAGES = ("en", "es")
# The window is clustered finer than discovery's default (4..100): fine clusters are joined by category afterwards,
# so over-clustering costs a kept category nothing, while finer clusters separate a new topic's messages from a
# known sibling's (banking77: 12 -> 14 of 17 new intents found; docs/evolution.md).
WINDOW_K_RANGE = (4, 200)
# ...but never finer than this many messages per fine cluster on average: the silhouette keeps rising with k on
# template-like messages, and a small window was shattered (demo: 200 fine clusters of ~10 messages for 1,942).
MIN_MESSAGES_PER_FINE_CLUSTER = 20
ABSORBED_HOLDERS = 3  # window groups listed for a category absorbed into others
WINDOW_COLUMNS = ("id", "text", "feature_text")


@dataclass
class WindowClustering:
    """The window's fine clusters (KMeans, auto k) and the hierarchy's grouping of them."""

    fine: np.ndarray  # fine cluster per window message
    n_fine: int
    space: np.ndarray  # the rows in the space the clusters were fitted in
    grouping: CategoryGrouping
    selection: dict


def window_k_range(n_messages: int, k_range: tuple[int, int] = WINDOW_K_RANGE) -> tuple[int, int]:
    """`k_range` with its top lowered to MIN_MESSAGES_PER_FINE_CLUSTER messages per fine cluster (never below its
    bottom)."""
    low, high = k_range
    return low, max(low, min(high, n_messages // MIN_MESSAGES_PER_FINE_CLUSTER))


def cluster_window(vectors: np.ndarray, *, clustering_params: dict | None = None, n_groups: int | str = "auto",
                   seed: int = 0, k_range: tuple[int, int] = WINDOW_K_RANGE,
                   strata: np.ndarray | None = None) -> WindowClustering:
    """Fine clusters and their grouping (cluster_job's MessageClusterer settings; the hierarchy with each message's
    language as `strata`, as discovery cuts it), with k searched over `k_range` capped by the window's size
    (window_k_range). The hierarchy runs in the clustering space: in the feature space (discovery's) its finer
    groups cut one category's fine clusters into pieces too small to show a split (banking77's forced split lost)."""
    k_range = window_k_range(len(vectors), k_range)
    clusterer = MessageClusterer(n_clusters="auto", seed=seed, **{**(clustering_params or {}), "k_range": k_range})
    fine = clusterer.fit_predict(vectors, strata=strata)
    space = clusterer.embed(vectors)
    grouping = group_clusters(space, fine, clusterer.n_clusters_, n_groups=n_groups, seed=seed, strata=strata)
    return WindowClustering(fine, clusterer.n_clusters_, space, grouping, clusterer.selection_)


def propose(window: pd.DataFrame, vectors: np.ndarray, assigned: np.ndarray, base_map: CategoryMap,
            reference_vectors: np.ndarray, reference_categories: np.ndarray, *, clustering_params: dict | None = None,
            n_groups: int | str = "auto", seed: int = 0, model: dict | None = None, window_info: dict | None = None,
            thresholds: MatchThresholds | None = None,
            clustering: WindowClustering | None = None) -> tuple[dict, np.ndarray]:
    """(proposal document, fine cluster per window message).

    `clustering`: a cluster_window result for these same vectors (the benchmark matches one window to several
    models); by default the window is clustered here."""
    thresholds = thresholds or MatchThresholds()
    vectors = np.asarray(vectors, dtype=np.float32)
    _check_inputs(window, vectors, assigned, reference_vectors, reference_categories)
    clustering = clustering or cluster_window(vectors, clustering_params=clustering_params, n_groups=n_groups,
                                              seed=seed, strata=window_languages(window))
    if len(clustering.fine) != len(window):
        raise ValueError(f"the clustering covers {len(clustering.fine)} messages, the window {len(window)}")
    names = list(base_map.categories)
    ids = [base_map.category_id(name) for name in names]
    index = {name: i for i, name in enumerate(names)}
    assigned_index = np.array([index.get(str(name), -1) for name in assigned], dtype=np.int64)
    reference_index = np.array([index.get(str(name), -1) for name in reference_categories], dtype=np.int64)
    fine, n_fine = clustering.fine, clustering.n_fine

    ratio = reference_neighbour_ratio(vectors, np.asarray(reference_vectors)[reference_index >= 0],
                                      thresholds.neighbours)
    expected_share = expected_reference_share(len(vectors), int((reference_index >= 0).sum()))
    fine_labels, fine_ratio, counts = fine_cluster_labels(fine, n_fine, assigned_index, len(names), ratio, thresholds)
    fine_sizes = np.bincount(fine, minlength=n_fine)
    reference_centroids = category_centroids(np.asarray(reference_vectors, dtype=np.float32), reference_index,
                                             len(names))
    with_reference = np.flatnonzero(np.bincount(reference_index[reference_index >= 0], minlength=len(names)))
    distinct = distinct_threshold(reference_centroids, with_reference, thresholds)
    fine_centroids = cluster_centroids(unit_rows(vectors), fine, n_fine)
    # Parts of a split and pieces of a candidate are compared without the language direction: the map's categories
    # span languages (discovery cuts them so), and a topic's Spanish and English parts are not a split.
    part_centroids = cluster_centroids(unit_rows(language_centred(vectors, window_languages(window))), fine, n_fine)
    fine_language = fine_languages(fine, n_fine, window_languages(window))
    # Messages assigned to no category of the map still weigh in their cluster's size: one extra column.
    with_unassigned = np.column_stack([counts, fine_sizes - counts.sum(axis=1)])

    def matched(labels: np.ndarray):
        merges, merge_evidence = merged_components(
            labels, counts, thresholds, reference_centroids @ reference_centroids.T,
            _nearest_known_fine(reference_centroids, with_reference, fine_centroids, labels))
        known_sizes = counts[labels != NEW].sum(axis=0)
        # A typical category's size: the median of the categories' messages in known fine clusters (those present).
        typical = float(np.median(known_sizes[known_sizes > 0])) if (known_sizes > 0).any() else 0.0
        group_of_fine, keys = window_groups(clustering.grouping.group_of_cluster, labels, merges, with_unassigned,
                                            part_centroids, distinct, thresholds, typical, fine_language)
        return merges, merge_evidence, known_sizes, typical, group_of_fine, keys

    merges, merge_evidence, known_sizes, typical, group_of_fine, keys = matched(fine_labels)
    weak, pvalues = unconfirmed_candidates(group_of_fine, keys, fine_ratio, fine_sizes, expected_share, thresholds)
    if weak:
        # Candidates whose evidence is chance at their size: pieces of a confirmed candidate join it, the rest go
        # back to the categories their messages were assigned to.
        weak_groups = sorted({int(group_of_fine[f]) for f in weak})
        # Weak pieces in one branch of the hierarchy are tested together first (pool_weak_candidates).
        pooled, left = pool_weak_candidates(weak_groups, group_of_fine, clustering.grouping.group_of_cluster,
                                            fine_ratio, fine_sizes, expected_share, thresholds)
        confirmed = sorted({g for g in pvalues if g not in weak_groups} | {int(group_of_fine[t]) for t in pooled.values()})
        joins, returned = attach_or_return(left, confirmed, group_of_fine,
                                           fine_centroids, fine_sizes, reference_centroids[with_reference])
        joins.update(pooled)
        fine_labels = fine_labels.copy()
        fine_labels[returned] = np.where(counts[returned].sum(axis=1) > 0, counts[returned].argmax(axis=1), NEW)
        merges, merge_evidence, known_sizes, typical, group_of_fine, keys = matched(fine_labels)
        group_of_fine, keys = regroup(group_of_fine, keys, joins, fine_sizes)
        _, pvalues = unconfirmed_candidates(group_of_fine, keys, fine_ratio, fine_sizes, expected_share, thresholds)
    groups = group_of_fine[fine]
    n_groups_found = len(keys)

    context = _Context(window.reset_index(drop=True), vectors, assigned_index, names, ids, groups, group_of_fine,
                       n_groups_found, keys, ratio, reference_centroids, reference_index, known_sizes, merges,
                       distinct, thresholds, pvalues)
    summaries = _group_summaries(context)
    categories, changes = _decide(context, summaries, merge_evidence)
    document = {
        "schema": SCHEMA,
        "base_map": {"version": base_map.version, "hash": base_map.content_hash,
                     "clustering_run": base_map.clustering_run},
        "model": model or {},
        "window": window_info or {},
        "clustering_run": _clustering_run(context.window["id"], fine),
        "n_fine_clusters": int(n_fine),
        "selection": _plain(clustering.selection),
        "hierarchy": _plain(clustering.grouping.evidence),
        "thresholds": {**thresholds.to_dict(), "distinct_similarity_used": _round(distinct),
                       "expected_reference_share": _round(expected_share),
                       "typical_category_messages": _round(typical)},
        "fine_clusters": [
            {"cluster": f, "group": int(group_of_fine[f]), "size": int(fine_sizes[f]),
             "assigned": {ids[c]: int(counts[f, c]) for c in np.flatnonzero(counts[f])},
             "reference_ratio": _round(fine_ratio[f]), "new": bool(fine_labels[f] == NEW)}
            for f in range(n_fine)],
        "clusters": summaries,
        "categories": categories,
        "changes": changes,
        "map_points": _map_points(context, clustering.space, seed),
    }
    document = _plain(document)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    return {"schema": SCHEMA, "proposal_id": f"prop-{digest[:16]}", **document}, fine


def window_languages(window: pd.DataFrame) -> np.ndarray | None:
    """Each message's language (the hierarchy's strata, as discovery passes them), or None without a lang column."""
    return window["lang"].fillna("").astype(str).to_numpy() if "lang" in window.columns else None


def language_centred(vectors: np.ndarray, languages: np.ndarray | None) -> np.ndarray:
    """The vectors with each language's mean removed when at least two languages hold MIN_LANGUAGE_SHARE of the
    messages each (as the hierarchy compares clusters); unchanged otherwise."""
    if languages is None:
        return vectors
    values, counts = np.unique(languages, return_counts=True)
    if (counts >= MIN_LANGUAGE_SHARE * len(languages)).sum() < 2:
        return vectors
    return centred_by_stratum(vectors, languages).astype(np.float32)


def _nearest_known_fine(reference_centroids: np.ndarray, with_reference: np.ndarray, fine_centroids: np.ndarray,
                        fine_labels: np.ndarray) -> np.ndarray:
    """Per category, the fine cluster (not a new one) whose centroid is nearest to its baseline centroid (-1: none)."""
    nearest = np.full(len(reference_centroids), -1)
    known = np.flatnonzero(fine_labels != NEW)
    if len(known) and len(with_reference):
        similarity = reference_centroids[with_reference] @ fine_centroids[known].T
        nearest[with_reference] = known[similarity.argmax(axis=1)]
    return nearest


@dataclass
class _Context:
    """Everything the summaries and decisions read (one window, one base map)."""

    window: pd.DataFrame
    vectors: np.ndarray
    assigned: np.ndarray  # category index per message (-1: not a category of the map)
    names: list[str]
    ids: list[str]
    groups: np.ndarray  # window group per message
    group_of_fine: np.ndarray
    n_groups: int
    keys: dict[int, int]  # group -> category index, NEW, or -2 - merge number
    ratio: np.ndarray
    reference_centroids: np.ndarray
    reference_index: np.ndarray
    known_sizes: np.ndarray  # per category: its messages in fine clusters that are not new
    merges: list[list[int]]
    distinct: float
    thresholds: MatchThresholds
    candidate_pvalues: dict[int, float]  # candidate group -> new_cluster_pvalue of its reference neighbours


def _check_inputs(window: pd.DataFrame, vectors: np.ndarray, assigned: np.ndarray, reference_vectors: np.ndarray,
                  reference_categories: np.ndarray) -> None:
    missing = [c for c in WINDOW_COLUMNS if c not in window.columns]
    if missing:
        raise ValueError(f"the window lacks column(s) {missing}")
    if vectors.ndim != 2 or len(vectors) != len(window) or len(assigned) != len(window):
        raise ValueError(f"the window has {len(window)} messages but {len(vectors)} vectors and {len(assigned)} "
                         "assigned categories")
    if len(reference_vectors) != len(reference_categories):
        raise ValueError(f"{len(reference_vectors)} reference vectors but {len(reference_categories)} categories")
    if len(reference_vectors) and np.asarray(reference_vectors).shape[1] != vectors.shape[1]:
        raise ValueError(f"reference vectors have {np.asarray(reference_vectors).shape[1]} dimensions, the window "
                         f"{vectors.shape[1]}: were they made by another featurizer?")


def _group_summaries(ctx: _Context) -> list[dict]:
    """Per window group: size, name, terms (all and per language), messages, sizes by date, match evidence."""
    window = ctx.window
    texts, feature_texts = window["text"].astype(str), window["feature_text"].fillna("").astype(str)
    terms = term_counts(feature_texts)  # counted once, for the summaries and each language's top terms
    summary = summarize_clusters(window["id"].astype(str), texts, feature_texts, ctx.vectors, ctx.groups,
                                 ctx.n_groups, terms=terms)
    languages = window["lang"].fillna("other").astype(str) if "lang" in window else pd.Series("other", window.index)
    terms_by_language = top_terms_by_language(feature_texts, languages, ctx.groups, ctx.n_groups, terms=terms)
    by_language = {language: [group_terms.get(language, []) for group_terms in terms_by_language]
                   for language in LANGUAGES}
    group_centroids = cluster_centroids(unit_rows(ctx.vectors), ctx.groups, ctx.n_groups)
    similarity = group_centroids @ ctx.reference_centroids.T
    dates = _dates(window)
    novel = window["novel"].fillna(False).astype(bool).to_numpy() if "novel" in window else np.zeros(len(window), bool)
    result = []
    for g, item in enumerate(summary):
        members = ctx.groups == g
        result.append({
            "cluster": g, "fine_clusters": [],  # filled below from the fine clusters' groups
            "size": item["size"], "name": readable_name(item["top_terms"]) or f"cluster_{g}",
            "top_terms": item["top_terms"],
            "top_terms_by_language": {language: by_language[language][g] for language in LANGUAGES},
            "representative": item["representative"], "borderline": item["borderline"],
            "sizes_by_date": _counts(dates[members]),
            "novel_share": _round(novel[members].mean()) if members.any() else 0.0,
            "match": _group_match(ctx, g, members, similarity[g]),
        })
    for f, g in enumerate(ctx.group_of_fine):
        result[int(g)]["fine_clusters"].append(f)
    return result


def _group_match(ctx: _Context, g: int, members: np.ndarray, similarity: np.ndarray) -> dict:
    """The category a group matches (null for a candidate) and the evidence: centroid similarity, overlap,
    reference-neighbour ratio, the nearest category and the assignment shares."""
    key = ctx.keys[g]
    assigned = ctx.assigned[members]
    shares = np.bincount(assigned[assigned >= 0], minlength=len(ctx.ids)) / max(int(members.sum()), 1)
    has_reference = np.flatnonzero(np.bincount(ctx.reference_index[ctx.reference_index >= 0],
                                               minlength=len(ctx.ids)))
    nearest = int(has_reference[np.argmax(similarity[has_reference])]) if len(has_reference) else None
    if key >= 0:
        matched = [key]
    elif key == NEW:
        matched = []
    else:
        matched = sorted(ctx.merges[-2 - key], key=lambda c: (-shares[c], c))
    top = np.argsort(-shares, kind="stable")[:3]
    return {
        "category": ctx.ids[matched[0]] if matched else None,
        "categories": [ctx.ids[c] for c in matched],
        "kind": "new" if key == NEW else "merge" if key < NEW else "category",
        "similarity": _round(similarity[matched[0]]) if matched else None,
        "overlap": _round(sum(shares[c] for c in matched)) if matched else 0.0,
        "reference_ratio": _round(np.nanmean(ctx.ratio[members])) if not np.isnan(ctx.ratio[members]).all() else None,
        **({"new_pvalue": _round(ctx.candidate_pvalues[g])} if g in ctx.candidate_pvalues else {}),
        "nearest": {"category": ctx.ids[nearest], "similarity": _round(similarity[nearest])} if nearest is not None
        else None,
        "assigned_shares": {ctx.ids[c]: _round(shares[c]) for c in top if shares[c] > 0},
    }


def _decide(ctx: _Context, summaries: list[dict], merge_evidence: dict) -> tuple[list[dict], list[dict]]:
    """Per current category its status and evidence; the changes (new, split, merge, gone, absorbed) an analyst
    decides."""
    n = len(ctx.window)
    reference_counts = np.bincount(ctx.reference_index[ctx.reference_index >= 0], minlength=len(ctx.ids))
    share_before = reference_counts / max(int(reference_counts.sum()), 1)
    dates = _dates(ctx.window)
    merge_group = {-2 - ctx.keys[g] if ctx.keys[g] < NEW else None: g for g in ctx.keys}
    categories, splits, gone, absorbed = [], [], [], []
    for c, cid in enumerate(ctx.ids):
        own_groups = [g for g in range(ctx.n_groups) if ctx.keys[g] == c]
        merge_number = next((m for m, members in enumerate(ctx.merges) if c in members), None)
        mine = ctx.assigned == c
        share_after = ctx.known_sizes[c] / n if n else 0.0
        evidence = {"window_messages": int(mine.sum()), "in_known_clusters": int(ctx.known_sizes[c]),
                    "reference_messages": int(reference_counts[c])}
        if merge_number is not None:
            status, clusters = "merged", [merge_group[merge_number]]
        elif own_groups:
            status, clusters = ("split" if len(own_groups) > 1 else "kept"), own_groups
        elif share_before[c] == 0 or share_after < ctx.thresholds.gone_max_ratio * share_before[c]:
            status, clusters = "gone", []
        else:
            # A real share of the window, but no group is mostly it: its messages live in groups that belong to other
            # categories (or changes). Calling it kept would have two owners claim one group; the analyst decides.
            status, clusters = "absorbed", []
            evidence["held_by"] = _holders(ctx, mine)
            absorbed.append({"change": f"absorbed:{cid}", "kind": "absorbed", "category": cid,
                             "into": next((h["category"] for h in evidence["held_by"] if h["category"]), None),
                             "clusters": [item["cluster"] for item in evidence["held_by"]], "evidence": evidence})
        in_clusters = mine & np.isin(ctx.groups, clusters)
        window_centroid = unit_rows(ctx.vectors[in_clusters].sum(axis=0, keepdims=True))[0] if in_clusters.any() \
            else None
        moved = (1.0 - float(window_centroid @ ctx.reference_centroids[c])) \
            if window_centroid is not None and reference_counts[c] else None
        evidence["parts"] = [{"cluster": g, "share": _round((mine & (ctx.groups == g)).sum() / max(mine.sum(), 1)),
                              "similarity": summaries[g]["match"]["similarity"]} for g in clusters]
        if status == "split":
            part_centroids = cluster_centroids(unit_rows(ctx.vectors[in_clusters]), ctx.groups[in_clusters],
                                               ctx.n_groups)[clusters]
            evidence["parts_similarity"] = _round((part_centroids @ part_centroids.T)[np.triu_indices(len(clusters),
                                                                                                      1)].max())
            evidence["distinct_below"] = _round(ctx.distinct)
        if status == "gone":
            evidence["gone_below_share"] = _round(ctx.thresholds.gone_max_ratio * share_before[c])
        merged_with = [ctx.ids[o] for o in ctx.merges[merge_number] if o != c] if merge_number is not None else []
        categories.append({
            "id": cid, "name": ctx.names[c], "status": status, "clusters": clusters, "merged_with": merged_with,
            "moved": _round(moved) if moved is not None else None,
            "share_before": _round(share_before[c]), "share_after": _round(share_after),
            "size_after": int(in_clusters.sum()), "sizes_by_date": _counts(dates[in_clusters]),
            "evidence": evidence})
        if status == "split":
            splits.append({"change": f"split:{cid}", "kind": "split", "category": cid, "clusters": clusters,
                           "evidence": evidence})
        if status == "gone":
            gone.append({"change": f"gone:{cid}", "kind": "gone", "category": cid, "evidence": evidence})
    new = [{"change": f"new:{g}", "kind": "new", "cluster": g, "name": summaries[g]["name"],
            "evidence": summaries[g]["match"]} for g in range(ctx.n_groups) if ctx.keys[g] == NEW]
    merges = []
    for number, members in enumerate(ctx.merges):
        merged_ids = [ctx.ids[c] for c in members]
        pairs = {f"{ctx.ids[a]}+{ctx.ids[b]}": pair for (a, b), pair in sorted(merge_evidence.items())
                 if a in members}
        merges.append({"change": "merge:" + "+".join(merged_ids), "kind": "merge", "categories": merged_ids,
                       "cluster": merge_group[number], "evidence": {"pairs": pairs,
                                                                    **summaries[merge_group[number]]["match"]}})
    return categories, new + splits + merges + gone + absorbed


def _holders(ctx: _Context, mine: np.ndarray, top: int = ABSORBED_HOLDERS) -> list[dict]:
    """The window groups holding most of a category's messages (largest first), with their share of them and the
    category each group is (null for a candidate, the first of a merge)."""
    holders = np.bincount(ctx.groups[mine], minlength=ctx.n_groups)
    result = []
    for g in np.argsort(-holders, kind="stable")[:top]:
        if holders[g] == 0:
            break
        key = ctx.keys[int(g)]
        owner = ctx.ids[key] if key >= 0 else None if key == NEW else ctx.ids[ctx.merges[-2 - key][0]]
        result.append({"cluster": int(g), "share": _round(holders[g] / mine.sum()), "category": owner})
    return result


def _map_points(ctx: _Context, space: np.ndarray, seed: int) -> dict:
    """2-D map (the first two principal components of the clustering space) of a seeded sample of messages."""
    rows = sample_indices(len(space), MAP_POINTS, seed)
    points = np.asarray(space, dtype=np.float64)[rows]
    if len(points) >= 2 and points.shape[1] >= 2:
        centred = points - points.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        # The sign of a principal axis is arbitrary: fix it so that the same space gives the same picture.
        components = components[:2] * np.where(components[:2].sum(axis=1, keepdims=True) < 0, -1, 1)
        xy = centred @ components.T
    else:
        xy = np.zeros((len(points), 2))
    return {"x": [_round(v) for v in xy[:, 0]], "y": [_round(v) for v in xy[:, 1]],
            "cluster": [int(g) for g in ctx.groups[rows]], "id": [str(i) for i in ctx.window["id"].iloc[rows]]}


def _clustering_run(ids: pd.Series, fine: np.ndarray) -> str:
    """The run id discovery gives a clustering (a map made from this proposal names it)."""
    from processing.jobs import clustering_run_id  # the jobs module imports the whole pipeline's edges

    return clustering_run_id(ids.astype(str).tolist(), fine)


def _dates(window: pd.DataFrame) -> np.ndarray:
    """Each message's date (YYYY-MM-DD) or "unknown"."""
    if "date" not in window:
        return np.full(len(window), "unknown", dtype=object)
    return window["date"].fillna("unknown").astype(str).to_numpy(dtype=object)


def _counts(values: np.ndarray) -> dict[str, int]:
    """{value: count}, sorted by value."""
    unique, counts = np.unique(values.astype(str), return_counts=True)
    return {str(v): int(n) for v, n in zip(unique, counts)}


def _round(value) -> float:
    """A float rounded to 6 decimals: stable across platforms' last bits, short in JSON."""
    return round(float(value), 6)


def _plain(value):
    """numpy scalars and arrays -> Python values, recursively (the document is JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _round(value) if np.isfinite(value) else None
    return value
