"""Specification of the event wiring: approving a model package of our group, and nothing else, starts the
batch-inference pipeline with that package; the requests are valid EventBridge requests, and the committed
infrastructure file is exactly what the code renders."""
from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws

from pipelines.events import approval_rule, main, model_approved_pattern, render

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
GROUP = "tweetops-message-classifier"
PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/tweetops-batch-inference"
ROLE_ARN = "arn:aws:iam::123456789012:role/tweetops-eventbridge"


def sample(name: str) -> dict:
    """A SageMaker model package state change event, after the example in the SageMaker Developer Guide."""
    return json.loads((DATA / f"model_package_state_change_{name}.json").read_text(encoding="utf-8"))


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge's matching for the pattern shape used here: nested objects whose leaves are lists of
    exact values; a leaf matches when the event's value is one of them (any of them, for an array value).

    moto 5.2 answers TestEventPattern with an empty response, and its own matcher runs only when PutEvents
    delivers to a target, which needs jsonpath-ng (not installed with moto[s3,sagemaker]). Content filters
    (prefix, anything-but, numeric, ...) are outside this shape and refused, so the helper cannot
    silently misjudge a richer pattern.
    """
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            if not isinstance(event.get(key), dict) or not matches(expected, event[key]):
                return False
            continue
        assert isinstance(expected, list) and all(isinstance(v, (str, int, float, bool)) for v in expected), \
            f"{key}: only exact-value lists are supported by this helper"
        if key not in event:
            return False
        values = event[key] if isinstance(event[key], list) else [event[key]]
        if not any(value in expected for value in values):
            return False
    return True


def json_path(event: dict, path: str):
    """The value at a dot-notation JSON path ($.a.b), as EventBridge resolves a dynamic path parameter."""
    value = event
    for key in path.removeprefix("$.").split("."):
        value = value[key]
    return value


def test_an_approval_in_our_group_matches():
    assert matches(model_approved_pattern(GROUP), sample("approved"))


@pytest.mark.parametrize("name", ["pending_manual_approval", "rejected", "other_group"])
def test_other_states_and_other_groups_do_not_match(name):
    assert not matches(model_approved_pattern(GROUP), sample(name))


@pytest.mark.parametrize("field, value", [
    ("detail-type", "SageMaker Model Building Pipeline Execution Status Change"),
    ("source", "tweetops.registry"),  # a custom event dressed as SageMaker's is not SageMaker's
])
def test_the_same_body_from_another_detail_type_or_source_does_not_match(field, value):
    assert not matches(model_approved_pattern(GROUP), {**sample("approved"), field: value})


def test_the_target_starts_the_pipeline_with_the_approved_package():
    target = approval_rule(GROUP, PIPELINE_ARN, ROLE_ARN)["Targets"]["Targets"][0]
    assert target["Arn"] == PIPELINE_ARN and target["RoleArn"] == ROLE_ARN
    [parameter] = target["SageMakerPipelineParameters"]["PipelineParameterList"]
    assert parameter["Name"] == "ModelPackageArn"
    event = sample("approved")
    assert json_path(event, parameter["Value"]) == event["resources"][0] == \
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/tweetops-message-classifier/3"


def constraint_violations(shape, value, path: str = "") -> list[str]:
    """What botocore's client-side validation skips: the service model's max lengths, patterns and enums."""
    if shape.type_name == "structure":
        return [problem for name, member in shape.members.items() if name in value
                for problem in constraint_violations(member, value[name], f"{path}.{name}")]
    if shape.type_name == "list":
        problems = [f"{path}: more than {shape.metadata['max']} items"] \
            if len(value) > shape.metadata.get("max", len(value)) else []
        return problems + [problem for i, item in enumerate(value)
                           for problem in constraint_violations(shape.member, item, f"{path}[{i}]")]
    if shape.type_name == "string":
        problems = []
        if len(value) > shape.metadata.get("max", len(value)):
            problems.append(f"{path}: longer than {shape.metadata['max']}")
        if "pattern" in shape.metadata and not re.fullmatch(shape.metadata["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {shape.metadata['pattern']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        return problems
    return []


@pytest.mark.parametrize("operation, part", [("PutRule", "Rule"), ("PutTargets", "Targets")])
def test_each_request_is_valid_against_the_events_service_model(operation, part):
    request = approval_rule(GROUP, PIPELINE_ARN, ROLE_ARN)[part]
    shape = boto3.Session(region_name="us-east-1").client("events").meta.service_model \
        .operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert constraint_violations(shape, request) == []


def test_eventbridge_stores_the_rule_and_its_target_as_sent(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    rule = approval_rule(GROUP, PIPELINE_ARN, ROLE_ARN)
    with mock_aws():
        events = boto3.client("events")
        assert events.put_rule(**rule["Rule"])["RuleArn"].endswith(":rule/tweetops-model-approved")
        assert events.put_targets(**rule["Targets"])["FailedEntryCount"] == 0

        stored = events.describe_rule(Name="tweetops-model-approved")
        assert json.loads(stored["EventPattern"]) == model_approved_pattern(GROUP)
        assert stored["State"] == "ENABLED" and stored["EventBusName"] == "default"
        assert events.list_targets_by_rule(Rule="tweetops-model-approved")["Targets"] == rule["Targets"]["Targets"]


def test_the_committed_infrastructure_file_is_what_the_code_renders():
    committed = (REPO / "infra" / "eventbridge" / "model-approved-rule.json").read_text(encoding="utf-8")
    assert committed == render(approval_rule(GROUP, PIPELINE_ARN, ROLE_ARN))


@pytest.mark.parametrize("arguments, message", [
    ((GROUP + " ", PIPELINE_ARN, ROLE_ARN), "model package group 'tweetops-message-classifier ' is not valid"),
    ((GROUP, "tweetops-batch-inference", ROLE_ARN), "pipeline ARN 'tweetops-batch-inference' is not valid"),
    ((GROUP, PIPELINE_ARN.replace(":pipeline/", ":training-job/"), ROLE_ARN), "pipeline ARN .* is not valid"),
    ((GROUP, PIPELINE_ARN, "tweetops-eventbridge"), "role ARN 'tweetops-eventbridge' is not valid"),
    ((GROUP, PIPELINE_ARN, ROLE_ARN, "x" * 65), "rule name 'x+' is not valid"),
])
def test_malformed_names_and_arns_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        approval_rule(*arguments)


CLI_ARGS = ["--group", GROUP, "--pipeline-arn", PIPELINE_ARN, "--role-arn", ROLE_ARN]


def test_the_command_prints_the_requests(capsys):
    assert main(CLI_ARGS) == 0
    assert capsys.readouterr().out == render(approval_rule(GROUP, PIPELINE_ARN, ROLE_ARN))


def test_the_command_writes_the_requests_to_a_file(tmp_path, capsys):
    out = tmp_path / "infra" / "rule.json"
    assert main([*CLI_ARGS, "--rule-name", "staging-approved", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["Targets"]["Rule"] == "staging-approved"
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_the_command_refuses_bad_input_in_one_line(capsys):
    assert main(["--group", GROUP, "--pipeline-arn", PIPELINE_ARN, "--role-arn", "admin"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("Error: role ARN 'admin' is not valid: expected "
                            "arn:aws:iam::<12-digit account>:role/<name>\n")
