"""Specification that the estate and the CLI fit together: the synthesized template deploys to moto's CloudFormation
(the resource types moto implements; the others are named and left out), and `tweetops pipeline upsert` with no
flag at all upserts each pipeline with the stack's role, bucket, key and image."""
from __future__ import annotations

import copy
import json
import warnings

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map

from pipelines.cli import main
from pipelines.operations import package_version
from tests.infra.iam import ACCOUNT, REGION, Policies

pytestmark = pytest.mark.xdist_group("infra")

STACK = "tweetops-dev"


def deployable(template: dict) -> tuple[dict, list[str]]:
    """The template with the resources moto's CloudFormation does not implement left out (and what referred to
    them given the value AWS would), and the left-out types."""
    known = get_model_map()
    resolver = Policies(template)
    left_out = {name for name, resource in template["Resources"].items() if resource["Type"] not in known}
    kept = copy.deepcopy(template)
    for name in left_out:
        del kept["Resources"][name]

    def replace(node):
        if isinstance(node, dict):
            if node.get("Ref") in left_out:
                return resolver.name(node["Ref"])
            if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] in left_out:
                return resolver.attribute(*node["Fn::GetAtt"])
            return {key: replace(value) for key, value in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return node

    kept = replace(kept)
    for resource in kept["Resources"].values():
        depends = resource.get("DependsOn")
        if depends:
            resource["DependsOn"] = [name for name in ([depends] if isinstance(depends, str) else depends)
                                     if name not in left_out]
        if resource["Type"] == "AWS::KMS::Key":
            # moto 5.2.5's KMS model hands CloudFormation's {Key, Value} tags to a tagger that expects
            # {TagKey, TagValue} (KeyError 'TagKey'); the tags are specified by tests/infra/test_template.py.
            resource["Properties"].pop("Tags", None)
    return kept, sorted({template["Resources"][name]["Type"] for name in left_out})


@pytest.fixture
def deployed(synthesized, monkeypatch, tmp_path):
    """moto with the estate deployed as stack tweetops-dev; no TWEETOPS_* setting, no ./tweetops.yaml."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("CONFIG", "STACK_NAME", "ROLE_ARN", "BUCKET", "REGION", "KMS_KEY_ID", "IMAGE_URI"):
        monkeypatch.delenv(f"TWEETOPS_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    template, left_out = deployable(synthesized.template)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns about the types it skips: listed in `left_out`
            session.client("cloudformation").create_stack(
                StackName=STACK, TemplateBody=json.dumps(template),
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        yield session, left_out


def outputs(session) -> dict[str, str]:
    (stack,) = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def test_the_estate_deploys_to_moto_and_says_what_moto_does_not_implement(deployed):
    session, left_out = deployed
    (stack,) = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    print(f"\ndeployed to moto: {stack['StackStatus']}; left out (not in moto's CloudFormation): {', '.join(left_out)}")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "AWS::S3::Bucket" not in left_out and "AWS::IAM::Role" not in left_out
    values = outputs(session)
    # (moto's bucket model applies encryption and tags but not versioning: test_template.py specifies that)
    encryption = session.client("s3").get_bucket_encryption(Bucket=values["DataBucketName"])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == values["KmsKeyArn"]
    assert session.client("kms").get_key_rotation_status(KeyId=values["KmsKeyArn"])["KeyRotationEnabled"]
    role = values["ExecutionRoleArn"].rsplit("/", 1)[1]
    assert session.client("iam").get_role(RoleName=role)["Role"]["Arn"] == values["ExecutionRoleArn"]


@pytest.mark.parametrize("which", ["training", "inference", "evolution"])
def test_pipeline_upsert_needs_no_flag_after_a_deploy(deployed, which):
    session, _ = deployed
    values = outputs(session)
    result = CliRunner().invoke(main, ["pipeline", "upsert", "--pipeline-type", which])
    assert result.exit_code == 0, result.output
    name = values[{"training": "TrainingPipelineName", "inference": "InferencePipelineName",
                   "evolution": "EvolutionPipelineName"}[which]]
    assert f"upserted {name}" in result.output
    described = session.client("sagemaker").describe_pipeline(PipelineName=name)
    assert described["RoleArn"] == values["ExecutionRoleArn"]
    definition = json.loads(described["PipelineDefinition"])
    defaults = {parameter["Name"]: parameter.get("DefaultValue") for parameter in definition["Parameters"]}
    assert defaults["KmsKeyId"] == values["KmsKeyArn"]
    assert defaults["ImageUri"] == f"{values['ImageRepositoryUri']}:{package_version()}"
    assert f"s3://{values['DataBucketName']}/{values['Prefix']}/" in described["PipelineDefinition"]
    assert values["ImageRepositoryUri"].startswith(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/")
