"""Specification of the estate's security promises, read from the synthesized template: the key, encryption at rest
and TLS in transit for every store, nothing public, logs kept and encrypted, audit on, alarms from the one
definition in code, tags on everything, and the outputs the CLI reads."""
from __future__ import annotations

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from pipelines.monitoring_aws import alarm_requests
from pipelines.settings import PipelineSettings
from pipelines.stack import OUTPUT_SETTINGS
from pipelines.steps import QUARANTINE_ZONE

pytestmark = pytest.mark.xdist_group("infra")

TAGS = {"project": "tweetops", "cost-centre": "ml-platform", "environment": "dev"}


def key_id(synthesized) -> str:
    (key,) = synthesized.resources("AWS::KMS::Key")
    return key


def uses_key(value, key: str) -> bool:
    """Whether a property is the project key (its Ref or its Arn)."""
    return value in ({"Ref": key}, {"Fn::GetAtt": [key, "Arn"]})


def test_the_key_rotates_and_is_kept_when_the_stack_goes(synthesized):
    key = synthesized.template["Resources"][key_id(synthesized)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_every_bucket_is_encrypted_versioned_private_and_tls_only(synthesized):
    key = key_id(synthesized)
    policies = {policy["Properties"]["Bucket"]["Ref"]: policy["Properties"]["PolicyDocument"]["Statement"]
                for policy in synthesized.resources("AWS::S3::BucketPolicy").values()}
    buckets = synthesized.resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        tls = [statement for statement in policies[name] if statement["Effect"] == "Deny"
               and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert tls and tls[0]["Action"] == "s3:*" and tls[0]["Principal"] == {"AWS": "*"}, name
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if name.startswith("StorageData"):
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
            assert uses_key(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], key)
            assert properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("StorageLogBucket")
            assert properties["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
        else:  # S3 access logs can only be delivered to SSE-S3; the trail's files in it are encrypted with the key
            assert name.startswith("StorageLogBucket")
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_the_data_bucket_refuses_writes_encrypted_otherwise_than_with_the_key(synthesized):
    (name,) = [name for name in synthesized.resources("AWS::S3::Bucket") if name.startswith("StorageData")]
    statements = next(policy["Properties"]["PolicyDocument"]["Statement"]
                      for policy in synthesized.resources("AWS::S3::BucketPolicy").values()
                      if policy["Properties"]["Bucket"]["Ref"] == name)
    conditions = [statement["Condition"] for statement in statements
                  if statement["Effect"] == "Deny" and statement["Action"] == "s3:PutObject"]
    assert {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}} in conditions
    assert {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id":
                                        {"Fn::GetAtt": [key_id(synthesized), "Arn"]}}} in conditions


def test_raw_data_ages_to_colder_storage_and_rejected_rows_and_scratch_expire(synthesized):
    (name,) = [name for name in synthesized.resources("AWS::S3::Bucket") if name.startswith("StorageData")]
    rules = {rule["Id"]: rule for rule in
             synthesized.template["Resources"][name]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert [t["StorageClass"] for t in rules["RawToColderStorage"]["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rules["RawToColderStorage"]["Prefix"] == "tweetops/raw/"
    for rule, prefix in (("ExpireQuarantine", QUARANTINE_ZONE), ("ExpireEmbeddingCache", "embedding-cache"), ("ExpireDataCapture", "data-capture"),
                         ("ExpireNoveltyQueue", "novelty-queue")):
        assert rules[rule]["Prefix"] == f"tweetops/{prefix}/" and rules[rule]["ExpirationInDays"] > 0
    assert rules["ExpireOldVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


def test_every_topic_queue_log_group_repository_and_function_uses_the_key(synthesized):
    key = key_id(synthesized)
    stores = {
        "AWS::SNS::Topic": "KmsMasterKeyId", "AWS::SQS::Queue": "KmsMasterKeyId", "AWS::Logs::LogGroup": "KmsKeyId",
        "AWS::Lambda::Function": "KmsKeyArn", "AWS::CloudTrail::Trail": "KMSKeyId",
    }
    for kind, field in stores.items():
        resources = synthesized.resources(kind)
        assert resources, kind
        for name, resource in resources.items():
            assert uses_key(resource["Properties"][field], key), f"{kind} {name}"
    (repository,) = synthesized.resources("AWS::ECR::Repository").values()
    assert repository["Properties"]["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert uses_key(repository["Properties"]["EncryptionConfiguration"]["KmsKey"], key)
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"


def test_the_topic_and_queues_refuse_requests_without_tls(synthesized):
    for kind, policy_kind, reference in (("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics"),
                                         ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues")):
        covered = set()
        for policy in synthesized.resources(policy_kind).values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            if any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements):
                covered |= {target.get("Ref") or target["Fn::GetAtt"][0] for target in policy["Properties"][reference]}
        assert covered == set(synthesized.resources(kind)), kind


def test_logs_are_kept_for_the_environments_retention(synthesized):
    groups = synthesized.resources("AWS::Logs::LogGroup")
    assert len(groups) == 3  # the two functions' and the trail's
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {90}


def test_the_trail_records_every_region_validates_its_files_and_logs_the_data_buckets_objects(synthesized):
    (trail,) = synthesized.resources("AWS::CloudTrail::Trail").values()
    properties = trail["Properties"]
    assert properties["IsMultiRegionTrail"] and properties["EnableLogFileValidation"]
    assert properties["IncludeGlobalServiceEvents"] and properties["IsLogging"]
    selectors = properties["EventSelectors"]
    assert all(selector["IncludeManagementEvents"] and selector["ReadWriteType"] == "All" for selector in selectors)
    (data,) = [resource for selector in selectors for resource in selector.get("DataResources", [])]
    assert data["Type"] == "AWS::S3::Object"
    (value,) = data["Values"]
    assert value["Fn::Join"][1][0]["Fn::GetAtt"][0].startswith("StorageData")


def test_guardduty_and_the_sagemaker_job_log_groups_are_options(tmp_path):
    from infra.config import EstateConfig
    from tests.infra.conftest import synthesize

    options = synthesize(tmp_path, EstateConfig(guardduty=True, sagemaker_log_groups=True, environment="prod"))
    assert len(options.resources("AWS::GuardDuty::Detector")) == 1
    groups = {group["Properties"].get("LogGroupName"): group["Properties"]
              for group in options.resources("AWS::Logs::LogGroup").values()}
    for kind in ("ProcessingJobs", "TrainingJobs", "TransformJobs"):
        assert groups[f"/aws/sagemaker/{kind}"]["RetentionInDays"] == 365  # prod keeps a year
        assert uses_key(groups[f"/aws/sagemaker/{kind}"]["KmsKeyId"], key_id(options))


def test_the_first_deploy_of_an_account_can_leave_out_the_functions_whose_image_it_cannot_have_yet(tmp_path):
    from infra.config import EstateConfig
    from tests.infra.conftest import synthesize

    first = synthesize(tmp_path, EstateConfig(functions=False))  # cdk-nag checks it too
    assert first.resources("AWS::Lambda::Function") == {}
    assert len(first.resources("AWS::SQS::Queue")) == 2 and len(first.resources("AWS::Events::Rule")) == 1


def test_the_default_estate_has_no_guardduty_detector(synthesized):
    assert synthesized.resources("AWS::GuardDuty::Detector") == {}  # one per account and region: opt in


def test_the_alarms_are_the_ones_monitoring_setup_creates(synthesized):
    alarms = {alarm["Properties"]["AlarmName"]: alarm["Properties"]
              for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()}
    (topic,) = synthesized.resources("AWS::SNS::Topic")
    expected = alarm_requests(PipelineSettings(), "TOPIC")
    assert sorted(alarms) == sorted(request["AlarmName"] for request in expected)
    for request in expected:
        alarm = alarms[request["AlarmName"]]
        assert alarm["MetricName"] == request["MetricName"] and alarm["Namespace"] == request["Namespace"]
        assert alarm["Threshold"] == request["Threshold"]
        assert alarm["ComparisonOperator"] == request["ComparisonOperator"]
        assert alarm["Dimensions"] == [{"Name": d["Name"], "Value": d["Value"]} for d in request["Dimensions"]]
        assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_pipeline_failures_and_alarms_reach_the_topic_and_an_email_is_a_parameter(synthesized):
    (topic,) = synthesized.resources("AWS::SNS::Topic")
    rules = synthesized.resources("AWS::Events::Rule")
    failed = [rule for rule in rules.values()
              if rule["Properties"].get("EventPattern", {}).get("detail", {}).get("currentPipelineExecutionStatus")]
    assert len(failed) == 1 and failed[0]["Properties"]["Targets"][0]["Arn"] == {"Ref": topic}
    assert synthesized.template["Parameters"]["AlarmEmail"]["Default"] == ""
    (subscription,) = synthesized.resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == next(iter(synthesized.template["Conditions"]))
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_every_resource_that_takes_tags_carries_project_cost_centre_and_environment(synthesized):
    untagged = []
    for name, resource in synthesized.template["Resources"].items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema
        if "Tags" not in schema.get("properties", {}):
            continue
        tags = resource["Properties"].get("Tags")
        found = {tag["Key"]: tag["Value"] for tag in tags} if isinstance(tags, list) else dict(tags or {})
        if any(found.get(key) != value for key, value in TAGS.items()):
            untagged.append(f"{resource['Type']} {name}")
    assert untagged == []


def test_the_outputs_are_the_ones_the_cli_reads(synthesized):
    outputs = synthesized.template["Outputs"]
    assert set(OUTPUT_SETTINGS) <= set(outputs)
    assert outputs["Prefix"]["Value"] == "tweetops"
    assert outputs["TrainingPipelineName"]["Value"] == PipelineSettings().pipeline_name
