"""Run a SageMaker pipeline definition (the JSON that `upsert` sends) on this machine.

What it honours, as SageMaker does: parameters and their defaults, the step graph (property references
and DependsOn), property files and JsonGet, ConditionStep branches, Fail steps, processing, training and
transform jobs, model creation and registration (into the local registry), step caching, retry policies,
callback steps (the execution waits for a decision: callbacks.py). A home folder holds everything (docs/local.md):

    <home>/s3/<bucket>/<key>                   the local store that s3:// URIs map to
    <home>/executions/<id>/execution.json      status per step, timings, failure reasons, parameters
    <home>/executions/<id>/definition.json     the definition that ran
    <home>/executions/<id>/steps/<step>/       log.txt, properties.json, job/ (each instance's /opt/ml)
    <home>/executions/<id>/artifacts           -> the execution's prefix in the store
    <home>/models/<name>.json                  models created by Model steps
    <home>/registry.db                         the local model registry
    <home>/cache/<key>.json                    step cache entries
    <home>/callbacks/                          callback steps waiting for a decision, and the decisions (callbacks.py)
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from pipelines.local import callbacks, containers, warm
from pipelines.local.containers import JobFailed, Listener
from pipelines.local.expressions import (ExpressionError, Scope, evaluate_condition, problems, referenced_steps,
                                         resolve, walk)
from pipelines.local.store import LocalStore, StoreError
from processing.provenance import code_version
from processing.sanitize import one_line
from processing.storage import write_json_atomic
from register.local import LOCAL_ACCOUNT, LOCAL_REGION, LocalModelRegistry, RegistryError

JOB_TYPES = ("Processing", "Training", "Transform")
SUPPORTED_TYPES = (*JOB_TYPES, "Model", "RegisterModel", "Condition", "Fail", "Callback")
FINAL = ("Succeeded", "Failed", "Stopped")


class LocalRunError(ValueError):
    """The definition or a request cannot be run here; raised before any step runs."""


class StepFailed(RuntimeError):
    """A step failed (after its retries); the message is the step's FailureReason."""

    def __init__(self, message: str, log_tail: list[str] | None = None, exception_type: str | None = None):
        super().__init__(message)
        self.log_tail = log_tail or []
        self.exception_type = exception_type


class AwaitingCallback(Exception):
    """A callback step has no decision yet: the execution stays Executing until one is sent and it is resumed."""


class Report:
    """What the executor tells the user while it runs; the default says nothing (tests, scripts)."""

    def step_started(self, name: str, kind: str, index: int, total: int) -> None: ...
    def step_ended(self, name: str, status: str, detail: str) -> None: ...
    def line(self, name: str, text: str) -> None: ...
    def progress(self, name: str, done: int, total: int, unit: str) -> None: ...


@dataclass
class Plan:
    """A parsed, checked definition: every step (branches included) in a runnable order."""
    definition: dict
    steps: dict[str, dict]
    order: list[str]
    parents: dict[str, set[str]]
    branch: dict[str, tuple[str, bool]]  # step -> (condition step, runs when the outcome is this)
    parameters: dict[str, Any]


@dataclass
class Execution:
    """One execution's folder and record (the record mirrors DescribePipelineExecution + its steps)."""
    folder: Path
    record: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.record["PipelineExecutionId"]

    def save(self) -> None:
        self.record["LastModifiedTime"] = _now()
        write_json_atomic(self.folder / "execution.json", self.record)

    def step(self, name: str) -> dict:
        for item in self.record["Steps"]:
            if item["StepName"] == name:
                return item
        item = {"StepName": name}
        self.record["Steps"].append(item)
        return item

    def properties_path(self, name: str) -> Path:
        return self.folder / "steps" / name / "properties.json"

    @property
    def waiting(self) -> dict | None:
        """The callback step this execution waits on ({"StepName", "CallbackToken"}), or None."""
        if self.record.get("PipelineExecutionStatus") != "Executing":
            return None
        for item in self.record["Steps"]:
            token = item.get("Metadata", {}).get("Callback", {}).get("CallbackToken")
            if item.get("StepStatus") == "Executing" and token:
                return {"StepName": item["StepName"], "CallbackToken": token}
        return None

    @property
    def interrupted(self) -> bool:
        """Recorded as running, but no process holds it and no decision is awaited: the run was killed (resume
        continues it)."""
        if self.record.get("PipelineExecutionStatus") != "Executing" or self.waiting:
            return False
        with open(self.folder / ".lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True


# ---------------------------------------------------------------------------------------------- planning
def plan(definition: dict | str, overrides: dict[str, str] | None = None,
         entry_points: dict = containers.ENTRY_POINTS) -> Plan:
    """Parse and check a definition and parameter values; LocalRunError names whatever cannot run, including
    programs other than `entry_points`, paths outside /opt/ml, and a definition not shaped like SageMaker's."""
    try:
        return _plan(definition, overrides, entry_points)
    except LocalRunError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:  # hand-edited or tampered JSON
        raise LocalRunError(f"the definition is malformed: {one_line(error)}") from None


def _plan(definition: dict | str, overrides: dict[str, str] | None, entry_points: dict) -> Plan:
    definition = json.loads(definition) if isinstance(definition, str) else definition
    declared = {item["Name"]: item for item in definition.get("Parameters", [])}
    parameters = {name: item.get("DefaultValue") for name, item in declared.items()}
    for name, value in (overrides or {}).items():
        if name not in declared:
            raise LocalRunError(f"--param {name}: the pipeline has no such parameter; known: {', '.join(declared)}")
        parameters[name] = _typed(name, declared[name].get("Type", "String"), value)
        allowed = declared[name].get("EnumValues")
        if allowed and parameters[name] not in allowed:  # SageMaker refuses such an execution too
            raise LocalRunError(f"--param {name}={value}: not one of {', '.join(map(str, allowed))}")
    missing = [name for name, value in parameters.items() if value is None]
    if missing:
        raise LocalRunError(f"parameters without a default need a value: {', '.join(missing)}")

    steps: dict[str, dict] = {}
    branch: dict[str, tuple[str, bool]] = {}

    def collect(items: list[dict], condition: tuple[str, bool] | None) -> None:
        for step in items:
            if step["Name"] in steps:
                raise LocalRunError(f"step name {step['Name']!r} is used twice")
            steps[step["Name"]] = step
            if condition:
                branch[step["Name"]] = condition
            if step.get("Type") == "Condition":
                collect(step["Arguments"].get("IfSteps", []), (step["Name"], True))
                collect(step["Arguments"].get("ElseSteps", []), (step["Name"], False))

    collect(definition.get("Steps", []), None)
    errors = []
    for name, step in steps.items():
        kind = step.get("Type")
        if kind not in SUPPORTED_TYPES:
            errors.append(f"step {name}: type {kind} is not supported by the local executor "
                          f"(supported: {', '.join(SUPPORTED_TYPES)})")
            continue
        body = {key: value for key, value in step.items() if key not in ("IfSteps", "ElseSteps")}
        if kind == "Condition":
            body = {"Conditions": step["Arguments"].get("Conditions", [])}
        errors += [f"step {name}: {problem}" for problem in problems(body, set(declared), set(steps))]
        errors += [f"step {name}: {problem}" for problem in _unsupported_settings(kind, step.get("Arguments", {}))]
        errors += [f"step {name}: {problem}"
                   for problem in containers.refusals(kind, step.get("Arguments", {}), entry_points)]
    if errors:
        raise LocalRunError("; ".join(errors))

    parents = {}
    for name, step in steps.items():
        body = step["Arguments"].get("Conditions", []) if step["Type"] == "Condition" else step.get("Arguments", {})
        parents[name] = referenced_steps(body) | set(step.get("DependsOn", []))
        if name in branch:
            parents[name].add(branch[name][0])
        parents[name].discard(name)
    return Plan(definition, steps, _topological(list(steps), parents), parents, branch, parameters)


def _typed(name: str, kind: str, value: str) -> Any:
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
        if kind == "Boolean":
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
    except ValueError:
        raise LocalRunError(f"--param {name}={value!r}: expected a {kind}") from None
    return value


def _unsupported_settings(kind: str, arguments: dict) -> list[str]:
    """Request features this executor cannot reproduce faithfully (so it refuses them up front)."""
    found = []
    if kind == "Processing":
        for item in arguments.get("ProcessingInputs", []):
            source = item.get("S3Input")
            if source is None:
                found.append(f"input {item.get('InputName')}: only S3 inputs are supported")
            elif source.get("S3DataType", "S3Prefix") != "S3Prefix" or source.get("S3InputMode", "File") != "File" \
                    or source.get("S3CompressionType", "None") != "None":
                found.append(f"input {item.get('InputName')}: only S3Prefix, File mode, uncompressed inputs")
    if kind == "Training" and arguments.get("ResourceConfig", {}).get("InstanceCount", 1) != 1:
        found.append("training on more than one instance is not supported locally")
    return found


def _topological(names: list[str], parents: dict[str, set[str]]) -> list[str]:
    """Definition order, moved only as far as dependencies require."""
    order, placed = [], set()
    while len(order) < len(names):
        ready = [name for name in names if name not in placed and parents[name] <= placed]
        if not ready:
            cycle = sorted(set(names) - placed)
            raise LocalRunError(f"the steps {', '.join(cycle)} depend on each other in a cycle")
        order.append(ready[0])
        placed.add(ready[0])
    return order


# ---------------------------------------------------------------------------------------------- executing
JOB_STEP_TYPES = ("Processing", "Training", "Transform")  # steps that run containers


class LocalExecutor:
    """Runs plans in a home folder (layout in the module docstring)."""

    def __init__(self, home: str | Path, report: Report | None = None, cache: bool = True,
                 sleep: Callable[[float], None] = time.sleep, entry_points: dict = containers.ENTRY_POINTS):
        self.home = Path(home).resolve()  # jobs run in their own folders: relative paths would point elsewhere
        self.store = LocalStore(self.home / "s3")
        self.report = report or Report()
        self.cache = cache
        self.sleep = sleep
        self.warm: warm.WarmStarter | None = None  # while a run runs
        self.entry_points = entry_points  # the programs jobs may run (tests add their own small programs)

    @property
    def registry(self) -> LocalModelRegistry:
        """The local model registry (created on first use, so read-only commands leave no file behind)."""
        return LocalModelRegistry(self.home / "registry.db")

    # ---- entry points
    def start(self, definition: dict | str, overrides: dict[str, str] | None = None,
              pipeline_name: str = "tweetops-training") -> Execution:
        """Check the definition, then run a new execution of it to the end."""
        checked = plan(definition, overrides, self.entry_points)
        execution_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        execution = Execution(self.home / "executions" / execution_id)
        execution.folder.mkdir(parents=True)
        write_json_atomic(execution.folder / "definition.json", checked.definition)
        execution.record = {
            "PipelineExecutionId": execution_id, "PipelineName": pipeline_name,
            "PipelineExecutionArn": f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:pipeline/{pipeline_name}/"
                                    f"execution/{execution_id}",
            "PipelineExecutionStatus": "Executing", "CreationTime": _now(), "Parameters": checked.parameters,
            "Steps": [],
        }
        execution.save()
        return self._run(execution, checked)

    def resume(self, execution_id: str | None = None) -> Execution:
        """Continue an execution that was interrupted: completed steps are kept, the rest run."""
        execution = self.load(execution_id or self._latest_unfinished())
        if execution.record["PipelineExecutionStatus"] == "Succeeded":
            raise LocalRunError(f"execution {execution.id} already succeeded; nothing to resume")
        stored = execution.folder / "definition.json"
        try:  # the stored definition and parameters are files anyone could have edited: the same checks as a start
            parameters = {name: str(value) for name, value in execution.record["Parameters"].items()}
            checked = plan(json.loads(stored.read_text(encoding="utf-8")), parameters, self.entry_points)
        except (OSError, ValueError, KeyError, AttributeError) as error:
            reason = str(error) if isinstance(error, LocalRunError) else one_line(error)
            raise LocalRunError(f"cannot resume execution {execution.id}: {stored}: {reason}") from None
        execution.record["PipelineExecutionStatus"] = "Executing"
        execution.record.pop("FailureReason", None)
        return self._run(execution, checked)

    def load(self, execution_id: str) -> Execution:
        """An execution by id (LocalRunError when there is none)."""
        folder = self.home / "executions" / execution_id
        if execution_id in ("", ".", "..") or "/" in execution_id or "\0" in execution_id \
                or not (folder / "execution.json").is_file():
            raise LocalRunError(f"no execution {execution_id!r} under {self.home / 'executions'}")
        try:
            record = json.loads((folder / "execution.json").read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise LocalRunError(f"{folder / 'execution.json'}: not a readable execution record "
                                f"({type(error).__name__}); move the folder away to go on") from None
        return Execution(folder, record)

    def executions(self) -> list[Execution]:
        """Every execution in this home, oldest first (by creation time: ids started in one second sort at random)."""
        root = self.home / "executions"
        executions = [self.load(folder.name) for folder in root.iterdir()
                      if (folder / "execution.json").is_file()] if root.is_dir() else []
        return sorted(executions, key=lambda execution: (execution.record.get("CreationTime", ""), execution.id))

    def _latest_unfinished(self) -> str:
        unfinished = [execution for execution in self.executions()
                      if execution.record["PipelineExecutionStatus"] != "Succeeded"]
        if not unfinished:
            raise LocalRunError(f"no unfinished execution to resume under {self.home / 'executions'}")
        return unfinished[-1].id

    # ---- the run loop
    def _run(self, execution: Execution, checked: Plan) -> Execution:
        """Run the steps with a warm process for the jobs' containers (pipelines/local/warm.py) while they run."""
        jobs = any(step["Type"] in JOB_STEP_TYPES for step in checked.steps.values())
        self.warm = warm.WarmStarter().start() if jobs and warm.enabled() else None
        try:
            return self._run_steps(execution, checked)
        finally:
            if self.warm is not None:
                self.warm.close()
                self.warm = None

    def _run_steps(self, execution: Execution, checked: Plan) -> Execution:
        with _exclusive(execution.folder / ".lock", execution.id):
            outcome: dict[str, bool] = {}
            try:
                self._link_artifacts(execution, checked)
                scope = self._scope(execution, checked)
                for index, name in enumerate(checked.order, 1):
                    step = checked.steps[name]
                    record = execution.step(name)
                    if name in checked.branch:
                        condition, when = checked.branch[name]
                        if outcome.get(condition) is not when:
                            execution.record["Steps"].remove(record)  # not on the branch taken
                            continue
                    if record.get("StepStatus") == "Succeeded":  # done before an interruption
                        scope.steps[name] = self._load_properties(execution, name)
                        if step["Type"] == "Condition":
                            outcome[name] = scope.steps[name]["Outcome"]
                        self.report.step_ended(name, "Succeeded", "completed earlier")
                        continue
                    self.report.step_started(name, step["Type"], index, len(checked.order))
                    properties = self._run_step(execution, checked, step, record, scope)
                    scope.steps[name] = properties
                    if step["Type"] == "Condition":
                        outcome[name] = properties["Outcome"]
                execution.record["PipelineExecutionStatus"] = "Succeeded"
            except AwaitingCallback:  # stays Executing: a decision (callbacks.send_decision) and `resume` continue it
                execution.record.pop("EndTime", None)
                execution.save()
                return execution
            except StepFailed as failure:
                execution.record["PipelineExecutionStatus"] = "Failed"
                execution.record["FailureReason"] = str(failure)
            except KeyboardInterrupt:
                for record in execution.record["Steps"]:
                    if record.get("StepStatus") == "Executing":
                        record.update(StepStatus="Stopped", EndTime=_now())
                execution.record["PipelineExecutionStatus"] = "Stopped"
                execution.record["FailureReason"] = "interrupted; `tweetops run-local --resume` continues it"
                execution.save()
                raise
            except Exception as error:  # outside any step's own handling (an earlier step's properties unreadable, ...)
                for record in execution.record["Steps"]:
                    if record.get("StepStatus") == "Executing":
                        record.update(StepStatus="Failed", EndTime=_now(), FailureReason=one_line(error))
                execution.record["PipelineExecutionStatus"] = "Failed"
                execution.record["FailureReason"] = one_line(error)
            execution.record["EndTime"] = _now()
            execution.save()
        return execution

    def _run_step(self, execution: Execution, checked: Plan, step: dict, record: dict, scope: Scope) -> dict:
        name, kind = step["Name"], step["Type"]
        record.clear()
        record.update(StepName=name, StepType=kind, StepStatus="Executing", StartTime=_now(), AttemptCount=0,
                      StepDisplayName=step.get("DisplayName", name))
        execution.save()
        started = time.perf_counter()
        try:
            properties = self._attempts(execution, step, record, scope)
            write_json_atomic(execution.properties_path(name), properties)
        except AwaitingCallback as waiting:
            execution.save()
            self.report.step_ended(name, "Waiting", f"for a decision on callback token {waiting}")
            raise
        except Exception as error:  # whatever went wrong, the step ends Failed with one line (never Executing)
            failure = error if isinstance(error, StepFailed) else self._unexpected(execution, name, error)
            record.update(StepStatus="Failed", EndTime=_now(), FailureReason=str(failure),
                          Seconds=round(time.perf_counter() - started, 3))
            if failure.log_tail:
                record["LogTail"] = failure.log_tail
            execution.save()
            self.report.step_ended(name, "Failed", str(failure))
            raise failure from None
        record.update(StepStatus="Succeeded", EndTime=_now(), Seconds=round(time.perf_counter() - started, 3))
        execution.save()
        detail = record.get("CacheHitResult", {}).get("SourcePipelineExecutionId")
        self.report.step_ended(name, "Succeeded", f"cache hit: reused execution {detail}" if detail else
                               f"{record['Seconds']:.1f}s")
        return properties

    def _attempts(self, execution: Execution, step: dict, record: dict, scope: Scope) -> dict:
        """Run a step, retrying as its RetryPolicies say for the failure's exception type."""
        used: dict[int, int] = {}
        while True:
            record["AttemptCount"] += 1
            try:
                return self._execute(execution, step, record, scope)
            except StepFailed as failure:
                policies = [(i, p) for i, p in enumerate(step.get("RetryPolicies", []))
                            if failure.exception_type and failure.exception_type in p.get("ExceptionType", [])]
                if not policies:
                    raise
                index, policy = policies[0]
                used[index] = used.get(index, 0) + 1
                if used[index] >= int(policy.get("MaxAttempts", 1)):
                    raise
                wait = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2)) ** (used[index] - 1)
                self.report.line(step["Name"], f"retrying in {wait:.0f}s after {failure.exception_type}: {failure}")
                self.sleep(wait)

    def _execute(self, execution: Execution, step: dict, record: dict, scope: Scope) -> dict:
        name, kind = step["Name"], step["Type"]
        try:
            if kind == "Condition":
                holds = all(evaluate_condition(item, scope) for item in step["Arguments"]["Conditions"])
                record["Metadata"] = {"Condition": {"Outcome": str(holds)}}
                return {"Outcome": holds}
            if kind == "Fail":
                message = resolve(step["Arguments"].get("ErrorMessage", ""), scope)
                record["Metadata"] = {"Fail": {"ErrorMessage": message}}
                raise StepFailed(message or f"Fail step {name}")
            request = resolve(step["Arguments"], scope)
            if kind == "Callback":
                return self._callback(execution, step, request, record)
            if kind == "Model":
                return self._create_model(execution, name, request, record)
            if kind == "RegisterModel":
                return self._register(execution, request, record)
            return self._job(execution, step, request, record)
        except (StepFailed, AwaitingCallback):
            raise
        except (ExpressionError, StoreError, RegistryError, KeyError, callbacks.CallbackError) as error:
            raise StepFailed(one_line(error)) from None
        except OSError as error:  # the executor's own file work failed: a service fault in SageMaker's terms
            raise StepFailed(f"{error}", exception_type="Step.SERVICE_FAULT") from None
        except Exception as error:  # anything else (a corrupt file, a bug): one line, not retried
            raise self._unexpected(execution, name, error) from None

    def _unexpected(self, execution: Execution, name: str, error: Exception) -> StepFailed:
        """An unexpected exception as the step's one-line failure; its traceback goes to the step's log."""
        log = execution.folder / "steps" / name / "log.txt"
        with contextlib.suppress(OSError):
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write("".join(traceback.format_exception(error)))
        return StepFailed(one_line(error))

    # ---- jobs
    def _job(self, execution: Execution, step: dict, request: dict, record: dict) -> dict:
        name, kind = step["Name"], step["Type"]
        model = self._model(request["ModelName"]) if kind == "Transform" else None
        # Checked again now that expressions are resolved (a parameter, a property, a registered package's container).
        refused = containers.refusals(kind, request, self.entry_points) + (
            containers.refusals("Model", model, self.entry_points) if model else [])
        if refused:
            raise StepFailed("; ".join(refused))
        cache_entry = self._cache_entry(step, request)  # the inputs are hashed once, for lookup and store
        cached = self._cache_lookup(cache_entry, step) if cache_entry else None
        if cached:
            record["CacheHitResult"] = {"SourcePipelineExecutionId": cached["execution"],
                                        "SourceStep": cached["step"]}
            record["Metadata"] = cached.get("metadata", {})
            return cached["properties"]
        job_name = f"{execution.id}-{name}"[:63]
        workdir = execution.folder / "steps" / name / "job"
        log_dir = execution.folder / "steps" / name
        for stale in log_dir.glob("log*.txt"):  # a new attempt starts a new log
            stale.unlink()
        listener = Listener(line=lambda text: self.report.line(name, text),
                            progress=lambda done, total, unit: self.report.progress(name, done, total, unit))
        max_runtime = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        try:
            if kind == "Processing":
                instances = containers.prepare_processing(request, workdir, self.store)
                run = containers.run_instances(instances, log_dir, listener, max_runtime, self.warm)
                containers.collect_processing(request, instances, self.store, execution.id)
                properties = {**request, "ProcessingJobName": job_name, "ProcessingJobStatus": "Completed",
                              "ProcessingJobArn": _arn("processing-job", job_name)}
                record["Metadata"] = {"ProcessingJob": {"Arn": properties["ProcessingJobArn"]}}
            elif kind == "Training":
                instances = containers.prepare_training(request, workdir, self.store)
                run = containers.run_instances(instances, log_dir, listener, max_runtime, self.warm)
                model_uri = containers.collect_training(request, job_name, instances[0], self.store)
                properties = {**request, "TrainingJobName": job_name, "TrainingJobStatus": "Completed",
                              "TrainingJobArn": _arn("training-job", job_name),
                              "ModelArtifacts": {"S3ModelArtifacts": model_uri}}
                record["Metadata"] = {"TrainingJob": {"Arn": properties["TrainingJobArn"]}}
            else:
                instances = containers.prepare_transform(request, model, workdir, self.store)
                run = containers.run_instances(instances, log_dir, listener, max_runtime, self.warm)
                containers.collect_transform(request, instances, self.store)
                properties = {**request, "TransformJobName": job_name, "TransformJobStatus": "Completed",
                              "TransformJobArn": _arn("transform-job", job_name)}
                record["Metadata"] = {"TransformJob": {"Arn": properties["TransformJobArn"]}}
        except JobFailed as failure:
            raise StepFailed(f"{kind} job {job_name} failed: {failure}", log_tail=failure.log_tail,
                             exception_type=failure.exception_type) from None
        record["JobSeconds"] = round(run.seconds, 3)
        if cache_entry:
            write_json_atomic(cache_entry, {"created": _now(), "execution": execution.id, "step": name,
                                            "properties": properties, "metadata": record["Metadata"]})
        return properties

    # ---- callbacks
    def _callback(self, execution: Execution, step: dict, inputs: dict, record: dict) -> dict:
        """A callback step: announced once (its inputs, as its SQS message carries them), then waiting until a
        decision arrives; Success makes the outputs its OutputParameters, Failure fails it with the reason."""
        name = step["Name"]
        token = callbacks.token_for(self.home, execution.id, name) or callbacks.announce(
            self.home, execution.id, name, inputs, [item["OutputName"] for item in step.get("OutputParameters", [])])
        record["Metadata"] = {"Callback": {"CallbackToken": token, "SqsQueueUrl": step.get("SqsQueueUrl", "")}}
        decided = callbacks.decision(self.home, token)
        if decided is None:
            raise AwaitingCallback(token)
        callbacks.settle(self.home, token)
        if decided["status"] != "Success":
            raise StepFailed(decided.get("reason") or f"callback {token} was sent a failure")
        outputs = decided.get("outputs", {})
        record["Metadata"]["Callback"]["OutputParameters"] = [{"Name": key, "Value": value}
                                                              for key, value in outputs.items()]
        return {"OutputParameters": outputs}

    # ---- models and the registry
    def _create_model(self, execution: Execution, name: str, request: dict, record: dict) -> dict:
        model_name = f"{name}-{execution.id}"[:63]
        container = request.get("PrimaryContainer") or request["Containers"][0]
        if "ModelPackageName" in container:  # a model from a registered package: its inference container
            package = self.registry.describe_model_package(container["ModelPackageName"])
            if package["ModelApprovalStatus"] != "Approved":
                raise StepFailed(f"model package {package['ModelPackageArn']} is {package['ModelApprovalStatus']}: "
                                 "only an approved package can be deployed (tweetops registry approve)")
            container = {**package["InferenceSpecification"]["Containers"][0],
                         "ModelPackageName": package["ModelPackageArn"]}
        model = {**request, "PrimaryContainer": container, "ModelName": model_name,
                 "ModelArn": _arn("model", model_name.lower())}
        model.pop("Containers", None)
        write_json_atomic(self.home / "models" / f"{model_name}.json", model)
        record["Metadata"] = {"Model": {"Arn": model["ModelArn"]}}
        return model

    def _model(self, model_name: str) -> dict:
        path = self.home / "models" / f"{model_name}.json"
        if not path.is_file():
            raise StoreError(f"no model {model_name!r} (create it with a Model step)")
        return json.loads(path.read_text(encoding="utf-8"))

    def _register(self, execution: Execution, request: dict, record: dict) -> dict:
        # SageMaker records the pipeline execution that registered a package as its lineage.
        request = {**request, "MetadataProperties": {
            **request.get("MetadataProperties", {}), "GeneratedBy": execution.record["PipelineExecutionArn"]}}
        # Metadata values are strings in the API; JsonGet may have produced true/0.9: keep their JSON text.
        request["CustomerMetadataProperties"] = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in request.get("CustomerMetadataProperties", {}).items()}
        response = self.registry.create_model_package(request)
        record["Metadata"] = {"RegisterModel": {"Arn": response["ModelPackageArn"]}}
        return {**request, **self.registry.describe_model_package(response["ModelPackageArn"])}

    # ---- cache
    def _cache_key(self, step: dict, request: dict) -> str:
        """SageMaker's cache attributes of the step type, plus the content of every input and the code version
        (SageMaker compares input URIs only; content-addressed staging keeps the two in agreement)."""
        kind = step["Type"]
        attributes = {"Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
                      "Training": ("AlgorithmSpecification", "Environment", "HyperParameters", "InputDataConfig"),
                      "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput")}[kind]
        key = {"type": kind, "code": code_version(), **{name: request.get(name) for name in attributes},
               "content": {uri: self.store.fingerprint(uri) for uri in _input_uris(kind, request)}}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()

    def _cache_entry(self, step: dict, request: dict) -> Path | None:
        """The cache file of this step and request, or None when caching is off (for the step or the run)."""
        if not (self.cache and step.get("CacheConfig", {}).get("Enabled")):
            return None
        return self.home / "cache" / f"{self._cache_key(step, request)}.json"

    def _cache_lookup(self, path: Path, step: dict) -> dict | None:
        """The earlier result in `path`, if it exists, has not expired and its outputs are still there."""
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # a damaged entry is a miss: the step runs again and writes a new one
            return None
        expire = _duration(step["CacheConfig"].get("ExpireAfter"))
        if expire and datetime.fromisoformat(entry["created"]) + expire < datetime.now(timezone.utc):
            return None
        if not all(self.store.objects(uri) for uri in _output_uris(step["Type"], entry["properties"])):
            return None  # the earlier outputs were deleted
        return entry

    # ---- scope and files
    def _scope(self, execution: Execution, checked: Plan) -> Scope:
        record = execution.record

        def read_property_file(step_name: str, file_name: str):
            step = checked.steps[step_name]
            files = {item["PropertyFileName"]: item for item in step.get("PropertyFiles", [])}
            if file_name not in files:
                raise ExpressionError(f"step {step_name} has no property file {file_name}")
            output = walk(scope.steps[step_name], ["ProcessingOutputConfig", "Outputs", files[file_name]["OutputName"]],
                          f"property file {file_name}")
            return read_json_uri(f"{output['S3Output']['S3Uri'].rstrip('/')}/{files[file_name]['FilePath']}")

        def read_json_uri(uri: str):
            path = self.store.path(uri)
            if not path.is_file():
                raise ExpressionError(f"{uri}: no such object")
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except ValueError as error:
                raise ExpressionError(f"{uri}: not a JSON document ({one_line(error)})") from None

        scope = Scope(parameters=record["Parameters"], execution={
            "PipelineExecutionId": record["PipelineExecutionId"],
            "PipelineExecutionArn": record["PipelineExecutionArn"], "PipelineName": record["PipelineName"],
            "PipelineArn": record["PipelineExecutionArn"].split("/execution/")[0],
            "StartDateTime": record["CreationTime"], "CurrentDateTime": _now()},
            read_property_file=read_property_file, read_json_uri=read_json_uri)
        return scope

    def _load_properties(self, execution: Execution, name: str) -> dict:
        return json.loads(execution.properties_path(name).read_text(encoding="utf-8"))

    def _link_artifacts(self, execution: Execution, checked: Plan) -> None:
        """<execution>/artifacts -> the store prefix that the definition's outputs name with the execution id."""
        text = json.dumps(checked.definition)
        prefixes = re.findall(r'"(s3://[^"]+)",\s*\{"Get": "Execution\.PipelineExecutionId"\}', text)
        # tweetops' zones of an execution are under <prefix>/executions/<id>; other zones (quarantine/<id>) are not.
        prefix = next((uri for uri in prefixes if uri.rstrip("/").endswith("/executions")),
                      prefixes[0] if prefixes else None)
        link = execution.folder / "artifacts"
        if prefix and not link.is_symlink():
            target = self.store.path(f"{prefix.rstrip('/')}/{execution.id}")
            with contextlib.suppress(OSError):
                link.symlink_to(os.path.relpath(target, execution.folder), target_is_directory=True)


# ---------------------------------------------------------------------------------------------- helpers
def _input_uris(kind: str, request: dict) -> list[str]:
    if kind == "Processing":
        return [item["S3Input"]["S3Uri"] for item in request.get("ProcessingInputs", [])]
    if kind == "Training":
        return [item["DataSource"]["S3DataSource"]["S3Uri"] for item in request.get("InputDataConfig", [])]
    return [request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]]


def _output_uris(kind: str, properties: dict) -> list[str]:
    if kind == "Processing":
        return [item["S3Output"]["S3Uri"] for item in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])]
    if kind == "Training":
        return [properties["ModelArtifacts"]["S3ModelArtifacts"]]
    return [properties["TransformOutput"]["S3OutputPath"]]


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$", re.I)


def _duration(text: str | None) -> timedelta | None:
    """ISO 8601 duration as CacheConfig.ExpireAfter writes it (P30D, PT1H, P1Y2M); None when absent."""
    if not text:
        return None
    match = _DURATION.match(text if text.upper().startswith("P") else "P" + text)
    if not match:
        raise LocalRunError(f"CacheConfig ExpireAfter {text!r} is not an ISO 8601 duration")
    years, months, weeks, days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=365 * years + 30 * months + 7 * weeks + days, hours=hours, minutes=minutes)


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{kind}/{name.lower()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def _exclusive(path: Path, execution_id: str):
    """One process per execution at a time (a lock the OS releases if the process dies)."""
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LocalRunError(f"execution {execution_id} is being run by another process") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
