"""Callback steps run locally: the execution announces the step and waits (Executing, not interrupted), a decision
is sent as SendPipelineExecutionStepSuccess/Failure would send it, and resuming completes the step with it; the
condition reads the callback's outputs as SageMaker's definition names them (Steps.<step>.OutputParameters['x'])."""
from __future__ import annotations

import json

import pytest

from pipelines.local import callbacks
from pipelines.local.callbacks import CallbackError, pending, pending_for, send_decision
from pipelines.local.executor import LocalExecutor
from tests.pipelines.local.test_executor import TEST_ENTRY_POINTS, definition, per_execution, processing

PROPOSAL = "prop-0123456789abcdef"
# The job writes what the Evolve step writes for the callback's inputs: a proposal.json with its id and base map.
WRITE_PROPOSAL = ("import sys, json, pathlib; o = pathlib.Path(sys.argv[2]) / 'evolution'; "
                  f"(o / 'proposal.json').write_text(json.dumps({{'proposal_id': '{PROPOSAL}', "
                  "'base_map': {'hash': 'ab12'}})); print('proposed')")
PROPOSAL_FILE = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evolve.PropertyFiles.Proposal"}, "Path": "proposal_id"}}


def decision_output(name: str) -> dict:
    return {"Get": f"Steps.AwaitReview.OutputParameters['{name}']"}


def evolution_definition() -> dict:
    """Evolve (a job) -> AwaitReview (callback) -> ReviewAccepted (condition) -> ProposalRejected (fail), shaped as
    the SDK writes them."""
    evolve = processing("Evolve", WRITE_PROPOSAL, outputs=[("evolution", per_execution("evolution"))],
                        PropertyFiles=[{"PropertyFileName": "Proposal", "OutputName": "evolution",
                                        "FilePath": "proposal.json"}])
    await_review = {
        "Name": "AwaitReview", "Type": "Callback",
        "Arguments": {"ProposalId": PROPOSAL_FILE, "ProposalUri": {"Std:Join": {"On": "/", "Values": [
            {"Get": "Steps.Evolve.ProcessingOutputConfig.Outputs['evolution'].S3Output.S3Uri"}, "proposal.json"]}}},
        "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/review",
        "OutputParameters": [{"OutputName": name, "OutputType": "String"} for name in ("Decision", "Reason")]}
    rejected = {"Name": "ProposalRejected", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": " ", "Values": ["proposal", PROPOSAL_FILE, "rejected:", decision_output("Reason")]}}}}
    accepted = {"Name": "ReviewAccepted", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": decision_output("Decision"), "RightValue": "accepted"}],
        "IfSteps": [], "ElseSteps": [rejected]}}
    return definition(evolve, await_review, accepted)


@pytest.fixture
def executor(tmp_path):
    return LocalExecutor(tmp_path / "home", sleep=lambda seconds: None, entry_points=TEST_ENTRY_POINTS)


@pytest.fixture
def waiting(executor):
    """An execution that ran to its callback step and waits there."""
    return executor.start(evolution_definition(), pipeline_name="tweetops-evolution")


def steps_of(execution) -> dict:
    return {step["StepName"]: step for step in execution.record["Steps"]}


def test_the_run_stops_at_the_callback_step_and_the_execution_waits(executor, waiting):
    assert waiting.record["PipelineExecutionStatus"] == "Executing" and "EndTime" not in waiting.record
    steps = steps_of(waiting)
    assert steps["Evolve"]["StepStatus"] == "Succeeded"
    assert steps["AwaitReview"]["StepStatus"] == "Executing"
    assert list(steps) == ["Evolve", "AwaitReview"]  # nothing after the callback ran
    token = steps["AwaitReview"]["Metadata"]["Callback"]["CallbackToken"]
    assert callbacks.TOKEN.match(token)
    assert waiting.waiting == {"StepName": "AwaitReview", "CallbackToken": token}
    reloaded = executor.load(waiting.id)
    assert reloaded.interrupted is False and reloaded.waiting["CallbackToken"] == token


def test_the_waiting_step_is_announced_with_its_resolved_inputs(executor, waiting):
    (entry,) = pending(executor.home)
    assert entry["execution"] == waiting.id and entry["step"] == "AwaitReview" and entry["decided"] is None
    assert entry["inputs"]["ProposalId"] == PROPOSAL
    assert entry["inputs"]["ProposalUri"] == f"s3://test-bucket/runs/{waiting.id}/evolution/proposal.json"
    assert entry["outputs"] == ["Decision", "Reason"]
    assert pending_for(executor.home, PROPOSAL)["token"] == entry["token"]
    assert pending_for(executor.home, "prop-ffffffffffffffff") is None


def test_resuming_without_a_decision_keeps_waiting_under_the_same_token(executor, waiting):
    token = waiting.waiting["CallbackToken"]
    again = executor.resume(waiting.id)
    assert again.record["PipelineExecutionStatus"] == "Executing"
    assert again.waiting["CallbackToken"] == token and len(pending(executor.home)) == 1


def test_an_accepted_decision_completes_the_step_and_the_condition_reads_its_output(executor, waiting):
    token = pending_for(executor.home, PROPOSAL)["token"]
    send_decision(executor.home, token, "Success", {"Decision": "accepted", "Reason": "looks right"})
    assert pending(executor.home)[0]["decided"]["status"] == "Success"  # sent, not yet applied
    done = executor.resume(waiting.id)
    assert done.record["PipelineExecutionStatus"] == "Succeeded", done.record.get("FailureReason")
    steps = steps_of(done)
    assert steps["AwaitReview"]["StepStatus"] == "Succeeded"
    assert steps["AwaitReview"]["Metadata"]["Callback"]["OutputParameters"] == [
        {"Name": "Decision", "Value": "accepted"}, {"Name": "Reason", "Value": "looks right"}]
    assert steps["ReviewAccepted"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert "ProposalRejected" not in steps
    assert pending(executor.home) == [] and done.waiting is None
    properties = json.loads(done.properties_path("AwaitReview").read_text())
    assert properties == {"OutputParameters": {"Decision": "accepted", "Reason": "looks right"}}


def test_a_rejected_decision_ends_in_the_fail_step_with_the_reason(executor, waiting):
    token = waiting.waiting["CallbackToken"]
    send_decision(executor.home, token, "Success", {"Decision": "rejected", "Reason": "new:7 is spam"})
    done = executor.resume(waiting.id)
    assert done.record["PipelineExecutionStatus"] == "Failed"
    assert done.record["FailureReason"] == f"proposal {PROPOSAL} rejected: new:7 is spam"
    assert steps_of(done)["ProposalRejected"]["StepStatus"] == "Failed"


def test_a_failure_fails_the_callback_step_with_its_reason(executor, waiting):
    send_decision(executor.home, waiting.waiting["CallbackToken"], "Failure", reason="the base map changed")
    done = executor.resume(waiting.id)
    assert done.record["PipelineExecutionStatus"] == "Failed"
    step = steps_of(done)["AwaitReview"]
    assert (step["StepStatus"], step["FailureReason"]) == ("Failed", "the base map changed")
    assert "ReviewAccepted" not in steps_of(done)


def test_resuming_a_failed_callback_announces_it_again_under_a_new_token(executor, waiting):
    first = waiting.waiting["CallbackToken"]
    send_decision(executor.home, first, "Failure", reason="try again")
    executor.resume(waiting.id)
    again = executor.resume(waiting.id)
    assert again.record["PipelineExecutionStatus"] == "Executing"
    assert again.waiting["CallbackToken"] != first
    assert [entry["token"] for entry in pending(executor.home)] == [again.waiting["CallbackToken"]]


@pytest.mark.parametrize("status, outputs, reason, message", [
    ("Success", {"Verdict": "accepted"}, "", "declares no output 'Verdict' (it declares Decision, Reason)"),
    ("Success", {"Decision": 1}, "", "the value must be a string, got int"),
    ("Success", {"Decision": "x" * 1025}, "", "1025 characters (at most 1024)"),
    ("Failure", {}, "r" * 257, "the reason is 257 characters (at most 256)"),
    ("Failure", {"Decision": "rejected"}, "no", "a Failure carries a reason, not outputs"),
    ("Maybe", {}, "", "expected one of Success, Failure"),
])
def test_a_decision_sagemaker_would_refuse_is_refused(executor, waiting, status, outputs, reason, message):
    with pytest.raises(CallbackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        send_decision(executor.home, waiting.waiting["CallbackToken"], status, outputs, reason)
    assert pending(executor.home)[0]["decided"] is None


def test_a_second_decision_and_unknown_or_unsafe_tokens_are_refused(executor, waiting):
    token = waiting.waiting["CallbackToken"]
    send_decision(executor.home, token, "Success", {"Decision": "accepted"})
    with pytest.raises(CallbackError, match="decided already; resume the execution"):
        send_decision(executor.home, token, "Success", {"Decision": "rejected"})
    with pytest.raises(CallbackError, match="no step waits for callback token abcdef0123"):
        send_decision(executor.home, "abcdef0123", "Success")
    with pytest.raises(CallbackError, match="is not 10 letters or digits"):
        send_decision(executor.home, "../../etc/x", "Success")
