"""Specification of `tweetops monitoring setup|attach|history` as an operator uses them: alarms to SNS (AWS is moto),
Model Monitor schedules only when switched on, the local monitoring history as a table and a plot; errors are
one line and exit 1."""
from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.local.monitoring import record_batch
from processing.monitoring.alarms import BATCH_RULES
from tests.pipelines.test_monitoring_aws import ACCOUNT, KMS_KEY, REGION, ROLE, report, seed_package
from tests.pipelines.test_monitoring_aws import aws, model_monitor  # noqa: F401 (fixtures: moto, the schedule stub)

SETTINGS = ["--region", REGION, "--kms-key-id", KMS_KEY]
ATTACH = ["--region", REGION, "--role-arn", ROLE, "--bucket", "tweetops-data", "--kms-key-id", KMS_KEY]


@pytest.fixture(autouse=True)
def no_settings(monkeypatch, tmp_path):
    """No ./tweetops.yaml and no TWEETOPS_* settings leaking in."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWEETOPS_CONFIG", "TWEETOPS_MODEL_MONITOR", "TWEETOPS_ALARM_THRESHOLDS", "TWEETOPS_LOCAL_HOME",
                 "TWEETOPS_MODEL_PACKAGE_GROUP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", ["setup", "attach", "history"])
def test_every_monitoring_command_explains_itself(runner, command):
    result = runner.invoke(main, ["monitoring", command, "--help"])
    assert result.exit_code == 0 and "Usage: main monitoring " + command in result.output


# --- setup -----------------------------------------------------------------------------------------------------

def test_setup_creates_the_alarms_then_reports_them_unchanged(runner, aws):
    first = runner.invoke(main, ["monitoring", "setup", *SETTINGS, "--email", "ops@example.com"])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == (f"topic arn:aws:sns:{REGION}:{ACCOUNT}:tweetops-training-alarms (KMS key {KMS_KEY}): created")
    assert lines[1] == "email ops@example.com: created (confirmation email sent)"
    assert len(lines) == 2 + len(BATCH_RULES) + 2 and all(line.endswith(": created") for line in lines[2:])
    assert "alarm tweetops-tweetops-batch-inference-estimated-accuracy (EstimatedAccuracyDrop GreaterThanThreshold " \
           "0.05): created" in lines
    second = runner.invoke(main, ["monitoring", "setup", *SETTINGS, "--email", "ops@example.com", "--json"])
    assert second.exit_code == 0, second.output
    document = json.loads(second.output)
    assert document["topic"]["status"] == "unchanged" and document["subscription"]["status"] == "unchanged"
    assert {alarm["status"] for alarm in document["alarms"]} == {"unchanged"}


def test_setup_without_a_customer_managed_key_warns_that_alarms_cannot_notify(aws):
    result = CliRunner().invoke(main, ["monitoring", "setup", "--region", REGION])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: the topic is encrypted with the AWS managed key alias/aws/sns, which "
                                    "CloudWatch cannot use: alarm notifications will not be delivered.")
    assert "(KMS key alias/aws/sns): created" in result.stdout


def test_thresholds_come_from_the_config_file_and_a_change_updates_that_alarm(runner, aws, tmp_path):
    runner.invoke(main, ["monitoring", "setup", *SETTINGS])
    (tmp_path / "tweetops.yaml").write_text("alarm_thresholds:\n  max_novel_share_increase: 0.12\n")
    result = runner.invoke(main, ["monitoring", "setup", *SETTINGS])
    assert result.exit_code == 0, result.output
    updated = [line for line in result.output.splitlines() if line.endswith(": updated")]
    assert updated == ["alarm tweetops-tweetops-batch-inference-novel-share (NovelShareIncrease GreaterThanThreshold 0.12): "
                       "updated"]
    alarm = boto3.client("cloudwatch", region_name=REGION).describe_alarms(
        AlarmNames=["tweetops-tweetops-batch-inference-novel-share"])["MetricAlarms"][0]
    assert alarm["Threshold"] == 0.12


def test_a_misspelt_threshold_setting_is_one_line_and_exit_1(runner, aws, tmp_path):
    (tmp_path / "tweetops.yaml").write_text("alarm_thresholds:\n  max_novelty: 0.12\n")
    result = runner.invoke(main, ["monitoring", "setup", *SETTINGS])
    assert result.exit_code == 1
    assert result.output.startswith("Error: alarm_thresholds: no alarm rule 'max_novelty'; known: ")
    assert len(result.output.strip().splitlines()) == 1
    assert not boto3.client("sns", region_name=REGION).list_topics()["Topics"]


def test_without_aws_credentials_setup_fails_in_one_line(runner, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = runner.invoke(main, ["monitoring", "setup", *SETTINGS])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: AWS: Unable to locate credentials"]


# --- attach ----------------------------------------------------------------------------------------------------

def test_attach_is_refused_while_model_monitor_is_off(runner, aws, model_monitor):
    seed_package(aws)
    result = runner.invoke(main, ["monitoring", "attach", *ATTACH])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Model Monitor schedules are off: set model_monitor: true in the settings (or "
        "TWEETOPS_MODEL_MONITOR=true), or pass --enable; docs/monitoring.md"]
    assert not model_monitor.calls
    assert not aws.client("sagemaker").list_data_quality_job_definitions()["JobDefinitionSummaries"]


def test_attach_with_enable_watches_the_latest_approved_package(runner, aws, model_monitor):
    seed_package(aws)
    latest = seed_package(aws)
    seed_package(aws, status="PendingManualApproval")
    result = runner.invoke(main, ["monitoring", "attach", *ATTACH, "--enable", "--schedule", "hourly", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["package"] == latest["ModelPackageArn"] and document["status"] == "created"
    assert document["baseline"]["statistics"] == \
        latest["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"]
    assert model_monitor.schedules["tweetops-batch-inference-data-quality"]["ScheduleConfig"] == {
        "ScheduleExpression": "cron(0 * ? * * *)"}


def test_the_model_monitor_setting_switches_attach_on_for_a_version_number(runner, aws, model_monitor, tmp_path):
    first = seed_package(aws)
    seed_package(aws)
    (tmp_path / "tweetops.yaml").write_text("model_monitor: true\n")
    result = runner.invoke(main, ["monitoring", "attach", "1", *ATTACH])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == \
        "schedule tweetops-batch-inference-data-quality (cron(0 0 ? * * *)): created"
    assert f"baseline of {first['ModelPackageArn']}: " in result.output


def test_a_package_that_is_not_approved_is_not_watched(runner, aws, model_monitor):
    pending = seed_package(aws, status="PendingManualApproval")
    result = runner.invoke(main, ["monitoring", "attach", pending["ModelPackageArn"], *ATTACH, "--enable"])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {pending['ModelPackageArn']} is PendingManualApproval, not Approved: "
                                     "schedules watch what approved packages score")
    assert not model_monitor.calls


def test_attach_needs_an_execution_role(runner, aws, model_monitor):
    result = runner.invoke(main, ["monitoring", "attach", "--region", REGION, "--enable"])
    assert result.exit_code == 1 and result.output.startswith("Error: no execution role: pass --role-arn")


# --- history ---------------------------------------------------------------------------------------------------

def recorded_home(tmp_path, batches: int = 3):
    """A local home with `batches` monitoring records, estimated accuracy falling by 5 points a batch."""
    home = tmp_path / "home"
    for index in range(batches):
        document = report()
        document["estimated"]["accuracy"] = 0.85 - 0.05 * index
        document["batch"]["model_version"] = "1"
        record_batch(home, document, f"exec{index + 1:04d}", now=f"2026-12-0{index + 1}T10:00:00+00:00")
    return home


def test_history_is_a_table_of_each_metric_across_batches(runner, tmp_path):
    home = recorded_home(tmp_path)
    result = runner.invoke(main, ["monitoring", "history", "--home", str(home), "--metric", "EstimatedAccuracy",
                                  "--metric", "NovelShare"])
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()] == [
        ["time", "execution", "model_version", "EstimatedAccuracy", "NovelShare"],
        ["2026-12-01T10:00:00+00:00", "exec0001", "1", "0.85", "0.08"],
        ["2026-12-02T10:00:00+00:00", "exec0002", "1", "0.8", "0.08"],
        ["2026-12-03T10:00:00+00:00", "exec0003", "1", "0.75", "0.08"],
    ]


def test_history_shows_every_recorded_metric_by_default_and_json_for_scripts(runner, tmp_path):
    home = recorded_home(tmp_path, batches=2)
    table = runner.invoke(main, ["monitoring", "history", "--home", str(home)])
    assert table.exit_code == 0, table.output
    header = table.output.splitlines()[0].split()
    assert header[:3] == ["time", "execution", "model_version"] and "DataDriftDetected" in header
    document = json.loads(runner.invoke(main, ["monitoring", "history", "--home", str(home), "--json"]).output)
    assert [row["EstimatedAccuracy"] for row in document] == pytest.approx([0.85, 0.8])
    assert [row["execution"] for row in document] == ["exec0001", "exec0002"]


def test_history_writes_a_png_plot(runner, tmp_path):
    home = recorded_home(tmp_path)
    result = runner.invoke(main, ["monitoring", "history", "--home", str(home), "--metric", "EstimatedAccuracy",
                                  "--plot", str(tmp_path / "history.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_of_a_home_without_records_says_so(runner, tmp_path):
    result = runner.invoke(main, ["monitoring", "history", "--home", str(tmp_path / "empty")])
    assert result.exit_code == 0
    assert result.output.strip() == (f"no monitoring records in {tmp_path / 'empty' / 'monitoring' / 'metrics.jsonl'} "
                                     "yet: score a batch (`tweetops predict`) to make one")


def test_an_unknown_metric_is_one_line_and_exit_1(runner, tmp_path):
    result = runner.invoke(main, ["monitoring", "history", "--home", str(recorded_home(tmp_path, 1)),
                                  "--metric", "Accuracy"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no metric 'Accuracy'; known: DataDriftDetected, ")
    assert len(result.output.strip().splitlines()) == 1



def test_approving_on_sagemaker_attaches_the_schedule_when_model_monitor_is_on(runner, aws, model_monitor,
                                                                              monkeypatch):
    pending = seed_package(aws, status="PendingManualApproval")
    monkeypatch.setenv("TWEETOPS_ROLE_ARN", ROLE)
    approve = ["registry", "approve", pending["ModelPackageArn"], "--backend", "sagemaker", "--by", "ml-engineer",
               "--reason", "reviewed", "--allow-unreviewed-map"]
    result = runner.invoke(main, approve)
    assert result.exit_code == 0, result.output
    assert not model_monitor.calls  # off by default: approving attaches nothing

    second = seed_package(aws, status="PendingManualApproval")
    monkeypatch.setenv("TWEETOPS_MODEL_MONITOR", "true")
    result = runner.invoke(main, [*approve[:2], second["ModelPackageArn"], *approve[3:]])
    assert result.exit_code == 0, result.output
    assert "Model Monitor schedule tweetops-batch-inference-data-quality created" in result.output
    config = model_monitor.schedules["tweetops-batch-inference-data-quality"]
    assert config["MonitoringJobDefinitionName"].startswith("tweetops-data-quality-")
