"""Registries to test the approval workflow on: the local one and SageMaker's (on moto), each seeded with packages
shaped like our RegisterModel step's, and an evaluation.json in the backend's store (moto never runs steps)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Callable

import boto3
import pytest
from moto import mock_aws

from pipelines.local.store import LocalStore
from processing.evaluation import classification_scores, clustering_scores
from register.local import LocalModelRegistry
from register.registry import local_backend, sagemaker_backend
from register.sagemaker import SageMakerModelRegistry

GROUP = "tweetops-message-classifier"
REGION = "eu-west-1"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
MAP_HASH = "3f1c9a7be0d24c55a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8"
INPUT_HASH = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
MODEL_SHA256 = "5e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"


def ticking_clock(start: datetime = T0, step: timedelta = timedelta(minutes=1)):
    """A deterministic clock: each call is one `step` later than the previous."""
    ticks = count()
    return lambda: start + next(ticks) * step


def evaluation(gold: bool = True) -> dict:
    """An evaluation.json as the Evaluate step writes it, with figures from our own metric functions."""
    truth = ["billing"] * 6 + ["delivery"] * 6 + ["login"] * 4
    predicted = ["billing"] * 5 + ["delivery"] * 7 + ["login"] * 4
    document = {"multiclass_classification_metrics": classification_scores(truth, predicted),
                "model_version": "abc123", "category_map": {"version": 2}, "gold": None, "cluster_quality": None}
    if gold:
        scores = classification_scores(truth[:8], predicted[:8])
        document["gold"] = scores | {"rows_quarantined": 0, "categories_named_as_gold": 2,
                                     "agreement": clustering_scores(truth[:8], predicted[:8])}
    return document


def register_request(evaluation_uri: str | None, *, execution: str, reviewed: str | None = "true",
                     region: str, account: str) -> dict:
    """A CreateModelPackage request as our RegisterModel step resolves it (metadata values are strings)."""
    metadata = {"category_map_version": "2", "category_map_hash": MAP_HASH, "category_map_reviewed": reviewed,
                "input_data_hash": INPUT_HASH, "code_version": "0.3.0+g1a2b3c4", "seed": "7",
                "model_sha256": MODEL_SHA256,
                "pipeline_execution": execution}
    request = {
        "ModelPackageGroupName": GROUP,
        "ModelPackageDescription": "tweetops message classifier trained on pseudo-labels",
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {key: value for key, value in metadata.items() if value is not None},
        "InferenceSpecification": {
            "Containers": [{
                "Image": f"{account}.dkr.ecr.{region}.amazonaws.com/tweetops:0.3.0",
                "Environment": {"SAGEMAKER_PROGRAM": "tweetops_serving.py",
                                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/tweetops/inference/entry",
                                "TWEETOPS_MODEL_SHA256": MODEL_SHA256},
                "ModelDataUrl": f"s3://tweetops-data/tweetops/executions/{execution}/model/train/output/model.tar.gz",
            }],
            "SupportedContentTypes": ["text/csv", "application/jsonlines"],
            "SupportedResponseMIMETypes": ["application/jsonlines"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
        },
        # SageMaker records the pipeline execution that registered a package (the local executor does too).
        "MetadataProperties": {
            "GeneratedBy": f"arn:aws:sagemaker:{region}:{account}:pipeline/tweetops-training/execution/{execution}"},
    }
    if evaluation_uri:
        request["ModelMetrics"] = {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                                   "S3Uri": evaluation_uri}}}
    return request


@dataclass
class Backend:
    """A registry with its store: seed packages and metrics files, then use it as the CLI or the API would."""
    name: str
    registry: object
    read_json: Callable[[str], object]
    cli_args: list[str]
    region: str
    account: str
    create: Callable[[dict], str]
    put_bytes: Callable[[str, bytes], None]
    executions: count = field(default_factory=lambda: count(1))

    def put_json(self, uri: str, document) -> None:
        """Store a JSON object at `uri`."""
        self.put_bytes(uri, json.dumps(document).encode())

    def register(self, *, metrics: dict | None | str = "default", reviewed: str | None = "true",
                 status: str | None = None) -> str:
        """A new package version as one pipeline execution registers it. `metrics`: the evaluation.json to
        store ("default": `evaluation()`), None to reference one that is not there, "absent" for no ModelMetrics."""
        execution = f"exec{next(self.executions):04d}"
        uri = f"s3://tweetops-data/tweetops/executions/{execution}/evaluation/evaluation.json"
        if isinstance(metrics, dict) or metrics == "default":
            self.put_json(uri, evaluation() if metrics == "default" else metrics)
        request = register_request(None if metrics == "absent" else uri, execution=execution, reviewed=reviewed,
                                   region=self.region, account=self.account)
        if status:
            request["ModelApprovalStatus"] = status
        return self.create(request)


def make_local(home: Path) -> Backend:
    """The local registry under `home`, seeded through LocalModelRegistry with a deterministic clock."""
    seeder = LocalModelRegistry(home / "registry.db", clock=ticking_clock())
    store = LocalStore(home / "s3")

    def put_bytes(uri: str, data: bytes) -> None:
        path = store.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    registry, read_json = local_backend(home)
    return Backend("local", registry, read_json, ["--backend", "local", "--home", str(home)], "local",
                   "000000000000", lambda request: seeder.create_model_package(request)["ModelPackageArn"],
                   put_bytes)


def make_sagemaker(page_size: int | None = None) -> Backend:
    """The SageMaker registry on moto (inside an active mock), with our group and the data bucket created."""
    session = boto3.Session(region_name=REGION)
    client, s3 = session.client("sagemaker"), session.client("s3")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    s3.create_bucket(Bucket="tweetops-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    registry, read_json = sagemaker_backend(session)
    if page_size:
        registry = SageMakerModelRegistry(client, page_size=page_size)

    def put_bytes(uri: str, data: bytes) -> None:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    account = session.client("sts").get_caller_identity()["Account"]
    return Backend("sagemaker", registry, read_json, ["--backend", "sagemaker", "--region", REGION], REGION,
                   account, lambda request: client.create_model_package(**request)["ModelPackageArn"], put_bytes)


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call, with fake credentials and no settings file or environment leaking in."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def no_settings(monkeypatch, tmp_path):
    """Default settings: no ./tweetops.yaml, no TWEETOPS_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWEETOPS_CONFIG", "TWEETOPS_MODEL_PACKAGE_GROUP", "TWEETOPS_REGION", "TWEETOPS_LOCAL_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local(tmp_path) -> Backend:
    return make_local(tmp_path / "home")


@pytest.fixture
def sagemaker(aws) -> Backend:
    return make_sagemaker()


@pytest.fixture(params=["local", "sagemaker"])
def backend(request, tmp_path) -> Backend:
    """Each test on both registries."""
    return request.getfixturevalue(request.param)
