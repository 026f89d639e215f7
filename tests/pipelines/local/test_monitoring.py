"""Specification of the local home's monitoring records: the metrics log, the notifications of fired alarms, the
history table and its plot (what CloudWatch and SNS hold on AWS)."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from pipelines.local.monitoring import (METRICS_LOG, NOTIFICATIONS, MonitoringRecordError, history_figure,
                                        plot_history, read_history, record_batch)
from processing.monitoring.alarms import evaluate_alarms
from processing.monitoring.metrics import METRICS, batch_metrics
from tests.reports.test_monitoring_report import full_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def quiet_report(version: str = "3") -> dict:
    """A judged batch in which nothing changed: no alarm."""
    report = full_report()
    report["batch"]["model_version"] = version
    report.update(verdict="no drift", novel_share=0.01, alarms=[])
    report["data_drift"]["detected"] = False
    report["estimated"]["accuracy"] = 0.85
    report["estimated"]["accuracy_drop"] = 0.01
    return report


def alarming_report() -> dict:
    """A batch whose alarms the rules of processing.monitoring.alarms fired (not written by hand)."""
    report = full_report()
    report["alarms"] = evaluate_alarms(batch_metrics(report))
    return report


def test_two_recorded_batches_make_a_history_of_two_rows_in_the_order_they_were_recorded(tmp_path):
    record_batch(tmp_path, quiet_report("3"), "exec-1", now="2026-12-01T10:00:00+00:00")
    record_batch(tmp_path, alarming_report(), "exec-2", now="2026-12-02T10:00:00+00:00")
    history = read_history(tmp_path)
    assert list(history.columns) == ["time", "execution", "model_package", "model_version", *METRICS]
    assert history["execution"].tolist() == ["exec-1", "exec-2"]
    assert history["time"].tolist() == ["2026-12-01T10:00:00+00:00", "2026-12-02T10:00:00+00:00"]
    assert history["DataDriftDetected"].tolist() == [0.0, 1.0]
    assert history["EstimatedAccuracy"].tolist() == [0.85, 0.71]
    assert history["NovelShare"].tolist() == [0.01, 0.09]
    assert history["ScoredMessages"].tolist() == [2000.0, 2000.0]


def test_a_metrics_record_holds_every_metric_the_job_publishes_and_each_category_share(tmp_path):
    record_batch(tmp_path, quiet_report(), "exec-1", now="2026-12-01T10:00:00+00:00")
    (line,) = (tmp_path / METRICS_LOG).read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["metrics"] == batch_metrics(quiet_report())
    assert record["CategoryShare"] == {"payments": 0.3, "refunds": 0.7}
    assert (record["execution"], record["model_package"], record["model_version"]) == ("exec-1", "arn:pkg/3", "3")


def test_each_fired_alarm_becomes_a_notification_and_a_quiet_batch_notifies_nobody(tmp_path):
    assert record_batch(tmp_path, quiet_report(), "exec-1") == []
    assert not (tmp_path / NOTIFICATIONS).exists()
    returned = record_batch(tmp_path, alarming_report(), "exec-2", now="2026-12-02T10:00:00+00:00")
    stored = [json.loads(line) for line in (tmp_path / NOTIFICATIONS).read_text(encoding="utf-8").splitlines()]
    assert stored == returned
    assert [item["alarm"] for item in stored] == ["data-drift", "prediction-drift", "estimated-accuracy",
                                                  "novel-share"]
    accuracy = stored[2]
    assert accuracy == {"time": "2026-12-02T10:00:00+00:00", "execution": "exec-2", "alarm": "estimated-accuracy",
                        "metric": "EstimatedAccuracyDrop", "value": 0.15, "threshold": 0.05,
                        "subject": 'ALARM: "tweetops-tweetops-inference-estimated-accuracy"',
                        "message": accuracy["message"], "topic": "local"}
    assert accuracy["message"].startswith("EstimatedAccuracyDrop 0.15 > 0.05: ")


def test_a_home_without_records_has_an_empty_history(tmp_path):
    history = read_history(tmp_path / "never-used")
    assert history.empty and list(history.columns)[:2] == ["time", "execution"]


def test_a_last_line_cut_by_a_killed_writer_is_skipped_with_a_warning_and_the_next_record_starts_a_new_line(
        tmp_path, capsys):
    record_batch(tmp_path, quiet_report(), "exec-1")
    with open(tmp_path / METRICS_LOG, "a", encoding="utf-8") as handle:
        handle.write('{"time": "2026-12-02T10:00:00+00:00", "execution": "exec-2", "metr')
    assert read_history(tmp_path)["execution"].tolist() == ["exec-1"]
    assert "line 2 is not a complete record (a run stopped while writing it?); skipped" in capsys.readouterr().err
    record_batch(tmp_path, quiet_report(), "exec-3")
    assert read_history(tmp_path)["execution"].tolist() == ["exec-1", "exec-3"]


def _record_many(home: str, writer: int, count: int) -> None:
    report = quiet_report()
    # Lines of ~20 kB, far beyond the 4 kB PIPE_BUF under which POSIX promises atomic pipe writes.
    report["prediction_drift"]["categories"] = [
        {"category": f"w{writer}-category-{i}-" + "x" * 200, "batch_share": 0.01} for i in range(90)]
    for number in range(count):
        record_batch(home, report, f"w{writer}-{number}")


def test_runs_recording_at_the_same_time_never_interleave_their_lines(tmp_path):
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_record_many, args=(str(tmp_path), writer, 40)) for writer in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
    assert all(process.exitcode == 0 for process in writers)
    lines = (tmp_path / METRICS_LOG).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 160
    executions = [json.loads(line)["execution"] for line in lines]  # every line is one whole record
    assert sorted(executions) == sorted(f"w{w}-{n}" for w in range(4) for n in range(40))
    for writer in range(4):  # and each writer's records are in its own order
        assert [e for e in executions if e.startswith(f"w{writer}-")] == [f"w{writer}-{n}" for n in range(40)]


def test_a_report_that_is_not_an_object_or_whose_alarms_are_malformed_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(MonitoringRecordError, match="a monitoring report is a JSON object, not list"):
        record_batch(tmp_path, [], "exec-1")
    report = quiet_report()
    report["alarms"] = ["data-drift"]
    with pytest.raises(MonitoringRecordError, match="'alarms' must be a list of objects"):
        record_batch(tmp_path, report, "exec-1")
    assert not (tmp_path / "monitoring").exists()


def test_the_history_plot_is_a_png_with_one_panel_per_metric_and_the_alarm_thresholds_dashed(tmp_path):
    record_batch(tmp_path, quiet_report(), "exec-1", now="2026-12-01T10:00:00+00:00")
    record_batch(tmp_path, alarming_report(), "exec-2", now="2026-12-02T10:00:00+00:00")
    history = read_history(tmp_path)
    path = plot_history(history, tmp_path / "history.png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert plot_history(history, tmp_path / "again.png").read_bytes() == data  # same history, same bytes

    figure = history_figure(history, ["EstimatedAccuracyDrop", "NovelShareIncrease", "MeanConfidence"],
                            overrides={"max_novel_share_increase": 0.2})
    dashed = {axis.get_title(loc="left"): [line.get_ydata()[0] for line in axis.get_lines()
                                           if line.get_linestyle() == "--"] for axis in figure.axes}
    assert dashed == {"EstimatedAccuracyDrop": [0.05], "NovelShareIncrease": [0.2], "MeanConfidence": []}
    series = figure.axes[0].get_lines()[0]
    assert list(series.get_xdata()) == [1, 2] and list(series.get_ydata()) == [0.01, 0.15]


def test_plotting_an_unknown_metric_or_an_empty_history_is_refused_in_one_line(tmp_path):
    with pytest.raises(MonitoringRecordError, match="unknown metric 'Accuracy' \\(known: DataDriftDetected, "):
        history_figure(read_history(tmp_path), ["Accuracy"])
    with pytest.raises(MonitoringRecordError, match="no metric recorded yet: nothing to plot"):
        plot_history(read_history(tmp_path), tmp_path / "history.png")
    assert not (tmp_path / "history.png").exists()
