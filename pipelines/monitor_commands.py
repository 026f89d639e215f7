"""The monitoring jobs' entry points: `tweetops baseline` (the training pipeline's Baseline step) and
`tweetops monitor` (the inference pipeline's Monitor step). Paths default to the SageMaker container contract,
as every step command's do; the work is in processing/monitoring/jobs.py."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from pipelines.cli_common import job_errors, processing_default

METRICS_SINKS = ("cloudwatch", "file")


def _path(flag: str, *parts: str, help: str, dest: str | None = None, folder: bool = False):
    """A path option defaulting to /opt/ml/processing/<parts> (the job's container contract)."""
    return click.option(flag, *([dest] if dest else []), type=click.Path(file_okay=not folder),
                        default=processing_default(*parts), show_default="/opt/ml/processing/" + "/".join(parts), help=help)


@click.command("baseline")
@_path("--predictions", "input", "predictions", help="ScoreHeldOut's batch-transform output.")
@_path("--test", "input", "test", help="The held-out pseudo-labelled split.", dest="test_path")
@_path("--features", "input", "features", help="The Features step's output.")
@_path("--reports", "input", "reports", help="The validation reports (quarantine shares).")
@_path("--model", "input", "model", help="The trained model (folder or model.tar.gz): its vocabulary.")
@_path("--output", "output", "baseline", help="Folder for the baseline files.", folder=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the reference sample.")
@job_errors
def baseline(predictions, test_path, features, reports, model, output, seed) -> None:
    """Make the monitoring baseline a model package is watched against (docs/monitoring.md)."""
    from processing.monitoring.jobs import baseline_job

    summary = baseline_job(predictions, test_path, features, reports, output, seed=seed,
                           model_path=model if Path(model).exists() else None)
    click.echo(f"baseline of {summary['messages']} held-out messages ({summary['reference']['size']} in the "
               f"reference sample) in {output}")


@click.command("monitor")
@_path("--baseline", "input", "baseline", help="The package's baseline folder.", dest="baseline_path")
@_path("--batch", "input", "batch", help="The batch-transform input (id, text, lang).")
@_path("--predictions", "input", "predictions", help="The batch-transform output.")
@_path("--reports", "input", "reports", help="The batch's validation reports.")
@_path("--output", "output", "monitoring", help="Folder for report.json, report.html and metrics.json.", folder=True)
@_path("--novelty-output", "output", "novelty", help="Folder for novel.jsonl: the novelty queue.", folder=True)
@click.option("--featurizer-sha256", default="", help="The package's featurizer digest (the featurizer is a pickle: "
              "it is loaded only if its bytes match).")
@click.option("--model-package", default="", help="The scoring package's ARN (recorded in the report).")
@click.option("--model-package-group", default="", help="Dimension of the published metrics.")
@click.option("--pipeline", "pipeline_name", default="", help="Dimension of the published metrics.")
@click.option("--metrics-sink", type=click.Choice(METRICS_SINKS), default="cloudwatch", show_default=True,
              help="cloudwatch: PutMetricData from the job; file: metrics.json only (the local home records it).")
@click.option("--min-messages", type=click.IntRange(min=1), default=200, show_default=True,
              help="Smaller batches are described, not judged.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Data drift test level: the false-alarm rate on batches like the baseline.")
@click.option("--alarm-thresholds", default="{}", show_default=True,
              help="JSON object of alarm threshold overrides by rule or setting name (settings.alarm_thresholds).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the drift sample and permutations.")
@_path("--metrics-output", "output", "metrics", help="Folder for the batch_metrics table file (with --run-id).",
       folder=True)
@click.option("--run-id", default=None, help="The scoring execution: with --run-date, write the batch's "
              "batch_metrics row to METRICS_OUTPUT/date=<day>/<run-id>.parquet (docs/tables.md).")
@click.option("--run-date", default=None, help="When the execution started (ISO 8601): the date partition.")
@job_errors
def monitor(baseline_path, batch, predictions, reports, output, novelty_output, featurizer_sha256, model_package,
            model_package_group, pipeline_name, metrics_sink, min_messages, alpha, alarm_thresholds, seed,
            metrics_output, run_id, run_date) -> None:
    """Check a scored batch for drift against its package's baseline; publish the figures (docs/monitoring.md)."""
    from processing.catalog import TableRun
    from processing.monitoring.check import MonitorSettings
    from processing.monitoring.jobs import METRICS_FILE, monitor_job

    import json

    if (run_id is None) != (run_date is None):
        raise click.UsageError("--run-id and --run-date go together")
    run = TableRun.of(run_id, run_date) if run_id is not None else None

    thresholds = json.loads(alarm_thresholds)
    if not isinstance(thresholds, dict):
        raise ValueError(f"--alarm-thresholds must be a JSON object, got: {alarm_thresholds}")
    context = {"model_package": model_package or None, "model_package_group": model_package_group or None,
               "pipeline": pipeline_name or None}
    if run is not None:  # the execution's start, not the clock: a rerun of the same execution writes the same report
        context["created"] = run.started.isoformat(timespec="seconds")
    if not (Path(baseline_path) / "baseline.json").is_file() and model_package.startswith("arn:aws"):
        # Started with only the package (the model-approved rule): its baseline comes from its own metadata.
        baseline_path = tempfile.mkdtemp(prefix="tweetops-baseline-")
        featurizer_sha256 = _package_baseline(model_package, baseline_path) or featurizer_sha256
    report = monitor_job(baseline_path, batch, predictions, reports, output, featurizer_sha256=featurizer_sha256,
                         novelty_dir=novelty_output, settings=MonitorSettings(
                             alpha=alpha, min_messages=min_messages, seed=seed, thresholds=thresholds),
                         context=context, run=run, metrics_dir=metrics_output)
    click.echo(f"monitoring: {report['verdict']} ({Path(output) / 'report.json'})")
    for alarm in report["alarms"]:
        click.echo(f"alarm {alarm['alarm']}: {alarm['message']}")
    if metrics_sink == "cloudwatch":
        import boto3

        from pipelines.monitoring_aws import publish_metrics

        data = json.loads((Path(output) / METRICS_FILE).read_text(encoding="utf-8"))
        publish_metrics(boto3.client("cloudwatch"), data)
        click.echo(f"published {len(data)} metrics to CloudWatch")


def _package_baseline(package_arn: str, folder: str) -> str | None:
    """Download the package's baseline into `folder`; the featurizer digest the package pins."""
    import boto3

    from pipelines.monitoring_aws import download_package_baseline

    return download_package_baseline(boto3.Session(region_name=package_arn.split(":")[3]), package_arn, folder)
