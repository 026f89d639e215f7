"""The local home's monitoring records: what CloudWatch and SNS hold on AWS (docs/monitoring.md).

Per scored batch, `record_batch` appends the batch's metrics (metrics.batch_metrics: the figures the monitoring job
publishes to CloudWatch) to <home>/monitoring/metrics.jsonl and one notification per alarm that fired
(alarms.evaluate_alarms, in report.json) to <home>/monitoring/notifications.jsonl; `read_history` reads the metrics
back as a table and `plot_history` draws each series with its alarm threshold.

Both files are append-only JSON Lines with one record per line, written without a lock: each record is one line
handed to the operating system in a single write() on a file opened for appending (O_APPEND). On a local file
system the kernel moves to the end of the file and writes the line as one step, so two runs recording at the same
time cannot overwrite or interleave each other's lines (this is not promised on network file systems such as NFS;
the home is a local folder). A writer killed in the middle of a write can leave a partial last line; the next
append starts on a new line, and `read_history` skips such a fragment with a warning.
"""
from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from processing.monitoring.alarms import BATCH_RULES, thresholds
from processing.monitoring.metrics import CATEGORY_METRIC, METRICS, batch_metrics
from processing.sanitize import terminal_text
from processing.storage import atomic_output
from reports import png_bytes

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: every `predict` records, few plot
    from matplotlib.figure import Figure

METRICS_LOG = Path("monitoring", "metrics.jsonl")
NOTIFICATIONS = Path("monitoring", "notifications.jsonl")
HISTORY_COLUMNS = ("time", "execution", "model_package", "model_version")
LOCAL_TOPIC = "local"


class MonitoringRecordError(ValueError):
    """A report that cannot be recorded (not a report dictionary, alarms of the wrong shape)."""


def record_batch(home: str | Path, report: dict, execution_id: str, now: str | None = None) -> list[dict]:
    """Append the batch's metrics record and a notification per fired alarm to the home; the notifications."""
    if not isinstance(report, dict):
        raise MonitoringRecordError(f"a monitoring report is a JSON object, not {type(report).__name__}")
    time = now or datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = metrics_record(report, execution_id, time)
    notifications = [notification(alarm, report, execution_id, time) for alarm in fired_alarms(report)]
    append_line(Path(home) / METRICS_LOG, record)
    for item in notifications:
        append_line(Path(home) / NOTIFICATIONS, item)
    return notifications


def metrics_record(report: dict, execution_id: str, time: str) -> dict:
    """One line of the metrics log: when, which execution and package, every metric and each category's share."""
    batch = report.get("batch") or {}
    categories = (report.get("prediction_drift") or {}).get("categories") or []
    return {"time": time, "execution": execution_id, "model_package": batch.get("model_package"),
            "model_version": batch.get("model_version"), "metrics": batch_metrics(report),
            CATEGORY_METRIC: {str(row["category"]): row["batch_share"] for row in categories
                              if isinstance(row, dict) and "category" in row and row.get("batch_share") is not None}}


def fired_alarms(report: dict) -> list[dict]:
    """The report's fired alarms (the monitoring job evaluated the rules), checked to be what a notification needs."""
    alarms = report.get("alarms") or []
    if not isinstance(alarms, list) or not all(isinstance(alarm, dict) and "alarm" in alarm for alarm in alarms):
        raise MonitoringRecordError("report.json: 'alarms' must be a list of objects, each naming its alarm")
    return alarms


def notification(alarm: dict, report: dict, execution_id: str, time: str) -> dict:
    """What SNS would deliver for a fired alarm, with CloudWatch's subject line ('ALARM: "<alarm name>"')."""
    pipeline = (report.get("batch") or {}).get("pipeline")
    name = f"tweetops-{pipeline}-{alarm['alarm']}" if pipeline else f"tweetops-{alarm['alarm']}"
    return {"time": time, "execution": execution_id, "alarm": alarm["alarm"], "metric": alarm.get("metric"),
            "value": alarm.get("value"), "threshold": alarm.get("threshold"), "subject": f'ALARM: "{name}"',
            "message": alarm.get("message"), "topic": LOCAL_TOPIC}


def append_line(path: Path, record: dict) -> None:
    """Append a record as one JSON line with a single write() in append mode (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False, default=_json_value) + "\n"
    data = line.encode("utf-8")
    with open(path, "ab", buffering=0) as handle:  # unbuffered: the line reaches write() in one call
        if handle.tell() > 0 and not _ends_with_newline(path):
            data = b"\n" + data  # a killed writer left a fragment: never glue this record onto it
        written = handle.write(data)
    if written != len(data):  # a full disk; the reader skips the fragment, the caller must know
        raise OSError(f"{path}: only {written} of {len(data)} bytes of a monitoring record were written")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _json_value(value):
    """NaN-free JSON for numpy numbers and the like (a NaN figure is recorded as null)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else number


def read_records(path: Path) -> list[dict]:
    """The JSON objects of a JSON Lines file in order; a line that is not one (a killed writer's fragment) is
    skipped with a warning on stderr."""
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                print(terminal_text(f"warning: {path}: line {number} is not a complete record "
                                    f"(a run stopped while writing it?); skipped"), file=sys.stderr)
                continue
            records.append(record)
    return records


def read_history(home: str | Path) -> pd.DataFrame:
    """The metrics log as a table: one row per recorded batch (oldest first), time/execution/model columns, then
    one column per metric (metrics.METRICS); an empty table when nothing was recorded."""
    rows = []
    for record in read_records(Path(home) / METRICS_LOG):
        values = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        rows.append({**{column: record.get(column) for column in HISTORY_COLUMNS},
                     **{name: _number(values.get(name)) for name in METRICS}})
    return pd.DataFrame(rows, columns=[*HISTORY_COLUMNS, *METRICS])


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def threshold_lines(overrides: dict | None = None) -> dict[str, float]:
    """The alarm threshold of each metric an alarm rule watches, by metric name."""
    limits = thresholds(overrides)
    return {rule.metric: limits[rule.name] for rule in BATCH_RULES}


def history_figure(frame: pd.DataFrame, metrics: list[str] | None = None, overrides: dict | None = None) -> Figure:
    """One panel per metric across batches (oldest left), the alarm threshold as a dashed red line."""
    metrics = list(metrics) if metrics else [name for name in METRICS if name in frame and frame[name].notna().any()]
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise MonitoringRecordError(f"unknown metric {terminal_text(unknown[0])!r} (known: {', '.join(METRICS)})")
    if not metrics:
        raise MonitoringRecordError("no metric recorded yet: nothing to plot")
    from matplotlib.figure import Figure

    limits = threshold_lines(overrides)
    batches = list(range(1, len(frame) + 1))
    height = 1.7 * len(metrics) + 0.8
    figure = Figure(figsize=(8, height))
    # Fixed margins in inches: constrained layout would take most of the drawing time for a dozen panels.
    figure.subplots_adjust(left=0.1, right=0.97, top=1 - 0.3 / height, bottom=0.6 / height, hspace=0.45)
    panels = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for panel, name in zip(panels, metrics):
        values = pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(dtype=float)
        panel.plot(batches, values.tolist(), marker="o", color="#2f6db5")
        if name in limits:
            panel.axhline(limits[name], color="#c8423b", linestyle="--", linewidth=1)
            panel.set_title(f"dashed: alarm threshold {limits[name]:g}", loc="right", fontsize="small",
                            color="#c8423b")
        panel.set_title(name, loc="left", fontsize="medium")
    panels[-1].set_xlabel("batch (oldest first)")
    if batches:
        panels[-1].set_xticks(batches if len(batches) <= 20 else batches[::max(1, len(batches) // 20)])
    return figure


def plot_history(frame: pd.DataFrame, path: str | Path, metrics: list[str] | None = None,
                 overrides: dict | None = None) -> Path:
    """Write history_figure as a PNG (atomically; the same history gives the same bytes)."""
    data = png_bytes(history_figure(frame, metrics, overrides))
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
