"""The SageMaker container contract: where a job finds its inputs, writes its outputs and reads settings.

SageMaker mounts everything under /opt/ml. The root is overridable with TWEETOPS_ML_ROOT so the same
entry points run against a local folder (the local executor remaps it; tests use a tmp dir).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ML_ROOT_VARIABLE = "TWEETOPS_ML_ROOT"


def ml_root() -> Path:
    """The /opt/ml root, or the folder TWEETOPS_ML_ROOT points to."""
    return Path(os.environ.get(ML_ROOT_VARIABLE, "/opt/ml"))


def processing_path(*parts: str) -> Path:
    """A path under /opt/ml/processing, where processing jobs' inputs and outputs are mounted."""
    return ml_root().joinpath("processing", *parts)


def training_channel(name: str) -> Path:
    """A training job's input channel: SM_CHANNEL_<NAME>, else /opt/ml/input/data/<name>."""
    return Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", ml_root() / "input" / "data" / name))


def model_dir() -> Path:
    """Where a training job writes the model (SageMaker tars it to model.tar.gz): SM_MODEL_DIR."""
    return Path(os.environ.get("SM_MODEL_DIR", ml_root() / "model"))


def output_data_dir() -> Path:
    """A training job's extra outputs (output.tar.gz): SM_OUTPUT_DATA_DIR."""
    return Path(os.environ.get("SM_OUTPUT_DATA_DIR", ml_root() / "output" / "data"))


def hyperparameters() -> dict[str, str]:
    """A training job's hyperparameters: SM_HPS (JSON), else /opt/ml/input/config/hyperparameters.json."""
    if "SM_HPS" in os.environ:
        return {key: str(value) for key, value in json.loads(os.environ["SM_HPS"]).items()}
    path = ml_root() / "input" / "config" / "hyperparameters.json"
    if path.is_file():
        # SageMaker JSON-encodes each value as a string, sometimes with extra quotes.
        return {key: str(value).strip('"') for key, value in json.loads(path.read_text()).items()}
    return {}


def host_share() -> tuple[int, int]:
    """(this instance's index, number of instances) of a multi-instance job; (0, 1) outside one.

    SageMaker writes /opt/ml/config/resourceconfig.json (processing) or /opt/ml/input/config/
    resourceconfig.json (training) with `current_host` and `hosts`.
    """
    for path in (ml_root() / "config" / "resourceconfig.json", ml_root() / "input" / "config" / "resourceconfig.json"):
        if path.is_file():
            config = json.loads(path.read_text(encoding="utf-8"))
            hosts = sorted(config.get("hosts") or [config["current_host"]])
            return hosts.index(config["current_host"]), len(hosts)
    return 0, 1


def part_suffix() -> str:
    """"" on one instance, else "-part-<index>": instances of a sharded job write to the same S3 prefix."""
    index, count = host_share()
    return "" if count == 1 else f"-part-{index:05d}"


def write_failure_reason(message: str) -> None:
    """Write /opt/ml/output/failure, which SageMaker shows as the job's FailureReason (first 1 KB)."""
    if not ml_root().is_dir():
        return  # not inside a job container (or a remapped root): the printed message is enough
    try:
        path = ml_root() / "output" / "failure"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:1024], encoding="utf-8")
    except OSError:
        pass  # outside a container the root may be read-only; the message is printed anyway


def report_progress(done: int, total: int, unit: str) -> None:
    """A progress line on stderr ("progress: 500/2000 messages cleaned"); the local executor shows it as a bar."""
    print(f"progress: {done}/{total} {unit}", file=sys.stderr, flush=True)
