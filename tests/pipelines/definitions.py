"""Checks shared by the pipeline-definition specifications: walking steps, their references, and validating
each step's arguments as a request of its SageMaker API."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials and moto's AWS: nothing may reach a real endpoint."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def steps_by_name(definition: dict) -> dict:
    """Every step, the condition's branches included."""
    steps = {}
    for step in definition["Steps"]:
        steps[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({inner["Name"]: inner for inner in step.get("Arguments", {}).get(branch, [])})
    return steps


def references(value) -> set[str]:
    """Names of the steps a definition fragment reads properties of ({"Get": "Steps.<name>...."})."""
    text = json.dumps(value)
    return {part.split(".")[1] for part in text.split('"Get": "')[1:] if part.startswith("Steps.")}


# Step type -> (SageMaker API operation its arguments are the request of, the name field the SDK leaves out
# because SageMaker fills it in at execution time).
API_OF_STEP = {
    "Processing": ("CreateProcessingJob", {"ProcessingJobName": "job"}),
    "Training": ("CreateTrainingJob", {"TrainingJobName": "job"}),
    "Transform": ("CreateTransformJob", {"TransformJobName": "job"}),
    "RegisterModel": ("CreateModelPackage", {}),
    "Model": ("CreateModel", {"ModelName": "model"}),
}


def concrete(value, parameters: dict):
    """Replace pipeline functions by example values of the right type, as SageMaker does at execution time."""
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            name = value["Get"]
            if name.startswith("Parameters."):
                return parameters[name.split(".", 1)[1]]
            return "s3://bucket/key" if "S3" in name else "resolved"
        if set(value) == {"Std:Join"} or set(value) == {"Std:JsonGet"}:
            return "s3://bucket/resolved"
        return {key: concrete(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [concrete(item, parameters) for item in value]
    return value


def validate_requests(definition: dict) -> list[str]:
    """Assert that every API-backed step's arguments are a valid request of its SageMaker API (botocore's
    service model: required fields, types, enums, lengths); returns the names of the steps checked."""
    model = boto3.Session(region_name="us-east-1").client("sagemaker").meta.service_model
    parameters = {p["Name"]: p.get("DefaultValue", "x") or "arn:aws:kms:us-east-1:1:key/k"
                  for p in definition["Parameters"]}
    checked = []
    for name, step in steps_by_name(definition).items():
        if step["Type"] not in API_OF_STEP:
            continue
        operation, names = API_OF_STEP[step["Type"]]
        request = {**names, **concrete(step["Arguments"], parameters)}
        report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"
        checked.append(name)
    return checked
