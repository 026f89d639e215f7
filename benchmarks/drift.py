"""Monitoring without labels, measured on real labelled data: false alarms, detection, estimated accuracy and
the drift check's cost, side by side with Evidently on the same batches.

Run from the repository root: `python -m benchmarks.drift [--batches 50] [--featurizer tfidf|hybrid]
[--datasets banking77 stackoverflow] [--evidently-batches 20] [--evidently-python PATH]`.

Setup per dataset (seeded): ~10% of the gold categories are held out as "absent at training" (new topics).
The known categories' rows are split into a training split (the production classifier trained on the gold
labels: the category map is the gold scheme, so a prediction is right when it equals the gold label and a
message of an absent category is always wrong), a held-out split of 2,000 messages that makes the monitoring
baseline (predicted exactly as the serving handler predict_fn does), and a pool the batches are drawn from.
Every batch goes through `check_batch` with its default settings; the table gives, per scenario, the share
of batches whose data drift was detected and whose report fired any alarm, the error of the estimated
accuracy against the true one, the same error for a plain CBPE-equivalent (the mean raw confidence, no
recalibration), and Evidently's text drift and embedding drift on the same reference and batches (run in
Evidently's own virtual environment by benchmarks/evidently_drift.py: evidently 0.7.23 does not import with
pandas 3; `python3 -m venv /work/evidently-venv && /work/evidently-venv/bin/pip install evidently==0.7.23
"pandas<3"`). Last, the drift check of one 100,000-message batch in a child process: wall and CPU seconds and
peak memory.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import read_dataset, shared_data_missing

DATASETS = {"banking77": ("banking77/train.csv", "banking77/test.csv"), "stackoverflow": ("stackoverflow/all.csv",)}
SPANISH = ("coset/train.csv", "coset/dev.csv", "coset/test.csv")  # Spanish political tweets: the language shift
ABSENT_SHARE = 0.10  # of the gold categories, held out from training: the new topics
HELD_OUT = 2000  # messages of the held-out split that makes the baseline
TRAIN_SHARE = 0.45  # of the known categories' remaining rows; the rest is the pool batches are drawn from
BATCH = 2000
SIZES = (200, 500, 1000, 2000)  # batch sizes tried for the smallest that detects a 10% new-topic share
DETECTION_BAR = 0.90
BIG_BATCH = 100_000
EVIDENTLY_PYTHON = "/work/evidently-venv/bin/python"


@dataclass(frozen=True)
class Scenario:
    """A kind of batch: `share` of its messages come from `source` (absent categories, Spanish tweets, or the
    doubled category), the rest from the known categories' pool."""
    key: str
    label: str
    source: str | None = None
    share: float = 0.0
    size: int = BATCH

    @property
    def drifted(self) -> bool:
        return self.source is not None


SCENARIOS = (
    Scenario("same", "same distribution (false alarms)"),
    Scenario("new5", "5% from absent categories", "absent", 0.05),
    Scenario("new10", "10% from absent categories", "absent", 0.10),
    Scenario("new20", "20% from absent categories", "absent", 0.20),
    Scenario("doubled", "one category's share doubled", "doubled"),
    Scenario("es10", "10% Spanish tweets (coset) in English", "spanish", 0.10),
    Scenario("es20", "20% Spanish tweets (coset) in English", "spanish", 0.20),
)
SIZE_SCENARIOS = tuple(Scenario(f"new10@{size}", f"10% absent, batch of {size}", "absent", 0.10, size)
                       for size in SIZES if size != BATCH)


@dataclass
class Setup:
    """One dataset made ready: the baseline, the featurizer, and every message predicted and featurized once."""
    name: str
    messages: pd.DataFrame  # id, text, lang, label, known, feature_text, category, confidence, novel, correct
    vectors: np.ndarray  # rows aligned with `messages`
    row_of: dict
    baseline: object
    featurizer: object
    pool: np.ndarray  # row numbers of the known categories' batch pool
    absent: np.ndarray
    spanish: np.ndarray
    doubled_category: str
    counts: dict


# ---- data

def accepted_messages(csv_names: tuple[str, ...]) -> pd.DataFrame:
    """id, text, lang, label of the rows validation accepts (the batch path sees validated messages only)."""
    from processing.validate import validate

    records = pd.concat([read_dataset(name) for name in csv_names], ignore_index=True)
    return validate(records).accepted[["id", "text", "lang", "label"]].reset_index(drop=True)


def split_rows(messages: pd.DataFrame, seed: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """The absent categories and the row numbers of the training, held-out, pool and absent sets."""
    rng = np.random.default_rng(seed)
    labels = sorted(messages["label"].unique())
    absent = sorted(rng.choice(labels, size=max(1, round(ABSENT_SHARE * len(labels))), replace=False).tolist())
    is_absent = messages["label"].isin(absent).to_numpy()
    known = rng.permutation(np.flatnonzero(~is_absent))
    n_train = round(TRAIN_SHARE * (len(known) - HELD_OUT))
    return absent, {"held_out": np.sort(known[:HELD_OUT]), "train": np.sort(known[HELD_OUT:HELD_OUT + n_train]),
                    "pool": np.sort(known[HELD_OUT + n_train:]), "absent": np.flatnonzero(is_absent)}


def make_featurizer_named(name: str, seed: int):
    """An unfitted featurizer of the product (`tfidf` or `hybrid`), quiet."""
    from processing.features import make_featurizer

    return make_featurizer(name, seed=seed) if name == "tfidf" else make_featurizer(name, seed=seed, progress=False)


def prepare(name: str, featurizer_name: str, seed: int) -> Setup:
    """Validate, clean, split, train, predict, featurize and build the baseline of one dataset."""
    from inference.handlers import LoadedModel, predict_fn
    from processing.clean import TextCleaner
    from processing.monitoring.baseline import build_baseline
    from training.train import train_model

    dataset = accepted_messages(DATASETS[name]).assign(known=True)
    spanish = accepted_messages(SPANISH)
    spanish = spanish[spanish["lang"] == "es"].assign(known=False)
    absent_labels, rows = split_rows(dataset, seed)
    dataset["known"] = ~dataset["label"].isin(absent_labels)
    messages = TextCleaner().transform(pd.concat([dataset, spanish], ignore_index=True))
    train = messages.iloc[rows["train"]]
    classifier = train_model(train.assign(category=train["label"]), seed=seed)
    # Exactly what the serving container does (it cleans the raw text itself), on every message once.
    predicted = predict_fn(messages[["id", "text"]], LoadedModel(classifier, {"model_version": "benchmark"}))
    if predicted["error"].notna().any():
        raise ValueError(f"{name}: {int(predicted['error'].notna().sum())} messages could not be scored")
    messages = messages.assign(category=predicted["category"].astype(str).to_numpy(),
                               confidence=predicted["confidence"].astype(float).to_numpy(),
                               novel=predicted["novel"].astype(bool).to_numpy())
    messages["correct"] = messages["known"] & (messages["category"] == messages["label"])
    featurizer = make_featurizer_named(featurizer_name, seed).fit(train)
    vectors = np.asarray(featurizer.transform(messages), dtype=np.float32)
    held = messages.iloc[rows["held_out"]]
    baseline = build_baseline(held[["id", "text", "lang", "feature_text"]].assign(category=held["label"]),
                              held[["id", "category", "confidence", "novel"]], vectors[rows["held_out"]],
                              seed=seed, featurizer={"name": featurizer_name},
                              vocabulary=frozenset(w for w in classifier.word_vocabulary() if " " not in w))
    n_dataset = len(dataset)
    setup = Setup(name, messages, vectors, {id_: i for i, id_ in enumerate(messages["id"])}, baseline, featurizer,
                  rows["pool"], rows["absent"], np.arange(n_dataset, len(messages)), "",
                  {"categories": int(dataset["label"].nunique()), "absent_categories": len(absent_labels),
                   "train": len(rows["train"]), "held_out": len(rows["held_out"]), "pool": len(rows["pool"]),
                   "absent": len(rows["absent"]), "spanish": len(spanish)})
    setup.doubled_category = doubled_category(setup, seed)
    check_lookup_matches_featurizer(setup)
    return setup


def doubled_category(setup: Setup, seed: int) -> str:
    """A known category (seeded choice) with enough pool rows for its share of a batch to double."""
    pool = setup.messages.iloc[setup.pool]
    shares = pool["label"].value_counts(normalize=True)
    counts = pool["label"].value_counts()
    fits = sorted(label for label in shares.index if counts[label] >= round(2 * shares[label] * BATCH))
    if not fits:
        raise ValueError(f"{setup.name}: no category has enough pool rows for its share to double")
    return str(np.random.default_rng(seed).choice(fits))


def lookup_embedding(setup: Setup):
    """The check's `embed`, reading the vectors computed once for every message (cleaning and the featurizer
    work message by message, so this equals featurizer_embedding: checked by check_lookup_matches_featurizer)."""
    feature_text = setup.messages["feature_text"].fillna("").astype(str).to_numpy(dtype=object)

    def embed(frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        rows = np.array([setup.row_of[id_] for id_ in frame["id"]], dtype=int)
        return feature_text[rows].tolist(), setup.vectors[rows]
    return embed


def check_lookup_matches_featurizer(setup: Setup, rows: int = 300) -> None:
    """Refuse to run when the precomputed vectors differ from what the monitor job's embed would give."""
    from processing.monitoring.check import featurizer_embedding

    sample = setup.messages.iloc[np.linspace(0, len(setup.messages) - 1, rows).astype(int)][["id", "text", "lang"]]
    texts, vectors = featurizer_embedding(setup.featurizer)(sample.reset_index(drop=True))
    looked_texts, looked = lookup_embedding(setup)(sample)
    if texts != looked_texts or not np.allclose(vectors, looked, atol=1e-5):
        raise AssertionError(f"{setup.name}: precomputed vectors differ from featurizer_embedding's")


# ---- batches

def draw_batch(setup: Setup, scenario: Scenario, number: int, seed: int) -> np.ndarray:
    """Row numbers of one seeded batch of a scenario."""
    rng = np.random.default_rng([seed, zlib.crc32(scenario.key.encode()), number])
    size = scenario.size
    if scenario.source == "doubled":
        labels = setup.messages["label"].to_numpy()[setup.pool]
        target = setup.pool[labels == setup.doubled_category]
        others = setup.pool[labels != setup.doubled_category]
        n_target = round(2 * len(target) / len(setup.pool) * size)
        return np.concatenate([rng.choice(target, n_target, replace=False),
                               rng.choice(others, size - n_target, replace=False)])
    n_foreign = round(scenario.share * size)
    foreign = {"absent": setup.absent, "spanish": setup.spanish}.get(scenario.source, setup.pool[:0])
    return np.concatenate([rng.choice(foreign, n_foreign, replace=False),
                           rng.choice(setup.pool, size - n_foreign, replace=False)])


def judge(setup: Setup, rows: np.ndarray) -> dict:
    """check_batch (default settings) on one batch, with the true accuracy and the raw-confidence estimate."""
    from processing.monitoring.check import check_batch
    from processing.monitoring.estimate import estimate_performance

    batch = setup.messages.iloc[rows]
    start = time.perf_counter()
    report = check_batch(setup.baseline, batch[["id", "text", "lang"]],
                         batch[["id", "category", "confidence", "novel"]], lookup_embedding(setup))
    seconds = time.perf_counter() - start
    raw = estimate_performance(batch["category"].to_numpy(dtype=object), batch["confidence"].to_numpy(), None,
                               setup.baseline.summary["estimator"]["error_destinations"])
    return {"data_drift": bool(report["data_drift"]["detected"]), "any_alarm": bool(report["alarms"]),
            "alarms": sorted(alarm["alarm"] for alarm in report["alarms"]),
            "estimated": report["estimated"]["accuracy"], "raw": raw["accuracy"],
            "true": float(batch["correct"].mean()), "seconds": seconds}


# ---- Evidently, in its own virtual environment

def write_evidently_inputs(setup: Setup, batches: dict[str, np.ndarray], folder: Path, full_report: bool) -> None:
    """The reference (the baseline's reference sample) and each batch: ids, texts (JSON) and vectors (.npy);
    `full_report`: also time Evidently's whole EmbeddingsDrift report once (its t-SNE plot takes about a minute)."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = setup.baseline.messages
    sets = {"reference": (reference["id"].tolist(), reference["text"].tolist(), setup.baseline.vectors)}
    for key, rows in batches.items():
        frame = setup.messages.iloc[rows]
        sets[key] = (frame["id"].tolist(), frame["text"].tolist(), setup.vectors[rows])
    for key, (ids, texts, vectors) in sets.items():
        (folder / f"{key}.json").write_text(json.dumps({"id": ids, "text": texts}, ensure_ascii=False),
                                            encoding="utf-8")
        np.save(folder / f"{key}.npy", np.asarray(vectors, dtype=np.float32))
    (folder / "manifest.json").write_text(json.dumps({"reference": "reference", "batches": list(batches),
                                                      "full_report": full_report}))


def run_evidently(python: str, folder: Path) -> dict | str:
    """Evidently's verdicts per batch ({key: {"text": {...}, "embedding": {...}}}), or why it was not measured."""
    if not Path(python).exists():
        return (f"Evidently not measured: {python} does not exist (make it with `python3 -m venv /work/evidently-venv"
                " && /work/evidently-venv/bin/pip install evidently==0.7.23 \"pandas<3\"`)")
    script = Path(__file__).with_name("evidently_drift.py")
    result = subprocess.run([python, str(script), str(folder)], capture_output=True, text=True)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"Evidently not measured: {script.name} failed ({last})"
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


# ---- the 100,000-message check, in a child process

CHILD = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from processing.features import load_featurizer
from processing.monitoring.baseline import Baseline
from processing.monitoring.check import check_batch, featurizer_embedding
folder = Path(sys.argv[1])
baseline = Baseline.load(folder / "baseline")
featurizer = load_featurizer(folder / "featurizer.joblib", (folder / "featurizer.sha256").read_text())
messages = pd.read_parquet(folder / "messages.parquet")
predictions = pd.read_parquet(folder / "predictions.parquet")
embed = featurizer_embedding(featurizer)
embed(messages.iloc[:10])  # load spaCy's pipelines outside the timing, as a running job has them loaded once
def rss(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) / 1024
before = rss("VmRSS:")
wall, cpu = time.perf_counter(), time.process_time()
report = check_batch(baseline, messages, predictions, embed)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"wall": wall, "cpu": cpu, "rss_before": before, "peak": rss("VmHWM:"),
                  "sampled": report["batch"]["sampled"], "messages": report["batch"]["messages"],
                  "verdict": report["verdict"]}))
"""


def time_big_check(setup: Setup, seed: int) -> dict:
    """check_batch on a 100,000-message batch (the pool sampled with replacement, ids made unique) in a child
    process with the monitor job's real embed (clean + featurize the sample): seconds and memory."""
    from processing.features import save_featurizer

    rng = np.random.default_rng([seed, BIG_BATCH])
    batch = setup.messages.iloc[rng.choice(setup.pool, BIG_BATCH, replace=True)].reset_index(drop=True)
    batch["id"] = [f"{id_}-{n}" for n, id_ in enumerate(batch["id"])]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        setup.baseline.save(tmp / "baseline")
        (tmp / "featurizer.sha256").write_text(save_featurizer(setup.featurizer, tmp / "featurizer.joblib"))
        batch[["id", "text", "lang"]].to_parquet(tmp / "messages.parquet", index=False)
        batch[["id", "category", "confidence", "novel"]].to_parquet(tmp / "predictions.parquet", index=False)
        result = subprocess.run([sys.executable, "-c", CHILD, str(tmp)], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parents[1])
    if result.returncode:
        raise SystemExit(f"the 100,000-message check failed: {(result.stderr.strip().splitlines() or [''])[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- the run and the table

def rate(values: list[bool]) -> str:
    """'k/n (p%)'."""
    return f"{sum(values)}/{len(values)} ({100 * sum(values) / len(values):.0f}%)" if values else "n/a"


def mae_points(results: list[dict], key: str) -> float:
    """Mean absolute error of an accuracy estimate against the true accuracy, in points."""
    return float(np.mean([abs(r[key] - r["true"]) for r in results])) * 100


def evidently_cell(evidently: dict | str, keys: list[str], method: str) -> str:
    """Evidently's detection rate over the batches it was run on."""
    if isinstance(evidently, str):
        return "n/a"
    return rate([evidently[key][method]["drift"] for key in keys if key in evidently])


def evidently_note(evidently: dict, per_scenario: int, seconds: float) -> str:
    """How many batches Evidently judged, its time per batch, and its full embedding report's cost."""
    verdicts = [value for key, value in evidently.items() if not key.startswith("_")]
    if not verdicts:
        return "Evidently was given no batch (--evidently-batches 0)."
    text = np.mean([v["text"]["seconds"] for v in verdicts])
    embedding = np.mean([v["embedding"]["seconds"] for v in verdicts])
    note = (f"Evidently judged the first {per_scenario} batches of each scenario ({len(verdicts)} batches, "
            f"{seconds:.0f} s in all): text drift {text:.2f} s and embedding drift {embedding:.2f} s per batch.")
    full = evidently.get("_embedding_report")
    if full:
        note += (f" Its whole EmbeddingsDrift report (the same method plus a t-SNE plot) took {full['seconds']:.0f} s "
                 f"on one batch, score {'identical' if full['same_score'] else 'DIFFERENT'} to the direct call.")
    return note


def benchmark_dataset(name: str, args, first: bool) -> list[str]:
    """Every row of one dataset; returns the printed lines (a markdown table and notes)."""
    started = time.perf_counter()
    setup = prepare(name, args.featurizer, args.seed)
    c = setup.counts
    summary = setup.baseline.summary
    lines = [f"### {name}: {c['categories']} categories, {c['absent_categories']} absent at training; train "
             f"{c['train']:,} / held-out {c['held_out']:,} / pool {c['pool']:,} known + {c['absent']:,} "
             f"absent-category + {c['spanish']:,} Spanish messages; held-out accuracy "
             f"{100 * summary['performance']['accuracy']:.1f}%, "
             f"reference sample {summary['reference']['size']:,}; doubled category `{setup.doubled_category}`; "
             f"setup {time.perf_counter() - started:.0f} s", ""]
    print(lines[0], flush=True)
    results: dict[str, list[dict]] = {}
    evidently_batches: dict[str, np.ndarray] = {}
    for scenario in SCENARIOS + SIZE_SCENARIOS:
        count = args.batches if scenario.size == BATCH else args.size_batches
        rows_of = [draw_batch(setup, scenario, number, args.seed) for number in range(count)]
        results[scenario.key] = [judge(setup, rows) for rows in rows_of]
        if scenario.size == BATCH:
            evidently_batches.update({f"{scenario.key}-{n}": rows
                                      for n, rows in enumerate(rows_of[:args.evidently_batches])})
        seconds = np.mean([r["seconds"] for r in results[scenario.key]])
        print(f"  {scenario.key}: data drift {rate([r['data_drift'] for r in results[scenario.key]])}, "
              f"{seconds:.2f} s per check", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        started_evidently = time.perf_counter()
        write_evidently_inputs(setup, evidently_batches, Path(tmp), full_report=first)
        evidently = run_evidently(args.evidently_python, Path(tmp))
        evidently_seconds = time.perf_counter() - started_evidently
    lines += ["| scenario | batches | tweetops data drift | tweetops any alarm | Evidently text (ROC AUC > 0.55) "
              f"| Evidently embedding (our {args.featurizer} vectors) | true accuracy | estimate error, ours "
              "| estimate error, raw confidence (CBPE-equivalent) |", "|---|---|---|---|---|---|---|---|---|"]
    for scenario in SCENARIOS:
        found = results[scenario.key]
        keys = [f"{scenario.key}-{n}" for n in range(args.evidently_batches)]
        lines.append(f"| {scenario.label} | {len(found)} | {rate([r['data_drift'] for r in found])} "
                     f"| {rate([r['any_alarm'] for r in found])} | {evidently_cell(evidently, keys, 'text')} "
                     f"| {evidently_cell(evidently, keys, 'embedding')} "
                     f"| {100 * np.mean([r['true'] for r in found]):.1f}% | {mae_points(found, 'estimated'):.2f} pts "
                     f"| {mae_points(found, 'raw'):.2f} pts |")
    everything = [r for scenario in SCENARIOS for r in results[scenario.key]]
    lines.append(f"| all scenarios above | {len(everything)} | | | | | "
                 f"{100 * np.mean([r['true'] for r in everything]):.1f}% "
                 f"| {mae_points(everything, 'estimated'):.2f} pts "
                 f"| {mae_points(everything, 'raw'):.2f} pts |")
    lines.append("")
    by_size = {size: results["new10" if size == BATCH else f"new10@{size}"] for size in SIZES}
    smallest = next((size for size in SIZES if np.mean([r["data_drift"] for r in by_size[size]]) >= DETECTION_BAR),
                    None)
    lines.append("Detection of a 10% new-topic share by batch size: " + ", ".join(
        f"{size:,}: {rate([r['data_drift'] for r in by_size[size]])}" for size in SIZES)
        + f"; smallest batch detecting in >= 90% of batches: {f'{smallest:,}' if smallest else 'none of these'}.")
    fired: dict[str, int] = {}
    for r in results["same"]:
        for alarm in r["alarms"]:
            fired[alarm] = fired.get(alarm, 0) + 1
    lines.append(f"Alarms fired on same-distribution batches: {fired or 'none'}.")
    per_check = np.mean([r["seconds"] for found in results.values() for r in found])
    lines.append(f"check_batch on batches of <= 2,000 (vectors precomputed): {per_check:.2f} s per batch.")
    if isinstance(evidently, str):
        lines.append(evidently)
    else:
        lines.append(evidently_note(evidently, args.evidently_batches, evidently_seconds))
    if args.big and first:
        big = time_big_check(setup, args.seed)
        lines.append(f"Drift check of {big['messages']:,} messages (sample of {big['sampled']:,} embedded with the "
                     f"monitor job's featurizer_embedding): wall {big['wall']:.1f} s, CPU {big['cpu']:.1f} s, child "
                     f"peak RSS {big['peak']:.0f} MiB ({big['rss_before']:.0f} MiB before the check: imports, "
                     f"baseline and the batch); verdict \"{big['verdict']}\".")
    lines.append("")
    for line in lines[1:]:
        print(line, flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print every figure of the drift benchmark, per dataset, with the machine and the date."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=50, help="batches per scenario (default 50)")
    parser.add_argument("--featurizer", default="tfidf", choices=("tfidf", "hybrid"),
                        help="the model's feature space (default tfidf)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--size-batches", type=int, default=20,
                        help="batches per size when searching the smallest detecting batch (default 20)")
    parser.add_argument("--evidently-batches", type=int, default=20,
                        help="batches per scenario given to Evidently too (default 20: it is slower)")
    parser.add_argument("--evidently-python", default=EVIDENTLY_PYTHON,
                        help=f"python of Evidently's own virtual environment (default {EVIDENTLY_PYTHON})")
    parser.add_argument("--no-big", dest="big", action="store_false",
                        help="skip the 100,000-message check (run on the first dataset only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batches < 1 or args.size_batches < 1 or args.evidently_batches < 0:
        parser.error("--batches and --size-batches must be at least 1, --evidently-batches at least 0")
    args.evidently_batches = min(args.evidently_batches, args.batches)
    if shared_data_missing():
        return 0
    started = time.perf_counter()
    print(f"drift benchmark, {datetime.now(timezone.utc):%Y-%m-%d}: {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.2f}), Python {platform.python_version()}; --featurizer {args.featurizer} "
          f"--batches {args.batches} --size-batches {args.size_batches} --evidently-batches {args.evidently_batches} "
          f"--seed {args.seed}", flush=True)
    for number, name in enumerate(args.datasets):
        benchmark_dataset(name, args, first=number == 0)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
