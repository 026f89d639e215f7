"""Defaults that the command line and the pipeline definitions show, in a module that imports nothing.

`tweetops <command> --help` and a pipeline definition name the featurizers and the k range; importing
processing.features or processing.cluster for that would load spaCy and scikit-learn (seconds per process). The
modules that use these values import them from here.
"""
from __future__ import annotations

DEFAULT_K_RANGE = (4, 100)  # searched by n_clusters="auto": from broad topics to fine-grained intents
FEATURIZER_NAMES = ("hybrid", "sentence-embeddings", "tfidf")  # processing.features.FEATURIZERS' keys, sorted
DEFAULT_FEATURIZER = "hybrid"  # the best clustering in docs/embeddings.md; "tfidf" needs no extra
