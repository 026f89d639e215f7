"""Specification of the review's AWS edge (pipelines/review_lambda.py) under moto: the CallbackStep's SQS message is
kept beside the proposal; an uploaded decisions file becomes category map N+1 in S3, starts the training pipeline
with it and answers the waiting step; a refused decision answers with the reason and writes no map."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
import yaml
from botocore.exceptions import ParamValidationError

from pipelines.events import decisions_uploaded_pattern
from pipelines.review_lambda import handler
from processing import catalog
from processing.category_map import parse_category_map, save_category_map
from tests.pipelines.test_events import delivered, sample, with_changes
from tests.pipelines.test_monitoring_aws import ACCOUNT, REGION, ROLE, aws  # noqa: F401 (fixture: moto)
from tests.processing.evolution.review_fixtures import ACCEPT_ALL, PROPOSAL_ID, base_map, decisions, proposal
from tests.conftest import stub_every_sagemaker_client, validated_call

BUCKET = "tweetops-data"
FOLDER = "tweetops/evolution/exec-0001"
TOKEN = "AbCdE12345"
CURRENT_MAP_KEY = "tweetops/category-maps/v3/category_map.yaml"
TRAINING = "tweetops-training"
EVOLUTION_EXECUTION = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/tweetops-evolution/execution/abc123"


class CallbackStub:
    """SendPipelineExecutionStepSuccess and ...Failure in place of moto's, which has neither (moto 5.2). Each request
    is validated against botocore's service model first, as SageMaker's API checks it, then recorded."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def install(self, client) -> None:
        def answer(**params):
            return {"PipelineExecutionArn": EVOLUTION_EXECUTION}
        client.send_pipeline_execution_step_success = validated_call(
            client, "SendPipelineExecutionStepSuccess", answer, self.calls)
        client.send_pipeline_execution_step_failure = validated_call(
            client, "SendPipelineExecutionStepFailure", answer, self.calls)


@pytest.fixture
def callback_api(aws, monkeypatch) -> CallbackStub:
    """The stub on every sagemaker client made from now on (the handler makes its own)."""
    return stub_every_sagemaker_client(monkeypatch, CallbackStub())


@pytest.fixture
def estate(aws, callback_api, monkeypatch, tmp_path):
    """The bucket with the current map and a proposal, the training pipeline, the function's environment."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key=CURRENT_MAP_KEY, Body=save_category_map(base_map(), tmp_path / "m.yaml")
                  .read_bytes())
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/proposal.json", Body=json.dumps(proposal()).encode())
    aws.client("sagemaker").create_pipeline(PipelineName=TRAINING, RoleArn=ROLE, PipelineDefinition=json.dumps(
        {"Version": "2020-12-01", "Parameters": [], "Steps": []}))
    monkeypatch.setenv("TRAINING_PIPELINE", TRAINING)
    monkeypatch.setenv("CURRENT_MAP_URI", f"s3://{BUCKET}/{CURRENT_MAP_KEY}")
    for name in ("MODEL_PACKAGE_GROUP", "MAP_PREFIX", "KMS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    return aws


def sqs_record() -> dict:
    """The message the evolution pipeline's AwaitReview CallbackStep sends to the review queue."""
    body = {"token": TOKEN, "pipelineExecutionArn": EVOLUTION_EXECUTION, "status": "Executing",
            "arguments": {"ProposalUri": f"s3://{BUCKET}/{FOLDER}/proposal.json", "ProposalId": PROPOSAL_ID,
                          "BaseMapHash": base_map().content_hash}}
    return {"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(body),
            "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:tweetops-training-review"}


def upload(session, document, name: str = "decisions.yaml") -> dict:
    """Put the analyst's decisions file and return the S3 event record that announces it."""
    key = f"{FOLDER}/{name}"
    body = document if isinstance(document, str) else yaml.safe_dump(document)
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": "2026-12-02T09:30:00.000Z",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": key}}}


def read(session, key: str) -> bytes:
    return session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def keys(session) -> set[str]:
    return {item["Key"] for item in session.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def training_executions(session) -> list[dict]:
    return session.client("sagemaker").list_pipeline_executions(PipelineName=TRAINING)["PipelineExecutionSummaries"]


def test_the_callback_steps_message_is_kept_beside_the_proposal(estate):
    result = handler({"Records": [sqs_record()]})
    assert result["results"] == [{"status": "waiting", "proposal": PROPOSAL_ID,
                                  "callback": f"s3://{BUCKET}/{FOLDER}/callback.json"}]
    stored = json.loads(read(estate, f"{FOLDER}/callback.json"))
    assert stored["token"] == TOKEN and stored["pipelineExecutionArn"] == EVOLUTION_EXECUTION
    assert stored["arguments"]["ProposalId"] == PROPOSAL_ID


def test_accepted_decisions_store_map_n_plus_1_start_training_with_it_and_answer_the_waiting_step(estate,
                                                                                                 callback_api):
    handler({"Records": [sqs_record()]})
    (result,) = handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})["results"]
    map_uri = f"s3://{BUCKET}/tweetops/category-maps/v4/category_map.yaml"
    assert (result["decision"], result["category_map_uri"], result["reviewer"]) == ("accepted", map_uri, "ana")
    stored = yaml.safe_load(read(estate, "tweetops/category-maps/v4/category_map.yaml"))
    assert stored["version"] == 4 and stored["previous"]["hash"] == base_map().content_hash
    assert stored["reviewed"] == {"by": "ana", "at": "2026-12-02T09:30:00Z"}  # the upload's time
    (execution,) = training_executions(estate)
    assert result["training_execution_arn"] == execution["PipelineExecutionArn"]
    parameters = estate.client("sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {
        "InputDataUri": f"s3://{BUCKET}/{FOLDER}/retrain/", "CategoryMapUri": map_uri,
        "ClusterAssignmentsUri": f"s3://{BUCKET}/{FOLDER}/clusters/"}
    ((operation, request),) = callback_api.calls
    assert operation == "SendPipelineExecutionStepSuccess" and request["CallbackToken"] == TOKEN
    outputs = {p["Name"]: p["Value"] for p in request["OutputParameters"]}
    assert outputs["Decision"] == "accepted" and outputs["CategoryMapUri"] == map_uri
    assert outputs["TrainingExecutionArn"] == execution["PipelineExecutionArn"]
    assert json.loads(read(estate, f"{FOLDER}/review.json"))["decision"] == "accepted"


def test_an_accepted_version_puts_its_category_maps_rows_beside_the_other_versions_for_athena(estate, callback_api,
                                                                                                monkeypatch):
    monkeypatch.setenv("KMS_KEY_ID", "alias/tweetops")
    handler({"Records": [sqs_record()]})
    (result,) = handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})["results"]
    key = f"tweetops/category-map-versions/date=2026-12-02/review-{PROPOSAL_ID}.parquet"  # the upload's day
    assert result["category_map_rows_uri"] == f"s3://{BUCKET}/{key}"
    head = estate.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    body = read(estate, key)
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.remove_metadata() == catalog.TABLES["category_maps"].arrow_schema()
    stored = parse_category_map(read(estate, "tweetops/category-maps/v4/category_map.yaml"), "v4.yaml")
    rows = table.to_pandas()
    assert sorted(rows["category_id"]) == sorted(entry.id for entry in stored.entries)
    assert set(rows["map_version"]) == {4} and set(rows["map_hash"]) == {stored.content_hash}
    assert set(rows["execution"]) == {f"review-{PROPOSAL_ID}"} and set(rows["reviewed_by"]) == {"ana"}
    assert set(rows["written_at"]) == {"2026-12-02T09:30:00+00:00"}


def decide_against_a_newer_map(estate, tmp_path) -> list[dict]:
    """A proposal made against map version 3 is decided after version 4 became the current map: the results."""
    base = base_map()
    newer = base.__class__(4, base.clustering_run, base.entries, base.reviewed)
    estate.client("s3").put_object(Bucket=BUCKET, Key=CURRENT_MAP_KEY,
                                   Body=save_category_map(newer, tmp_path / "v4.yaml").read_bytes())
    handler({"Records": [sqs_record()]})
    return handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})["results"]


def test_a_refused_decision_puts_no_category_maps_rows(estate, callback_api, tmp_path):
    (result,) = decide_against_a_newer_map(estate, tmp_path)
    assert result["status"] == "failed"
    assert not any(key.startswith("tweetops/category-map-versions/") for key in keys(estate))


def test_a_second_upload_for_a_decided_proposal_is_ignored(estate, callback_api):
    handler({"Records": [sqs_record()]})
    handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})
    (again,) = handler({"Records": [upload(estate, decisions(*ACCEPT_ALL), "decisions.json")]})["results"]
    assert again["status"] == "ignored" and "decided already" in again["reason"]
    assert len(callback_api.calls) == 1 and len(training_executions(estate)) == 1


def test_a_proposal_made_against_another_map_is_answered_with_a_failure_and_no_map_is_written(estate, callback_api,
                                                                                              tmp_path):
    (result,) = decide_against_a_newer_map(estate, tmp_path)
    assert result["status"] == "failed"
    ((operation, request),) = callback_api.calls
    assert operation == "SendPipelineExecutionStepFailure" and request["CallbackToken"] == TOKEN
    assert request["FailureReason"].startswith(f"proposal {PROPOSAL_ID} was made against category map version 3")
    assert len(request["FailureReason"]) <= 256
    assert not any(key.startswith("tweetops/category-maps/v4") for key in keys(estate))
    assert training_executions(estate) == []


@pytest.mark.parametrize("document, reason", [
    ("decisions: [\n", "invalid YAML"),
    (decisions({"change": "new:6", "action": "maybe"}), "action 'maybe' is not one of accept, reject, discard"),
    (decisions(*ACCEPT_ALL[:2]), "3 change(s) left undecided"),
])
def test_an_invalid_decisions_file_is_answered_with_its_one_line_reason(estate, callback_api, document, reason):
    handler({"Records": [sqs_record()]})
    (result,) = handler({"Records": [upload(estate, document)]})["results"]
    assert result["status"] == "failed" and reason in result["reason"]
    ((operation, request),) = callback_api.calls
    assert operation == "SendPipelineExecutionStepFailure" and reason in request["FailureReason"]
    assert "\n" not in request["FailureReason"] and training_executions(estate) == []


def test_decisions_rejecting_every_change_answer_rejected_without_a_map_or_training(estate, callback_api):
    prop = proposal()
    prop["changes"] = [c for c in prop["changes"] if c["change"] not in ("gone:c8", "new:7")]
    prop["categories"] = [c for c in prop["categories"] if c["id"] != "c8"] + [
        {"id": "c8", "name": "old_promo", "status": "kept", "clusters": [7]}]
    estate.client("s3").put_object(Bucket=BUCKET, Key=f"{FOLDER}/proposal.json", Body=json.dumps(prop).encode())
    handler({"Records": [sqs_record()]})
    items = [{"change": c["change"], "action": "reject"} for c in prop["changes"]]
    (result,) = handler({"Records": [upload(estate, decisions(*items))]})["results"]
    assert (result["decision"], result["category_map_uri"], result["training_execution_arn"]) == ("rejected", "", "")
    ((operation, request),) = callback_api.calls
    assert {p["Name"]: p["Value"] for p in request["OutputParameters"]}["Decision"] == "rejected"
    assert training_executions(estate) == []


def test_the_current_map_can_come_from_the_approved_package(estate, monkeypatch):
    monkeypatch.delenv("CURRENT_MAP_URI")
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", "tweetops-message-classifier")
    client = estate.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName="tweetops-message-classifier")
    client.create_model_package(
        ModelPackageGroupName="tweetops-message-classifier", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops:0.1.0"}],
                                "SupportedContentTypes": ["application/jsonlines"],
                                "SupportedResponseMIMETypes": ["application/jsonlines"]},
        CustomerMetadataProperties={"category_map_uri": f"s3://{BUCKET}/{CURRENT_MAP_KEY}"})
    handler({"Records": [sqs_record()]})
    (result,) = handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})["results"]
    assert result["decision"] == "accepted", result


def test_a_decision_with_no_waiting_execution_changes_nothing(estate, callback_api):
    (result,) = handler({"Records": [upload(estate, decisions(*ACCEPT_ALL))]})["results"]
    assert result["status"] == "error" and "no evolution execution waits" in result["reason"]
    assert callback_api.calls == [] and training_executions(estate) == []
    assert not any("category-maps/v4" in key for key in keys(estate))


def test_other_uploads_and_events_are_ignored(estate, callback_api):
    record = upload(estate, "x", name="notes.txt")
    results = handler({"Records": [record, {"eventSource": "aws:sns"}]})["results"]
    assert [r["status"] for r in results] == ["ignored", "ignored"] and callback_api.calls == []


def test_the_stub_refuses_a_request_sagemaker_would_refuse(estate, callback_api):
    client = estate.client("sagemaker")
    with pytest.raises(ParamValidationError):
        client.send_pipeline_execution_step_success(OutputParameters=[{"Name": "Decision"}])  # no token, no value


def eventbridge_upload(session, document, name: str = "decisions.yaml") -> dict:
    """Put the analyst's decisions file and return S3's "Object Created" event for it, as EventBridge sends it."""
    key = upload(session, document, name)["s3"]["object"]["key"]
    event = with_changes(sample("s3_object_created"), bucket__name=BUCKET, object__key=key)
    return {**event, "time": "2026-12-02T09:30:00Z"}


def test_the_eventbridge_event_of_a_decisions_upload_is_decided_as_the_notification_record_is(estate, callback_api):
    handler({"Records": [sqs_record()]})
    (result,) = handler(eventbridge_upload(estate, decisions(*ACCEPT_ALL)))["results"]
    assert (result["decision"], result["category_map_uri"]) == (
        "accepted", f"s3://{BUCKET}/tweetops/category-maps/v4/category_map.yaml")
    stored = yaml.safe_load(read(estate, "tweetops/category-maps/v4/category_map.yaml"))
    assert stored["reviewed"] == {"by": "ana", "at": "2026-12-02T09:30:00Z"}  # the event's time
    ((operation, request),) = callback_api.calls
    assert operation == "SendPipelineExecutionStepSuccess" and request["CallbackToken"] == TOKEN
    assert len(training_executions(estate)) == 1


def test_the_stacks_decisions_rule_delivers_an_event_the_function_decides(estate, callback_api):
    handler({"Records": [sqs_record()]})
    (event,) = delivered(estate, decisions_uploaded_pattern(BUCKET, "tweetops"),
                         [eventbridge_upload(estate, decisions(*ACCEPT_ALL), "decisions.yml")])
    (result,) = handler(event)["results"]
    assert result["decision"] == "accepted" and len(callback_api.calls) == 1


def test_an_eventbridge_upload_of_another_file_is_ignored(estate, callback_api):
    (result,) = handler(eventbridge_upload(estate, "notes", "notes.txt"))["results"]
    assert result["status"] == "ignored" and "is not a decisions file" in result["reason"]
    assert callback_api.calls == []
