"""The key and the storage: one customer-managed KMS key for everything, the data bucket whose prefixes are the
zones, and the bucket the access logs and the audit trail go to.

Why one data bucket with a prefix per zone, not a bucket per zone: every job, the local executor and the CLI
address the zones as <bucket>/<prefix>/<zone> (executions keep their zones together under executions/<id>/, so a
run can be traced and deleted as one), IAM scopes each persona to zones by key pattern as precisely as by bucket,
lifecycle rules and EventBridge filters select by prefix, and one bucket policy holds the TLS and encryption rules
once. The logs go to a separate bucket because S3 access logs cannot be delivered to the bucket they describe, and
because their readers (auditors) are not the data's readers.
"""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import EstateConfig
from infra.nag import acknowledge
from pipelines.steps import QUARANTINE_ZONE

# Zones (DESIGN.md "Storage zones"): top-level prefixes under <prefix>/, and the zones of one execution
# (<prefix>/executions/<id>/<zone>/).
ZONES = ("raw", "incoming", QUARANTINE_ZONE, "new-data", "novelty-queue", "evolution", "category-maps", "empty",
         "embedding-cache", "quality-reports", "monitoring-metrics", "category-map-versions", "athena-results",
         "data-capture", "executions")
EXECUTION_ZONES = ("ingested", "processed", "pseudo-labeled", "features", "clusters", "model",
                   "evaluation", "monitoring", "predictions", "reports", "batch")


class Storage(Construct):
    """`key` (rotation on), `data_bucket` (the zones), `log_bucket` (access logs and the trail)."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "Key", alias=f"alias/tweetops-{config.environment}", enable_key_rotation=True,
            description=f"tweetops {config.environment}: every bucket, topic, queue, log group, image and job",
            removal_policy=RemovalPolicy.RETAIN)
        # Services that encrypt with the key on the project's behalf (each limited to this account).
        same_account = {"StringEquals": {"aws:SourceAccount": stack.account}}
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):  # alarms and rules -> encrypted topic
            self.key.add_to_resource_policy(iam.PolicyStatement(
                sid=f"Allow{service.split('.')[0].title()}ToUseTheKey",
                principals=[iam.ServicePrincipal(service)], actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"], conditions=same_account))
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchLogsToUseTheKey", principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"], conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                                     f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"}}))

        self.log_bucket = s3.Bucket(
            self, "LogBucket", versioned=True, enforce_ssl=True, minimum_tls_version=1.2,
            # S3 server access logs can only be delivered to a bucket with SSE-S3 (not SSE-KMS); the trail's own
            # files in it are encrypted with the key by CloudTrail (audit.py).
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireLogs", expiration=Duration.days(max(config.retention_days, 90)),
                                              noncurrent_version_expiration=Duration.days(30))])
        acknowledge(self.log_bucket, "AwsSolutions-S1", "the access log bucket itself: logging it would need a third "
                    "bucket for every write of the second")
        acknowledge(self.log_bucket, "CKV_AWS_18", "the access log bucket itself (see AwsSolutions-S1)")

        self.data_bucket = s3.Bucket(
            self, "DataBucket", versioned=True, enforce_ssl=True, minimum_tls_version=1.2,
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket, server_access_logs_prefix="access-logs/data/",
            removal_policy=RemovalPolicy.RETAIN, lifecycle_rules=lifecycle_rules(config.prefix))
        # Every object ends encrypted with the key: default encryption covers writes that name none, and a write
        # that asks for another encryption (SSE-S3, another key) is refused.
        self.data_bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyWritesNotEncryptedWithTheProjectKey", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"], resources=[self.data_bucket.arn_for_objects("*")],
            conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}))
        self.data_bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyWritesWithAnotherKey", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"], resources=[self.data_bucket.arn_for_objects("*")],
            conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": self.key.key_arn}}))
        # Object events to EventBridge (the incoming-batch and decisions rules), set on the bucket itself: the
        # construct's own switch adds a custom-resource Lambda function for what CloudFormation does natively.
        self.data_bucket.node.default_child.notification_configuration = {
            "eventBridgeConfiguration": {"eventBridgeEnabled": True}}

    def zone_arn(self, prefix: str, zone: str, pattern: str = "*") -> str:
        """The ARN pattern of objects in one zone: a top-level zone or, for an execution zone, every execution's."""
        if zone in EXECUTION_ZONES:
            return self.data_bucket.arn_for_objects(f"{prefix}/executions/*/{zone}/{pattern}")
        return self.data_bucket.arn_for_objects(f"{prefix}/{zone}/{pattern}")


def lifecycle_rules(prefix: str) -> list[s3.LifecycleRule]:
    """Raw batches to colder storage as they age; rejected rows, scratch and captured data expire; old versions
    expire."""
    return [
        s3.LifecycleRule(id="RawToColderStorage", prefix=f"{prefix}/raw/", transitions=[
            s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(30)),
            s3.Transition(storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transition_after=Duration.days(90))]),
        s3.LifecycleRule(id="IncomingToColderStorage", prefix=f"{prefix}/incoming/", transitions=[
            s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(30))]),
        s3.LifecycleRule(id="ExpireQuarantine", prefix=f"{prefix}/{QUARANTINE_ZONE}/", expiration=Duration.days(90)),
        s3.LifecycleRule(id="ExpireQueryResults", prefix=f"{prefix}/athena-results/", expiration=Duration.days(30)),
        s3.LifecycleRule(id="ExpireEmbeddingCache", prefix=f"{prefix}/embedding-cache/", expiration=Duration.days(30)),
        s3.LifecycleRule(id="ExpireDataCapture", prefix=f"{prefix}/data-capture/", expiration=Duration.days(90)),
        s3.LifecycleRule(id="ExpireNoveltyQueue", prefix=f"{prefix}/novelty-queue/", expiration=Duration.days(180)),
        s3.LifecycleRule(id="ExpireOldVersions", noncurrent_version_expiration=Duration.days(30),
                         abort_incomplete_multipart_upload_after=Duration.days(7)),
    ]
