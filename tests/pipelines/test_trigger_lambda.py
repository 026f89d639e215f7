"""Specification of the trigger function (pipelines/trigger_lambda.py) under moto: an approval, a new batch under the
incoming prefix and a schedule each start one pipeline execution with the parameters the CLI would pass; retries of
an event carry the same idempotency token; with no approved package nothing starts and the log says why."""
from __future__ import annotations

import json

import pytest
from moto.sagemaker.models import sagemaker_backends

from pipelines import operations
from pipelines.events import model_approved_pattern, object_created_pattern, scheduled_input
from pipelines.settings import PipelineSettings
from pipelines.trigger_lambda import TriggerError, handler, plan
from processing.artifacts import MODEL_DIGEST_VARIABLE
from tests.pipelines.test_events import delivered, sample, with_changes
from tests.pipelines.test_monitoring_aws import ACCOUNT, REGION, ROLE, aws  # noqa: F401 (fixture: moto)

GROUP = "tweetops-message-classifier"
BUCKET = "tweetops-data"
INFERENCE, EVOLUTION = "tweetops-batch-inference", "tweetops-evolution"
SCHEDULE_ID, SCHEDULE_TIME = "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "2026-12-02T06:00:00Z"


@pytest.fixture
def estate(aws, monkeypatch):
    """The model package group, the two pipelines the function starts and its environment."""
    client = aws.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    for name in (INFERENCE, EVOLUTION):
        client.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=json.dumps(
            {"Version": "2020-12-01", "Parameters": [], "Steps": []}))
    monkeypatch.setenv("INFERENCE_PIPELINE", INFERENCE)
    monkeypatch.setenv("EVOLUTION_PIPELINE", EVOLUTION)
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    monkeypatch.setenv("INCOMING_PREFIX", f"s3://{BUCKET}/tweetops/incoming/")
    return aws


def register(session, version: int, status: str = "Approved") -> str:
    """A package as the training pipeline registers it: pinned model digest, baseline, featurizer digest, map."""
    root, maps = f"s3://{BUCKET}/tweetops/executions/run{version}", f"s3://{BUCKET}/tweetops/category-maps"
    return session.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{
            "Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops:0.1.0",
            "ModelDataUrl": f"{root}/model/model.tar.gz",
            "Environment": {MODEL_DIGEST_VARIABLE: f"{version}" * 64}}],
            "SupportedContentTypes": ["application/jsonlines"],
            "SupportedResponseMIMETypes": ["application/jsonlines"]},
        CustomerMetadataProperties={"monitoring_baseline_uri": f"{root}/monitoring/baseline/",
                                    "featurizer_sha256": f"{version}f" * 32,
                                    "category_map_uri": f"{maps}/v{version}/category_map.yaml"},
    )["ModelPackageArn"]


def executions(session, pipeline: str) -> list[dict]:
    """Each execution of the pipeline: its parameters and the request's ClientRequestToken."""
    client = session.client("sagemaker")
    found = []
    for summary in client.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]:
        arn = summary["PipelineExecutionArn"]
        parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
        # moto keeps the token but no API returns it: read it from moto's record of the request.
        token = sagemaker_backends[ACCOUNT][REGION].pipelines[pipeline].pipeline_executions[arn].client_request_token
        found.append({"arn": arn, "parameters": {p["Name"]: p["Value"] for p in parameters}, "token": token,
                      "description": summary["PipelineExecutionDescription"]})
    return found


def cli_parameters(session, package_arn: str, which: str) -> dict[str, str]:
    """What `tweetops pipeline start --pipeline-type <which> --param ModelPackageArn=<arn>` passes."""
    settings = PipelineSettings(region=REGION, role_arn=ROLE, bucket=BUCKET, model_package_group=GROUP)
    return {**operations.package_parameters(settings, package_arn, which, session), "ModelPackageArn": package_arn}


def approval(package_arn: str) -> dict:
    """SageMaker's state change event for the package's approval."""
    event = sample("model_package_state_change_approved")
    return with_changes(event, ModelPackageArn=package_arn, ModelPackageGroupName=GROUP)


def upload(key: str) -> dict:
    """S3's Object Created event (as EventBridge delivers it) for a key, URL-encoded as S3 sends it."""
    return with_changes(sample("s3_object_created"), bucket__name=BUCKET, object__key=key)


def test_an_approval_starts_inference_with_that_package_and_its_baseline(estate, capsys):
    first, second = register(estate, 1), register(estate, 2)
    result = handler(approval(first))  # an older package approved again: it is the one scored with
    (execution,) = executions(estate, INFERENCE)
    assert result["started"] == execution["arn"]
    assert execution["parameters"] == cli_parameters(estate, first, "inference") == {
        "ModelPackageArn": first, "BaselineUri": f"s3://{BUCKET}/tweetops/executions/run1/monitoring/baseline/",
        "FeaturizerSha256": "1f" * 32}
    assert first in execution["description"] and second not in json.dumps(execution)
    assert json.loads(capsys.readouterr().out)["started"] == execution["arn"]  # the function's log line


def test_an_approval_delivered_by_the_rule_starts_inference(estate):
    arn = register(estate, 1)
    (event,) = delivered(estate, model_approved_pattern(GROUP), [approval(arn)])  # as EventBridge hands it over
    handler(event)
    assert [e["parameters"]["ModelPackageArn"] for e in executions(estate, INFERENCE)] == [arn]


def test_a_new_batch_under_incoming_is_scored_with_the_latest_approved_package(estate):
    register(estate, 1), register(estate, 3, status="PendingManualApproval")
    latest = register(estate, 2)
    (event,) = delivered(estate, object_created_pattern(BUCKET, "tweetops/incoming/"),
                         [upload("tweetops/incoming/2026-12-02/support+chats+%28es%29.jsonl")])
    handler(event)
    (execution,) = executions(estate, INFERENCE)
    assert execution["parameters"] == {
        **cli_parameters(estate, latest, "inference"),
        "InputDataUri": f"s3://{BUCKET}/tweetops/incoming/2026-12-02/support chats (es).jsonl"}  # the key decoded


def test_a_schedule_starts_evolution_with_the_latest_approved_model_baseline_and_map(estate):
    register(estate, 1)
    latest = register(estate, 2)
    handler(scheduled_input("evolution", SCHEDULE_ID, SCHEDULE_TIME, {"WindowDays": "14"}))
    (execution,) = executions(estate, EVOLUTION)
    assert execution["parameters"] == {**cli_parameters(estate, latest, "evolution"), "WindowDays": "14"}
    assert execution["parameters"]["CategoryMapUri"] == f"s3://{BUCKET}/tweetops/category-maps/v2/category_map.yaml"
    assert executions(estate, INFERENCE) == []


def test_a_schedule_starts_inference_on_the_incoming_prefix_with_the_latest_approved_package(estate):
    latest = register(estate, 1)
    handler(scheduled_input("inference", SCHEDULE_ID, SCHEDULE_TIME))
    (execution,) = executions(estate, INFERENCE)
    assert execution["parameters"] == cli_parameters(estate, latest, "inference")  # InputDataUri: its default


def test_a_retried_event_carries_the_same_idempotency_token_and_another_event_another(estate):
    arn = register(estate, 1)
    handler(approval(arn))
    handler(approval(arn))  # EventBridge delivers at least once; Lambda retries failed invocations
    handler({**approval(arn), "id": "0b7c1d2e-another-event"})
    tokens = [execution["token"] for execution in executions(estate, INFERENCE)]
    assert len(tokens) == 3 and tokens[0] == tokens[1] != tokens[2]
    assert all(32 <= len(token) <= 128 for token in tokens)  # StartPipelineExecution's ClientRequestToken limits


@pytest.mark.parametrize("event", [upload("tweetops/incoming/batch.jsonl"),
                                   scheduled_input("inference", SCHEDULE_ID, SCHEDULE_TIME),
                                   scheduled_input("evolution", SCHEDULE_ID, SCHEDULE_TIME)],
                         ids=["upload", "scheduled-inference", "scheduled-evolution"])
def test_with_no_approved_package_nothing_starts_and_the_log_says_why(estate, capsys, event):
    register(estate, 1, status="PendingManualApproval")
    result = handler(event)
    assert set(result) == {"skipped"} and f"no approved model package in group '{GROUP}'" in result["skipped"]
    assert json.loads(capsys.readouterr().out) == result
    assert executions(estate, INFERENCE) == executions(estate, EVOLUTION) == []


def test_a_missing_model_package_group_is_a_skip_that_names_it(estate, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", "tweetops-other")
    result = handler(upload("tweetops/incoming/batch.jsonl"))
    assert "no model package group 'tweetops-other'" in result["skipped"]


@pytest.mark.parametrize("event, reason", [
    (upload("tweetops/incoming-old/batch.jsonl"), "is not under INCOMING_PREFIX"),
    (with_changes(upload("tweetops/incoming/batch.jsonl"), bucket__name="other-bucket"),
     "is not under INCOMING_PREFIX"),
    (upload("tweetops/incoming/2026-12-02/"), "is a folder marker"),
    (with_changes(sample("model_package_state_change_rejected"), ModelPackageGroupName=GROUP), "is Rejected"),
    (sample("model_package_state_change_other_group"), "not an approval in 'tweetops-message-classifier'"),
])
def test_events_that_call_for_no_run_start_nothing(estate, event, reason):
    register(estate, 1)
    result = handler(event)
    assert reason in result["skipped"]
    assert executions(estate, INFERENCE) == []


@pytest.mark.parametrize("event, message", [
    ({"source": "aws.events", "detail-type": "Scheduled Event", "id": "e1", "detail": {}},
     "not an event this function handles: source 'aws.events'"),
    ({"pipeline": "evolution", "time": SCHEDULE_TIME}, "the event has no id"),
    ({"pipeline": "training", "id": "e1"}, "the schedule asks for pipeline 'training'"),
    ({"pipeline": "inference", "id": "e1", "parameters": {"WindowDays": 14}}, "must map names to string values"),
    ({**sample("s3_object_created"), "detail": {"bucket": {}}}, "names no detail.bucket.name and detail.object.key"),
    (["not", "an", "event"], "expected an EventBridge event"),
])
def test_events_it_cannot_read_are_refused_in_one_line_before_any_aws_call(event, message):
    environ = {"INFERENCE_PIPELINE": INFERENCE, "EVOLUTION_PIPELINE": EVOLUTION, "MODEL_PACKAGE_GROUP": GROUP,
               "INCOMING_PREFIX": f"s3://{BUCKET}/tweetops/incoming/"}
    with pytest.raises(TriggerError, match=message) as error:
        plan(event, environ, registry=None)  # nothing to call: refused before the registry is asked
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("variable", ["INFERENCE_PIPELINE", "MODEL_PACKAGE_GROUP", "INCOMING_PREFIX"])
def test_a_missing_setting_is_named(estate, monkeypatch, variable):
    register(estate, 1)
    monkeypatch.delenv(variable)
    with pytest.raises(TriggerError, match=f"{variable} is not set"):
        handler(upload("tweetops/incoming/batch.jsonl"))
