"""Specification of check_batch: a small batch is described but not judged, a batch from the baseline's own
distribution fires nothing, and a batch with a new topic fires data drift and names the new words."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from processing.monitoring.baseline import build_baseline
from processing.monitoring.check import SCHEMA, MonitorSettings, check_batch
from tests.processing.monitoring import (NEW_TOPIC, TOPICS, fitted_embedding, synthetic_messages,
                                         synthetic_predictions)

SETTINGS = MonitorSettings(permutations=200, sample_size=800)
QUALITY = [{"rows_in": 1000, "rows_quarantined": 30, "by_reason": {"empty_text": 30}}]


@pytest.fixture(scope="module")
def baseline_and_embed():
    held_out = synthetic_messages(1000, seed=0)
    embed = fitted_embedding(held_out["text"].tolist())
    _, vectors = embed(held_out)
    baseline = build_baseline(held_out, synthetic_predictions(held_out, seed=1), vectors, QUALITY,
                              seed=0, reference_size=800)
    return baseline, embed


def batch_of(rows: int, seed: int, new_topic_share: float = 0.0):
    """A batch (messages, predictions) with the given share of messages about a topic absent at training."""
    new = int(rows * new_topic_share)
    messages = pd.concat([synthetic_messages(rows - new, seed=seed, prefix="b"),
                          synthetic_messages(new, seed=seed + 1000, topics=NEW_TOPIC, prefix="n")],
                         ignore_index=True)
    return messages[["id", "text", "lang"]].assign(category=messages["category"]), \
        synthetic_predictions(messages, seed=seed + 1)


def check(baseline_and_embed, batch, settings=SETTINGS):
    baseline, embed = baseline_and_embed
    messages, predictions = batch
    return check_batch(baseline, messages.drop(columns="category"), predictions, embed,
                       [{"rows_in": len(messages), "rows_quarantined": 0, "by_reason": {}}], settings,
                       {"model_package": "pkg/1", "pipeline": "inference"})


def test_a_batch_smaller_than_the_minimum_is_described_but_not_judged(baseline_and_embed):
    report = check(baseline_and_embed, batch_of(150, seed=5, new_topic_share=0.5))
    assert report["judged"] is False
    assert report["verdict"] == "too few messages to judge: 150 < minimum 200"
    assert report["alarms"] == [] and report["data_drift"] is None
    assert report["prediction_drift"]["detected"] is None  # shares are shown, not judged
    assert report["batch"]["messages"] == 150 and report["batch"]["sampled"] == 0
    assert report["estimated"]["accuracy"] is not None and report["descriptors"] is not None


def test_a_batch_from_the_baselines_distribution_fires_no_alarm(baseline_and_embed):
    report = check(baseline_and_embed, batch_of(600, seed=7))
    assert report["schema"] == SCHEMA and report["judged"] is True
    assert report["alarms"] == [] and report["verdict"] == "no drift"
    assert report["data_drift"]["detected"] is False and report["data_drift"]["p_value"] >= 0.05
    assert report["prediction_drift"]["detected"] is False
    assert report["data_drift"]["distinctive_terms"] == []
    assert report["estimated"]["accuracy"] == pytest.approx(report["estimated"]["baseline_accuracy"], abs=0.05)


def test_a_batch_with_a_new_topic_fires_data_drift_and_names_the_new_words(baseline_and_embed):
    report = check(baseline_and_embed, batch_of(600, seed=9, new_topic_share=0.2))
    drift = report["data_drift"]
    assert drift["detected"] is True and drift["p_value"] < 0.05
    assert "data-drift" in [alarm["alarm"] for alarm in report["alarms"]]
    assert report["verdict"].startswith("drift: ") and "data-drift" in report["verdict"]
    more = [item["term"] for item in drift["changed_terms"]["more_frequent"]]
    assert more and set(more[:5]) <= set(NEW_TOPIC["fraud"])
    distinctive = [item["term"] for item in drift["distinctive_terms"]]
    assert distinctive and set(distinctive) & set(NEW_TOPIC["fraud"])
    assert not set(distinctive) & {word for words in TOPICS.values() for word in words}
    # The messages most unlike the baseline are the new topic's.
    assert sum(example["id"].startswith("n") for example in drift["examples"]) >= len(drift["examples"]) - 1


def test_the_novel_share_rises_with_the_new_topic(baseline_and_embed):
    report = check(baseline_and_embed, batch_of(600, seed=9, new_topic_share=0.2))
    assert report["novel_share"] >= 0.2 and report["novelty"]["increase"] > 0.15
    assert report["novelty"]["count"] == report["novelty"]["queued"] >= 120
    assert report["novelty"]["p_value"] < 1e-6
    assert "novel-share" in [alarm["alarm"] for alarm in report["alarms"]]


def test_the_report_has_the_shared_schemas_sections_and_is_plain_json(baseline_and_embed):
    report = check(baseline_and_embed, batch_of(400, seed=11))
    assert {"schema", "batch", "judged", "verdict", "data_drift", "prediction_drift", "confidence", "estimated",
            "novel_share", "novelty", "descriptors", "alarms"} <= set(report)
    assert report["batch"]["model_package"] == "pkg/1" and report["batch"]["rows_in"] == 400
    assert len(report["confidence"]["histogram"]["edges"]) == 11
    assert sum(report["confidence"]["histogram"]["batch"]) == pytest.approx(1.0, abs=1e-5)
    assert set(report["descriptors"]["languages"]["batch"]) == {"es", "en"}
    assert report["descriptors"]["quarantine"] == {"share": 0.0, "baseline_share": 0.03, "by_reason": {}}
    json.dumps(report, allow_nan=False)


def test_a_seeded_check_reproduces_its_figures(baseline_and_embed):
    first, second = (check(baseline_and_embed, batch_of(300, seed=13, new_topic_share=0.1)) for _ in range(2))
    for report in (first, second):
        report["batch"].pop("created")
    assert first == second


def test_a_doubled_category_fires_prediction_drift(baseline_and_embed):
    messages, predictions = batch_of(600, seed=15)
    doubled = predictions.assign(category=np.where(np.arange(600) % 3 == 0, "billing", predictions["category"]))
    report = check(baseline_and_embed, (messages, doubled))
    assert report["prediction_drift"]["detected"] is True
    assert report["prediction_drift"]["categories"][0]["category"] == "billing"
    assert "prediction-drift" in [alarm["alarm"] for alarm in report["alarms"]]
