"""Specification of the batch-inference pipeline definition (real SDK v3 under moto): validate the batch, a
model from the approved package given as a parameter, batch transform with line splitting, a summary."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from pipelines import operations
from pipelines.settings import PipelineSettings
from tests.pipelines.definitions import aws  # noqa: F401 (a fixture: pytestmark below uses it)
from tests.pipelines.definitions import references, steps_by_name, validate_requests

ROLE = "arn:aws:iam::123456789012:role/tweetops-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


pytestmark = pytest.mark.usefixtures("aws")  # every test on moto's AWS


@pytest.fixture(scope="module")
def settings() -> PipelineSettings:
    return PipelineSettings(role_arn=ROLE, kms_key_id=KMS, transform_instance_count=3)


@pytest.fixture(scope="module")
def definition(settings) -> dict:
    with mock_aws():
        return json.loads(operations.definition(settings, which="inference"))


def test_the_dag_validates_creates_the_model_scores_summarizes_and_checks_for_drift(definition):
    steps = steps_by_name(definition)
    assert list(steps) == ["ValidateBatch", "CreateModel", "Predict", "Summarize", "Monitor", "Accumulate"]
    assert references(steps["Predict"]["Arguments"]) == {"ValidateBatch", "CreateModel"}
    assert references(steps["Summarize"]["Arguments"]) == {"Predict"}
    assert references(steps["Monitor"]["Arguments"]) == {"ValidateBatch", "Predict"}
    assert steps["Monitor"]["DependsOn"] == ["Summarize"]
    validate = steps["ValidateBatch"]["Arguments"]
    assert validate["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "validate"]
    assert "--batch" in validate["AppSpecification"]["ContainerArguments"]
    assert validate["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"


def test_rejected_rows_and_the_quality_report_go_to_the_shared_table_zones_named_by_execution(definition):
    # The quarantine zone is outside the executions folder, so the estate's lifecycle rule on <prefix>/quarantine/
    # expires it (infra/storage.py); the job writes date=<day>/<execution id>.parquet under each shared zone.
    arguments = steps_by_name(definition)["ValidateBatch"]["Arguments"]
    outputs = {item["OutputName"]: item["S3Output"]["S3Uri"] for item in arguments["ProcessingOutputConfig"]["Outputs"]}
    zone = "s3://sagemaker-us-east-1-123456789012/tweetops"
    assert outputs["quarantine"] == f"{zone}/quarantine/" and outputs["quality"] == f"{zone}/quality-reports/"
    container = arguments["AppSpecification"]["ContainerArguments"]
    assert container[container.index("--run-id") + 1] == {"Get": "Execution.PipelineExecutionId"}
    assert container[container.index("--run-date") + 1] == {"Get": "Execution.StartDateTime"}
    assert container[container.index("--pipeline") + 1] == "inference"


def test_the_batch_metrics_row_goes_to_the_shared_monitoring_metrics_zone(definition):
    arguments = steps_by_name(definition)["Monitor"]["Arguments"]
    outputs = {item["OutputName"]: item["S3Output"] for item in arguments["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["metrics"]["S3Uri"] == "s3://sagemaker-us-east-1-123456789012/tweetops/monitoring-metrics/"
    container = arguments["AppSpecification"]["ContainerArguments"]
    assert container[container.index("--metrics-output") + 1] == outputs["metrics"]["LocalPath"]
    assert container[container.index("--run-id") + 1] == {"Get": "Execution.PipelineExecutionId"}
    assert container[container.index("--run-date") + 1] == {"Get": "Execution.StartDateTime"}


def test_the_scored_batch_accumulates_in_the_shared_new_data_zone_named_by_execution(definition):
    step = steps_by_name(definition)["Accumulate"]
    assert references(step["Arguments"]) == {"ValidateBatch", "Predict", "Monitor"}
    inputs = {item["InputName"]: item["S3Input"]["S3Uri"] for item in step["Arguments"]["ProcessingInputs"]}
    assert inputs["novelty"] == {"Get": "Steps.Monitor.ProcessingOutputConfig.Outputs['novelty'].S3Output.S3Uri"}
    (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == "s3://sagemaker-us-east-1-123456789012/tweetops/new-data/"  # not per execution
    arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "accumulate"]
    assert arguments[arguments.index("--batch-name") + 1] == {"Get": "Execution.PipelineExecutionId"}
    assert arguments[arguments.index("--scored-on") + 1] == {"Get": "Execution.StartDateTime"}


def test_the_model_comes_from_the_package_named_by_a_parameter(definition):
    model = steps_by_name(definition)["CreateModel"]["Arguments"]
    assert model["Containers"] == [{"ModelPackageName": {"Get": "Parameters.ModelPackageArn"}}]
    assert model["EnableNetworkIsolation"] is True


def test_the_transform_splits_lines_packs_payloads_and_scales_out(definition):
    transform = steps_by_name(definition)["Predict"]["Arguments"]
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformInput"]["ContentType"] == "application/jsonlines"
    assert (transform["BatchStrategy"], transform["MaxPayloadInMB"]) == ("MultiRecord", 6)
    assert transform["TransformResources"]["InstanceCount"] == 3
    assert transform["TransformOutput"]["AssembleWith"] == "Line"
    assert transform["TransformOutput"]["KmsKeyId"] == {"Get": "Parameters.KmsKeyId"}


def test_parameters_and_defaults(definition):
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert parameters["LowConfidenceThreshold"] == 0.5 and parameters["KmsKeyId"] == KMS
    assert {"ModelPackageArn", "InputDataUri", "Languages", "TransformInstanceType", "ImageUri"} <= set(parameters)


def test_every_step_is_a_valid_request_of_its_sagemaker_api(definition):
    assert sorted(validate_requests(definition)) == ["Accumulate", "CreateModel", "Monitor", "Predict", "Summarize",
                                                     "ValidateBatch"]


def test_two_builds_are_byte_identical(settings):
    assert operations.definition(settings, which="inference") == operations.definition(settings, which="inference")


def test_upsert_and_start_the_inference_pipeline_against_moto(settings):
    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    result = operations.upsert(settings, which="inference", boto_session=boto_session)
    assert result["PipelineName"] == "tweetops-batch-inference"
    started = operations.start(settings, {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"},
                               which="inference", boto_session=boto_session)
    assert ":pipeline/tweetops-batch-inference/execution/" in started["PipelineExecutionArn"]
