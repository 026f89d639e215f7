"""Specification of the TF-IDF + LSA featurizer: shape and norms, reuse as an artifact, determinism,
and that its space separates the categories the words describe."""
from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from processing.artifacts import ArtifactIntegrityError, save_artifact
from processing.features import (TfidfLsaFeaturizer, load_featurizer, make_featurizer, message_texts,
                                 save_featurizer)


def frame(texts: list[str]) -> pd.DataFrame:
    """A cleaned-messages frame whose clean_text and feature_text are the given texts."""
    return pd.DataFrame({"clean_text": texts, "feature_text": texts})


def test_rows_are_unit_norm_float32_with_requested_dimensions(demo_messages):
    features = TfidfLsaFeaturizer(n_components=50).fit_transform(demo_messages)
    assert features.shape == (len(demo_messages), 50)
    assert features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_same_category_messages_are_closer_than_other_category_messages(demo_messages):
    features = TfidfLsaFeaturizer(n_components=50).fit_transform(demo_messages)
    labels = demo_messages["label"].to_numpy()
    similarity = features @ features.T
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None, :]
    assert similarity[same].mean() > similarity[different].mean() + 0.1


def test_components_shrink_to_fit_a_tiny_vocabulary():
    texts = ["refund my order", "refund please", "order late", "late order again"]
    features = TfidfLsaFeaturizer(n_components=400).fit_transform(frame(texts))
    assert features.shape[0] == 4 and 1 <= features.shape[1] < 4


def test_empty_text_gives_a_zero_vector():
    fitted = TfidfLsaFeaturizer(n_components=2).fit(frame(["refund my order", "order late", "late refund"]))
    assert not fitted.transform(frame([""])).any()


def test_saved_featurizer_transforms_identically_and_saves_identical_bytes(demo_messages, tmp_path):
    first = TfidfLsaFeaturizer(n_components=30, seed=3).fit(demo_messages)
    second = TfidfLsaFeaturizer(n_components=30, seed=3).fit(demo_messages)
    digest = save_featurizer(first, tmp_path / "a.joblib")
    assert save_featurizer(second, tmp_path / "b.joblib") == digest
    assert (tmp_path / "a.joblib").read_bytes() == (tmp_path / "b.joblib").read_bytes()
    reloaded = load_featurizer(tmp_path / "a.joblib", digest)
    np.testing.assert_array_equal(reloaded.transform(demo_messages[:50]), first.transform(demo_messages[:50]))


def test_accents_and_case_do_not_change_character_features():
    fitted = TfidfLsaFeaturizer(n_components=3).fit(
        pd.DataFrame({"clean_text": ["Información del pedido", "cancelar pedido", "pedido tarde"],
                      "feature_text": ["informacion pedido", "cancelar pedido", "pedido tarde"]}))
    plain = fitted.transform(pd.DataFrame({"clean_text": ["informacion del pedido"],
                                           "feature_text": ["informacion pedido"]}))
    accented = fitted.transform(pd.DataFrame({"clean_text": ["INFORMACIÓN DEL PEDIDO"],
                                              "feature_text": ["informacion pedido"]}))
    np.testing.assert_allclose(plain, accented, atol=1e-6)


def test_uncleaned_input_is_rejected_with_a_pointer_to_the_cleaner():
    with pytest.raises(ValueError, match="clean_text.*TextCleaner"):
        message_texts(pd.DataFrame({"text": ["hola"]}))


def test_make_featurizer_names_the_known_backends():
    assert isinstance(make_featurizer("tfidf", n_components=5), TfidfLsaFeaturizer)
    with pytest.raises(ValueError, match="unknown featurizer 'bert'.*tfidf"):
        make_featurizer("bert")


def test_a_tampered_featurizer_is_refused_before_any_code_in_it_runs(demo_messages, tmp_path):
    digest = save_featurizer(TfidfLsaFeaturizer(n_components=5).fit(demo_messages), tmp_path / "featurizer.joblib")
    marker = tmp_path / "pwned"
    joblib.dump(_RunsCodeWhenUnpickled(marker), tmp_path / "featurizer.joblib")
    with pytest.raises(ArtifactIntegrityError, match="featurizer.joblib: refusing to load it"):
        load_featurizer(tmp_path / "featurizer.joblib", digest)
    assert not marker.exists()


def test_a_verified_file_that_is_not_a_featurizer_is_refused(tmp_path):
    digest = save_artifact({"not": "a featurizer"}, tmp_path / "featurizer.joblib")
    with pytest.raises(ArtifactIntegrityError, match="holds a dict, not a TfidfLsaFeaturizer or"):
        load_featurizer(tmp_path / "featurizer.joblib", digest)


class _RunsCodeWhenUnpickled:
    """What an attacker puts in featurizer.joblib: unpickling it writes the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_the_featurizer_names_the_command_line_offers_are_the_featurizers_there_are():
    from processing.defaults import FEATURIZER_NAMES
    from processing.features import FEATURIZERS

    assert FEATURIZER_NAMES == tuple(sorted(FEATURIZERS))
