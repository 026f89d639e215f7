"""Suppressions, each with its reason, in one form for both checkers that read the synthesized template:
cdk-nag rules (`AwsSolutions-...`) become CDK acknowledgements, checkov checks (`CKV_...`) the resource's
`Metadata.checkov.skip` entries. tests/infra/test_checks.py counts them and prints every reason."""
from __future__ import annotations

import json

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

WILDCARDS = "tweetops:acknowledge-wildcards"  # construct metadata: the reason its policies' wildcards are needed


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Suppress one cdk-nag rule or checkov check on `construct` (for checkov: its CloudFormation resource)."""
    if not reason.strip():
        raise ValueError(f"{rule}: a suppression needs its reason")
    if rule == "AwsSolutions-IAM5":
        # cdk-nag 3 reports one finding per wildcard ("AwsSolutions-IAM5[Resource::...]") and acknowledges only
        # exact findings; expand_wildcard_acknowledgements lists them once the policies are complete.
        construct.node.add_metadata(WILDCARDS, reason)
    elif rule.startswith("CKV"):
        resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
        if not isinstance(resource, CfnResource):
            raise ValueError(f"{rule}: {construct.node.path} has no CloudFormation resource to carry the skip")
        metadata = resource.cfn_options.metadata or {}
        metadata.setdefault("checkov", {}).setdefault("skip", []).append({"id": rule, "comment": reason})
        resource.cfn_options.metadata = metadata
    else:
        Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def expand_wildcard_acknowledgements(stack: Stack) -> int:
    """Acknowledge each wildcard finding of every policy under a construct given a reason for its wildcards (the
    findings computed as cdk-nag's IAM5 rule does); returns how many. Call once the stack is complete."""
    count = 0
    for node in stack.node.find_all():
        if not isinstance(node, (iam.CfnPolicy, iam.CfnManagedPolicy)):
            continue
        reason = _inherited_reason(node)
        if reason is None:
            continue
        for finding in wildcard_findings(stack.resolve(node.policy_document)):
            Validations.of(node).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason))
            count += 1
    return count


def wildcard_findings(document: dict) -> list[str]:
    """cdk-nag IAM5's findings of a resolved policy document: `Action::<a>` and `Resource::<flattened r>` for each
    wildcard in an Allow statement (cdk-nag's rules/iam/IAMNoWildcardPermissions and utils/flatten-cfn-reference)."""
    findings: dict[str, None] = {}
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                findings[f"Action::{action}"] = None
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_reference(resource)
            if "*" in flat:
                findings[f"Resource::{flat}"] = None
    return list(findings)


def flatten_reference(node) -> str:
    """A CloudFormation value as one string, intrinsic functions as cdk-nag writes them (`<Logical.Attr>`, `<Ref>`)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter, items = node["Fn::Join"]
        return delimiter.join(flatten_reference(item) for item in items)
    if isinstance(node, dict) and "Fn::Sub" in node:
        return flatten_reference(node["Fn::Sub"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
    if isinstance(node, dict) and "Fn::ImportValue" in node:
        return flatten_reference(node["Fn::ImportValue"])
    if isinstance(node, dict) and "Ref" in node:
        return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _inherited_reason(node: IConstruct) -> str | None:
    current = node
    while current is not None:
        for entry in current.node.metadata:
            if entry.type == WILDCARDS:
                return entry.data
        current = current.node.scope
    return None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]
