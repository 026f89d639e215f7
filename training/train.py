"""Classifier training on pseudo-labels: split, fit, save `model.joblib` with its metadata.

Pure functions here; `run_training` is the thin SageMaker training-job edge (channels, model dir).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from processing.artifacts import ArtifactIntegrityError, load_artifact, normalized_digest, save_artifact
from processing.provenance import code_version, library_versions
from processing.storage import write_json_atomic
from training.model import MessageClassifier

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
PROVENANCE_FILE = "provenance.json"
TEXT_COLUMN = "feature_text"
LABEL_COLUMN = "category"
# The classifier is fitted on at most this many pseudo-labelled rows (a seeded sample, stratified by category): its
# cost grows with the rows (char n-grams, a calibrated SVM per fold), its held-out scores barely do past this.
MAX_TRAIN_ROWS = 50_000


def split_holdout(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/held-out split, stratified by category whenever every category has 2+ messages."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    counts = frame[LABEL_COLUMN].value_counts()
    stratify = frame[LABEL_COLUMN] if counts.min() >= 2 and len(frame) * test_size >= len(counts) else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.sort_index(), test.sort_index()


def training_rows(train: pd.DataFrame, seed: int = 0, max_rows: int = MAX_TRAIN_ROWS) -> pd.DataFrame:
    """The rows the classifier is fitted on: those with a category, and of more than `max_rows` a seeded sample
    of that many, stratified by category (whenever every category has 2+ rows)."""
    labelled = train[train[LABEL_COLUMN].notna()]
    if labelled.empty:
        raise ValueError("no training rows carry a category (every cluster is discarded or unmapped)")
    if len(labelled) <= max_rows:
        return labelled
    counts = labelled[LABEL_COLUMN].value_counts()
    stratify = labelled[LABEL_COLUMN] if counts.min() >= 2 and len(counts) <= max_rows else None
    kept, _ = train_test_split(labelled, train_size=max_rows, random_state=seed, stratify=stratify)
    return kept.sort_index()


def train_model(train: pd.DataFrame, seed: int = 0, max_rows: int = MAX_TRAIN_ROWS, **params) -> MessageClassifier:
    """Fit the classifier on `feature_text` -> `category` of the `training_rows` (rows with no category are not
    trained on; of more than `max_rows`, a stratified sample)."""
    rows = training_rows(train, seed=seed, max_rows=max_rows)
    return MessageClassifier(seed=seed, **params).fit(rows[TEXT_COLUMN].fillna(""), rows[LABEL_COLUMN])


def save_model(model: MessageClassifier, model_dir: str | Path, provenance: dict, seed: int, n_train: int) -> dict:
    """Write model.joblib and metadata.json (classes, category map, data hash, versions, seed)."""
    model_dir = Path(model_dir)
    model_sha = save_artifact(model, model_dir / MODEL_FILE)
    metadata = {
        "model_version": model_sha[:12],
        "model_sha256": model_sha,
        "classes": [str(c) for c in model.classes_],
        "params": {key: (list(value) if isinstance(value, tuple) else value)
                   for key, value in model.get_params().items()},
        "seed": seed,
        "train_rows": n_train,
        "novelty_threshold": model.novelty_threshold_,
        "code_version": code_version(),
        "libraries": library_versions(),
        **provenance,
    }
    write_json_atomic(model_dir / METADATA_FILE, metadata)
    # No serving code in the model directory: the serving program comes from the image (inference/entry), so a
    # changed model.tar.gz cannot bring code of its own (docs/security.md).
    return metadata


def load_model(model_dir: str | Path, sha256: str | None) -> tuple[MessageClassifier, dict]:
    """The model and its metadata from a model directory, if model.joblib has the trusted `sha256`.

    ArtifactIntegrityError (before anything is unpickled) when the digest is absent or does not match, and when
    metadata.json names another model than the one loaded.
    """
    model_dir = Path(model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{model_dir}: no {MODEL_FILE} (is this a tweetops model directory?)")
    metadata = read_model_metadata(model_dir)
    model = load_artifact(model_dir / MODEL_FILE, sha256, MessageClassifier)
    if metadata.get("model_sha256") != normalized_digest(sha256, MODEL_FILE):
        raise ArtifactIntegrityError(f"{model_dir / METADATA_FILE}: describes another model (model_sha256 "
                                     f"{str(metadata.get('model_sha256'))[:16]}...) than the verified {MODEL_FILE}")
    return model, metadata


def read_model_metadata(model_dir: str | Path) -> dict:
    """metadata.json of a model directory (JSON only: safe to read before the model is verified)."""
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{Path(model_dir)}: no {METADATA_FILE} (is this a tweetops model directory?)")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: not a valid metadata file ({type(error).__name__})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: not a valid metadata file (not a JSON object)")
    return metadata


def read_parquet_dir(path: str | Path) -> pd.DataFrame:
    """Read one parquet file, or every *.parquet under a folder (shards, in name order) as one frame."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path}: no parquet files found")
    return pd.concat([pd.read_parquet(file) for file in files], ignore_index=True)


def read_provenance(path: str | Path) -> dict:
    """The provenance.json that the pseudo-labelling step writes beside its data ({} when absent)."""
    path = Path(path)
    candidates = [path / PROVENANCE_FILE] if path.is_dir() else [path.parent / PROVENANCE_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    return {}


def run_training(train_path: str | Path, model_dir: str | Path, seed: int = 0, **params) -> dict:
    """Training-job edge: read the pseudo-labelled train split, fit, and write the model directory."""
    train = read_parquet_dir(train_path)
    missing = {TEXT_COLUMN, LABEL_COLUMN} - set(train.columns)
    if missing:
        raise ValueError(f"{train_path}: training data lacks columns {sorted(missing)}")
    rows = training_rows(train, seed=seed)
    model = train_model(rows, seed=seed, **params)
    # train_rows counts the rows fitted on; labelled_rows those offered (more when the sample was capped).
    provenance = {**read_provenance(train_path), "labelled_rows": int(train[LABEL_COLUMN].notna().sum())}
    return save_model(model, model_dir, provenance, seed=seed, n_train=len(rows))
