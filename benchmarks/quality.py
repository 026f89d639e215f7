"""Clustering quality on real labelled data, next to a plain TF-IDF + KMeans baseline from the same run.

Run from the repository root: `python -m benchmarks.quality [--seeds 0 1 2] [--datasets banking77 ...]`.
Each dataset goes through the product path with its one default configuration (validate -> clean ->
TfidfLsaFeaturizer -> MessageClusterer): no per-dataset tuning, gold labels used only to score.
Printed per run: NMI, ARI and Hungarian cluster accuracy (in %) of ours and of the baseline, the
UMAP/plain choice, and the accuracy against gold of the classifier trained on pseudo-labels when
each cluster is mapped to its majority gold label (trained on 80% of the rows, scored on the other 20%).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer

from benchmarks import SHARED_DATA
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
EVIDENCE = ("stability", "learnability", "score")
PUBLISHED = {"banking77": "USNID 75.3 / 43.3 / 54.8", "stackoverflow": "USNID 72.0 / 52.3 / 69.3"}


def prepare(csv_name: str) -> pd.DataFrame:
    """Validated, cleaned messages of one dataset (the gold `label` rides along, unused until scoring)."""
    records = pd.read_csv(SHARED_DATA / csv_name, dtype=str, keep_default_na=False)
    result = validate(records)
    if len(result.quarantine):
        reasons = {reason: n for reason, n in result.report["by_reason"].items() if n}
        print(f"  {csv_name}: {len(result.quarantine)} of {len(records)} rows quarantined {reasons}", flush=True)
    return TextCleaner().transform(result.accepted).reset_index(drop=True)


def baseline_clusters(messages: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """The plain baseline: word TF-IDF of the raw text, KMeans with the true k."""
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(messages["text"])
    return KMeans(k, n_init=10, random_state=seed).fit_predict(tfidf)


def majority_label_classifier_accuracy(messages: pd.DataFrame, clusters: np.ndarray, seed: int) -> float:
    """Gold accuracy of a classifier trained on clusters renamed to their majority gold label."""
    frame = messages.assign(cluster=clusters)
    train, test = split_holdout(frame.assign(category=frame["cluster"]), seed=seed)
    majority = train.groupby("cluster")["label"].agg(lambda labels: labels.value_counts().index[0])
    model = train_model(train.assign(category=train["cluster"].map(majority)), seed=seed)
    return float((model.predict(test["feature_text"]) == test["label"].to_numpy()).mean())


def run(name: str, messages: pd.DataFrame, k: int | str, seed: int) -> dict:
    """One dataset, one seed: our clustering, the baseline, and the majority-label classifier."""
    start = time.perf_counter()
    features = make_featurizer("tfidf", seed=seed).fit_transform(messages)
    clusterer = MessageClusterer(n_clusters=k, seed=seed)
    clusters = clusterer.fit_predict(features)
    seconds = time.perf_counter() - start
    n_gold = messages["label"].nunique()
    ours = clustering_scores(messages["label"], clusters)
    baseline = clustering_scores(messages["label"], baseline_clusters(messages, k if k != "auto" else n_gold, seed))
    return {
        "dataset": name, "seed": seed, "rows": len(messages), "k": clusterer.n_clusters_, "gold_labels": n_gold,
        "space": clusterer.selection_["chosen"], "seconds": round(seconds, 1),
        "evidence": {name: {key: round(value, 3) for key, value in evidence.items() if key in EVIDENCE}
                     for name, evidence in clusterer.selection_["candidates"].items()},
        "ours": {metric: round(100 * value, 1) for metric, value in ours.items()},
        "baseline": {metric: round(100 * value, 1) for metric, value in baseline.items()},
        "classifier_acc": round(100 * majority_label_classifier_accuracy(messages, clusters, seed), 1),
    }


def format_row(result: dict) -> str:
    """One printed line: NMI / ARI / ACC of ours vs baseline."""
    ours, base = result["ours"], result["baseline"]
    return (f"{result['dataset']:<15} seed {result['seed']}  k={result['k']:<3} {result['space']:<5}  "
            f"ours {ours['nmi']:5.1f} / {ours['ari']:5.1f} / {ours['acc']:5.1f}   "
            f"baseline {base['nmi']:5.1f} / {base['ari']:5.1f} / {base['acc']:5.1f}   "
            f"classifier acc {result['classifier_acc']:5.1f}   {result['seconds']:.0f}s   "
            + "  ".join(f"{name}: stability {e['stability']:.2f} learnability {e['learnability']:.2f}"
                        for name, e in result["evidence"].items() if e))


def main(argv: list[str] | None = None) -> int:
    """Run the selected datasets and seeds; print one line per run and a JSON summary at the end."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"benchmark skipped: {SHARED_DATA} is not present", file=sys.stderr)
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
            results.append(run(name, prepared[csv_name], k, seed))
            print(format_row(results[-1]), flush=True)
    if len(args.seeds) > 1:
        print("means over seeds:")
        for name in args.datasets:
            rows = [r for r in results if r["dataset"] == name]
            mean = {m: np.mean([r["ours"][m] for r in rows]) for m in ("nmi", "ari", "acc")}
            print(f"  {name:<15} ours {mean['nmi']:5.1f} / {mean['ari']:5.1f} / {mean['acc']:5.1f}   "
                  f"classifier acc {np.mean([r['classifier_acc'] for r in rows]):5.1f}")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
