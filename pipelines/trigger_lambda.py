"""Pipelines started by events on AWS: an AWS Lambda function (handler `pipelines.trigger_lambda.handler`), the
target of the EventBridge rules the CDK app (infra/) makes with the patterns of pipelines/events.py.
docs/pipeline.md ("On AWS: triggers").

* a model package of MODEL_PACKAGE_GROUP approved -> the batch-inference pipeline, scoring with that package;
* an object created under INCOMING_PREFIX -> the batch-inference pipeline with InputDataUri=s3://bucket/key and the
  group's latest approved package;
* a schedule, whose target input is events.scheduled_input("inference" | "evolution", <event id>, <event time>)
  -> that pipeline with the latest approved package (and the input's optional parameters).

Each event becomes one StartPipelineExecution with the parameters the CLI gives for a package
(register.registry.monitoring_parameters for inference, operations.evolution_parameters for evolution) and a
ClientRequestToken derived from the event's id: EventBridge delivers at least once and Lambda retries, SageMaker
starts one execution per token. With no approved package nothing starts and the result says why
({"skipped": reason}); an event the function cannot read, or a missing setting, raises TriggerError (one line).

Environment: INFERENCE_PIPELINE and EVOLUTION_PIPELINE (pipeline names), MODEL_PACKAGE_GROUP, INCOMING_PREFIX
(s3://<bucket>/<prefix>/incoming/).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Mapping
from urllib.parse import unquote_plus, urlparse

import boto3

from pipelines.events import MODEL_PACKAGE_STATE_CHANGE, OBJECT_CREATED, SCHEDULED_PIPELINES
from pipelines.operations import evolution_parameters
from register.local import RegistryError
from register.registry import monitoring_parameters
from register.sagemaker import SageMakerModelRegistry

PIPELINE_VARIABLES = {"inference": "INFERENCE_PIPELINE", "evolution": "EVOLUTION_PIPELINE"}
MAX_DESCRIPTION = 3072  # StartPipelineExecution's PipelineExecutionDescription limit


class TriggerError(ValueError):
    """An event the function cannot act on, or a setting it lacks."""


def handler(event: dict, context=None) -> dict:
    """Start the pipeline the event calls for; returns (and logs) what started, or why nothing did."""
    result = trigger(event, os.environ, boto3.Session().client("sagemaker"))
    print(json.dumps(result, sort_keys=True))  # the function's log (CloudWatch Logs)
    return result


def trigger(event: dict, environ: Mapping[str, str], sagemaker) -> dict:
    """plan() carried out with a boto3 `sagemaker` client: {"started": execution ARN, ...} or {"skipped": reason}."""
    planned = plan(event, environ, SageMakerModelRegistry(sagemaker))
    if "skipped" in planned:
        return planned
    response = sagemaker.start_pipeline_execution(
        PipelineName=planned["pipeline_name"], PipelineExecutionDescription=planned["description"],
        PipelineParameters=[{"Name": name, "Value": value} for name, value in sorted(planned["parameters"].items())],
        ClientRequestToken=planned["client_request_token"])
    return {"started": response["PipelineExecutionArn"], **planned}


def plan(event: dict, environ: Mapping[str, str], registry) -> dict:
    """The execution an event calls for: pipeline, pipeline_name, parameters, description, client_request_token;
    or {"skipped": reason}. `registry` is a SageMakerModelRegistry (or anything with its methods)."""
    if not isinstance(event, dict):
        raise TriggerError(f"expected an EventBridge event (a JSON object), got {type(event).__name__}")
    token = request_token(event)
    if event.get("source") == "aws.sagemaker" and event.get("detail-type") == MODEL_PACKAGE_STATE_CHANGE:
        return _approved(event, environ, registry, token)
    if event.get("source") == "aws.s3" and event.get("detail-type") == OBJECT_CREATED:
        return _uploaded(event, environ, registry, token)
    if "pipeline" in event:
        return _scheduled(event, environ, registry, token)
    raise TriggerError(f"not an event this function handles: source {event.get('source')!r}, detail-type "
                       f"{event.get('detail-type')!r} (a schedule's target input must be events.scheduled_input())")


def request_token(event: dict) -> str:
    """StartPipelineExecution's ClientRequestToken (32-128 characters) for an event: the same for its retries."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise TriggerError("the event has no id: a retried delivery could start the pipeline twice (a schedule's "
                           "target input must carry the event id: events.scheduled_input())")
    return "event-" + hashlib.sha256(event_id.encode()).hexdigest()[:48]


def _approved(event: dict, environ, registry, token: str) -> dict:
    """Inference with the package whose approval the event announces."""
    detail = event.get("detail") or {}
    group = _setting(environ, "MODEL_PACKAGE_GROUP")
    arn = detail.get("ModelPackageArn")
    if detail.get("ModelPackageGroupName") != group or detail.get("ModelApprovalStatus") != "Approved":
        return _skipped(f"model package {arn} is {detail.get('ModelApprovalStatus')} in group "
                        f"{detail.get('ModelPackageGroupName')!r}, not an approval in {group!r}")
    if not arn:
        raise TriggerError("the model package state change names no ModelPackageArn")
    package = registry.describe_model_package(arn)
    return _execution("inference", package, {}, environ, token, f"model package {arn} approved")


def _uploaded(event: dict, environ, registry, token: str) -> dict:
    """Inference on the object created under the incoming prefix, with the latest approved package."""
    detail = event.get("detail") or {}
    try:
        bucket, encoded_key = detail["bucket"]["name"], detail["object"]["key"]
    except (KeyError, TypeError):
        raise TriggerError("the Object Created event names no detail.bucket.name and detail.object.key") from None
    # Keys in S3's events are URL-encoded ("a b.csv" arrives as "a+b.csv"), EventBridge's as its notifications'
    # (AWS Lambda Powertools' S3EventBridgeNotificationObject.key decodes them the same way).
    key = unquote_plus(encoded_key)
    incoming_bucket, incoming_prefix = _split(_setting(environ, "INCOMING_PREFIX"), "INCOMING_PREFIX")
    incoming_prefix = incoming_prefix.rstrip("/") + "/" if incoming_prefix else ""  # incoming-old/ is not incoming/
    uri = f"s3://{bucket}/{key}"
    if bucket != incoming_bucket or not key.startswith(incoming_prefix):
        return _skipped(f"{uri} is not under INCOMING_PREFIX s3://{incoming_bucket}/{incoming_prefix}")
    if key.endswith("/"):
        return _skipped(f"{uri} is a folder marker, not a batch")
    package, reason = _latest_approved(environ, registry)
    if package is None:
        return _skipped(f"{uri} was not scored: {reason}")
    return _execution("inference", package, {"InputDataUri": uri}, environ, token, f"{uri} uploaded")


def _scheduled(event: dict, environ, registry, token: str) -> dict:
    """The scheduled pipeline with the latest approved package and the schedule's parameters."""
    which, parameters = event["pipeline"], event.get("parameters") or {}
    if which not in SCHEDULED_PIPELINES:
        raise TriggerError(f"the schedule asks for pipeline {which!r}; choose one of {', '.join(SCHEDULED_PIPELINES)}")
    if not isinstance(parameters, dict) or not all(isinstance(n, str) and isinstance(v, str)
                                                   for n, v in parameters.items()):
        raise TriggerError("the schedule's parameters must map names to string values")
    package, reason = _latest_approved(environ, registry)
    if package is None:
        return _skipped(f"the scheduled {which} run did not start: {reason}")
    return _execution(which, package, parameters, environ, token, f"schedule at {event.get('time')}")


def _execution(which: str, package: dict, parameters: dict[str, str], environ, token: str, why: str) -> dict:
    """The planned start: the package's parameters as the CLI takes them, the event's own on top."""
    from_package = ({"ModelPackageArn": package["ModelPackageArn"], **monitoring_parameters(package)}
                    if which == "inference" else evolution_parameters(package))
    description = " ".join(f"tweetops {which} started by EventBridge: {why}".split())
    return {"pipeline": which, "pipeline_name": _setting(environ, PIPELINE_VARIABLES[which]),
            "parameters": {**from_package, **parameters}, "description": description[:MAX_DESCRIPTION],
            "client_request_token": token}


def _latest_approved(environ, registry) -> tuple[dict | None, str]:
    """(the group's latest approved package, "") or (None, why there is none)."""
    group = _setting(environ, "MODEL_PACKAGE_GROUP")
    try:
        package = registry.latest_approved(group)
    except RegistryError as error:  # the group does not exist (yet)
        return None, str(error)
    return package, "" if package else f"no approved model package in group {group!r}"


def _skipped(reason: str) -> dict:
    return {"skipped": " ".join(reason.split())}


def _setting(environ, name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise TriggerError(f"{name} is not set: the function's environment must name it (infra/ sets it)")
    return value


def _split(uri: str, what: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise TriggerError(f"{what} {uri!r} is not an s3://bucket/prefix/ URI")
    return parsed.netloc, parsed.path.lstrip("/")
