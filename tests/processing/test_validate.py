"""Specification of processing.validate: every row is accepted or quarantined with exactly one reason."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processing.contract import QUARANTINE_COLUMNS, QUARANTINE_REASONS
from processing.ingest import read_messages
from processing.validate import (
    IN_MEMORY_SOURCE,
    MESSAGES_FILE,
    QUARANTINE_FILE,
    validate,
    write_validation_outputs,
)

OK = "no me llegó la tarjeta"  # a text that passes every rule


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def reasons_of(records: list[dict], **settings) -> list[str | None]:
    """Validate in-memory records; the reason each got, in input order (None when accepted)."""
    result = validate(pd.DataFrame(records, dtype=object), **settings)
    return _reasons_by_row(result, len(records))


def file_reasons(path: Path, **settings) -> list[str | None]:
    """Ingest and validate one file; the reason each of its rows got, by row number."""
    batch = read_messages(path)
    return _reasons_by_row(validate(batch.records, **settings), len(batch.records))


def _reasons_by_row(result, rows_in: int) -> list[str | None]:
    reasons = dict(zip(result.quarantine["row_number"], result.quarantine["reason"]))
    assert len(result.accepted) + len(reasons) == rows_in
    return [reasons.get(row_number) for row_number in range(1, rows_in + 1)]


# ---- one test per quarantine reason ----

def test_malformed_record_is_quarantined(tmp_path):
    path = write(tmp_path / "batch.jsonl", f'{{"id": "1", "text": "{OK}"}}\n{{"id": "2", "text": "rota\n')
    assert file_reasons(path) == [None, "malformed_record"]


def test_csv_row_with_wrong_field_count_is_malformed_record(tmp_path):
    path = write(tmp_path / "batch.csv", f"id,text\n1,{OK}\n2,a,b\n3\n")
    assert file_reasons(path) == [None, "malformed_record", "malformed_record"]


def test_invalid_encoding_is_quarantined(tmp_path):
    path = write(tmp_path / "latin1.csv", "id,text\n1,hola amigos\n2,café\n".encode("latin-1"))
    result = validate(read_messages(path).records)
    assert result.quarantine["reason"].tolist() == ["invalid_encoding"]
    assert result.quarantine["detail"][0] == "text: byte 0xE9 at character 4 is not valid UTF-8"
    assert json.loads(result.quarantine["record"][0])["text"] == "caf\\xe9"  # shown, not mangled
    assert any("latin1.csv" in warning and "encoding" in warning for warning in result.report["warnings"])


def test_control_characters_text_is_quarantined():
    records = [{"id": "1", "text": "hola\x00amigos"}, {"id": "2", "text": "\x1b[2J\x1b[31mhacked"},
               {"id": "3", "text": "ok\x85next line"}, {"id": "4", "text": "tab\there, lines\r\nand more lines"}]
    result = validate(pd.DataFrame(records, dtype=object))
    assert result.quarantine["reason"].tolist() == ["control_characters"] * 3
    assert result.quarantine["detail"].tolist() == ["text: control character U+0000 at character 5",
                                                    "text: control character U+001B at character 1",
                                                    "text: control character U+0085 at character 3"]
    assert result.accepted["id"].tolist() == ["4"]  # tab, line feed and carriage return are text


def test_a_quarantined_row_with_control_characters_does_not_shadow_a_clean_row_with_its_id():
    records = [{"id": "1", "text": "hola\x07amigos"}, {"id": "1", "text": OK}]
    assert reasons_of(records) == ["control_characters", None]


def test_bidirectional_and_zero_width_characters_are_kept_but_counted_and_warned_about():
    records = [{"id": "1", "text": "pago \u202eodagap\u202c hecho"},
               {"id": "2", "text": "transfer\u200bencia fallida"},
               {"id": "3", "text": "la fa\u2066ctura\u2069 llegó\u200d mal"}, {"id": "4", "text": OK}]
    result = validate(pd.DataFrame(records, dtype=object))
    assert result.accepted["id"].tolist() == ["1", "2", "3", "4"]
    assert result.accepted["text"][0] == records[0]["text"]  # kept exactly: right-to-left text needs them
    assert result.report["flagged"] == {"bidi_controls": 2, "zero_width_characters": 2}
    warnings = " ".join(result.report["warnings"])
    assert "2 accepted message(s) hold bidirectional" in warnings
    assert "2 accepted message(s) hold zero-width" in warnings


def test_missing_id_is_quarantined():
    records = [{"text": OK}, {"id": None, "text": OK}, {"id": "", "text": OK}, {"id": "  ", "text": OK}]
    assert reasons_of(records) == ["missing_id"] * 4


def test_missing_text_is_quarantined():
    assert reasons_of([{"id": "1"}, {"id": "2", "text": None}]) == ["missing_text"] * 2


def test_invalid_type_is_quarantined():
    records = [
        {"id": "1", "text": 42},
        {"id": 1.5, "text": OK},
        {"id": True, "text": OK},
        {"id": "4", "text": ["a", "list"]},
        {"id": "5", "text": OK, "created_at": "yesterday at noon"},
        {"id": "6", "text": OK, "lang": 3},
        {"id": "7", "text": OK, "user_id": {"nested": "object"}},
    ]
    assert reasons_of(records) == ["invalid_type"] * len(records)


def test_iso_8601_dates_and_integer_ids_are_valid_types():
    records = [
        {"id": 1, "text": OK, "created_at": "2024-05-01T10:00:00Z", "label": 3},
        {"id": "2", "text": OK, "created_at": "2024-05-01", "user_id": 12345},
        {"id": "3", "text": OK, "created_at": "2024-05-01T10:00:00.000+02:00"},
        {"id": "4", "text": OK, "created_at": pd.Timestamp("2024-05-01 10:00")},
    ]
    assert reasons_of(records) == [None] * 4


def test_duplicate_id_after_the_kept_first_occurrence_is_quarantined():
    records = [{"id": "1", "text": "primero"}, {"id": "1", "text": "segundo"}, {"id": 1, "text": "tercero"}]
    result = validate(pd.DataFrame(records, dtype=object))
    assert result.accepted["text"].tolist() == ["primero"]
    assert result.quarantine["reason"].tolist() == ["duplicate_id", "duplicate_id"]
    assert result.quarantine["detail"][0] == f"id '1' already seen at {IN_MEMORY_SOURCE} row 1"


def test_empty_text_is_quarantined():
    assert reasons_of([{"id": "1", "text": ""}, {"id": "2", "text": "  \n\t "}]) == ["empty_text"] * 2


def test_text_too_long_is_quarantined():
    records = [{"id": "1", "text": "a" * 1000}, {"id": "2", "text": "a" * 1001}]
    assert reasons_of(records) == [None, "text_too_long"]
    assert reasons_of([{"id": "1", "text": "hola amigos"}], max_text_chars=5) == ["text_too_long"]


def test_text_too_long_for_the_csv_parser_is_still_just_text_too_long(tmp_path):
    path = write(tmp_path / "batch.csv", f"id,text\n1,{OK}\n2,{'a' * 200_000}\n")
    assert file_reasons(path) == [None, "text_too_long"]


def test_url_only_text_is_quarantined():
    records = [{"id": "1", "text": "https://t.co/abc"}, {"id": "2", "text": " http://x.io/a  www.example.com "},
               {"id": "3", "text": f"{OK} https://t.co/abc"}]
    assert reasons_of(records) == ["url_only", "url_only", None]


def test_emoji_only_text_is_quarantined():
    records = [{"id": "1", "text": "😂😂🔥"}, {"id": "2", "text": "!!! :) ..."}, {"id": "3", "text": "👍 https://t.co/x"},
               {"id": "4", "text": "👍 5"}, {"id": "5", "text": "@banco 😡"}]
    # Digits and @mentions/#hashtags are letters or digits, so they keep a message.
    assert reasons_of(records) == ["emoji_only", "emoji_only", "emoji_only", None, None]


def test_unsupported_language_is_quarantined():
    records = [{"id": "1", "text": "Je ne sais pas ce que tu veux dire"},  # detected as other
               {"id": "2", "text": "hello there", "lang": "fr"},  # given as another language
               {"id": "3", "text": OK}]
    result = validate(pd.DataFrame(records, dtype=object))
    assert result.quarantine["reason"].tolist() == ["unsupported_language"] * 2
    assert result.quarantine["detail"].tolist() == [
        "language 'other' (detected) is not one of es, en",
        "language 'other' (given 'fr') is not one of es, en",
    ]
    assert reasons_of(records, languages=("es", "en", "other")) == [None, None, None]
    assert reasons_of(records, languages=("en",)) == ["unsupported_language"] * 3


REASON_EXAMPLES = {  # one record breaking exactly that rule, after a record that passes
    "malformed_record": {"id": "9", "text": OK, "_parse_error": "invalid JSON", "_raw_record": "{"},
    "invalid_encoding": {"id": "9", "text": "caf\udce9"},
    "control_characters": {"id": "9", "text": "hola\x00amigos"},
    "missing_id": {"text": OK},
    "missing_text": {"id": "9"},
    "invalid_type": {"id": "9", "text": 9},
    "duplicate_id": {"id": "1", "text": OK},
    "empty_text": {"id": "9", "text": " "},
    "text_too_long": {"id": "9", "text": "x" * 1001},
    "url_only": {"id": "9", "text": "https://t.co/x"},
    "emoji_only": {"id": "9", "text": "🎉"},
    "unsupported_language": {"id": "9", "text": "Obrigado pela ajuda, você é muito gentil"},
}


@pytest.mark.parametrize("reason", list(QUARANTINE_REASONS))
def test_every_quarantine_reason_has_an_example_that_gets_it(reason):
    records = [{"id": "1", "text": OK}, REASON_EXAMPLES[reason]]
    assert reasons_of(records) == [None, reason]


@pytest.mark.parametrize("reason", list(QUARANTINE_REASONS))
def test_every_quarantine_reason_has_a_named_test(reason):
    named = [name for name, value in globals().items()
             if name.startswith(f"test_{reason}_") and name.endswith("is_quarantined") and callable(value)]
    assert named, f"add a test_{reason}_..._is_quarantined test"


# ---- order, keeping and the report ----

def test_a_row_breaking_several_rules_gets_only_the_first_reason_in_contract_order():
    records = [{"id": "1", "text": OK}, {"id": "", "text": ""}, {"id": "1", "text": "https://t.co/x"},
               {"id": "2", "text": 5, "created_at": "never"}]
    assert reasons_of(records) == [None, "missing_id", "duplicate_id", "invalid_type"]


def test_an_id_seen_only_in_a_structurally_broken_row_is_not_a_duplicate():
    records = [{"id": "1", "text": None}, {"id": "1", "text": OK}]
    assert reasons_of(records) == ["missing_text", None]


def test_accepted_records_have_contract_fields_as_text_and_a_language():
    records = [{"id": 7, "text": "hello there", "created_at": "2024-05-01T10:00:00Z", "label": 3, "extra": "x"},
               {"id": "007", "text": "hola amigos", "lang": "es-MX", "label": None},
               {"id": "8", "text": "ok 👍", "lang": "und"}]
    result = validate(pd.DataFrame(records, dtype=object))
    accepted = result.accepted
    assert list(accepted.columns) == ["id", "text", "created_at", "lang", "label"]
    assert accepted["id"].tolist() == ["7", "007", "8"]
    assert accepted["label"].tolist() == ["3", None, None]
    assert accepted["lang"].tolist() == ["en", "es", "en"]
    assert result.report["languages_detected"] == 2
    assert any("extra" in warning for warning in result.report["warnings"])


def test_given_language_wins_over_detection():
    result = validate(pd.DataFrame([{"id": "1", "text": "hello my friend", "lang": "ES"}], dtype=object))
    assert result.accepted["lang"].tolist() == ["es"]


def test_empty_optional_csv_fields_count_as_absent(tmp_path):
    path = write(tmp_path / "batch.csv", "id,text,lang,created_at\n1,hello there,,\n")
    result = validate(read_messages(path).records)
    assert result.accepted.to_dict(orient="records") == [
        {"id": "1", "text": "hello there", "created_at": None, "lang": "en"}]


def test_quarantine_rows_have_the_contract_columns_and_the_original_record():
    record = {"id": "1", "text": "https://t.co/x", "source": "app", "user_id": "u1"}
    quarantine = validate(pd.DataFrame([record], dtype=object)).quarantine
    assert list(quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert quarantine.loc[0, ["source_file", "row_number", "reason"]].tolist() == [IN_MEMORY_SOURCE, 1, "url_only"]
    assert json.loads(quarantine.loc[0, "record"]) == record


def test_report_counts_every_reason_even_when_zero():
    report = validate(pd.DataFrame([{"id": "1", "text": OK}], dtype=object)).report
    assert list(report["by_reason"]) == list(QUARANTINE_REASONS)
    assert set(report["by_reason"].values()) == {0}
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (1, 1, 0)
    assert report["languages"] == {"es": 1, "en": 0, "other": 0}


def test_report_never_contains_user_ids_or_message_text():
    records = [{"id": "1", "text": "secreto único", "user_id": "user-4f9a"},
               {"id": "1", "text": "otro secreto", "user_id": "user-77b2"},
               {"id": "2", "text": "🎉", "user_id": "user-0c13"}]
    report_text = json.dumps(validate(pd.DataFrame(records, dtype=object)).report, ensure_ascii=False)
    for secret in ("user-4f9a", "user-77b2", "user-0c13", "secreto", "🎉"):
        assert secret not in report_text


def write_every_format(folder: Path) -> int:
    """A folder with a few good and bad rows in each format; returns the number of rows written."""
    write(folder / "a.csv", f"id,text,lang\n1,{OK},\n2,https://t.co/x,\n3\n4,hello there,fr\n")
    write(folder / "b.jsonl", f'{{"id": "5", "text": "{OK}"}}\n{{"id": "5", "text": "again"}}\nnot json\n'
                              '{"id": "6", "text": ""}\n')
    write(folder / "c.json", json.dumps([{"id": "7", "text": "thanks a lot"}, {"text": "sin id"}, "stray"]))
    write(folder / "d.json", json.dumps({"data": [{"id": "8", "text": "¡Gracias!", "author_id": "99", "lang": "es"},
                                                  {"id": "9", "text": "😂😂", "author_id": "98"}]}))
    pq.write_table(pa.table({"id": ["10", "11"], "text": ["where is my card?", "x" * 2000]}), folder / "e.parquet")
    write(folder / "f.csv", "id,text\n12,caf\xe9\n".encode("latin-1"))
    write(folder / "notes.md", "skipped")
    return 4 + 4 + 3 + 2 + 2 + 1


def test_rows_in_equals_accepted_plus_quarantined_for_a_mixed_batch_of_every_format(tmp_path):
    rows_written = write_every_format(tmp_path)
    batch = read_messages(tmp_path)
    report = validate(batch.records, input_hash=batch.input_hash, warnings=batch.warnings).report
    assert report["rows_in"] == rows_written
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    assert sum(report["by_reason"].values()) == report["rows_quarantined"]
    assert sum(counts["rows_in"] for counts in report["files"].values()) == rows_written
    assert all(counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"]
               for counts in report["files"].values())
    assert report["by_reason"] == {
        "malformed_record": 3, "invalid_encoding": 1, "control_characters": 0, "missing_id": 1, "missing_text": 0,
        "invalid_type": 0,
        "duplicate_id": 1, "empty_text": 1, "text_too_long": 1, "url_only": 1, "emoji_only": 1,
        "unsupported_language": 1,
    }
    assert report["input_data_hash"] == batch.input_hash
    assert any("notes.md" in warning for warning in report["warnings"])


def test_report_gives_how_each_files_lines_became_rows_and_lists_files_without_rows(tmp_path):
    write(tmp_path / "a.csv", 'id,text\n1,"two\nlines"\n\n2,"broken\n3,after\n')
    write(tmp_path / "b.csv", "id,text\n")
    write(tmp_path / "c.jsonl", f'{{"id": "4", "text": "{OK}"}}\n\n{{"id": "5"\n')
    batch = read_messages(tmp_path)
    report = validate(batch.records, warnings=batch.warnings, file_counts=batch.file_counts).report
    assert report["files"]["a.csv"]["read"] == {"lines": 6, "blank_lines": 1, "header_lines": 1, "records": 3,
                                                "continuation_lines": 1}
    assert report["files"]["a.csv"]["rows_in"] == 3
    assert report["files"]["b.csv"] == {"rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0,
                                        "read": {"lines": 1, "blank_lines": 0, "header_lines": 1, "records": 0,
                                                 "continuation_lines": 0}}
    assert report["files"]["c.jsonl"]["read"]["records"] == report["files"]["c.jsonl"]["rows_in"] == 2
    assert any("b.csv: header only" in warning for warning in report["warnings"])


def test_rows_that_do_not_match_the_files_record_count_are_an_error_not_a_silent_loss(tmp_path):
    batch = read_messages(write(tmp_path / "a.csv", f"id,text\n1,{OK}\n2,{OK}\n"))
    with pytest.raises(AssertionError, match="a.csv had 2 records, 1 rows were validated"):
        validate(batch.records.iloc[:1], file_counts=batch.file_counts)


def test_quarantine_records_name_the_physical_line_of_csv_and_json_lines_rows(tmp_path):
    write(tmp_path / "a.csv", f'id,text\n1,"{OK}\nsecond line"\n\n2,https://t.co/x\n')
    write(tmp_path / "b.jsonl", '\n{"id": "3", "text": ""}\n')
    write(tmp_path / "c.json", json.dumps([{"id": "4", "text": ""}]))
    quarantine = validate(read_messages(tmp_path).records).quarantine
    assert quarantine[["source_file", "row_number", "line"]].values.tolist() == [
        ["a.csv", 2, 5], ["b.jsonl", 2, 2], ["c.json", 1, None]]


def test_many_unknown_columns_are_named_at_most_ten_and_escaped_in_the_warning():
    columns = {f"\x1b[31mcol{i}": "x" for i in range(5000)}
    report = validate(pd.DataFrame([{"id": "1", "text": OK, **columns}], dtype=object)).report
    warning = next(warning for warning in report["warnings"] if "outside the message contract" in warning)
    assert warning.endswith(", ... and 4990 more")
    assert "\x1b" not in warning and "\\x1b[31mcol0" in warning
    assert len(warning) < 600


def test_an_unsupported_language_code_is_shortened_in_the_detail():
    detail = validate(pd.DataFrame([{"id": "1", "text": OK, "lang": "fr" + "x" * 10_000}], dtype=object)) \
        .quarantine["detail"][0]
    assert len(detail) < 150


def test_an_empty_batch_still_has_the_id_and_text_columns_and_says_it_had_no_rows(tmp_path):
    for content in ("", "id,text,lang\n"):
        write(tmp_path / "empty.csv", content)
        batch = read_messages(tmp_path / "empty.csv")
        result = validate(batch.records, warnings=batch.warnings)
        assert list(result.accepted.columns[:2]) == ["id", "text"] and len(result.accepted) == 0
        assert "no rows to validate: the input holds no records" in result.report["warnings"]


def test_plain_dataframe_without_lineage_and_empty_batch_are_validated():
    result = validate(pd.DataFrame({"id": ["a", "b"], "text": [OK, "🎉"]}))
    assert result.quarantine["row_number"].tolist() == [2]
    empty = validate(pd.DataFrame(columns=["id", "text"]))
    assert (empty.report["rows_in"], len(empty.accepted), len(empty.quarantine)) == (0, 0, 0)


def test_invalid_settings_are_rejected():
    frame = pd.DataFrame([{"id": "1", "text": OK}])
    with pytest.raises(ValueError, match="languages"):
        validate(frame, languages=("fr",))
    with pytest.raises(ValueError, match="max_text_chars"):
        validate(frame, max_text_chars=0)


# ---- writing ----

def test_outputs_are_written_atomically_and_read_back(tmp_path):
    write_every_format(tmp_path / "raw")
    batch = read_messages(tmp_path / "raw")
    result = validate(batch.records, input_hash=batch.input_hash, warnings=batch.warnings)
    paths = write_validation_outputs(result, tmp_path / "ingested", tmp_path / "quarantine",
                                     tmp_path / "reports" / "validation.json")
    assert paths["messages"] == tmp_path / "ingested" / MESSAGES_FILE
    assert paths["quarantine"] == tmp_path / "quarantine" / QUARANTINE_FILE

    messages = pq.read_table(paths["messages"])
    assert messages.num_rows == result.report["rows_accepted"]
    assert all(pa.types.is_string(field.type) for field in messages.schema)
    lines = paths["quarantine"].read_text(encoding="utf-8").splitlines()
    quarantined = [json.loads(line) for line in lines]
    assert len(quarantined) == result.report["rows_quarantined"]
    assert all(list(row) == list(QUARANTINE_COLUMNS) for row in quarantined)
    assert all(isinstance(json.loads(row["record"]), dict) for row in quarantined)
    assert json.loads(paths["report"].read_text(encoding="utf-8")) == result.report
    leftovers = [path.name for path in tmp_path.rglob("*.tmp")]
    assert leftovers == []


def test_writing_again_replaces_the_previous_outputs(tmp_path):
    first = validate(pd.DataFrame([{"id": "1", "text": OK}, {"id": "2", "text": OK}], dtype=object))
    second = validate(pd.DataFrame([{"id": "3", "text": OK}], dtype=object))
    for result in (first, second):
        paths = write_validation_outputs(result, tmp_path, tmp_path, tmp_path / "report.json")
    assert pd.read_parquet(paths["messages"])["id"].tolist() == ["3"]
    assert paths["quarantine"].read_text(encoding="utf-8") == ""
