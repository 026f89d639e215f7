"""Evidently's drift verdicts on the batches benchmarks/drift.py wrote: run with the python of Evidently's own
virtual environment (evidently 0.7.23 does not import with pandas 3, which tweetops uses):

    python3 -m venv /work/evidently-venv && /work/evidently-venv/bin/pip install evidently==0.7.23 "pandas<3"
    /work/evidently-venv/bin/python benchmarks/evidently_drift.py FOLDER

FOLDER holds manifest.json ({"reference": key, "batches": [key, ...]}) and per key `<key>.json` ({"id": [...],
"text": [...]}) and `<key>.npy` (the feature vectors, rows aligned). Writes FOLDER/results.json:
{key: {"text": {"drift", "score", "seconds"}, "embedding": {"drift", "score", "seconds"}}, "_embedding_report":
{...}}. This file imports nothing from tweetops: it runs in an environment that does not have it.

- text: Evidently's default text drift, `Report([DataDriftPreset()])` on a dataset whose only column is `text`
  (DataDefinition(text_columns=["text"])): a domain classifier on TF-IDF, drift when its ROC AUC > 0.55 (a
  bootstrap null below 1,000 reference rows). Detected = the preset's DriftedColumnsCount counts the column.
- embedding: Evidently's default embedding drift method (`model()`, a domain classifier on the vectors, ROC AUC >
  0.55, bootstrap below 1,000 reference rows), called exactly as its EmbeddingsDrift metric calls it. The metric
  itself also fits a t-SNE of up to 5,000 rows for its plot on every run (about a minute here); that plot does not
  change the verdict, so it runs only when the manifest asks ("full_report": true), on the first batch, where its
  score is checked against the direct call and its time reported.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def load(folder: Path, key: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The texts and vectors of one set."""
    texts = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
    return pd.DataFrame({"text": texts["text"]}), np.load(folder / f"{key}.npy", allow_pickle=False)


def embedding_frame(vectors: np.ndarray) -> pd.DataFrame:
    """One column per vector component, as Evidently takes embeddings."""
    return pd.DataFrame(vectors.astype(np.float64), columns=[f"e{i}" for i in range(vectors.shape[1])])


def text_drift(reference: pd.DataFrame, batch: pd.DataFrame) -> dict:
    """Evidently's default text drift: DataDriftPreset on the text column."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(text_columns=["text"])
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(batch, data_definition=definition),
                                               Dataset.from_pandas(reference, data_definition=definition))
    seconds = time.perf_counter() - start
    metrics = snapshot.dict()["metrics"]
    count = next(m for m in metrics if m["metric_name"].startswith("DriftedColumnsCount"))["value"]["count"]
    score = next(m for m in metrics if m["metric_name"].startswith("ValueDrift(column=text"))["value"]
    return {"drift": bool(count >= 1), "score": float(score), "seconds": seconds}


def embedding_drift(reference: np.ndarray, batch: np.ndarray) -> dict:
    """Evidently's default embedding drift method, with the arguments its EmbeddingsDrift metric gives it."""
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import model

    start = time.perf_counter()
    score, drift, _ = model(bootstrap=len(reference) < 1000)(embedding_frame(batch), embedding_frame(reference))
    return {"drift": bool(drift), "score": float(score), "seconds": time.perf_counter() - start}


def embedding_report(reference: np.ndarray, batch: np.ndarray) -> dict:
    """The full EmbeddingsDrift metric (with its t-SNE plot) on one batch: its score and time."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift

    ref, cur = embedding_frame(reference), embedding_frame(batch)
    definition = DataDefinition(embeddings={"features": list(ref.columns)})
    start = time.perf_counter()
    snapshot = Report([EmbeddingsDrift(embeddings_name="features")]).run(
        Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition))
    return {"score": float(snapshot.dict()["metrics"][0]["value"]), "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    """Run both methods on every batch of the folder and write results.json."""
    if len(argv) != 1 or not (Path(argv[0]) / "manifest.json").is_file():
        print("usage: evidently_drift.py FOLDER (a folder with manifest.json)", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")  # Evidently warns on every run about its legacy parts
    folder = Path(argv[0])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    reference_texts, reference_vectors = load(folder, manifest["reference"])
    results: dict = {}
    for key in manifest["batches"]:
        texts, vectors = load(folder, key)
        results[key] = {"text": text_drift(reference_texts, texts),
                        "embedding": embedding_drift(reference_vectors, vectors)}
    if manifest["batches"] and manifest.get("full_report"):
        first = manifest["batches"][0]
        full = embedding_report(reference_vectors, load(folder, first)[1])
        full["same_score"] = bool(np.isclose(full["score"], results[first]["embedding"]["score"]))
        results["_embedding_report"] = full
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
