"""The predictions zone and its summary.

Batch transform writes one `<input object>.out` per input object, mirroring the input's folders. With
the tweetops handlers (inference/handlers.py) each is JSON Lines, one record per input message:
id, category, confidence, novel, model_version, category_map_version, error (null when scored).
The summary says what a batch looked like: counts and shares per category, errors by reason, and the
shares of low-confidence and novel messages.
"""
from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path

import pandas as pd

from processing.storage import write_json_atomic

# The record inference/handlers.py writes (its PREDICTION_COLUMNS; a test keeps the two equal). Not
# imported from there: that would load the classifier and spaCy just to read a file.
PREDICTION_FIELDS = ("id", "category", "confidence", "novel", "model_version", "category_map_version", "error")
SUMMARY_FILE = "summary.json"
# What each field may hold in JSON besides null (id: never null): a record of another shape did not come from
# the handlers, and summarising it would fail on the first unhashable category or non-numeric confidence.
FIELD_TYPES = {"id": (str, int), "category": (str,), "confidence": (int, float), "novel": (bool,),
               "model_version": (str, int), "category_map_version": (str, int), "error": (str,)}
_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "text", bool: "true or false", int: "a number",
                    float: "a number", type(None): "null"}
_ALLOWED_TYPES = {field: frozenset(types) | ({type(None)} if field != "id" else set())
                  for field, types in FIELD_TYPES.items()}  # the types of json.loads values that _holds accepts
_FIELD_SET = frozenset(PREDICTION_FIELDS)
_DECODER = json.JSONDecoder()  # json.loads' settings
_JSON_WHITESPACE = " \t\n\r"


def prediction_files(folder: str | Path) -> list[Path]:
    """Every *.out file under a folder, in name order (of the path relative to the folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such predictions folder")
    files = sorted((path for path in folder.rglob("*.out") if path.is_file()),
                   key=lambda path: path.relative_to(folder).as_posix())
    if not files:
        raise ValueError(f"{folder}: no *.out files (batch transform writes one <input object>.out per object)")
    return files


def read_predictions(folder: str | Path) -> pd.DataFrame:
    """All prediction records under a folder as one frame with the PREDICTION_FIELDS columns."""
    records = []
    for path in prediction_files(folder):
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
        records += _contract_records(lines) or [_parse_record(line, path, number)
                                                for number, line in enumerate(lines, 1) if line.strip()]
    frame = pd.DataFrame.from_records(records, columns=list(PREDICTION_FIELDS)).astype(object)
    # JSON null stays None (as the handlers hold it), not the NaN pandas makes of it.
    return frame.where(frame.notna(), None)


def _contract_records(lines: list[str]) -> list[dict] | None:
    """The records of a file's lines when every one is a JSON object of the prediction contract, checked a column
    at a time (a file of 5,000 lines in milliseconds); None otherwise, and _parse_record then names the first bad
    line. The records are json.loads' own: raw_decode at column 0 with nothing but JSON whitespace after."""
    records = []
    try:
        for line in lines:
            if line.strip():
                record, end = _DECODER.raw_decode(line)
                if end != len(line) and line[end:].strip(_JSON_WHITESPACE):
                    return None
                records.append(record)
    except ValueError:  # not JSON (or leading whitespace, which json.loads allows): the line-by-line path decides
        return None
    if not all(type(record) is dict and record.keys() >= _FIELD_SET for record in records):
        return None
    for field, allowed in _ALLOWED_TYPES.items():  # type(), not isinstance: true/false is no number here
        if not set(map(type, map(itemgetter(field), records))) <= allowed:
            return None  # also a NaN where no float belongs, which _holds counts as null
    return records


def _parse_record(line: str, path: Path, number: int) -> dict:
    """One JSON Lines record, checked against the prediction contract."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {number} is not JSON: {error.msg}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: line {number} is not a JSON object")
    missing = [field for field in PREDICTION_FIELDS if field not in record]
    if missing:
        raise ValueError(f"{path}: line {number} lacks the prediction fields {missing}")
    for field, types in FIELD_TYPES.items():
        if not _holds(record[field], types, nullable=field != "id"):
            expected = " or ".join(dict.fromkeys(_JSON_TYPE_NAMES[kind] for kind in types))
            raise ValueError(f"{path}: line {number}: {field} is {_JSON_TYPE_NAMES[type(record[field])]}, "
                             f"expected {expected}{'' if field == 'id' else ' or null'}")
    return record


def _holds(value, types: tuple[type, ...], nullable: bool) -> bool:
    """Whether a JSON value is one of `types` (true/false counts as a number only where bool is listed)."""
    if value is None or value != value:  # NaN (which pandas writes for a missing value) is null too
        return nullable
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def summarize_predictions(frame: pd.DataFrame, low_confidence_threshold: float = 0.5) -> dict:
    """Counts per category, errors by reason, low-confidence and novel shares, and the versions seen.

    Shares are fractions of the scored rows (None when nothing was scored); rows = scored + errors.
    """
    if not 0 <= low_confidence_threshold <= 1:
        raise ValueError(f"low_confidence_threshold must be between 0 and 1, got {low_confidence_threshold}")
    missing = [field for field in PREDICTION_FIELDS if field not in frame.columns]
    if missing:
        raise ValueError(f"predictions lack the fields {missing}")
    scored = frame[frame["error"].isna()]
    n_scored = len(scored)

    def share(count: int) -> float | None:
        return round(count / n_scored, 6) if n_scored else None

    counts = scored["category"].value_counts()
    categories = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    low = int((pd.to_numeric(scored["confidence"], errors="coerce") < low_confidence_threshold).sum())
    novel = int(scored["novel"].fillna(False).astype(bool).sum())
    errors = frame.loc[frame["error"].notna(), "error"].value_counts()
    return {
        "rows": len(frame),
        "scored": n_scored,
        "errors": {str(reason): int(count) for reason, count in sorted(errors.items())},
        # A list, not a mapping: the order (count, then name) survives JSON written with sorted keys.
        "categories": [{"category": category, "count": int(count), "share": share(int(count))}
                       for category, count in categories],
        "low_confidence": {"threshold": low_confidence_threshold, "count": low, "share": share(low)},
        "novel": {"count": novel, "share": share(novel)},
        "model_versions": _distinct(frame["model_version"]),
        "category_map_versions": _distinct(frame["category_map_version"]),
    }


def _distinct(values: pd.Series) -> list:
    """The distinct non-null values, sorted (as text, so numbers and strings may mix)."""
    return sorted({_plain(value) for value in values.dropna()}, key=str)


def _plain(value):
    """numpy scalars -> Python values for json."""
    return value.item() if hasattr(value, "item") else value


def summarize_job(predictions_dir: str | Path, output_dir: str | Path,
                  low_confidence_threshold: float = 0.5) -> dict:
    """predictions/ -> output_dir/summary.json (written atomically); returns the summary."""
    summary = summarize_predictions(read_predictions(predictions_dir), low_confidence_threshold)
    summary["files"] = len(prediction_files(predictions_dir))
    write_json_atomic(Path(output_dir) / SUMMARY_FILE, summary)
    return summary
