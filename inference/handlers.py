"""SageMaker scikit-learn serving handlers, as the container calls them for batch transform.

model_fn(model_dir) -> model; input_fn(body, content_type) -> messages; predict_fn(messages, model)
-> predictions; output_fn(predictions, accept) -> body. Payloads are CSV (`id,text`, header optional,
as batch transform's line splitting sends header-less lines) or JSON Lines (`{"id": ..., "text": ...}`).

Each prediction follows DESIGN.md: id, category, confidence, model_version, category_map_version,
novel. A record that cannot be scored still gets a row, with `category` null and an `error` saying why (the
validation's reason names: missing_id, empty_text, invalid_encoding for a text with lone surrogates, which a
JSON \\ud800 escape can carry, text_too_long beyond SERVING_MAX_TEXT_CHARS), so rows out = rows in.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd


from processing.artifacts import MODEL_DIGEST_VARIABLE
from processing.clean import TextCleaner  # loads spaCy with torch hidden: a serving process never loads torch
from processing.sanitize import spreadsheet_frame
from training.model import MessageClassifier
from training.train import load_model

CSV = "text/csv"
JSON_LINES = ("application/jsonlines", "application/x-jsonlines", "application/json-lines")
# One encoder for every record: json.dumps builds a new one per call when given any option.
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# Far above the validation's limit (processing/contract.py), which a batch meets first: only text no pipeline has
# validated gets here, and the cleaner's cost grows with length (a 100,000-character text took minutes).
SERVING_MAX_TEXT_CHARS = 20_000
PREDICTION_COLUMNS = ("id", "category", "confidence", "novel", "model_version", "category_map_version", "error")


@dataclass(frozen=True)
class LoadedModel:
    """What model_fn returns: the classifier, its metadata and the versions stamped on predictions."""
    classifier: MessageClassifier
    metadata: dict

    @property
    def model_version(self) -> str:
        # The registry's version, when the serving environment passes it, names the model best.
        return os.environ.get("TWEETOPS_MODEL_VERSION", self.metadata["model_version"])

    @property
    def category_map_version(self):
        return (self.metadata.get("category_map") or {}).get("version")


def model_fn(model_dir: str) -> LoadedModel:
    """Load model.joblib and metadata.json from the extracted model.tar.gz, once model.joblib's sha256 matches
    the digest pinned in the serving model's environment (TWEETOPS_MODEL_SHA256, set at registration)."""
    classifier, metadata = load_model(model_dir, os.environ.get(MODEL_DIGEST_VARIABLE))
    return LoadedModel(classifier, metadata)


def input_fn(request_body: str | bytes, content_type: str = CSV) -> pd.DataFrame:
    """Parse a CSV or JSON Lines payload into a frame with `id` and `text` (strings)."""
    if isinstance(request_body, bytes):
        request_body = request_body.decode("utf-8", errors="replace")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == CSV:
        rows = [row for row in csv.reader(io.StringIO(request_body)) if row]
        if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["id", "text"]:
            rows = rows[1:]
        bad = [i for i, row in enumerate(rows, 1) if len(row) < 2]
        if bad:
            raise ValueError(f"CSV payload rows {bad[:5]} do not have the two columns id,text")
        records = [{"id": row[0], "text": ",".join(row[1:]) if len(row) > 2 else row[1]} for row in rows]
    elif media_type in JSON_LINES or media_type == "application/json":
        records = []
        for number, line in enumerate(request_body.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"JSON Lines payload line {number} is not JSON: {error.msg}") from None
    else:
        raise ValueError(f"unsupported content type {content_type!r}; use {CSV} or {JSON_LINES[0]}")
    # object columns: pandas' Arrow-backed strings cannot hold a lone surrogate (predict_fn reports it per record)
    frame = pd.DataFrame(records, columns=["id", "text"], dtype=object)
    return frame.where(frame.notna(), None)


def predict_fn(messages: pd.DataFrame, model: LoadedModel) -> pd.DataFrame:
    """Clean the texts, then predict category, calibrated confidence and the novelty flag."""
    # Plain lists, not per-row pandas operations: this runs on every record of every payload.
    ids = ["" if value is None else str(value).strip() for value in messages["id"].tolist()]
    texts = [value if isinstance(value, str) else "" for value in messages["text"].tolist()]
    error = [record_error(id_, text) for id_, text in zip(ids, texts)]
    # An id with a lone surrogate is echoed escaped (\\ud800): the response body must be UTF-8.
    ids = [id_ if reason != "invalid_encoding" or encodable(id_) else id_.encode("utf-8", "backslashreplace").decode()
           for id_, reason in zip(ids, error)]
    scorable = np.array([reason is None for reason in error], dtype=bool)
    category, confidence, novel = (np.full(len(ids), None, dtype=object) for _ in range(3))
    if scorable.any():
        cleaned = TextCleaner().transform(pd.DataFrame({"text": np.asarray(texts, dtype=object)[scorable]}))
        probabilities, flags = model.classifier.score(cleaned["feature_text"].tolist())
        novel[scorable] = flags
        category[scorable] = model.classifier.classes_[probabilities.argmax(axis=1)]
        confidence[scorable] = probabilities.max(axis=1).round(6)
    predictions = pd.DataFrame({
        "id": ids, "category": category, "confidence": confidence, "novel": novel,
        "model_version": model.model_version, "category_map_version": model.category_map_version,
        "error": error,
    }, dtype=object)
    # Missing values as None (JSON null), never NaN, whatever pandas made of them.
    return predictions.where(predictions.notna(), None)


def record_error(id_: str, text: str) -> str | None:
    """Why a record cannot be scored (a validation reason name), or None."""
    if id_ == "":
        return "missing_id"
    if not text.strip():
        return "empty_text"
    if not (encodable(text) and encodable(id_)):
        return "invalid_encoding"
    if len(text) > SERVING_MAX_TEXT_CHARS:
        return "text_too_long"
    return None


def encodable(value: str) -> bool:
    """Whether UTF-8 can carry the string (not so for lone surrogates)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def output_fn(predictions: pd.DataFrame, accept: str = "application/jsonlines") -> tuple[str, str]:
    """Serialise predictions as JSON Lines (default) or CSV with a header; returns (body, content type)."""
    media_type = (accept or "application/jsonlines").split(";")[0].strip().lower()
    frame = predictions.loc[:, list(PREDICTION_COLUMNS)]
    if media_type == CSV:
        # People open CSV predictions in spreadsheets: cells that would start a formula are quoted as text.
        return spreadsheet_frame(frame).to_csv(index=False), CSV
    if media_type in JSON_LINES or media_type in ("application/json", "*/*"):
        columns = [[_plain(value) for value in frame[name].tolist()] for name in PREDICTION_COLUMNS]
        body = "".join(_JSON_ENCODE(dict(zip(PREDICTION_COLUMNS, row))) + "\n" for row in zip(*columns))
        return body, JSON_LINES[0]
    raise ValueError(f"unsupported accept type {accept!r}; use {CSV} or {JSON_LINES[0]}")


def _plain(value):
    """numpy scalars -> Python values for json."""
    return value.item() if hasattr(value, "item") else value
