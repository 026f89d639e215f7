"""Each job's container, reproduced in a local folder: the /opt/ml root remapped, inputs materialised where
the container would see them, SM_* variables and arguments as SageMaker passes them, outputs collected.

A job is a subprocess of this Python environment (the "image" is the installed tweetops package), one
per instance; its stdout and stderr go to the step's log file.
"""
from __future__ import annotations

import ctypes
import gzip
import json
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from inference import IMAGE_SERVING_DIR
from pipelines.local.store import LocalStore
from pipelines.local.warm import WarmStarter
from processing.artifacts import ArtifactIntegrityError, extract_model_archive
from processing.storage import write_json_atomic

CONTAINER_ROOT = "/opt/ml"
# What the image's training program (docker/train.py, SAGEMAKER_PROGRAM) runs.
TRAINING_COMMAND = ("tweetops", "train")
# The only programs a job may start (DESIGN.md threat model: the local executor runs only tweetops' entry
# points): the step commands the pipelines' processing jobs name, and the image's training program. A transform
# always runs pipelines.local.serving. A definition naming anything else is refused before any step runs.
ENTRY_POINTS = {
    "Processing": frozenset(("tweetops", command) for command in
                            ("validate", "featurize", "cluster", "evaluate", "summarize-predictions",
                                                  "baseline", "monitor", "accumulate", "evolve", "record-map",
                                                  "validation-tables")),
    "Training": frozenset({TRAINING_COMMAND}),
}
# Variables that decide which code a process loads: a definition must not set them.
CODE_LOADING_VARIABLES = re.compile(r"^(PATH|LD_\w*|DYLD_\w*|PYTHON(?!HASHSEED$|UNBUFFERED$|IOENCODING$)\w*|"
                                    r"TWEETOPS_ML_ROOT)$")
PROGRESS_LINE = re.compile(r"^progress: (\d+)/(\d+) (.+)$")
RELAYED_PREFIXES = ("note:", "warning:", "Error:")


class JobFailed(RuntimeError):
    """A job ended badly: exit code, the reason it wrote to /opt/ml/output/failure, its last log lines."""

    def __init__(self, message: str, exit_code: int | None = None, log_tail: list[str] | None = None,
                 exception_type: str | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.log_tail = log_tail or []
        # The retry-policy exception type this failure counts as (None: not retryable, like an algorithm error).
        self.exception_type = exception_type


@dataclass
class Instance:
    """One container of a job: its /opt/ml root, command and environment."""
    host: str
    root: Path
    command: list[str]
    environment: dict[str, str]


@dataclass
class Listener:
    """Where a running job's output goes besides its log: relayed lines and row progress."""
    line: Callable[[str], None] = lambda text: None
    progress: Callable[[int, int, str], None] = lambda done, total, unit: None


@dataclass
class JobRun:
    """What running a job's instances took: wall seconds of the containers themselves."""
    seconds: float
    logs: list[Path] = field(default_factory=list)


def remap(value: str, root: Path) -> str:
    """A container path under /opt/ml, moved under `root`; anything else unchanged."""
    if isinstance(value, str) and (value == CONTAINER_ROOT or value.startswith(CONTAINER_ROOT + "/")):
        return str(root) + value[len(CONTAINER_ROOT):]
    return value


# ------------------------------------------------------------------------------------------- what may run
def refusals(kind: str, arguments: dict, entry_points: dict = ENTRY_POINTS) -> list[str]:
    """Why a step's request may not run here (empty: it may): a program other than tweetops' entry points, a
    path outside /opt/ml, a variable that changes which code loads. Unresolved expressions are skipped here;
    the executor checks the request again once they are resolved."""
    found = []
    if kind in ("Processing", "Training"):
        spec = arguments.get("AppSpecification" if kind == "Processing" else "AlgorithmSpecification", {})
        default = None if kind == "Processing" else list(TRAINING_COMMAND)
        entry_point = spec.get("ContainerEntrypoint", default)
        allowed = entry_points.get(kind, frozenset())
        if not (isinstance(entry_point, list) and tuple(entry_point) in allowed):
            found.append(f"ContainerEntrypoint {_shown(entry_point)} is refused: the local executor only runs "
                         f"tweetops' entry points ({', '.join(sorted(' '.join(item) for item in allowed))})")
        for argument in spec.get("ContainerArguments", []):
            problem = argument_problem(argument)
            if problem:
                found.append(f"ContainerArguments {_shown(argument)} {problem}")
    if kind == "Processing":
        locals_ = [(f"input {item.get('InputName')}", item.get("S3Input", {}).get("LocalPath"))
                   for item in arguments.get("ProcessingInputs", [])]
        locals_ += [(f"output {item.get('OutputName')}", item.get("S3Output", {}).get("LocalPath"))
                    for item in arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        for what, value in locals_:
            problem = local_path_problem(value)
            if problem:
                found.append(f"{what}: LocalPath {_shown(value)} {problem}")
    containers = [arguments.get("PrimaryContainer") or {}, *arguments.get("Containers", [])] if kind == "Model" \
        else [arguments]
    for container in containers:
        found += environment_problems(container.get("Environment", {}))
    return found


def path_problem(value: str) -> str | None:
    """Why a path-like string would reach outside the container's /opt/ml (None when it would not)."""
    if "\0" in value:
        return "contains a NUL character"
    if value.startswith("/"):
        return None if _under(value, CONTAINER_ROOT) else "is outside /opt/ml"
    if ".." in value.split("/"):  # relative to a folder the program chooses: where it ends up is anyone's guess
        return "climbs out of its folder with '..'"
    return None


def local_path_problem(value) -> str | None:
    """Why a ProcessingInput/Output LocalPath is refused: it must be an absolute path under /opt/ml."""
    if isinstance(value, dict):
        return None  # an expression: checked once resolved
    if not isinstance(value, str) or not value.startswith("/"):
        return "is not an absolute path under /opt/ml"
    return path_problem(value)


def argument_problem(argument) -> str | None:
    """Why a container argument is refused: a path outside /opt/ml, also as the value of --option=VALUE."""
    if isinstance(argument, dict):
        return None  # an expression: checked once resolved
    text = str(argument)
    values = [text, text.split("=", 1)[1]] if text.startswith("-") and "=" in text else [text]
    return next((f"{problem} (a job must not be pointed at host files)" for problem in map(path_problem, values)
                 if problem), None)


def environment_problems(environment: dict) -> list[str]:
    """Why a container's Environment is refused: variables that decide which code loads, paths outside /opt/ml."""
    if not isinstance(environment, dict):
        return [f"Environment {_shown(environment)} is not a map of names to values"]
    found = []
    for name, value in environment.items():
        if CODE_LOADING_VARIABLES.match(name):
            found.append(f"Environment {_shown(name)} is refused: it decides which code a process loads")
            continue
        if isinstance(value, dict):
            continue  # an expression: checked once resolved
        problem = path_problem(str(value))
        # The serving program's folder is in the image, not under /opt/ml (serving.load_handlers maps it here).
        if problem and not (name == "SAGEMAKER_SUBMIT_DIRECTORY" and value == IMAGE_SERVING_DIR):
            found.append(f"Environment {name}={_shown(value)} {problem}")
    return found


def _under(path: str, folder: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == folder or normal.startswith(folder + "/")


def _shown(value) -> str:
    """A definition's value as it may be printed: JSON (control characters escaped), at most 200 characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def hosts(count: int) -> list[str]:
    """SageMaker's host names for a job of `count` instances."""
    return [f"algo-{index + 1}" for index in range(count)]


def fresh_root(workdir: Path, host: str) -> Path:
    """An empty /opt/ml root for one instance (whatever an interrupted earlier attempt left is removed)."""
    root = workdir / host
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


# ------------------------------------------------------------------------------------------- processing
def prepare_processing(request: dict, workdir: Path, store: LocalStore) -> list[Instance]:
    """Instances of a processing job: inputs downloaded (sharded when asked), outputs' folders created."""
    count = int(request["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
    app = request["AppSpecification"]
    instances = []
    for index, host in enumerate(hosts(count)):
        root = fresh_root(workdir, host)
        for item in request.get("ProcessingInputs", []):
            source = item["S3Input"]
            share = (index, count) if source.get("S3DataDistributionType") == "ShardedByS3Key" else (0, 1)
            store.download(source["S3Uri"], remap(source["LocalPath"], root), share=share)
        for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            Path(remap(item["S3Output"]["LocalPath"], root)).mkdir(parents=True, exist_ok=True)
        write_json_atomic(root / "config" / "resourceconfig.json", {"current_host": host, "hosts": hosts(count)})
        command = [*app.get("ContainerEntrypoint", []), *map(str, app.get("ContainerArguments", []))]
        instances.append(Instance(host, root, [remap(part, root) for part in command],
                                  dict(request.get("Environment", {}))))
    return instances


def collect_processing(request: dict, instances: list[Instance], store: LocalStore, execution_id: str = "") -> None:
    """Upload every output (the instances' folders merged) to its S3 URI. An output of this execution's own prefix
    replaces what an earlier attempt left there; one outside it (a zone every execution adds to, e.g. new-data/)
    only gains or overwrites files, as an S3 upload does."""
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        output = item["S3Output"]
        store.publish([Path(remap(output["LocalPath"], instance.root)) for instance in instances], output["S3Uri"],
                      replace=not execution_id or execution_id in output["S3Uri"])


# ------------------------------------------------------------------------------------------- training
def prepare_training(request: dict, workdir: Path, store: LocalStore) -> list[Instance]:
    """The training container: channels under input/data, config files, SM_* variables of the toolkit."""
    resources = request["ResourceConfig"]
    host = hosts(1)[0]
    root = fresh_root(workdir, host)
    channels = {}
    for channel in request.get("InputDataConfig", []):
        name = channel["ChannelName"]
        store.download(channel["DataSource"]["S3DataSource"]["S3Uri"], root / "input" / "data" / name)
        channels[name] = {"TrainingInputMode": channel.get("InputMode", "File"), "S3DistributionType":
                          channel["DataSource"]["S3DataSource"].get("S3DataDistributionType", "FullyReplicated")}
    hyperparameters = {key: str(value) for key, value in request.get("HyperParameters", {}).items()}
    config = root / "input" / "config"
    write_json_atomic(config / "hyperparameters.json", hyperparameters)
    write_json_atomic(config / "inputdataconfig.json", channels)
    write_json_atomic(config / "resourceconfig.json", {"current_host": host, "hosts": [host]})
    for folder in ("model", "output/data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    environment = {
        "SM_MODEL_DIR": str(root / "model"), "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_DIR": str(root / "output"), "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_CONFIG_DIR": str(config), "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hyperparameters, sort_keys=True), "SM_CURRENT_HOST": host,
        "SM_HOSTS": json.dumps([host]), "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_NUM_GPUS": "0",
        "SM_CURRENT_INSTANCE_TYPE": str(resources.get("InstanceType", "")),
        **{f"SM_CHANNEL_{name.upper()}": str(root / "input" / "data" / name) for name in channels},
        **{f"SM_HP_{key.upper()}": value for key, value in hyperparameters.items()},
        **request.get("Environment", {}),
    }
    algorithm = request["AlgorithmSpecification"]
    command = [*algorithm.get("ContainerEntrypoint", TRAINING_COMMAND), *algorithm.get("ContainerArguments", [])]
    return [Instance(host, root, [remap(str(part), root) for part in command], environment)]


def collect_training(request: dict, job_name: str, instance: Instance, store: LocalStore) -> str:
    """model/ -> <S3OutputPath>/<job>/output/model.tar.gz (and output/data -> output.tar.gz); returns the model URI."""
    output = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output"
    staging = instance.root.parent / "upload"
    staging.mkdir(exist_ok=True)
    reproducible_tar(instance.root / "model", staging / "model.tar.gz")
    store.put_file(staging / "model.tar.gz", f"{output}/model.tar.gz")
    if any((instance.root / "output" / "data").iterdir()):
        reproducible_tar(instance.root / "output" / "data", staging / "output.tar.gz")
        store.put_file(staging / "output.tar.gz", f"{output}/output.tar.gz")
    return f"{output}/model.tar.gz"


def reproducible_tar(folder: Path, target: Path) -> None:
    """tar.gz of a folder that depends only on file names and bytes: sorted, mtime 0, no owners."""
    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False, filter=normalised)


# ------------------------------------------------------------------------------------------- transform
def prepare_transform(request: dict, model: dict, workdir: Path, store: LocalStore) -> list[Instance]:
    """Serving containers for batch transform: the model extracted under /opt/ml/model, each instance given
    its share of the input objects, the serving stack (pipelines.local.serving) as the command."""
    container = model["PrimaryContainer"]
    count = int(request["TransformResources"]["InstanceCount"])
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    output = request["TransformOutput"]
    instances = []
    for index, host in enumerate(hosts(count)):
        root = fresh_root(workdir, host)
        model_dir = root / "model"
        store.download(container["ModelDataUrl"], root / "model-archive")
        extract_model(root / "model-archive" / Path(container["ModelDataUrl"]).name, model_dir, container["ModelDataUrl"])
        store.download(source["S3Uri"], root / "input", share=(index, count))
        (root / "output").mkdir()
        environment = {key: remap(str(value), root) for key, value in container.get("Environment", {}).items()}
        command = [sys.executable, "-m", "pipelines.local.serving", "--model-dir", str(model_dir),
                   "--input", str(root / "input"), "--output", str(root / "output"),
                   "--content-type", request["TransformInput"].get("ContentType", "application/jsonlines"),
                   "--accept", output.get("Accept", "application/jsonlines"),
                   "--split-type", request["TransformInput"].get("SplitType", "None"),
                   "--strategy", request.get("BatchStrategy", "MultiRecord"),
                   "--max-payload-mb", str(request.get("MaxPayloadInMB", 6)),
                   "--assemble-with", output.get("AssembleWith", "None")]
        instances.append(Instance(host, root, command, {**environment, **request.get("Environment", {})}))
    return instances


def extract_model(archive: Path, model_dir: Path, uri: str) -> None:
    """Unpack a model.tar.gz; JobFailed naming it when it is not a readable archive or a member would land
    outside model_dir (the "data" filter refuses those, links and devices)."""
    if not archive.is_file():
        raise JobFailed(f"model archive {uri} is not one object (a prefix?): ModelDataUrl names a model.tar.gz")
    try:
        extract_model_archive(archive, model_dir)
    except ArtifactIntegrityError as error:
        raise JobFailed(f"model archive {uri} cannot be extracted: {error}") from None


def collect_transform(request: dict, instances: list[Instance], store: LocalStore) -> None:
    """Every instance's <input key>.out files to the transform's S3OutputPath."""
    store.publish([instance.root / "output" for instance in instances], request["TransformOutput"]["S3OutputPath"])


# ------------------------------------------------------------------------------------------- running
def run_instances(instances: list[Instance], log_dir: Path, listener: Listener, max_runtime: float | None = None,
                  warm: WarmStarter | None = None) -> JobRun:
    """Run a job's instances side by side; JobFailed (with the failing instance's reason) unless all exit 0.
    With `warm`, instances start as forks of its warm process when it can (pipelines/local/warm.py)."""
    started = time.perf_counter()
    results: dict[str, tuple[int, deque]] = {}
    logs = [log_dir / ("log.txt" if len(instances) == 1 else f"log-{instance.host}.txt") for instance in instances]
    running: list[subprocess.Popen] = []
    threads = [threading.Thread(target=lambda i=instance, log=log: results.__setitem__(
        i.host, _run_one(i, log, listener, max_runtime, running, warm))) for instance, log in zip(instances, logs)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C or the executor being stopped: the containers go too
        for process in running:
            process.kill()
        raise
    seconds = time.perf_counter() - started
    for instance, log in zip(instances, logs):
        code, tail = results[instance.host]
        if code != 0:
            reason_file = instance.root / "output" / "failure"
            reason = " ".join(reason_file.read_text(encoding="utf-8", errors="replace").split()) \
                if reason_file.is_file() else ""  # one line, whatever the job wrote
            where = f" on {instance.host}" if len(instances) > 1 else ""
            if code < 0:
                what = f"killed by signal {signal.Signals(-code).name}{where}"
                kind = "SageMaker.JOB_INTERNAL_ERROR"  # like a lost instance: worth the retry policy
            else:
                what, kind = f"exit code {code}{where}", None
            raise JobFailed(f"{what}: {reason or (tail[-1] if tail else 'no output')}", exit_code=code,
                            log_tail=list(tail), exception_type=kind)
    return JobRun(seconds, logs)


def _run_one(instance: Instance, log_path: Path, listener: Listener, max_runtime: float | None,
             running: list, warm: WarmStarter | None = None) -> tuple[int, deque]:
    """One container process: stdout relayed and logged, stderr logged (progress and notes relayed)."""
    bin_dir = str(Path(sys.executable).parent)  # `tweetops` and `python` resolve to this environment's
    environment = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                   "TWEETOPS_ML_ROOT": str(instance.root), "PYTHONUNBUFFERED": "1",
                   **{key: str(value) for key, value in instance.environment.items()}}
    command = list(instance.command)
    command[0] = shutil.which(command[0], path=bin_dir) or command[0]  # this environment's, whatever PATH says
    tail: deque = deque(maxlen=20)
    lock = threading.Lock()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(instance.command)}\n")
        process = warm.spawn(command, instance.root, environment) if warm is not None else None
        if process is not None:
            log.write("(started warm: a fork of the run's warm process)\n")
        try:
            process = process or subprocess.Popen(command, cwd=instance.root, env=environment, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1,
                                                  preexec_fn=_die_with_parent)
        except OSError as error:
            log.write(f"cannot start: {error}\n")
            return 127, deque([f"cannot start {command[0]}: {error.strerror}"])
        running.append(process)

        def pump(stream, relay_all: bool) -> None:
            for raw in stream:
                text = raw.rstrip("\n")
                with lock:
                    log.write(raw if raw.endswith("\n") else raw + "\n")
                    log.flush()
                    match = PROGRESS_LINE.match(text)
                    if match:
                        listener.progress(int(match[1]), int(match[2]), match[3])
                        continue
                    if text.strip():
                        tail.append(text)
                    if relay_all or text.startswith(RELAYED_PREFIXES):
                        listener.line(text.replace(str(instance.root), CONTAINER_ROOT))  # as the job sees it

        readers = [threading.Thread(target=pump, args=(process.stdout, True)),
                   threading.Thread(target=pump, args=(process.stderr, False))]
        for reader in readers:
            reader.start()
        try:
            code = process.wait(timeout=max_runtime)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            tail.append(f"stopped after MaxRuntimeInSeconds={max_runtime:.0f}")
        for reader in readers:
            reader.join()
        log.write(f"exit code {code}\n")
    return code, tail


def _load_libc():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _load_libc()  # loaded here: the forked child must not import anything before exec


def _die_with_parent() -> None:
    """Linux: the container process gets SIGKILL when the executor dies, so no orphan writes after a kill."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
