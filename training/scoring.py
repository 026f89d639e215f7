"""Fast scoring of a fitted MessageClassifier pipeline: scikit-learn's bits, with each message's features built once.

Everything here is derived at predict time from the fitted pipeline (never pickled into model.joblib), so models
already in registries score exactly as before and training's bytes do not change:
- n-gram counts without scikit-learn's per-document analyzer loop: char_wb n-grams pad each whitespace word on its
  own, so they are cached per word; word n-grams are looked up as arrays of token ids. The counts form the matrix
  CountVectorizer._count_vocab builds (float32, sorted indices), then the fitted vectorizer's own TfidfTransformer
  weighs it: the TF-IDF is the same bits.
- the calibrated ensemble (CalibratedClassifierCV over LinearSVC, sigmoid calibration) as one sparse product with
  the folds' stacked coefficients (each column of CSR @ dense is summed in the same order whatever the other
  columns), then each fold's calibrators in sklearn.calibration's order of operations.
"""
from __future__ import annotations

from itertools import repeat
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import LinearSVC

CHUNK_DOCUMENTS = 4096  # documents counted at a time: bounds the temporary arrays of a large payload
MAX_CACHED_WORDS = 100_000  # distinct words whose character n-grams are kept (a few tens of MiB at most)
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def count_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]):
    """How often each (row, column) pair occurs, as CountVectorizer's matrix: float32, sorted, no duplicates."""
    matrix = sparse.csr_array((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)
    matrix.sum_duplicates()  # exact: integer counts far below float32's 2**24
    matrix.sort_indices()
    return matrix


def decoded(vectorizer: TfidfVectorizer, document) -> str:
    """The document as the vectorizer's analyzer reads it (its decode step, skipped for the usual str)."""
    return document if type(document) is str else vectorizer.decode(document)


def check_plain_vectorizer(vectorizer: TfidfVectorizer, analyzer: str) -> None:
    """ValueError unless the vectorizer is configured as MessageClassifier builds it (what the fast path assumes)."""
    plain = (vectorizer.analyzer == analyzer and vectorizer.input == "content" and vectorizer.preprocessor is None
             and vectorizer.tokenizer is None and vectorizer.stop_words is None and not vectorizer.binary
             and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN)
    if not plain:
        raise ValueError(f"the fast scoring path supports only MessageClassifier's {analyzer} TF-IDF settings, "
                         f"not {vectorizer!r} (training/scoring.py)")


class CharNgramCounter:
    """Counts of a fitted char_wb vectorizer's n-grams, from a bounded cache of each word's n-gram counts."""

    def __init__(self, vectorizer: TfidfVectorizer, max_cached_words: int = MAX_CACHED_WORDS):
        check_plain_vectorizer(vectorizer, "char_wb")
        self.vectorizer = vectorizer
        self.preprocess = vectorizer.build_preprocessor()
        self.max_cached_words = max_cached_words
        self.cache: dict[str, np.ndarray] = {}

    def word_features(self, word: str) -> np.ndarray:
        """The vocabulary indices of one word's n-grams, once per occurrence (int32)."""
        entry = self.cache.get(word)
        if entry is None:
            # scikit-learn's own n-grams of the word alone: char_wb pads and slices each word independently.
            grams = self.vectorizer._char_wb_ngrams(word)
            found = np.fromiter(map(self.vectorizer.vocabulary_.get, grams, repeat(-1)), np.int32, len(grams))
            entry = found[found >= 0]
            if len(self.cache) >= self.max_cached_words:
                self.cache.clear()  # bounded memory over millions of messages; counts do not depend on the cache
            self.cache[word] = entry
        return entry

    def counts(self, documents: Sequence[str]):
        """The documents' n-gram count matrix, as the vectorizer's CountVectorizer.transform makes it."""
        words, lengths = [], []
        for document in documents:
            found = self.preprocess(decoded(self.vectorizer, document)).split()
            words.extend(found)
            lengths.append(len(found))
        codes, uniques = pd.factorize(pd.Series(words, dtype=object), sort=False)
        entries = [self.word_features(word) for word in uniques]
        table = np.concatenate(entries) if entries else np.zeros(0, dtype=np.int32)
        sizes = np.array([len(entry) for entry in entries], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        occurrence_sizes = sizes[codes]
        # Each word occurrence contributes its word's slice of the table: a ragged gather, vectorised.
        firsts = np.cumsum(occurrence_sizes) - occurrence_sizes
        positions = np.repeat(starts[codes] - firsts, occurrence_sizes) + np.arange(occurrence_sizes.sum())
        rows = np.repeat(np.repeat(np.arange(len(lengths)), lengths), occurrence_sizes)
        return count_matrix(rows, table[positions], (len(lengths), len(self.vectorizer.vocabulary_)))


class WordNgramCounter:
    """Counts of a fitted word vectorizer's n-grams: tokens become ids, each n-gram an integer key looked up sorted."""

    def __init__(self, vectorizer: TfidfVectorizer):
        check_plain_vectorizer(vectorizer, "word")
        self.vectorizer = vectorizer
        self.preprocess = vectorizer.build_preprocessor()
        self.tokenize = vectorizer.build_tokenizer()
        self.min_n, self.max_n = vectorizer.ngram_range
        # Default-pattern tokens are word characters only, so an n-gram splits back into its tokens at its spaces.
        grams = [(gram.split(" "), index) for gram, index in vectorizer.vocabulary_.items()]
        token_ids = {token: i for i, token in enumerate(sorted({token for parts, _ in grams for token in parts}))}
        self.tokens = pd.Index(list(token_ids), dtype=object)
        self.base = len(token_ids)
        if self.base ** self.max_n >= 2 ** 62:
            raise ValueError(f"{self.base:,} tokens in {self.max_n}-grams do not fit the fast path's int64 keys")
        self.keys, self.features = {}, {}
        for n in range(self.min_n, self.max_n + 1):
            of_n = [(self.key(token_ids[token] for token in parts), index) for parts, index in grams if len(parts) == n]
            keys = np.array([key for key, _ in of_n], dtype=np.int64)
            order = np.argsort(keys)
            self.keys[n] = keys[order]
            self.features[n] = np.array([index for _, index in of_n], dtype=np.int64)[order]

    def key(self, token_ids):
        """The integer key of an n-gram's token ids (base-`len(tokens)` digits)."""
        key = 0
        for token_id in token_ids:
            key = key * self.base + token_id
        return key

    def counts(self, documents: Sequence[str]):
        """The documents' n-gram count matrix, as the vectorizer's CountVectorizer.transform makes it."""
        tokens, lengths = [], []
        for document in documents:
            found = self.tokenize(self.preprocess(decoded(self.vectorizer, document)))
            tokens.extend(found)
            lengths.append(len(found))
        ids = self.tokens.get_indexer(pd.Index(tokens, dtype=object)).astype(np.int64)  # -1: in no known n-gram
        document_of = np.repeat(np.arange(len(lengths)), lengths)
        rows, columns = [], []
        for n in range(self.min_n, min(self.max_n, len(ids)) + 1):
            starts = np.arange(len(ids) - n + 1)
            within = document_of[starts] == document_of[starts + n - 1]  # n-grams never span two documents
            keys = np.zeros(len(starts), dtype=np.int64)
            for offset in range(n):
                part = ids[offset:offset + len(starts)]
                within &= part >= 0
                keys = keys * self.base + part
            keys, starts = keys[within], starts[within]
            found = np.minimum(np.searchsorted(self.keys[n], keys), max(len(self.keys[n]) - 1, 0))
            known = self.keys[n][found] == keys if len(self.keys[n]) else np.zeros(len(keys), dtype=bool)
            rows.append(document_of[starts[known]])
            columns.append(self.features[n][found[known]])
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        columns = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        return count_matrix(rows, columns, (len(lengths), len(self.vectorizer.vocabulary_)))


class CalibratedLinearEnsemble:
    """A fitted CalibratedClassifierCV over LinearSVC (sigmoid) as one stacked linear map plus the fold calibrators."""

    def __init__(self, calibrated: CalibratedClassifierCV):
        folds = calibrated.calibrated_classifiers_
        if any(fold.method != "sigmoid" or type(fold.estimator) is not LinearSVC for fold in folds):
            raise ValueError("the fast scoring path supports only sigmoid-calibrated LinearSVC folds")
        self.classes = calibrated.classes_
        # Stored C-ordered once: scipy copies a transposed (F-ordered) coef_ on every product.
        self.coef_t = np.ascontiguousarray(np.vstack([fold.estimator.coef_ for fold in folds]).T)
        self.intercept = np.concatenate([fold.estimator.intercept_ for fold in folds])
        self.folds = []
        start = 0
        for fold in folds:
            width = fold.estimator.coef_.shape[0]
            classes = LabelEncoder().fit(fold.classes).transform(fold.estimator.classes_)[:width]
            if len(self.classes) == 2:
                classes = classes + 1  # binary: the one column scores classes_[1] (calibration.py does the same)
            a = np.array([calibrator.a_ for calibrator in fold.calibrators[:width]], dtype=np.float64)
            b = np.array([calibrator.b_ for calibrator in fold.calibrators[:width]], dtype=np.float64)
            self.folds.append((slice(start, start + width), classes, a, b))
            start += width

    def predict_proba(self, features) -> np.ndarray:
        """CalibratedClassifierCV.predict_proba(features), the same bits."""
        scores = features @ self.coef_t + self.intercept
        n_classes = len(self.classes)
        mean_proba = np.zeros((features.shape[0], n_classes))
        for columns, classes, a, b in self.folds:
            # _CalibratedClassifier.predict_proba: expit(-(a * score + b)) per class, normalised, clipped at 1.
            proba = np.zeros((features.shape[0], n_classes))
            proba[:, classes] = expit(-(a * scores[:, columns] + b))
            if n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform_proba = np.full_like(proba, 1 / n_classes)
                proba = np.divide(proba, denominator, out=uniform_proba, where=denominator != 0)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean_proba += proba
        mean_proba /= len(self.folds)
        return mean_proba


class PipelineScorer:
    """MessageClassifier's fitted pipeline, fast: TF-IDF features once per message, then the probabilities."""

    def __init__(self, pipeline: Pipeline):
        self.union = pipeline.named_steps["features"]
        (_, words), (_, chars) = self.union.transformer_list
        self.words, self.chars = words, chars
        self.word_counter, self.char_counter = WordNgramCounter(words), CharNgramCounter(chars)
        self.ensemble = CalibratedLinearEnsemble(pipeline.named_steps["classifier"])

    def word_tfidf(self, texts: Sequence[str]):
        """The word TF-IDF matrix of the texts (what the words vectorizer's transform returns)."""
        return self._chunked(texts, lambda chunk: self.words._tfidf.transform(self.word_counter.counts(chunk),
                                                                              copy=False))

    def features(self, texts: Sequence[str]):
        """(word TF-IDF, the union's word + character matrix) of the texts, each computed once."""
        words = self.word_tfidf(texts)
        chars = self._chunked(texts, lambda chunk: self.chars._tfidf.transform(self.char_counter.counts(chunk),
                                                                               copy=False))
        return words, self.union._hstack([words, chars])

    def predict_proba(self, features) -> np.ndarray:
        """Calibrated probabilities from the union's feature matrix."""
        return self.ensemble.predict_proba(features)

    @staticmethod
    def _chunked(texts: Sequence[str], transform):
        """transform() of bounded chunks of the texts, stacked (rows are independent)."""
        if len(texts) <= CHUNK_DOCUMENTS:
            return transform(texts)
        return sparse.vstack([transform(texts[start:start + CHUNK_DOCUMENTS])
                              for start in range(0, len(texts), CHUNK_DOCUMENTS)], format="csr")
