"""Read raw message batches (CSV, JSON Lines, JSON, Parquet; a file or a folder) without losing a row.

The result is one DataFrame of object columns, one row per input record, as found: nothing is validated here
(processing.validate does that). Every row carries its lineage in the columns of LINEAGE_COLUMNS:
- `_source_file`: the file's path relative to the input folder (its name when the input is a single file);
- `_row_number`: 1-based position of the record in its file: the data row for CSV (header and blank lines not
  counted), the line number for JSON Lines, the index in the array for JSON, the row for Parquet;
- `_parse_error`: why the row could not be parsed into a record (else None): such rows are kept, with
- `_raw_record`: what was read for them (the raw JSON line, the CSV fields, the JSON array item).
Text that is not valid UTF-8 is decoded with "surrogateescape": the bad bytes become lone surrogates that
validation detects (reason invalid_encoding) and can show exactly, so nothing is silently mangled.
A file that cannot be read at all raises IngestError, whose message is one line naming the file and the cause.
Parquet is read with pyarrow; CSV and JSON with the standard library's parsers, because the row-level recovery
needed here is beyond pandas' readers (see _read_csv) and JSON integers must stay exact.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SOURCE_FILE_COLUMN = "_source_file"
ROW_NUMBER_COLUMN = "_row_number"
PARSE_ERROR_COLUMN = "_parse_error"
RAW_RECORD_COLUMN = "_raw_record"
LINEAGE_COLUMNS = (SOURCE_FILE_COLUMN, ROW_NUMBER_COLUMN, PARSE_ERROR_COLUMN, RAW_RECORD_COLUMN)

FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
# Tabular formats have a schema: a file without these columns is unusable as a whole, not row by row.
SCHEMA_COLUMNS = ("id", "text")
# Integer ids in Parquet are cast to text inside Arrow, where it is exact (pandas would go through float).
_ID_COLUMNS = ("id", "user_id", "author_id")
# Spreadsheet exports in Spanish locales use ";" (the decimal separator is ","); tabs and pipes also occur.
CSV_DELIMITERS = (",", ";", "\t", "|")


class IngestError(ValueError):
    """An input path or file cannot be read as a whole; the one-line message names it and the cause."""


@dataclass(frozen=True)
class IngestedBatch:
    """Every record read from an input path, the files read, their content hash and what was noticed."""

    records: pd.DataFrame
    files: tuple[str, ...]
    input_hash: str
    warnings: tuple[str, ...]


def read_messages(path: str | Path) -> IngestedBatch:
    """Read a message file or a folder of them (sorted, recursively) into one IngestedBatch."""
    files, warnings = list_input_files(path)
    frames = []
    for name, file in files:
        frame, file_warnings = read_message_file(file, name)
        frames.append(frame)
        warnings.extend(file_warnings)
    if not files:
        warnings.append(f"{Path(path).name}: no {_supported_suffixes()} files found")
    return IngestedBatch(
        records=_concat(frames),
        files=tuple(name for name, _ in files),
        input_hash=hash_files(files),
        warnings=tuple(warnings),
    )


def list_input_files(path: str | Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(relative name, path) of each supported file under `path` in sorted order, and skip warnings."""
    root = Path(path)
    if root.is_file():
        if root.suffix.lower() not in FORMAT_BY_SUFFIX:
            raise IngestError(f"{root.name}: unsupported file type (expected {_supported_suffixes()})")
        return [(root.name, root)], []
    if not root.is_dir():
        raise IngestError(f"{root}: no such file or folder")
    files, warnings = [], []
    for file in sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix()):
        name = file.relative_to(root).as_posix()
        if file.suffix.lower() in FORMAT_BY_SUFFIX:
            files.append((name, file))
        else:
            warnings.append(f"{name}: skipped, not a supported file type ({_supported_suffixes()})")
    return files, warnings


def input_data_hash(path: str | Path) -> str:
    """sha256 hex digest of the supported files under `path` (sorted relative names, sizes and bytes)."""
    files, _ = list_input_files(path)
    return hash_files(files)


def hash_files(files: list[tuple[str, Path]]) -> str:
    """sha256 hex digest over (name, size, bytes) of each file, in the given order; streamed in chunks."""
    digest = hashlib.sha256()
    for name, file in files:
        # Name and size delimit each file, so moving bytes between files changes the hash.
        digest.update(f"{name}\0{file.stat().st_size}\0".encode("utf-8", "surrogateescape"))
        with file.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def read_message_file(path: str | Path, name: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Records of one file (format by extension) with lineage columns, and warnings about the file."""
    path = Path(path)
    name = name or path.name
    file_format = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if file_format is None:
        raise IngestError(f"{name}: unsupported file type (expected {_supported_suffixes()})")
    if path.stat().st_size == 0:  # e.g. an S3 "folder" marker: nothing to read, nothing lost
        return _with_lineage(pd.DataFrame(), name, []), [f"{name}: empty file, no rows"]
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}
    frame, warnings = readers[file_format](path, name)
    if "author_id" in frame.columns and "user_id" not in frame.columns:  # Twitter's name for the author
        frame = frame.rename(columns={"author_id": "user_id"})
    return frame, warnings


def _read_csv(path: Path, name: str) -> tuple[pd.DataFrame, list[str]]:
    """CSV with every field as a string; rows with the wrong field count are kept as malformed."""
    # The stdlib csv reader, not pandas: pandas' python engine (the one with an on_bad_lines callback)
    # silently takes an over-long row as an implicit index or truncates it (pandas 3.1), shifting fields.
    data = _read_bytes(path, name)
    text_stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline="")
    # The csv default caps a field at 128 KiB and would fail the whole file; an over-long text is a row problem.
    previous_limit = csv.field_size_limit(max(csv.field_size_limit(), len(data)))
    try:
        rows = [row for row in csv.reader(text_stream, delimiter=_csv_delimiter(path)) if row]
    except csv.Error as error:
        raise IngestError(f"{name}: not readable as CSV: {_one_line(error)}") from None
    finally:
        csv.field_size_limit(previous_limit)
    if not rows:
        raise IngestError(f"{name}: no header row")
    header = [column.strip() for column in rows[0]]
    _require_schema_columns(header, name)
    duplicated = sorted({column for column in header if header.count(column) > 1})
    if duplicated:
        raise IngestError(f"{name}: duplicate column names in the header: {', '.join(duplicated)}")
    width = len(header)
    values, parse_errors, raw_records = [], [], []
    for row in rows[1:]:
        fits = len(row) == width
        values.append(row if fits else [None] * width)
        parse_errors.append(None if fits else f"expected {width} fields, found {len(row)}")
        raw_records.append(None if fits else row)
    frame = pd.DataFrame(values, columns=header, dtype=object)
    return _with_lineage(frame, name, parse_errors, raw_records), []


def _csv_delimiter(path: Path) -> str:
    """The delimiter that splits the header into fields including id and text ("," when none does)."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        header_line = next((line for line in stream if line.strip()), "")
    for delimiter in CSV_DELIMITERS:
        fields = {field.strip() for field in next(csv.reader([header_line], delimiter=delimiter), [])}
        if fields.issuperset(SCHEMA_COLUMNS):
            return delimiter
    return ","


def _read_jsonl(path: Path, name: str) -> tuple[pd.DataFrame, list[str]]:
    """JSON Lines: one object per line; a line that is not a JSON object is kept as malformed."""
    text = _decode(path, name)
    values, row_numbers, parse_errors, raw_records = [], [], [], []
    # Split on "\n" only: str.splitlines would also split inside strings at U+2028 and similar.
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        value, error = _parse_json_object(line)
        values.append(value)
        row_numbers.append(line_number)
        parse_errors.append(error)
        raw_records.append(line if error else None)
    frame = pd.DataFrame(values, dtype=object) if values else pd.DataFrame()
    return _with_lineage(frame, name, parse_errors, raw_records, row_numbers), []


def _parse_json_object(line: str) -> tuple[dict, str | None]:
    """The object on one JSON line, or ({}, why it is not one)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return {}, f"invalid JSON: {error.msg} at column {error.colno}"
    if not isinstance(value, dict):
        return {}, f"a JSON {json_kind(value)}, not an object"
    return value, None


def _read_json(path: Path, name: str) -> tuple[pd.DataFrame, list[str]]:
    """JSON array of objects or Twitter API v2 {"data": [...]}; a .json holding JSON Lines is read as such."""
    text = _decode(path, name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and _parse_json_object(text.lstrip().split("\n", 1)[0])[1] is None:
            frame, _ = _read_jsonl(path, name)
            return frame, [f"{name}: holds JSON Lines, not one JSON document; read line by line"]
        raise IngestError(f"{name}: not valid JSON: {error.msg} (line {error.lineno} column {error.colno})") from None
    items, warnings = _json_items(document, name)
    values, parse_errors, raw_records = [], [], []
    for item in items:
        is_object = isinstance(item, dict)
        values.append(item if is_object else {})
        parse_errors.append(None if is_object else f"a JSON {json_kind(item)}, not an object")
        raw_records.append(None if is_object else item)
    frame = pd.DataFrame(values, dtype=object) if values else pd.DataFrame()
    return _with_lineage(frame, name, parse_errors, raw_records), warnings


def _json_items(document: object, name: str) -> tuple[list, list[str]]:
    """The message items of a JSON document and warnings (e.g. errors reported by the Twitter API)."""
    if isinstance(document, list):
        return document, []
    if isinstance(document, dict) and "data" in document:
        data = document["data"]
        warnings = []
        if document.get("errors"):
            warnings.append(f"{name}: the Twitter API response lists {len(document['errors'])} error(s)")
        if isinstance(data, dict):  # single-tweet lookup
            return [data], warnings
        if isinstance(data, list):
            return data, warnings
    kind = "an object without \"data\"" if isinstance(document, dict) else f"a JSON {json_kind(document)}"
    raise IngestError(f"{name}: expected a list of message objects or a Twitter API v2 {{\"data\": [...]}} "
                      f"object, found {kind}")


def _read_parquet(path: Path, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Parquet, with integer ids cast to text and binary columns decoded like text files."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise IngestError(f"{name}: not readable as Parquet: {_one_line(error)}") from None
    _require_schema_columns(table.column_names, name)
    for column in _ID_COLUMNS:
        if column in table.column_names and pa.types.is_integer(table.schema.field(column).type):
            position = table.column_names.index(column)
            table = table.set_column(position, column, table.column(column).cast(pa.string()))
    frame = table.to_pandas().astype(object)
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            frame[field.name] = frame[field.name].map(
                lambda value: value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value)
    return _with_lineage(frame, name, [None] * len(frame)), []


def _decode(path: Path, name: str) -> str:
    """File text as UTF-8 (BOM dropped); invalid bytes become lone surrogates for validation to flag."""
    return _read_bytes(path, name).decode("utf-8-sig", "surrogateescape")


def _read_bytes(path: Path, name: str) -> bytes:
    """The file's bytes, refusing UTF-16 (whose every character would otherwise look like bad UTF-8)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{name}: encoded as UTF-16; convert it to UTF-8")
    return data


def _require_schema_columns(columns: list[str], name: str) -> None:
    missing = [column for column in SCHEMA_COLUMNS if column not in columns]
    if missing:
        found = ", ".join(map(str, columns[:10])) or "none"
        raise IngestError(f"{name}: no {' or '.join(missing)} column (columns found: {found})")


def _with_lineage(frame: pd.DataFrame, name: str, parse_errors: list, raw_records: list | None = None,
                  row_numbers: list[int] | None = None) -> pd.DataFrame:
    """The frame with the lineage columns added (row numbers default to 1..n)."""
    frame = frame.reset_index(drop=True)
    count = len(parse_errors)
    frame[SOURCE_FILE_COLUMN] = pd.Series([name] * count, dtype=object)
    frame[ROW_NUMBER_COLUMN] = pd.Series(row_numbers or range(1, count + 1), dtype="int64")
    frame[PARSE_ERROR_COLUMN] = pd.Series(parse_errors, dtype=object)
    frame[RAW_RECORD_COLUMN] = pd.Series(raw_records or [None] * count, dtype=object)
    return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of all files' rows (columns are the union; absent fields are NaN)."""
    non_empty = [frame for frame in frames if len(frame)]
    if not non_empty:
        return _with_lineage(pd.DataFrame(), "", [])
    return pd.concat(non_empty, ignore_index=True)


def json_kind(value: object) -> str:
    """The JSON name of a value's type ("string", "number", "array", ...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "number"
    kinds = {str: "string", list: "array", dict: "object"}
    return next((kind for cls, kind in kinds.items() if isinstance(value, cls)), type(value).__name__)


def _supported_suffixes() -> str:
    return ", ".join(FORMAT_BY_SUFFIX)


def _one_line(error: BaseException) -> str:
    """The first line of an exception's message (parsers may give several)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
