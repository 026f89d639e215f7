"""Specification of `tweetops pipeline ...` as CI and Studio use it: definition, upsert, start, status, with
one-line errors and exit codes (AWS is moto)."""
from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from pipelines.cli import main

ROLE = "arn:aws:iam::123456789012:role/tweetops-execution"


@pytest.fixture
def runner(monkeypatch, tmp_path) -> CliRunner:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("TWEETOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./tweetops.yaml
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
        yield CliRunner()


@pytest.mark.parametrize("command", ["definition", "upsert", "start", "status"])
def test_every_pipeline_command_explains_itself(runner, command):
    result = runner.invoke(main, ["pipeline", command, "--help"])
    assert result.exit_code == 0 and "--role-arn" in result.output and "--config" in result.output


def test_definition_goes_to_a_file_or_standard_output(runner, tmp_path):
    result = runner.invoke(main, ["pipeline", "definition", "--role-arn", ROLE, "--out", str(tmp_path / "d.json")])
    assert result.exit_code == 0, result.output
    printed = runner.invoke(main, ["pipeline", "definition", "--role-arn", ROLE])
    assert printed.output.strip() == (tmp_path / "d.json").read_text().strip()
    assert json.loads(printed.output)["Version"] == "2020-12-01"


def test_the_role_can_come_from_the_config_file(runner, tmp_path):
    (tmp_path / "tweetops.yaml").write_text(f"role_arn: {ROLE}\npipeline_name: from-config\n")
    result = runner.invoke(main, ["pipeline", "upsert"])
    assert result.exit_code == 0, result.output
    assert "upserted from-config" in result.output


def test_missing_role_is_one_line_and_exit_1(runner):
    result = runner.invoke(main, ["pipeline", "definition"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN, put role_arn in the config file, or pass "
        "--stack to read it from the deployed infra/ stack"]


def test_missing_role_and_no_deployed_stack_name_every_way_to_give_one(runner):
    result = runner.invoke(main, ["pipeline", "upsert"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN, put role_arn in the config file, or deploy "
        "infra/ (stack tweetops-dev not found in us-east-1)"]


def test_upsert_then_start_with_parameters(runner):
    assert runner.invoke(main, ["pipeline", "upsert", "--role-arn", ROLE]).exit_code == 0
    started = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--param", "K=20",
                                   "--param", "InputDataUri=s3://data/raw/"])
    assert started.exit_code == 0, started.output
    assert "Executing: arn:aws:sagemaker:us-east-1:123456789012:pipeline/tweetops-training/execution/" in started.output
    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = client.list_pipeline_executions(PipelineName="tweetops-training")["PipelineExecutionSummaries"][0][
        "PipelineExecutionArn"]
    parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {"K": "20", "InputDataUri": "s3://data/raw/"}


def test_starting_inference_with_a_package_passes_the_baseline_and_featurizer_digest_it_pins(runner):
    assert runner.invoke(main, ["pipeline", "upsert", "--role-arn", ROLE, "--pipeline-type", "inference"]).exit_code == 0
    client = boto3.client("sagemaker", region_name="us-east-1")
    client.create_model_package_group(ModelPackageGroupName="tweetops-message-classifier")
    package = client.create_model_package(
        ModelPackageGroupName="tweetops-message-classifier", InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:0.1.0"}],
            "SupportedContentTypes": ["application/jsonlines"], "SupportedResponseMIMETypes": ["application/jsonlines"]},
        CustomerMetadataProperties={"monitoring_baseline_uri": "s3://b/tweetops/executions/e1/monitoring/baseline",
                                    "featurizer_sha256": "cd" * 32})["ModelPackageArn"]
    started = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--pipeline-type", "inference",
                                   "--param", f"ModelPackageArn={package}"])
    assert started.exit_code == 0, started.output
    arn = client.list_pipeline_executions(PipelineName="tweetops-batch-inference")["PipelineExecutionSummaries"][0][
        "PipelineExecutionArn"]
    parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {
        "ModelPackageArn": package, "BaselineUri": "s3://b/tweetops/executions/e1/monitoring/baseline",
        "FeaturizerSha256": "cd" * 32}


def test_starting_inference_without_a_package_takes_the_latest_approved_one_or_says_there_is_none(runner):
    assert runner.invoke(main, ["pipeline", "upsert", "--role-arn", ROLE, "--pipeline-type", "inference"]).exit_code == 0
    client = boto3.client("sagemaker", region_name="us-east-1")
    client.create_model_package_group(ModelPackageGroupName="tweetops-message-classifier")
    inference = {"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:0.1.0"}],
                 "SupportedContentTypes": ["application/jsonlines"],
                 "SupportedResponseMIMETypes": ["application/jsonlines"]}
    pending = client.create_model_package(ModelPackageGroupName="tweetops-message-classifier",
                                          InferenceSpecification=inference)["ModelPackageArn"]
    refused = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--pipeline-type", "inference"])
    assert refused.exit_code == 1
    assert "no approved model package in group 'tweetops-message-classifier'" in refused.output
    client.update_model_package(ModelPackageArn=pending, ModelApprovalStatus="Approved")
    started = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--pipeline-type", "inference"])
    assert started.exit_code == 0, started.output
    arn = client.list_pipeline_executions(PipelineName="tweetops-batch-inference")["PipelineExecutionSummaries"][0][
        "PipelineExecutionArn"]
    parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters}["ModelPackageArn"] == pending


def test_a_parameter_the_pipeline_does_not_have_is_refused_before_starting(runner):
    runner.invoke(main, ["pipeline", "upsert", "--role-arn", ROLE])
    result = runner.invoke(main, ["pipeline", "start", "--role-arn", ROLE, "--param", "Kay=3"])
    assert result.exit_code == 1 and "--param Kay: the pipeline has no such parameter" in result.output
    assert not boto3.client("sagemaker", region_name="us-east-1").list_pipeline_executions(
        PipelineName="tweetops-training")["PipelineExecutionSummaries"]
