"""SageMaker serving handlers for batch transform (model_fn, input_fn, predict_fn, output_fn)."""
from __future__ import annotations

from pathlib import Path

# The serving stack imports SAGEMAKER_PROGRAM from SAGEMAKER_SUBMIT_DIRECTORY. Both name the entry point in the
# image (docker/Dockerfile copies inference/ to /opt/tweetops/inference), not a folder of the model archive.
SERVING_PROGRAM = "tweetops_serving.py"
IMAGE_SERVING_DIR = "/opt/tweetops/inference/entry"


def installed_serving_dir() -> Path:
    """The entry point's folder in this installation: what IMAGE_SERVING_DIR is inside the image."""
    return Path(__file__).resolve().parent / "entry"
