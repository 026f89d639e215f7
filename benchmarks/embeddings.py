"""Embedding throughput of the encoder runtimes (torch fp32, ONNX Runtime int8) and how far apart their vectors are.

Run from the repository root: `python -m benchmarks.embeddings [--dataset banking77/test.csv] [--threads 1 2]
[--batch-sizes 32 64 128]`. Every run embeds every message of the dataset with a fresh cache (so nothing is
looked up), after one warm-up batch that loads the model (and exports it to ONNX the first time). Printed:
messages/s, CPU seconds, and the mean and minimum cosine between each runtime's vectors and torch fp32's.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pandas as pd

from benchmarks import read_dataset, shared_data_missing
from processing.features import make_featurizer


def embed(messages: pd.DataFrame, runtime: str, threads: int, batch_size: int, export_dir: str) -> tuple:
    """(vectors, wall seconds, CPU seconds) of embedding every message with an empty vector cache."""
    with tempfile.TemporaryDirectory() as cache:
        if os.path.isdir(os.path.join(export_dir, "onnx")):
            os.symlink(os.path.join(export_dir, "onnx"), os.path.join(cache, "onnx"))
        featurizer = make_featurizer("sentence-embeddings", runtime=runtime, threads=threads, batch_size=batch_size,
                                     cache_dir=cache, progress=False).fit(messages)
        featurizer.transform(messages.iloc[:batch_size].assign(text=lambda f: f["text"] + " warm-up"))
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = featurizer.transform(messages)
        return vectors, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    """Print one line per (runtime, threads, batch size)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embeddings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking77/test.csv", help="CSV under ../shared/data")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64])
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    messages = read_dataset(args.dataset)
    print(f"{len(messages)} messages of {args.dataset}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    reference = None
    with tempfile.TemporaryDirectory() as export_dir:
        os.makedirs(os.path.join(export_dir, "onnx"))
        for runtime in ("torch", "onnx-int8"):
            for threads in args.threads:
                for batch_size in args.batch_sizes:
                    vectors, wall, cpu = embed(messages, runtime, threads, batch_size, export_dir)
                    reference = vectors if reference is None else reference
                    cosine = (vectors * reference).sum(axis=1)
                    print(f"  {runtime:<9} threads {threads} batch {batch_size:<4} {len(messages) / wall:6.0f} "
                          f"messages/s  wall {wall:5.1f} s  CPU {cpu:5.1f} s  cosine to torch fp32 mean "
                          f"{cosine.mean():.4f} min {cosine.min():.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
