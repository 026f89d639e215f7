"""The deployed infra/ stack as a source of settings: its CloudFormation outputs fill every setting the user did not
give, so that `tweetops pipeline upsert` needs no flags after a deploy (docs/pipeline.md, docs/infrastructure.md).

OUTPUT_SETTINGS is the one list of the stack's outputs: infra/ names its CfnOutputs from it.
"""
from __future__ import annotations

import dataclasses
from typing import Collection

from botocore.exceptions import ClientError

from pipelines.settings import PipelineSettings, SettingsError

# CfnOutput key -> the PipelineSettings field it fills.
OUTPUT_SETTINGS = {
    "ExecutionRoleArn": "role_arn",
    "DataBucketName": "bucket",
    "Prefix": "prefix",
    "KmsKeyArn": "kms_key_id",
    "ImageRepositoryUri": "image_uri",
    "ReviewQueueUrl": "review_queue_url",
    "ModelPackageGroupName": "model_package_group",
    "TrainingPipelineName": "pipeline_name",
    "InferencePipelineName": "inference_pipeline_name",
    "EvolutionPipelineName": "evolution_pipeline_name",
    "AlarmTopicArn": "alarm_topic_arn",
}


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str] | None:
    """{output key: value} of the stack, or None when no stack has that name (other AWS errors propagate)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        # CloudFormation answers a missing stack with ValidationError "Stack with id <name> does not exist".
        if error.response["Error"].get("Code") == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    if not stacks:
        return None
    return {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs") or []}


def settings_from_outputs(outputs: dict[str, str], version: str) -> dict[str, str]:
    """The settings the outputs give, by field name; the image is the repository at this tweetops version's tag."""
    values = {OUTPUT_SETTINGS[key]: value for key, value in outputs.items() if key in OUTPUT_SETTINGS and value}
    if "image_uri" in values:
        values["image_uri"] = f"{values['image_uri']}:{version}"
    return values


def with_stack_outputs(settings: PipelineSettings, explicit: Collection[str], boto_session) -> PipelineSettings:
    """`settings` with every field not in `explicit` (given in the config file, environment or as a flag) taken from
    the outputs of the stack `settings.stack_name`; unchanged when stack_name is empty or the stack does not exist."""
    from pipelines.operations import package_version

    if not settings.stack_name:
        return settings
    try:
        outputs = stack_outputs(boto_session.client("cloudformation", region_name=settings.region),
                                settings.stack_name)
    except ClientError as error:  # e.g. a role without cloudformation:DescribeStacks: say how to do without
        raise SettingsError(f"stack {settings.stack_name}: cannot read its outputs (AWS: {error}); give the settings "
                            "another way and pass --stack '' (or set stack_name to '') to read no stack") from None
    if outputs is None:
        return settings
    filled = {name: value for name, value in settings_from_outputs(outputs, package_version()).items()
              if name not in explicit}
    try:
        return dataclasses.replace(settings, **filled)
    except SettingsError as error:
        raise SettingsError(f"stack {settings.stack_name} outputs: {error}") from None


def require_role(settings: PipelineSettings) -> str:
    """The execution role of settings that went through with_stack_outputs, or an error naming every way to give
    one (the deployed stack included)."""
    if settings.role_arn:
        return settings.role_arn
    stack = (f" (stack {settings.stack_name} not found in {settings.region})" if settings.stack_name
             else " and name its stack with --stack")
    raise SettingsError("no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN, put role_arn in the config file, "
                        f"or deploy infra/{stack}")
