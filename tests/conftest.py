"""Shared fixtures: cleaned demo messages (our own generator), and the real labelled datasets beside the
repository (skipped cleanly when absent)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import SHARED_DATA
from processing.clean import TextCleaner
from processing.demo_data import generate_messages
from processing.validate import validate


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_dir(tmp_path_factory) -> Path:
    """One embedding cache per test session (and xdist worker), inherited by every job the tests start:
    the ONNX export happens once, and nothing is written to the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("tweetops-cache")
    previous = os.environ.get("TWEETOPS_CACHE_DIR")
    os.environ["TWEETOPS_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("TWEETOPS_CACHE_DIR", None)
    else:
        os.environ["TWEETOPS_CACHE_DIR"] = previous


@pytest.fixture
def empty_embedding_cache(tmp_path, embedding_cache_dir) -> Path:
    """A cache folder without any vectors, holding the session's exported ONNX models (so no re-export)."""
    folder = tmp_path / "cache"
    if (embedding_cache_dir / "onnx").is_dir():
        shutil.copytree(embedding_cache_dir / "onnx", folder / "onnx")
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of ../shared/data; tests that need it skip when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_messages() -> pd.DataFrame:
    """1,200 validated and cleaned demo messages (8 categories, es/en) with their hidden gold `label`."""
    raw = generate_messages(1200, seed=7, malformed_share=0.0)
    accepted = validate(raw).accepted
    return TextCleaner().transform(accepted).reset_index(drop=True)


@pytest.fixture(scope="session")
def trained_model_dir(demo_messages, tmp_path_factory) -> Path:
    """A model directory trained on the demo messages' gold labels (what `tweetops train` writes)."""
    from processing.jobs import write_parquet
    from training.train import run_training

    root = tmp_path_factory.mktemp("trained")
    write_parquet(demo_messages.assign(category=demo_messages["label"]), root / "train" / "messages.parquet")
    (root / "train" / "provenance.json").write_text(json.dumps({"category_map": {"version": 2, "hash": "h"}}))
    run_training(root / "train", root / "model")
    return root / "model"


def stub_every_sagemaker_client(monkeypatch, stub):
    """Install `stub` (an object with install(client)) on every SageMaker client boto3 makes from now on: the code
    under test makes its own clients. For the few calls moto lacks (each stub says which and why)."""
    import boto3

    make_client = boto3.Session.client

    def client(self, service_name, *args, **kwargs):
        made = make_client(self, service_name, *args, **kwargs)
        if service_name == "sagemaker":
            stub.install(made)
        return made

    monkeypatch.setattr(boto3.Session, "client", client)
    return stub


def validated_call(client, operation: str, answer, calls: list):
    """A stand-in for one SageMaker API call moto lacks: the request is validated against botocore's service model
    first, as SageMaker's API checks it, recorded in `calls`, then answered by `answer(**params)`."""
    from botocore.validate import validate_parameters

    def method(**params):
        validate_parameters(params, client.meta.service_model.operation_model(operation).input_shape)
        calls.append((operation, params))
        return answer(**params)
    return method
