"""Cleaning throughput (messages/second) on real data, for 1 and 2 worker processes.

Run from the repository root: `python -m benchmarks.cleaning [--repeats N] [--scale K]`.
Reads ../shared/data (banking77 English, coset Spanish); exits cleanly when it is absent.
Pipelines and lexicons are loaded by a warm-up before timing, as in a long-running processing job; the
n_process=2 figures include the cost of starting the workers, which every call pays.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import pandas as pd

from processing.clean import PARALLEL_MIN_MESSAGES, clean_messages, preload, usable_cpus

from benchmarks import SHARED_DATA, shared_data_missing
DATASETS = (("banking77", "train.csv", "en"), ("coset", "train.csv", "es"))


def load_dataset(folder: str, filename: str, lang: str) -> pd.DataFrame:
    """The dataset's id and text with the given language; the gold label is not read."""
    frame = pd.read_csv(SHARED_DATA / folder / filename, usecols=["id", "text"], dtype=str)
    return frame.assign(lang=lang)


def throughputs(frame: pd.DataFrame, n_processes: tuple[int, ...], repeats: int) -> list[float]:
    """Messages/second per n_process: best of `repeats` runs, interleaved so both face the same machine load."""
    best = [float("inf")] * len(n_processes)
    for _ in range(repeats):
        for k, n_process in enumerate(n_processes):
            start = time.perf_counter()
            out = clean_messages(frame, n_process=n_process)
            best[k] = min(best[k], time.perf_counter() - start)
            assert len(out) == len(frame)
    return [len(frame) / seconds for seconds in best]


def _spin(n: int) -> int:
    """Pure-Python CPU work for the headroom probe."""
    return sum(i * i for i in range(n))


def cpu_headroom(n: int = 3_000_000) -> float:
    """Speed-up of two processes over one on fixed CPU work: the ceiling for n_process=2 on this machine now."""
    start = time.perf_counter()
    _spin(n), _spin(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [n, n])
        parallel = time.perf_counter() - start
    return serial / parallel


def main(argv: list[str] | None = None) -> int:
    """Print a table of msgs/s per dataset and n_process; the --scale rows repeat the data to show large batches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (the best is reported)")
    parser.add_argument("--scale", type=int, default=4, help="also time banking77 repeated this many times (0: skip)")
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0

    frames = [(f"{folder} ({lang})", load_dataset(folder, filename, lang)) for folder, filename, lang in DATASETS]
    if args.scale > 1:
        big = pd.concat([frames[0][1]] * args.scale, ignore_index=True)
        frames.append((f"banking77 x{args.scale} (en)", big))
    preload(lang for _, _, lang in DATASETS)

    print(f"usable cpus: {usable_cpus()}  repeats: {args.repeats}  default n_process=1; 'auto' starts one "
          f"worker per {PARALLEL_MIN_MESSAGES:,} messages, up to the usable cpus")
    print(f"CPU headroom before: 2 processes run pure-Python work {cpu_headroom():.2f}x as fast as 1 "
          "(2.0 on two idle cores, less when other jobs share them)")
    print(f"{'dataset':<22}{'messages':>10}{'n_process=1':>14}{'n_process=2':>14}{'speed-up':>10}")
    for name, frame in frames:
        single, double = throughputs(frame, (1, 2), args.repeats)
        print(f"{name:<22}{len(frame):>10,}{single:>12,.0f}/s{double:>12,.0f}/s{double / single:>9.2f}x")
    print(f"CPU headroom after: {cpu_headroom():.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
