"""Reading the synthesized template's IAM as AWS evaluates it, for the persona and least-privilege specifications.

`Policies(template).allows(role, action, resource)` gathers every identity policy attached to a role in the template
(managed and inline), resolves CloudFormation's intrinsic functions to the ARNs the resources would have in account
123456789012, us-east-1, and applies IAM's evaluation logic for one account: an explicit Deny wins, then an Allow,
else implicit deny; Action and Resource wildcards (`*`, `?`); the condition operators the stack uses, with
`...IfExists` and negated operators true for a missing key, as IAM does. A resource policy (the model package
group's) is evaluated beside the identity policies. Anything the resolver does not know raises, so a specification
never passes on a value it could not read.
"""
from __future__ import annotations

import re
from typing import Any

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "tweetops-dev",
          "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/tweetops-dev/0a1b2c3d"}


class Policies:
    """The template's identity policies by role, and its resources' ARNs, resolved."""

    def __init__(self, template: dict) -> None:
        self.resources = template["Resources"]

    # --- resolving intrinsic functions -----------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """`value` with Ref, Fn::GetAtt and Fn::Join replaced by what they would be in the test account."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return PSEUDO.get(value["Ref"]) or self.name(value["Ref"])
        if "Fn::GetAtt" in value:
            return self.attribute(*value["Fn::GetAtt"])
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(str(self.resolve(part)) for part in parts)
        if len(value) == 1 and next(iter(value)).startswith("Fn::"):
            raise ValueError(f"cannot resolve {value}")
        return {key: self.resolve(item) for key, item in value.items()}

    def name(self, logical_id: str) -> str:
        """What Ref returns for a resource (its physical name or id)."""
        resource = self.resources[logical_id]
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::S3::Bucket":
            return properties.get("BucketName") or logical_id.lower()
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{properties.get('QueueName') or logical_id}"
        if kind == "AWS::ECR::Repository":
            return properties.get("RepositoryName") or logical_id.lower()
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{logical_id}"
        return logical_id

    def attribute(self, logical_id: str, attribute: str) -> str:
        """What Fn::GetAtt returns for the attributes the stack's policies use."""
        resource = self.resources[logical_id]
        kind, properties = resource["Type"], resource.get("Properties", {})
        arns = {
            "AWS::S3::Bucket": lambda: f"arn:aws:s3:::{self.name(logical_id)}",
            "AWS::KMS::Key": lambda: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id}",
            "AWS::IAM::Role": lambda: f"arn:aws:iam::{ACCOUNT}:role/{logical_id}",
            "AWS::ECR::Repository": lambda: f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{self.name(logical_id)}",
            "AWS::SQS::Queue": lambda: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{properties.get('QueueName') or logical_id}",
            "AWS::Logs::LogGroup": lambda: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*",
            "AWS::SageMaker::ModelPackageGroup":
                lambda: f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{properties['ModelPackageGroupName']}",
            "AWS::Lambda::Function": lambda: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}",
            "AWS::CloudWatch::Alarm":
                lambda: f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{properties.get('AlarmName') or logical_id}",
            "AWS::CloudTrail::Trail": lambda: f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{logical_id}",
            "AWS::IAM::OIDCProvider":
                lambda: f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
        }
        if attribute in ("Arn", "ModelPackageGroupArn") and kind in arns:
            return arns[kind]()
        raise ValueError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")

    # --- policies ------------------------------------------------------------------------------------------------
    def role_id(self, description_part: str) -> str:
        """The logical id of the one role whose description contains `description_part`."""
        found = [name for name, resource in self.resources.items() if resource["Type"] == "AWS::IAM::Role"
                 and description_part in resource["Properties"].get("Description", "")]
        if len(found) != 1:
            raise LookupError(f"{len(found)} roles described with {description_part!r}")
        return found[0]

    def role_arn(self, role_id: str) -> str:
        return self.attribute(role_id, "Arn")

    def statements(self, role_id: str) -> list[dict]:
        """Every identity policy statement that applies to the role, resolved."""
        reference = {"Ref": role_id}
        documents = []
        role = self.resources[role_id]["Properties"]
        documents += [policy["PolicyDocument"] for policy in role.get("Policies", [])]
        if role.get("ManagedPolicyArns"):
            raise ValueError(f"{role_id} has AWS managed policies: their statements are not in the template")
        for resource in self.resources.values():
            if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") \
                    and reference in resource["Properties"].get("Roles", []):
                documents.append(resource["Properties"]["PolicyDocument"])
        return [statement for document in documents for statement in _as_list(self.resolve(document)["Statement"])]

    def allows(self, role_id: str, action: str, resource: str, context: dict | None = None,
               resource_policy: dict | None = None) -> bool:
        """Whether IAM would let the role call `action` on `resource` (with the request's condition `context`)."""
        context = {"aws:PrincipalArn": self.role_arn(role_id), **(context or {})}
        statements = self.statements(role_id)
        if resource_policy is not None:
            statements += _as_list(self.resolve(resource_policy)["Statement"])
        matching = [statement for statement in statements if _applies(statement, action, resource, context)]
        if any(statement["Effect"] == "Deny" for statement in matching):
            return False
        return any(statement["Effect"] == "Allow" for statement in matching)


def wildcard_admin_statements(template: dict) -> list[dict]:
    """Allow statements anywhere in the template with Action `*` (or `*:*`) on Resource `*`."""
    found = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Effect") == "Allow" and {"*", "*:*"} & set(_as_list(node.get("Action"))) \
                    and "*" in _as_list(node.get("Resource")):
                found.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(template["Resources"])
    return found


def _applies(statement: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in statement and not any(_like(pattern, action, ignore_case=True)
                                         for pattern in _as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(_like(pattern, action, ignore_case=True)
                                        for pattern in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(_like(pattern, resource) for pattern in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(_like(pattern, resource) for pattern in _as_list(statement["NotResource"])):
        return False
    return all(_condition(operator, key, expected, context)
               for operator, block in statement.get("Condition", {}).items() for key, expected in block.items())


def _condition(operator: str, key: str, expected: Any, context: dict) -> bool:
    """One condition key under one operator (IAM's rules for missing keys, lists and negation)."""
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists or "Not" in base
    values, actual = [str(value).lower() if base == "Bool" else str(value) for value in _as_list(expected)], context[key]
    actual = str(actual).lower() if base == "Bool" else str(actual)
    tests = {
        "StringEquals": lambda: actual in values, "StringNotEquals": lambda: actual not in values,
        "StringLike": lambda: any(_like(value, actual) for value in values),
        "StringNotLike": lambda: not any(_like(value, actual) for value in values),
        "ArnEquals": lambda: actual in values, "ArnNotEquals": lambda: actual not in values,
        "ArnLike": lambda: any(_like(value, actual) for value in values),
        "ArnNotLike": lambda: not any(_like(value, actual) for value in values),
        "Bool": lambda: actual in values,
    }
    if base not in tests:
        raise ValueError(f"condition operator {operator} is not understood by this reader")
    return tests[base]()


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character, everything else literal."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE if ignore_case else 0) is not None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]
