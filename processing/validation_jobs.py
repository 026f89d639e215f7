"""Validation jobs: raw batches -> accepted messages, quarantine and quality report, and their table rows.

The bodies of `tweetops validate` and `tweetops validation-tables`, kept apart from the training jobs
(processing/jobs.py) so that a Validate step imports pandas and the contract checks only, not spaCy, UMAP or
scikit-learn: the inference pipeline validates every batch, and a job's imports are part of its fixed cost.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from processing import catalog
from processing.contract import DEFAULT_LANGUAGES, DEFAULT_MAX_TEXT_CHARS, QUARANTINE_COLUMNS
from processing.ingest import read_messages
from processing.storage import write_text_atomic
from processing.validate import ValidationResult, validate, write_validation_outputs

TRANSFORM_OBJECT_ROWS = 5_000  # messages per batch-transform input object (the instances share out objects)


def validate_job(input_path: str | Path, output_dir: str | Path, languages: Sequence[str] = DEFAULT_LANGUAGES,
                 max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, part: str = "", batch: bool = False,
                 run: catalog.TableRun | None = None) -> dict:
    """raw/ -> ingested/messages.parquet + quarantine/quarantine.jsonl + reports/quality_report.json, and with
    `batch` also batch/messages.jsonl (the accepted messages as a batch-transform input).

    With `run` (a pipeline's execution) the rejected rows are also table rows: quarantine/ and quality/ hold
    `date=<day>/<run><part>.parquet` of the `quarantine` and `quality_reports` tables (processing/catalog.py), and
    quarantine.jsonl moves to reports/ (quarantine/ is then the shared zone, where only table files belong).

    `part` suffixes the file names so that the instances of a sharded job do not overwrite each other
    (duplicate ids are then only caught within a shard). An empty input, or one whose every row is
    quarantined, writes valid empty outputs (the report says so in a warning); the steps after it refuse it.
    """
    output_dir = Path(output_dir)
    ingested = read_messages(input_path)
    result = validate(ingested.records, languages=languages, max_text_chars=max_text_chars,
                      input_hash=ingested.input_hash, warnings=ingested.warnings, file_counts=ingested.file_counts)
    write_validation_outputs(result, output_dir / "ingested", output_dir / ("reports" if run else "quarantine"),
                             output_dir / "reports" / f"quality_report{part}.json", part=part)
    if run:
        write_validation_tables(result, output_dir / "quarantine", output_dir / "quality", run, part=part)
    if batch:
        write_transform_objects(result.accepted, output_dir / "batch", f"messages{part}", dated=True)
    return result.report


def quarantine_rows(quarantine: pd.DataFrame, run: catalog.TableRun) -> pd.DataFrame:
    """The `quarantine` table rows of a validation's rejected rows (QUARANTINE_COLUMNS, plus who and when)."""
    return quarantine.assign(execution=run.execution, validated_at=run.at)


def quality_report_row(report: dict, run: catalog.TableRun) -> pd.DataFrame:
    """The one `quality_reports` row of a validation report: counts, share, reasons and languages as JSON text."""
    rows_in, quarantined = report["rows_in"], report["rows_quarantined"]
    return pd.DataFrame([{
        "execution": run.execution, "pipeline": run.pipeline, "rows_in": rows_in,
        "rows_accepted": report["rows_accepted"], "rows_quarantined": quarantined,
        "quarantine_share": quarantined / rows_in if rows_in else None,
        "reasons": json.dumps(report["by_reason"]), "languages": json.dumps(report["languages"]),
        "validated_at": run.at}])


def write_validation_tables(result, quarantine_dir: str | Path, quality_dir: str | Path,
                            run: catalog.TableRun, part: str = "") -> dict[str, Path]:
    """Write a validation's `quarantine` and `quality_reports` partition files (one per shard: `part`)."""
    name, tables = f"{run.execution}{part}", catalog.TABLES
    return {"quarantine": catalog.write_partition(tables["quarantine"], quarantine_rows(result.quarantine, run),
                                                  quarantine_dir, run.day, name),
            "quality": catalog.write_partition(tables["quality_reports"], quality_report_row(result.report, run),
                                               quality_dir, run.day, name)}


def validation_tables_job(quarantine_path: str | Path, reports_path: str | Path, output_dir: str | Path,
                          run: catalog.TableRun) -> dict:
    """An earlier validation's quarantine<part>.jsonl and quality_report<part>.json -> the table files (as
    validate_job writes them with `run`), into output_dir/quarantine/ and output_dir/quality/: for a Validate
    step that is cached, and so must not be given the execution (the training pipeline's)."""
    output_dir, totals = Path(output_dir), {"reports": 0, "rows_quarantined": 0}
    for report_path in sorted(Path(reports_path).rglob("quality_report*.json")):
        part = report_path.stem.removeprefix("quality_report")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        rejected = Path(quarantine_path) / f"quarantine{part}.jsonl"
        lines = rejected.read_text(encoding="utf-8").splitlines() if rejected.is_file() else []
        quarantine = pd.DataFrame([json.loads(line) for line in lines if line.strip()],
                                  columns=list(QUARANTINE_COLUMNS))
        if len(quarantine) != report["rows_quarantined"]:
            raise ValueError(f"{rejected}: {len(quarantine)} rejected rows, but {report_path.name} counts "
                             f"{report['rows_quarantined']}")
        write_validation_tables(ValidationResult(pd.DataFrame(), quarantine, report), output_dir / "quarantine",
                                output_dir / "quality", run, part=part)
        totals["reports"] += 1
        totals["rows_quarantined"] += len(quarantine)
    if not totals["reports"]:
        raise ValueError(f"{reports_path}: no quality_report*.json (the Validate step's reports)")
    return totals


def write_transform_batch(messages: pd.DataFrame, path: str | Path, dated: bool = False) -> Path:
    """Messages as batch transform reads them: JSON Lines of id, text and the language validation resolved (the
    serving handlers read id and text; the monitoring job cleans its sample in the language, as training did),
    and with `dated` created_at (a scored batch's Accumulate step files each message under its date)."""
    wanted = ("id", "text", "lang", "created_at") if dated else ("id", "text", "lang")
    columns = [column for column in wanted if column in messages.columns]
    frame = messages[columns]
    if "created_at" in frame:  # a timestamp read from Parquet as ISO 8601 text, as JSON and CSV inputs give it
        frame = frame.assign(created_at=frame["created_at"].map(
            lambda value: value.isoformat() if hasattr(value, "isoformat") else value))
    # pandas writes "\n" for no rows: a blank line, which batch transform would send as an empty record.
    lines = frame.to_json(orient="records", lines=True, force_ascii=False) if len(messages) else ""
    return write_text_atomic(path, lines)


def write_transform_objects(messages: pd.DataFrame, folder: str | Path, name: str, dated: bool = False,
                            rows: int = TRANSFORM_OBJECT_ROWS) -> list[Path]:
    """The batch as transform input objects of at most `rows` messages (<name>.jsonl, or <name>-00000.jsonl, ...
    when it takes several): batch transform gives each instance whole objects, so one object of a large batch
    would leave every instance but one idle."""
    if len(messages) <= rows:
        return [write_transform_batch(messages, Path(folder) / f"{name}.jsonl", dated)]
    return [write_transform_batch(messages.iloc[start:start + rows], Path(folder) / f"{name}-{number:05d}.jsonl", dated)
            for number, start in enumerate(range(0, len(messages), rows))]
