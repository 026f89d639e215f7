"""Featurizers: cleaned messages -> dense, L2-normalised vectors for clustering.

Every featurizer follows one interface: scikit-learn's `fit` / `transform` on a frame of cleaned
messages (the processed/ zone: columns `clean_text` and `feature_text`, see processing/clean.py),
returning a float32 array with unit-norm rows. A backend is chosen by name with `make_featurizer`, so
the pipeline and `discover` take it as a parameter. A fitted featurizer is an artifact
(`save_featurizer` / `load_featurizer`); inference and re-clustering reuse exactly that object.
"""
from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from processing.clean import strip_accents
from processing.storage import atomic_output

TEXT_COLUMNS = ("clean_text", "feature_text")


class TfidfLsaFeaturizer(TransformerMixin, BaseEstimator):
    """TF-IDF over word n-grams and character n-grams, reduced by truncated SVD (LSA), rows L2-normalised.

    Word n-grams come from `feature_text` (lemmas without stop words): they carry the topic. Character
    n-grams come from `clean_text` lower-cased and accent-stripped, stop words kept: they catch typos,
    inflections and short function-word patterns ("how do i", "no me") that separate intents. The
    defaults are the one configuration measured in docs/clustering.md.
    """

    def __init__(self, n_components: int = 400, word_ngram_range=(1, 2), char_ngram_range=(2, 5),
                 min_df: int = 2, max_char_features: int = 200_000, seed: int = 0):
        self.n_components = n_components
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_char_features = max_char_features
        self.seed = seed

    def fit(self, messages: pd.DataFrame, y=None) -> "TfidfLsaFeaturizer":
        """Learn vocabularies, IDF weights and the SVD projection from cleaned `messages`."""
        # min_df above 1 needs enough documents, otherwise tiny batches end up with an empty vocabulary.
        min_df = self.min_df if len(messages) >= 10 * self.min_df else 1
        self.word_vectorizer_ = TfidfVectorizer(
            ngram_range=tuple(self.word_ngram_range), min_df=min_df, sublinear_tf=True, dtype=np.float32)
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), min_df=min_df,
            max_features=self.max_char_features, sublinear_tf=True, dtype=np.float32)
        sparse = self._sparse(messages, fit=True)
        n_components = max(1, min(self.n_components, sparse.shape[1] - 1, len(messages) - 1))
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.seed)
        self.svd_.fit(sparse)
        return self

    def transform(self, messages: pd.DataFrame) -> np.ndarray:
        """Project cleaned `messages` into the fitted LSA space (float32, unit-norm rows; empty texts give zeros)."""
        dense = self.svd_.transform(self._sparse(messages, fit=False))
        return normalize(dense).astype(np.float32)

    def _sparse(self, messages: pd.DataFrame, fit: bool) -> sp.csr_matrix:
        words, chars = message_texts(messages)
        chars = [strip_accents(text.lower()) for text in chars]
        blocks = []
        for vectorizer, texts in ((self.word_vectorizer_, words), (self.char_vectorizer_, chars)):
            blocks.append(vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts))
            drop_unreproducible_state(vectorizer)
        return normalize(sp.hstack(blocks, format="csr"))


def drop_unreproducible_state(vectorizer: TfidfVectorizer) -> TfidfVectorizer:
    """Remove what would make a fitted vectorizer's pickle differ between processes with the same seed.

    `stop_words_` is a set (pickled in hash order) and `_stop_words_id` a memory address; scikit-learn
    documents the first as droppable and reads the second with a default, so predictions are unchanged.
    """
    vectorizer.__dict__.pop("stop_words_", None)
    vectorizer.__dict__.pop("_stop_words_id", None)
    return vectorizer


def message_texts(messages: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The (feature_text, clean_text) columns of a cleaned frame as lists of strings (missing -> "")."""
    missing = [column for column in TEXT_COLUMNS if column not in messages.columns]
    if missing:
        raise ValueError(f"featurizers take cleaned messages; missing column(s) {missing} "
                         "(run them through processing.clean.TextCleaner first)")
    return (messages["feature_text"].fillna("").astype(str).tolist(),
            messages["clean_text"].fillna("").astype(str).tolist())


FEATURIZERS = {"tfidf": TfidfLsaFeaturizer}


def make_featurizer(name: str = "tfidf", **params) -> BaseEstimator:
    """Build an unfitted featurizer by backend name (`tfidf`; embeddings are an optional extra)."""
    try:
        return FEATURIZERS[name](**params)
    except KeyError:
        raise ValueError(f"unknown featurizer {name!r}; choose one of {sorted(FEATURIZERS)}") from None


def save_featurizer(featurizer: BaseEstimator, path: str | Path) -> Path:
    """Write a fitted featurizer atomically with joblib."""
    with atomic_output(path) as tmp:
        joblib.dump(featurizer, tmp)
    return Path(path)


def load_featurizer(path: str | Path) -> BaseEstimator:
    """Load a featurizer written by `save_featurizer`."""
    return joblib.load(path)
