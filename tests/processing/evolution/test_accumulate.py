"""Specification of the new-data zone: a scored batch becomes date partitions of accepted, scored messages (with
what the model said of them), and the evolution window reads the last N days of them, each message once."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from processing.evolution.accumulate import ZONE_COLUMNS, accumulate_rows, batch_file_name, read_window

SCORED = "2024-03-05T12:00:00+00:00"


def batch(ids, created=None, texts=None) -> pd.DataFrame:
    """A batch-transform input: id, text, lang, created_at."""
    return pd.DataFrame({"id": ids, "text": texts or [f"message {i}" for i in ids],
                         "lang": ["es" if n % 2 else "en" for n, _ in enumerate(ids)],
                         "created_at": created or [None] * len(ids)})


def predictions(ids, novel=None, errors=None, category="billing") -> pd.DataFrame:
    """Batch-transform output records as read_predictions gives them."""
    return pd.DataFrame({"id": ids, "category": category, "confidence": 0.8,
                         "novel": novel or [False] * len(ids), "model_version": "7",
                         "category_map_version": 3, "error": errors or [None] * len(ids)}).astype(object)


def write_zone(folder, parts: dict[str, pd.DataFrame], batch_name: str) -> None:
    """Lay accumulate_rows' output out as accumulate_job does: date=<day>/<batch>.parquet."""
    for day, frame in parts.items():
        (folder / f"date={day}").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / f"date={day}" / batch_file_name(batch_name), index=False)


def test_a_message_is_filed_under_its_created_at_date_else_under_the_scoring_date():
    created = ["2024-03-01T23:30:00Z", "2024-03-02T01:00:00-05:00", None, "not a time", "2031-01-01T00:00:00Z"]
    parts = accumulate_rows(batch(["a", "b", "c", "d", "e"], created), predictions(["a", "b", "c", "d", "e"]), [],
                            "exec-1", SCORED)
    assert {day: frame["id"].tolist() for day, frame in parts.items()} == {
        "2024-03-01": ["a"],
        "2024-03-02": ["b"],  # 01:00 at UTC-5 is 06:00 UTC the same day
        "2024-03-05": ["c", "d", "e"],  # none, unparsable, and a time after the scoring: the scoring date
    }


def test_rows_carry_the_zone_columns_with_the_predictions_and_the_batch():
    parts = accumulate_rows(batch(["a"], ["2024-03-04T08:00:00Z"]), predictions(["a"]), [], "exec-1", SCORED)
    row = parts["2024-03-04"].iloc[0]
    assert tuple(parts["2024-03-04"].columns) == ZONE_COLUMNS
    assert (row["id"], row["text"], row["lang"], row["created_at"], row["batch"]) == (
        "a", "message a", "en", "2024-03-04T08:00:00Z", "exec-1")
    assert (row["category"], row["confidence"], row["model_version"], row["category_map_version"]) == (
        "billing", 0.8, "7", 3)
    assert row["scored_at"] == SCORED


def test_a_message_is_novel_when_its_prediction_or_the_novelty_queue_says_so():
    parts = accumulate_rows(batch(["a", "b", "c"]), predictions(["a", "b", "c"], novel=[True, False, False]),
                            ["b"], "exec-1", SCORED)
    assert parts["2024-03-05"]["novel"].tolist() == [True, True, False]


def test_messages_the_model_could_not_score_are_not_added():
    parts = accumulate_rows(batch(["a", "b"]), predictions(["a", "b"], errors=[None, "empty_text"]), [], "x", SCORED)
    assert parts["2024-03-05"]["id"].tolist() == ["a"]


def test_a_datetime_created_at_is_stored_as_iso_text():
    messages = batch(["a"]).assign(created_at=[pd.Timestamp("2024-03-03T10:00:00", tz="UTC")])
    parts = accumulate_rows(messages, predictions(["a"]), [], "x", dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc))
    assert parts["2024-03-03"]["created_at"].tolist() == ["2024-03-03T10:00:00+00:00"]


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "x" * 129])
def test_a_batch_name_that_is_not_a_safe_file_name_is_refused(name):
    with pytest.raises(ValueError, match="batch name"):
        accumulate_rows(batch(["a"]), predictions(["a"]), [], name, SCORED)


def test_a_bad_scoring_time_is_refused_by_name():
    with pytest.raises(ValueError, match="scored_on 'yesterday'"):
        accumulate_rows(batch(["a"]), predictions(["a"]), [], "x", "yesterday")


def test_the_window_holds_the_last_days_up_to_the_latest_partition(tmp_path):
    days = ["2024-03-01", "2024-03-02", "2024-03-08", "2024-03-09"]
    for number, day in enumerate(days):
        write_zone(tmp_path, accumulate_rows(batch([f"m{number}"], [f"{day}T10:00:00Z"]), predictions([f"m{number}"]),
                                             [], f"b{number}", "2024-03-10T00:00:00Z"), f"b{number}")
    window, info = read_window(tmp_path, 7)
    assert window["id"].tolist() == ["m2", "m3"] and window["date"].tolist() == ["2024-03-08", "2024-03-09"]
    assert {key: info[key] for key in ("days", "from", "to", "messages", "dates")} == {
        "days": 7, "from": "2024-03-03", "to": "2024-03-09", "messages": 2,
        "dates": {"2024-03-08": 1, "2024-03-09": 1}}
    window, info = read_window(tmp_path, 2, as_of="2024-03-02")
    assert window["id"].tolist() == ["m0", "m1"] and (info["from"], info["to"]) == ("2024-03-01", "2024-03-02")
    assert read_window(tmp_path, 1, as_of=dt.date(2024, 3, 5))[0].empty


def test_an_id_scored_in_several_batches_is_kept_once_from_the_latest_scoring(tmp_path):
    first = accumulate_rows(batch(["a", "b"], texts=["old a", "old b"]), predictions(["a", "b"], category="old"),
                            [], "exec-2", "2024-03-04T00:00:00Z")
    second = accumulate_rows(batch(["a"], texts=["new a"]), predictions(["a"], category="new"), [],
                             "exec-1", "2024-03-05T00:00:00Z")  # named before exec-2, scored after it
    write_zone(tmp_path, first, "exec-2")
    write_zone(tmp_path, second, "exec-1")
    window, info = read_window(tmp_path, 28)
    assert sorted(zip(window["id"], window["text"], window["category"])) == [("a", "new a", "new"),
                                                                             ("b", "old b", "old")]
    assert info["duplicates"] == 1 and info["messages"] == 2 and info["batches"] == 2


def test_novel_messages_are_counted_in_the_window_info(tmp_path):
    write_zone(tmp_path, accumulate_rows(batch(["a", "b", "c"]), predictions(["a", "b", "c"]), ["a", "c"], "x",
                                         SCORED), "x")
    assert read_window(tmp_path, 1)[1]["novel"] == 2


def test_entries_that_are_not_date_partitions_are_skipped_with_a_warning(tmp_path):
    write_zone(tmp_path, accumulate_rows(batch(["a"]), predictions(["a"]), [], "x", SCORED), "x")
    (tmp_path / "date=2024-02-30").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".date=2024-03-05.upload-1234").mkdir()  # a publisher's staging folder: not data, no warning
    window, info = read_window(tmp_path, 3)
    assert window["id"].tolist() == ["a"]
    assert info["warnings"] == ["skipped 'date=2024-02-30': not a date=YYYY-MM-DD partition folder",
                                "skipped 'notes.txt': not a date=YYYY-MM-DD partition folder"]


def test_reading_the_same_zone_twice_gives_the_same_window(tmp_path):
    for number in range(3):
        write_zone(tmp_path, accumulate_rows(batch(["a", "b", f"c{number}"]), predictions(["a", "b", f"c{number}"]),
                                             [], f"b{number}", SCORED), f"b{number}")
    first, second = read_window(tmp_path, 5), read_window(tmp_path, 5)
    pd.testing.assert_frame_equal(first[0], second[0])
    assert first[1] == second[1]


@pytest.mark.parametrize("call, message", [
    (lambda folder: read_window(folder / "missing", 7), "no new-data zone"),
    (lambda folder: read_window(folder, 7), "no date=YYYY-MM-DD partitions"),
    (lambda folder: read_window(folder, 0), "window_days must be"),
    (lambda folder: read_window(folder, 7, as_of="03/05/2024"), "as_of '03/05/2024' is not a date"),
])
def test_a_missing_or_empty_zone_and_bad_window_settings_are_clear_errors(tmp_path, call, message):
    if "as_of" in message:
        write_zone(tmp_path, accumulate_rows(batch(["a"]), predictions(["a"]), [], "x", SCORED), "x")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        call(tmp_path)


def test_a_damaged_partition_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "date=2024-03-05").mkdir()
    (tmp_path / "date=2024-03-05" / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"x\.parquet: not a new-data parquet file"):
        read_window(tmp_path, 1)


@pytest.mark.parametrize("values", [
    pd.Series(["a", "b", "c"], dtype="str"),  # how read_batch_messages holds text
    pd.Series(["a", None, "c"], dtype="str"),  # missing as NaN
    pd.Series(["a", None, "c"], dtype="string"),
    pd.Series(["a", "b", "c"], dtype=object),
    pd.Series(["a", None, "c"], dtype=object),
    pd.Series(["a", float("nan"), pd.NaT, dt.datetime(2024, 3, 4, 5, 6), 7, None], dtype=object),
])
def test_text_columns_come_out_as_the_value_by_value_conversion_gives_them(values):
    from processing.evolution.accumulate import _iso, _text_or_none

    def value_by_value(series):  # how the columns were converted before text columns skipped the Python calls
        return series.map(lambda value: None if value is None or (not isinstance(value, str) and pd.isna(value))
                          else str(_iso(value))).astype(object)

    converted, expected = _text_or_none(values), value_by_value(values)

    assert converted.dtype == expected.dtype == object
    assert [(type(value), str(value)) for value in converted] == [(type(value), str(value)) for value in expected]


def test_text_created_at_of_any_pandas_dtype_files_messages_under_the_same_dates():
    created = ["2024-03-01T10:00:00Z", None, "2024-03-09T10:00:00Z", "not a date"]
    as_objects = accumulate_rows(batch(["1", "2", "3", "4"], created=created), predictions(["1", "2", "3", "4"]),
                                 [], "b1", SCORED)
    text_batch = batch(["1", "2", "3", "4"], created=created).astype({"created_at": "str", "lang": "str"})
    as_text = accumulate_rows(text_batch, predictions(["1", "2", "3", "4"]), [], "b1", SCORED)
    assert list(as_text) == list(as_objects) == ["2024-03-01", "2024-03-05"]
    for day in as_objects:
        pd.testing.assert_frame_equal(as_text[day], as_objects[day])
