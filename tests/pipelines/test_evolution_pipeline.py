"""Specification of the evolution pipeline definition (real SDK v3 under moto): Evolve re-clusters the new-data
window into a proposal, AwaitReview (a callback step) announces it on the review queue and waits for the analyst's
decision, ReviewAccepted ends the execution or stops it in ProposalRejected with the reason."""
from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from pipelines import operations
from pipelines.cli import main
from pipelines.settings import PipelineSettings, resolved
from tests.pipelines.definitions import aws  # noqa: F401 (a fixture: pytestmark below uses it)
from tests.pipelines.definitions import references, steps_by_name, validate_requests

ROLE = "arn:aws:iam::123456789012:role/tweetops-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROPOSAL_FILE = {"Get": "Steps.Evolve.PropertyFiles.Proposal"}

pytestmark = pytest.mark.usefixtures("aws")  # every test on moto's AWS


@pytest.fixture(scope="module")
def settings() -> PipelineSettings:
    return PipelineSettings(role_arn=ROLE, kms_key_id=KMS)


@pytest.fixture(scope="module")
def definition(settings) -> dict:
    with mock_aws():
        return json.loads(operations.definition(settings, which="evolution"))


def test_the_dag_evolves_then_waits_for_the_review_then_checks_the_decision(definition):
    assert [step["Name"] for step in definition["Steps"]] == ["Evolve", "AwaitReview", "ReviewAccepted"]
    steps = steps_by_name(definition)
    assert {name: step["Type"] for name, step in steps.items()} == {
        "Evolve": "Processing", "AwaitReview": "Callback", "ReviewAccepted": "Condition", "ProposalRejected": "Fail"}
    assert references(steps["AwaitReview"]["Arguments"]) == {"Evolve"}
    assert references(steps["ReviewAccepted"]["Arguments"]["Conditions"]) == {"AwaitReview"}


def test_evolve_runs_the_evolve_job_on_the_window_with_the_packages_model_baseline_and_map(definition):
    evolve = steps_by_name(definition)["Evolve"]
    arguments = evolve["Arguments"]
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "evolve"]
    given = arguments["AppSpecification"]["ContainerArguments"]
    options = dict(zip(given[::2], given[1::2]))
    assert options == {
        "--new-data": "/opt/ml/processing/input/new_data", "--baseline": "/opt/ml/processing/input/baseline",
        "--model": "/opt/ml/processing/input/model", "--category-map": "/opt/ml/processing/input/category_map",
        "--output": "/opt/ml/processing/output/evolution",
        "--window-days": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.WindowDays"}]}},
        "--as-of": {"Get": "Parameters.AsOf"},
        "--seed": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Seed"}]}},
        "--categories": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Categories"}]}},
        "--model-sha256": {"Get": "Parameters.ModelSha256"},
        "--featurizer-sha256": {"Get": "Parameters.FeaturizerSha256"},
        "--model-package": {"Get": "Parameters.ModelPackageArn"}}
    channels = {item["InputName"]: item["S3Input"]["S3Uri"] for item in arguments["ProcessingInputs"]}
    assert channels == {"new_data": {"Get": "Parameters.NewDataUri"}, "baseline": {"Get": "Parameters.BaselineUri"},
                        "model": {"Get": "Parameters.ModelDataUri"}, "category_map": {"Get": "Parameters.CategoryMapUri"}}
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evolution" and output["S3Output"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
        "s3://sagemaker-us-east-1-123456789012/tweetops/evolution", {"Get": "Execution.PipelineExecutionId"}]}}
    assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == {"Get": "Parameters.KmsKeyId"}
    assert evolve["PropertyFiles"] == [{"PropertyFileName": "Proposal", "OutputName": "evolution",
                                        "FilePath": "proposal.json"}]
    assert "CacheConfig" not in evolve  # the new-data zone grows under the same URI: a cache hit would be stale


def test_await_review_announces_the_proposal_on_the_review_queue_and_declares_the_decisions_outputs(definition):
    callback = steps_by_name(definition)["AwaitReview"]
    assert callback["SqsQueueUrl"] == "https://sqs.us-east-1.amazonaws.com/123456789012/tweetops-evolution-review"
    proposal_uri = {"Get": "Steps.Evolve.ProcessingOutputConfig.Outputs['evolution'].S3Output.S3Uri"}
    assert callback["Arguments"] == {
        "ProposalUri": {"Std:Join": {"On": "/", "Values": [proposal_uri, "proposal.json"]}},
        "ReportUri": {"Std:Join": {"On": "/", "Values": [proposal_uri, "report.html"]}},
        "ProposalId": {"Std:JsonGet": {"PropertyFile": PROPOSAL_FILE, "Path": "proposal_id"}},
        "BaseMapHash": {"Std:JsonGet": {"PropertyFile": PROPOSAL_FILE, "Path": "base_map.hash"}},
        "ModelPackageArn": {"Get": "Parameters.ModelPackageArn"}}
    assert callback["OutputParameters"] == [{"OutputName": name, "OutputType": "String"} for name in
                                            ("Decision", "Reason", "CategoryMapUri", "TrainingExecutionArn")]


def test_a_decision_other_than_accepted_ends_in_proposal_rejected_with_the_reason(definition):
    condition = steps_by_name(definition)["ReviewAccepted"]["Arguments"]
    assert condition["Conditions"] == [{"Type": "Equals", "RightValue": "accepted",
                                        "LeftValue": {"Get": "Steps.AwaitReview.OutputParameters['Decision']"}}]
    assert condition["IfSteps"] == []
    (rejected,) = condition["ElseSteps"]
    assert rejected["Name"] == "ProposalRejected"
    message = rejected["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert {"Get": "Steps.AwaitReview.OutputParameters['Reason']"} in message
    assert {"Std:JsonGet": {"PropertyFile": PROPOSAL_FILE, "Path": "proposal_id"}} in message


def test_parameters_and_defaults(definition):
    parameters = {p["Name"]: (p["Type"], p.get("DefaultValue")) for p in definition["Parameters"]}
    empty = "s3://sagemaker-us-east-1-123456789012/tweetops/empty/"
    assert parameters == {
        "ModelPackageArn": ("String", ""),
        "NewDataUri": ("String", "s3://sagemaker-us-east-1-123456789012/tweetops/new-data/"),
        "WindowDays": ("Integer", 28), "AsOf": ("String", ""), "CategoryMapUri": ("String", empty),
        "ModelDataUri": ("String", empty), "ModelSha256": ("String", ""), "BaselineUri": ("String", empty),
        "FeaturizerSha256": ("String", ""), "Seed": ("Integer", 0), "Categories": ("Integer", 0),
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"), "KmsKeyId": ("String", KMS),
        "ImageUri": ("String", "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:"
                               f"{operations.package_version()}")}


def test_the_evolve_step_is_a_valid_create_processing_job_request(definition):
    assert validate_requests(definition) == ["Evolve"]


def test_two_builds_are_byte_identical(settings):
    assert operations.definition(settings, which="evolution") == operations.definition(settings, which="evolution")


def test_the_review_queue_is_a_setting_with_a_default_in_the_account():
    settings = PipelineSettings(role_arn=ROLE, region="eu-west-1", evolution_pipeline_name="evo")
    assert resolved(settings, "123456789012", "1.0").review_queue_url == \
        "https://sqs.eu-west-1.amazonaws.com/123456789012/evo-review"
    given = PipelineSettings(role_arn=ROLE, review_queue_url="https://sqs.eu-west-1.amazonaws.com/1/mine")
    assert resolved(given, "123456789012", "1.0").review_queue_url == "https://sqs.eu-west-1.amazonaws.com/1/mine"
    definition = json.loads(operations.definition(given, which="evolution"))
    assert steps_by_name(definition)["AwaitReview"]["SqsQueueUrl"] == "https://sqs.eu-west-1.amazonaws.com/1/mine"


def test_upsert_and_start_the_evolution_pipeline_against_moto(settings):
    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    result = operations.upsert(settings, which="evolution", boto_session=boto_session)
    assert result["PipelineName"] == "tweetops-evolution"
    described = boto_session.client("sagemaker").describe_pipeline(PipelineName="tweetops-evolution")
    assert described["PipelineDefinition"] == operations.definition(settings, boto_session, which="evolution")
    started = operations.start(settings, {"WindowDays": "14"}, which="evolution", boto_session=boto_session)
    assert ":pipeline/tweetops-evolution/execution/" in started["PipelineExecutionArn"]


def package(metadata: dict | None = None, model_data: str = "s3://b/tweetops/executions/e1/model/model.tar.gz",
            digest: str | None = "ab" * 32) -> dict:
    """A DescribeModelPackage answer as register/ writes packages."""
    environment = {"TWEETOPS_MODEL_SHA256": digest} if digest else {}
    return {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3",
            "InferenceSpecification": {"Containers": [{"Image": "i", "ModelDataUrl": model_data,
                                                       "Environment": environment}]},
            "CustomerMetadataProperties": metadata or {}}


def test_the_packages_model_digests_baseline_and_map_become_the_evolution_parameters():
    metadata = {"monitoring_baseline_uri": "s3://b/tweetops/executions/e1/monitoring/baseline",
                "featurizer_sha256": "cd" * 32, "model_sha256": "ef" * 32,
                "category_map_uri": "s3://b/tweetops/executions/e1/clusters/category_map.yaml"}
    assert operations.evolution_parameters(package(metadata)) == {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3",
        "ModelDataUri": "s3://b/tweetops/executions/e1/model/model.tar.gz", "ModelSha256": "ab" * 32,
        "BaselineUri": "s3://b/tweetops/executions/e1/monitoring/baseline", "FeaturizerSha256": "cd" * 32,
        "CategoryMapUri": "s3://b/tweetops/executions/e1/clusters/category_map.yaml"}
    # no pinned digest: the registered metadata's; no baseline or map: those parameters keep their defaults
    assert operations.evolution_parameters(package({"model_sha256": "ef" * 32}, digest=None)) == {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3",
        "ModelDataUri": "s3://b/tweetops/executions/e1/model/model.tar.gz", "ModelSha256": "ef" * 32}


def test_the_cli_upserts_and_starts_the_evolution_pipeline_with_the_packages_parameters(monkeypatch, tmp_path):
    monkeypatch.delenv("TWEETOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    runner = CliRunner()
    assert runner.invoke(main, ["pipeline", "upsert", "--role-arn", ROLE, "--pipeline-type", "evolution"]).exit_code == 0
    client = boto3.client("sagemaker", region_name="us-east-1")
    client.create_model_package_group(ModelPackageGroupName="tweetops-message-classifier")
    arn = client.create_model_package(
        ModelPackageGroupName="tweetops-message-classifier", InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:0.1.0",
                            "ModelDataUrl": "s3://b/model.tar.gz", "Environment": {"TWEETOPS_MODEL_SHA256": "ab" * 32}}],
            "SupportedContentTypes": ["application/jsonlines"], "SupportedResponseMIMETypes": ["application/jsonlines"]},
        CustomerMetadataProperties={"monitoring_baseline_uri": "s3://b/baseline", "featurizer_sha256": "cd" * 32,
                                    "category_map_uri": "s3://b/category_map.yaml"})["ModelPackageArn"]
    started = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--pipeline-type", "evolution",
                                   "--param", f"ModelPackageArn={arn}", "--param", "WindowDays=7"])
    assert started.exit_code == 0, started.output
    execution = client.list_pipeline_executions(PipelineName="tweetops-evolution")["PipelineExecutionSummaries"][0]
    parameters = client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {
        "ModelPackageArn": arn, "WindowDays": "7", "ModelDataUri": "s3://b/model.tar.gz", "ModelSha256": "ab" * 32,
        "BaselineUri": "s3://b/baseline", "FeaturizerSha256": "cd" * 32, "CategoryMapUri": "s3://b/category_map.yaml"}
