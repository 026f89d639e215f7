"""Wall time and peak memory of `tweetops discover` on banking77 train (10,003 messages).

Run from the repository root: `python -m benchmarks.discover [--k auto|N] [--dataset banking77/train.csv]`.
The command runs in a child process, exactly as a user runs it; peak memory is the child's maximum
resident set size (getrusage), wall time includes imports and every write. The gold labels are not
read: the input is the dataset's id and text.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks import SHARED_DATA


def run_discover(input_path: Path, out: Path, k: str, seed: int) -> tuple[float, float]:
    """Run `tweetops discover` in a child process; returns (wall seconds, peak RSS in MiB)."""
    command = [sys.executable, "-m", "pipelines.cli", "discover", "--input", str(input_path), "--out", str(out),
               "--k", k, "--seed", str(seed)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return seconds, peak_kib / 1024


def main(argv: list[str] | None = None) -> int:
    """Print wall time, peak memory and throughput of one discover run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.discover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking77/train.csv", help="CSV under ../shared/data")
    parser.add_argument("--k", default="auto", help="--k passed to discover (default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"benchmark skipped: {SHARED_DATA} is not present", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        input_path = Path(tmp) / "messages.csv"
        messages = pd.read_csv(SHARED_DATA / args.dataset, usecols=["id", "text"], dtype=str)
        messages.to_csv(input_path, index=False)
        seconds, peak_mib = run_discover(input_path, Path(tmp) / "out", args.k, args.seed)
        clusters = json.loads((Path(tmp) / "out" / "clusters.json").read_text())
    print(f"discover on {args.dataset}: {len(messages)} messages, k={clusters['n_clusters']} "
          f"({clusters['selection']['chosen']}), wall {seconds:.1f} s, peak memory {peak_mib:.0f} MiB, "
          f"{len(messages) / seconds:.0f} messages/s; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
