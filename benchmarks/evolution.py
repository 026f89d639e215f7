"""Category evolution measured on real labelled data: new categories found, kept categories keeping their id, a
forced merge and a forced split detected, side by side with a BERTopic merge_models-style baseline.

Run from the repository root: `python -m benchmarks.evolution [--datasets banking77 stackoverflow] [--seed 0]`.

Setup per dataset (seeded): some gold categories are held out (17 of banking77's 77 intents, 5 of
stackoverflow's 20 tags). Every category's messages are halved at random: one half of the known categories'
messages trains the model (the category map is the gold scheme: one category per known label, ids c1..cK; the
featurizer, the default "hybrid", is fitted on them; the classifier is training.train.train_model on the gold
labels; the baseline reference is a seeded sample of 2,000 training vectors with their categories), the other
halves of all categories are the window (messages the model never saw). `propose` gets the window, its vectors,
the classifier's assignments and the reference: never a gold label.

Measures: a new-category candidate counts when at least 70% of its messages come from one held-out category;
precision = counting candidates / candidates, recall = held-out categories with a counting candidate / held-out
categories. A known category keeps its id when its status is "kept" and its clusters include the window group
holding most of its messages. Forced changes (a second model on the same training messages): one known category's
messages split at random into two categories (expect "merge" of the two), two known categories trained as one
(expect "split" of it). Baseline, as BERTopic's merge_models does it: topic centroids of the window clustering
(its fine clusters, and its hierarchy's groups), cosine >= 0.7 to a current category's centroid is that category,
the rest are added as new topics; same measures. Every proposal made (the forced ones too) is reviewed with every
change accepted (processing.evolution.review.apply_decisions, as `tweetops review --accept-all`): a proposal that
does not give a valid map N+1 stops the run.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from benchmarks import shared_data_missing

DATASETS = {"banking77": ("banking77/train.csv", "banking77/test.csv"), "stackoverflow": ("stackoverflow/all.csv",)}
HELD_OUT = {"banking77": 17, "stackoverflow": 5}
REFERENCE_SIZE = 2000
CANDIDATE_PURITY = 0.70
BASELINE_SIMILARITY = 0.70  # BERTopic merge_models' default min_similarity
BARS = {"recall": 0.80, "precision": 0.80, "kept": 0.95}


@dataclass
class Prepared:
    """One dataset: training messages and vectors, the window (gold labels kept aside), held-out labels."""
    name: str
    train: pd.DataFrame
    train_vectors: np.ndarray
    window: pd.DataFrame
    window_vectors: np.ndarray
    held_out: list[str]
    featurizer_seconds: float


def category_name(label: str) -> str:
    """A gold label as a valid category name ('Refund_not_showing_up' -> 'refund_not_showing_up')."""
    return re.sub(r"[^a-z0-9_-]+", "_", str(label).lower()).strip("_")[:60] or "label"


def prepare(name: str, seed: int) -> Prepared:
    """Validate, clean, choose the held-out labels, halve every label into training and window, featurize."""
    from benchmarks.drift import accepted_messages, make_featurizer_named
    from processing.clean import TextCleaner

    data = accepted_messages(DATASETS[name])
    data["label"] = data["label"].map(category_name)
    rng = np.random.default_rng(seed)
    labels = sorted(data["label"].unique())
    held_out = sorted(rng.choice(labels, HELD_OUT[name], replace=False).tolist())
    in_window = np.zeros(len(data), dtype=bool)
    for _, rows in sorted(data.groupby("label").indices.items()):
        rows = rng.permutation(rows)
        in_window[rows[:len(rows) // 2]] = True
    messages = TextCleaner().transform(data)
    known = ~messages["label"].isin(held_out).to_numpy()
    train = messages[known & ~in_window].reset_index(drop=True)
    window = messages[in_window].reset_index(drop=True)
    started = time.perf_counter()
    featurizer = make_featurizer_named("hybrid", seed).fit(train)
    train_vectors = np.asarray(featurizer.transform(train), dtype=np.float32)
    window_vectors = np.asarray(featurizer.transform(window), dtype=np.float32)
    return Prepared(name, train, train_vectors, window, window_vectors, held_out, time.perf_counter() - started)


@dataclass
class Model:
    """What an approved package gives evolution: the map, the classifier's assignments, the reference."""
    base_map: object
    assigned: np.ndarray
    novel: np.ndarray
    reference_vectors: np.ndarray
    reference_categories: np.ndarray


def train_package(prepared: Prepared, labels: pd.Series, seed: int) -> Model:
    """Train the classifier on `labels` (one per training message) and make the map and reference from them."""
    from processing.category_map import Category, CategoryMap
    from training.train import train_model

    classifier = train_model(prepared.train.assign(category=labels.to_numpy()), seed=seed)
    texts = prepared.window["feature_text"].fillna("")
    names = sorted(labels.unique())
    base_map = CategoryMap(1, "run-benchmark", tuple(
        Category(label, f"gold label {label}", (number,), id=f"c{number + 1}") for number, label in enumerate(names)))
    reference = np.sort(np.random.default_rng(seed).choice(len(labels), min(REFERENCE_SIZE, len(labels)),
                                                           replace=False))
    return Model(base_map, classifier.predict(texts), classifier.is_novel(texts),
                 prepared.train_vectors[reference], labels.to_numpy()[reference])


def window_frame(prepared: Prepared, model: Model) -> pd.DataFrame:
    """The window as `propose` reads it (no gold label)."""
    return prepared.window[["id", "text", "lang", "clean_text", "feature_text"]].assign(
        created_at=None, date="2024-01-01", novel=model.novel)


def candidate_scores(groups: np.ndarray, candidates: list[int], gold: np.ndarray, held_out: list[str]) -> dict:
    """Precision and recall of candidate groups as held-out categories (see the module docstring)."""
    found, counting = set(), 0
    for group in candidates:
        labels = pd.Series(gold[groups == group]).value_counts()
        if len(labels) and labels.index[0] in held_out and labels.iloc[0] / labels.sum() >= CANDIDATE_PURITY:
            counting += 1
            found.add(labels.index[0])
    return {"candidates": len(candidates), "counting": counting,
            "precision": counting / len(candidates) if candidates else 0.0,
            "recall": len(found) / len(held_out), "found": len(found)}


def home_groups(groups: np.ndarray, gold: np.ndarray) -> dict[str, int]:
    """Gold label -> the window group holding most of its messages."""
    frame = pd.DataFrame({"label": gold, "group": groups})
    return {label: int(part["group"].value_counts().index[0]) for label, part in frame.groupby("label")}


def our_scores(proposal: dict, fine: np.ndarray, prepared: Prepared) -> dict:
    """Candidate scores and kept-id share of a proposal."""
    gold = prepared.window["label"].to_numpy()
    group_of_fine = np.array([item["group"] for item in proposal["fine_clusters"]])
    groups = group_of_fine[fine]
    scores = candidate_scores(groups, [c["cluster"] for c in proposal["changes"] if c["kind"] == "new"], gold,
                              prepared.held_out)
    homes = home_groups(groups, gold)
    by_name = {c["name"]: c for c in proposal["categories"]}
    kept = [by_name[label]["status"] == "kept" and homes[label] in by_name[label]["clusters"] for label in by_name]
    return scores | {"kept": float(np.mean(kept)), "kept_count": int(np.sum(kept)), "known": len(kept),
                     "groups": len(proposal["clusters"])}


def baseline_scores(vectors: np.ndarray, topics: np.ndarray, model: Model, prepared: Prepared) -> dict:
    """merge_models-style: each topic matches the most similar category centroid when cosine >= 0.7, else new."""
    from processing.cluster import cluster_centroids
    from processing.evolution.match import category_centroids, unit_rows

    names = list(model.base_map.categories)
    index = {name: i for i, name in enumerate(names)}
    reference_index = np.array([index[name] for name in model.reference_categories])
    centroids = category_centroids(model.reference_vectors, reference_index, len(names))
    n_topics = int(topics.max()) + 1
    similarity = cluster_centroids(unit_rows(vectors), topics, n_topics) @ centroids.T
    best, matched = similarity.argmax(axis=1), similarity.max(axis=1) >= BASELINE_SIMILARITY
    gold = prepared.window["label"].to_numpy()
    present = np.bincount(topics, minlength=n_topics) > 0
    scores = candidate_scores(topics, [t for t in range(n_topics) if present[t] and not matched[t]], gold,
                              prepared.held_out)
    homes = home_groups(topics, gold)
    kept = [matched[homes[name]] and names[best[homes[name]]] == name for name in names]
    return scores | {"kept": float(np.mean(kept)), "kept_count": int(np.sum(kept)), "known": len(kept),
                     "groups": int(present.sum())}


def forced_labels(prepared: Prepared, seed: int) -> tuple[pd.Series, tuple[str, str], str]:
    """Training labels with one known category halved at random into two (a merge to find) and two known
    categories joined into one (a split to find): (labels, the two halves' names, the joined name)."""
    rng = np.random.default_rng([seed, 1])
    known = sorted(prepared.train["label"].unique())
    merged, first, second = rng.choice(known, 3, replace=False).tolist()
    labels = prepared.train["label"].copy()
    rows = np.flatnonzero((labels == merged).to_numpy())
    halves = (f"{merged}_a"[:64], f"{merged}_b"[:64])
    labels.iloc[rows] = np.where(rng.random(len(rows)) < 0.5, *halves)
    joined = f"{first}__{second}"[:64]
    labels[labels.isin([first, second])] = joined
    return labels, halves, joined


def forced_detection(proposal: dict, model: Model, halves: tuple[str, str], joined: str) -> tuple[bool, bool, str]:
    """(the merge of the halves proposed, the split of the joined category proposed, what was proposed for them)."""
    ids = model.base_map.ids
    merge = any(c["kind"] == "merge" and set(c["categories"]) == {ids[h] for h in halves} for c in proposal["changes"])
    split = any(c["kind"] == "split" and c["category"] == ids[joined] for c in proposal["changes"])
    status = {c["name"]: c["status"] for c in proposal["categories"]}
    return merge, split, f"halves {status[halves[0]]}/{status[halves[1]]}, joined {status[joined]}"


def reviewed(proposal: dict, model: Model, what: str) -> None:
    """Apply an accept-all review to the proposal (as `tweetops review --accept-all` does): every proposal the
    benchmark makes must give a valid map N+1, or the run stops here with the reason."""
    from processing.evolution.review import ReviewError, apply_decisions

    try:
        cmap, _ = apply_decisions(proposal, model.base_map, {"proposal": proposal["proposal_id"], "decisions": []},
                                  reviewer="benchmark", at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                  default="accept")
    except ReviewError as error:
        raise SystemExit(f"{what}: the accept-all review of {proposal['proposal_id']} failed: {error}") from None
    if sorted(cmap.cluster_to_category) != list(range(proposal["n_fine_clusters"])):
        raise SystemExit(f"{what}: the accept-all review of {proposal['proposal_id']} left fine clusters unmapped")


def percent(value: float) -> str:
    """'83.3%'."""
    return f"{100 * value:.1f}%"


def benchmark_dataset(name: str, seed: int) -> list[str]:
    """Every row of one dataset; returns the table rows and notes."""
    from processing.evolution.proposal import cluster_window, propose
    from processing.features import HybridFeaturizer

    started = time.perf_counter()
    prepared = prepare(name, seed)
    print(f"{name}: {len(prepared.train):,} training / {len(prepared.window):,} window messages, held out "
          f"{len(prepared.held_out)}: {', '.join(prepared.held_out)}", flush=True)
    model = train_package(prepared, prepared.train["label"], seed)
    clustering_started = time.perf_counter()
    clustering = cluster_window(prepared.window_vectors, clustering_params=HybridFeaturizer.clustering_params,
                                seed=seed)
    clustering_seconds = time.perf_counter() - clustering_started
    matching_started = time.perf_counter()
    proposal, fine = propose(window_frame(prepared, model), prepared.window_vectors, model.assigned, model.base_map,
                             model.reference_vectors, model.reference_categories, seed=seed, clustering=clustering)
    matching_seconds = time.perf_counter() - matching_started
    reviewed(proposal, model, name)
    ours = our_scores(proposal, fine, prepared)
    labels, halves, joined = forced_labels(prepared, seed)
    forced_model = train_package(prepared, labels, seed)
    forced, _ = propose(window_frame(prepared, forced_model), prepared.window_vectors, forced_model.assigned,
                        forced_model.base_map, forced_model.reference_vectors, forced_model.reference_categories,
                        seed=seed, clustering=clustering)
    reviewed(forced, forced_model, f"{name} (forced merge and split)")
    merge, split, what = forced_detection(forced, forced_model, halves, joined)
    fine_baseline = baseline_scores(prepared.window_vectors, clustering.fine, model, prepared)
    grouped_baseline = baseline_scores(prepared.window_vectors, clustering.grouping.group_of_cluster[clustering.fine],
                                       model, prepared)
    held = len(prepared.held_out)
    rows = []
    for method, scores, forced_cells in (
            ("tweetops evolve (propose)", ours, (("yes" if merge else "NO"), ("yes" if split else "NO"))),
            (f"merge_models-style on the {clustering.n_fine} fine clusters", fine_baseline, ("n/a", "n/a")),
            (f"merge_models-style on the {clustering.grouping.n_groups} hierarchy groups", grouped_baseline,
             ("n/a", "n/a"))):
        rows.append(f"| {name} | {method} | {scores['groups']} | {scores['candidates']} "
                    f"| {scores['counting']} ({percent(scores['precision'])}) "
                    f"| {scores['found']}/{held} ({percent(scores['recall'])}) "
                    f"| {scores['kept_count']}/{scores['known']} ({percent(scores['kept'])}) "
                    f"| {forced_cells[0]} | {forced_cells[1]} |")
    note = (f"{name}: {len(prepared.train):,} training and {len(prepared.window):,} window messages; "
            f"{clustering.n_fine} fine clusters, {clustering.grouping.n_groups} hierarchy groups, "
            f"{len(proposal['clusters'])} window groups after matching; forced: merge of `{halves[0]}`+`{halves[1]}`, "
            f"split of `{joined}` ({what}); featurize {prepared.featurizer_seconds:.0f} s, cluster "
            f"{clustering_seconds:.0f} s, match {matching_seconds:.0f} s, dataset total "
            f"{time.perf_counter() - started:.0f} s.")
    for line in rows + [note]:
        print(line, flush=True)
    return rows + [note]


HEADER = ["| dataset | method | window groups | candidates | counting candidates (precision) | held-out found "
          "(recall) | known categories keeping their id | forced merge found | forced split found |",
          "|---|---|---|---|---|---|---|---|---|"]


def main(argv: list[str] | None = None) -> int:
    """Print the evolution benchmark's table, with the machine and the date."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evolution", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    started = time.perf_counter()
    print(f"evolution benchmark, {datetime.now(timezone.utc):%Y-%m-%d}: {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.2f}), Python {platform.python_version()}; featurizer hybrid, seed {args.seed}; "
          f"bars: recall >= {percent(BARS['recall'])} at precision >= {percent(BARS['precision'])}, kept ids >= "
          f"{percent(BARS['kept'])}", flush=True)
    lines = []
    for name in args.datasets:
        lines += benchmark_dataset(name, args.seed)
    print("", *HEADER, *(line for line in lines if line.startswith("|")), "",
          *(line for line in lines if not line.startswith("|")), sep="\n")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
