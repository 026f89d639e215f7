"""Specification of processing.ingest: every input row is read, with its lineage, in every format."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processing.ingest import (
    LINE_COLUMN,
    LINEAGE_COLUMNS,
    MAX_JSON_DEPTH,
    PARSE_ERROR_COLUMN,
    RAW_RECORD_COLUMN,
    ROW_NUMBER_COLUMN,
    SOURCE_FILE_COLUMN,
    FileCounts,
    IngestError,
    input_data_hash,
    read_messages,
)


def write(path: Path, content: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to path, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    return write(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def rows_of(path: Path) -> list[dict]:
    """The records read from path, lineage included, as dicts (NaN fields left out)."""
    frame = read_messages(path).records
    return [{key: value for key, value in row.items() if not (isinstance(value, float) and pd.isna(value))}
            for row in frame.to_dict(orient="records")]


# ---- CSV ----

def test_csv_rows_are_read_with_their_file_and_row_number(tmp_path):
    path = write(tmp_path / "batch.csv", "id,text,lang\n1,hola,es\n2,hello,en\n")
    rows = rows_of(path)
    assert [(row["id"], row["text"], row["lang"]) for row in rows] == [("1", "hola", "es"), ("2", "hello", "en")]
    assert [(row[SOURCE_FILE_COLUMN], row[ROW_NUMBER_COLUMN]) for row in rows] == [("batch.csv", 1), ("batch.csv", 2)]
    assert all(row[PARSE_ERROR_COLUMN] is None for row in rows)


def test_csv_values_are_kept_exactly_as_written(tmp_path):
    path = write(tmp_path / "batch.csv", "id,text,lang\n007,NA,\n1e3,null,None\n")
    rows = rows_of(path)
    assert [(row["id"], row["text"], row["lang"]) for row in rows] == [("007", "NA", ""), ("1e3", "null", "None")]


def test_csv_quoted_text_with_commas_and_newlines_is_one_row(tmp_path):
    path = write(tmp_path / "batch.csv", 'id,text\n1,"hola, ¿qué tal?\nsegunda línea"\n2,ok\n')
    assert [row["text"] for row in rows_of(path)] == ["hola, ¿qué tal?\nsegunda línea", "ok"]


def test_csv_row_with_too_many_fields_is_kept_as_malformed_in_place(tmp_path):
    # The over-long row comes first: pandas would take it as an index and shift fields.
    path = write(tmp_path / "batch.csv", "id,text\n1,a,b\n2,fine\n")
    first, second = rows_of(path)
    assert first[PARSE_ERROR_COLUMN] == "expected 2 fields, found 3"
    assert first[RAW_RECORD_COLUMN] == ["1", "a", "b"]
    assert (first[ROW_NUMBER_COLUMN], second[ROW_NUMBER_COLUMN]) == (1, 2)
    assert (second["id"], second["text"]) == ("2", "fine")


def test_csv_row_with_too_few_fields_is_kept_as_malformed(tmp_path):
    path = write(tmp_path / "batch.csv", "id,text,lang\n1,hola,es\n2\n3,bye,\n")
    rows = rows_of(path)
    assert [row[PARSE_ERROR_COLUMN] for row in rows] == [None, "expected 3 fields, found 1", None]
    assert rows[1][RAW_RECORD_COLUMN] == ["2"]
    assert rows[2]["lang"] == ""  # an empty trailing field is present, not missing


def test_csv_unterminated_quote_quarantines_its_line_and_the_rows_after_it_are_still_read(tmp_path):
    # It used to fold the following rows into one message's text: 3 rows in, "rows in 1: accepted 1".
    path = write(tmp_path / "batch.csv", 'id,text\n1,"hello\n2,world\n3,again\n')
    broken, second, third = rows_of(path)
    assert broken[PARSE_ERROR_COLUMN] == ("unterminated quoted field: it runs from line 2 to the end of the file "
                                          "(line 4); reading resumed at line 3")
    assert broken[RAW_RECORD_COLUMN] == '1,"hello'
    assert [(row["id"], row["text"], row[LINE_COLUMN]) for row in (second, third)] == [("2", "world", 3),
                                                                                       ("3", "again", 4)]


def test_csv_quote_closed_by_a_later_stray_quote_quarantines_only_its_first_line(tmp_path):
    path = write(tmp_path / "batch.csv", 'id,text\n1,"he said\n2,ok\n3,"fine" x\n4,last\n')
    rows = rows_of(path)
    assert rows[0][PARSE_ERROR_COLUMN].startswith("broken quoted field on lines 2-4 (")
    assert rows[0][PARSE_ERROR_COLUMN].endswith("reading resumed at line 3")
    assert rows[2][PARSE_ERROR_COLUMN] == "not readable as CSV on line 4: ',' expected after '\"'"
    assert [(row.get("id"), row[ROW_NUMBER_COLUMN], row[LINE_COLUMN]) for row in rows] == [
        (None, 1, 2), ("2", 2, 3), (None, 3, 4), ("4", 4, 5)]


def test_csv_records_carry_the_physical_line_they_start_on_with_any_line_ending(tmp_path):
    for ending in ("\n", "\r\n", "\r"):
        text = ending.join(["id,text", '1,"two', 'lines"', "", "2,ok", ""])
        batch = read_messages(write(tmp_path / "batch.csv", text.encode()))
        assert batch.records[LINE_COLUMN].tolist() == [2, 5]
        assert batch.records["text"].tolist() == [f"two{ending}lines", "ok"]
        assert batch.file_counts["batch.csv"] == FileCounts(records=2, lines=5, blank=1, header=1, continuation=1)


def test_csv_header_only_keeps_its_columns_and_says_it_has_no_rows(tmp_path):
    batch = read_messages(write(tmp_path / "header.csv", "id,text,lang\n"))
    assert list(batch.records.columns[:3]) == ["id", "text", "lang"] and len(batch.records) == 0
    assert batch.warnings == ("header.csv: header only, no rows",)


def test_csv_with_semicolons_is_read(tmp_path):
    path = write(tmp_path / "export.csv", "id;text\n1;hola, amigos\n")
    assert [(row["id"], row["text"]) for row in rows_of(path)] == [("1", "hola, amigos")]


def test_csv_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path / "excel.csv", "\ufeffid,text\n1,hola\n".encode("utf-8"))
    assert rows_of(path)[0]["id"] == "1"


def test_invalid_utf8_is_kept_as_escaped_bytes_not_mangled(tmp_path):
    path = write(tmp_path / "latin1.csv", "id,text\n1,café con leche\n2,fine\n".encode("latin-1"))
    first, second = rows_of(path)
    assert first["text"] == "caf\udce9 con leche"  # the byte 0xE9, recoverable exactly
    assert first["text"].encode("utf-8", "surrogateescape") == "café con leche".encode("latin-1")
    assert second["text"] == "fine"


# ---- JSON Lines and JSON ----

def test_jsonl_invalid_line_is_kept_with_its_raw_text(tmp_path):
    path = write(tmp_path / "batch.jsonl", '{"id": "1", "text": "hola"}\n{"id": "2", "text": "rota\n[1, 2]\n')
    rows = rows_of(path)
    assert len(rows) == 3
    assert rows[1][PARSE_ERROR_COLUMN].startswith("invalid JSON")
    assert rows[1][RAW_RECORD_COLUMN] == '{"id": "2", "text": "rota'
    assert rows[2][PARSE_ERROR_COLUMN] == "a JSON array, not an object"


def test_jsonl_line_nested_too_deep_or_with_a_huge_number_is_one_malformed_row_not_a_failed_file(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = write(tmp_path / "batch.jsonl", f'{{"id": "1", "text": "a"}}\n{deep}\n{{"id": {"9" * 5000}}}\n'
                                           '{"id": "2", "text": "b"}\n')
    rows = rows_of(path)
    assert [row[PARSE_ERROR_COLUMN] for row in rows] == [
        None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
        "invalid JSON: a number has more than 4300 digits", None]
    assert [row[LINE_COLUMN] for row in rows] == [1, 2, 3, 4]


def test_json_nesting_is_bounded_but_strings_holding_brackets_are_not_nesting(tmp_path):
    brackets = "[" * 1000
    path = write(tmp_path / "batch.jsonl", json.dumps({"id": "1", "text": brackets}) + "\n"
                 + json.dumps({"id": "2", "text": "a", "extra": [[["ok"]]] * 3}) + "\n")
    assert [row.get("text") for row in rows_of(path)] == [brackets, "a"]


def test_jsonl_row_numbers_are_line_numbers_and_blank_lines_are_not_rows(tmp_path):
    path = write(tmp_path / "batch.ndjson", '{"id": "1", "text": "a"}\n\n   \n{"id": "2", "text": "b"}\n')
    assert [row[ROW_NUMBER_COLUMN] for row in rows_of(path)] == [1, 4]


def test_jsonl_keeps_json_types_for_validation_to_judge(tmp_path):
    path = write_jsonl(tmp_path / "batch.jsonl", [{"id": 12345678901234567890123, "text": 7}])
    row = rows_of(path)[0]
    assert row["id"] == 12345678901234567890123  # exact, never through a float
    assert row["text"] == 7


def test_json_list_of_objects_is_read(tmp_path):
    path = write(tmp_path / "batch.json", json.dumps([{"id": "a1", "text": "hola"}, {"id": "a2", "text": "hi"}]))
    assert [(row["id"], row[ROW_NUMBER_COLUMN]) for row in rows_of(path)] == [("a1", 1), ("a2", 2)]


def test_twitter_api_v2_response_is_read_with_author_id_as_user_id(tmp_path):
    response = {
        "data": [
            {"id": "1460323737035677698", "text": "¿Alguien más sin servicio?", "lang": "es",
             "created_at": "2021-11-15T18:22:01.000Z", "author_id": "2244994945", "public_metrics": {"likes": 2}},
            {"id": "1460323737035677699", "text": "still no service", "author_id": "783214"},
        ],
        "includes": {"users": [{"id": "2244994945", "username": "someone"}]},
        "meta": {"result_count": 2},
    }
    path = write(tmp_path / "search.json", json.dumps(response, ensure_ascii=False))
    rows = rows_of(path)
    assert [row["id"] for row in rows] == ["1460323737035677698", "1460323737035677699"]
    assert [row["user_id"] for row in rows] == ["2244994945", "783214"]
    assert "author_id" not in rows[0]
    assert (rows[0]["lang"], rows[0]["created_at"]) == ("es", "2021-11-15T18:22:01.000Z")


def test_twitter_api_v2_errors_are_reported_as_a_warning(tmp_path):
    response = {"data": [{"id": "1", "text": "hola"}], "errors": [{"title": "Not Found Error"}]}
    batch = read_messages(write(tmp_path / "lookup.json", json.dumps(response)))
    assert len(batch.records) == 1
    assert any("lookup.json" in warning and "1 error" in warning for warning in batch.warnings)


def test_twitter_api_v2_errors_that_are_not_a_list_still_give_a_warning(tmp_path):
    batch = read_messages(write(tmp_path / "lookup.json", json.dumps({"data": [{"id": "1", "text": "a"}],
                                                                      "errors": 5})))
    assert any("lists 1 error" in warning for warning in batch.warnings)


def test_json_array_item_that_is_not_an_object_is_kept_as_malformed(tmp_path):
    path = write(tmp_path / "batch.json", '[{"id": "1", "text": "a"}, "stray", 3]')
    rows = rows_of(path)
    assert [row[PARSE_ERROR_COLUMN] for row in rows] == [None, "a JSON string, not an object",
                                                         "a JSON number, not an object"]
    assert rows[1][RAW_RECORD_COLUMN] == "stray"


def test_json_file_holding_json_lines_is_read_line_by_line(tmp_path):
    path = write(tmp_path / "export.json", '{"id": "1", "text": "a"}\n{"id": "2", "text": "b"}\n')
    batch = read_messages(path)
    assert batch.records["id"].tolist() == ["1", "2"]
    assert any("JSON Lines" in warning for warning in batch.warnings)


# ---- Parquet ----

def test_parquet_is_read_with_integer_ids_as_exact_text(tmp_path):
    table = pa.table({"id": pa.array([1234567890123456789, None, 7], pa.int64()),
                      "text": ["hola", "sin id", "hi"], "user_id": pa.array([9007199254740993, 1, 2], pa.int64())})
    path = tmp_path / "batch.parquet"
    pq.write_table(table, path)
    rows = read_messages(path).records
    assert rows["id"].tolist()[0] == "1234567890123456789"
    assert pd.isna(rows["id"].tolist()[1])
    assert rows["user_id"].tolist()[0] == "9007199254740993"  # beyond float precision
    assert rows[ROW_NUMBER_COLUMN].tolist() == [1, 2, 3]


def test_ids_stay_strings_in_every_format(tmp_path):
    write(tmp_path / "a.csv", "id,text\n007,a\n")
    write_jsonl(tmp_path / "b.jsonl", [{"id": "007", "text": "b"}])
    write(tmp_path / "c.json", json.dumps([{"id": "007", "text": "c"}]))
    pq.write_table(pa.table({"id": ["007"], "text": ["d"]}), tmp_path / "d.parquet")
    records = read_messages(tmp_path).records
    assert records["id"].tolist() == ["007"] * 4


# ---- folders, errors, hash ----

def test_folder_is_read_in_sorted_order_recursively_skipping_other_files_with_a_warning(tmp_path):
    write(tmp_path / "b.csv", "id,text\nb1,x\n")
    write_jsonl(tmp_path / "a" / "z.jsonl", [{"id": "az1", "text": "x"}])
    write(tmp_path / "a.json", json.dumps([{"id": "a1", "text": "x"}]))
    write(tmp_path / "README.txt", "not data")
    batch = read_messages(tmp_path)
    assert batch.files == ("a.json", "a/z.jsonl", "b.csv")
    assert batch.records["id"].tolist() == ["a1", "az1", "b1"]
    assert batch.records[SOURCE_FILE_COLUMN].tolist() == ["a.json", "a/z.jsonl", "b.csv"]
    assert [warning for warning in batch.warnings if "README.txt" in warning]


def test_records_always_have_the_lineage_columns(tmp_path):
    batch = read_messages(write(tmp_path / "empty.csv", "id,text\n"))
    assert len(batch.records) == 0
    assert set(LINEAGE_COLUMNS) <= set(batch.records.columns)


def test_empty_file_gives_no_rows_and_a_warning(tmp_path):
    batch = read_messages(write(tmp_path / "nothing.jsonl", b""))
    assert len(batch.records) == 0
    assert any("nothing.jsonl" in warning for warning in batch.warnings)


@pytest.mark.parametrize(("name", "content", "cause"), [
    ("broken.json", "this is not json", "not valid JSON"),
    ("object.json", '{"messages": []}', "Twitter API v2"),
    ("corrupt.parquet", b"PAR1 definitely not parquet", "not readable as Parquet"),
    ("headerless.csv", "1,hola\n2,adios\n", "no id or text column"),
    ("no_text.csv", "id,body\n1,hola\n", "no text column"),
    ("utf16.csv", "id,text\n1,hola\n".encode("utf-16"), "UTF-16"),
    ("utf16-no-bom.csv", "id,text\n1,hola\n".encode("utf-16-le"), "UTF-16 without a byte order mark"),
    ("zipped.csv", gzip.compress(b"id,text\n1,hola\n", mtime=0), "looks like gzip data; decompress it"),
    ("zipped.jsonl", gzip.compress(b'{"id": "1", "text": "hola"}\n', mtime=0), "looks like gzip data; decompress it"),
    ("archive.json", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "looks like a ZIP archive; extract it"),
    ("image.csv", bytes(range(256)) * 4, "looks like binary data, not text"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"),
    ("huge_number.json", f'[{{"id": {"9" * 5000}}}]', "not valid JSON: a number has more than 4300 digits"),
    ("bad_header.csv", 'id,"text\n1,hola\n', "the header row (line 1) is not readable as CSV"),
])
def test_unreadable_file_raises_ingest_error_naming_the_file(tmp_path, name, content, cause):
    write(tmp_path / "good.csv", "id,text\n1,ok\n")
    write(tmp_path / name, content)
    with pytest.raises(IngestError) as raised:
        read_messages(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    assert cause in message
    assert "\n" not in message


def test_column_names_in_errors_are_few_shortened_and_escaped(tmp_path):
    header = ",".join(["\x1b]0;pwned\x07\x1b[2J" + "x" * 100] + [f"col{i}" for i in range(5000)])
    write(tmp_path / "wide.csv", header + "\n")
    with pytest.raises(IngestError) as raised:
        read_messages(tmp_path / "wide.csv")
    message = str(raised.value)
    assert message.startswith("wide.csv: no id or text column (columns found: \\x1b]0;pwned\\x07\\x1b[2Jxxx")
    assert message.endswith(", col8, ... and 4991 more)")
    assert "\x1b" not in message and "\x07" not in message and len(message) < 300


def test_missing_path_and_unsupported_single_file_raise_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        read_messages(tmp_path / "absent")
    with pytest.raises(IngestError, match="notes.txt: unsupported file type"):
        read_messages(write(tmp_path / "notes.txt", "hola"))


def test_input_hash_depends_on_names_and_bytes_only(tmp_path):
    first = tmp_path / "first"
    second = tmp_path / "elsewhere" / "second"
    for root in (first, second):
        write(root / "a.csv", "id,text\n1,hola\n")
        write_jsonl(root / "sub" / "b.jsonl", [{"id": "2", "text": "hi"}])
    write(second / "ignored.txt", "skipped files are not input")
    assert input_data_hash(first) == input_data_hash(second) == read_messages(first).input_hash
    assert len(input_data_hash(first)) == 64

    unchanged = input_data_hash(first)
    write(second / "a.csv", "id,text\n1,hola!\n")
    assert input_data_hash(second) != unchanged
    (first / "a.csv").rename(first / "c.csv")
    assert input_data_hash(first) != unchanged


@pytest.mark.parametrize("text, too_deep", [
    ("[" * 64 + "]" * 64, False),  # exactly the limit
    ("[" * 65 + "]" * 65, True),
    ('{"a": ' * 65 + "1" + "}" * 65, True),
    ('["' + "[" * 200 + '"]', False),  # brackets inside a string are not nesting
    ("[[]]" * 100, False),  # many brackets, shallow
    ("[" * 70, True),  # unclosed
])
def test_json_depth_is_the_nesting_of_arrays_and_objects_outside_strings(text, too_deep):
    from processing.ingest import json_too_deep

    assert json_too_deep(text) is too_deep
