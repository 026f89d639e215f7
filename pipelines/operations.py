"""What the `tweetops pipeline` commands do: build the definition, upsert, start (and wait), report status.

The boto3 calls live here, at the edge; training_pipeline.py only composes steps.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Mapping

import boto3
from botocore.exceptions import ClientError

from pipelines.settings import PipelineSettings, SettingsError, resolved

FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
EMPTY_MARKER = "README.txt"
EMPTY_MARKER_TEXT = ("tweetops: an intentionally empty input. Pipeline parameters CategoryMapUri and GoldSetUri\n"
                     "point here when no category map (use the drafted one) or no gold set is given.\n")


class PipelineError(RuntimeError):
    """An AWS-side failure worth one clear line (execution failed, pipeline missing, ...)."""


def package_version() -> str:
    """The installed tweetops version: the default image tag."""
    try:
        return version("tweetops")
    except PackageNotFoundError:
        return "0.0.0"


@contextlib.contextmanager
def quiet_sdk():
    """Silence the SDK's logging while we build: it logs every job name it pops from the definition ("Popping
    out 'ProcessingJobName'..."), each model it pretends to create, and telemetry notices."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


PIPELINES = ("training", "inference", "evolution")


def pipeline_name(settings: PipelineSettings, which: str = "training") -> str:
    """The name of the training, the batch-inference or the evolution pipeline."""
    return {"inference": settings.inference_pipeline_name,
            "evolution": settings.evolution_pipeline_name}.get(which, settings.pipeline_name)


def build_settings(settings: PipelineSettings) -> PipelineSettings:
    """The settings a definition is built from: the role's account fills the defaults (bucket, image)."""
    settings.require_role()
    return resolved(settings, account=settings.role_arn.split(":")[4], version=package_version())


def build(settings: PipelineSettings, boto_session: boto3.Session | None = None, which: str = "training"):
    """(pipeline, settings with account defaults) for the given settings: the training, inference or evolution
    pipeline."""
    import warnings

    settings = build_settings(settings)
    # The SDK checks the role with iam:SimulatePrincipalPolicy while building unless told not to; building
    # needs no AWS call, and SageMaker itself validates the role on upsert.
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    # Parts of the SDK build their own boto3 sessions from the environment's region while building.
    os.environ.setdefault("AWS_DEFAULT_REGION", settings.region)
    boto_session = boto_session or boto3.Session(region_name=settings.region)
    with quiet_sdk(), warnings.catch_warnings():
        # "Running within a PipelineSession, there will be No Wait..." once per step: expected here.
        warnings.filterwarnings("ignore", message=".*PipelineSession.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from sagemaker.core.workflow.pipeline_context import PipelineSession

        from pipelines.evolution_pipeline import get_evolution_pipeline
        from pipelines.inference_pipeline import get_inference_pipeline
        from pipelines.training_pipeline import get_pipeline

        if which not in PIPELINES:
            raise SettingsError(f"unknown pipeline {which!r}; choose one of {', '.join(PIPELINES)}")
        session = PipelineSession(boto_session=boto_session, default_bucket=settings.bucket)
        # The SDK would look the bucket up (and create it) while building; the definition needs no AWS
        # call, and upsert writes to the bucket anyway, so mark it as known.
        session._default_bucket = settings.bucket
        builder = {"inference": get_inference_pipeline, "evolution": get_evolution_pipeline}.get(which, get_pipeline)
        return builder(settings, session), settings


def definition(settings: PipelineSettings, boto_session: boto3.Session | None = None,
               which: str = "training") -> str:
    """The pipeline definition JSON exactly as `upsert` sends it."""
    pipeline, _ = build(settings, boto_session, which)
    with quiet_sdk():
        return pipeline.definition()




def upsert(settings: PipelineSettings, description: str = "tweetops training pipeline",
           boto_session: boto3.Session | None = None, which: str = "training") -> dict:
    """Create or update the pipeline; seeds the empty-input prefix the optional channels default to."""
    from pipelines.training_pipeline import EMPTY_PREFIX

    boto_session = boto_session or boto3.Session(region_name=settings.region)
    pipeline, settings = build(settings, boto_session, which)
    boto_session.client("s3").put_object(Bucket=settings.bucket, Key=f"{settings.prefix}/{EMPTY_PREFIX}/{EMPTY_MARKER}",
                                         Body=EMPTY_MARKER_TEXT.encode())
    with quiet_sdk():
        response = pipeline.upsert(role_arn=settings.role_arn, description=description, tags=settings.all_tags())
    return {"PipelineArn": response["PipelineArn"], "PipelineName": pipeline.name}


OPTIONAL_INPUTS = ("CategoryMapUri", "ClusterAssignmentsUri", "GoldSetUri")


def parse_parameters(pairs: list[str], known: list[str]) -> dict[str, str]:
    """NAME=VALUE strings -> dict, refusing malformed pairs and names the pipeline does not declare.

    An empty CategoryMapUri, ClusterAssignmentsUri or GoldSetUri is dropped, so the execution uses the parameter's
    default: the intentionally empty input that means "the drafted map" / "cluster anew" / "no gold set".
    """
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SettingsError(f"--param {pair!r}: expected NAME=VALUE")
        if name not in known:
            raise SettingsError(f"--param {name}: the pipeline has no such parameter; known: {', '.join(known)}")
        if value or name not in OPTIONAL_INPUTS:
            parameters[name] = value
    return parameters


def evolution_parameters(package: dict) -> dict[str, str]:
    """The evolution pipeline's parameters that come from the approved package (a DescribeModelPackage answer):
    the model, its pinned digests, its monitoring baseline (reference vectors) and its category map."""
    from register.registry import monitoring_parameters, pinned_model_digest

    metadata = package.get("CustomerMetadataProperties") or {}
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
    parameters = {"ModelPackageArn": package["ModelPackageArn"], **monitoring_parameters(package),
                  "ModelDataUri": containers[0].get("ModelDataUrl", ""),
                  "ModelSha256": pinned_model_digest(package) or metadata.get("model_sha256", ""),
                  "CategoryMapUri": metadata.get("category_map_uri", "")}
    return {name: value for name, value in parameters.items() if value}


def package_parameters(settings: PipelineSettings, package_arn: str, which: str,
                       boto_session: boto3.Session | None = None) -> dict[str, str]:
    """What a pipeline takes from a package in the SageMaker Model Registry: the inference pipeline its monitoring
    baseline (register.registry.monitoring_parameters), the evolution pipeline evolution_parameters."""
    from register.registry import monitoring_parameters

    take = {"inference": monitoring_parameters, "evolution": evolution_parameters}[which]
    client = (boto_session or boto3.Session(region_name=settings.region)).client("sagemaker")
    return take(client.describe_model_package(ModelPackageName=package_arn))


def latest_approved_package(settings: PipelineSettings, boto_session: boto3.Session | None = None) -> str:
    """The ARN of the model package group's latest approved package (PipelineError when none is approved)."""
    from register.local import RegistryError
    from register.sagemaker import SageMakerModelRegistry

    client = (boto_session or boto3.Session(region_name=settings.region)).client("sagemaker")
    try:
        package = SageMakerModelRegistry(client).latest_approved(settings.model_package_group)
    except RegistryError as error:
        raise PipelineError(str(error)) from None
    if package is None:
        raise PipelineError(f"no approved model package in group {settings.model_package_group!r}: approve one "
                            "(tweetops registry approve) or pass --param ModelPackageArn=<arn>")
    return package["ModelPackageArn"]


def start(settings: PipelineSettings, parameters: Mapping[str, str], *, wait: bool = False,
          poll_seconds: float = 30, report: Callable[[str], None] = lambda message: None,
          boto_session: boto3.Session | None = None, which: str = "training") -> dict:
    """Start an execution of the upserted pipeline; with `wait`, poll until it ends (PipelineError if it fails)."""
    boto_session = boto_session or boto3.Session(region_name=settings.region)
    client = boto_session.client("sagemaker")
    try:
        response = client.start_pipeline_execution(
            PipelineName=pipeline_name(settings, which),
            PipelineParameters=[{"Name": name, "Value": str(value)} for name, value in sorted(parameters.items())])
    except ClientError as error:
        # SageMaker answers ResourceNotFound; moto a ValidationException "Could not find pipeline".
        if error.response["Error"]["Code"] == "ResourceNotFound" or "Could not find pipeline" in str(error):
            raise PipelineError(f"pipeline {pipeline_name(settings, which)!r} does not exist: run `tweetops "
                                "pipeline upsert` first") from None
        raise
    arn = response["PipelineExecutionArn"]
    report(f"started {arn}")
    if not wait:
        return {"PipelineExecutionArn": arn, "PipelineExecutionStatus": "Executing"}
    while True:
        result = status(arn, boto_session=boto_session)
        if result["PipelineExecutionStatus"] in FINAL_STATUSES:
            break
        report(f"{result['PipelineExecutionStatus']}: " + ", ".join(
            f"{step['StepName']} {step['StepStatus']}" for step in result["steps"]))
        time.sleep(poll_seconds)
    if result["PipelineExecutionStatus"] != "Succeeded":
        failed = [step for step in result["steps"] if step["StepStatus"] == "Failed"]
        where = "; ".join(f"step {step['StepName']}: {step.get('FailureReason', 'no reason given')}"
                          for step in failed) or result.get("FailureReason", "no reason given")
        raise PipelineError(f"execution {result['PipelineExecutionStatus'].lower()}: {where}")
    return result


def status(execution_arn: str | None = None, settings: PipelineSettings | None = None,
           boto_session: boto3.Session | None = None) -> dict:
    """Status of an execution (default: the pipeline's latest one), with its steps when the API lists them."""
    region = execution_arn.split(":")[3] if execution_arn else settings.region
    client = (boto_session or boto3.Session(region_name=region)).client("sagemaker")
    if execution_arn is None:
        summaries = client.list_pipeline_executions(PipelineName=settings.pipeline_name, SortBy="CreationTime",
                                                    SortOrder="Descending", MaxResults=1)["PipelineExecutionSummaries"]
        if not summaries:
            raise PipelineError(f"pipeline {settings.pipeline_name!r} has no executions yet")
        execution_arn = summaries[0]["PipelineExecutionArn"]
    described = client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    steps = client.list_pipeline_execution_steps(PipelineExecutionArn=execution_arn)["PipelineExecutionSteps"]
    return {
        "PipelineExecutionArn": execution_arn,
        "PipelineExecutionStatus": described["PipelineExecutionStatus"],
        "FailureReason": described.get("FailureReason"),
        "steps": [{key: step.get(key) for key in ("StepName", "StepStatus", "FailureReason") if key in step}
                  for step in steps],
    }
