"""Specification of the predictions zone: reading batch transform's <object>.out files (hand-written ones
and ones written by the real serving stack) and the summary of a scored batch."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from inference.handlers import PREDICTION_COLUMNS
from pipelines.local import serving
from processing.artifacts import MODEL_DIGEST_VARIABLE
from processing.predictions import (PREDICTION_FIELDS, SUMMARY_FILE, read_predictions, summarize_job,
                                    summarize_predictions)


def prediction(id_, category=None, confidence=None, novel=None, error=None, model_version="3",
               category_map_version=2) -> dict:
    """One record as inference/handlers.py writes it."""
    return {"id": id_, "category": category, "confidence": confidence, "novel": novel,
            "model_version": model_version, "category_map_version": category_map_version, "error": error}


def write_lines(path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" if isinstance(r, dict) else r for r in records),
                    encoding="utf-8")


def test_the_reader_knows_the_record_the_handlers_write():
    assert PREDICTION_FIELDS == PREDICTION_COLUMNS


def test_every_out_file_under_the_folder_is_read_in_name_order(tmp_path):
    write_lines(tmp_path / "b.jsonl.out", [prediction("3", "refund", 0.9, False)])
    write_lines(tmp_path / "a" / "z.jsonl.out", [prediction("2", "delivery", 0.4, True)])
    write_lines(tmp_path / "a.jsonl.out", [prediction("1", "delivery", 0.8, False), "\n",
                                           prediction("0", error="empty_text")])
    (tmp_path / "a.jsonl").write_text("not a prediction file\n")  # the input, not an output
    (tmp_path / "_SUCCESS").write_text("")

    frame = read_predictions(tmp_path)

    assert frame.columns.tolist() == list(PREDICTION_FIELDS)
    assert frame["id"].tolist() == ["1", "0", "2", "3"]  # a.jsonl.out, a/z.jsonl.out, b.jsonl.out
    assert frame.loc[1, "error"] == "empty_text" and frame.loc[1, "category"] is None


@pytest.mark.parametrize("line, message", [
    ("{not json\n", r"part-2\.out: line 2 is not JSON"),
    ('["1", "delivery"]\n', r"part-2\.out: line 2 is not a JSON object"),
    ('{"id": "9", "category": "delivery"}\n', r"part-2\.out: line 2 lacks the prediction fields \['confidence'"),
])
def test_a_bad_line_is_refused_naming_file_and_line(tmp_path, line, message):
    write_lines(tmp_path / "part-1.out", [prediction("1", "delivery", 0.8, False)])
    write_lines(tmp_path / "part-2.out", [prediction("2", "delivery", 0.8, False), line])
    with pytest.raises(ValueError, match=message):
        read_predictions(tmp_path)


def test_a_missing_or_empty_predictions_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such predictions folder"):
        read_predictions(tmp_path / "absent")
    with pytest.raises(ValueError, match=r"no \*\.out files"):
        read_predictions(tmp_path)


@pytest.fixture
def batch() -> pd.DataFrame:
    """Ten predictions: seven scored, three refused by the handlers."""
    return pd.DataFrame([
        prediction("1", "delivery", 0.91, False),
        prediction("2", "delivery", 0.49, False),
        prediction("3", "refund", 0.50, False),          # exactly at the threshold: not low
        prediction("4", "refund", 0.30, True),
        prediction("5", "billing", 0.95, False),
        prediction("6", "billing", 0.70, True, model_version="4", category_map_version=3),
        prediction("7", "access", 0.20, True),
        prediction("", error="missing_id"),
        prediction("8", error="empty_text"),
        prediction("9", error="empty_text"),
    ])


def test_summary_counts_categories_by_count_then_name(batch):
    summary = summarize_predictions(batch)
    assert summary["rows"] == 10 and summary["scored"] == 7
    assert summary["errors"] == {"empty_text": 2, "missing_id": 1}
    assert summary["rows"] == summary["scored"] + sum(summary["errors"].values())
    assert summary["categories"] == [
        {"category": "billing", "count": 2, "share": round(2 / 7, 6)},
        {"category": "delivery", "count": 2, "share": round(2 / 7, 6)},
        {"category": "refund", "count": 2, "share": round(2 / 7, 6)},
        {"category": "access", "count": 1, "share": round(1 / 7, 6)},
    ]


def test_low_confidence_and_novel_are_shares_of_the_scored_rows(batch):
    summary = summarize_predictions(batch)
    assert summary["low_confidence"] == {"threshold": 0.5, "count": 3, "share": round(3 / 7, 6)}
    assert summary["novel"] == {"count": 3, "share": round(3 / 7, 6)}
    assert summarize_predictions(batch, low_confidence_threshold=0.8)["low_confidence"]["count"] == 5


def test_summary_names_every_model_and_category_map_version_seen(batch):
    summary = summarize_predictions(batch)
    assert summary["model_versions"] == ["3", "4"]
    assert summary["category_map_versions"] == [2, 3]


def test_a_batch_with_nothing_scored_has_no_shares():
    summary = summarize_predictions(pd.DataFrame([prediction("1", error="empty_text")]))
    assert summary["scored"] == 0 and summary["categories"] == []
    assert summary["low_confidence"]["share"] is None and summary["novel"]["share"] is None


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_a_threshold_outside_zero_to_one_is_refused(batch, threshold):
    with pytest.raises(ValueError, match="between 0 and 1"):
        summarize_predictions(batch, low_confidence_threshold=threshold)


def test_a_frame_without_the_prediction_fields_is_refused(batch):
    with pytest.raises(ValueError, match=r"lack the fields \['novel'\]"):
        summarize_predictions(batch.drop(columns="novel"))


def test_summary_job_writes_summary_json_and_returns_it(tmp_path, batch):
    write_lines(tmp_path / "predictions" / "part-1.jsonl.out", batch.iloc[:6].to_dict("records"))
    write_lines(tmp_path / "predictions" / "part-2.jsonl.out", batch.iloc[6:].to_dict("records"))

    summary = summarize_job(tmp_path / "predictions", tmp_path / "reports", low_confidence_threshold=0.5)

    written = json.loads((tmp_path / "reports" / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert written == summary
    assert summary["files"] == 2
    assert {k: v for k, v in summary.items() if k != "files"} == summarize_predictions(batch)
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [SUMMARY_FILE]  # no temp file left


# The real writer: a model trained as tests/inference/test_handlers.py does, served by the local
# batch-transform container (pipelines/local/serving.py) over two input objects.

@pytest.fixture(scope="module")
def served(trained_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    write_lines(root / "batch" / "messages.jsonl", [
        {"id": "a1", "text": "my package never arrived where is my order"},
        {"id": "a2", "text": "   "},
        {"id": "a3", "text": "lattice quantum chromodynamics seminar"},
    ])
    write_lines(root / "batch" / "eu" / "messages.jsonl", [
        {"id": "b1", "text": "quiero cancelar mi suscripción y el reembolso"},
        {"text": "no id here"},
    ])
    digest = json.loads((trained_model_dir / "metadata.json").read_text())["model_sha256"]
    with pytest.MonkeyPatch.context() as patch:  # as registration pins it in the serving environment
        patch.setenv(MODEL_DIGEST_VARIABLE, digest)
        code = serving.main(["--model-dir", str(trained_model_dir), "--input", str(root / "batch"),
                             "--output", str(root / "predictions"), "--split-type", "Line",
                             "--strategy", "MultiRecord", "--assemble-with", "Line",
                             "--content-type", "application/jsonlines", "--accept", "application/jsonlines"])
    assert code == 0
    return root


def test_predictions_written_by_the_serving_stack_are_read_back_row_for_row(served):
    assert sorted(p.relative_to(served / "predictions").as_posix()
                  for p in (served / "predictions").rglob("*.out")) == ["eu/messages.jsonl.out", "messages.jsonl.out"]
    frame = read_predictions(served / "predictions")
    assert frame["id"].tolist() == ["b1", "", "a1", "a2", "a3"]  # eu/... sorts before messages...
    assert frame["error"].tolist() == [None, "missing_id", None, "empty_text", None]
    assert frame.loc[0, "category"] == "cancellation_refund" and frame.loc[2, "category"] == "delivery"
    assert bool(frame.loc[4, "novel"])


def test_summary_of_a_served_batch_accounts_for_every_message(served, trained_model_dir, tmp_path):
    summary = summarize_job(served / "predictions", tmp_path)
    assert summary["rows"] == 5 and summary["scored"] == 3
    assert summary["errors"] == {"empty_text": 1, "missing_id": 1}
    assert sum(c["count"] for c in summary["categories"]) == summary["scored"]
    assert summary["novel"]["count"] >= 1
    metadata = json.loads((trained_model_dir / "metadata.json").read_text())
    assert summary["model_versions"] == [metadata["model_version"]] and summary["category_map_versions"] == [2]


@pytest.mark.parametrize("changes, message", [
    ({"category": {"a": 1}}, r"part-1\.out: line 1: category is an object, expected text or null"),
    ({"model_version": ["m"]}, r"part-1\.out: line 1: model_version is an array, expected text or a number or null"),
    ({"confidence": "high"}, r"part-1\.out: line 1: confidence is text, expected a number or null"),
    ({"confidence": True}, r"part-1\.out: line 1: confidence is true or false, expected a number or null"),
    ({"novel": "yes"}, r"part-1\.out: line 1: novel is text, expected true or false or null"),
    ({"id": None}, r"part-1\.out: line 1: id is null, expected text or a number$"),
])
def test_a_record_whose_fields_are_not_of_the_prediction_types_is_refused_naming_file_line_and_field(
        tmp_path, changes, message):
    write_lines(tmp_path / "part-1.out", [{**prediction("1", "delivery", 0.8, False), **changes}])
    with pytest.raises(ValueError, match=message):
        read_predictions(tmp_path)


def frame_read_line_by_line(folder) -> pd.DataFrame:
    """read_predictions as it was before the column-at-a-time check: json.loads and the contract check per line."""
    from processing.predictions import _parse_record, prediction_files

    records = [_parse_record(line, path, number) for path in prediction_files(folder)
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(keepends=True), 1)
               if line.strip()]
    frame = pd.DataFrame.from_records(records, columns=list(PREDICTION_FIELDS)).astype(object)
    return frame.where(frame.notna(), None)


@pytest.mark.parametrize("odd_lines", [
    [],  # every line as the handlers write it: read a column at a time
    ['  {"id": "l", "category": "a", "confidence": 0.5, "novel": false, "model_version": "3", '
     '"category_map_version": 2, "error": null}\n'],  # leading whitespace, which json.loads allows
    ['{"id": "n", "category": NaN, "confidence": NaN, "novel": null, "model_version": 3, '
     '"category_map_version": "2", "error": null}\n'],  # NaN counts as null where no float belongs
    ['{"id": 7, "category": "a", "confidence": 1, "novel": true, "model_version": "3", '
     '"category_map_version": null, "error": "x", "extra": [1]}  \r\n'],
])
def test_predictions_read_a_column_at_a_time_equal_those_read_line_by_line(tmp_path, odd_lines):
    good = [prediction(str(i), ["delivery", "refund"][i % 2], round(0.1 + i / 40, 3), i % 3 == 0,
                       category_map_version=[2, "2", None][i % 3]) for i in range(30)]
    good += [prediction(str(i), error="empty_text") for i in range(30, 33)]
    write_lines(tmp_path / "a.out", good[:20] + odd_lines + good[20:])
    write_lines(tmp_path / "b.out", good[::-1])

    frame = read_predictions(tmp_path)

    expected = frame_read_line_by_line(tmp_path)
    assert frame.equals(expected)
    assert [[type(value) for value in frame[column]] for column in frame] == \
        [[type(value) for value in expected[column]] for column in expected]


def test_a_bad_line_after_many_good_ones_is_refused_naming_its_line(tmp_path):
    good = [prediction(str(i), "delivery", 0.8, False) for i in range(500)]
    write_lines(tmp_path / "part-1.out", good[:400] + [{**prediction("x", "delivery", 0.8, False), "novel": 1}]
                + good[400:])
    with pytest.raises(ValueError, match=r"part-1\.out: line 401: novel is a number, expected true or false or null"):
        read_predictions(tmp_path)
