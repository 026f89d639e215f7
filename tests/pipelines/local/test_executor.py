"""The local executor on small hand-written definitions: graph, property references, conditions, Fail steps,
job contracts, sharding, caching, retries, resume. Jobs are short Python programs run as containers."""
import json
import os
import random
import re
import sys
import tarfile

import pytest

from pipelines.local.containers import ENTRY_POINTS
from pipelines.local.executor import LocalExecutor, LocalRunError, plan

# These specifications run small Python programs as their jobs: their executors also allow `python -c`.
TEST_ENTRY_POINTS = {kind: allowed | {(sys.executable, "-c")} for kind, allowed in ENTRY_POINTS.items()}
ROLE = "arn:aws:iam::000000000000:role/test"
RETRY_ON_LOST_INSTANCE = [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 1,
                           "BackoffRate": 2.0, "MaxAttempts": 3}]


def processing(name, code, inputs=(), outputs=(), count=1, **extra):
    """A processing step running `python -c code /opt/ml/processing/input /opt/ml/processing/output` (an entry
    point only executors made with TEST_ENTRY_POINTS run)."""
    return {"Name": name, "Type": "Processing", **extra, "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "local", "ContainerEntrypoint": [sys.executable, "-c"],
                             "ContainerArguments": [code, "/opt/ml/processing/input", "/opt/ml/processing/output"]},
        "RoleArn": ROLE,
        "ProcessingInputs": [{"InputName": input_name, "S3Input": {
            "S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{input_name}", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": distribution}}
            for input_name, uri, distribution in inputs],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": output_name, "S3Output": {
            "S3Uri": uri, "LocalPath": f"/opt/ml/processing/output/{output_name}", "S3UploadMode": "EndOfJob"}}
            for output_name, uri in outputs]}}}


def output_of(step, name):
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def definition(*steps, parameters=()):
    return {"Version": "2020-12-01", "Parameters": list(parameters), "Steps": list(steps)}


def per_execution(*parts):
    return {"Std:Join": {"On": "/", "Values": ["s3://test-bucket/runs", {"Get": "Execution.PipelineExecutionId"}, *parts]}}


@pytest.fixture
def executor(tmp_path):
    return LocalExecutor(tmp_path / "home", sleep=lambda seconds: None, entry_points=TEST_ENTRY_POINTS)


def stage(executor, tmp_path, files: dict[str, str]) -> str:
    folder = tmp_path / "input"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return executor.store.stage(folder, "s3://test-bucket/raw")


COPY_UPPER = ("import sys, pathlib; i, o = map(pathlib.Path, sys.argv[1:]); "
              "[(o / 'out' / f.name).write_text(f.read_text().upper()) for f in sorted((i / 'in').rglob('*.txt'))]; "
              "print('copied')")


def test_steps_pass_outputs_by_property_reference(executor, tmp_path):
    raw = stage(executor, tmp_path, {"a.txt": "hola"})
    first = processing("First", COPY_UPPER, inputs=[("in", raw, "FullyReplicated")], outputs=[("out", per_execution("first"))])
    second = processing("Second", COPY_UPPER.replace(".upper()", "[::-1]"),
                        inputs=[("in", output_of("First", "out"), "FullyReplicated")],
                        outputs=[("out", per_execution("second"))])
    execution = executor.start(definition(second, first))  # listed out of order: the graph decides
    assert execution.record["PipelineExecutionStatus"] == "Succeeded"
    assert [step["StepName"] for step in execution.record["Steps"]] == ["First", "Second"]
    result = executor.store.path(f"s3://test-bucket/runs/{execution.id}/second/a.txt")
    assert result.read_text() == "ALOH"
    assert "copied" in (execution.folder / "steps" / "First" / "log.txt").read_text()
    assert (execution.folder / "artifacts" / "second" / "a.txt").read_text() == "ALOH"


def test_a_relative_home_works_from_any_job_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    executor = LocalExecutor("home", entry_points=TEST_ENTRY_POINTS)  # what `tweetops run-local` gets by default: ./tweetops-local
    raw = stage(executor, tmp_path, {"a.txt": "hola"})
    step = processing("First", COPY_UPPER, inputs=[("in", raw, "FullyReplicated")], outputs=[("out", per_execution("o"))])
    execution = executor.start(definition(step))
    assert execution.record["PipelineExecutionStatus"] == "Succeeded", execution.record
    assert (tmp_path / "home" / "s3" / "test-bucket" / "runs" / execution.id / "o" / "a.txt").read_text() == "HOLA"


def test_an_unsupported_step_type_fails_before_anything_runs(executor, tmp_path):
    lambda_step = {"Name": "Notify", "Type": "Lambda", "Arguments": {}}
    with pytest.raises(LocalRunError, match="step Notify: type Lambda is not supported"):
        executor.start(definition(processing("First", "print()", outputs=[("out", "s3://test-bucket/x")]), lambda_step))
    assert not (executor.home / "executions").exists()


@pytest.mark.parametrize("overrides, message", [
    ({"Nope": "1"}, "no such parameter"), ({"Threshold": "high"}, "expected a Float"),
    ({"Featurizer": "bag-of-words"}, "Featurizer=bag-of-words: not one of hybrid, tfidf")])
def test_bad_parameter_values_are_refused(overrides, message):
    document = definition(processing("First", "print()"),
                          parameters=[{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
                                      {"Name": "Featurizer", "Type": "String", "DefaultValue": "hybrid",
                                       "EnumValues": ["hybrid", "tfidf"]}])
    with pytest.raises(LocalRunError, match=message):
        plan(document, overrides, TEST_ENTRY_POINTS)


def test_a_dependency_cycle_is_refused():
    first = processing("A", "print()", **{"DependsOn": ["B"]})
    second = processing("B", "print()", **{"DependsOn": ["A"]})
    with pytest.raises(LocalRunError, match="cycle"):
        plan(definition(first, second), entry_points=TEST_ENTRY_POINTS)


SCORE = "import sys, json, pathlib; (pathlib.Path(sys.argv[2]) / 'eval' / 'evaluation.json').write_text(json.dumps({'score': 0.4}))"


def gated(threshold_default):
    evaluate = processing("Evaluate", SCORE, outputs=[("eval", per_execution("eval"))], PropertyFiles=[
        {"PropertyFileName": "Report", "OutputName": "eval", "FilePath": "evaluation.json"}])
    score = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "score"}}
    fail = {"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": " ", "Values": ["score", score, "is below", {"Get": "Parameters.Threshold"}]}}}}
    after = processing("Publish", "print('published')", outputs=[("out", per_execution("published"))])
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": score, "RightValue": {"Get": "Parameters.Threshold"}}],
        "IfSteps": [after], "ElseSteps": [fail]}}
    return definition(evaluate, gate, parameters=[{"Name": "Threshold", "Type": "Float", "DefaultValue": threshold_default}])


def test_a_false_condition_ends_at_the_fail_step_with_its_message(executor):
    execution = executor.start(gated(0.5))
    record = execution.record
    assert record["PipelineExecutionStatus"] == "Failed"
    assert record["FailureReason"] == "score 0.4 is below 0.5"
    assert {step["StepName"]: step["StepStatus"] for step in record["Steps"]} == {
        "Evaluate": "Succeeded", "Gate": "Succeeded", "TooLow": "Failed"}


def test_a_true_condition_runs_the_if_branch(executor):
    execution = executor.start(gated(0.5), {"Threshold": "0.3"})
    assert execution.record["PipelineExecutionStatus"] == "Succeeded"
    assert [step["StepName"] for step in execution.record["Steps"]] == ["Evaluate", "Gate", "Publish"]


def test_a_failing_job_reports_exit_code_reason_and_log_tail_and_publishes_nothing(executor):
    code = ("import os, sys, pathlib; o = pathlib.Path(sys.argv[2]); (o / 'out' / 'half.txt').write_text('x'); "
            "print('working on it'); f = pathlib.Path(os.environ['TWEETOPS_ML_ROOT']) / 'output' / 'failure'; "
            "f.parent.mkdir(parents=True); f.write_text('bad batch'); "
            "sys.exit(3)")
    execution = executor.start(definition(processing("Broken", code, outputs=[("out", per_execution("out"))])))
    step = execution.record["Steps"][0]
    assert step["StepStatus"] == "Failed"
    assert "exit code 3: bad batch" in step["FailureReason"]
    assert "working on it" in step["LogTail"]
    assert not executor.store.objects(f"s3://test-bucket/runs/{execution.id}/out")


LIST_SHARE = ("import sys, os, json, pathlib; i, o = map(pathlib.Path, sys.argv[1:]); "
              "cfg = json.loads((pathlib.Path(os.environ['TWEETOPS_ML_ROOT']) / 'config' / 'resourceconfig.json').read_text()); "
              "(o / 'out' / (cfg['current_host'] + '.json')).write_text(json.dumps(sorted(p.name for p in (i / 'in').iterdir())))")


def test_sharded_inputs_are_split_across_instances_and_outputs_merged(executor, tmp_path):
    raw = stage(executor, tmp_path, {f"part-{i}.txt": str(i) for i in range(4)})
    step = processing("Shard", LIST_SHARE, inputs=[("in", raw, "ShardedByS3Key")], outputs=[("out", per_execution("out"))],
                      count=2)
    execution = executor.start(definition(step))
    shares = {key: json.loads(path.read_text()) for key, path in executor.store.objects(f"s3://test-bucket/runs/{execution.id}/out")}
    assert set(shares) == {"algo-1.json", "algo-2.json"}
    assert sorted(shares["algo-1.json"] + shares["algo-2.json"]) == [f"part-{i}.txt" for i in range(4)]
    assert not set(shares["algo-1.json"]) & set(shares["algo-2.json"])


def test_a_cached_step_is_reused_until_its_input_content_changes(executor, tmp_path):
    raw = {"Name": "Raw", "Type": "String", "DefaultValue": stage(executor, tmp_path, {"a.txt": "one"})}
    step = processing("Copy", COPY_UPPER, inputs=[("in", {"Get": "Parameters.Raw"}, "FullyReplicated")],
                      outputs=[("out", per_execution("out"))], CacheConfig={"Enabled": True, "ExpireAfter": "P1D"})
    first = executor.start(definition(step, parameters=[raw]))
    second = executor.start(definition(step, parameters=[raw]))
    assert second.record["Steps"][0]["CacheHitResult"]["SourcePipelineExecutionId"] == first.id
    (executor.store.path(raw["DefaultValue"]) / "a.txt").write_text("two")  # same URI, new content
    third = executor.start(definition(step, parameters=[raw]))
    assert "CacheHitResult" not in third.record["Steps"][0]
    assert executor.store.path(f"s3://test-bucket/runs/{third.id}/out/a.txt").read_text() == "TWO"


KILLED_ONCE = ("import os, sys, pathlib; marker = pathlib.Path(sys.argv[2]).parents[3] / 'killed-once'; "
               "(marker.exists() or (marker.write_text('x'), os.kill(os.getpid(), 9))); print('second attempt')")


def test_a_job_killed_by_a_signal_is_retried_as_its_retry_policy_says(executor):
    execution = executor.start(definition(processing("Flaky", KILLED_ONCE, RetryPolicies=RETRY_ON_LOST_INSTANCE)))
    step = execution.record["Steps"][0]
    assert (step["StepStatus"], step["AttemptCount"]) == ("Succeeded", 2)


def test_without_a_retry_policy_a_killed_job_fails_the_step(executor):
    execution = executor.start(definition(processing("Flaky", KILLED_ONCE)))
    step = execution.record["Steps"][0]
    assert step["StepStatus"] == "Failed" and "killed by signal SIGKILL" in step["FailureReason"]


def test_resume_keeps_completed_steps_and_runs_the_rest(executor, tmp_path):
    counter = tmp_path / "first-ran"
    first = processing("First", f"import pathlib; p = pathlib.Path({str(counter)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')",
                       outputs=[("out", per_execution("first"))])
    gate_file = tmp_path / "allowed"
    second = processing("Second", f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(gate_file)!r}).exists() else 1)",
                        **{"DependsOn": ["First"]})
    failed = executor.start(definition(first, second))
    assert failed.record["PipelineExecutionStatus"] == "Failed"
    gate_file.write_text("yes")
    resumed = executor.resume()
    assert resumed.id == failed.id and resumed.record["PipelineExecutionStatus"] == "Succeeded"
    assert counter.read_text() == "x"  # First did not run again


TRAIN = ("import os, json, pathlib; assert json.loads(os.environ['SM_HPS']) == {'seed': '3'}; "
         "data = pathlib.Path(os.environ['SM_CHANNEL_TRAIN']); "
         "(pathlib.Path(os.environ['SM_MODEL_DIR']) / 'model.txt').write_text((data / 'a.txt').read_text() + ' model')")


def test_a_training_job_sees_the_toolkit_contract_and_its_model_is_tarred(executor, tmp_path):
    raw = stage(executor, tmp_path, {"a.txt": "data"})
    train = {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "local", "TrainingInputMode": "File",
                                   "ContainerEntrypoint": [sys.executable, "-c"], "ContainerArguments": [TRAIN]},
        "HyperParameters": {"seed": {"Std:Join": {"On": "", "Values": [3]}}},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": raw, "S3DataType": "S3Prefix"}}}],
        "OutputDataConfig": {"S3OutputPath": per_execution("model")},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
        "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 600}}}
    execution = executor.start(definition(train))
    assert execution.record["PipelineExecutionStatus"] == "Succeeded", execution.record
    properties = json.loads(execution.properties_path("Train").read_text())
    uri = properties["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"s3://test-bucket/runs/{execution.id}/model/{execution.id}-Train/output/model.tar.gz"
    with tarfile.open(executor.store.path(uri)) as archive:
        assert archive.extractfile("model.txt").read() == b"data model"
        assert {member.mtime for member in archive.getmembers()} == {0}


# ---------------------------------------------------------------------------------------------- hostile definitions
def job_with(entry_point=("tweetops", "validate"), arguments=(), inputs=(), outputs=()):
    """A processing step naming `entry_point` and `arguments`, with (name, LocalPath) inputs and outputs."""
    step = processing("Job", "print()")
    app = step["Arguments"]["AppSpecification"]
    app["ContainerEntrypoint"], app["ContainerArguments"] = list(entry_point), list(arguments)
    step["Arguments"]["ProcessingInputs"] = [{"InputName": name, "S3Input": {
        "S3Uri": "s3://test-bucket/raw/", "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"}}
        for name, path in inputs]
    step["Arguments"]["ProcessingOutputConfig"]["Outputs"] = [{"OutputName": name, "S3Output": {
        "S3Uri": "s3://test-bucket/out/", "LocalPath": path, "S3UploadMode": "EndOfJob"}} for name, path in outputs]
    return step


@pytest.mark.parametrize("entry_point", [
    ["sh", "-c", "id > {target}"],
    [sys.executable, "-c", "import os; os.system('id > {target}')"],
    ["tweetops", "demo-data", "--out", "{target}"],  # tweetops, but not a job's entry point
    ["/bin/tweetops", "validate"]])
def test_a_definition_naming_any_other_program_is_refused_and_nothing_runs(tmp_path, entry_point):
    target = tmp_path / "written-by-the-job"
    executor = LocalExecutor(tmp_path / "home")  # as `tweetops run-local` makes it
    step = job_with([part.format(target=target) for part in entry_point])
    with pytest.raises(LocalRunError, match="step Job: ContainerEntrypoint .* is refused: the local executor only "
                                            "runs tweetops' entry points"):
        executor.start(definition(step))
    assert not target.exists()
    assert not (executor.home / "executions").exists()


def test_a_training_job_may_only_run_the_images_training_program(tmp_path):
    train = {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "local", "TrainingInputMode": "File",
                                   "ContainerEntrypoint": ["sh", "-c", f"id > {tmp_path / 'x'}"]},
        "OutputDataConfig": {"S3OutputPath": "s3://test-bucket/model"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}, "RoleArn": ROLE}}
    with pytest.raises(LocalRunError, match="step Train: ContainerEntrypoint .* only runs tweetops' entry points "
                                            r"\(tweetops train\)"):
        plan(definition(train))


@pytest.mark.parametrize("inputs, outputs, message", [
    ((), [("out", "/etc/x")], "output out: LocalPath \"/etc/x\" is outside /opt/ml"),
    ((), [("out", "/opt/ml/../../tmp/x")], "output out: LocalPath \"/opt/ml/../../tmp/x\" is outside /opt/ml"),
    ([("raw", "/tmp/x")], (), "input raw: LocalPath \"/tmp/x\" is outside /opt/ml"),
    ([("raw", "processing/input")], (), "input raw: LocalPath \"processing/input\" is not an absolute path under "
                                        "/opt/ml"),
    ([("raw", "/opt/ml/processing/input\0x")], (), "input raw: LocalPath \"/opt/ml/processing/input\\u0000x\" "
                                                  "contains a NUL character")])
def test_a_local_path_outside_opt_ml_is_refused_at_plan_time(inputs, outputs, message):
    with pytest.raises(LocalRunError, match=re.escape(f"step Job: {message}")):
        plan(definition(job_with(inputs=inputs, outputs=outputs)))


@pytest.mark.parametrize("argument", ["/etc/passwd", "--output=/etc/x", "/opt/ml/../../tmp/x", "../../../tmp/x"])
def test_a_container_argument_pointing_at_host_files_is_refused(argument):
    with pytest.raises(LocalRunError, match=re.escape(f"step Job: ContainerArguments {json.dumps(argument)} ")):
        plan(definition(job_with(arguments=["--input", argument])))


@pytest.mark.parametrize("variable", [{"PATH": "/tmp/evil"}, {"LD_PRELOAD": "x.so"}, {"PYTHONPATH": "x"},
                                      {"TWEETOPS_CACHE_DIR": "/etc/cache"}])
def test_an_environment_that_changes_what_code_loads_or_points_at_host_files_is_refused(variable):
    step = job_with()
    step["Arguments"]["Environment"] = {"PYTHONHASHSEED": "0", **variable}
    with pytest.raises(LocalRunError, match=f"step Job: Environment .*{next(iter(variable))}"):
        plan(definition(step))


def test_a_path_given_by_a_parameter_is_refused_once_resolved(tmp_path):
    executor = LocalExecutor(tmp_path / "home")
    raw = stage(executor, tmp_path, {"a.txt": "x"})
    step = job_with(inputs=[("raw", "/opt/ml/processing/input/raw")], arguments=["--input", {"Get": "Parameters.In"}])
    step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = raw
    document = definition(step, parameters=[{"Name": "In", "Type": "String", "DefaultValue": "/opt/ml/x"}])
    execution = executor.start(document, {"In": "/etc/shadow"})
    assert execution.record["PipelineExecutionStatus"] == "Failed"
    assert execution.record["FailureReason"] == ('ContainerArguments "/etc/shadow" is outside /opt/ml '
                                                 "(a job must not be pointed at host files)")
    assert not (execution.folder / "steps" / "Job" / "log.txt").exists()  # the job never started


def test_resume_refuses_a_stored_definition_that_was_tampered_with(tmp_path):
    executor = LocalExecutor(tmp_path / "home")
    stop = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "stopped"}}
    failed = executor.start(definition(stop))
    assert failed.record["PipelineExecutionStatus"] == "Failed"  # so it can be resumed
    target = tmp_path / "written-by-the-job"
    stored = json.loads((failed.folder / "definition.json").read_text())
    stored["Steps"].insert(0, job_with(["sh", "-c", f"id > {target}"]))
    (failed.folder / "definition.json").write_text(json.dumps(stored))
    with pytest.raises(LocalRunError, match=f"cannot resume execution {failed.id}: .*definition.json: step Job: "
                                            "ContainerEntrypoint .* only runs tweetops' entry points"):
        executor.resume(failed.id)
    assert not target.exists()


def test_resume_refuses_stored_parameters_the_definition_does_not_accept(tmp_path):
    executor = LocalExecutor(tmp_path / "home")
    stop = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Featurizer"}}}
    failed = executor.start(definition(stop, parameters=[{"Name": "Featurizer", "Type": "String",
                                                          "DefaultValue": "tfidf", "EnumValues": ["tfidf"]}]))
    record = json.loads((failed.folder / "execution.json").read_text())
    record["Parameters"]["Featurizer"] = "/etc/passwd"
    (failed.folder / "execution.json").write_text(json.dumps(record))
    with pytest.raises(LocalRunError, match="Featurizer=/etc/passwd: not one of tfidf"):
        executor.resume(failed.id)


def test_an_execution_id_cannot_name_a_folder_outside_the_home(tmp_path):
    stop = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "stopped"}}
    elsewhere = LocalExecutor(tmp_path / "elsewhere").start(definition(stop))  # a real execution, another folder
    climbing = os.path.relpath(elsewhere.folder, tmp_path / "home" / "executions")
    for execution_id in (climbing, str(elsewhere.folder)):
        with pytest.raises(LocalRunError, match="no execution"):
            LocalExecutor(tmp_path / "home").load(execution_id)


# ---------------------------------------------------------------------------------------------- failures end Failed
def tar_gz(folder, target):
    from pipelines.local.containers import reproducible_tar

    target.parent.mkdir(parents=True, exist_ok=True)
    reproducible_tar(folder, target)
    return target


def corrupt_archive(kind, tmp_path):
    """Bytes of a model.tar.gz that cannot be served: random, truncated, or with a member escaping its folder."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.joblib").write_bytes(random.Random(0).randbytes(200_000))
    if kind == "random bytes":
        return random.Random(1).randbytes(4096)
    if kind == "truncated":
        data = tar_gz(model, tmp_path / "whole.tar.gz").read_bytes()
        return data[:len(data) // 2]
    escaping = tmp_path / "escaping.tar.gz"
    with tarfile.open(escaping, "w:gz") as archive:
        archive.add(model / "model.joblib", arcname="../../escaped.joblib")
    return escaping.read_bytes()


def score_with_model(model_uri, input_uri):
    """A Model step on `model_uri` and a batch transform of `input_uri` with it."""
    create = {"Name": "CreateModel", "Type": "Model", "Arguments": {"ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": "local", "ModelDataUrl": model_uri, "Environment": {"SAGEMAKER_PROGRAM": "tweetops_serving.py"}}}}
    score = {"Name": "Score", "Type": "Transform", "Arguments": {
        "ModelName": {"Get": "Steps.CreateModel.ModelName"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": "application/jsonlines", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": per_execution("predictions"), "AssembleWith": "Line",
                            "Accept": "application/jsonlines"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"}}}
    return definition(create, score)


def local_status(home) -> str:
    from click.testing import CliRunner

    from pipelines.cli import main

    result = CliRunner().invoke(main, ["local-status", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "member outside the model folder"])
def test_a_corrupt_model_archive_fails_the_transform_with_one_line_and_status_failed(tmp_path, kind):
    executor = LocalExecutor(tmp_path / "home")
    model_uri = "s3://test-bucket/models/model.tar.gz"
    path = executor.store.path(model_uri)
    path.parent.mkdir(parents=True)
    path.write_bytes(corrupt_archive(kind, tmp_path))
    execution = executor.start(score_with_model(model_uri, stage(executor, tmp_path, {"a.jsonl": '{"id": "1"}\n'})))
    record = execution.record
    assert record["PipelineExecutionStatus"] == "Failed" and not execution.interrupted
    step = {item["StepName"]: item for item in record["Steps"]}["Score"]
    assert step["StepStatus"] == "Failed" and "\n" not in step["FailureReason"]
    assert f"model archive {model_uri} cannot be extracted: " in step["FailureReason"]
    assert not list(tmp_path.rglob("escaped.joblib"))
    status = local_status(executor.home)
    assert f"{execution.id}  tweetops-training  Failed" in status and "Interrupted" not in status


PROPERTY_FILE = ("import sys, pathlib; (pathlib.Path(sys.argv[2]) / 'eval' / 'evaluation.json')"
                 ".write_text({content})")


@pytest.mark.parametrize("content, reason", [
    ("'not json'", r"ExpressionError: s3://test-bucket/runs/.*/eval/evaluation.json: not a JSON document"),
    ("'[' * 100_000 + ']' * 100_000", "RecursionError: maximum recursion depth exceeded")])  # not a ValueError
def test_an_unexpected_error_inside_a_step_ends_it_failed_with_one_line(executor, content, reason):
    document = gated(0.5)
    document["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"][0] = \
        PROPERTY_FILE.format(content=content)
    execution = executor.start(document)
    record = execution.record
    assert record["PipelineExecutionStatus"] == "Failed" and not execution.interrupted
    gate = {item["StepName"]: item for item in record["Steps"]}["Gate"]
    assert gate["StepStatus"] == "Failed" and re.match(reason, gate["FailureReason"])
    assert re.match(reason, record["FailureReason"]) and "\n" not in record["FailureReason"]
