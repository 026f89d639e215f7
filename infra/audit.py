"""Who did what: a CloudTrail trail (every region, log file validation, encrypted with the key, also in CloudWatch
Logs) with the data events of the project's bucket, so every read and write of a message file is on record beside
every approval (UpdateModelPackage is a management event); GuardDuty as an option."""
from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import EstateConfig
from infra.observability import log_retention
from infra.storage import Storage


class Audit(Construct):
    """`trail` (and `detector` when config.guardduty)."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "TrailLogs", encryption_key=storage.key, removal_policy=RemovalPolicy.RETAIN,
                                  retention=log_retention(config.retention_days))
        self.trail = cloudtrail.Trail(
            self, "Trail", bucket=storage.log_bucket, s3_key_prefix="cloudtrail", encryption_key=storage.key,
            is_multi_region_trail=True, include_global_service_events=True, enable_file_validation=True,
            send_to_cloud_watch_logs=True, cloud_watch_log_group=log_group, management_events=cloudtrail.ReadWriteType.ALL)
        self.trail.add_s3_event_selector([cloudtrail.S3EventSelector(bucket=storage.data_bucket)],
                                         read_write_type=cloudtrail.ReadWriteType.ALL, include_management_events=True)
        self.detector = guardduty.CfnDetector(self, "GuardDuty", enable=True) if config.guardduty else None
