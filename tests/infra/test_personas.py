"""Specification of who may do what in the estate: each persona's promises, read from the synthesized policies as IAM
evaluates them (tests/infra/iam.py), and the persona matrix of docs/infrastructure.md is exactly what they allow."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.infra.iam import ACCOUNT, REGION, Policies, wildcard_admin_statements

pytestmark = pytest.mark.xdist_group("infra")

ROOT = Path(__file__).resolve().parents[2]
GROUP = "tweetops-message-classifier"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/3"
PIPELINE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{{}}"
PERSONAS = ("DataScientist", "DataEngineer", "MLEngineer", "Analyst", "Admin")


@pytest.fixture(scope="module")
def iam(synthesized) -> Policies:
    return Policies(synthesized.template)


def data(iam: Policies, key: str) -> str:
    """The ARN of an object in the data bucket."""
    bucket = next(name for name, resource in iam.resources.items() if resource["Type"] == "AWS::S3::Bucket"
                  and "Data" in name)
    return f"arn:aws:s3:::{iam.name(bucket)}/{key}"


def role(iam: Policies, persona: str) -> str:
    return iam.role_id(f": {persona} persona")


def group_policy(iam: Policies) -> dict:
    (group,) = [resource for resource in iam.resources.values() if resource["Type"] == "AWS::SageMaker::ModelPackageGroup"]
    return group["Properties"]["ModelPackageGroupPolicy"]


def approves(iam: Policies, role_id: str) -> bool:
    """Whether a role can change a package's approval status, identity policies and the group's policy together."""
    return iam.allows(role_id, "sagemaker:UpdateModelPackage", PACKAGE, resource_policy=group_policy(iam))


# (capability, action, resource(iam)) rows of the persona matrix in docs/infrastructure.md
CAPABILITIES = [
    ("upsert a pipeline", "sagemaker:UpdatePipeline", lambda iam: PIPELINE.format("tweetops-training")),
    ("start training", "sagemaker:StartPipelineExecution", lambda iam: PIPELINE.format("tweetops-training")),
    ("start inference", "sagemaker:StartPipelineExecution", lambda iam: PIPELINE.format("tweetops-batch-inference")),
    ("approve a model package", "sagemaker:UpdateModelPackage", lambda iam: PACKAGE),
    ("read a model package", "sagemaker:DescribeModelPackage", lambda iam: PACKAGE),
    ("upload raw data", "s3:PutObject", lambda iam: data(iam, "tweetops/raw/batch.csv")),
    ("read raw data", "s3:GetObject", lambda iam: data(iam, "tweetops/raw/batch.csv")),
    ("read quarantine", "s3:GetObject", lambda iam: data(iam, "tweetops/quarantine/e1/quarantine.jsonl")),
    ("read processed data", "s3:GetObject", lambda iam: data(iam, "tweetops/executions/e1/processed/part.parquet")),
    ("read reports", "s3:GetObject", lambda iam: data(iam, "tweetops/executions/e1/reports/validation/report.html")),
    ("read a model artifact", "s3:GetObject", lambda iam: data(iam, "tweetops/executions/e1/model/model.tar.gz")),
    ("write a reviewed category map", "s3:PutObject", lambda iam: data(iam, "tweetops/category-maps/v2/category_map.yaml")),
    ("upload review decisions", "s3:PutObject", lambda iam: data(iam, "tweetops/evolution/e9/decisions.yaml")),
    ("query the tables (Athena)", "athena:StartQueryExecution",
     lambda iam: f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/tweetops-dev-{{persona}}"),
    ("read the batch metrics table", "s3:GetObject",
     lambda iam: data(iam, "tweetops/monitoring-metrics/date=2024-03-04/e1.parquet")),
    ("write the catalog", "glue:CreateTable", lambda iam: f"arn:aws:glue:{REGION}:{ACCOUNT}:table/tweetops_dev/predictions"),
]


def matrix(iam: Policies) -> dict[str, dict[str, bool]]:
    """capability -> persona -> allowed."""
    result = {}
    for capability, action, resource in CAPABILITIES:
        result[capability] = {}
        for persona in PERSONAS:
            role_id = role(iam, persona)
            target = resource(iam).replace("{persona}", persona.lower())
            result[capability][persona] = approves(iam, role_id) if action == "sagemaker:UpdateModelPackage" \
                else iam.allows(role_id, action, target)
    return result


def test_the_data_scientist_cannot_approve_a_model_package_and_the_ml_engineer_can(iam):
    assert not approves(iam, role(iam, "DataScientist"))
    assert approves(iam, role(iam, "MLEngineer"))


def test_only_the_ml_engineer_and_the_admin_may_approve_whatever_their_identity_policies_grant(iam):
    # The group's resource policy denies every other principal, so a role later given sagemaker:* still cannot.
    deny = group_policy(iam)
    for persona in ("DataScientist", "DataEngineer", "Analyst"):
        widened = iam.allows(role(iam, persona), "sagemaker:UpdateModelPackage", PACKAGE, resource_policy={
            "Statement": [*deny["Statement"], {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]})
        assert widened is False, persona
    assert [persona for persona in PERSONAS if approves(iam, role(iam, persona))] == ["MLEngineer", "Admin"]


def test_the_data_scientist_upserts_and_starts_pipelines_and_reads_processed_data_only(iam):
    scientist = role(iam, "DataScientist")
    for pipeline in ("tweetops-training", "tweetops-batch-inference", "tweetops-evolution"):
        assert iam.allows(scientist, "sagemaker:CreatePipeline", PIPELINE.format(pipeline))
        assert iam.allows(scientist, "sagemaker:StartPipelineExecution", PIPELINE.format(pipeline))
    assert not iam.allows(scientist, "sagemaker:StartPipelineExecution", PIPELINE.format("someone-elses"))
    assert iam.allows(scientist, "s3:GetObject", data(iam, "tweetops/executions/e1/processed/part.parquet"))
    assert not iam.allows(scientist, "s3:GetObject", data(iam, "tweetops/raw/batch.csv"))
    assert not iam.allows(scientist, "s3:PutObject", data(iam, "tweetops/executions/e1/processed/part.parquet"))


def test_people_hand_the_execution_role_to_sagemaker_and_to_nothing_else(iam):
    execution = iam.role_arn(iam.role_id("pipelines and their jobs"))
    scientist = role(iam, "DataScientist")
    assert iam.allows(scientist, "iam:PassRole", execution, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not iam.allows(scientist, "iam:PassRole", execution, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_execution_role_cannot_read_outside_its_prefix(iam):
    execution = iam.role_id("pipelines and their jobs")
    assert iam.allows(execution, "s3:GetObject", data(iam, "tweetops/raw/batch.csv"))
    assert iam.allows(execution, "s3:PutObject", data(iam, "tweetops/executions/e1/model/model.tar.gz"))
    assert not iam.allows(execution, "s3:GetObject", data(iam, "other-project/raw/batch.csv"))
    assert not iam.allows(execution, "s3:GetObject", "arn:aws:s3:::another-bucket/tweetops/raw/batch.csv")
    log_bucket = next(name for name in iam.resources if name.startswith("StorageLogBucket")
                      and iam.resources[name]["Type"] == "AWS::S3::Bucket")
    assert not iam.allows(execution, "s3:GetObject", f"arn:aws:s3:::{iam.name(log_bucket)}/cloudtrail/x.json.gz")
    assert not iam.allows(execution, "s3:ListBucket", data(iam, "")[:-1], {"s3:prefix": "other-project/"})
    assert iam.allows(execution, "s3:ListBucket", data(iam, "")[:-1], {"s3:prefix": "tweetops/raw/"})


def test_the_execution_role_cannot_approve_or_touch_other_pipelines_images_or_metrics(iam):
    execution = iam.role_id("pipelines and their jobs")
    assert not approves(iam, execution)
    assert not iam.allows(execution, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other")
    assert iam.allows(execution, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "tweetops"})
    assert not iam.allows(execution, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/Billing"})


def test_a_deliberately_widened_policy_breaks_the_prefix_promise(synthesized):
    # The specification above is not vacuous: one Allow of s3:GetObject on every object is enough to fail it.
    template = copy.deepcopy(synthesized.template)
    widened = Policies(template)
    execution = widened.role_id("pipelines and their jobs")
    policy = next(resource for resource in template["Resources"].values()
                  if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": execution} in resource["Properties"]["Roles"])
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert widened.allows(execution, "s3:GetObject", "arn:aws:s3:::another-bucket/tweetops/raw/batch.csv")


def test_the_analyst_writes_maps_and_decisions_but_not_proposals(iam):
    analyst = role(iam, "Analyst")
    assert iam.allows(analyst, "s3:PutObject", data(iam, "tweetops/category-maps/v2/category_map.yaml"))
    assert iam.allows(analyst, "s3:PutObject", data(iam, "tweetops/evolution/e9/decisions.yaml"))
    assert not iam.allows(analyst, "s3:PutObject", data(iam, "tweetops/evolution/e9/proposal.json"))
    assert not iam.allows(analyst, "s3:GetObject", data(iam, "tweetops/raw/batch.csv"))


def test_people_assume_persona_roles_only_with_mfa_and_ci_only_from_main_or_production(iam):
    for persona in PERSONAS:
        trust = iam.resolve(iam.resources[role(iam, persona)]["Properties"]["AssumeRolePolicyDocument"])
        people = [statement for statement in trust["Statement"] if "AWS" in statement.get("Principal", {})]
        assert people and all(statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
                              for statement in people), persona
    ci = iam.resolve(iam.resources[iam.role_id("GitHub Actions")]["Properties"]["AssumeRolePolicyDocument"])
    (statement,) = ci["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    assert sorted(statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]) == [
        "repo:your-org/tweetops:environment:production", "repo:your-org/tweetops:ref:refs/heads/main"]


def test_no_statement_allows_every_action_on_every_resource(synthesized):
    assert wildcard_admin_statements(synthesized.template) == []


def test_the_persona_matrix_in_the_docs_is_what_the_policies_allow(iam):
    text = (ROOT / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    documented = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in {capability for capability, _, _ in CAPABILITIES}:
            documented[cells[0]] = {persona: cell == "yes" for persona, cell in zip(PERSONAS, cells[1:])}
    assert documented == matrix(iam)


def print_matrix(iam: Policies) -> str:  # pragma: no cover - used to write the docs table
    rows = ["| can | " + " | ".join(PERSONAS) + " |", "|---|" + "---|" * len(PERSONAS)]
    for capability, allowed in matrix(iam).items():
        rows.append(f"| {capability} | " + " | ".join("yes" if allowed[p] else "no" for p in PERSONAS) + " |")
    return "\n".join(rows)

