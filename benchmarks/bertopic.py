"""`tweetops discover` against BERTopic's whole fit on the same messages, side by side in one invocation.

Run from the repository root: `python -m benchmarks.bertopic [--dataset banking77/train.csv] [--rounds 1]`. Each
round runs, as child processes: BERTopic (default UMAP + HDBSCAN, all-MiniLM-L6-v2 from the weights tweetops
ships) `.fit_transform(texts)` in a script that reads the CSV first, then `tweetops discover` with an empty cache
folder (so it exports the model to ONNX and embeds every text), then `tweetops discover` again on a fresh
output folder with the exported model kept but no cached vectors (a first run on new data). Printed per run:
wall time, CPU time (the process and every child it waited for), peak memory of the process tree (Pss,
benchmarks.speed.measured, sampled every 0.2 s), and NMI / ARI / ACC against the gold labels (discover never
sees them).

BERTopic is not a tweetops dependency: it lives in its own virtual environment, <repository>/.tools/bertopic
(gitignored), created the first time this benchmark runs (bertopic BERTOPIC_VERSION and the torch build of
tweetops' own environment).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import pandas as pd

from benchmarks import read_dataset, shared_data_missing
from benchmarks.speed import measured
from processing.evaluation import clustering_scores

ROOT = Path(__file__).resolve().parents[1]
BERTOPIC_ENV = ROOT / ".tools" / "bertopic"
BERTOPIC_VERSION = "0.17.4"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Runs in BERTopic's environment: argv = messages CSV, model folder, output JSON. Reading the texts is part of
# the measured process, as it is for discover; the model is the folder tweetops resolves all-MiniLM-L6-v2 to.
BERTOPIC_FIT = """
import json, sys
import pandas as pd
from bertopic import BERTopic
texts = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)["text"].tolist()
topics, _ = BERTopic(embedding_model=sys.argv[2]).fit_transform(texts)
with open(sys.argv[3], "w") as handle:
    json.dump({"topics": [int(topic) for topic in topics]}, handle)
"""


def bertopic_python() -> Path:
    """The interpreter of BERTopic's own environment, created (with the torch build tweetops uses) when missing."""
    python = BERTOPIC_ENV / "bin" / "python"
    if _bertopic_version(python) == BERTOPIC_VERSION:
        return python
    print(f"installing bertopic {BERTOPIC_VERSION} into {BERTOPIC_ENV} (once) ...", file=sys.stderr, flush=True)
    venv.create(BERTOPIC_ENV, with_pip=True, clear=True)
    # The same torch as ours: its CPU build is a few hundred MB where PyPI's default is the CUDA one (GBs). It is
    # found locally (pip's find-links) or on PyTorch's CPU index.
    packages = [f"bertopic=={BERTOPIC_VERSION}", f"torch=={importlib.metadata.version('torch')}"]
    install = [str(python), "-m", "pip", "install", "--quiet", *packages]
    if subprocess.run(install).returncode and subprocess.run(install + ["--extra-index-url", TORCH_CPU_INDEX]).returncode:
        raise SystemExit(f"could not install bertopic into {BERTOPIC_ENV}")
    return python


def _bertopic_version(python: Path) -> str | None:
    if not python.is_file():
        return None
    result = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('bertopic'))"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def run_bertopic(python: Path, messages: Path, model: Path, out: Path) -> tuple[dict, pd.Series]:
    """BERTopic's whole fit as a child process: figures and the topic of each message (-1: outlier)."""
    figures = measured([str(python), "-c", BERTOPIC_FIT, str(messages), str(model), str(out)])
    return figures, pd.Series(json.loads(out.read_text())["topics"])


def run_discover(messages: Path, out: Path, cache: Path, k: str, seed: int) -> tuple[dict, pd.DataFrame]:
    """`tweetops discover` (default featurizer) as a child process: figures and its assignments (id, cluster)."""
    figures = measured([sys.executable, "-m", "pipelines.cli", "discover", "--input", str(messages), "--out", str(out),
                     "--k", k, "--seed", str(seed), "--cache-dir", str(cache)])
    return figures, pd.read_csv(out / "assignments.csv", dtype={"id": str})


def line(name: str, figures: dict, scores: dict, extra: str = "") -> str:
    """One printed row: wall, CPU, peak memory, scores."""
    return (f"  {name:<44} wall {figures['seconds']:6.1f} s  CPU {figures['cpu_seconds']:6.1f} s  peak "
            f"{figures['peak_tree_mib']:6.0f} MiB  NMI / ARI / ACC {100 * scores['nmi']:.1f} / {100 * scores['ari']:.1f}"
            f" / {100 * scores['acc']:.1f}{extra}")


def main(argv: list[str] | None = None) -> int:
    """Print BERTopic's and discover's figures, round by round, and the ratios the issue's bar is about."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bertopic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking77/train.csv", help="CSV under ../shared/data")
    parser.add_argument("--rounds", type=int, default=1, help="BERTopic / discover pairs, alternating")
    parser.add_argument("--k", default="auto", help="--k passed to discover (default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    from processing.embeddings import resolve_model

    python, model = bertopic_python(), resolve_model("all-MiniLM-L6-v2")
    gold = read_dataset(args.dataset)
    print(f"{args.dataset}: {len(gold)} messages; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"at the start; discover --k {args.k}, BERTopic {BERTOPIC_VERSION} defaults", flush=True)
    with tempfile.TemporaryDirectory(prefix="tweetops-bertopic-") as tmp:
        tmp = Path(tmp)
        messages = tmp / "messages.csv"
        gold[["id", "text"]].to_csv(messages, index=False)
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} (load average {os.getloadavg()[0]:.2f})", flush=True)
            theirs, topics = run_bertopic(python, messages, model, tmp / "bertopic.json")
            print(line("BERTopic fit_transform (whole process)", theirs, clustering_scores(gold["label"], topics),
                       f"; {topics.max() + 1} topics, {100 * (topics == -1).mean():.1f}% outliers"), flush=True)
            cache = tmp / f"cache-{round_number}"
            for run, label in ((1, "discover, empty cache (ONNX export too)"), (2, "discover, exported model only")):
                if run == 2:
                    shutil.rmtree(cache / "embeddings")
                ours, assigned = run_discover(messages, tmp / f"out-{round_number}-{run}", cache, args.k, args.seed)
                assigned = assigned.merge(gold, on="id")
                print(line(label, ours, clustering_scores(assigned["label"], assigned["cluster"]),
                           f"; wall {ours['seconds'] / theirs['seconds']:.2f}x, memory "
                           f"{ours['peak_tree_mib'] / theirs['peak_tree_mib']:.2f}x BERTopic's"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
