"""Specification of the classifier: learns categories from cleaned text, calibrated probabilities, novelty
flags for messages unlike every category, clear errors for untrainable data, reproducible bytes."""
from __future__ import annotations

import io

import joblib
import numpy as np
import pytest

from training.model import MessageClassifier


@pytest.fixture(scope="module")
def split(demo_messages):
    order = np.random.default_rng(0).permutation(len(demo_messages))
    train, test = demo_messages.iloc[order[:900]], demo_messages.iloc[order[900:]]
    return train, test


@pytest.fixture(scope="module")
def model(split):
    train, _ = split
    return MessageClassifier().fit(train["feature_text"], train["label"])


def test_learns_the_categories_of_unseen_messages(model, split):
    _, test = split
    accuracy = (model.predict(test["feature_text"]) == test["label"].to_numpy()).mean()
    assert accuracy > 0.85


def test_probabilities_are_per_class_and_sum_to_one(model, split):
    _, test = split
    probabilities = model.predict_proba(test["feature_text"][:20])
    assert probabilities.shape == (20, len(model.classes_))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert list(model.classes_) == sorted(split[0]["label"].unique())


def test_confident_predictions_are_more_often_right(model, split):
    _, test = split
    probabilities = model.predict_proba(test["feature_text"])
    right = model.classes_[probabilities.argmax(axis=1)] == test["label"].to_numpy()
    confidence = probabilities.max(axis=1)
    assert confidence[right].mean() > confidence[~right].mean()


def test_messages_unlike_every_category_are_flagged_novel(model, split):
    _, test = split
    unseen = ["quantum chromodynamics lattice gauge theory",
              "receta de tortilla de patatas con cebolla caramelizada"]
    assert model.is_novel(unseen).all()
    assert model.is_novel(test["feature_text"]).mean() < 0.1


@pytest.mark.parametrize("labels, message", [
    (["a"] * 6, "at least 2 categories"),
    (["a"] * 5 + ["b"], "fewer than 2 training messages cannot be calibrated: \\['b'\\]"),
])
def test_untrainable_label_sets_are_refused_with_the_reason(labels, message):
    with pytest.raises(ValueError, match=message):
        MessageClassifier().fit([f"message {i}" for i in range(len(labels))], labels)


def test_same_seed_gives_identical_pickled_bytes(split):
    train, _ = split

    def pickled() -> bytes:
        buffer = io.BytesIO()
        joblib.dump(MessageClassifier(seed=5).fit(train["feature_text"], train["label"]), buffer)
        return buffer.getvalue()

    assert pickled() == pickled()
