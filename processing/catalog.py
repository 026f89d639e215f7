"""The tables over the storage zones, defined once: the jobs write their Parquet files with these schemas, the CDK app
(infra/catalog.py) declares the same tables in the Glue Data Catalog for Athena, and `tweetops query` gives DuckDB
the same names over a local home (pipelines/query.py). docs/tables.md is the reference.

Layout of every table but one: `<prefix>/<zone>/date=YYYY-MM-DD/<run>.parquet`, one file per run (execution) and
day, so a run adds files beside the others and never rewrites them; `date` is the only partition (Glue partition
projection, no crawler). `processed_messages` stays in each training execution's folder
(`executions/<execution>/processed/`), which the Features step reads; its partition is the execution.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Glue/Athena column types and the Arrow type the writers use for each (DuckDB reads them as the same SQL types).
ARROW_TYPES = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}
DATE_PARTITION = "date"
EXECUTION_PARTITION = "execution"
_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Column:
    """One column: name, Glue type (string, bigint, double, boolean), what it holds."""
    name: str
    type: str
    comment: str = ""


@dataclass(frozen=True)
class Table:
    """A table: its name, the zone under the prefix that holds it, its columns, and its one partition key."""
    name: str
    zone: str
    description: str
    columns: tuple[Column, ...]
    partition: str = DATE_PARTITION

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def location_template(self) -> str:
        """Where a partition's files are, relative to the prefix (`${date}` / `${execution}` as in Glue projection)."""
        if self.partition == EXECUTION_PARTITION:
            return f"executions/${{{EXECUTION_PARTITION}}}/{self.zone}/"
        return f"{self.zone}/{DATE_PARTITION}=${{{DATE_PARTITION}}}/"

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema writers give their files."""
        return pa.schema([pa.field(column.name, ARROW_TYPES[column.type]) for column in self.columns])


def _columns(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


# Metric columns of batch_metrics: processing.monitoring.metrics.METRICS in snake case (SQL names).
METRIC_COLUMNS = {
    "DataDriftDetected": "data_drift_detected", "DataDriftPValue": "data_drift_p_value",
    "DataDriftStatistic": "data_drift_statistic", "PredictionDriftDetected": "prediction_drift_detected",
    "PredictionDivergence": "prediction_divergence", "EstimatedAccuracy": "estimated_accuracy",
    "EstimatedAccuracyDrop": "estimated_accuracy_drop", "EstimatedMacroF1": "estimated_macro_f1",
    "MeanConfidence": "mean_confidence", "NovelShare": "novel_share", "NovelShareIncrease": "novel_share_increase",
    "QuarantineShare": "quarantine_share", "MeanTextLength": "mean_text_length", "ScoredMessages": "scored_messages",
}

TABLES: dict[str, Table] = {table.name: table for table in (
    Table("predictions", "new-data",
          "Every scored message with what the model said of it; a message's date is its created_at day "
          "(else the scoring day). Written by the inference pipeline's Accumulate step.",
          _columns(("id", "string", "message id"), ("text", "string", "the message as received"),
                   ("lang", "string", "es, en or other"), ("created_at", "string", "ISO 8601, as received"),
                   ("batch", "string", "the scoring execution"), ("category", "string", "predicted category"),
                   ("confidence", "double", "calibrated probability of the category"),
                   ("novel", "boolean", "looks like none of the known categories"),
                   ("model_version", "string", "model package version"),
                   ("category_map_version", "bigint", "category map version of the model"),
                   ("scored_at", "string", "ISO 8601 time of the scoring"))),
    Table("quarantine", "quarantine",
          "Every rejected input row with its reason, by validation day. Written by the training pipeline's "
          "RecordValidation step and the inference pipeline's ValidateBatch step.",
          _columns(("execution", "string", "the execution that validated the batch"),
                   ("source_file", "string", "input file name"), ("row_number", "bigint", "row in that file"),
                   ("line", "bigint", "line in that file, where it has lines"),
                   ("reason", "string", "why it was rejected (docs/cleaning.md)"), ("detail", "string", "what exactly"),
                   ("record", "string", "the row as read, as JSON text"),
                   ("validated_at", "string", "ISO 8601 time of the validation"))),
    Table("quality_reports", "quality-reports",
          "One row per validated batch (per shard): rows in, accepted, quarantined, by reason and language. Written "
          "by the training pipeline's RecordValidation step and the inference pipeline's ValidateBatch step.",
          _columns(("execution", "string", "the execution that validated the batch"),
                   ("pipeline", "string", "training or inference"), ("rows_in", "bigint", "rows read"),
                   ("rows_accepted", "bigint", "rows accepted"), ("rows_quarantined", "bigint", "rows rejected"),
                   ("quarantine_share", "double", "rows_quarantined / rows_in"),
                   ("reasons", "string", "JSON object: reason -> rows"),
                   ("languages", "string", "JSON object: language -> accepted rows"),
                   ("validated_at", "string", "ISO 8601 time of the validation"))),
    Table("batch_metrics", "monitoring-metrics",
          "One row per scored batch: the monitoring figures published to CloudWatch and the alarms that fired. "
          "Written by the inference pipeline's Monitor step.",
          _columns(("execution", "string", "the scoring execution"),
                   ("model_package", "string", "model package ARN that scored the batch"),
                   ("judged", "boolean", "false when the batch was too small to judge"),
                   *[(column, "double", f"CloudWatch metric {metric} (docs/monitoring.md)")
                     for metric, column in METRIC_COLUMNS.items()],
                   ("alarms", "string", "JSON list of the alarm rules that fired"),
                   ("scored_at", "string", "ISO 8601 time of the scoring"))),
    Table("category_maps", "category-map-versions",
          "One row per category of every category map version written: drafts (the training pipeline's "
          "RecordCategoryMap step) and reviewed versions (tweetops review, the review function).",
          _columns(("map_version", "bigint", "category map version"), ("map_hash", "string", "content hash"),
                   ("category_id", "string", "stable category id (c1, c2, ...)"), ("name", "string", "category name"),
                   ("description", "string", "what it holds"), ("clusters", "string", "JSON list of cluster ids"),
                   ("reviewed", "boolean", "reviewed by a person"), ("reviewed_by", "string", "who"),
                   ("reviewed_at", "string", "when (ISO 8601)"),
                   ("lineage", "string", "JSON: split_from, merged_from, renamed_from, new_in"),
                   ("execution", "string", "the execution or review that wrote it"),
                   ("written_at", "string", "ISO 8601 time it was written"))),
    Table("processed_messages", "processed",
          "The accepted, cleaned messages of one training execution (what was clustered and trained on).",
          _columns(("id", "string", "message id"), ("text", "string", "as received"),
                   ("created_at", "string", "ISO 8601"), ("lang", "string", "es, en or other"),
                   ("source", "string", "channel"), ("user_id", "string", "personal data"),
                   ("label", "string", "gold label, when given"), ("clean_text", "string", "after cleaning"),
                   ("feature_text", "string", "what the featurizer reads"), ("tokens", "string", "tokens"),
                   ("lemmas", "string", "lemmas"), ("n_tokens", "bigint", "tokens"), ("emojis", "string", "emojis"),
                   ("n_urls", "bigint", "URLs"), ("n_mentions", "bigint", "mentions")),
          partition=EXECUTION_PARTITION),
)}


@dataclass(frozen=True)
class TableRun:
    """The pipeline execution a job writes table rows for: its id (names the files), its start (the partition
    day; the rows' time, so a rerun writes the same bytes) and the pipeline (training or inference)."""
    execution: str
    started: pd.Timestamp
    pipeline: str = ""

    @classmethod
    def of(cls, execution: str, started: str, pipeline: str = "") -> TableRun:
        """From the arguments the pipelines pass (Execution.PipelineExecutionId, Execution.StartDateTime)."""
        from processing.evolution.accumulate import scoring_time

        try:
            stamp = scoring_time(started)
        except ValueError:
            raise ValueError(f"run date {started!r} is not an ISO 8601 date or time") from None
        check_run(execution)
        return cls(execution, stamp, pipeline)

    @property
    def day(self) -> str:
        return self.started.strftime("%Y-%m-%d")

    @property
    def at(self) -> str:
        return self.started.isoformat()


def conform(table: Table, frame: pd.DataFrame) -> pa.Table:
    """`frame` as an Arrow table of `table`'s columns in order and types; ValueError naming missing columns."""
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        raise ValueError(f"table {table.name}: missing column(s) {', '.join(missing)}")
    return pa.Table.from_pandas(frame[table.column_names], schema=table.arrow_schema(), preserve_index=False)


def partition_file(table: Table, day: dt.date | str, run: str) -> str:
    """`date=YYYY-MM-DD/<run>.parquet`: where a run's rows of one day go, relative to the table's zone."""
    if table.partition != DATE_PARTITION:
        raise ValueError(f"table {table.name} is partitioned by {table.partition}, not by date")
    check_run(run)
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return f"{DATE_PARTITION}={day.isoformat()}/{run}.parquet"


def check_run(run: str) -> None:
    """Refuse a run name that cannot name a table file (ValueError saying what it must be)."""
    if not isinstance(run, str) or not _RUN.match(run):
        raise ValueError(f"run name {run!r} must be 1-128 letters, digits, '.', '_' or '-': it names a file")


def write_partition(table: Table, frame: pd.DataFrame, zone_folder: str | Path, day: dt.date | str, run: str) -> Path:
    """Write a run's rows of one day into the table's zone folder (atomically: temp file, then rename)."""
    path = Path(zone_folder) / partition_file(table, day, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(conform(table, frame), temporary)
    temporary.replace(path)
    return path
