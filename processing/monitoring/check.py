"""The drift check of one scored batch against its package's baseline: report.json's content (docs/monitoring.md).

`check_batch` is pure: messages, predictions and validation reports in, the report out. The feature vectors
of the batch come from `embed`, a function of a frame of messages (id, text, lang) returning their
feature_text and vectors in the baseline's feature space (`featurizer_embedding` makes one from the
package's featurizer); it is called on a seeded sample only, so the check's cost is bounded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd

from processing.monitoring import alarms, metrics
from processing.monitoring.baseline import Baseline, quarantine_figures, text_lengths
from processing.monitoring.drift import (changed_terms, distinct_rows, distribution_shift, drift_test,
                                         prediction_drift, unknown_word_shares, unknown_words_test,
                                         share_test, two_proportion_p_value)
from processing.monitoring.estimate import chance_correct, estimate_performance, unknown_words_correction

SCHEMA = "tweetops.monitoring.report/1"
Embed = Callable[[pd.DataFrame], tuple[list[str], np.ndarray]]
CONFIDENCE_EDGES = np.linspace(0.0, 1.0, 11)
EXAMPLES = 8
UNKNOWN_WORDS_QUANTILE = 0.95  # as drift.unknown_words_test: "mostly unseen words" = above the 95th percentile
DISTINCTIVE_Z = 3.0  # as for the whole batch; the words are ranked by z, strongest first


@dataclass(frozen=True)
class MonitorSettings:
    """How a batch is judged: test levels, sample sizes, the smallest batch judged, alarm threshold overrides."""
    alpha: float = 0.05  # data drift: the false-alarm rate on batches from the baseline's own distribution
    prediction_alpha: float = 0.01
    min_share_change: float = 0.02
    min_messages: int = 200
    sample_size: int = 2000
    permutations: int = 500
    seed: int = 0
    thresholds: dict = field(default_factory=dict)


def featurizer_embedding(featurizer, cleaner=None) -> Embed:
    """An `embed` function: clean the messages (spaCy, as in training), then transform with the featurizer."""
    from processing.clean import TextCleaner

    cleaner = cleaner or TextCleaner()

    def embed(frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        cleaned = cleaner.transform(frame)
        return cleaned["feature_text"].fillna("").astype(str).tolist(), np.asarray(featurizer.transform(cleaned))
    return embed


def _verdict(report: dict) -> str:
    if not report["judged"]:
        return report["verdict"]
    fired = [alarm["alarm"] for alarm in report["alarms"]]
    return f"drift: {', '.join(fired)}" if fired else "no drift"


def _correct_for_unknown_words(estimated: dict, baseline: Baseline, unknown: np.ndarray, sample: pd.DataFrame,
                               scored: pd.DataFrame, estimator: dict) -> None:
    """Lower the estimated accuracy by the sampled messages made mostly of unseen words beyond the baseline's
    share of them (estimate.unknown_words_correction); novel-flagged ones are already counted."""
    limit = float(np.quantile(baseline.unknown_shares, UNKNOWN_WORDS_QUANTILE))
    flags = sample[["id"]].merge(scored[["id", "confidence", "novel"]], on="id", how="left")
    novel = flags["novel"].fillna(False).astype(bool).to_numpy()
    suspect = (unknown > limit) & ~novel
    held_out_novel = baseline.novel_flags if len(baseline.novel_flags) == len(baseline.unknown_shares) else False
    baseline_share = float(((baseline.unknown_shares > limit) & ~held_out_novel).mean())
    right = chance_correct(flags["confidence"].astype(float).to_numpy(), estimator["calibration"])
    correction = unknown_words_correction(right, suspect, baseline_share)
    estimated["unknown_words_correction"] = round(correction, 6)
    if estimated["accuracy"] is not None:
        estimated["accuracy"] = max(0.0, estimated["accuracy"] - correction)


def check_batch(baseline: Baseline, messages: pd.DataFrame, predictions: pd.DataFrame, embed: Embed,
                quality_reports: list[dict] | None = None, settings: MonitorSettings = MonitorSettings(),
                context: dict | None = None) -> dict:
    """Judge one batch: data drift, prediction drift, confidence, estimated performance, novelty, descriptors,
    and the alarms that fire. A batch below `settings.min_messages` is described but not judged."""
    summary = baseline.summary
    scored = predictions[predictions["error"].isna()] if "error" in predictions else predictions
    scored = scored.reset_index(drop=True)
    n = len(scored)
    quarantine = quarantine_figures(quality_reports or [])
    judged = n >= settings.min_messages
    report = {
        "schema": SCHEMA,
        "batch": {"rows_in": quarantine["rows_in"] or int(len(predictions)), "messages": n, "sampled": 0,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(context or {})},
        "judged": judged,
        "verdict": "" if judged else f"too few messages to judge: {n} < minimum {settings.min_messages}",
        "data_drift": None, "prediction_drift": None, "confidence": None, "estimated": None,
        "novel_share": None, "novelty": None, "descriptors": None, "alarms": [],
    }
    if n == 0:
        return report

    # ---- prediction drift, confidence, novelty, estimate: from the predictions alone
    batch_counts = scored["category"].astype(str).value_counts().to_dict()
    drift = prediction_drift(summary["category_counts"], batch_counts, settings.prediction_alpha,
                             settings.min_share_change)
    confidence = scored["confidence"].astype(float).to_numpy()
    novel = scored["novel"].fillna(False).astype(bool).to_numpy()
    estimator = summary["estimator"]
    estimated = estimate_performance(scored["category"].astype(str).to_numpy(dtype=object), confidence,
                                     estimator["calibration"], estimator["error_destinations"],
                                     novel=novel, baseline_novel_share=summary["novel"]["share"])
    report["prediction_drift"] = drift if judged else {**drift, "detected": None}
    report["confidence"] = distribution_shift(baseline.confidences, confidence, CONFIDENCE_EDGES)
    report["estimated"] = {**estimated, "baseline_estimated_accuracy": summary["performance"]["estimated_accuracy"],
                           "baseline_accuracy": summary["performance"]["accuracy"],
                           "baseline_macro_f1": summary["performance"]["macro_f1"],
                           "method": "confidence-based (CBPE-style), recalibrated on the held-out split, "
                                     "novel messages and messages of unseen words above the baseline's shares "
                                     "counted as wrong"}
    report["novel_share"] = round(float(novel.mean()), 6)
    report["novelty"] = {"baseline_share": summary["novel"]["share"], "batch_share": report["novel_share"],
                         "increase": round(report["novel_share"] - summary["novel"]["share"], 6),
                         "count": int(novel.sum()), "queued": int(novel.sum()),
                         "p_value": two_proportion_p_value(int(novel.sum()), n, summary["novel"]["count"],
                                                           summary["messages"], alternative="greater")}

    # ---- descriptors: text length, languages, quarantine
    batch_messages = messages.merge(scored[["id"]], on="id", how="inner")
    lengths = text_lengths(batch_messages["text"])
    upper = max(float(np.quantile(baseline.text_lengths, 0.99)) if len(baseline.text_lengths) else 1.0, 1.0)
    languages = batch_messages["lang"].fillna("other").value_counts().to_dict() if "lang" in batch_messages else {}
    report["descriptors"] = {
        "text_length": distribution_shift(baseline.text_lengths, lengths, np.linspace(0.0, upper, 11)),
        "languages": share_test(summary["language_counts"], {str(k): int(v) for k, v in languages.items()}),
        "quarantine": {"share": quarantine["share"], "baseline_share": summary["quarantine"]["share"],
                       "by_reason": quarantine["by_reason"]},
    }

    # ---- data drift: the two-sample test on a seeded sample, in the model's feature space
    if judged:
        # Distinct texts only: retweets and copies within a batch are not independent draws, and the test
        # (like the baseline's reference sample) assumes they are.
        distinct = batch_messages.drop_duplicates("text").reset_index(drop=True)
        rng = np.random.default_rng(settings.seed)
        rows = np.sort(rng.choice(len(distinct), size=min(settings.sample_size, len(distinct)), replace=False))
        sample = distinct.iloc[rows].reset_index(drop=True)
        feature_texts, vectors = embed(sample)
        keep = distinct_rows(vectors)
        sample, vectors = sample.iloc[keep].reset_index(drop=True), vectors[keep]
        feature_texts = [feature_texts[i] for i in keep]
        test = drift_test(baseline.vectors, vectors, summary["reference"]["bandwidth"], settings.permutations,
                          settings.seed)
        p_values = {"mmd_p_value": test["mmd_p_value"], "knn_p_value": test["knn_p_value"]}
        if baseline.vocabulary and len(baseline.unknown_shares):
            unknown = unknown_word_shares(feature_texts, baseline.vocabulary)
            p_values["unknown_words_p_value"] = unknown_words_test(baseline.unknown_shares, unknown)
            _correct_for_unknown_words(report["estimated"], baseline, unknown, sample, scored, estimator)
        p_value = min(1.0, len(p_values) * min(p_values.values()))  # Bonferroni: at most alpha when nothing changed
        top = np.lexsort((sample["id"].astype(str).to_numpy(), -test["witness"]))[:EXAMPLES]
        reference_texts = baseline.messages["feature_text"].fillna("").astype(str).tolist()
        detected = bool(p_value < settings.alpha)
        # What the drift is made of: the words of the tenth of the sample the witness ranks most unlike the
        # baseline (only when drift was detected: in any batch some tenth is "most unlike", by construction).
        unlike = np.argsort(-test["witness"], kind="stable")[:max(len(sample) // 10, 1)]
        distinctive = changed_terms(reference_texts, [feature_texts[i] for i in unlike], min_z=DISTINCTIVE_Z) \
            if detected else {"more_frequent": []}
        report["batch"]["sampled"] = int(len(sample))
        report["data_drift"] = {
            "detected": detected,
            "method": "MMD and k-nearest-neighbour permutation tests in the model's feature space and the share "
                      "of messages made mostly of words the classifier never saw, Bonferroni-combined",
            "statistic": test["statistic"], "p_value": p_value, "alpha": settings.alpha, **p_values,
            "knn_statistic": test["knn_statistic"],
            "permutations": settings.permutations, "reference_size": int(len(baseline.vectors)),
            "batch_sample": int(len(sample)),
            "changed_terms": changed_terms(reference_texts, feature_texts),
            "distinctive_terms": distinctive["more_frequent"],
            "examples": [{"id": str(sample["id"].iloc[i]), "text": str(sample["text"].iloc[i]),
                          "score": round(float(test["witness"][i]), 6)} for i in top],
        }
    estimated = report["estimated"]
    if estimated["accuracy"] is not None and estimated["baseline_estimated_accuracy"] is not None:
        estimated["accuracy_drop"] = round(estimated["baseline_estimated_accuracy"] - estimated["accuracy"], 6)
    if judged:
        report["alarms"] = alarms.evaluate_alarms(metrics.batch_metrics(report), settings.thresholds)
    report["verdict"] = _verdict(report)
    return report
