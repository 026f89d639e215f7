"""Specification of monitoring's AWS edge (pipelines/monitoring_aws.py) under moto: the batch figures put in
CloudWatch within its limits, the alarm rules as CloudWatch alarms notifying a KMS-encrypted SNS topic (idempotent),
and Model Monitor data-quality schedules whose every request is valid for SageMaker."""
from __future__ import annotations

import dataclasses
import functools
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.serialize import create_serializer
from botocore.validate import validate_parameters
from moto import mock_aws

from pipelines.monitoring_aws import (ALARM_PERIOD_SECONDS, AWS_MANAGED_KEY_WARNING, MAX_DATUMS_PER_CALL,
                                      MAX_PAYLOAD_BYTES, SCHEDULES, alarm_requests, attach_schedule,
                                      download_package_baseline, encoded_size, metric_chunks, publish_metrics,
                                      setup_alarms)
from pipelines.operations import PipelineError
from pipelines.settings import PipelineSettings, SettingsError
from processing.monitoring.alarms import BATCH_RULES, PIPELINE_FAILED, PIPELINE_NAMESPACE, thresholds
from processing.monitoring.metrics import METRICS, NAMESPACE, metric_data
from tests.conftest import stub_every_sagemaker_client, validated_call

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tweetops-execution"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "tweetops-data"
GROUP = "tweetops-message-classifier"
# SageMaker's Model Monitor analyzer account for eu-west-1 (the documented table of analyzer images per region).
ANALYZER_EU_WEST_1 = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def report() -> dict:
    """A report.json with every figure the monitoring job publishes and two categories."""
    return {
        "batch": {"messages": 2000},
        "data_drift": {"detected": True, "p_value": 0.001, "statistic": 0.21},
        "prediction_drift": {"detected": False, "jensen_shannon": 0.012, "categories": [
            {"category": "billing", "batch_share": 0.55}, {"category": "delivery", "batch_share": 0.45}]},
        "estimated": {"accuracy": 0.71, "macro_f1": 0.66, "accuracy_drop": 0.15},
        "confidence": {"batch_mean": 0.74},
        "novel_share": 0.08, "novelty": {"increase": 0.07},
        "descriptors": {"quarantine": {"share": 0.02}, "text_length": {"batch_mean": 61.5}},
    }


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call, with fake credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def settings() -> PipelineSettings:
    return PipelineSettings(region=REGION, role_arn=ROLE, bucket=BUCKET, kms_key_id=KMS_KEY,
                            model_package_group=GROUP)


# --- metrics ---------------------------------------------------------------------------------------------------

def test_every_figure_of_a_report_is_put_in_the_tweetops_namespace_with_its_dimensions(aws):
    cloudwatch = aws.client("cloudwatch")
    data = metric_data(report(), "tweetops-batch-inference", GROUP)
    assert publish_metrics(cloudwatch, data) == 1
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {m["MetricName"] for m in listed} == set(METRICS) | {"CategoryShare"}
    categories = {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Category"}
    assert categories == {"billing", "delivery"}
    now = datetime.now(timezone.utc)
    statistics = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="EstimatedAccuracy", StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1), Period=300, Statistics=["Minimum"],
        Dimensions=[{"Name": "Pipeline", "Value": "tweetops-batch-inference"},
                    {"Name": "ModelPackageGroup", "Value": GROUP}])["Datapoints"]
    assert [point["Minimum"] for point in statistics] == [0.71]


def test_more_than_a_thousand_datums_take_several_calls_each_within_the_limit(aws):
    cloudwatch = aws.client("cloudwatch")
    sizes = []
    cloudwatch.meta.events.register("before-parameter-build.cloudwatch.PutMetricData",
                                    lambda params, **_: sizes.append(len(params["MetricData"])))
    data = [{"MetricName": "CategoryShare", "Value": i / 2500, "Unit": "None",
             "Dimensions": [{"Name": "Category", "Value": f"category-{i}"}]} for i in range(2500)]
    assert publish_metrics(cloudwatch, data) == 3
    assert sizes == [1000, 1000, 500]
    listed = cloudwatch.get_paginator("list_metrics").paginate(Namespace=NAMESPACE, MetricName="CategoryShare")
    assert sum(len(page["Metrics"]) for page in listed) == 2500


def test_chunks_stay_under_one_megabyte_on_every_wire_format_cloudwatch_speaks():
    # 30 dimensions of 255 characters: about 17 kB a datum in the query protocol, so 1 MB holds ~60 of them.
    dimensions = [{"Name": f"Dimension{i:02d}", "Value": "v" * 255} for i in range(30)]
    data = [{"MetricName": f"Metric{i}", "Value": 0.5, "Unit": "None", "Dimensions": dimensions} for i in range(200)]
    chunks = list(metric_chunks(data))
    assert len(chunks) > 1 and all(len(chunk) < MAX_DATUMS_PER_CALL for chunk in chunks)
    assert [datum for chunk in chunks for datum in chunk] == data  # nothing lost, order kept
    operation = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricData")
    for chunk in chunks:
        request = {"Namespace": NAMESPACE, "MetricData": chunk}
        query = create_serializer("query").serialize_to_request(request, operation)["body"]
        assert len(urlencode(query)) <= MAX_PAYLOAD_BYTES
        for protocol in ("json", "smithy-rpc-v2-cbor"):
            assert len(create_serializer(protocol).serialize_to_request(request, operation)["body"]) \
                <= MAX_PAYLOAD_BYTES
    assert sum(encoded_size(d) for d in chunks[0] + chunks[1][:1]) > MAX_PAYLOAD_BYTES  # the cut was needed


def test_a_datum_larger_than_a_request_is_refused_with_its_name():
    with pytest.raises(ValueError, match="metric 'Huge': one datum of .* bytes exceeds"):
        list(metric_chunks([{"MetricName": "Huge", "Value": 1.0}], max_bytes=10))


# --- alarms ----------------------------------------------------------------------------------------------------

def _alarms(cloudwatch) -> dict[str, dict]:
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix="tweetops-")
    return {alarm["AlarmName"]: alarm for page in pages for alarm in page["MetricAlarms"]}


def test_setup_creates_a_kms_encrypted_topic_and_one_alarm_per_rule_notifying_it(aws, settings):
    result = setup_alarms(aws, settings)
    sns, cloudwatch = aws.client("sns"), aws.client("cloudwatch")
    topic = result["topic"]["arn"]
    assert topic.endswith(":tweetops-training-alarms") and result["topic"]["status"] == "created"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] == KMS_KEY
    alarms = _alarms(cloudwatch)
    assert len(alarms) == len(BATCH_RULES) + 2
    limits = thresholds()
    for rule in BATCH_RULES:
        alarm = alarms[f"tweetops-tweetops-batch-inference-{rule.name}"]
        assert (alarm["MetricName"], alarm["Namespace"], alarm["ComparisonOperator"], alarm["Threshold"],
                alarm["Statistic"]) == (rule.metric, NAMESPACE, rule.comparison, limits[rule.name], rule.statistic)
        assert alarm["Dimensions"] == [{"Name": "Pipeline", "Value": "tweetops-batch-inference"},
                                       {"Name": "ModelPackageGroup", "Value": GROUP}]
        assert alarm["AlarmActions"] == [topic] and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["Period"] == ALARM_PERIOD_SECONDS
    for pipeline in ("tweetops-training", "tweetops-batch-inference"):
        alarm = alarms[f"tweetops-{pipeline}-pipeline-failed"]
        assert (alarm["MetricName"], alarm["Namespace"], alarm["Statistic"], alarm["Dimensions"]) == (
            "ExecutionFailed", PIPELINE_NAMESPACE, "Sum", [{"Name": "PipelineName", "Value": pipeline}])
        assert alarm["AlarmActions"] == [topic] and alarm["Threshold"] == PIPELINE_FAILED.threshold
    assert {a["status"] for a in result["alarms"]} == {"created"}


def test_without_a_kms_key_the_topic_uses_the_aws_managed_sns_key_and_setup_warns_it_blocks_alarms(aws, settings):
    result = setup_alarms(aws, dataclasses.replace(settings, kms_key_id=""))
    attributes = aws.client("sns").get_topic_attributes(TopicArn=result["topic"]["arn"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == "alias/aws/sns"
    assert result["warnings"] == [AWS_MANAGED_KEY_WARNING]
    assert setup_alarms(aws, settings)["warnings"] == []  # a customer managed key: nothing to warn about


def test_a_second_setup_changes_nothing_and_reports_every_alarm_unchanged(aws, settings):
    setup_alarms(aws, settings, email="ops@example.com")
    before = _alarms(aws.client("cloudwatch"))
    again = setup_alarms(aws, settings, email="ops@example.com")
    assert again["topic"]["status"] == "unchanged" and again["subscription"]["status"] == "unchanged"
    assert {a["status"] for a in again["alarms"]} == {"unchanged"}
    assert _alarms(aws.client("cloudwatch")) == before  # same configuration timestamps: nothing was put again
    topics = aws.client("sns").list_topics()["Topics"]
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in topics] == ["tweetops-training-alarms"]
    subscriptions = aws.client("sns").list_subscriptions_by_topic(TopicArn=again["topic"]["arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def test_a_changed_threshold_updates_exactly_that_alarm(aws, settings):
    setup_alarms(aws, settings)
    before = _alarms(aws.client("cloudwatch"))
    changed = dataclasses.replace(settings, alarm_thresholds={"max_estimated_accuracy_drop": 0.08})
    result = setup_alarms(aws, changed)
    statuses = {a["name"]: a["status"] for a in result["alarms"]}
    name = "tweetops-tweetops-batch-inference-estimated-accuracy"
    assert statuses.pop(name) == "updated" and set(statuses.values()) == {"unchanged"}
    after = _alarms(aws.client("cloudwatch"))
    assert after[name]["Threshold"] == 0.08
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}


def test_a_changed_kms_key_re_encrypts_the_same_topic(aws, settings):
    first = setup_alarms(aws, settings)
    second = setup_alarms(aws, dataclasses.replace(settings, kms_key_id="alias/tweetops"))
    assert second["topic"] == first["topic"] | {"kms_key_id": "alias/tweetops", "status": "updated"}
    attributes = aws.client("sns").get_topic_attributes(TopicArn=first["topic"]["arn"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == "alias/tweetops"


def test_with_the_stacks_topic_set_the_alarms_notify_it_and_no_topic_is_created_or_changed(aws, settings):
    sns = aws.client("sns")
    stack_topic = sns.create_topic(Name="tweetops-dev-alarms", Attributes={"KmsMasterKeyId": KMS_KEY})["TopicArn"]
    result = setup_alarms(aws, dataclasses.replace(settings, alarm_topic_arn=stack_topic, kms_key_id="alias/other"),
                          email="ops@example.com")
    assert result["topic"] == {"arn": stack_topic, "name": "tweetops-dev-alarms", "kms_key_id": KMS_KEY,
                               "status": "existing"}
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [stack_topic]
    assert sns.get_topic_attributes(TopicArn=stack_topic)["Attributes"]["KmsMasterKeyId"] == KMS_KEY
    assert {alarm["AlarmActions"][0] for alarm in _alarms(aws.client("cloudwatch")).values()} == {stack_topic}
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=stack_topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    assert result["warnings"] == []


def test_a_given_topic_under_the_aws_managed_key_is_warned_about_and_a_missing_one_refused(aws, settings):
    sns = aws.client("sns")
    managed = sns.create_topic(Name="managed", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    assert setup_alarms(aws, dataclasses.replace(settings, alarm_topic_arn=managed))["warnings"] == [
        AWS_MANAGED_KEY_WARNING]
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:gone"
    with pytest.raises(SettingsError, match=f"alarm_topic_arn {missing}: no such SNS topic"):
        setup_alarms(aws, dataclasses.replace(settings, alarm_topic_arn=missing))


def test_alarm_requests_are_valid_put_metric_alarm_requests(settings):
    operation = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm")
    for request in alarm_requests(settings, f"arn:aws:sns:{REGION}:{ACCOUNT}:t", {"max_novel_share_increase": 0.2}):
        validate_parameters(request, operation.input_shape)
    novel = [r for r in alarm_requests(settings, "t", {"max_novel_share_increase": 0.2}) if r["MetricName"] == "NovelShareIncrease"]
    assert [r["Threshold"] for r in novel] == [0.2]


def test_a_threshold_override_naming_no_rule_is_refused():
    with pytest.raises(SettingsError, match="alarm_thresholds: no alarm rule 'min_accuracy'; known: "):
        PipelineSettings(alarm_thresholds={"min_accuracy": 0.8})
    with pytest.raises(SettingsError, match="alarm_thresholds: max_novel_share_increase must be a number"):
        PipelineSettings(alarm_thresholds={"max_novel_share_increase": "high"})


def test_an_address_that_is_no_email_is_refused_before_any_subscription(aws, settings):
    with pytest.raises(SettingsError, match="--email 'ops' is not an email address"):
        setup_alarms(aws, settings, email="ops")


# --- Model Monitor schedules -----------------------------------------------------------------------------------

class ModelMonitorStub:
    """CreateMonitoringSchedule, UpdateMonitoringSchedule and DescribeMonitoringSchedule in place of moto's,
    which has none of them (NotImplementedError in moto 5.2). Every request is first validated against botocore's
    service model, as SageMaker's API would check it; a schedule must name a job definition that exists (in moto)."""

    def __init__(self):
        self.schedules: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []

    def install(self, client) -> None:
        """Replace the three calls on one boto3 sagemaker client."""
        for operation in ("CreateMonitoringSchedule", "UpdateMonitoringSchedule", "DescribeMonitoringSchedule"):
            answer = functools.partial(getattr(self, operation), client)
            setattr(client, _snake(operation), validated_call(client, operation, answer, self.calls))

    def CreateMonitoringSchedule(self, client, MonitoringScheduleName, MonitoringScheduleConfig, Tags=()):
        if MonitoringScheduleName in self.schedules:
            raise _client_error("ResourceInUse", f"{MonitoringScheduleName} already exists", "CreateMonitoringSchedule")
        client.describe_data_quality_job_definition(JobDefinitionName=MonitoringScheduleConfig[
            "MonitoringJobDefinitionName"])
        self.schedules[MonitoringScheduleName] = MonitoringScheduleConfig
        return {"MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/"
                                         f"{MonitoringScheduleName}"}

    def UpdateMonitoringSchedule(self, client, MonitoringScheduleName, MonitoringScheduleConfig):
        self.DescribeMonitoringSchedule(client, MonitoringScheduleName)
        client.describe_data_quality_job_definition(JobDefinitionName=MonitoringScheduleConfig[
            "MonitoringJobDefinitionName"])
        self.schedules[MonitoringScheduleName] = MonitoringScheduleConfig
        return {"MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/"
                                         f"{MonitoringScheduleName}"}

    def DescribeMonitoringSchedule(self, client, MonitoringScheduleName):
        if MonitoringScheduleName not in self.schedules:
            raise _client_error("ResourceNotFound", f"Monitoring schedule {MonitoringScheduleName} not found",
                                "DescribeMonitoringSchedule")
        return {"MonitoringScheduleName": MonitoringScheduleName, "MonitoringScheduleStatus": "Scheduled",
                "MonitoringScheduleConfig": self.schedules[MonitoringScheduleName]}


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.fixture
def model_monitor(aws, monkeypatch) -> ModelMonitorStub:
    """The stub on every sagemaker client made from now on (the code under test makes its own)."""
    return stub_every_sagemaker_client(monkeypatch, ModelMonitorStub())


def seed_package(session, *, baseline: bool = True, files: bool = True, status: str = "Approved") -> dict:
    """A package of our group as the training pipeline registers it, with its data-quality baseline in S3."""
    client, s3 = session.client("sagemaker"), session.client("s3")
    try:
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except ClientError:
        pass  # the second package of a test
    execution = len(client.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]) + 1
    prefix = f"s3://{BUCKET}/tweetops/executions/exec{execution:04d}/baseline"
    request = {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": status, "InferenceSpecification": {
        "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops:0.1.0",
                        "Environment": {"TWEETOPS_MODEL_SHA256": "ab" * 32}}],  # pinned, as registration pins it
        "SupportedContentTypes": ["application/jsonlines"], "SupportedResponseMIMETypes": ["application/jsonlines"]}}
    if baseline:
        request["DriftCheckBaselines"] = {"ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": f"{prefix}/statistics.json"},
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{prefix}/constraints.json"}}}
        if files:
            for name, document in (("statistics.json", {"version": 0.0, "dataset": {"item_count": 400},
                                                        "features": []}),
                                   ("constraints.json", {"version": 0.0, "features": []})):
                s3.put_object(Bucket=BUCKET, Key=f"{prefix.split('/', 3)[3]}/{name}", Body=json.dumps(document))
    arn = client.create_model_package(**request)["ModelPackageArn"]
    return client.describe_model_package(ModelPackageName=arn)


def test_attach_creates_a_data_quality_definition_from_the_package_baseline_and_a_schedule(aws, settings,
                                                                                          model_monitor):
    package = seed_package(aws)
    result = attach_schedule(aws, settings, package, schedule="hourly")
    assert (result["status"], result["job_definition_status"]) == ("created", "created")
    definition = aws.client("sagemaker").describe_data_quality_job_definition(
        JobDefinitionName=result["job_definition"])
    baseline = package["DriftCheckBaselines"]["ModelDataQuality"]
    assert definition["DataQualityBaselineConfig"] == {
        "StatisticsResource": {"S3Uri": baseline["Statistics"]["S3Uri"]},
        "ConstraintsResource": {"S3Uri": baseline["Constraints"]["S3Uri"]}}
    assert definition["DataQualityJobInput"] == {"BatchTransformInput": {
        "DataCapturedDestinationS3Uri": f"s3://{BUCKET}/tweetops/data-capture/",
        "DatasetFormat": {"Json": {"Line": True}},
        "LocalPath": "/opt/ml/processing/input"}}
    assert definition["DataQualityAppSpecification"] == {
        "ImageUri": ANALYZER_EU_WEST_1, "Environment": {"publish_cloudwatch_metrics": "Enabled"}}
    output = definition["DataQualityJobOutputConfig"]
    assert output["KmsKeyId"] == KMS_KEY
    assert output["MonitoringOutputs"][0]["S3Output"]["S3Uri"] == f"s3://{BUCKET}/tweetops/monitoring/model-monitor/"
    assert definition["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS_KEY
    assert definition["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert definition["RoleArn"] == ROLE
    [(operation, request)] = [call for call in model_monitor.calls if call[0] != "DescribeMonitoringSchedule"]
    assert operation == "CreateMonitoringSchedule"
    assert request["MonitoringScheduleName"] == "tweetops-batch-inference-data-quality"
    assert request["MonitoringScheduleConfig"] == {
        "ScheduleConfig": {"ScheduleExpression": SCHEDULES["hourly"]},
        "MonitoringJobDefinitionName": result["job_definition"], "MonitoringType": "DataQuality"}
    assert {"Key": "project", "Value": "tweetops"} in request["Tags"]


def test_attaching_again_updates_the_schedule_and_a_new_package_gets_its_own_definition(aws, settings, model_monitor):
    first = attach_schedule(aws, settings, seed_package(aws), schedule="hourly")
    again = attach_schedule(aws, settings, aws.client("sagemaker").describe_model_package(
        ModelPackageName=first["package"]), schedule="daily")
    assert (again["status"], again["job_definition_status"]) == ("updated", "unchanged")
    assert again["job_definition"] == first["job_definition"]
    newer = attach_schedule(aws, settings, seed_package(aws), schedule="daily")
    assert (newer["status"], newer["job_definition_status"]) == ("updated", "created")
    assert newer["job_definition"] != first["job_definition"]
    assert model_monitor.schedules["tweetops-batch-inference-data-quality"] == {
        "ScheduleConfig": {"ScheduleExpression": SCHEDULES["daily"]},
        "MonitoringJobDefinitionName": newer["job_definition"], "MonitoringType": "DataQuality"}


def test_a_package_without_a_data_quality_baseline_is_refused_clearly(aws, settings, model_monitor):
    with pytest.raises(PipelineError, match="has no data-quality baseline \\(statistics and constraints missing"):
        attach_schedule(aws, settings, seed_package(aws, baseline=False))
    assert not model_monitor.calls


def test_a_baseline_file_missing_from_s3_is_refused_before_anything_is_created(aws, settings, model_monitor):
    with pytest.raises(PipelineError, match="baseline s3://tweetops-data/.*/statistics.json: NoSuchKey"):
        attach_schedule(aws, settings, seed_package(aws, files=False))
    assert not model_monitor.calls
    assert not aws.client("sagemaker").list_data_quality_job_definitions()["JobDefinitionSummaries"]


def test_the_stub_refuses_a_request_sagemaker_would_refuse(aws, model_monitor):
    client = aws.client("sagemaker")
    with pytest.raises(ParamValidationError, match="Missing required parameter in MonitoringScheduleConfig"):
        client.create_monitoring_schedule(MonitoringScheduleName="tweetops", MonitoringScheduleConfig={
            "ScheduleConfig": {}, "MonitoringJobDefinitionName": "d", "MonitoringType": "DataQuality"})
    assert not model_monitor.schedules


# --- the baseline of a package, for executions started with only its ARN (the model-approved rule) -------------

def test_the_baseline_a_package_names_is_downloaded_with_the_featurizer_digest_it_pins(aws, tmp_path):
    client, s3 = aws.client("sagemaker"), aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    prefix = "tweetops/executions/exec0001/monitoring/baseline"
    for key in ("baseline.json", "reference.npz", "featurizer.joblib", "nested/ignored.json"):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=key.encode())
    specification = {"Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops:0.1.0"}],
                     "SupportedContentTypes": ["application/jsonlines"],
                     "SupportedResponseMIMETypes": ["application/jsonlines"]}
    with_baseline = client.create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=specification,
        CustomerMetadataProperties={"monitoring_baseline_uri": f"s3://{BUCKET}/{prefix}",
                                    "featurizer_sha256": "ab" * 32})["ModelPackageArn"]
    without = client.create_model_package(ModelPackageGroupName=GROUP,
                                          InferenceSpecification=specification)["ModelPackageArn"]

    assert download_package_baseline(aws, with_baseline, tmp_path) == "ab" * 32
    assert sorted(path.name for path in tmp_path.iterdir()) == ["baseline.json", "featurizer.joblib", "reference.npz"]
    assert (tmp_path / "baseline.json").read_bytes() == b"baseline.json"
    assert download_package_baseline(aws, without, tmp_path / "none") is None
