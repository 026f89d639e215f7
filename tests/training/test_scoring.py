"""Specification of the fast scoring path: each message's TF-IDF built once, the calibrated folds as one product,
and every probability, category, confidence and novelty flag the same bits as the plain scikit-learn path, on a
model saved as training saves it, on the demo data and on every text of ../shared/data."""
from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from benchmarks import read_dataset
from training.model import MessageClassifier
from training.scoring import CharNgramCounter, WordNgramCounter
from training.train import load_model

SHARED_FILES = ["banking77/train.csv", "banking77/test.csv", "coset/train.csv", "coset/dev.csv", "coset/test.csv",
                "stackoverflow/all.csv"]
EDGE_TEXTS = ["", "   ", "a", "ok ok ok ok", "ΟΔΟΣ ΣΑΣ", "x\u00a0y\u2003\u2003z", "tab\tnew\nline",
              "🙂🙂 emoji", "mañana  ÉL dijo: ¡no!", "a_b c-d e'f 123 4,5"]


@pytest.fixture(scope="module")
def model(trained_model_dir) -> MessageClassifier:
    """The classifier as a registry holds it: model.joblib written by training, loaded with its digest."""
    metadata = json.loads((trained_model_dir / "metadata.json").read_text())
    return load_model(trained_model_dir, metadata["model_sha256"])[0]


def plain_scores(model: MessageClassifier, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, novelty flags) the way the classifier computed them before the fast path."""
    words = model.pipeline_.named_steps["features"].transformer_list[0][1]
    similarity = normalize(words.transform(texts)) @ model.centroids_.T
    return model.pipeline_.predict_proba(texts), np.asarray(similarity.max(axis=1)).ravel() < model.novelty_threshold_


def assert_same_scores(model: MessageClassifier, texts: list[str]) -> None:
    """Fast and plain paths agree exactly: probabilities, categories, confidences, novelty flags."""
    probabilities, novel = model.score(texts)
    expected_probabilities, expected_novel = plain_scores(model, texts)
    assert np.array_equal(probabilities, expected_probabilities)
    assert np.array_equal(model.classes_[probabilities.argmax(axis=1)],
                          model.classes_[expected_probabilities.argmax(axis=1)])
    assert np.array_equal(probabilities.max(axis=1).round(6), expected_probabilities.max(axis=1).round(6))
    assert np.array_equal(novel, expected_novel)
    assert np.array_equal(model.predict_proba(texts), expected_probabilities)
    assert np.array_equal(model.is_novel(texts), expected_novel)


def assert_same_matrix(fast, plain) -> None:
    """The same sparse matrix, array for array: dtype, row pointers, sorted column indices, values."""
    assert fast.dtype == plain.dtype == np.float32 and fast.has_sorted_indices and fast.shape == plain.shape
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(fast, part), getattr(plain, part)), part


def test_demo_messages_score_the_same_bits_as_scikit_learn(model, demo_messages):
    assert_same_scores(model, demo_messages["feature_text"].tolist() + demo_messages["text"].tolist() + EDGE_TEXTS)


@pytest.mark.parametrize("csv_name", SHARED_FILES)
def test_every_shared_text_scores_the_same_bits_as_scikit_learn(model, shared_data, csv_name):
    # Raw texts: harder for the fast tokenisation than cleaned ones (punctuation, case, URLs, emoji all kept).
    assert_same_scores(model, read_dataset(csv_name)["text"].tolist())


def test_ngram_counts_are_the_matrices_count_vectorizer_builds(model, demo_messages, shared_data):
    texts = demo_messages["text"].tolist() + read_dataset("coset/dev.csv")["text"].tolist() + EDGE_TEXTS
    (_, words), (_, chars) = model.pipeline_.named_steps["features"].transformer_list
    for vectorizer, counter in [(words, WordNgramCounter(words)), (chars, CharNgramCounter(chars))]:
        assert_same_matrix(counter.counts(texts), CountVectorizer.transform(vectorizer, texts))


def test_a_bounded_word_cache_gives_the_same_counts(model, demo_messages):
    chars = model.pipeline_.named_steps["features"].transformer_list[1][1]
    texts = demo_messages["text"].tolist()
    tiny = CharNgramCounter(chars, max_cached_words=5)
    counts = [tiny.counts(texts[start:start + 100]) for start in range(0, len(texts), 100)]
    assert len(tiny.cache) <= 5
    assert_same_matrix(sparse.vstack(counts, format="csr"), CharNgramCounter(chars).counts(texts))


def test_large_batches_are_scored_in_chunks_with_the_same_bits(model, demo_messages, monkeypatch):
    monkeypatch.setattr("training.scoring.CHUNK_DOCUMENTS", 97)
    assert_same_scores(model, demo_messages["feature_text"].tolist())


def test_a_refitted_two_category_model_scores_the_same_bits(demo_messages):
    texts, labels = demo_messages["feature_text"][:400], demo_messages["label"][:400]
    classifier = MessageClassifier().fit(texts, labels)
    assert_same_scores(classifier, texts.tolist())
    two = labels.isin(sorted(labels.unique())[:2])
    classifier.fit(texts[two], labels[two])  # the derived scorer must follow the refitted pipeline
    assert len(classifier.classes_) == 2
    assert_same_scores(classifier, demo_messages["feature_text"].tolist())


def test_scoring_leaves_the_pickled_model_bytes_as_trained(trained_model_dir):
    metadata = json.loads((trained_model_dir / "metadata.json").read_text())
    classifier = load_model(trained_model_dir, metadata["model_sha256"])[0]

    def pickled() -> bytes:
        buffer = io.BytesIO()
        joblib.dump(classifier, buffer)
        return buffer.getvalue()

    loaded = pickled()
    classifier.score(["refund my order"])
    assert "_fast_scorer" in classifier.__dict__  # kept on the instance...
    assert pickled() == loaded  # ...never in the pickle


def test_the_fast_path_refuses_vectorizer_settings_it_does_not_reproduce():
    with pytest.raises(ValueError, match="supports only MessageClassifier's word TF-IDF settings"):
        WordNgramCounter(TfidfVectorizer(binary=True))
