"""Query time of every saved query on a local home with 1,000,000 predictions.

Run from the repository root: `python -m benchmarks.queries [--predictions 1000000] [--days 30] [--runs 3]
[--home DIR] [--keep]`.

The home is generated (seeded) and written with catalog.write_partition as the jobs write theirs: predictions
from two scoring executions a day over `--days` days (one file per execution and day), scored by three model
versions in turn, fifteen categories with unequal shares, texts of 40-120 characters; beside them a quarantine and
a quality report per execution, a batch_metrics row per scoring execution, five category map versions (a draft per
training run, then reviews) and the processed messages of three training executions. Each saved query is then run
as `tweetops query --saved` runs it (a fresh in-memory DuckDB, the views over the listed files, the query, every
row fetched), `--runs` times; the table gives the median and the slowest wall time, and the rows returned.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.query import run, saved_sql, zones_root
from processing.catalog import METRIC_COLUMNS, TABLES, write_partition
from processing.queries import SAVED_QUERIES

FIRST_DAY = dt.date(2024, 3, 1)
RUNS_PER_DAY = 2
MODEL_VERSIONS = ("1", "2", "3")
CATEGORIES = 15
WORDS = np.array("hola cobro pedido envio cuenta tarjeta factura ayuda login refund parcel order charge app error "
                 "password delivery store price fraud scam link support chat late missing broken".split())
REASONS = np.array(["empty_text", "duplicate_id", "text_too_long", "bad_encoding", "missing_id"])
PARAMETERS = {"category-messages": {"category": "category_01", "limit": "20"}, "map-changes": {"from": "1", "to": "2"}}


def predictions_file(rng: np.random.Generator, rows: int, run: str, day: dt.date, model_version: str) -> pd.DataFrame:
    """One scoring execution's predictions of one day."""
    shares = np.arange(CATEGORIES, 0, -1, dtype=float) ** 1.5
    categories = rng.choice(CATEGORIES, rows, p=shares / shares.sum())
    lengths = rng.integers(6, 18, rows)
    words = rng.choice(WORDS, (rows, 18))
    texts = [" ".join(row[:length]) for row, length in zip(words, lengths)]
    return pd.DataFrame({
        "id": [f"{run}-{i}" for i in range(rows)], "text": texts, "lang": rng.choice(["es", "en", "other"], rows),
        "created_at": f"{day}T10:00:00+00:00", "batch": run,
        "category": [f"category_{number:02d}" for number in categories],
        "confidence": rng.beta(5, 2, rows), "novel": rng.uniform(size=rows) < 0.04, "model_version": model_version,
        "category_map_version": int(model_version), "scored_at": f"{day}T12:00:00+00:00"})


def build_home(home: Path, predictions: int, days: int, seed: int) -> dict[str, int]:
    """Write the benchmark home; returns the rows written per table."""
    rng = np.random.default_rng(seed)
    root = home / "s3" / "tweetops-local" / "tweetops"
    counts = dict.fromkeys(TABLES, 0)

    def add(table: str, frame: pd.DataFrame, day: dt.date, run: str) -> None:
        write_partition(TABLES[table], frame, root / TABLES[table].zone, day, run)
        counts[table] += len(frame)

    files = days * RUNS_PER_DAY
    for index in range(files):
        day, run = FIRST_DAY + dt.timedelta(days=index // RUNS_PER_DAY), f"inference-{index:04d}"
        rows = predictions // files + (1 if index < predictions % files else 0)
        model_version = MODEL_VERSIONS[index * len(MODEL_VERSIONS) // files]
        add("predictions", predictions_file(rng, rows, run, day, model_version), day, run)
        rejected = rng.choice(REASONS, int(rng.integers(5, 60)), p=[0.4, 0.3, 0.15, 0.1, 0.05])
        add("quarantine", pd.DataFrame({
            "execution": run, "source_file": "batch.csv", "row_number": np.arange(len(rejected)) + 1,
            "line": np.arange(len(rejected)) + 2, "reason": rejected, "detail": "generated", "record": "{}",
            "validated_at": f"{day}T11:00:00+00:00"}), day, run)
        add("quality_reports", pd.DataFrame([{
            "execution": run, "pipeline": "inference", "rows_in": rows + len(rejected), "rows_accepted": rows,
            "rows_quarantined": len(rejected), "quarantine_share": len(rejected) / (rows + len(rejected)),
            "reasons": json.dumps(pd.Series(rejected).value_counts().to_dict()), "languages": "{}",
            "validated_at": f"{day}T11:00:00+00:00"}]), day, run)
        metrics = {column: float(rng.uniform()) for column in METRIC_COLUMNS.values()}
        add("batch_metrics", pd.DataFrame([{
            "execution": run, "model_package": f"arn:aws:sagemaker:eu-west-1:0:model-package/g/{model_version}",
            "judged": True, **metrics, "alarms": json.dumps(["data-drift"] if metrics["data_drift_detected"] > 0.8
                                                          else []), "scored_at": f"{day}T12:00:00+00:00"}]), day, run)
    for version in range(1, 6):
        day, run = FIRST_DAY + dt.timedelta(days=(version - 1) * days // 5), f"map-{version}"
        add("category_maps", pd.DataFrame([{
            "map_version": version, "map_hash": f"h{version}", "category_id": f"c{number}",
            "name": f"category_{number:02d}" if (number + version) % 4 else f"renamed_{number}_{version}",
            "description": "generated", "clusters": json.dumps([number, number + version % 2]), "reviewed": version > 1,
            "reviewed_by": "ana" if version > 1 else None, "reviewed_at": None, "lineage": "{}", "execution": run,
            "written_at": f"{day}T09:00:00+00:00"} for number in range(1, CATEGORIES + 1 + version)]), day, run)
    for number in range(3):
        frame = predictions_file(rng, 10_000, f"train-{number}", FIRST_DAY, "1")[["id", "text", "created_at", "lang"]]
        frame = frame.assign(source="app", user_id="u", label=None, clean_text=frame["text"],
                             feature_text=frame["text"], tokens=frame["text"], lemmas=frame["text"], n_tokens=10,
                             emojis="", n_urls=0, n_mentions=0)
        folder = root / "executions" / f"train-{number}" / "processed"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "messages.parquet", index=False)
        counts["processed_messages"] += len(frame)
    return counts


def time_saved_queries(home: Path, runs: int) -> list[tuple[str, float, float, int]]:
    """(saved query, median wall seconds, slowest, rows returned) of each saved query, run `runs` times."""
    root = zones_root(home)
    results = []
    for name in SAVED_QUERIES:
        sql = saved_sql(name, PARAMETERS.get(name, {}))
        walls, rows = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            rows = len(run(root, sql).rows)
            walls.append(time.perf_counter() - started)
        results.append((name, statistics.median(walls), max(walls), rows))
    return results


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    """Build the home, time every saved query, print the table with the machine and the date."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queries", description=__doc__.split("\n\n")[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3, help="Runs of each query (the median is reported).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, help="Build the home here (default: a temporary folder).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary home (its path is printed).")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="tweetops-query-benchmark-")) / "home"
    print(f"saved queries benchmark, {datetime.now(timezone.utc):%Y-%m-%d}: {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.2f}), Python {platform.python_version()}, DuckDB "
          f"{__import__('duckdb').__version__}; seed {args.seed}", flush=True)
    started = time.perf_counter()
    counts = build_home(home, args.predictions, args.days, args.seed)
    print(f"home {home}: {', '.join(f'{name} {rows:,}' for name, rows in counts.items())} rows; "
          f"{args.days * RUNS_PER_DAY} prediction files, {folder_bytes(home) / 1e6:.0f} MB; written in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    print("", "| saved query | median wall (s) | slowest (s) | rows |", "|---|---|---|---|", sep="\n")
    for name, median, slowest, rows in time_saved_queries(home, args.runs):
        print(f"| {name} | {median:.3f} | {slowest:.3f} | {rows:,} |", flush=True)
    print(f"\n{args.runs} runs each; every run opens a fresh in-memory DuckDB and builds the views, as "
          "`tweetops query` does.")
    if not args.home and not args.keep:
        shutil.rmtree(home.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
