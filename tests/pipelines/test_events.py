"""Specification of the event patterns the stack's rules use (pipelines/events.py): each matches the events it is
for and nothing else, checked by EventBridge itself (moto's: a rule with the pattern delivers to an SQS queue what
matches; moto has no TestEventPattern), and each is a valid PutRule request."""
from __future__ import annotations

import copy
import json
import re
from itertools import count
from pathlib import Path

import boto3
import pytest
from botocore.validate import ParamValidator

from pipelines.events import (decisions_uploaded_pattern, model_approved_pattern, object_created_pattern,
                              pipeline_failed_pattern, scheduled_input)
from tests.pipelines.test_monitoring_aws import aws  # noqa: F401 (fixture: moto)

DATA = Path(__file__).parent / "data"
GROUP = "tweetops-message-classifier"
BUCKET = "tweetops-data"
PIPELINES = ["tweetops-training", "tweetops-batch-inference", "tweetops-evolution"]
_rules = count()


def sample(name: str) -> dict:
    """An event as AWS sends it, after the examples in the SageMaker Developer Guide and the S3 User Guide."""
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def with_changes(event: dict, **detail) -> dict:
    """The event with some detail fields replaced (dotted paths as a__b for detail["a"]["b"])."""
    changed = copy.deepcopy(event)
    for path, value in detail.items():
        *parents, leaf = path.split("__")
        node = changed["detail"]
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return changed


def delivered(session, pattern: dict, events: list[dict], input_transformer: dict | None = None) -> list[dict]:
    """What a rule with `pattern` delivers of `events` put on the default bus: its target is a fresh SQS queue."""
    number = next(_rules)
    sqs, bus = session.client("sqs"), session.client("events")
    queue = sqs.create_queue(QueueName=f"target-{number}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus.put_rule(Name=f"rule-{number}", EventPattern=json.dumps(pattern))
    target = {"Id": "queue", "Arn": queue_arn, **({"InputTransformer": input_transformer} if input_transformer else {})}
    assert bus.put_targets(Rule=f"rule-{number}", Targets=[target])["FailedEntryCount"] == 0
    for event in events:
        response = bus.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                            "Detail": json.dumps(event["detail"]),
                                            "Resources": event.get("resources", [])}])
        assert response["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def matches(session, pattern: dict, event: dict) -> bool:
    return len(delivered(session, pattern, [event])) == 1


# The model package approved rule (starts batch inference with that package)

def test_an_approval_in_our_group_matches(aws):
    assert matches(aws, model_approved_pattern(GROUP), sample("model_package_state_change_approved"))


@pytest.mark.parametrize("name", ["pending_manual_approval", "rejected", "other_group"])
def test_other_states_and_other_groups_do_not_match(aws, name):
    assert not matches(aws, model_approved_pattern(GROUP), sample(f"model_package_state_change_{name}"))


@pytest.mark.parametrize("field, value", [
    ("detail-type", "SageMaker Model Building Pipeline Execution Status Change"),
    ("source", "tweetops.registry"),  # a custom event dressed as SageMaker's is not SageMaker's
])
def test_the_same_body_from_another_detail_type_or_source_does_not_match(aws, field, value):
    assert not matches(aws, model_approved_pattern(GROUP), {**sample("model_package_state_change_approved"),
                                                           field: value})


# The incoming rule (starts batch inference on each new batch)

def test_a_batch_put_under_the_incoming_prefix_matches(aws):
    assert matches(aws, object_created_pattern(BUCKET, "tweetops/incoming/"), sample("s3_object_created"))


@pytest.mark.parametrize("changes", [
    {"object__key": "tweetops/incoming-old/batch.jsonl"},  # the prefix ends with its slash
    {"object__key": "tweetops/executions/abc/predictions/batch.jsonl.out"},  # the pipeline's own outputs
    {"object__key": "other/tweetops/incoming/batch.jsonl"},
    {"bucket__name": "someone-elses-bucket"},
])
def test_objects_elsewhere_do_not_match(aws, changes):
    assert not matches(aws, object_created_pattern(BUCKET, "tweetops/incoming/"),
                       with_changes(sample("s3_object_created"), **changes))


def test_a_deleted_object_does_not_match(aws):
    deleted = {**sample("s3_object_created"), "detail-type": "Object Deleted"}
    assert not matches(aws, object_created_pattern(BUCKET, "tweetops/incoming/"), deleted)


# The decisions rule (the review function applies an analyst's decisions)

@pytest.mark.parametrize("key", ["tweetops/evolution/exec-0001/decisions.yaml",
                                 "tweetops/evolution/exec-0001/decisions.yml",
                                 "tweetops/evolution/a1b2c3/decisions.json"])
def test_a_decisions_file_in_a_proposal_folder_matches(aws, key):
    assert matches(aws, decisions_uploaded_pattern(BUCKET, "tweetops"),
                   with_changes(sample("s3_object_created"), object__key=key))


@pytest.mark.parametrize("key", [
    "tweetops/evolution/exec-0001/proposal.json",      # the pipeline's own outputs beside it
    "tweetops/evolution/exec-0001/decisions.txt",
    "tweetops/evolution/exec-0001/decisions.yaml.bak",
    "tweetops/evolution/decisions.yaml",               # not in a proposal folder
    "tweetops/incoming/exec-0001/decisions.yaml",
    "staging/evolution/exec-0001/decisions.yaml",      # another deployment's prefix
])
def test_other_files_do_not_match_the_decisions_rule(aws, key):
    assert not matches(aws, decisions_uploaded_pattern(BUCKET, "tweetops"),
                       with_changes(sample("s3_object_created"), object__key=key))


def test_with_no_prefix_the_decisions_rule_watches_the_evolution_folder_at_the_root(aws):
    pattern = decisions_uploaded_pattern(BUCKET, "")
    assert matches(aws, pattern, with_changes(sample("s3_object_created"), object__key="evolution/e1/decisions.yaml"))
    assert not matches(aws, pattern, with_changes(sample("s3_object_created"),
                                                  object__key="tweetops/evolution/e1/decisions.yaml"))


# The failures rule (pipeline execution failures to the alarm topic)

def test_a_failed_execution_of_one_of_our_pipelines_matches(aws):
    assert matches(aws, pipeline_failed_pattern(PIPELINES), sample("pipeline_execution_failed"))


def test_sagemakers_lower_case_pipeline_arns_match_a_mixed_case_name(aws):
    assert matches(aws, pipeline_failed_pattern(["TweetOps-Training"]), sample("pipeline_execution_failed"))


@pytest.mark.parametrize("changes", [
    {"currentPipelineExecutionStatus": "Succeeded"},
    {"currentPipelineExecutionStatus": "Stopped"},
    {"pipelineArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/tweetops-training-old"},
    {"pipelineArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/my-tweetops-training"},
])
def test_other_outcomes_and_other_pipelines_do_not_match(aws, changes):
    assert not matches(aws, pipeline_failed_pattern(PIPELINES),
                       with_changes(sample("pipeline_execution_failed"), **changes))


# The schedules' input

def test_a_schedules_input_names_the_pipeline_and_carries_the_scheduled_events_id_and_time():
    # The CDK app passes EventField.event_id and EventField.time; EventBridge's input transformer puts the
    # scheduled event's values there. (moto's transformer does not quote string values as EventBridge does, so it
    # cannot stand in for that step here.)
    assert scheduled_input("evolution", "9c3acf27-a229", "2026-12-02T06:00:00Z") == {
        "pipeline": "evolution", "id": "9c3acf27-a229", "time": "2026-12-02T06:00:00Z"}


def test_a_schedule_with_parameters_passes_them_and_only_scheduled_pipelines_are_accepted():
    assert scheduled_input("inference", "e1", "t", {"WindowDays": "7"})["parameters"] == {"WindowDays": "7"}
    with pytest.raises(ValueError, match="a schedule starts one of inference, evolution, not 'training'"):
        scheduled_input("training", "e1", "t")


# Every pattern is a valid rule

def constraint_violations(shape, value, path: str = "") -> list[str]:
    """What botocore's client-side validation skips: the service model's max lengths, patterns and enums."""
    if shape.type_name == "structure":
        return [problem for name, member in shape.members.items() if name in value
                for problem in constraint_violations(member, value[name], f"{path}.{name}")]
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


@pytest.mark.parametrize("pattern", [
    model_approved_pattern(GROUP), object_created_pattern(BUCKET, "tweetops/incoming/"),
    decisions_uploaded_pattern(BUCKET, "tweetops"), pipeline_failed_pattern(PIPELINES),
], ids=["approved", "incoming", "decisions", "failed"])
def test_each_pattern_is_a_valid_put_rule_request(pattern):
    request = {"Name": "tweetops-rule", "EventPattern": json.dumps(pattern), "State": "ENABLED"}
    shape = boto3.Session(region_name="eu-west-1").client("events").meta.service_model \
        .operation_model("PutRule").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert constraint_violations(shape, request) == []


@pytest.mark.parametrize("call, message", [
    (lambda: model_approved_pattern(GROUP + " "), "model package group 'tweetops-message-classifier ' is not valid"),
    (lambda: object_created_pattern("Tweetops_Data", "tweetops/incoming/"), "bucket name 'Tweetops_Data' is not valid"),
    (lambda: object_created_pattern(BUCKET, ""), "key prefix '' is not valid"),
    (lambda: object_created_pattern(BUCKET, "tweetops/*/"), r"key prefix 'tweetops/\*/' is not valid"),
    (lambda: decisions_uploaded_pattern(BUCKET, "my prefix"), "prefix 'my prefix' is not valid"),
    (lambda: pipeline_failed_pattern([]), "name at least one pipeline"),
    (lambda: pipeline_failed_pattern(["tweetops_training"]), "pipeline name 'tweetops_training' is not valid"),
])
def test_malformed_names_are_refused_in_one_line(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_unresolved_cdk_tokens_pass_for_cloudformation_to_resolve():
    bucket = "${Token[TOKEN.21]}"  # a generated bucket name, as aws-cdk-lib writes it before synthesis
    pattern = object_created_pattern(bucket, "tweetops/incoming/")
    assert pattern["detail"]["bucket"]["name"] == [bucket]
    assert decisions_uploaded_pattern(bucket, "tweetops")["detail"]["bucket"]["name"] == [bucket]
