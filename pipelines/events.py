"""EventBridge wiring as data: a model package approved in our group starts the batch-inference pipeline.

`approval_rule()` gives the PutRule and PutTargets requests the infrastructure applies (CloudFormation,
Terraform, or the AWS CLI: `aws events put-rule --cli-input-json "$(jq .Rule FILE)"`, then put-targets
with `.Targets`). `python -m pipelines.events --group G --pipeline-arn A --role-arn R [--out FILE]` renders
them; infra/eventbridge/model-approved-rule.json is its output for the project's defaults.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pipelines.settings import ROLE_ARN
from processing.storage import write_text_atomic

DEFAULT_RULE_NAME = "tweetops-model-approved"
TARGET_ID = "tweetops-batch-inference"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
# The batch-inference pipeline's String parameter naming the package to score with.
MODEL_PACKAGE_ARN_PARAMETER = "ModelPackageArn"
# EventBridge replaces a target parameter value that is wholly a JSON path with that field of the matched
# event ("dynamic path parameters"; the EventBridge User Guide, "Event bus targets", lists
# SageMakerPipelineParameters among the target parameters that accept them). So each execution scores
# with exactly the package whose approval started it, not whichever is latest when the pipeline runs.
MODEL_PACKAGE_ARN_FROM_EVENT = "$.detail.ModelPackageArn"

# Formats from botocore's service models (sagemaker EntityName and PipelineArn, events RuleName).
_GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_PIPELINE_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline/.+")
_RULE_NAME = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")


def model_approved_pattern(model_package_group: str) -> dict:
    """The event pattern: a package of `model_package_group` whose approval status is now Approved."""
    _check(model_package_group, _GROUP_NAME, "model package group", "1-63 letters, digits and inner hyphens")
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [model_package_group], "ModelApprovalStatus": ["Approved"]},
    }


def approval_rule(model_package_group: str, pipeline_arn: str, role_arn: str,
                  rule_name: str = DEFAULT_RULE_NAME) -> dict:
    """{"Rule": PutRule request, "Targets": PutTargets request} starting the pipeline on each approval."""
    pattern = model_approved_pattern(model_package_group)
    _check(pipeline_arn, _PIPELINE_ARN, "pipeline ARN", "arn:aws:sagemaker:<region>:<account>:pipeline/<name>")
    _check(role_arn, ROLE_ARN, "role ARN", "arn:aws:iam::<12-digit account>:role/<name>")
    _check(rule_name, _RULE_NAME, "rule name", "1-64 letters, digits, '.', '-' or '_'")
    return {
        "Rule": {
            "Name": rule_name,
            "EventPattern": json.dumps(pattern, sort_keys=True),
            "State": "ENABLED",
            "Description": f"Start batch inference when a model package in {model_package_group} is approved",
        },
        "Targets": {
            "Rule": rule_name,
            "Targets": [{
                "Id": TARGET_ID,
                "Arn": pipeline_arn,
                "RoleArn": role_arn,  # EventBridge assumes it to call sagemaker:StartPipelineExecution
                "SageMakerPipelineParameters": {"PipelineParameterList": [
                    {"Name": MODEL_PACKAGE_ARN_PARAMETER, "Value": MODEL_PACKAGE_ARN_FROM_EVENT},
                ]},
            }],
        },
    }


def render(rule: dict) -> str:
    """The requests as the JSON text written to files: indented, keys sorted, trailing newline."""
    return json.dumps(rule, indent=2, sort_keys=True) + "\n"


def _check(value: str, pattern: re.Pattern, what: str, expected: str) -> None:
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not valid: expected {expected}")


def main(argv: list[str] | None = None) -> int:
    """Print (or write with --out) the PutRule and PutTargets requests; exit 1 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.events", description=__doc__.splitlines()[0])
    parser.add_argument("--group", required=True, help="model package group whose approvals start inference")
    parser.add_argument("--pipeline-arn", required=True, help="ARN of the batch-inference pipeline")
    parser.add_argument("--role-arn", required=True, help="role EventBridge assumes to start the pipeline")
    parser.add_argument("--rule-name", default=DEFAULT_RULE_NAME)
    parser.add_argument("--out", type=Path, help="write the JSON to this file instead of printing it")
    args = parser.parse_args(argv)
    try:
        text = render(approval_rule(args.group, args.pipeline_arn, args.role_arn, args.rule_name))
        if args.out:
            write_text_atomic(args.out, text)
            print(f"wrote {args.out}")
        else:
            sys.stdout.write(text)
        return 0
    except (ValueError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
