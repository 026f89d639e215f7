"""The monitoring baseline: what the held-out split looked like to the model that was registered.

Made by the training pipeline's Baseline step from the held-out split, its ScoreHeldOut predictions and the
ValidateClean report, and registered with the model package, so that every approved package carries the
reference it is watched against. Files (no pickle but the featurizer, which is verified by its digest):

    baseline.json       shares, descriptors, the estimator's calibration, the kernel bandwidth, digests
    reference.npz       a seeded sample of the held-out feature vectors (the model's feature space), and the
                        held-out confidences and text lengths
    reference.parquet   the sampled messages (id, text, lang, feature_text): what "changed terms" compare with
    vocabulary.json     the classifier's words: how many words of a message it never saw is a drift signal
    featurizer.joblib   the featurizer that made the vectors (a monitored batch is featurized with it)
    statistics.json, constraints.json   the tabular descriptors in SageMaker Model Monitor's formats
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from processing.monitoring.drift import distinct_rows, median_bandwidth, unknown_word_shares
from processing.monitoring.estimate import error_destinations, estimate_performance, fit_calibration

BASELINE_FILE = "baseline.json"
REFERENCE_VECTORS = "reference.npz"
REFERENCE_MESSAGES = "reference.parquet"
VOCABULARY_FILE = "vocabulary.json"
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
REFERENCE_SIZE = 2000  # rows of the reference sample: the two-sample test's cost grows with its square
SCHEMA = "tweetops.monitoring.baseline/1"


@dataclass
class Baseline:
    """A package's baseline: the summary (JSON), the reference vectors and messages, held-out descriptors."""
    summary: dict
    vectors: np.ndarray
    messages: pd.DataFrame
    confidences: np.ndarray
    text_lengths: np.ndarray
    vocabulary: frozenset[str] = frozenset()  # the classifier's words (empty: no unknown-words test)
    unknown_shares: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per held-out message
    novel_flags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per held-out message

    def save(self, folder: str | Path) -> None:
        """Write baseline.json, reference.npz, reference.parquet and the Model Monitor files (atomically each)."""
        from processing.storage import atomic_output, write_json_atomic

        folder = Path(folder)
        with atomic_output(folder / REFERENCE_VECTORS) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, vectors=self.vectors.astype(np.float32), confidences=self.confidences,
                         text_lengths=self.text_lengths, unknown_shares=self.unknown_shares,
                         novel_flags=self.novel_flags)
        write_json_atomic(folder / VOCABULARY_FILE, sorted(self.vocabulary))
        with atomic_output(folder / REFERENCE_MESSAGES) as tmp:
            self.messages.to_parquet(tmp, index=False)
        write_json_atomic(folder / STATISTICS_FILE, model_monitor_statistics(self))
        write_json_atomic(folder / CONSTRAINTS_FILE, model_monitor_constraints(self))
        write_json_atomic(folder / BASELINE_FILE, self.summary)

    @classmethod
    def load(cls, folder: str | Path) -> "Baseline":
        """Read a baseline folder (ValueError naming the folder when it is not one)."""
        folder = Path(folder)
        try:
            summary = json.loads((folder / BASELINE_FILE).read_text(encoding="utf-8"))
            if not isinstance(summary, dict) or summary.get("schema") != SCHEMA:
                raise ValueError(f"not a {SCHEMA} document")
            with np.load(folder / REFERENCE_VECTORS, allow_pickle=False) as arrays:
                vectors, confidences, lengths = arrays["vectors"], arrays["confidences"], arrays["text_lengths"]
                unknown = arrays["unknown_shares"] if "unknown_shares" in arrays else np.zeros(0)
                novel = arrays["novel_flags"] if "novel_flags" in arrays else np.zeros(0, dtype=bool)
            messages = pd.read_parquet(folder / REFERENCE_MESSAGES)
            words = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8")) \
                if (folder / VOCABULARY_FILE).is_file() else []
            if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
                raise ValueError(f"{VOCABULARY_FILE} is not a list of words")
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{folder}: not a monitoring baseline ({error})") from None
        return cls(summary, vectors, messages, confidences, lengths, frozenset(words), unknown, novel)


def text_lengths(texts: pd.Series) -> np.ndarray:
    """Characters per message."""
    return texts.fillna("").astype(str).str.len().to_numpy(dtype=float)


def quarantine_figures(reports: list[dict]) -> dict:
    """Rows in, the quarantined share and counts by reason, summed over validation reports (one per shard)."""
    rows_in = sum(int(report.get("rows_in", 0)) for report in reports)
    quarantined = sum(int(report.get("rows_quarantined", 0)) for report in reports)
    by_reason: dict[str, int] = {}
    for report in reports:
        for reason, count in (report.get("by_reason") or {}).items():
            by_reason[reason] = by_reason.get(reason, 0) + int(count)
    return {"rows_in": rows_in, "share": round(quarantined / rows_in, 6) if rows_in else None,
            "by_reason": {reason: count for reason, count in sorted(by_reason.items()) if count}}


def build_baseline(messages: pd.DataFrame, predictions: pd.DataFrame, vectors: np.ndarray,
                   quality_reports: list[dict] | None = None, *, seed: int = 0,
                   reference_size: int = REFERENCE_SIZE, featurizer: dict | None = None,
                   vocabulary: frozenset[str] = frozenset()) -> Baseline:
    """The baseline of a held-out split: `messages` (id, text, lang, feature_text and the `category` label it
    was trained against), its `predictions` (id, category, confidence, novel) and its feature `vectors`
    (rows aligned with `messages`)."""
    if len(messages) != len(vectors):
        raise ValueError(f"{len(messages)} held-out messages but {len(vectors)} feature vectors")
    scored = predictions[predictions["error"].isna()] if "error" in predictions else predictions
    for name, frame in (("held-out messages", messages), ("held-out predictions", scored)):
        if frame["id"].duplicated().any():
            raise ValueError(f"the {name} repeat ids (e.g. {frame['id'][frame['id'].duplicated()].iloc[0]!r}): "
                             "a baseline pairs each message with its one prediction")
    joined = messages.reset_index(drop=True).merge(
        scored[["id", "category", "confidence", "novel"]].rename(columns={"category": "predicted"}),
        on="id", how="inner", validate="one_to_one")
    if joined.empty:
        raise ValueError("no held-out message has a prediction: the baseline needs the ScoreHeldOut output")
    predicted = joined["predicted"].astype(str).to_numpy(dtype=object)
    truth = joined["category"].astype(str).to_numpy(dtype=object)
    confidence = joined["confidence"].astype(float).to_numpy()
    classes = sorted(set(truth) | set(predicted))
    calibration = fit_calibration(confidence, predicted == truth)
    destinations = error_destinations(predicted, truth, classes)
    from processing.evaluation import classification_scores

    actual = classification_scores(truth, predicted)
    estimated = estimate_performance(predicted, confidence, calibration, destinations)

    # The reference sample holds distinct texts only (copies are not independent draws), as the batch sample does.
    distinct = np.flatnonzero(~messages["text"].duplicated().to_numpy())
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(distinct, size=min(reference_size, len(distinct)), replace=False))
    sample = sample[distinct_rows(np.asarray(vectors)[sample])]
    reference = np.asarray(vectors, dtype=np.float32)[sample]
    columns = [c for c in ("id", "text", "lang", "feature_text") if c in messages.columns]
    counts = pd.Series(predicted).value_counts()
    languages = messages["lang"].fillna("other").value_counts() if "lang" in messages else pd.Series(dtype=int)
    summary = {
        "schema": SCHEMA,
        "messages": int(len(joined)),
        "classes": classes,
        "category_counts": {str(c): int(counts.get(c, 0)) for c in classes},
        "novel": {"count": int(joined["novel"].fillna(False).astype(bool).sum()),
                  "share": round(float(joined["novel"].fillna(False).astype(bool).mean()), 6)},
        "confidence_mean": float(confidence.mean()),
        "language_counts": {str(k): int(v) for k, v in sorted(languages.items())},
        "quarantine": quarantine_figures(quality_reports or []),
        "estimator": {"calibration": calibration, "error_destinations": destinations},
        "performance": {"accuracy": actual["accuracy"]["value"], "macro_f1": actual["macro_f1"]["value"],
                        "estimated_accuracy": estimated["accuracy"], "estimated_macro_f1": estimated["macro_f1"]},
        "reference": {"size": int(len(sample)), "dimensions": int(reference.shape[1]) if reference.ndim == 2 else 0,
                      "bandwidth": median_bandwidth(reference, seed=seed), "seed": seed},
        "featurizer": featurizer or {},
    }
    unknown = unknown_word_shares(joined["feature_text"].fillna("").tolist(), vocabulary) if vocabulary \
        else np.zeros(0)
    return Baseline(summary, reference, messages.iloc[sample][columns].reset_index(drop=True),
                    confidence, text_lengths(joined["text"]), frozenset(vocabulary), unknown,
                    joined["novel"].fillna(False).astype(bool).to_numpy())


# ---- SageMaker Model Monitor's formats (for accounts that have it: `tweetops monitoring attach`)

def _numerical(name: str, values: np.ndarray) -> dict:
    counts, edges = np.histogram(values, bins=10)
    return {"name": name, "inferred_type": "Fractional", "numerical_statistics": {
        "common": {"num_present": int(len(values)), "num_missing": 0},
        "mean": float(values.mean()), "sum": float(values.sum()), "std_dev": float(values.std()),
        "min": float(values.min()), "max": float(values.max()),
        "distribution": {"kll": {"buckets": [
            {"lower_bound": float(lo), "upper_bound": float(hi), "count": float(n)}
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)]}}}}


def _categorical(name: str, counts: dict[str, int]) -> dict:
    present = sum(counts.values())
    return {"name": name, "inferred_type": "String", "string_statistics": {
        "common": {"num_present": int(present), "num_missing": 0}, "distinct_count": float(len(counts)),
        "distribution": {"categorical": {"buckets": [{"value": str(k), "count": int(v)} for k, v in counts.items()]}}}}


def model_monitor_statistics(baseline: Baseline) -> dict:
    """statistics.json (Model Monitor's schema) of the tabular descriptors: category, confidence, text length,
    language."""
    summary = baseline.summary
    return {"version": 0.0, "dataset": {"item_count": summary["messages"]}, "features": [
        _categorical("category", summary["category_counts"]),
        _numerical("confidence", baseline.confidences),
        _numerical("text_length", baseline.text_lengths),
        _categorical("lang", summary["language_counts"]),
    ]}


def model_monitor_constraints(baseline: Baseline) -> dict:
    """constraints.json (Model Monitor's schema): types, completeness, the known categories and languages."""
    summary = baseline.summary
    return {"version": 0.0, "features": [
        {"name": "category", "inferred_type": "String", "completeness": 1.0,
         "string_constraints": {"domains": list(summary["category_counts"])}},
        {"name": "confidence", "inferred_type": "Fractional", "completeness": 1.0,
         "num_constraints": {"is_non_negative": True}},
        {"name": "text_length", "inferred_type": "Fractional", "completeness": 1.0,
         "num_constraints": {"is_non_negative": True}},
        {"name": "lang", "inferred_type": "String", "completeness": 1.0,
         "string_constraints": {"domains": list(summary["language_counts"])}},
    ], "monitoring_config": {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1,
                                     "comparison_method": "Robust"}}}
