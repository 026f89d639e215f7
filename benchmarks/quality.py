"""Clustering quality on real labelled data: our feature backends, BERTopic-equivalent pipelines and a plain
TF-IDF + KMeans baseline, all computed in the same run on the same messages.

Run from the repository root: `python -m benchmarks.quality [--seeds 0 1 2] [--datasets banking77 ...]
[--methods tfidf hybrid ...]`. Each dataset goes through the product path with one default configuration
per backend (validate -> clean -> featurizer -> MessageClusterer): no per-dataset tuning, gold labels used
only to score. Methods:

* `tfidf`, `sentence-embeddings`, `hybrid`: our featurizers + MessageClusterer (k given, or auto);
* `bertopic-kmeans`: all-MiniLM-L6-v2 embeddings + UMAP(15 neighbours, 5 dims, cosine) + KMeans, what
  BERTopic does when given KMeans; `bertopic-hdbscan`: the same + HDBSCAN(min_cluster_size=10), BERTopic's
  default (its outliers are scored as one more cluster, and their share is printed);
* `baseline`: word TF-IDF of the raw text + KMeans.

Printed per run: NMI, ARI and Hungarian cluster accuracy (in %), and for our backends the accuracy against
gold of the production classifier (TF-IDF linear) trained on the clusters renamed to their majority gold
label (80% of rows, scored on the other 20%). `--compare-classifiers` adds, for the hybrid clusters, a
logistic regression on the sentence embeddings, with both classifiers' inference throughput.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from benchmarks import read_dataset, shared_data_missing
from processing.clean import TextCleaner
from processing.cluster import MessageClusterer
from processing.evaluation import clustering_scores
from processing.features import make_featurizer
from processing.validate import validate
from training.train import split_holdout, train_model

# (name, csv under shared/data, k: an integer or "auto")
RUNS = {
    "banking77": ("banking77/test.csv", 77),
    "banking77-auto": ("banking77/test.csv", "auto"),
    "stackoverflow": ("stackoverflow/all.csv", 20),
    "coset": ("coset/test.csv", 5),
}
OURS = ("tfidf", "sentence-embeddings", "hybrid")
METHODS = OURS + ("bertopic-kmeans", "bertopic-hdbscan", "baseline")
EVIDENCE = ("stability", "learnability", "score")
PUBLISHED = {"banking77": "USNID 75.3 / 43.3 / 54.8", "stackoverflow": "USNID 72.0 / 52.3 / 69.3"}


def prepare(csv_name: str) -> pd.DataFrame:
    """Validated, cleaned messages of one dataset (the gold `label` rides along, unused until scoring)."""
    records = read_dataset(csv_name)
    result = validate(records)
    if len(result.quarantine):
        reasons = {reason: n for reason, n in result.report["by_reason"].items() if n}
        print(f"  {csv_name}: {len(result.quarantine)} of {len(records)} rows quarantined {reasons}", flush=True)
    return TextCleaner().transform(result.accepted).reset_index(drop=True)


def baseline_clusters(messages: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """The plain baseline: word TF-IDF of the raw text, KMeans with the true k."""
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(messages["text"])
    return KMeans(k, n_init=10, random_state=seed).fit_predict(tfidf)


def bertopic_reduction(embeddings: np.ndarray, seed: int) -> np.ndarray:
    """BERTopic's default dimension reduction: UMAP(n_neighbors=15, n_components=5, min_dist=0, cosine)."""
    import umap

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*random_state.*")
        return umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                         random_state=seed).fit_transform(embeddings)


def majority_renamed(messages: pd.DataFrame, clusters: np.ndarray, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split of the messages with `category` = their cluster's majority gold label (from train)."""
    frame = messages.assign(cluster=clusters)
    train, test = split_holdout(frame.assign(category=frame["cluster"]), seed=seed)
    majority = train.groupby("cluster")["label"].agg(lambda labels: labels.value_counts().index[0])
    return train.assign(category=train["cluster"].map(majority)), test


def majority_label_classifier_accuracy(messages: pd.DataFrame, clusters: np.ndarray, seed: int) -> float | None:
    """Gold accuracy of the production classifier trained on clusters renamed to their majority gold label
    (None when every cluster has the same majority label: nothing to train)."""
    train, test = majority_renamed(messages, clusters, seed)
    if train["category"].nunique() < 2:
        return None
    model = train_model(train, seed=seed)
    return float((model.predict(test["feature_text"]) == test["label"].to_numpy()).mean())


def compare_classifiers(messages: pd.DataFrame, clusters: np.ndarray, seed: int) -> dict:
    """Production TF-IDF linear classifier vs logistic regression on sentence embeddings, both trained on the
    same pseudo-labels: gold accuracy on the held-out 20% and inference messages/s on it (the embedding
    classifier pays for embedding: a fresh cache, so every text is embedded)."""
    train, test = majority_renamed(messages, clusters, seed)
    tfidf_model = train_model(train, seed=seed)
    start = time.perf_counter()
    tfidf_pred = tfidf_model.predict(test["feature_text"])
    tfidf_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as cache:
        embedder = make_featurizer("sentence-embeddings", cache_dir=cache, progress=False).fit(train)
        logistic = LogisticRegression(C=10.0, max_iter=2000).fit(embedder.transform(train), train["category"])
        fresh = make_featurizer("sentence-embeddings", cache_dir=cache + "/fresh", progress=False).fit(test)
        fresh.transform(test.iloc[:64])  # load the encoder (and export it) outside the timing
        test_unseen = test.assign(text=test["text"] + " ")  # new texts for the cache: embedded for real
        start = time.perf_counter()
        embedding_pred = logistic.predict(fresh.transform(test_unseen))
        embedding_seconds = time.perf_counter() - start
    gold = test["label"].to_numpy()
    return {"tfidf_linear": {"acc": round(100 * float((tfidf_pred == gold).mean()), 1),
                             "messages_per_s": round(len(test) / tfidf_seconds)},
            "embedding_logistic": {"acc": round(100 * float((embedding_pred == gold).mean()), 1),
                                   "messages_per_s": round(len(test) / embedding_seconds)}}


def run(name: str, messages: pd.DataFrame, k: int | str, seed: int, methods: list[str],
        with_classifiers: bool = False) -> list[dict]:
    """One dataset, one seed: every selected method, each row with its scores and seconds."""
    results = []
    n_gold = messages["label"].nunique()
    embeddings = None

    def emit(method: str, clusters: np.ndarray, seconds: float, **extra) -> None:
        scores = clustering_scores(messages["label"], clusters)
        results.append({"dataset": name, "seed": seed, "method": method, "rows": len(messages),
                        "k": int(len(set(clusters.tolist()))), "gold_labels": n_gold, "seconds": round(seconds, 1),
                        **{metric: round(100 * value, 1) for metric, value in scores.items()}, **extra})
        print(format_row(results[-1]), flush=True)

    for method in methods:
        start = time.perf_counter()
        if method in OURS:
            featurizer = make_featurizer(method, seed=seed, **({} if method == "tfidf" else {"progress": False}))
            features = featurizer.fit_transform(messages)
            clusterer = MessageClusterer(n_clusters=k, seed=seed, **featurizer.clustering_params)
            clusters = clusterer.fit_predict(features)
            extra = {"space": clusterer.selection_["chosen"],
                     "evidence": {name: {key: round(value, 3) for key, value in evidence.items() if key in EVIDENCE}
                                  for name, evidence in clusterer.selection_["candidates"].items()},
                     "classifier_acc": majority_label_classifier_accuracy(messages, clusters, seed)}
            extra["classifier_acc"] = None if extra["classifier_acc"] is None else round(100 * extra["classifier_acc"], 1)
            if with_classifiers and method == "hybrid" and extra["classifier_acc"] is not None:
                extra["classifiers"] = compare_classifiers(messages, clusters, seed)
            emit(method, clusters, time.perf_counter() - start, **extra)
        elif method.startswith("bertopic"):
            if method == "bertopic-kmeans" and k == "auto":
                continue  # BERTopic with KMeans needs k
            if embeddings is None:
                embeddings = make_featurizer("sentence-embeddings", progress=False).fit_transform(messages)
            reduced = bertopic_reduction(embeddings, seed)
            if method == "bertopic-kmeans":
                clusters = KMeans(k, n_init=10, random_state=seed).fit_predict(reduced)
                emit(method, clusters, time.perf_counter() - start)
            else:
                clusters = HDBSCAN(min_cluster_size=10).fit_predict(reduced)
                emit(method, clusters, time.perf_counter() - start,
                     outliers=round(100 * float((clusters == -1).mean()), 1))
        else:
            clusters = baseline_clusters(messages, k if k != "auto" else n_gold, seed)
            emit(method, clusters, time.perf_counter() - start)
    return results


def format_row(result: dict) -> str:
    """One printed line: NMI / ARI / ACC of one method, and what else it measured."""
    line = (f"{result['dataset']:<15} seed {result['seed']}  {result['method']:<20} k={result['k']:<4} "
            f"{result['nmi']:5.1f} / {result['ari']:5.1f} / {result['acc']:5.1f}   {result['seconds']:6.1f}s")
    if "space" in result:
        accuracy = "  n/a (one majority label)" if result["classifier_acc"] is None else f"{result['classifier_acc']:5.1f}"
        line += f"   {result['space']:<5} classifier acc {accuracy}"
    if "outliers" in result:
        line += f"   outliers {result['outliers']:.1f}%"
    if "classifiers" in result:
        line += "   " + "; ".join(f"{name}: acc {c['acc']:.1f}, {c['messages_per_s']} msg/s"
                                   for name, c in result["classifiers"].items())
    return line


def main(argv: list[str] | None = None) -> int:
    """Run the selected datasets and seeds; print one line per run and a JSON summary at the end."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--compare-classifiers", action="store_true",
                        help="also compare the production classifier with one on embeddings (hybrid clusters)")
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    print("NMI / ARI / ACC in % against gold labels; published best unsupervised: "
          + "; ".join(f"{name} {figures}" for name, figures in PUBLISHED.items()), flush=True)
    prepared: dict[str, pd.DataFrame] = {}
    results = []
    for name in args.datasets:
        csv_name, k = RUNS[name]
        if csv_name not in prepared:
            prepared[csv_name] = prepare(csv_name)
        for seed in args.seeds:
            results += run(name, prepared[csv_name], k, seed, args.methods, args.compare_classifiers)
    if len(args.seeds) > 1:
        print("means over seeds (NMI / ARI / ACC):")
        for name in args.datasets:
            for method in args.methods:
                rows = [r for r in results if r["dataset"] == name and r["method"] == method]
                if rows:
                    mean = {m: np.mean([r[m] for r in rows]) for m in ("nmi", "ari", "acc")}
                    print(f"  {name:<15} {method:<20} {mean['nmi']:5.1f} / {mean['ari']:5.1f} / {mean['acc']:5.1f}")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
