"""Proposed categories without labels: fine k and the hierarchy's cut, scored against gold on every labelled set.

Run from the repository root: `python -m benchmarks.categories [--datasets banking77 stackoverflow coset demo]`.
Each set goes through the product path with the default featurizer (hybrid): validate -> clean -> featurize ->
MessageClusterer (k auto) -> group_clusters (cut auto, languages as strata), exactly as cluster_job does. In the
same run, on the same features, KMeans with the true number of classes (MessageClusterer with n_clusters given)
is the reference. Sets: banking77 test (3,080), stackoverflow all (20,000), coset test (624), and the demo data
(`generate_messages(3000, seed=0)`, our own generator, with its hidden labels). Gold labels only score.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd

from benchmarks import shared_data_missing
from benchmarks.quality import prepare
from processing.cluster import MessageClusterer
from processing.evaluation import clustering_scores
from processing.features import make_featurizer
from processing.grouping import group_clusters

DATASETS = {"banking77": "banking77/test.csv", "stackoverflow": "stackoverflow/all.csv", "coset": "coset/test.csv",
            "demo": None}


def demo_messages() -> pd.DataFrame:
    """The demo generator's 3,000 messages (seed 0), validated and cleaned, with their hidden gold labels."""
    from processing.clean import TextCleaner
    from processing.demo_data import generate_messages
    from processing.validate import validate

    return TextCleaner().transform(validate(generate_messages(3000, seed=0)).accepted).reset_index(drop=True)


def run(name: str, messages: pd.DataFrame, seed: int) -> dict:
    """Fine k, proposed categories and their gold scores, and the true-k clustering's, on one set."""
    start = time.perf_counter()
    featurizer = make_featurizer("hybrid", seed=seed, progress=False)
    features = featurizer.fit_transform(messages)
    clusterer = MessageClusterer(seed=seed, **featurizer.clustering_params)
    fine = clusterer.fit_predict(features)
    languages = messages["lang"].fillna("") if "lang" in messages.columns else None
    grouping = group_clusters(features, fine, clusterer.n_clusters_, seed=seed, strata=languages)
    proposed = grouping.group_of_cluster[fine]
    n_true = messages["label"].nunique()
    true_k = MessageClusterer(n_clusters=n_true, seed=seed, **featurizer.clustering_params).fit_predict(features)
    scores = {kind: {m: round(100 * v, 1) for m, v in clustering_scores(messages["label"], labels).items()}
              for kind, labels in (("fine", fine), ("proposed", proposed), ("true_k", true_k))}
    return {"dataset": name, "rows": len(messages), "true": int(n_true), "fine_k": int(clusterer.n_clusters_),
            "proposed": int(grouping.n_groups), "scores": scores, "seconds": round(time.perf_counter() - start)}


def format_row(r: dict) -> str:
    """One markdown table row."""
    s = r["scores"]
    within = abs(r["proposed"] - r["true"]) / r["true"]
    return (f"| {r['dataset']} ({r['rows']}) | {r['true']} | {r['fine_k']} | {r['proposed']} ({100 * within:.0f}% off) "
            f"| {s['proposed']['nmi']} / {s['proposed']['acc']} | {s['true_k']['nmi']} / {s['true_k']['acc']} "
            f"| {s['fine']['nmi']} / {s['fine']['acc']} | {r['seconds']} s |")


def main(argv: list[str] | None = None) -> int:
    """Print one table row per set."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.categories", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(DATASETS[name] for name in args.datasets) and shared_data_missing():
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    print("| set (messages) | true classes | fine k | proposed categories | proposed NMI / ACC | true-k NMI / ACC "
          "| fine NMI / ACC | time |\n|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.datasets:
        messages = demo_messages() if DATASETS[name] is None else prepare(DATASETS[name])
        print(format_row(run(name, messages, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
