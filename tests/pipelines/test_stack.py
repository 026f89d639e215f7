"""Specification of the deployed stack as a source of settings (pipelines/stack.py): its CloudFormation outputs fill
every setting not given, so that `tweetops pipeline upsert` needs no flags after a deploy; anything given explicitly
wins; no stack, no change. The stack is a small template with the infra/ stack's outputs, deployed to moto."""
from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from pipelines.cli import main
from pipelines.operations import package_version
from pipelines.settings import PipelineSettings, SettingsError, load_settings_with_sources
from pipelines.stack import OUTPUT_SETTINGS, require_role, stack_outputs, with_stack_outputs
from tests.conftest import stub_every_sagemaker_client, validated_call

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "tweetops-dev"
BUCKET = "tweetops-dev-data-123456789012"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/given-explicitly"


def template(name: str = STACK, **outputs) -> str:
    """A stack with the resources whose attributes the infra/ stack outputs, and every output of OUTPUT_SETTINGS
    (`outputs` replace some); `name` names its bucket, repository, queue and topic."""
    literal = {"Prefix": "tweetops", "ModelPackageGroupName": "tweetops-dev-classifier",
               "TrainingPipelineName": "tweetops-dev-training", "InferencePipelineName": "tweetops-dev-inference",
               "EvolutionPipelineName": "tweetops-dev-evolution"}
    return json.dumps({
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, "KeyPolicy": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}}},
            "Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{name}-data-{ACCOUNT}"}},
            "ExecutionRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "sagemaker.amazonaws.com"}}]}}},
            "Images": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": name}},
            "ReviewQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-review"}},
            "Alarms": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{name}-alarms",
                                                                "KmsMasterKeyId": {"Ref": "Key"}}},
        },
        "Outputs": {key: {"Value": value} for key, value in {
            "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}, "DataBucketName": {"Ref": "Data"},
            "KmsKeyArn": {"Fn::GetAtt": ["Key", "Arn"]},
            "ImageRepositoryUri": {"Fn::GetAtt": ["Images", "RepositoryUri"]},
            "ReviewQueueUrl": {"Ref": "ReviewQueue"}, "AlarmTopicArn": {"Ref": "Alarms"},
            **literal, **outputs}.items()},
    })


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """moto with the stack deployed; no TWEETOPS_* setting in the environment and no ./tweetops.yaml."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("CONFIG", "STACK_NAME", "ROLE_ARN", "BUCKET", "REGION"):
        monkeypatch.delenv(f"TWEETOPS_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("cloudformation").create_stack(StackName=STACK, TemplateBody=template())
        yield session


@pytest.fixture
def outputs(aws) -> dict[str, str]:
    return stack_outputs(aws.client("cloudformation"), STACK)


def _pipeline(session, name: str) -> tuple[dict, dict]:
    """(DescribePipeline answer, {parameter: default value} of its definition)."""
    described = session.client("sagemaker").describe_pipeline(PipelineName=name)
    parameters = json.loads(described["PipelineDefinition"])["Parameters"]
    return described, {item["Name"]: item.get("DefaultValue") for item in parameters}


# --- the outputs -----------------------------------------------------------------------------------------------

def test_every_stack_output_fills_its_own_setting():
    setting_names = {item.name for item in dataclasses.fields(PipelineSettings)}
    assert set(OUTPUT_SETTINGS.values()) <= setting_names
    assert len(set(OUTPUT_SETTINGS.values())) == len(OUTPUT_SETTINGS) == 11


def test_the_outputs_are_read_by_key_and_a_missing_stack_is_none(aws, outputs):
    assert set(outputs) == set(OUTPUT_SETTINGS)
    assert outputs["DataBucketName"] == BUCKET
    assert outputs["ExecutionRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    assert stack_outputs(aws.client("cloudformation"), "tweetops-prod") is None


def test_other_cloudformation_errors_are_not_taken_for_a_missing_stack(aws):
    # moto lets every caller describe every stack: a refusal needs a stub (Stubber validates the request against
    # botocore's DescribeStacks shape).
    client = aws.client("cloudformation")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_stacks", service_error_code="AccessDenied", http_status_code=403,
                                 service_message="not authorized to perform cloudformation:DescribeStacks",
                                 expected_params={"StackName": STACK})
        with pytest.raises(ClientError, match="AccessDenied"):
            stack_outputs(client, STACK)


class OneClient:
    """A boto3 session that hands out one (stubbed) client."""

    def __init__(self, client):
        self._client = client

    def client(self, service_name: str, **kwargs):
        return self._client


def test_a_stack_the_caller_may_not_read_is_refused_with_how_to_do_without_it(aws):
    client = aws.client("cloudformation")
    with Stubber(client) as stubber:  # a refusal needs a stub, as above
        stubber.add_client_error("describe_stacks", service_error_code="AccessDenied", http_status_code=403,
                                 service_message="not authorized", expected_params={"StackName": STACK})
        with pytest.raises(SettingsError, match=f"^stack {STACK}: cannot read its outputs \\(AWS: .*AccessDenied.*"
                                                "pass --stack '' \\(or set stack_name to ''\\) to read no stack$"):
            with_stack_outputs(PipelineSettings(), frozenset(), OneClient(client))


def test_every_setting_not_given_comes_from_the_stack(aws, outputs):
    settings = with_stack_outputs(PipelineSettings(), explicit=frozenset(), boto_session=aws)
    assert (settings.role_arn, settings.bucket, settings.prefix, settings.kms_key_id) == (
        outputs["ExecutionRoleArn"], BUCKET, "tweetops", outputs["KmsKeyArn"])
    assert settings.image_uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops-dev:{package_version()}"
    assert settings.review_queue_url == outputs["ReviewQueueUrl"] and settings.review_queue_url.endswith(
        "/tweetops-dev-review")
    assert (settings.model_package_group, settings.pipeline_name, settings.inference_pipeline_name,
            settings.evolution_pipeline_name) == ("tweetops-dev-classifier", "tweetops-dev-training",
                                                  "tweetops-dev-inference", "tweetops-dev-evolution")
    assert settings.alarm_topic_arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:tweetops-dev-alarms"


def test_settings_given_in_the_config_file_environment_or_as_flags_win_over_the_outputs(aws, tmp_path, outputs):
    (tmp_path / "tweetops.yaml").write_text("bucket: from-the-file\n")
    settings, explicit = load_settings_with_sources(environ={"TWEETOPS_ROLE_ARN": OTHER_ROLE},
                                                    pipeline_name="from-a-flag", kms_key_id=None)
    filled = with_stack_outputs(settings, explicit, aws)
    assert (filled.bucket, filled.role_arn, filled.pipeline_name) == ("from-the-file", OTHER_ROLE, "from-a-flag")
    assert filled.kms_key_id == outputs["KmsKeyArn"]  # the flag was not given (None)
    assert filled.inference_pipeline_name == "tweetops-dev-inference"


def test_no_stack_name_or_no_such_stack_leaves_the_settings_as_they_are(aws):
    assert with_stack_outputs(PipelineSettings(stack_name=""), frozenset(), aws) == PipelineSettings(stack_name="")
    missing = PipelineSettings(stack_name="tweetops-prod")
    assert with_stack_outputs(missing, frozenset(), aws) == missing
    with pytest.raises(SettingsError, match="or deploy infra/ \\(stack tweetops-prod not found in us-east-1\\)$"):
        require_role(missing)
    with pytest.raises(SettingsError, match="or deploy infra/ and name its stack with --stack$"):
        require_role(PipelineSettings(stack_name=""))


def test_a_malformed_output_is_named_with_its_stack(aws):
    aws.client("cloudformation").create_stack(StackName="broken",
                                              TemplateBody=template("broken", ExecutionRoleArn="admin"))
    with pytest.raises(SettingsError, match="^stack broken outputs: role_arn 'admin' is not an IAM role ARN"):
        with_stack_outputs(PipelineSettings(stack_name="broken"), frozenset(), aws)


# --- the CLI ---------------------------------------------------------------------------------------------------

class ExecutionSteps:
    """moto has no ListPipelineExecutionSteps (which `pipeline status` calls): a validated stand-in answering none."""

    def __init__(self):
        self.calls = []

    def install(self, client) -> None:
        client.list_pipeline_execution_steps = validated_call(
            client, "ListPipelineExecutionSteps", lambda **params: {"PipelineExecutionSteps": []}, self.calls)


def test_pipeline_upsert_start_and_status_with_no_flags_use_the_stacks_role_bucket_key_image_and_name(
        aws, outputs, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(main, ["pipeline", "upsert"])
    assert result.exit_code == 0, result.output
    assert "upserted tweetops-dev-training" in result.output
    described, defaults = _pipeline(aws, "tweetops-dev-training")
    assert described["RoleArn"] == outputs["ExecutionRoleArn"]
    assert defaults["InputDataUri"] == f"s3://{BUCKET}/tweetops/raw/"
    assert defaults["KmsKeyId"] == outputs["KmsKeyArn"]
    assert defaults["ImageUri"] == f"{outputs['ImageRepositoryUri']}:{package_version()}"
    # the intentionally empty input went to the stack's bucket
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="tweetops/empty/")["KeyCount"] == 1
    steps = stub_every_sagemaker_client(monkeypatch, ExecutionSteps())
    started = runner.invoke(main, ["pipeline", "start", "--param", "K=20"])
    assert started.exit_code == 0, started.output
    assert ":pipeline/tweetops-dev-training/execution/" in started.output
    status = runner.invoke(main, ["pipeline", "status"])  # the latest execution of the stack's training pipeline
    assert status.exit_code == 0 and ":pipeline/tweetops-dev-training/execution/" in status.output, status.output
    assert [params["PipelineExecutionArn"] for _, params in steps.calls] == [started.output.split()[-1]]


def test_the_inference_and_evolution_pipelines_are_upserted_under_the_stacks_names_and_review_queue(aws, outputs):
    runner = CliRunner()
    for which, name in (("inference", "tweetops-dev-inference"), ("evolution", "tweetops-dev-evolution")):
        result = runner.invoke(main, ["pipeline", "upsert", "--pipeline-type", which])
        assert result.exit_code == 0 and f"upserted {name}" in result.output, result.output
    assert _pipeline(aws, "tweetops-dev-inference")[1]["InputDataUri"] == f"s3://{BUCKET}/tweetops/incoming/"
    review = [step for step in json.loads(_pipeline(aws, "tweetops-dev-evolution")[0]["PipelineDefinition"])["Steps"]
              if step["Type"] == "Callback"]
    assert [step["SqsQueueUrl"] for step in review] == [outputs["ReviewQueueUrl"]]


def test_a_flag_or_an_environment_value_wins_over_the_stacks_output(aws, monkeypatch):
    aws.client("s3").create_bucket(Bucket="my-own-bucket")
    monkeypatch.setenv("TWEETOPS_ROLE_ARN", OTHER_ROLE)
    result = CliRunner().invoke(main, ["pipeline", "upsert", "--bucket", "my-own-bucket"])
    assert result.exit_code == 0, result.output
    described, defaults = _pipeline(aws, "tweetops-dev-training")
    assert described["RoleArn"] == OTHER_ROLE
    assert defaults["InputDataUri"] == "s3://my-own-bucket/tweetops/raw/"


def test_definition_reads_the_stack_only_when_named_with_stack(aws, outputs):
    runner = CliRunner()
    offline = runner.invoke(main, ["pipeline", "definition", "--role-arn", OTHER_ROLE])
    assert offline.exit_code == 0, offline.output
    parameters = {item["Name"]: item.get("DefaultValue") for item in json.loads(offline.output)["Parameters"]}
    assert parameters["InputDataUri"] == f"s3://sagemaker-{REGION}-{ACCOUNT}/tweetops/raw/"
    assert runner.invoke(main, ["pipeline", "definition"]).exit_code == 1  # no role given, no stack read
    named = runner.invoke(main, ["pipeline", "definition", "--stack", STACK])
    assert named.exit_code == 0, named.output
    parameters = {item["Name"]: item.get("DefaultValue") for item in json.loads(named.output)["Parameters"]}
    assert parameters["InputDataUri"] == f"s3://{BUCKET}/tweetops/raw/"
    assert parameters["KmsKeyId"] == outputs["KmsKeyArn"]


def test_without_the_stack_upsert_behaves_as_before_or_says_how_to_give_a_role(aws):
    aws.client("s3").create_bucket(Bucket=f"sagemaker-{REGION}-{ACCOUNT}")
    runner = CliRunner()
    result = runner.invoke(main, ["pipeline", "upsert", "--stack", "tweetops-prod", "--role-arn", OTHER_ROLE])
    assert result.exit_code == 0 and "upserted tweetops-training" in result.output, result.output
    assert _pipeline(aws, "tweetops-training")[1]["InputDataUri"] == f"s3://sagemaker-{REGION}-{ACCOUNT}/tweetops/raw/"
    refused = runner.invoke(main, ["pipeline", "upsert", "--stack", "tweetops-prod"])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        "Error: no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN, put role_arn in the config file, or deploy "
        "infra/ (stack tweetops-prod not found in us-east-1)"]


def test_monitoring_setup_with_no_flags_points_the_alarms_at_the_stacks_topic(aws, outputs):
    result = CliRunner().invoke(main, ["monitoring", "setup", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["topic"]["arn"] == outputs["AlarmTopicArn"] and answer["topic"]["status"] == "existing"
    assert [topic["TopicArn"] for topic in aws.client("sns").list_topics()["Topics"]] == [outputs["AlarmTopicArn"]]
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix="tweetops-")["MetricAlarms"]
    assert alarms and {alarm["AlarmActions"][0] for alarm in alarms} == {outputs["AlarmTopicArn"]}
    assert "tweetops-tweetops-dev-inference-data-drift" in {alarm["AlarmName"] for alarm in alarms}


def test_the_sagemaker_registry_lists_the_stacks_model_package_group(aws):
    client = aws.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName="tweetops-dev-classifier")
    package = client.create_model_package(
        ModelPackageGroupName="tweetops-dev-classifier", InferenceSpecification={
            "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tweetops-dev:0.1.0"}],
            "SupportedContentTypes": ["application/jsonlines"],
            "SupportedResponseMIMETypes": ["application/jsonlines"]})["ModelPackageArn"]
    result = CliRunner().invoke(main, ["registry", "list", "--backend", "sagemaker", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["arn"] for row in json.loads(result.output)] == [package]
