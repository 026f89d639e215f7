"""The production classifier: TF-IDF words + characters -> calibrated linear SVM, plus a novelty test.

Trained on cleaned text (`feature_text`) and pseudo-labels. It is light on purpose: it scores tens of
thousands of messages per second on a CPU and its probabilities are calibrated, so `confidence` means
something. The novelty test flags messages whose word TF-IDF vector is further from every category
centroid than nearly all training messages were from their own.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from processing.features import drop_unreproducible_state
from training.scoring import PipelineScorer


class MessageClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated linear classifier over word and character TF-IDF, with per-message novelty flags."""

    def __init__(self, C: float = 0.5, word_ngram_range=(1, 2), char_ngram_range=(2, 5), min_df: int = 1,
                 calibration_folds: int = 3, novelty_quantile: float = 0.01, seed: int = 0):
        self.C = C
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.calibration_folds = calibration_folds
        self.novelty_quantile = novelty_quantile
        self.seed = seed

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "MessageClassifier":
        """Fit vectorizers, the calibrated SVM and the novelty thresholds."""
        texts, labels = list(texts), np.asarray(labels, dtype=object)
        self.__dict__.pop("_fast_scorer", None)  # derived from the pipeline replaced below
        counts = {label: int((labels == label).sum()) for label in sorted(set(labels))}
        if len(counts) < 2:
            raise ValueError(f"training needs at least 2 categories, got {sorted(counts)}")
        folds = min(self.calibration_folds, min(counts.values()))
        if folds < 2:
            rare = sorted(label for label, count in counts.items() if count < 2)
            raise ValueError(f"categories with fewer than 2 training messages cannot be calibrated: {rare}")
        self.pipeline_ = Pipeline([
            ("features", FeatureUnion([
                ("words", TfidfVectorizer(ngram_range=tuple(self.word_ngram_range), min_df=self.min_df,
                                          sublinear_tf=True, dtype=np.float32)),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngram_range),
                                          min_df=self.min_df, sublinear_tf=True, dtype=np.float32)),
            ])),
            ("classifier", CalibratedClassifierCV(LinearSVC(C=self.C, random_state=self.seed), cv=folds)),
        ])
        self.pipeline_.fit(texts, labels)
        self.classes_ = self.pipeline_.classes_
        vectors = self._vectors(texts)
        self.centroids_ = np.vstack([normalize(np.asarray(vectors[labels == c].mean(axis=0)))
                                     for c in self.classes_]).astype(np.float32)
        # Similarity to every centroid (n x classes), then each message's own: never a dense n x features matrix.
        own_class = np.searchsorted(self.classes_, labels)
        own_similarity = np.asarray(vectors @ self.centroids_.T)[np.arange(len(labels)), own_class]
        self.novelty_threshold_ = float(np.quantile(own_similarity, self.novelty_quantile))
        for _, vectorizer in self.pipeline_.named_steps["features"].transformer_list:
            drop_unreproducible_state(vectorizer)  # last: every transform above sets it again
        return self

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(predict_proba, is_novel) of the texts from one pass: each message's TF-IDF is built once."""
        scorer = self._scorer()
        words, features = scorer.features(list(texts))
        return scorer.predict_proba(features), self._novel(normalize(words))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each class (columns in `classes_` order)."""
        scorer = self._scorer()
        return scorer.predict_proba(scorer.features(list(texts))[1])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Most probable category of each message."""
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]

    def is_novel(self, texts: Sequence[str]) -> np.ndarray:
        """True where a message is less similar to every category centroid than the novelty threshold."""
        return self._novel(normalize(self._scorer().word_tfidf(list(texts))))

    def __getstate__(self):
        # The fast scorer is derived from pipeline_ when first needed: never pickled, so model bytes stay as trained.
        return {key: value for key, value in super().__getstate__().items() if key != "_fast_scorer"}

    def word_vocabulary(self) -> list[str]:
        """The word n-grams the classifier knows (its word TF-IDF's vocabulary), sorted."""
        return sorted(self.pipeline_.named_steps["features"].transformer_list[0][1].vocabulary_)

    def _novel(self, vectors) -> np.ndarray:
        similarity = vectors @ self.centroids_.T
        return np.asarray(similarity.max(axis=1)).ravel() < self.novelty_threshold_

    def _scorer(self) -> PipelineScorer:
        # Derived at predict time from the fitted pipeline, so models saved before the fast path score the same.
        if "_fast_scorer" not in self.__dict__:
            self._fast_scorer = PipelineScorer(self.pipeline_)
        return self._fast_scorer

    def _vectors(self, texts: list[str]):
        # Words only: character n-grams of any sentence in the same language overlap with every category.
        words = self.pipeline_.named_steps["features"].transformer_list[0][1]
        return normalize(words.transform(texts))
