"""Read raw message batches (CSV, JSON Lines, JSON, Parquet; a file or a folder) without losing a row.

The result is one DataFrame of object columns, one row per input record, as found: nothing is validated here
(processing.validate does that). Every row carries its lineage in the columns of LINEAGE_COLUMNS:
- `_source_file`: the file's path relative to the input folder (its name when the input is a single file);
- `_row_number`: 1-based position of the record in its file: the data row for CSV (header and blank lines not
  counted), the line number for JSON Lines, the index in the array for JSON, the row for Parquet;
- `_line`: the physical line the record starts on (CSV and JSON Lines; None for JSON and Parquet);
- `_parse_error`: why the row could not be parsed into a record (else None): such rows are kept, with
- `_raw_record`: what was read for them (the raw JSON line, the CSV fields, the JSON array item).
Text that is not valid UTF-8 is decoded with "surrogateescape": the bad bytes become lone surrogates that
validation detects (reason invalid_encoding) and can show exactly, so nothing is silently mangled.
A file that cannot be read at all raises IngestError, whose message is one line naming the file and the cause:
e.g. compressed or binary data under a text name, JSON nested deeper than MAX_JSON_DEPTH (checked without
recursing). Within a file nothing is dropped silently: a CSV record the parser cannot read (an unterminated
quote) is kept as malformed with its physical lines, and reading resumes on the line after its first; one bad
JSON Lines line is one malformed row. FileCounts says how the physical lines of each file became rows.
Parquet is read with pyarrow; CSV and JSON with the standard library's parsers, because the row-level recovery
needed here is beyond pandas' readers (see _read_csv) and JSON integers must stay exact.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from processing.record_values import json_kind
from processing.sanitize import shown_names

SOURCE_FILE_COLUMN = "_source_file"
ROW_NUMBER_COLUMN = "_row_number"
PARSE_ERROR_COLUMN = "_parse_error"
RAW_RECORD_COLUMN = "_raw_record"
LINE_COLUMN = "_line"
LINEAGE_COLUMNS = (SOURCE_FILE_COLUMN, ROW_NUMBER_COLUMN, LINE_COLUMN, PARSE_ERROR_COLUMN, RAW_RECORD_COLUMN)

FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
# Tabular formats have a schema: a file without these columns is unusable as a whole, not row by row.
SCHEMA_COLUMNS = ("id", "text")
# Integer ids in Parquet are cast to text inside Arrow, where it is exact (pandas would go through float).
_ID_COLUMNS = ("id", "user_id", "author_id")
# Spreadsheet exports in Spanish locales use ";" (the decimal separator is ","); tabs and pipes also occur.
CSV_DELIMITERS = (",", ";", "\t", "|")
# Message JSON is two or three levels deep; deeper input only serves to exhaust the parser's recursion.
MAX_JSON_DEPTH = 64
# Data that is not text under a text name (.csv, .json, .jsonl), recognised by its first bytes.
_BINARY_SIGNATURES = tuple((re.compile(re.escape(prefix)), problem) for prefix, problem in (
    (b"\x1f\x8b", "gzip data; decompress it"),
    (b"PK\x03\x04", "a ZIP archive; extract it"),
    (b"\xfd7zXZ\x00", "xz data; decompress it"),
    (b"\x28\xb5\x2f\xfd", "zstd data; decompress it"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract it"),
    (b"PAR1", "Parquet data; name it .parquet"),
)) + ((re.compile(b"BZh[1-9]1AY&SY"), "bzip2 data; decompress it"),)
# Control bytes other than tab, line feed, form feed and carriage return; text has few, binary data many.
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13})
_BINARY_SAMPLE_BYTES = 8192
_BINARY_CONTROL_SHARE = 0.1
# A string, or an unterminated one up to the end; possessive, so every quote starts one match and the scan is linear.
_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_JSON_BRACKET_RE = re.compile(r"[\[\]{}]")
_OPENING_BRACKETS = np.frombuffer(b"[{", np.uint8)


class IngestError(ValueError):
    """An input path or file cannot be read as a whole; the one-line message names it and the cause."""


@dataclass(frozen=True)
class FileCounts:
    """How one file's content became rows: `records` rows, and for line formats where its lines went.

    physical lines = blank + header + records + continuation (lines a quoted field carried on to)."""

    records: int
    lines: int | None = None
    blank: int = 0
    header: int = 0
    continuation: int = 0

    def __post_init__(self) -> None:
        accounted = self.blank + self.header + self.records + self.continuation
        if self.lines is not None and self.lines != accounted:  # not `assert`: it must hold under python -O too
            raise AssertionError(f"lines lost in ingestion: {self.lines} lines, {accounted} accounted for")

    def to_dict(self) -> dict:
        """The counts for a report (line counts only for line formats)."""
        if self.lines is None:
            return {"records": self.records}
        return {"lines": self.lines, "blank_lines": self.blank, "header_lines": self.header,
                "records": self.records, "continuation_lines": self.continuation}


@dataclass(frozen=True)
class IngestedBatch:
    """Every record read from an input path, the files read, their content hash and what was noticed."""

    records: pd.DataFrame
    files: tuple[str, ...]
    input_hash: str
    warnings: tuple[str, ...]
    file_counts: dict[str, FileCounts] = field(default_factory=dict)


def read_messages(path: str | Path) -> IngestedBatch:
    """Read a message file or a folder of them (sorted, recursively) into one IngestedBatch."""
    files, warnings = list_input_files(path)
    frames, file_counts = [], {}
    for name, file in files:
        frame, file_warnings, file_counts[name] = read_counted_message_file(file, name)
        frames.append(frame)
        warnings.extend(file_warnings)
    if not files:
        warnings.append(f"{Path(path).name}: no {_supported_suffixes()} files found")
    return IngestedBatch(
        records=_concat(frames),
        files=tuple(name for name, _ in files),
        input_hash=hash_files(files),
        warnings=tuple(warnings),
        file_counts=file_counts,
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
    frame, warnings, _ = read_counted_message_file(path, name)
    return frame, warnings


def read_counted_message_file(path: str | Path,
                              name: str | None = None) -> tuple[pd.DataFrame, list[str], FileCounts]:
    """read_message_file, plus how the file's content became rows."""
    path = Path(path)
    name = name or path.name
    file_format = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if file_format is None:
        raise IngestError(f"{name}: unsupported file type (expected {_supported_suffixes()})")
    if path.stat().st_size == 0:  # e.g. an S3 "folder" marker: nothing to read, nothing lost
        return _with_lineage(pd.DataFrame(), name, []), [f"{name}: empty file, no rows"], FileCounts(0, lines=0)
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}
    frame, warnings, counts = readers[file_format](path, name)
    if "author_id" in frame.columns and "user_id" not in frame.columns:  # Twitter's name for the author
        frame = frame.rename(columns={"author_id": "user_id"})
    if counts.records == 0 and not any(name in warning for warning in warnings):
        warnings.append(f"{name}: no records, no rows")
    return frame, warnings, counts


def _read_csv(path: Path, name: str) -> tuple[pd.DataFrame, list[str], FileCounts]:
    """CSV with every field as a string; records with the wrong field count or a broken quote are kept as malformed."""
    # The stdlib csv reader, not pandas: pandas' python engine (the one with an on_bad_lines callback)
    # silently takes an over-long row as an implicit index or truncates it (pandas 3.1), shifting fields.
    lines = _physical_lines(_decode(path, name))
    # The csv default caps a field at 128 KiB and would fail the whole file; an over-long text is a row problem.
    previous_limit = csv.field_size_limit(max(csv.field_size_limit(), sum(map(len, lines)) + 1))
    try:
        records = list(_csv_records(lines, _csv_delimiter(lines)))
    finally:
        csv.field_size_limit(previous_limit)
    if not records:
        raise IngestError(f"{name}: no header row")
    header_record, data_records = records[0], records[1:]
    if header_record.error:
        raise IngestError(f"{name}: the header row (line {header_record.first_line}) is not readable as CSV: "
                          f"{header_record.error}")
    header = [column.strip() for column in header_record.fields]
    _require_schema_columns(header, name)
    duplicated = sorted({column for column in header if header.count(column) > 1})
    if duplicated:
        raise IngestError(f"{name}: duplicate column names in the header: {shown_names(duplicated)}")
    width = len(header)
    values, parse_errors, raw_records = [], [], []
    for record in data_records:
        error = record.error or (None if len(record.fields) == width
                                 else f"expected {width} fields, found {len(record.fields)}")
        values.append([None] * width if error else record.fields)
        parse_errors.append(error)
        raw_records.append(record.raw if record.error else (record.fields if error else None))
    frame = pd.DataFrame(values, columns=header, dtype=object)
    _check_lines_between_records_are_blank(lines, records, name)
    spans = [record.last_line - record.first_line + 1 for record in records]
    counts = FileCounts(records=len(data_records), lines=len(lines), blank=len(lines) - sum(spans),
                        header=spans[0], continuation=sum(spans[1:]) - len(data_records))
    warnings = [f"{name}: header only, no rows"] if not data_records else []
    return _with_lineage(frame, name, parse_errors, raw_records,
                         lines=[record.first_line for record in data_records]), warnings, counts


@dataclass(frozen=True)
class _CsvRecord:
    """One CSV record: its physical lines (1-based, inclusive) and fields, or why it could not be parsed."""

    first_line: int
    last_line: int
    fields: list[str]
    error: str | None = None
    raw: str | None = None


class _LineFeed:
    """Physical lines fed one at a time to csv.reader; `position` (0-based, next line) can be moved back."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.position = 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


def _csv_records(lines: list[str], delimiter: str) -> Iterator[_CsvRecord]:
    """The non-blank records of CSV lines in order; a record the strict parser rejects becomes an error record
    of its first line, and parsing resumes on the next line, so a broken quote cannot swallow the rows after it."""
    feed = _LineFeed(lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    while True:
        start = feed.position
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield _CsvRecord(start + 1, start + 1, [], _csv_error(error, start + 1, feed.position, len(lines)),
                             raw=lines[start].rstrip("\r\n"))
            feed.position = start + 1
            continue
        if fields:  # a blank line is no record
            yield _CsvRecord(start + 1, feed.position, fields)


def _csv_error(error: csv.Error, first_line: int, last_line: int, line_count: int) -> str:
    """Why a CSV record is unreadable, with the physical lines it would have covered."""
    cause = _one_line(error)
    if "unexpected end of data" in cause or (last_line == line_count and last_line > first_line):
        return (f"unterminated quoted field: it runs from line {first_line} to the end of the file "
                f"(line {line_count}); reading resumed at line {first_line + 1}")
    if last_line > first_line:
        return (f"broken quoted field on lines {first_line}-{last_line} ({cause}); "
                f"reading resumed at line {first_line + 1}")
    return f"not readable as CSV on line {first_line}: {cause}"


def _check_lines_between_records_are_blank(lines: list[str], records: list[_CsvRecord], name: str) -> None:
    """The raw count behind FileCounts: a line that no record covers must be empty, else a row was lost."""
    covered = [False] * len(lines)
    for record in records:
        covered[record.first_line - 1:record.last_line] = [True] * (record.last_line - record.first_line + 1)
    lost = next((number for number, (line, is_covered) in enumerate(zip(lines, covered), start=1)
                 if not is_covered and line.strip("\r\n")), None)
    if lost is not None:  # not `assert`: it must hold under python -O too
        raise AssertionError(f"{name}: line {lost} was neither read as a record nor blank")


def _physical_lines(text: str) -> list[str]:
    """The lines of a text with their endings, split where the csv module splits: at \\r\\n, \\n or \\r."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def _csv_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the header into fields including id and text ("," when none does)."""
    header_line = next((line for line in lines if line.strip()), "")
    for delimiter in CSV_DELIMITERS:
        fields = {field.strip() for field in next(csv.reader([header_line], delimiter=delimiter), [])}
        if fields.issuperset(SCHEMA_COLUMNS):
            return delimiter
    return ","


def _read_jsonl(path: Path, name: str) -> tuple[pd.DataFrame, list[str], FileCounts]:
    """JSON Lines: one object per line; a line that is not a JSON object is kept as malformed."""
    text = _decode(path, name)
    values, line_numbers, parse_errors, raw_records = [], [], [], []
    # Split on "\n" only: str.splitlines would also split inside strings at U+2028 and similar.
    lines = text.split("\n")
    if lines[-1] == "":  # the final line break ends the last line, it starts none
        lines.pop()
    for line_number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        value, error = _parse_json_object(line)
        values.append(value)
        line_numbers.append(line_number)
        parse_errors.append(error)
        raw_records.append(line if error else None)
    frame = pd.DataFrame(values, dtype=object) if values else pd.DataFrame()
    counts = FileCounts(records=len(values), lines=len(lines), blank=len(lines) - len(values))
    return _with_lineage(frame, name, parse_errors, raw_records, line_numbers, line_numbers), [], counts


def _parse_json_object(line: str) -> tuple[dict, str | None]:
    """The object on one JSON line, or ({}, why it is not one)."""
    value, error = _parse_json(line)
    if error:
        return {}, error
    if not isinstance(value, dict):
        return {}, f"a JSON {json_kind(value)}, not an object"
    return value, None


def _parse_json(text: str) -> tuple[object, str | None]:
    """The JSON value of a text, or (None, why it is not one); nesting is bounded before parsing."""
    if json_too_deep(text):
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}" if error.lineno > 1 else f"column {error.colno}"
        return None, f"invalid JSON: {error.msg} at {where}"
    except RecursionError:  # cannot happen after the depth check; kept so a parser change cannot crash a batch
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:  # the one other failure of json.loads on text: an integer too long to convert
        return None, f"invalid JSON: a number has more than {sys.get_int_max_str_digits()} digits"


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Do the arrays and objects in a JSON text nest deeper than `limit`? Counted without recursing."""
    if text.count("[") + text.count("{") <= limit:  # the depth is at most the number of opening brackets
        return False
    brackets = np.frombuffer("".join(_JSON_BRACKET_RE.findall(_JSON_STRING_RE.sub("", text))).encode(), np.uint8)
    if len(brackets) <= limit:
        return False
    return int(np.cumsum(np.where(np.isin(brackets, _OPENING_BRACKETS), 1, -1)).max()) > limit


def _read_json(path: Path, name: str) -> tuple[pd.DataFrame, list[str], FileCounts]:
    """JSON array of objects or Twitter API v2 {"data": [...]}; a .json holding JSON Lines is read as such."""
    text = _decode(path, name)
    document, error = _parse_json(text)
    if error:
        first_line = text.lstrip().split("\n", 1)[0]
        if "Extra data" in error and _parse_json_object(first_line)[1] is None:
            frame, _, counts = _read_jsonl(path, name)
            return frame, [f"{name}: holds JSON Lines, not one JSON document; read line by line"], counts
        raise IngestError(f"{name}: " + error.replace("invalid JSON", "not valid JSON", 1))
    items, warnings = _json_items(document, name)
    values, parse_errors, raw_records = [], [], []
    for item in items:
        is_object = isinstance(item, dict)
        values.append(item if is_object else {})
        parse_errors.append(None if is_object else f"a JSON {json_kind(item)}, not an object")
        raw_records.append(None if is_object else item)
    frame = pd.DataFrame(values, dtype=object) if values else pd.DataFrame()
    return _with_lineage(frame, name, parse_errors, raw_records), warnings, FileCounts(records=len(items))


def _json_items(document: object, name: str) -> tuple[list, list[str]]:
    """The message items of a JSON document and warnings (e.g. errors reported by the Twitter API)."""
    if isinstance(document, list):
        return document, []
    if isinstance(document, dict) and isinstance(document.get("data"), (dict, list)):
        data = document["data"]
        warnings = []
        errors = document.get("errors")
        if errors:
            count = len(errors) if isinstance(errors, list) else 1
            warnings.append(f"{name}: the Twitter API response lists {count} error(s)")
        return ([data] if isinstance(data, dict) else data), warnings  # a dict: a single-tweet lookup
    if isinstance(document, dict) and "data" in document:
        kind = f"an object whose \"data\" is a JSON {json_kind(document['data'])}"
    else:
        kind = "an object without \"data\"" if isinstance(document, dict) else f"a JSON {json_kind(document)}"
    raise IngestError(f"{name}: expected a list of message objects or a Twitter API v2 {{\"data\": [...]}} "
                      f"object, found {kind}")


def _read_parquet(path: Path, name: str) -> tuple[pd.DataFrame, list[str], FileCounts]:
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
    for field_ in table.schema:
        if pa.types.is_binary(field_.type) or pa.types.is_large_binary(field_.type):
            frame[field_.name] = frame[field_.name].map(
                lambda value: value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value)
    return _with_lineage(frame, name, [None] * len(frame)), [], FileCounts(records=len(frame))


def _decode(path: Path, name: str) -> str:
    """File text as UTF-8 (BOM dropped); invalid bytes become lone surrogates for validation to flag."""
    return _read_bytes(path, name).decode("utf-8-sig", "surrogateescape")


def _read_bytes(path: Path, name: str) -> bytes:
    """The bytes of a text file, refusing UTF-16 and binary data (whose every byte would look like bad text)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{name}: encoded as UTF-16; convert it to UTF-8")
    problem = _binary_problem(data[:_BINARY_SAMPLE_BYTES])
    if problem:
        raise IngestError(f"{name}: looks like {problem}")
    return data


def _binary_problem(sample: bytes) -> str | None:
    """What a file's first bytes look like when they are not text ("gzip data; decompress it"), else None."""
    for signature, problem in _BINARY_SIGNATURES:
        if signature.match(sample):
            return problem
    nul_positions = {index % 2 for index, byte in enumerate(sample) if byte == 0}
    if len(sample) >= 4 and sample.count(0) * 2 >= len(sample) - 1 and len(nul_positions) == 1:
        return "UTF-16 without a byte order mark; convert it to UTF-8"
    if sum(map(sample.count, _CONTROL_BYTES)) > _BINARY_CONTROL_SHARE * len(sample):
        return "binary data, not text"
    return None


def _require_schema_columns(columns: list[str], name: str) -> None:
    missing = [column for column in SCHEMA_COLUMNS if column not in columns]
    if missing:
        found = shown_names([str(column) for column in columns]) or "none"
        raise IngestError(f"{name}: no {' or '.join(missing)} column (columns found: {found})")


def _with_lineage(frame: pd.DataFrame, name: str, parse_errors: list, raw_records: list | None = None,
                  row_numbers: list[int] | None = None, lines: list[int] | None = None) -> pd.DataFrame:
    """The frame with the lineage columns added (row numbers default to 1..n, lines to None)."""
    frame = frame.reset_index(drop=True)
    count = len(parse_errors)
    frame[SOURCE_FILE_COLUMN] = pd.Series([name] * count, dtype=object)
    frame[ROW_NUMBER_COLUMN] = pd.Series(row_numbers or range(1, count + 1), dtype="int64")
    frame[LINE_COLUMN] = pd.Series(lines or [None] * count, dtype=object)
    frame[PARSE_ERROR_COLUMN] = pd.Series(parse_errors, dtype=object)
    frame[RAW_RECORD_COLUMN] = pd.Series(raw_records or [None] * count, dtype=object)
    return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of all files' rows (columns are the union; absent fields are NaN)."""
    non_empty = [frame for frame in frames if len(frame)]
    if not non_empty:  # keep the columns that headers named, so an empty batch still has its schema
        columns = dict.fromkeys(column for frame in frames for column in frame.columns if column not in LINEAGE_COLUMNS)
        return _with_lineage(pd.DataFrame(columns=list(columns), dtype=object), "", [])
    return pd.concat(non_empty, ignore_index=True)


def _supported_suffixes() -> str:
    return ", ".join(FORMAT_BY_SUFFIX)


def _one_line(error: BaseException) -> str:
    """The first line of an exception's message (parsers may give several)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
