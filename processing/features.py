"""Featurizers: cleaned message text -> dense, L2-normalised vectors for clustering.

Every featurizer follows one interface (scikit-learn's `fit` / `transform` on a sequence of strings,
returning a float32 array with unit-norm rows) and is chosen by name with `make_featurizer`, so the
pipeline and `discover` take the backend as a parameter. A fitted featurizer is an artifact
(`save_featurizer` / `load_featurizer`); inference and re-clustering reuse exactly that object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from processing.storage import atomic_output


class TfidfLsaFeaturizer(TransformerMixin, BaseEstimator):
    """TF-IDF over word n-grams and character n-grams, reduced by truncated SVD (LSA), rows L2-normalised.

    Word n-grams carry topic words; character n-grams make typos, inflections and elongations that
    cleaning missed ("tarjta", "refund"/"refunds") land near each other.
    """

    def __init__(self, n_components: int = 100, word_ngram_range=(1, 2), char_ngram_range=(2, 5),
                 min_df: int = 2, max_char_features: int = 200_000, seed: int = 0):
        self.n_components = n_components
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_char_features = max_char_features
        self.seed = seed

    def fit(self, texts: Sequence[str], y=None) -> "TfidfLsaFeaturizer":
        """Learn vocabularies, IDF weights and the SVD projection from `texts`."""
        texts = list(texts)
        # min_df above 1 needs enough documents, otherwise tiny batches end up with an empty vocabulary.
        min_df = self.min_df if len(texts) >= 10 * self.min_df else 1
        self.word_vectorizer_ = TfidfVectorizer(
            ngram_range=tuple(self.word_ngram_range), min_df=min_df, sublinear_tf=True, dtype=np.float32)
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), min_df=min_df,
            max_features=self.max_char_features, sublinear_tf=True, dtype=np.float32)
        sparse = self._sparse(texts, fit=True)
        n_components = max(1, min(self.n_components, sparse.shape[1] - 1, len(texts) - 1))
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.seed)
        self.svd_.fit(sparse)
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Project `texts` into the fitted LSA space (float32, unit-norm rows; empty texts give zeros)."""
        dense = self.svd_.transform(self._sparse(list(texts), fit=False))
        return normalize(dense).astype(np.float32)

    def term_matrix(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The L2-normalised word TF-IDF matrix, for top terms and term-space centroids."""
        return self.word_vectorizer_.transform(list(texts))

    @property
    def terms(self) -> np.ndarray:
        """Vocabulary of the word vectorizer, in column order of `term_matrix`."""
        return self.word_vectorizer_.get_feature_names_out()

    def _sparse(self, texts: list[str], fit: bool) -> sp.csr_matrix:
        blocks = []
        for vectorizer in (self.word_vectorizer_, self.char_vectorizer_):
            blocks.append(vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts))
            # `stop_words_` is a set whose pickled order varies between processes: drop it so the
            # saved artifact is byte-identical across seeded runs (scikit-learn documents it as droppable).
            vectorizer.__dict__.pop("stop_words_", None)
        return normalize(sp.hstack(blocks, format="csr"))


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
