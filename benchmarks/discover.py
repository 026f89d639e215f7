"""Wall time, peak memory and NMI of `tweetops discover` on banking77 train (10,003 messages).

Run from the repository root: `python -m benchmarks.discover [--featurizer hybrid] [--k auto|N]
[--dataset banking77/train.csv] [--bertopic]`. The command runs in a child process, exactly as a user runs
it; peak memory is that child's maximum resident set size, wall time includes imports and every write.
discover never sees the gold labels (its input is id and text); they only score its assignments.

With an embedding featurizer it runs three times, to show what the cache does: with an empty cache
folder (the model is exported to ONNX first), with the exported model but no cached vectors (a first run
on new data), and again on the same data (every vector cached). `--bertopic` also scores BERTopic's
default clustering (UMAP 15/5 cosine + HDBSCAN) of the same embeddings, for the NMI comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks import read_dataset, shared_data_missing
from processing.evaluation import clustering_scores

PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def run_discover(input_path: Path, out: Path, featurizer: str, k: str, seed: int,
                 cache_dir: Path) -> tuple[float, float]:
    """Run `tweetops discover` in a child process; returns (wall seconds, peak RSS in MiB)."""
    command = [sys.executable, "-m", "pipelines.cli", "discover", "--input", str(input_path), "--out", str(out),
               "--featurizer", featurizer, "--k", k, "--seed", str(seed), "--cache-dir", str(cache_dir)]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    lines = result.stderr.strip().splitlines()
    if result.returncode:
        sys.stderr.write("\n".join(lines[:-1]) + "\n")
        raise SystemExit(f"discover failed with exit code {result.returncode}")
    return seconds, int(lines[-1]) / 1024  # ru_maxrss is in KiB on Linux


def bertopic_nmi(messages: pd.DataFrame, cache_dir: Path, seed: int) -> dict:
    """Scores and outlier share of BERTopic's default clustering of the (cached) embeddings."""
    from sklearn.cluster import HDBSCAN

    from benchmarks.quality import bertopic_reduction
    from processing.features import make_featurizer

    embeddings = make_featurizer("sentence-embeddings", cache_dir=str(cache_dir),
                                 text_column="text", progress=False).fit_transform(messages)
    clusters = HDBSCAN(min_cluster_size=10).fit_predict(bertopic_reduction(embeddings, seed))
    scores = clustering_scores(messages["label"], clusters)
    return {**{m: round(100 * v, 1) for m, v in scores.items()}, "outliers": round(100 * (clusters == -1).mean(), 1),
            "k": int(clusters.max() + 1)}


def main(argv: list[str] | None = None) -> int:
    """Print wall time, peak memory, throughput and NMI of each discover run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.discover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking77/train.csv", help="CSV under ../shared/data")
    parser.add_argument("--featurizer", default="hybrid", help="--featurizer passed to discover (default: hybrid)")
    parser.add_argument("--k", default="auto", help="--k passed to discover (default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bertopic", action="store_true", help="also score BERTopic's default clustering")
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    gold = read_dataset(args.dataset)
    print(f"discover on {args.dataset}: {len(gold)} messages, --featurizer {args.featurizer} --k {args.k}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gold[["id", "text"]].to_csv(tmp / "messages.csv", index=False)
        runs = [("empty cache (ONNX export included)", True), ("exported model, no cached vectors", True),
                ("every vector cached", False)] if args.featurizer != "tfidf" else [("no cache involved", True)]
        for number, (label, clear_vectors) in enumerate(runs, start=1):
            if clear_vectors:
                shutil.rmtree(tmp / "cache" / "embeddings", ignore_errors=True)
            if number == 1:
                shutil.rmtree(tmp / "cache", ignore_errors=True)
            out = tmp / f"out-{number}"
            seconds, peak_mib = run_discover(tmp / "messages.csv", out, args.featurizer, args.k, args.seed,
                                             tmp / "cache")
            clusters = json.loads((out / "clusters.json").read_text())
            assigned = pd.read_csv(out / "assignments.csv", dtype={"id": str}).merge(gold, on="id")
            scores = clustering_scores(assigned["label"], assigned["cluster"])
            print(f"  run {number}, {label}: wall {seconds:.1f} s, peak memory {peak_mib:.0f} MiB, "
                  f"{len(gold) / seconds:.0f} messages/s; k={clusters['n_clusters']} "
                  f"({clusters['selection']['chosen']}); NMI / ARI / ACC {100 * scores['nmi']:.1f} / "
                  f"{100 * scores['ari']:.1f} / {100 * scores['acc']:.1f}", flush=True)
        if args.bertopic:
            figures = bertopic_nmi(gold, tmp / "cache", args.seed)
            print(f"  BERTopic default (UMAP + HDBSCAN) on the same embeddings: k={figures['k']}, NMI / ARI / ACC "
                  f"{figures['nmi']} / {figures['ari']} / {figures['acc']}, outliers {figures['outliers']}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
