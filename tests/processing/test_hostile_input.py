"""Hostile input loses nothing and never traces back: whatever bytes a message file holds, ingestion and
validation either refuse the file in one line naming it, or account for every record it holds.

Property-based (hypothesis, derandomized so CI sees the same examples every run) over arbitrary bytes and over
generated CSV, JSON Lines and JSON files with every encoding, quoting, line ending, delimiter, nesting depth and
size we accept or refuse; then the hostile corpus (tests/hostile_corpus.py) through the validate job.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing.ingest import CSV_DELIMITERS, MAX_JSON_DEPTH, IngestError, read_messages
from processing.jobs import clean_job, discover, featurize_job
from processing.validation_jobs import validate_job
from processing.validate import validate
from tests.hostile_corpus import EXPECTED, GOOD, write_hostile_corpus

# Each example ingests and validates one file (0-60 ms, mostly validate's fixed pandas cost), so 300 examples per
# property keep the file well under a minute; derandomized: the same examples on every run.
PROPERTY_SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "utf-16")


def ingest_and_validate(name: str, content: bytes) -> tuple[dict | None, str | None]:
    """(report, None) for a file that was read, or (None, the IngestError message) for one that was refused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            batch = read_messages(path)
        except IngestError as error:
            return None, str(error)
        return validate(batch.records, warnings=batch.warnings, file_counts=batch.file_counts).report, None


def assert_refused_in_one_line_or_accounted_for(name: str, content: bytes, records_written: int = 0) -> dict | None:
    """The property every input must have; returns the report when the file was read."""
    report, error = ingest_and_validate(name, content)
    if error is not None:
        assert error.startswith(f"{name}: ") and "\n" not in error and "\r" not in error
        return None
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    assert report["rows_in"] >= records_written
    assert sum(report["by_reason"].values()) == report["rows_quarantined"]
    return report


# ---- arbitrary bytes ----

@settings(PROPERTY_SETTINGS, max_examples=600)  # most are refused at once: cheap
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".jsonl", ".json"]))
def test_any_bytes_are_refused_in_one_line_or_every_row_is_accounted_for(content, suffix):
    assert_refused_in_one_line_or_accounted_for(f"batch{suffix}", content)


@PROPERTY_SETTINGS
@given(prefix=st.sampled_from([b"id,text\n", b"\xef\xbb\xbfid;text\r\n", b'{"id": "1", "text": "a"}\n', b"["]),
       content=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".jsonl", ".json"]))
def test_bytes_after_a_plausible_start_are_refused_in_one_line_or_accounted_for(prefix, content, suffix):
    assert_refused_in_one_line_or_accounted_for(f"batch{suffix}", prefix + content)


# ---- generated CSV ----

# Text with what breaks parsers: quotes, delimiters, line breaks, control and invisible characters, any script.
hostile_text = st.text(alphabet=st.one_of(st.sampled_from(list('",;|\t\r\n\x00\x1b\u202e\u200b\ufeff\\')),
                                          st.characters(min_codepoint=32, max_codepoint=0x2FFF)), max_size=40)


@st.composite
def csv_files(draw) -> tuple[bytes, int]:
    """(file bytes, records written): a header and rows, any delimiter, quoting, line ending and encoding,
    sometimes with one character of the text replaced by a stray quote."""
    delimiter = draw(st.sampled_from(CSV_DELIMITERS))
    rows = draw(st.lists(st.tuples(st.integers(0, 10**6).map(str), hostile_text), max_size=12))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(["id", "text"])
    writer.writerows(rows)
    text = buffer.getvalue()
    positions = [index for index, char in enumerate(text) if char not in "\r\n"]  # a line break replaced would
    if positions and draw(st.booleans()):                                           # join two records into one
        position = draw(st.sampled_from(positions))
        text = text[:position] + '"' + text[position + 1:]
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace"), len(rows)


@PROPERTY_SETTINGS
@given(file=csv_files())
def test_generated_csv_is_refused_in_one_line_or_read_with_at_least_every_record_written(file):
    content, records_written = file
    assert_refused_in_one_line_or_accounted_for("batch.csv", content, records_written)


# ---- generated JSON Lines and JSON ----

def nested(depth: int, leaf: object) -> object:
    """`leaf` inside `depth` alternating lists and objects, built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


json_records = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(-10**30, 10**30), hostile_text), "text": st.one_of(hostile_text, st.none())},
    optional={"lang": st.sampled_from(["es", "en", "fr", "und", ""]),
              "extra": st.builds(nested, st.integers(0, 2 * MAX_JSON_DEPTH), hostile_text)})


@PROPERTY_SETTINGS
@given(lines=st.lists(st.one_of(json_records.map(lambda record: json.dumps(record, ensure_ascii=False)),
                                hostile_text.filter(lambda text: "\n" not in text)), max_size=10),
       ending=st.sampled_from(["\n", "\r\n"]), encoding=st.sampled_from(ENCODINGS))
def test_generated_json_lines_are_refused_in_one_line_or_read_with_every_non_blank_line(lines, ending, encoding):
    content = ending.join(lines).encode(encoding, errors="replace")
    # Lines as ingestion decodes and splits them (at \n only); every line that is not blank is a record.
    records = sum(1 for line in content.decode("utf-8-sig", "surrogateescape").split("\n") if line.strip())
    report = assert_refused_in_one_line_or_accounted_for("batch.jsonl", content, records)
    if report is not None:
        assert report["rows_in"] == records


@PROPERTY_SETTINGS
@given(items=st.lists(st.one_of(json_records, hostile_text, st.integers()), max_size=10),
       twitter_shape=st.booleans(), depth=st.integers(0, 2 * MAX_JSON_DEPTH))
def test_generated_json_is_refused_in_one_line_or_read_with_every_item(items, twitter_shape, depth):
    # Items nest up to 2 + the depth of their "extra"; the depth drawn here nests one more item (or the
    # Twitter response's "meta") inside the document.
    deepest_item = max((nesting_of(item) for item in items), default=0)
    if twitter_shape:
        document, items_written, document_depth = {"data": items, "meta": nested(depth, 1)}, items, depth + 1
    else:
        items_written = [*items, nested(depth, 1)]
        document, document_depth = items_written, depth + 1
    report = assert_refused_in_one_line_or_accounted_for("batch.json", json.dumps(document).encode(),
                                                         len(items_written))
    if max(document_depth, deepest_item + 1 + twitter_shape) <= MAX_JSON_DEPTH:  # must be read, an item a row
        assert report is not None and report["rows_in"] == len(items_written)
    else:
        assert report is None


def nesting_of(item: object) -> int:
    """How deep lists and dicts nest in a generated item (an "extra" is built by `nested`)."""
    if isinstance(item, dict):
        extra, depth = item.get("extra"), 1
        while isinstance(extra, (dict, list)):
            extra, depth = (extra["k"] if isinstance(extra, dict) else extra[0]), depth + 1
        return depth
    return 0


# ---- the hostile corpus through the validate job ----

@pytest.fixture(scope="module")
def hostile_corpus(tmp_path_factory) -> dict[str, Path]:
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_hostile_file_is_refused_in_one_line_or_validated_with_the_expected_reasons(hostile_corpus, name,
                                                                                          tmp_path):
    expected = EXPECTED[name]
    if expected.error:
        with pytest.raises(IngestError) as raised:
            validate_job(hostile_corpus[name], tmp_path, batch=True)
        message = str(raised.value)
        assert message.startswith(expected.error) and "\n" not in message and "\x1b" not in message
        return
    report = validate_job(hostile_corpus[name], tmp_path, batch=True)
    assert report["rows_in"] == expected.rows_in == report["rows_accepted"] + report["rows_quarantined"]
    assert report["rows_accepted"] == expected.accepted
    assert {reason: count for reason, count in report["by_reason"].items() if count} == expected.reasons
    assert report["flagged"] == {"bidi_controls": 0, "zero_width_characters": 0, **expected.flagged}
    assert all(len(warning) < 1000 and "\x1b" not in warning for warning in report["warnings"])
    accepted = pq.read_table(tmp_path / "ingested" / "messages.parquet")
    assert accepted.column_names[:2] == ["id", "text"] and accepted.num_rows == expected.accepted
    batch_lines = (tmp_path / "batch" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(batch_lines) == expected.accepted
    quarantined = (tmp_path / "quarantine" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(quarantined) == report["rows_quarantined"]


# ---- the validate job and the steps after it on empty input ----

def test_validate_job_writes_the_batch_for_transform_only_when_asked(tmp_path):
    # `batch` was shadowed by the frame read, so the batch was always written (and --no-batch ignored).
    (tmp_path / "in.csv").write_text(f"id,text\n1,{GOOD}\n", encoding="utf-8")
    validate_job(tmp_path / "in.csv", tmp_path / "plain")
    validate_job(tmp_path / "in.csv", tmp_path / "for-transform", batch=True)
    assert not (tmp_path / "plain" / "batch").exists()
    assert json.loads((tmp_path / "for-transform" / "batch" / "messages.jsonl").read_text()) == {"id": "1", "text": GOOD, "lang": "es"}


@pytest.mark.parametrize("content", ["", "id,text\n", "id,text,lang\n\n\n"])
def test_an_empty_or_header_only_file_gives_a_report_with_a_warning_and_empty_valid_outputs(tmp_path, content):
    # It wrote a 0/0/0 report, then failed with pandas' "None of [Index(['id', 'text'])] are in the [columns]".
    (tmp_path / "in.csv").write_text(content, encoding="utf-8")
    report = validate_job(tmp_path / "in.csv", tmp_path / "out", batch=True)
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (0, 0, 0)
    assert "no rows to validate: the input holds no records" in report["warnings"]
    assert pq.read_table(tmp_path / "out" / "ingested" / "messages.parquet").column_names[:2] == ["id", "text"]
    assert (tmp_path / "out" / "batch" / "messages.jsonl").read_text() == ""
    assert (tmp_path / "out" / "quarantine" / "quarantine.jsonl").read_text() == ""


def test_an_all_quarantined_shard_cleans_to_an_empty_part_and_featurizing_says_no_message_passed(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": ""}\n', encoding="utf-8")
    report = validate_job(tmp_path / "in.jsonl", tmp_path / "out")
    assert "no message passed validation: all 1 rows were quarantined" in report["warnings"]
    # Another instance of a sharded job may have messages: this one's part is empty, not a failure.
    cleaned = clean_job(tmp_path / "out" / "ingested", tmp_path / "out" / "processed")
    assert cleaned.empty and {"id", "text", "clean_text", "feature_text"} <= set(cleaned.columns)
    with pytest.raises(ValueError, match="no message passed validation") as raised:
        featurize_job(tmp_path / "out" / "processed", tmp_path / "out" / "features")
    assert "\n" not in str(raised.value)


def test_discover_on_a_header_only_file_says_no_message_passed_validation(tmp_path):
    (tmp_path / "in.csv").write_text("id,text\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no message passed validation \(0 rows in, 0 quarantined\)"):
        discover(tmp_path / "in.csv", tmp_path / "out")
    assert pd.read_json(tmp_path / "out" / "quality_report.json", typ="series")["rows_in"] == 0
