"""Validate ingested message records: every row is accepted or quarantined with exactly one reason.

`validate` is pure (DataFrame in, DataFrames and a report dict out); `write_validation_outputs` is the edge that
writes them atomically. The rules, checked in the order of contract.QUARANTINE_REASONS (a row gets the first
rule it breaks):
- malformed_record: ingestion could not parse the row (it carries `_parse_error`);
- invalid_encoding: a contract field holds bytes that are not UTF-8 (lone surrogates from "surrogateescape");
- control_characters: `text` holds a C0 or C1 control character other than tab, line feed and carriage return
  (NUL, the escape that starts a terminal escape sequence, DEL, U+0080-U+009F); the detail names the first one
  and its position. Such a character has no place in a message and can act on a terminal or a parser;
- missing_id: `id` absent, null, or empty/whitespace; missing_text: `text` absent or null;
- invalid_type: `id` is not a string or integer; `text` not a string; `created_at` not an ISO 8601 string (or a
  timestamp); `lang` not a string; `source`, `user_id`, `label` not strings or integers (integers become text);
- duplicate_id: the id (as text) was already seen in a row that passed the rules above; the first is kept;
- empty_text: only whitespace; text_too_long: more than `max_text_chars` characters (code points);
- url_only: nothing but URLs and whitespace;
- emoji_only: once URLs are removed, no letter or digit is left (only emoji, symbols, punctuation); @mentions
  and #hashtags hold letters, so they count as text;
- unsupported_language: the language is not in `languages`. A given `lang` wins: "es"/"en"/"other" as is,
  region tags by their primary subtag ("es-MX" -> "es"), any other code ("fr", "pt") -> "other"; absent, empty
  or Twitter's undetermined codes ("und", "zxx", "qme", ...) -> processing.language detects it.
Empty optional fields ("" in a CSV) count as absent.
Bidirectional override and isolate characters (contract.BIDI_CONTROL_CHARACTERS) and zero-width characters
(contract.ZERO_WIDTH_CHARACTERS) are not a reason: they have legitimate uses (right-to-left text, emoji
sequences), so such messages are kept, counted in the report's `flagged` section and named in a warning, so that
a person knows that what they see may not be what the text holds.
The report also gives, per file, how the file's lines became rows (processing.ingest.FileCounts) when known.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from processing.contract import (
    BIDI_CONTROL_CHARACTERS,
    DEFAULT_LANGUAGES,
    DEFAULT_MAX_TEXT_CHARS,
    FIELDS,
    LANGUAGES,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
    REQUIRED_FIELDS,
    ZERO_WIDTH_CHARACTERS,
)
from processing.ingest import (
    LINE_COLUMN,
    LINEAGE_COLUMNS,
    PARSE_ERROR_COLUMN,
    RAW_RECORD_COLUMN,
    ROW_NUMBER_COLUMN,
    SOURCE_FILE_COLUMN,
    FileCounts,
)
from processing.language import detect_languages
from processing.record_values import (SURROGATE_RE, as_text, has_valid_type, is_id_like_type, is_missing,
                                      is_string_type, json_kind, json_safe, printable, shorten)
from processing.sanitize import shown_names
from processing.storage import atomic_output, write_text_atomic

MESSAGES_FILE = "messages.parquet"
QUARANTINE_FILE = "quarantine.jsonl"
IN_MEMORY_SOURCE = "<dataframe>"  # source_file of rows given without lineage columns

_CONTROL_CHARACTER_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 but tab, LF, CR
_BIDI_CONTROL_RE = re.compile(f"[{BIDI_CONTROL_CHARACTERS}]")
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH_CHARACTERS}]")
_URL_RE = re.compile(r"(?:https?://|\bwww\.)\S*", re.IGNORECASE)
_LETTER_OR_DIGIT_RE = re.compile(r"[^\W_]")  # \w without the underscore: Unicode letters and digits
_OPTIONAL_FIELDS = ("created_at", "lang", "source", "user_id", "label")
_ID_LIKE_FIELDS = ("source", "user_id", "label")  # strings, or integers read from JSON/Parquet
_LANG_ALIASES = {"spa": "es", "spanish": "es", "español": "es", "espanol": "es", "eng": "en", "english": "en"}
# Twitter's codes for "no language": undetermined, no linguistic content, media/hashtag/mention/cashtag only.
# Placeholders that exports write for a missing value are not language codes either.
_UNDETERMINED_LANGS = frozenset(("", "und", "zxx", "qme", "qht", "qam", "qct", "qst", "art",
                                 "null", "none", "nan", "n/a", "unknown", "unk"))
# Working columns, derived once for the rows still open when the first rule needing them runs.
_TEXT_WITHOUT_URLS = "_text_without_urls"
_RESOLVED_LANG = "_lang"


@dataclass(frozen=True)
class ValidationResult:
    """Accepted records (contract fields), quarantined rows (QUARANTINE_COLUMNS) and the counts report."""

    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    report: dict


@dataclass(frozen=True)
class _Settings:
    languages: tuple[str, ...]
    max_text_chars: int


def validate(records: pd.DataFrame, languages: Iterable[str] = DEFAULT_LANGUAGES,
             max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, *, input_hash: str | None = None,
             warnings: Iterable[str] = (), file_counts: dict[str, FileCounts] | None = None) -> ValidationResult:
    """Split records (from processing.ingest, or any frame with contract columns) into accepted and quarantine.

    `file_counts` (IngestedBatch.file_counts) puts each file's line accounting in the report and is checked
    against the rows of that file."""
    settings = _check_settings(languages, max_text_chars)
    original = records.reset_index(drop=True)
    frame = _prepare(original)
    reasons, details = _apply_rules(frame, settings)
    is_accepted = reasons.isna()
    accepted = _accepted_records(frame[is_accepted], present_fields=_present_fields(records))
    quarantine = _quarantine_records(frame[~is_accepted], original, reasons, details)
    flagged = _flagged_texts(accepted)
    report = _report(frame, reasons, accepted, settings, input_hash,
                     [*warnings, *_validation_warnings(records, frame, reasons, flagged)], file_counts or {})
    report["flagged"] = flagged
    return ValidationResult(accepted=accepted, quarantine=quarantine, report=report)


def normalize_language_code(value: object) -> str | None:
    """A given language code as "es", "en" or "other"; None when absent or undetermined (to be detected)."""
    if not isinstance(value, str):
        return None
    code = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    code = _LANG_ALIASES.get(code, code)
    if code in _UNDETERMINED_LANGS:
        return None
    return code if code in LANGUAGES else "other"


def _check_settings(languages: Iterable[str], max_text_chars: int) -> _Settings:
    languages = tuple(dict.fromkeys(languages))
    unknown = [language for language in languages if language not in LANGUAGES]
    if unknown or not languages:
        raise ValueError(f"languages must be a non-empty subset of {LANGUAGES}, got {languages}")
    if not isinstance(max_text_chars, int) or max_text_chars < 1:
        raise ValueError(f"max_text_chars must be a positive integer, got {max_text_chars!r}")
    return _Settings(languages, max_text_chars)


def _present_fields(records: pd.DataFrame) -> list[str]:
    return [field for field in FIELDS if field in records.columns]


def _prepare(records: pd.DataFrame) -> pd.DataFrame:
    """A copy with every contract field (NaN when absent) and lineage columns."""
    frame = records.copy()
    for field in FIELDS:
        if field not in frame.columns:
            frame[field] = pd.Series(np.nan, index=frame.index, dtype=object)
    if SOURCE_FILE_COLUMN not in frame.columns:
        frame[SOURCE_FILE_COLUMN] = IN_MEMORY_SOURCE
    if ROW_NUMBER_COLUMN not in frame.columns:
        frame[ROW_NUMBER_COLUMN] = np.arange(1, len(frame) + 1)
    for column in (LINE_COLUMN, PARSE_ERROR_COLUMN, RAW_RECORD_COLUMN):
        if column not in frame.columns:
            frame[column] = pd.Series(None, index=frame.index, dtype=object)
    for field in _OPTIONAL_FIELDS:  # "" in a CSV means the field was left out
        if frame[field].notna().any():
            blank = frame[field].map(lambda value: isinstance(value, str) and not value.strip())
            frame[field] = frame[field].astype(object).mask(blank, None)
    return frame


# ---- the rules: each takes the rows still open and returns the offenders' details, indexed by row ----

def _malformed_record(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    return rows[PARSE_ERROR_COLUMN].dropna().astype(object)


def _invalid_encoding(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    found = pd.Series(dtype=object)
    for field in FIELDS:
        strings = rows[field][has_valid_type(rows[field], is_string_type)]
        if not SURROGATE_RE.search("".join(strings)):  # one scan of the column clears the usual case
            continue
        has_surrogate = rows[field].map(_has_surrogate)
        offenders = rows.loc[has_surrogate & ~rows.index.isin(found.index), field]
        found = pd.concat([found, offenders.map(lambda value, field=field: _encoding_detail(field, value))])
    return found


def _has_surrogate(value: object) -> bool:
    return isinstance(value, str) and not value.isascii() and SURROGATE_RE.search(value) is not None


def _encoding_detail(field: str, value: str) -> str:
    match = SURROGATE_RE.search(value)
    code_point = ord(match.group())
    if 0xDC80 <= code_point <= 0xDCFF:  # a byte that "surrogateescape" could not decode
        return f"{field}: byte 0x{code_point - 0xDC00:02X} at character {match.start() + 1} is not valid UTF-8"
    return f"{field}: lone surrogate U+{code_point:04X} at character {match.start() + 1} is not valid Unicode"


def _control_characters(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    texts = rows["text"][has_valid_type(rows["text"], is_string_type)]
    if not _CONTROL_CHARACTER_RE.search("".join(texts)):  # one scan of the column clears the usual case
        return pd.Series(dtype=object)
    found = texts.map(_CONTROL_CHARACTER_RE.search).dropna()
    return found.map(lambda match: f"text: control character U+{ord(match.group()):04X} "
                                   f"at character {match.start() + 1}")


def _missing_id(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    ids = rows["id"]
    blank = ids.map(lambda value: isinstance(value, str) and not value.strip())
    return pd.concat([
        pd.Series("id is absent or null", index=ids.index[ids.isna()], dtype=object),
        pd.Series("id is empty", index=ids.index[blank], dtype=object),
    ])


def _missing_text(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    texts = rows["text"]
    return pd.Series("text is absent or null", index=texts.index[texts.isna()], dtype=object)


def _invalid_type(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    checks = [("id", is_id_like_type, "a string or an integer"), ("text", is_string_type, "a string")]
    checks += [(field, is_id_like_type, "a string or an integer") for field in _ID_LIKE_FIELDS]
    checks += [("lang", is_string_type, "a string")]
    found = pd.Series(dtype=object)
    for field, is_valid_type, expected in checks:
        values = rows[field]
        wrong = values.notna() & ~has_valid_type(values, is_valid_type) & ~rows.index.isin(found.index)
        found = pd.concat([found, values[wrong].map(lambda value, field=field, expected=expected:
                                                    f"{field} is a {json_kind(value)}, expected {expected}")])
    bad_dates = _invalid_created_at(rows["created_at"])
    found = pd.concat([found, bad_dates[~bad_dates.index.isin(found.index)]])
    return found


def _invalid_created_at(values: pd.Series) -> pd.Series:
    """Details for created_at values that are neither ISO 8601 strings nor timestamps."""
    present = values.dropna()
    is_timestamp = has_valid_type(present, lambda kind: issubclass(kind, (dt.datetime, dt.date)))
    is_string = has_valid_type(present, is_string_type)
    strings = present[is_string]
    parsed = pd.to_datetime(strings.astype(str), format="ISO8601", errors="coerce", utc=True)
    wrong_type = present[~is_string & ~is_timestamp]
    unparsable = strings[parsed.isna()]
    return pd.concat([
        wrong_type.map(lambda value: f"created_at is a {json_kind(value)}, expected an ISO 8601 string"),
        unparsable.map(lambda value: f"created_at {shorten(value)!r} is not ISO 8601"),
    ])


def _duplicate_id(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    ids = as_text(rows["id"])
    repeated = ids.duplicated(keep="first")
    first_rows = rows.loc[~repeated]
    first_seen = dict(zip(ids[~repeated], zip(first_rows[SOURCE_FILE_COLUMN], first_rows[ROW_NUMBER_COLUMN])))
    return ids[repeated].map(
        lambda value: "id {!r} already seen at {} row {}".format(shorten(value), *first_seen[value]))


def _empty_text(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    empty = rows["text"].str.strip().eq("")
    return pd.Series("text is empty or whitespace", index=rows.index[empty], dtype=object)


def _text_too_long(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    lengths = rows["text"].str.len()
    too_long = lengths[lengths > settings.max_text_chars]
    return too_long.map(lambda length: f"text has {length} characters (limit {settings.max_text_chars})")


def _url_only(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    only_urls = rows[_TEXT_WITHOUT_URLS].str.strip().eq("")
    return pd.Series("text holds only URLs", index=rows.index[only_urls], dtype=object)


def _without_urls(rows: pd.DataFrame) -> pd.Series:
    return rows["text"].str.replace(_URL_RE, " ", regex=True)


def _emoji_only(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    has_letter_or_digit = rows[_TEXT_WITHOUT_URLS].str.contains(_LETTER_OR_DIGIT_RE, regex=True)
    return pd.Series("text has no letters or digits (only emoji, symbols or punctuation)",
                     index=rows.index[~has_letter_or_digit.astype(bool)], dtype=object)


def _unsupported_language(rows: pd.DataFrame, settings: _Settings) -> pd.Series:
    unsupported = rows[~rows[_RESOLVED_LANG].isin(settings.languages)]
    allowed = ", ".join(settings.languages)
    origins = [f"given {shorten(given)!r}" if normalize_language_code(given) else "detected"
               for given in unsupported["lang"]]
    return pd.Series([f"language {language!r} ({origin}) is not one of {allowed}"
                      for language, origin in zip(unsupported[_RESOLVED_LANG], origins)],
                     index=unsupported.index, dtype=object)


_RULES: tuple[tuple[str, Callable[[pd.DataFrame, _Settings], pd.Series]], ...] = (
    ("malformed_record", _malformed_record),
    ("invalid_encoding", _invalid_encoding),
    ("control_characters", _control_characters),
    ("missing_id", _missing_id),
    ("missing_text", _missing_text),
    ("invalid_type", _invalid_type),
    ("duplicate_id", _duplicate_id),
    ("empty_text", _empty_text),
    ("text_too_long", _text_too_long),
    ("url_only", _url_only),
    ("emoji_only", _emoji_only),
    ("unsupported_language", _unsupported_language),
)
# The contract fixes the order; a reason added there needs its rule here.
if tuple(reason for reason, _ in _RULES) != tuple(QUARANTINE_REASONS):
    raise ImportError("processing.validate rules are out of step with contract.QUARANTINE_REASONS")


def _apply_rules(frame: pd.DataFrame, settings: _Settings) -> tuple[pd.Series, pd.Series]:
    """Reason and detail per row (None for accepted rows); adds the working columns to `frame`."""
    reasons = pd.Series(None, index=frame.index, dtype=object)
    details = pd.Series(None, index=frame.index, dtype=object)
    for column, _ in _DERIVED_BEFORE.values():
        frame[column] = pd.Series(None, index=frame.index, dtype=object)
    for reason, rule in _RULES:
        is_open = reasons.isna()
        if not is_open.any():
            break
        if reason in _DERIVED_BEFORE:  # costly columns, computed only for the rows still open
            column, derive = _DERIVED_BEFORE[reason]
            frame.loc[is_open, column] = list(derive(frame.loc[is_open]))
        found = rule(frame.loc[is_open], settings)
        reasons.loc[found.index] = reason
        details.loc[found.index] = found
    return reasons, details


def _resolve_languages(rows: pd.DataFrame) -> list[str]:
    """The given language (normalised) where there is one, else the detected one."""
    given = rows["lang"].map(normalize_language_code)
    to_detect = given.isna()
    resolved = given.copy()
    resolved[to_detect] = detect_languages(rows.loc[to_detect, "text"].tolist())
    return resolved.tolist()


_DERIVED_BEFORE = {  # rule -> (working column, how to derive it)
    "url_only": (_TEXT_WITHOUT_URLS, _without_urls),
    "unsupported_language": (_RESOLVED_LANG, _resolve_languages),
}


# ---- outputs ----

def _accepted_records(rows: pd.DataFrame, present_fields: list[str]) -> pd.DataFrame:
    """The contract fields that the input had (and `lang`, always) as text, None where absent."""
    # id and text always, so that even an empty batch has the schema later steps read.
    fields = [field for field in FIELDS if field in present_fields or field in (*REQUIRED_FIELDS, "lang")]
    accepted = pd.DataFrame(index=rows.index)
    for field in fields:
        accepted[field] = as_text(rows[_RESOLVED_LANG] if field == "lang" else rows[field])
    return accepted.reset_index(drop=True)


def _quarantine_records(rows: pd.DataFrame, original: pd.DataFrame, reasons: pd.Series,
                        details: pd.Series) -> pd.DataFrame:
    """One row per quarantined record with QUARANTINE_COLUMNS; `record` is the original row as JSON."""
    data_columns = [column for column in original.columns if column not in LINEAGE_COLUMNS]
    originals = original.loc[rows.index, data_columns].itertuples(index=False, name=None)
    raw = zip(rows[PARSE_ERROR_COLUMN], rows[RAW_RECORD_COLUMN])
    quarantine = pd.DataFrame({
        "source_file": rows[SOURCE_FILE_COLUMN].astype(str),
        "row_number": rows[ROW_NUMBER_COLUMN].astype("int64"),
        "line": pd.Series([None if is_missing(line) else int(line) for line in rows[LINE_COLUMN]],
                          index=rows.index, dtype=object),
        "reason": reasons[rows.index],
        "detail": details[rows.index].map(printable),
        "record": [_record_json(values, data_columns, parse_error, raw_record)
                   for values, (parse_error, raw_record) in zip(originals, raw)],
    }, index=rows.index, columns=list(QUARANTINE_COLUMNS))
    return quarantine.reset_index(drop=True)


def _record_json(values: tuple, columns: list[str], parse_error: object, raw_record: object) -> str:
    """The original row as a JSON object string: its non-null fields, or {"raw": ...} for an unparsable row."""
    if parse_error is not None and not is_missing(parse_error):
        record = {"raw": raw_record}
    else:
        record = {column: value for column, value in zip(columns, values) if not is_missing(value)}
    return json.dumps(json_safe(record), ensure_ascii=False)


def _flagged_texts(accepted: pd.DataFrame) -> dict[str, int]:
    """How many accepted texts hold bidirectional controls or zero-width characters (kept, but worth a look)."""
    texts = accepted["text"].dropna().astype(str)
    return {"bidi_controls": int(texts.str.contains(_BIDI_CONTROL_RE).sum()),
            "zero_width_characters": int(texts.str.contains(_ZERO_WIDTH_RE).sum())}


def _validation_warnings(records: pd.DataFrame, frame: pd.DataFrame, reasons: pd.Series,
                         flagged: dict[str, int]) -> list[str]:
    """What the report should point out: no rows, columns dropped, files that look like another encoding, and
    messages kept with invisible characters."""
    warnings = []
    if len(frame) == 0:
        warnings.append("no rows to validate: the input holds no records")
    elif reasons.notna().all():
        warnings.append(f"no message passed validation: all {len(frame)} rows were quarantined")
    ignored = [str(column) for column in records.columns if column not in FIELDS and column not in LINEAGE_COLUMNS]
    if ignored:
        warnings.append(f"columns outside the message contract were not kept: {shown_names(sorted(ignored))}")
    bad_encoding = frame.loc[reasons.eq("invalid_encoding"), SOURCE_FILE_COLUMN].value_counts().sort_index()
    for source_file, count in bad_encoding.items():
        warnings.append(f"{source_file}: {count} row(s) are not valid UTF-8 and were quarantined; "
                        "was the file saved in another encoding (e.g. Latin-1)?")
    if flagged["bidi_controls"]:
        warnings.append(f"{flagged['bidi_controls']} accepted message(s) hold bidirectional override or isolate "
                        "characters (U+202A-U+202E, U+2066-U+2069): they may display in another order than they read")
    if flagged["zero_width_characters"]:
        warnings.append(f"{flagged['zero_width_characters']} accepted message(s) hold zero-width characters "
                        "(U+200B-U+200D, U+2060, U+FEFF): invisible, they may hide or split words")
    return warnings


def _report(frame: pd.DataFrame, reasons: pd.Series, accepted: pd.DataFrame, settings: _Settings,
            input_hash: str | None, warnings: list[str], file_counts: dict[str, FileCounts]) -> dict:
    """Counts that must add up (checked here), per reason, file and language; never message content."""
    rows_in, rows_accepted = len(frame), len(accepted)
    rows_quarantined = int(reasons.notna().sum())
    if rows_in != rows_accepted + rows_quarantined:  # not `assert`: it must hold under python -O too
        raise AssertionError(f"rows lost in validation: {rows_in} in, {rows_accepted} accepted, "
                             f"{rows_quarantined} quarantined")
    reason_counts = reasons.value_counts()
    by_file = pd.DataFrame({"file": frame[SOURCE_FILE_COLUMN].astype(str), "quarantined": reasons.notna()})
    files = {
        str(name): {"rows_in": int(len(group)), "rows_accepted": int((~group["quarantined"]).sum()),
                    "rows_quarantined": int(group["quarantined"].sum())}
        for name, group in by_file.groupby("file", sort=True)
    }
    for name, counts in file_counts.items():  # files without rows are listed too, with their line accounting
        files.setdefault(name, {"rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0})
        if files[name]["rows_in"] != counts.records:
            raise AssertionError(f"rows lost between ingestion and validation: {name} had {counts.records} "
                                 f"records, {files[name]['rows_in']} rows were validated")
        files[name]["read"] = counts.to_dict()
    files = dict(sorted(files.items()))
    language_counts = accepted["lang"].value_counts() if rows_accepted else pd.Series(dtype="int64")
    given = frame.loc[reasons.isna(), "lang"].map(normalize_language_code).notna()
    report = {
        "rows_in": rows_in,
        "rows_accepted": rows_accepted,
        "rows_quarantined": rows_quarantined,
        "by_reason": {reason: int(reason_counts.get(reason, 0)) for reason in QUARANTINE_REASONS},
        "files": files,
        "languages": {language: int(language_counts.get(language, 0)) for language in LANGUAGES},
        "languages_detected": int((~given).sum()),
        "settings": {"languages": list(settings.languages), "max_text_chars": settings.max_text_chars},
        "warnings": list(warnings),
    }
    if input_hash is not None:
        report["input_data_hash"] = input_hash
    return report


# ---- the edge: files ----

def write_validation_outputs(result: ValidationResult, ingested_dir: str | Path, quarantine_dir: str | Path,
                             report_path: str | Path, part: str = "") -> dict[str, Path]:
    """Write messages<part>.parquet, quarantine<part>.jsonl and the report JSON, each atomically; return paths."""
    messages_path = Path(ingested_dir) / MESSAGES_FILE.replace(".parquet", f"{part}.parquet")
    quarantine_path = Path(quarantine_dir) / QUARANTINE_FILE.replace(".jsonl", f"{part}.jsonl")
    report_path = Path(report_path)
    # Every column is text in the file, so batches share one schema even when a column is all null.
    table = pa.Table.from_pandas(result.accepted, preserve_index=False,
                                 schema=pa.schema([(column, pa.string()) for column in result.accepted.columns]))
    with atomic_output(messages_path) as temporary:
        pq.write_table(table, temporary)
    quarantine_lines = "".join(json.dumps(row, ensure_ascii=False) + "\n"
                               for row in result.quarantine.to_dict(orient="records"))
    write_text_atomic(quarantine_path, quarantine_lines)
    write_text_atomic(report_path, json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
    return {"messages": messages_path, "quarantine": quarantine_path, "report": report_path}
