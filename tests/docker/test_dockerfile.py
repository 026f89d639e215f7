"""Specification of the images' Dockerfiles (they cannot be built here): the job image (docker/Dockerfile) and the
Lambda image (docker/lambda.Dockerfile) are lint-clean and ship every top-level package of the distribution; the job
image has the training entry point, the Lambda image runs the functions' handlers without the embeddings extra."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
LAMBDA_DOCKERFILE = ROOT / "docker" / "lambda.Dockerfile"
BOTH = pytest.mark.parametrize("dockerfile", [DOCKERFILE, LAMBDA_DOCKERFILE], ids=["job", "lambda"])
# The stack's two functions run the Lambda image: the review handler is its CMD, the trigger handler overrides it.
TRIGGER_HANDLER = "pipelines.trigger_lambda.handler"
# What the [embeddings] extra brings: the Lambda image does not have it.
EMBEDDINGS_MODULES = ("torch", "sentence_transformers", "transformers", "onnxruntime", "optimum")


@BOTH
def test_the_dockerfile_passes_hadolint(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: it comes with the test extra (pip install -e .[test])")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@BOTH
def test_every_package_of_the_distribution_is_copied_into_the_image(dockerfile):
    setup = (ROOT / "setup.py").read_text()
    packages = set(re.findall(r'"(\w+)\*"', setup))
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile.read_text(), flags=re.MULTILINE))
    assert packages and packages == copied


def test_the_training_toolkit_runs_the_tweetops_train_command():
    text = DOCKERFILE.read_text()
    assert "ENV SAGEMAKER_PROGRAM=train.py" in text and "COPY docker/train.py /opt/ml/code/train.py" in text
    assert 'main(["train"])' in (ROOT / "docker" / "train.py").read_text()


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (keyword, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_lambda_image_is_built_on_aws_lambdas_python_3_11_base():
    froms = [arguments for keyword, arguments in _instructions(LAMBDA_DOCKERFILE) if keyword == "FROM"]
    assert froms == ["public.ecr.aws/lambda/python:3.11"]


def test_the_lambda_image_installs_tweetops_core_from_the_repository_without_the_embeddings_extra():
    runs = [arguments for keyword, arguments in _instructions(LAMBDA_DOCKERFILE) if keyword == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert len(installs) == 1
    assert installs[0].split()[-1] == "."  # the repository copied above, no extra
    assert '--target "${LAMBDA_TASK_ROOT}"' in installs[0]
    instructions = " ".join(arguments for _, arguments in _instructions(LAMBDA_DOCKERFILE))
    assert not any(name in instructions for name in ("[embeddings]", "torch", "sentence-transformers"))


def test_the_lambda_image_runs_the_review_handler_by_default():
    cmds = [json.loads(arguments) for keyword, arguments in _instructions(LAMBDA_DOCKERFILE) if keyword == "CMD"]
    assert cmds == [["pipelines.review_lambda.handler"]]


def test_both_handlers_of_the_lambda_image_import_without_the_embeddings_extra():
    """Each handler imported in a fresh interpreter where the [embeddings] packages cannot be imported."""
    cmd = [json.loads(arguments) for keyword, arguments in _instructions(LAMBDA_DOCKERFILE) if keyword == "CMD"][0]
    program = f"""
import importlib, sys

class Absent:
    \"\"\"Finds the [embeddings] packages nowhere, as in the image.\"\"\"
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EMBEDDINGS_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Absent())
for handler in sys.argv[1:]:
    module, function = handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function)), handler
"""
    result = subprocess.run([sys.executable, "-c", program, cmd[0], TRIGGER_HANDLER], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
