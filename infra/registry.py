"""Where models and code live: the model package group (with a resource policy on approvals) and the image
repository (scan on push, immutable tags, the key)."""
from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import EstateConfig


class Registry(Construct):
    """`repository` (the job and Lambda images) and `group` (the model package group)."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self, "Images", repository_name=f"tweetops-{config.environment}", image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE, encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key, removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[ecr.LifecycleRule(description="untagged layers of failed pushes",
                                               tag_status=ecr.TagStatus.UNTAGGED, max_image_count=10)])
        self.group = sagemaker.CfnModelPackageGroup(
            self, "ModelPackageGroup", model_package_group_name=config.model_package_group,
            model_package_group_description=f"tweetops message classifiers ({config.environment})")

    def package_arn(self, name: str = "*") -> str:
        """ARN pattern of the group's model packages."""
        stack = Stack.of(self)
        return stack.format_arn(service="sagemaker", resource="model-package",
                                resource_name=f"{self.group.model_package_group_name}/{name}")

    @property
    def group_arn(self) -> str:
        """ARN of the model package group."""
        return self.group.attr_model_package_group_arn

    def restrict_approvals(self, approvers: list[str]) -> None:
        """The group's resource policy: only `approvers` (role ARNs) may change a package's approval status, whatever
        their identity policies say (an account administrator's sagemaker:* included)."""
        stack = Stack.of(self)
        self.group.model_package_group_policy = {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "OnlyApproversChangeApprovals", "Effect": "Deny", "Principal": "*",
                "Action": ["sagemaker:UpdateModelPackage"],
                "Resource": stack.format_arn(service="sagemaker", resource="model-package",
                                             resource_name=f"{self.group.model_package_group_name}/*"),
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": approvers}},
            }],
        }
