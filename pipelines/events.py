"""The EventBridge event patterns of the tweetops estate: pure functions returning the pattern dicts the CDK app
(infra/) gives its rules, so the rules and the handlers they start (pipelines/trigger_lambda.py,
pipelines/review_lambda.py) agree on one definition. docs/pipeline.md ("On AWS: triggers").

Arguments may be unresolved CDK tokens (a bucket's generated name is "${Token[TOKEN.21]}" until synthesis): those
pass unchecked, CloudFormation resolves them. S3 keys in events are URL-encoded, so key prefixes are limited to
characters that encoding leaves alone.
"""
from __future__ import annotations

import re

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
PIPELINE_EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
OBJECT_CREATED = "Object Created"
DECISION_FILES = ("decisions.yaml", "decisions.yml", "decisions.json")
SCHEDULED_PIPELINES = ("inference", "evolution")

# Formats from botocore's service models (sagemaker EntityName and PipelineName) and the S3 bucket naming rules.
_GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_PIPELINE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Characters URL encoding keeps as they are (and no '*', which EventBridge wildcards would read as "anything").
_KEY_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?")
_CDK_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


def model_approved_pattern(model_package_group: str) -> dict:
    """A package of `model_package_group` whose approval status is now Approved."""
    _check(model_package_group, _GROUP_NAME, "model package group", "1-63 letters, digits and inner hyphens")
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [model_package_group], "ModelApprovalStatus": ["Approved"]},
    }


def object_created_pattern(bucket: str, key_prefix: str) -> dict:
    """An object created in `bucket` under `key_prefix` (S3 events sent to EventBridge, not bucket notifications)."""
    _check(bucket, _BUCKET_NAME, "bucket name", "3-63 lowercase letters, digits, '.' and '-'")
    # Empty would match every object, the pipelines' own outputs included: each run would start the next.
    _check(key_prefix, _KEY_PREFIX, "key prefix", "letters, digits, '.', '_', '-' in '/'-separated parts")
    return _object_created(bucket, [{"prefix": key_prefix}])


def decisions_uploaded_pattern(bucket: str, prefix: str) -> dict:
    """An analyst's decisions file, `<prefix>/evolution/<execution id>/decisions.{yaml,yml,json}`, put in `bucket`."""
    _check(bucket, _BUCKET_NAME, "bucket name", "3-63 lowercase letters, digits, '.' and '-'")
    if prefix:  # empty: the zones are at the bucket's root
        _check(prefix, _KEY_PREFIX, "prefix", "letters, digits, '.', '_', '-' in '/'-separated parts")
    folder = f"{prefix.rstrip('/')}/evolution" if prefix else "evolution"
    return _object_created(bucket, [{"wildcard": f"{folder}/*/{name}"} for name in DECISION_FILES])


def pipeline_failed_pattern(pipeline_names: list[str] | tuple[str, ...]) -> dict:
    """An execution of one of the named pipelines ended Failed.

    The pipeline's ARN ends with ":pipeline/<name>", and SageMaker writes names into ARNs in lower case, so the
    suffix is matched ignoring case: the pattern holds for the account and region the rule lives in."""
    names = list(pipeline_names)
    if not names:
        raise ValueError("name at least one pipeline whose failures the rule reports")
    for name in names:
        _check(name, _PIPELINE_NAME, "pipeline name", "1-256 letters, digits and inner hyphens")
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [PIPELINE_EXECUTION_STATUS_CHANGE],
        "detail": {"currentPipelineExecutionStatus": ["Failed"],
                   "pipelineArn": [{"suffix": {"equals-ignore-case": f":pipeline/{name}"}} for name in names]},
    }


def scheduled_input(pipeline: str, event_id: str, time: str, parameters: dict[str, str] | None = None) -> dict:
    """What a schedule passes the trigger function: the pipeline to start, the scheduled event's id (the
    execution's idempotency token) and time, and optional pipeline parameters. The CDK app gives
    `RuleTargetInput.from_object(scheduled_input("inference", EventField.event_id, EventField.time))`."""
    if pipeline not in SCHEDULED_PIPELINES:
        raise ValueError(f"a schedule starts one of {', '.join(SCHEDULED_PIPELINES)}, not {pipeline!r}")
    document = {"pipeline": pipeline, "id": event_id, "time": time}
    if parameters:
        document["parameters"] = dict(parameters)
    return document


def _object_created(bucket: str, key_filters: list[dict]) -> dict:
    return {
        "source": ["aws.s3"],
        "detail-type": [OBJECT_CREATED],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": key_filters}},
    }


def _check(value: str, pattern: re.Pattern, what: str, expected: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not valid: expected {expected}")
    if _CDK_TOKEN.search(value):
        return  # resolved by CloudFormation at deploy time
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not valid: expected {expected}")
