"""Specification of the monitoring baseline: what it records of a held-out split, its reference sample of
distinct messages, the save/load round trip, the refusal of a folder that is not one, and Model Monitor's
statistics.json / constraints.json formats."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from processing.monitoring.baseline import (SCHEMA, Baseline, build_baseline, model_monitor_constraints,
                                            model_monitor_statistics, quarantine_figures)
from tests.processing.monitoring import fitted_embedding, synthetic_messages, synthetic_predictions

QUALITY_REPORTS = [{"rows_in": 400, "rows_quarantined": 20, "by_reason": {"empty_text": 15, "duplicate_id": 5}},
                   {"rows_in": 400, "rows_quarantined": 4, "by_reason": {"empty_text": 4, "too_long": 0}}]


@pytest.fixture(scope="module")
def held_out():
    """600 held-out messages of which the last 60 repeat earlier texts (retweets), with predictions and vectors."""
    messages = synthetic_messages(600, seed=0)
    messages.loc[540:, "text"] = messages["text"].iloc[:60].to_numpy()
    messages["feature_text"] = messages["text"]
    predictions = synthetic_predictions(messages, seed=1)
    _, vectors = fitted_embedding(messages["text"].tolist())(messages)
    return messages, predictions, vectors


@pytest.fixture(scope="module")
def baseline(held_out) -> Baseline:
    messages, predictions, vectors = held_out
    return build_baseline(messages, predictions, vectors, QUALITY_REPORTS, seed=3, reference_size=400,
                          featurizer={"name": "test", "sha256": "0" * 64})


def test_the_summary_records_the_held_out_shares_and_descriptors(held_out, baseline):
    messages, predictions, _ = held_out
    summary = baseline.summary
    assert summary["schema"] == SCHEMA and summary["messages"] == 600
    assert summary["category_counts"] == predictions["category"].value_counts().to_dict()
    assert summary["classes"] == sorted(set(messages["category"]) | set(predictions["category"]))
    assert summary["novel"] == {"count": int(predictions["novel"].sum()),
                                "share": round(float(predictions["novel"].mean()), 6)}
    assert summary["language_counts"] == messages["lang"].value_counts().sort_index().to_dict()
    assert summary["confidence_mean"] == pytest.approx(predictions["confidence"].astype(float).mean())
    assert summary["featurizer"] == {"name": "test", "sha256": "0" * 64}
    assert baseline.text_lengths.tolist() == messages["text"].str.len().tolist()


def test_the_summary_holds_the_actual_and_the_estimated_held_out_performance(held_out, baseline):
    messages, predictions, _ = held_out
    performance = baseline.summary["performance"]
    assert performance["accuracy"] == pytest.approx(accuracy_score(messages["category"], predictions["category"]))
    # Calibrated on this very split, the estimate reproduces the held-out accuracy.
    assert performance["estimated_accuracy"] == pytest.approx(performance["accuracy"], abs=0.01)
    assert set(baseline.summary["estimator"]) == {"calibration", "error_destinations"}


def test_quarantine_figures_sum_the_validation_reports_of_every_shard():
    assert quarantine_figures(QUALITY_REPORTS) == {"rows_in": 800, "share": 0.03,
                                                   "by_reason": {"duplicate_id": 5, "empty_text": 19}}
    assert quarantine_figures([]) == {"rows_in": 0, "share": None, "by_reason": {}}


def test_the_reference_sample_holds_distinct_texts_only(baseline):
    reference = baseline.messages
    assert reference["text"].is_unique and reference["id"].is_unique
    assert len(reference) == len(baseline.vectors) == baseline.summary["reference"]["size"]
    assert 300 <= len(reference) <= 400  # at most reference_size, minus near copies
    assert baseline.vectors.dtype == np.float32 and baseline.vectors.shape[1] == 40
    assert list(reference.columns) == ["id", "text", "lang", "feature_text"]
    assert baseline.summary["reference"]["bandwidth"] > 0


def test_the_reference_vectors_are_the_held_out_vectors_of_the_sampled_messages(held_out, baseline):
    messages, _, vectors = held_out
    rows = messages.reset_index().set_index("id").loc[baseline.messages["id"], "index"].to_numpy()
    assert np.array_equal(baseline.vectors, vectors[rows].astype(np.float32))


def test_the_reference_sample_is_reproducible_from_its_seed(held_out, baseline):
    again = build_baseline(*held_out, QUALITY_REPORTS, seed=3, reference_size=400)
    other = build_baseline(*held_out, QUALITY_REPORTS, seed=4, reference_size=400)
    assert again.messages["id"].tolist() == baseline.messages["id"].tolist()
    assert other.messages["id"].tolist() != baseline.messages["id"].tolist()


def test_save_and_load_round_trip(baseline, tmp_path):
    baseline.save(tmp_path)
    loaded = Baseline.load(tmp_path)
    assert loaded.summary == baseline.summary
    assert np.array_equal(loaded.vectors, baseline.vectors)
    assert np.array_equal(loaded.confidences, baseline.confidences)
    assert np.array_equal(loaded.text_lengths, baseline.text_lengths)
    pd.testing.assert_frame_equal(loaded.messages, baseline.messages)
    assert {path.name for path in tmp_path.iterdir()} == {"baseline.json", "reference.npz", "reference.parquet",
                                                          "statistics.json", "constraints.json", "vocabulary.json"}


def test_a_seeded_baseline_is_saved_byte_for_byte_the_same(held_out, baseline, tmp_path):
    baseline.save(tmp_path / "a")
    build_baseline(*held_out, QUALITY_REPORTS, seed=3, reference_size=400,
                   featurizer={"name": "test", "sha256": "0" * 64}).save(tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"schema": "something/else"}), "[1, 2]"])
def test_load_refuses_a_folder_that_is_not_a_baseline_in_one_line_naming_it(tmp_path, content):
    folder = tmp_path / "not-a-baseline"
    folder.mkdir()
    if content is not None:
        (folder / "baseline.json").write_text(content)
    with pytest.raises(ValueError) as caught:
        Baseline.load(folder)
    message = str(caught.value)
    assert str(folder) in message and "not a monitoring baseline" in message and "\n" not in message


def test_load_refuses_a_baseline_whose_reference_vectors_are_missing(baseline, tmp_path):
    baseline.save(tmp_path)
    (tmp_path / "reference.npz").unlink()
    with pytest.raises(ValueError, match="not a monitoring baseline"):
        Baseline.load(tmp_path)


def test_build_refuses_vectors_not_aligned_with_the_messages(held_out):
    messages, predictions, vectors = held_out
    with pytest.raises(ValueError, match="600 held-out messages but 599 feature vectors"):
        build_baseline(messages, predictions, vectors[:-1])


def test_build_refuses_a_held_out_split_without_predictions(held_out):
    messages, predictions, vectors = held_out
    with pytest.raises(ValueError, match="ScoreHeldOut"):
        build_baseline(messages, predictions.assign(id="unscored-" + predictions["id"]), vectors)


# ---- Model Monitor's formats

def test_statistics_have_the_fields_of_model_monitors_schema(baseline):
    statistics = model_monitor_statistics(baseline)
    assert statistics["version"] == 0.0 and statistics["dataset"] == {"item_count": 600}
    features = {feature["name"]: feature for feature in statistics["features"]}
    assert set(features) == {"category", "confidence", "text_length", "lang"}
    for name in ("confidence", "text_length"):
        numbers = features[name]["numerical_statistics"]
        assert features[name]["inferred_type"] == "Fractional"
        assert numbers["common"] == {"num_present": 600, "num_missing": 0}
        assert {"mean", "sum", "std_dev", "min", "max"} <= set(numbers)
        assert numbers["min"] <= numbers["mean"] <= numbers["max"]
        buckets = numbers["distribution"]["kll"]["buckets"]
        assert sum(bucket["count"] for bucket in buckets) == 600
        assert all(set(bucket) == {"lower_bound", "upper_bound", "count"} for bucket in buckets)
    assert features["confidence"]["numerical_statistics"]["mean"] == pytest.approx(baseline.confidences.mean())
    for name, counts in (("category", baseline.summary["category_counts"]),
                         ("lang", baseline.summary["language_counts"])):
        strings = features[name]["string_statistics"]
        assert features[name]["inferred_type"] == "String"
        assert strings["distinct_count"] == len(counts)
        assert {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]} == counts
    json.dumps(statistics, allow_nan=False)


def test_constraints_have_the_fields_of_model_monitors_schema(baseline):
    constraints = model_monitor_constraints(baseline)
    features = {feature["name"]: feature for feature in constraints["features"]}
    assert constraints["version"] == 0.0
    assert features["category"]["string_constraints"]["domains"] == list(baseline.summary["category_counts"])
    assert features["lang"]["string_constraints"]["domains"] == ["en", "es"]
    assert features["confidence"]["num_constraints"] == {"is_non_negative": True}
    assert all(feature["completeness"] == 1.0 and feature["inferred_type"] in {"String", "Fractional"}
               for feature in features.values())
    config = constraints["monitoring_config"]
    assert config["evaluate_constraints"] == "Enabled" and config["emit_metrics"] == "Enabled"
    assert config["distribution_constraints"]["comparison_method"] in {"Simple", "Robust"}
