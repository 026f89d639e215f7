"""Featurizers: cleaned messages -> dense, L2-normalised vectors for clustering.

Every featurizer follows one interface: scikit-learn's `fit` / `transform` on a frame of cleaned
messages (the processed/ zone: columns `text`, `clean_text` and `feature_text`, see processing/clean.py),
returning a float32 array with unit-norm rows. A backend is chosen by name with `make_featurizer`, so
the pipeline and `discover` take it as a parameter:

* `tfidf`: TF-IDF words + characters reduced by LSA (no extra dependencies);
* `sentence-embeddings`: a sentence-transformers model (optional extra, processing/embeddings.py);
* `hybrid`: both, concatenated: the default where the extra is installed (docs/embeddings.md has the numbers).

A fitted featurizer is an artifact (`save_featurizer` / `load_featurizer`); inference and re-clustering
reuse exactly that object. Each backend also names the MessageClusterer settings its space was measured
with (`clustering_params`): LSA columns are ordered by variance, so plain KMeans uses just their head, and
UMAP is decided from evidence; embedding spaces have no such order, cluster best with a finer UMAP graph,
and always with UMAP (docs/embeddings.md). Settings a user gives explicitly win over these.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from processing.artifacts import load_artifact, save_artifact
from processing.clean import strip_accents
from processing.storage import cache_root

TEXT_COLUMNS = ("clean_text", "feature_text")


class TfidfLsaFeaturizer(TransformerMixin, BaseEstimator):
    """TF-IDF over word n-grams and character n-grams, reduced by truncated SVD (LSA), rows L2-normalised.

    Word n-grams come from `feature_text` (lemmas without stop words): they carry the topic. Character
    n-grams come from `clean_text` lower-cased and accent-stripped, stop words kept: they catch typos,
    inflections and short function-word patterns ("how do i", "no me") that separate intents. The
    defaults are the one configuration measured in docs/clustering.md.
    """
    clustering_params = {"plain_components": 100, "umap_neighbors": 50, "umap_components": 5}

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


class SentenceEmbeddingFeaturizer(TransformerMixin, BaseEstimator):
    """Sentence-transformers embeddings of each message's `text_column`, unit-norm, cached by content hash.

    `model` is a sentence-transformers name (all-MiniLM-L6-v2 is shipped by the extra), a model folder, or an
    S3 prefix holding one (staged into `cache_dir`). `runtime`: onnx-int8 (CPU default), torch, or auto
    (torch on a GPU). Vectors are cached under cache_dir/embeddings/ keyed by model content, runtime and
    text, so re-runs and re-clustering never embed the same text twice. Nothing is learned: `fit` only
    resolves the model, and `seed` exists so every featurizer takes the same parameters.
    """
    clustering_params = {"plain_components": 100, "plain_projection": "pca", "umap_neighbors": 15,
                         "umap_components": 10, "use_umap": True, "kmeans_init": "ward"}

    def __init__(self, model: str = "all-MiniLM-L6-v2", runtime: str = "auto", batch_size: int = 64,
                 threads: int | None = None, cache_dir: str | None = None, text_column: str = "text",
                 progress: bool | None = None, seed: int = 0):
        self.model = model
        self.runtime = runtime
        self.batch_size = batch_size
        self.threads = threads
        self.cache_dir = cache_dir
        self.text_column = text_column
        self.progress = progress
        self.seed = seed

    def fit(self, messages: pd.DataFrame, y=None) -> "SentenceEmbeddingFeaturizer":
        """Check the extra and the model source; record the model's content fingerprint."""
        from processing import embeddings

        embeddings.require_extra()
        self.runtime_ = embeddings.resolve_runtime(self.runtime)
        self.model_fingerprint_ = embeddings.model_fingerprint(self._source())
        return self

    def transform(self, messages: pd.DataFrame) -> np.ndarray:
        """Embed each distinct text once (cached ones not at all); float32, unit-norm rows."""
        from processing import embeddings

        if self.text_column not in messages.columns:
            raise ValueError(f"the sentence-embeddings featurizer reads column {self.text_column!r}, "
                             f"which the messages do not have")
        texts = messages[self.text_column].fillna("").astype(str).to_numpy(dtype=object)
        unique, inverse = np.unique(texts, return_inverse=True)
        namespace = f"{self.model_fingerprint_}/{self.runtime_}"
        cache = embeddings.EmbeddingCache(self._cache_root() / "embeddings" / namespace.replace("/", "-"))
        keys = embeddings.text_keys(unique, namespace)
        found, cached = cache.lookup(keys)
        fresh = None
        if not found.all():
            encoder = embeddings.load_encoder(self._source(), self.model_fingerprint_, self.runtime_,
                                              str(self._cache_root()))
            show = sys.stderr.isatty() if self.progress is None else self.progress
            fresh = embeddings.embed(encoder, list(unique[~found]), batch_size=self.batch_size,
                                     threads=embeddings.cpu_threads(self.threads), progress=show)
            cache.add(keys[~found], fresh)
        self.cache_stats_ = {"texts": int(len(texts)), "distinct": int(len(unique)),
                             "from_cache": int(found.sum()), "embedded": int((~found).sum())}
        if fresh is None and cached is None:  # no texts at all
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.zeros((len(unique), (fresh if fresh is not None else cached).shape[1]), dtype=np.float32)
        if fresh is not None:
            vectors[~found] = fresh
        if cached is not None:
            vectors[found] = cached
        return normalize(vectors[inverse]).astype(np.float32)

    def __getstate__(self) -> dict:
        # The last transform's cache statistics describe a run, not the fitted featurizer: keep them out of
        # the artifact so that equal fits pickle to equal bytes.
        state = dict(super().__getstate__())  # a copy: the base may hand back the instance's own __dict__
        state.pop("cache_stats_", None)
        return state

    def _cache_root(self) -> Path:
        return cache_root(self.cache_dir)

    def _source(self):
        from processing.embeddings import resolve_model

        return resolve_model(self.model, self._cache_root())


class HybridFeaturizer(TransformerMixin, BaseEstimator):
    """Sentence embeddings and `tfidf_weight` x TF-IDF-LSA side by side, rows re-normalised.

    The embedding carries meaning across paraphrases; the TF-IDF part keeps the exact words and phrasings
    that separate fine-grained intents. The weight is the one measured in docs/embeddings.md.
    """
    clustering_params = SentenceEmbeddingFeaturizer.clustering_params

    def __init__(self, tfidf_weight: float = 0.5, model: str = "all-MiniLM-L6-v2", runtime: str = "auto",
                 batch_size: int = 64, threads: int | None = None, cache_dir: str | None = None,
                 n_components: int = 400, progress: bool | None = None, seed: int = 0):
        self.tfidf_weight = tfidf_weight
        self.model = model
        self.runtime = runtime
        self.batch_size = batch_size
        self.threads = threads
        self.cache_dir = cache_dir
        self.n_components = n_components
        self.progress = progress
        self.seed = seed

    def fit(self, messages: pd.DataFrame, y=None) -> "HybridFeaturizer":
        """Fit both parts (the embedding part only resolves its model)."""
        self.embeddings_ = SentenceEmbeddingFeaturizer(
            model=self.model, runtime=self.runtime, batch_size=self.batch_size, threads=self.threads,
            cache_dir=self.cache_dir, progress=self.progress, seed=self.seed).fit(messages)
        self.tfidf_ = TfidfLsaFeaturizer(n_components=self.n_components, seed=self.seed).fit(messages)
        return self

    def transform(self, messages: pd.DataFrame) -> np.ndarray:
        """[embedding, w * LSA], unit-norm rows."""
        parts = [self.embeddings_.transform(messages), self.tfidf_weight * self.tfidf_.transform(messages)]
        return normalize(np.hstack(parts)).astype(np.float32)


FEATURIZERS = {"tfidf": TfidfLsaFeaturizer, "sentence-embeddings": SentenceEmbeddingFeaturizer,
               "hybrid": HybridFeaturizer}


def make_featurizer(name: str = "tfidf", **params) -> BaseEstimator:
    """Build an unfitted featurizer by backend name (see FEATURIZERS; the embedding ones need the extra)."""
    try:
        return FEATURIZERS[name](**params)
    except KeyError:
        raise ValueError(f"unknown featurizer {name!r}; choose one of {sorted(FEATURIZERS)}") from None


def prepare_featurizer(featurizer: BaseEstimator) -> bool:
    """Begin the one-time ONNX export of an embedding featurizer's model in the background when the cache lacks it
    (embeddings.prepare_encoder), so that it overlaps the work before `transform` (reading, cleaning, the TF-IDF
    fit). True while that export runs; False when there is nothing to export or no embedding model."""
    params = featurizer.get_params()
    if "model" not in params:
        return False
    from processing import embeddings

    return embeddings.prepare_encoder(params["model"], params["runtime"], params["cache_dir"])


def save_featurizer(featurizer: BaseEstimator, path: str | Path) -> str:
    """Write a fitted featurizer atomically; return its sha256, which whoever loads it must be given."""
    return save_artifact(featurizer, path)


def load_featurizer(path: str | Path, sha256: str | None) -> BaseEstimator:
    """Load a featurizer written by `save_featurizer`, once its bytes match the trusted `sha256`."""
    return load_artifact(path, sha256, tuple(FEATURIZERS.values()))
