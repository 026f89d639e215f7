"""The AWS edge of monitoring: the batch figures to CloudWatch, the alarm rules as CloudWatch alarms to an SNS
topic, and SageMaker Model Monitor data-quality schedules for accounts that have Model Monitor.

The rules and metric names are processing/monitoring's (alarms.py, metrics.py); this module only turns them
into AWS requests. Names, dimensions and what each alarm watches: docs/monitoring.md.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import quote, urlparse

from botocore.exceptions import ClientError

from pipelines.operations import PipelineError, package_version
from pipelines.settings import DATA_CAPTURE_PREFIX, PipelineSettings, SettingsError, resolved
from processing.monitoring.alarms import BATCH_RULES, PIPELINE_FAILED, AlarmRule, thresholds
from processing.monitoring.metrics import NAMESPACE

# PutMetricData limits (CloudWatch quotas): 1,000 MetricDatum per request and 1 MB per request.
MAX_DATUMS_PER_CALL = 1000
MAX_PAYLOAD_BYTES = 1_000_000
# The batch figures arrive once per scored batch: a 5-minute period holds one batch's datum, and one breaching
# period is enough to notify. No datum (no batch) is not a breach: the alarm returns to OK, ready for the next.
ALARM_PERIOD_SECONDS = 300
# What setup_alarms compares to decide "unchanged": every field it sets that DescribeAlarms returns.
ALARM_FIELDS = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "MetricName", "Namespace", "Statistic",
                "Dimensions", "Period", "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                "TreatMissingData")

# SNS's own AWS managed key has a key policy nobody can change, so it cannot grant CloudWatch the kms:Decrypt and
# kms:GenerateDataKey* that publishing to an encrypted topic needs (SNS guide, "Enable compatibility between event
# sources from AWS services and encrypted topics").
AWS_MANAGED_KEY_WARNING = (
    "the topic is encrypted with the AWS managed key alias/aws/sns, which CloudWatch cannot use: alarm "
    "notifications will not be delivered. Set kms_key_id to a customer managed key whose policy grants "
    "cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* (docs/monitoring.md)")

# Model Monitor: the schedule's cron expressions (SageMaker accepts hourly and daily ones for data quality).
SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}
MONITOR_INSTANCE_TYPE = "ml.m5.xlarge"
MONITOR_MAX_RUNTIME_SECONDS = 1800  # must end before the next hourly run starts
PROCESSING = "/opt/ml/processing"
# sagemaker EntityName (job definition and schedule names), from botocore's service model.
_ENTITY_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


# --- metrics ---------------------------------------------------------------------------------------------------

def publish_metrics(cloudwatch, metric_data: list[dict], namespace: str = NAMESPACE) -> int:
    """PutMetricData of every datum in `namespace`, in as few calls as CloudWatch's limits allow; returns the calls."""
    calls = 0
    for chunk in metric_chunks(metric_data):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
        calls += 1
    return calls


def metric_chunks(metric_data: Iterable[dict], max_datums: int = MAX_DATUMS_PER_CALL,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[list[dict]]:
    """The datums in order, cut into lists of at most `max_datums` whose encoded size stays under `max_bytes`."""
    chunk, size = [], 0
    for datum in metric_data:
        datum_size = encoded_size(datum)
        if datum_size > max_bytes:
            raise ValueError(f"metric {datum.get('MetricName')!r}: one datum of {datum_size} bytes exceeds "
                             f"PutMetricData's {max_bytes}-byte request limit")
        if chunk and (len(chunk) == max_datums or size + datum_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(datum)
        size += datum_size
    if chunk:
        yield chunk


def encoded_size(datum: dict) -> int:
    """An upper bound of one datum's bytes in a PutMetricData request: its size in the query protocol (the most
    verbose of CloudWatch's wire formats: every field repeats its full path), at the highest member index."""
    fields = _query_fields(datum, "MetricData.member.1000")
    return sum(len(key) + len(quote(value, safe="")) + 2 for key, value in fields)  # "&key=value"


def _query_fields(value, path: str) -> Iterator[tuple[str, str]]:
    """(key, text) pairs of a request value flattened the query protocol's way (lists as .member.N)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _query_fields(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value, start=1):
            yield from _query_fields(item, f"{path}.member.{index}")
    else:
        yield path, value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- alarms ----------------------------------------------------------------------------------------------------

def alarm_name(pipeline: str, rule: AlarmRule) -> str:
    """"tweetops-<pipeline>-<rule>": the CloudWatch alarm of one rule on one pipeline."""
    return f"tweetops-{pipeline}-{rule.name}"


def alarm_requests(settings: PipelineSettings, topic_arn: str, overrides: dict | None = None) -> list[dict]:
    """PutMetricAlarm requests: every batch rule on the inference pipeline's figures, and a failed execution of
    the training and of the inference pipeline; each notifies `topic_arn`."""
    limits = thresholds(overrides)
    dimensions = [{"Name": "Pipeline", "Value": settings.inference_pipeline_name},
                  {"Name": "ModelPackageGroup", "Value": settings.model_package_group}]
    requests = [_alarm(rule, alarm_name(settings.inference_pipeline_name, rule), dimensions, limits[rule.name],
                       topic_arn, f"{settings.inference_pipeline_name} ({settings.model_package_group}): ")
                for rule in BATCH_RULES]
    for pipeline in (settings.pipeline_name, settings.inference_pipeline_name):
        requests.append(_alarm(PIPELINE_FAILED, alarm_name(pipeline, PIPELINE_FAILED),
                               [{"Name": "PipelineName", "Value": pipeline}], PIPELINE_FAILED.threshold, topic_arn,
                               f"{pipeline}: "))
    return requests


def _alarm(rule: AlarmRule, name: str, dimensions: list[dict], threshold: float, topic_arn: str,
           about: str) -> dict:
    """One PutMetricAlarm request for `rule`."""
    return {
        "AlarmName": name,
        "AlarmDescription": (about + rule.description)[:1024],
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn],
        "MetricName": rule.metric,
        "Namespace": rule.namespace,
        "Statistic": rule.statistic,
        "Dimensions": dimensions,
        "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": float(threshold),
        "ComparisonOperator": rule.comparison,
        "TreatMissingData": "notBreaching",
    }


def topic_name(settings: PipelineSettings) -> str:
    """The SNS topic the alarms notify: "<pipeline_name>-alarms"."""
    return f"{settings.pipeline_name}-alarms"


def setup_alarms(boto_session, settings: PipelineSettings, email: str | None = None,
                 overrides: dict | None = None) -> dict:
    """Create or update the KMS-encrypted SNS topic, the optional email subscription and every alarm.

    The topic is the settings' alarm_topic_arn when set (the deployed stack's: used as it is, never changed),
    else <pipeline_name>-alarms. Idempotent: what already matches is left alone and reported "unchanged".
    `overrides` default to the settings' alarm_thresholds. Returns {"topic", "subscription" (None without
    `email`), "alarms": [{name, status, ...}], "warnings"}.
    """
    sns, cloudwatch = boto_session.client("sns"), boto_session.client("cloudwatch")
    if settings.alarm_topic_arn:
        topic = given_topic(sns, settings.alarm_topic_arn)
    else:
        topic = ensure_topic(sns, topic_name(settings), settings.kms_key_id or "alias/aws/sns", settings.all_tags())
    subscription = ensure_email_subscription(sns, topic["arn"], email) if email else None
    overrides = dict(settings.alarm_thresholds) if overrides is None else overrides
    requests = alarm_requests(settings, topic["arn"], overrides)
    existing = _described_alarms(cloudwatch, [request["AlarmName"] for request in requests])
    alarms = []
    for request in requests:
        status = alarm_status(existing.get(request["AlarmName"]), request)
        if status != "unchanged":
            # Tags apply only when an alarm is created (TagResource changes them later): the same on every run.
            cloudwatch.put_metric_alarm(**request, Tags=settings.all_tags())
        alarms.append({"name": request["AlarmName"], "status": status, "metric": request["MetricName"],
                       "threshold": request["Threshold"], "comparison": request["ComparisonOperator"]})
    return {"topic": topic, "subscription": subscription, "alarms": alarms,
            "warnings": [AWS_MANAGED_KEY_WARNING] if topic["kms_key_id"] == "alias/aws/sns" else []}


def alarm_status(described: dict | None, request: dict) -> str:
    """"created" when no alarm exists, "unchanged" when DescribeAlarms shows every requested field, else "updated"."""
    if described is None:
        return "created"
    same = all(_normalised(key, described.get(key)) == _normalised(key, request.get(key)) for key in ALARM_FIELDS)
    return "unchanged" if same else "updated"


def _normalised(key: str, value):
    """A field as compared: dimensions in name order (CloudWatch need not keep the request's), numbers as floats."""
    if key == "Dimensions":
        return sorted((item["Name"], item["Value"]) for item in value or [])
    if key == "Threshold" and value is not None:
        return float(value)
    return value


def _described_alarms(cloudwatch, names: list[str]) -> dict[str, dict]:
    """The metric alarms among `names` that exist, by name (DescribeAlarms takes at most 100 names a call)."""
    found = {}
    for start in range(0, len(names), 100):
        pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=names[start:start + 100],
                                                                     AlarmTypes=["MetricAlarm"])
        for page in pages:
            found |= {alarm["AlarmName"]: alarm for alarm in page["MetricAlarms"]}
    return found


def ensure_topic(sns, name: str, kms_key_id: str, tags: list[dict]) -> dict:
    """The topic `name`, encrypted under `kms_key_id`: {"arn", "name", "kms_key_id", "status"} (created, updated
    or unchanged)."""
    arn = _find_topic(sns, name)
    if arn is None:
        arn = sns.create_topic(Name=name, Attributes={"KmsMasterKeyId": kms_key_id}, Tags=tags)["TopicArn"]
        return {"arn": arn, "name": name, "kms_key_id": kms_key_id, "status": "created"}
    if sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("KmsMasterKeyId") == kms_key_id:
        return {"arn": arn, "name": name, "kms_key_id": kms_key_id, "status": "unchanged"}
    sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=kms_key_id)
    return {"arn": arn, "name": name, "kms_key_id": kms_key_id, "status": "updated"}


def given_topic(sns, arn: str) -> dict:
    """The existing topic `arn` (setting alarm_topic_arn), as ensure_topic describes one, with status "existing";
    a clear error when it does not exist."""
    try:
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    except ClientError as error:
        if error.response["Error"].get("Code") == "NotFound":
            raise SettingsError(f"alarm_topic_arn {arn}: no such SNS topic (deploy infra/, or unset the setting to "
                                "let `tweetops monitoring setup` create one)") from None
        raise
    return {"arn": arn, "name": arn.rsplit(":", 1)[-1], "kms_key_id": attributes.get("KmsMasterKeyId", ""),
            "status": "existing"}


def _find_topic(sns, name: str) -> str | None:
    """The ARN of the account's topic called `name` in the client's region, or None."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    return None


def ensure_email_subscription(sns, topic_arn: str, email: str) -> dict:
    """Subscribe `email` to the topic unless it already is (confirmed or pending): {"endpoint", "status"}."""
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise SettingsError(f"--email {email!r} is not an email address")
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for item in page["Subscriptions"]:
            if item["Protocol"] == "email" and item["Endpoint"].lower() == email.lower():
                return {"endpoint": email, "status": "unchanged", "arn": item["SubscriptionArn"]}
    arn = sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=email,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    # AWS sends a confirmation email; nothing is delivered until the recipient confirms.
    return {"endpoint": email, "status": "created (confirmation email sent)", "arn": arn}


# --- Model Monitor schedules -----------------------------------------------------------------------------------

def baseline_uris(package: dict) -> dict[str, str]:
    """{"statistics", "constraints"} S3 URIs of a DescribeModelPackage response's data-quality drift baseline."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    uris = {kind: (quality.get(kind.capitalize()) or {}).get("S3Uri") for kind in ("statistics", "constraints")}
    missing = [kind for kind, uri in uris.items() if not uri]
    if missing:
        raise PipelineError(f"model package {package.get('ModelPackageArn')} has no data-quality baseline "
                            f"({' and '.join(missing)} missing from DriftCheckBaselines.ModelDataQuality): "
                            "register it with the current training pipeline, whose Baseline step makes one")
    return uris


def analyzer_image(region: str) -> str:
    """The Model Monitor analyzer image of `region` (the SDK's table of SageMaker's accounts per region)."""
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve(framework="model-monitor", region=region)
    except ValueError as error:
        raise SettingsError(f"Model Monitor: {error}") from None


def data_quality_job_definition(settings: PipelineSettings, baseline: dict[str, str], image_uri: str) -> dict:
    """The CreateDataQualityJobDefinition request watching the batch-transform data capture against `baseline`.

    Named after its content ("tweetops-data-quality-<hash>"), so attaching the same package twice reuses it and a
    changed baseline or setting makes a new one. Settings must be resolved (bucket set).
    """
    root = f"s3://{settings.bucket}/{settings.prefix}"
    kms = {"KmsKeyId": settings.kms_key_id} if settings.kms_key_id else {}
    network = {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": settings.network_isolation}
    if settings.subnets:
        network["VpcConfig"] = {"Subnets": list(settings.subnets),
                                "SecurityGroupIds": list(settings.security_group_ids)}
    request = {
        "DataQualityBaselineConfig": {"StatisticsResource": {"S3Uri": baseline["statistics"]},
                                      "ConstraintsResource": {"S3Uri": baseline["constraints"]}},
        # publish_cloudwatch_metrics: the analyzer puts its per-feature figures and drift in CloudWatch.
        "DataQualityAppSpecification": {"ImageUri": image_uri,
                                        "Environment": {"publish_cloudwatch_metrics": "Enabled"}},
        "DataQualityJobInput": {"BatchTransformInput": {
            "DataCapturedDestinationS3Uri": f"{root}/{DATA_CAPTURE_PREFIX}/",
            "DatasetFormat": {"Json": {"Line": True}},
            "LocalPath": f"{PROCESSING}/input",
        }},
        "DataQualityJobOutputConfig": {**kms, "MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"{root}/monitoring/model-monitor/", "LocalPath": f"{PROCESSING}/output",
            "S3UploadMode": "EndOfJob"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": MONITOR_INSTANCE_TYPE,
                                           "VolumeSizeInGB": 20,
                                           **({"VolumeKmsKeyId": settings.kms_key_id} if settings.kms_key_id else {})}},
        "NetworkConfig": network,
        "RoleArn": settings.require_role(),
        "StoppingCondition": {"MaxRuntimeInSeconds": MONITOR_MAX_RUNTIME_SECONDS},
    }
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
    return {"JobDefinitionName": f"tweetops-data-quality-{digest}", **request, "Tags": settings.all_tags()}


def schedule_name(settings: PipelineSettings) -> str:
    """The data-quality schedule of the inference pipeline's batch transforms: "<inference pipeline>-data-quality"."""
    name = f"{settings.inference_pipeline_name}-data-quality"
    if not _ENTITY_NAME.fullmatch(name):
        raise SettingsError(f"monitoring schedule name {name!r} is not valid (at most 63 letters, digits and inner "
                            "hyphens): shorten inference_pipeline_name")
    return name


def schedule_config(job_definition_name: str, schedule: str) -> dict:
    """MonitoringScheduleConfig: the data-quality job definition run on the `schedule` (hourly or daily)."""
    if schedule not in SCHEDULES:
        raise SettingsError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    return {"ScheduleConfig": {"ScheduleExpression": SCHEDULES[schedule]},
            "MonitoringJobDefinitionName": job_definition_name, "MonitoringType": "DataQuality"}


def attach_schedule(boto_session, settings: PipelineSettings, package: dict, schedule: str = "daily") -> dict:
    """Create (or point at `package`'s baseline) the data-quality monitoring schedule of the batch transforms.

    `package` is a DescribeModelPackage response; its baseline files must be readable JSON in S3 (a schedule on
    a missing baseline would fail at every run). Returns what was done: names, URIs and "created"/"updated".
    """
    role = settings.require_role()
    settings = resolved(settings, account=role.split(":")[4], version=package_version())
    baseline = baseline_uris(package)
    from register.registry import sagemaker_backend

    _, read_json = sagemaker_backend(boto_session)
    for uri in baseline.values():
        _require_json_object(read_json, uri)
    client = boto_session.client("sagemaker")
    definition = data_quality_job_definition(settings, baseline, analyzer_image(settings.region))
    definition_status = _ensure_job_definition(client, definition)
    name = schedule_name(settings)
    config = schedule_config(definition["JobDefinitionName"], schedule)
    if _schedule_exists(client, name):
        client.update_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=config)
        status = "updated"
    else:
        client.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=config,
                                          Tags=settings.all_tags())
        status = "created"
    return {"schedule": name, "status": status, "cron": SCHEDULES[schedule],
            "job_definition": definition["JobDefinitionName"], "job_definition_status": definition_status,
            "package": package.get("ModelPackageArn"), "baseline": baseline,
            "data_capture": definition["DataQualityJobInput"]["BatchTransformInput"]["DataCapturedDestinationS3Uri"],
            "output": definition["DataQualityJobOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"]}


def _require_json_object(read_json, uri: str) -> None:
    """PipelineError unless `uri` is an S3 object holding a JSON object (read by the registry's S3 reader)."""
    try:
        document = read_json(uri)
    except (OSError, ValueError) as error:  # the reader names the object
        raise PipelineError(f"baseline {error}") from None
    if not isinstance(document, dict):
        raise PipelineError(f"baseline {uri}: not a JSON object (expected Model Monitor's statistics.json or "
                            "constraints.json)")


def _ensure_job_definition(client, definition: dict) -> str:
    """Create the job definition unless one of its (content-derived) name exists: "created" or "unchanged"."""
    try:
        client.describe_data_quality_job_definition(JobDefinitionName=definition["JobDefinitionName"])
        return "unchanged"
    except ClientError as error:
        if error.response["Error"].get("Code") != "ResourceNotFound":
            raise
    client.create_data_quality_job_definition(**definition)
    return "created"


def _schedule_exists(client, name: str) -> bool:
    """Whether the monitoring schedule `name` exists."""
    try:
        client.describe_monitoring_schedule(MonitoringScheduleName=name)
        return True
    except ClientError as error:
        if error.response["Error"].get("Code") != "ResourceNotFound":
            raise
        return False


def download_package_baseline(boto_session, package_arn: str, folder: str | Path) -> str | None:
    """Copy the scoring package's monitoring baseline from S3 into `folder`; return the featurizer digest the
    package pins (None when the package has no baseline). For executions that were given only ModelPackageArn,
    as `pipeline start --param ModelPackageArn=...` with no BaselineUri starts them)."""
    from register.registry import monitoring_parameters

    package = boto_session.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    parameters = monitoring_parameters(package)
    if not parameters:
        return None
    parsed = urlparse(parameters["BaselineUri"])
    prefix = parsed.path.lstrip("/").rstrip("/") + "/"
    s3 = boto_session.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix):]
            if name and "/" not in name and name not in (".", ".."):  # the baseline folder is flat
                s3.download_file(parsed.netloc, item["Key"], str(Path(folder) / name))
    return parameters["FeaturizerSha256"] or None
