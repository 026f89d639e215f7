"""Specification of how the jobs hold large inputs: features transformed and held-out messages scored a chunk at a
time (the same numbers as one call, with progress after each chunk), and the featurizer fitted on a seeded sample."""
from __future__ import annotations

import numpy as np

from processing.features import TfidfLsaFeaturizer
from processing.jobs import (FEATURIZER_FIT_ROWS, featurize_job, predict_in_chunks, read_features,
                             transform_in_chunks, write_parquet)
from training.train import load_model, read_model_metadata


def test_features_transformed_in_chunks_are_the_features_of_one_call_and_report_each_chunk(demo_messages):
    featurizer = TfidfLsaFeaturizer(n_components=50).fit(demo_messages)
    calls = []
    chunked = transform_in_chunks(featurizer, demo_messages, lambda done, total: calls.append((done, total)),
                                  chunk_rows=500)
    np.testing.assert_array_equal(chunked, featurizer.transform(demo_messages))
    assert chunked.dtype == np.float32
    assert calls == [(500, 1200), (1000, 1200), (1200, 1200)]


def test_a_share_smaller_than_a_chunk_is_one_call_and_one_report(demo_messages):
    featurizer = TfidfLsaFeaturizer(n_components=50).fit(demo_messages)
    calls = []
    features = transform_in_chunks(featurizer, demo_messages.iloc[:10], lambda *report: calls.append(report))
    np.testing.assert_array_equal(features, featurizer.transform(demo_messages.iloc[:10]))
    assert calls == [(10, 10)]


def test_the_featurizer_is_fitted_on_a_seeded_sample_only_above_its_size(demo_messages, tmp_path):
    write_parquet(demo_messages, tmp_path / "processed" / "messages.parquet")
    assert len(demo_messages) < FEATURIZER_FIT_ROWS  # small runs: fitted on every message, as before sampling
    whole = featurize_job(tmp_path / "processed", tmp_path / "whole", seed=0)
    np.testing.assert_array_equal(whole, TfidfLsaFeaturizer(seed=0).fit_transform(demo_messages))
    calls = []
    sampled = featurize_job(tmp_path / "processed", tmp_path / "sampled", seed=0, max_fit_rows=600,
                            progress=lambda done, total: calls.append((done, total)))
    again = featurize_job(tmp_path / "processed", tmp_path / "again", seed=0, max_fit_rows=600)
    assert not np.array_equal(sampled, whole) and sampled.shape == whole.shape
    assert (tmp_path / "sampled" / "featurizer.joblib").read_bytes() == \
        (tmp_path / "again" / "featurizer.joblib").read_bytes()
    np.testing.assert_array_equal(read_features(tmp_path / "again", demo_messages["id"]), sampled)
    assert calls[-1] == (len(demo_messages), len(demo_messages))


def test_held_out_messages_scored_in_chunks_get_the_predictions_of_one_call(demo_messages, trained_model_dir):
    model, _ = load_model(trained_model_dir, read_model_metadata(trained_model_dir)["model_sha256"])
    texts = demo_messages["feature_text"].fillna("")
    calls = []
    predicted = predict_in_chunks(model, texts, lambda done, total: calls.append((done, total)), chunk_rows=700)
    np.testing.assert_array_equal(predicted, model.predict(texts))
    assert calls == [(700, 1200), (1200, 1200)]
