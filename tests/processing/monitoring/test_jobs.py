"""Specification of the monitoring jobs on folders laid out as the pipelines lay them out (validation reports,
processed messages featurized by featurize_job, the held-out split, batch-transform inputs and outputs):
what baseline_job and monitor_job write, the featurizer digest checked before anything is unpickled, a package
without a baseline, and the `tweetops baseline` / `tweetops monitor` commands."""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from inference.handlers import output_fn
from pipelines.cli import main
from processing.artifacts import ArtifactIntegrityError
from processing.demo_data import generate_messages, write_demo_data
from processing.jobs import clean_job, featurize_job, features_info, write_parquet
from processing.validation_jobs import validate_job, write_transform_batch
from processing.monitoring.check import MonitorSettings
from processing.monitoring.jobs import baseline_job, monitor_job
from processing.monitoring.metrics import metric_data
from training.train import read_parquet_dir

SETTINGS = MonitorSettings(min_messages=100, permutations=200)
HELD_OUT = 280


def write_predictions(messages: pd.DataFrame, path, seed: int) -> pd.DataFrame:
    """Predictions of the messages (their gold label, a fifth of them wrong; one in ten novel) written as
    batch transform writes them with the tweetops handlers (output_fn's JSON Lines)."""
    rng = np.random.default_rng(seed)
    labels = messages["label"].to_numpy(dtype=object)
    wrong = rng.random(len(messages)) < 0.2
    predictions = pd.DataFrame({
        "id": messages["id"].to_numpy(), "category": np.where(wrong, np.roll(labels, 1), labels),
        "confidence": rng.uniform(0.5, 1.0, len(messages)).round(6), "novel": rng.random(len(messages)) < 0.1,
        "model_version": "1", "category_map_version": "3", "error": None}).astype(object)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(output_fn(predictions)[0], encoding="utf-8")
    return predictions


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    """The storage zones of a training run and of one scored batch, made by the product's own jobs."""
    root = tmp_path_factory.mktemp("zones")
    write_demo_data(generate_messages(480, seed=5, malformed_share=0.03), root / "raw" / "batch.csv")
    validate_job(root / "raw" / "batch.csv", root / "validated")
    clean_job(root / "validated" / "ingested", root / "processed", n_process=1)
    featurize_job(root / "processed", root / "features", "tfidf", n_components=40)
    processed = read_parquet_dir(root / "processed")
    held_out, batch = processed.iloc[:HELD_OUT], processed.iloc[HELD_OUT:]
    write_parquet(held_out[["id", "text", "lang", "feature_text"]].assign(category=held_out["label"]),
                  root / "pseudo-labeled" / "test" / "messages.parquet")
    write_predictions(held_out, root / "predictions" / "held-out" / "messages.jsonl.out", seed=1)
    write_transform_batch(batch, root / "batch" / "messages.jsonl")
    batch_predictions = write_predictions(batch, root / "predictions" / "batch" / "messages.jsonl.out", seed=2)
    baseline_job(root / "predictions" / "held-out", root / "pseudo-labeled" / "test", root / "features",
                 root / "validated" / "reports", root / "baseline", seed=0)
    return root, batch, batch_predictions


def digest(root) -> str:
    return features_info(root / "features")["featurizer_sha256"]


def run_monitor(root, output, baseline="baseline", sha256=None, **kwargs) -> dict:
    return monitor_job(root / baseline, root / "batch", root / "predictions" / "batch", root / "validated" / "reports",
                       output, featurizer_sha256=digest(root) if sha256 is None else sha256, settings=SETTINGS,
                       **kwargs)


def test_baseline_job_writes_the_baseline_and_the_verified_featurizer(zones):
    root, _, _ = zones
    baseline = root / "baseline"
    assert {path.name for path in baseline.iterdir()} == {
        "baseline.json", "reference.npz", "reference.parquet", "statistics.json", "constraints.json",
        "featurizer.joblib", "vocabulary.json"}
    summary = json.loads((baseline / "baseline.json").read_text())
    assert summary["messages"] == HELD_OUT and summary["featurizer"]["sha256"] == digest(root)
    assert hashlib.sha256((baseline / "featurizer.joblib").read_bytes()).hexdigest() == digest(root)
    quality = json.loads((root / "validated" / "reports" / "quality_report.json").read_text())
    assert summary["quarantine"]["rows_in"] == quality["rows_in"] and summary["quarantine"]["share"] > 0
    assert summary["reference"]["dimensions"] == 40


def test_baseline_job_refuses_a_featurizer_that_is_not_the_one_features_json_names(zones, tmp_path):
    root, _, _ = zones
    shutil.copytree(root / "features", tmp_path / "features")
    (tmp_path / "features" / "featurizer.joblib").write_bytes(b"changed")
    with pytest.raises(ArtifactIntegrityError, match="sha256 differs"):
        baseline_job(root / "predictions" / "held-out", root / "pseudo-labeled" / "test", tmp_path / "features",
                     None, tmp_path / "baseline")
    assert not (tmp_path / "baseline").exists()


@pytest.fixture(scope="module")
def monitored(zones, tmp_path_factory):
    root, _, _ = zones
    output = tmp_path_factory.mktemp("monitoring")
    return output, run_monitor(root, output, context={"pipeline": "inference", "model_package_group": "models"})


def test_monitor_job_writes_the_report_the_page_the_metrics_and_the_novelty_queue(zones, monitored):
    _, batch, predictions = zones
    output, report = monitored
    assert json.loads((output / "report.json").read_text()) == report
    assert report["judged"] is True and report["batch"]["messages"] == len(batch)
    assert report["data_drift"]["batch_sample"] > 100 and report["estimated"]["accuracy"] is not None
    assert json.loads((output / "metrics.json").read_text()) == metric_data(report, "inference", "models")
    page = (output / "report.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and report["verdict"] in page
    queued = [json.loads(line) for line in (output / "novelty" / "novel.jsonl").read_text().splitlines()]
    novel = predictions[predictions["novel"].astype(bool)]
    assert [item["id"] for item in queued] == novel["id"].tolist() and len(queued) == report["novelty"]["queued"]
    texts = batch.set_index("id")["text"]
    assert all(item["text"] == texts[item["id"]] and "confidence" in item for item in queued)


def test_monitor_job_puts_the_novelty_queue_where_it_is_told(zones, tmp_path):
    root, _, _ = zones
    run_monitor(root, tmp_path / "out", novelty_dir=tmp_path / "queue")
    assert (tmp_path / "queue" / "novel.jsonl").stat().st_size > 0


class CreatesAFolder:
    """A pickle that runs code when loaded: makes a folder, the evidence that it was unpickled."""
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


@pytest.fixture
def planted_baseline(zones, tmp_path):
    """A copy of the baseline whose featurizer.joblib was replaced by a pickle that runs code."""
    root, _, _ = zones
    shutil.copytree(root / "baseline", root / tmp_path.name)
    evidence = tmp_path / "unpickled"
    joblib.dump(CreatesAFolder(evidence), root / tmp_path.name / "featurizer.joblib")
    return tmp_path.name, evidence


def test_monitor_job_refuses_a_featurizer_whose_digest_differs_before_unpickling_it(zones, planted_baseline, tmp_path):
    root, _, _ = zones
    folder, evidence = planted_baseline
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        run_monitor(root, tmp_path / "out", baseline=folder)
    assert not evidence.exists()


@pytest.mark.parametrize("missing", ["", None])
def test_monitor_job_refuses_a_missing_digest_before_unpickling(zones, planted_baseline, tmp_path, missing):
    root, _, _ = zones
    folder, evidence = planted_baseline
    with pytest.raises(ArtifactIntegrityError, match="digest"):
        monitor_job(root / folder, root / "batch", root / "predictions" / "batch", None, tmp_path / "out",
                    featurizer_sha256=missing, settings=SETTINGS)
    assert not evidence.exists()


def test_without_a_baseline_the_report_says_no_baseline(zones, tmp_path):
    root, batch, _ = zones
    report = run_monitor(root, tmp_path / "out", baseline="no-such-baseline")
    assert report["verdict"].startswith("no baseline") and report["judged"] is False and report["alarms"] == []
    assert report["batch"]["messages"] == len(batch)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "novelty" / "novel.jsonl").is_file()


def monitor_arguments(root, tmp_path, *more: str) -> list[str]:
    """`tweetops monitor` on the zones' batch and baseline, into tmp_path/out, then `more`."""
    return ["monitor", "--baseline", str(root / "baseline"), "--batch", str(root / "batch"),
            "--predictions", str(root / "predictions" / "batch"), "--output", str(tmp_path / "out"), *more]


def judged_monitor_arguments(root, tmp_path, *more: str) -> list[str]:
    """monitor_arguments for a batch that is judged: reports, novelty queue, digest, file sink, 100 messages."""
    return monitor_arguments(root, tmp_path, "--reports", str(root / "validated" / "reports"),
                             "--novelty-output", str(tmp_path / "queue"), "--featurizer-sha256", digest(root),
                             "--metrics-sink", "file", "--min-messages", "100", *more)


def test_the_monitor_command_writes_the_report_with_the_file_sink(zones, tmp_path):
    root, _, _ = zones
    result = CliRunner().invoke(main, judged_monitor_arguments(
        root, tmp_path, "--pipeline", "inference", "--model-package-group", "models"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert result.output.startswith(f"monitoring: {report['verdict']} (")
    assert "CloudWatch" not in result.output
    assert {d["Dimensions"][0]["Value"] for d in json.loads((tmp_path / "out" / "metrics.json").read_text())} == \
        {"inference"}


def test_the_monitor_command_refuses_a_wrong_digest_in_one_line(zones, tmp_path):
    root, _, _ = zones
    result = CliRunner().invoke(main, monitor_arguments(
        root, tmp_path, "--featurizer-sha256", "0" * 64, "--metrics-sink", "file"))
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "refusing to load" in result.output
    assert "Traceback" not in result.output


def test_the_baseline_command_makes_a_baseline(zones, tmp_path):
    root, _, _ = zones
    result = CliRunner().invoke(main, [
        "baseline", "--predictions", str(root / "predictions" / "held-out"),
        "--test", str(root / "pseudo-labeled" / "test"), "--features", str(root / "features"),
        "--reports", str(root / "validated" / "reports"), "--output", str(tmp_path / "baseline"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"baseline of {HELD_OUT} held-out messages")
    for name in ("baseline.json", "reference.npz", "statistics.json", "constraints.json"):  # the same seed: same bytes
        assert (tmp_path / "baseline" / name).read_bytes() == (root / "baseline" / name).read_bytes(), name


def test_the_monitor_command_with_a_run_writes_the_batch_metrics_row_of_the_catalog_schema(zones, tmp_path):
    import pyarrow.parquet as pq

    from processing.catalog import METRIC_COLUMNS, TABLES
    from processing.monitoring.metrics import batch_metrics

    root, _, _ = zones
    result = CliRunner().invoke(main, judged_monitor_arguments(
        root, tmp_path, "--model-package", "arn:aws:sagemaker:us-east-1:123456789012:model-package/models/3",
        "--metrics-output", str(tmp_path / "metrics"), "--run-id", "exec-7", "--run-date", "2024-03-04T22:10:00Z"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    table = pq.read_table(tmp_path / "metrics" / "date=2024-03-04" / "exec-7.parquet")
    assert table.schema == TABLES["batch_metrics"].arrow_schema()
    (row,) = table.to_pylist()
    assert row["execution"] == "exec-7" and row["scored_at"] == "2024-03-04T22:10:00+00:00"
    assert row["model_package"].endswith("model-package/models/3") and row["judged"] is report["judged"]
    assert {column: row[column] for column in METRIC_COLUMNS.values()} == {
        METRIC_COLUMNS[metric]: value for metric, value in batch_metrics(report).items()}
    assert json.loads(row["alarms"]) == [alarm["alarm"] for alarm in report["alarms"]]


def test_the_monitor_command_run_twice_for_one_execution_writes_the_same_report_bytes(zones, tmp_path):
    root, _, _ = zones
    pages = []
    for attempt in ("first", "second"):
        result = CliRunner().invoke(main, judged_monitor_arguments(
            root, tmp_path / attempt, "--run-id", "exec-7", "--run-date", "2024-03-04T22:10:00Z"))
        assert result.exit_code == 0, result.output
        pages.append([(tmp_path / attempt / "out" / name).read_bytes() for name in ("report.json", "report.html")])
    assert pages[0] == pages[1]
    assert json.loads(pages[0][0])["batch"]["created"] == "2024-03-04T22:10:00+00:00"  # the execution's start


def test_the_monitor_command_refuses_a_run_id_without_its_date_in_one_line(zones, tmp_path):
    root, _, _ = zones
    result = CliRunner().invoke(main, monitor_arguments(root, tmp_path, "--metrics-sink", "file", "--run-id", "exec-7"))
    assert result.exit_code == 2 and "--run-id and --run-date go together" in result.output
    assert not (tmp_path / "out").exists()
