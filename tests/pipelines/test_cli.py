"""Specification of the `tweetops` command line: help for every step, one-line errors with a non-zero exit,
and the step commands as container entry points (paths from the /opt/ml contract, root remapped)."""
from __future__ import annotations

import json
import tarfile

import pandas as pd
import pytest
from click.testing import CliRunner
from moto import mock_aws

from pipelines.cli import _pipeline_errors, _user_errors, main

STEPS = ["demo-data", "discover", "validate", "clean", "featurize", "cluster", "train", "evaluate"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("step", STEPS)
def test_every_step_explains_itself(runner, step):
    result = runner.invoke(main, [step, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: main " + step in result.output or f"Usage: tweetops {step}" in result.output
    assert "--" in result.output  # documents its options


def test_top_level_help_lists_every_step(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and all(step in result.output for step in STEPS)


def test_a_file_that_cannot_be_parsed_gives_one_line_naming_file_and_cause(runner, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [{"id": "1", "text": "hola"}')
    result = runner.invoke(main, ["discover", "--input", str(broken), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "broken.json" in errors[0] and "not valid JSON" in errors[0]
    assert result.output.strip().splitlines()[-1] == errors[0]  # after progress lines, nothing else
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--k", "one"], "expected an integer >= 2 or 'auto'"),
    (["--k", "1"], "expected an integer >= 2 or 'auto'"),
    (["--k-range", "9:3"], "expected 2 <= LOW <= HIGH"),
    (["--languages", "es,fr"], "comma-separated subset of es,en,other"),
])
def test_bad_options_are_usage_errors(runner, tmp_path, args, message):
    (tmp_path / "in.csv").write_text("id,text\n1,hola\n")
    result = runner.invoke(main, ["discover", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.output


def test_demo_data_writes_the_requested_rows(runner, tmp_path):
    result = runner.invoke(main, ["demo-data", "--rows", "50", "--out", str(tmp_path / "demo.jsonl")])
    assert result.exit_code == 0, result.output
    assert "wrote 50 messages" in result.output
    assert (tmp_path / "demo.jsonl").stat().st_size > 0


def test_steps_chain_through_the_container_contract(runner, tmp_path, monkeypatch):
    """validate -> clean -> featurize -> cluster -> train -> evaluate, each with its /opt/ml default paths."""
    root = tmp_path / "opt-ml"
    monkeypatch.setenv("TWEETOPS_ML_ROOT", str(root))
    processing = root / "processing"
    assert runner.invoke(main, ["demo-data", "--rows", "400", "--out", str(processing / "input" / "raw" / "b.csv")]
                         ).exit_code == 0

    def step(*args: str) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def move(output: str, channel: str) -> None:
        """What SageMaker does between jobs: one job's output folder becomes the next job's input channel."""
        target = processing / "input" / channel
        target.parent.mkdir(parents=True, exist_ok=True)
        (processing / "output" / output).rename(target)

    assert "quarantined" in step("validate")
    move("ingested", "ingested")
    step("clean", "--n-process", "1")
    move("processed", "processed")
    step("featurize")
    move("features", "features")
    assert "8 fine clusters in 3 proposed categories" in step("cluster", "--k", "8", "--umap", "off", "--categories", "3")
    (root / "input" / "data").mkdir(parents=True)
    (processing / "output" / "pseudo-labeled" / "train").rename(root / "input" / "data" / "train")
    monkeypatch.setenv("SM_HPS", json.dumps({"seed": 3, "c": 1.0}))
    assert "categories" in step("train")
    metadata = json.loads((root / "model" / "metadata.json").read_text())
    assert metadata["seed"] == 3 and metadata["params"]["C"] == 1.0
    (root / "model").rename(processing / "input" / "model")
    move("pseudo-labeled/test", "test")
    assert "macro-F1" in step("evaluate")
    evaluation = json.loads((processing / "output" / "evaluation" / "evaluation.json").read_text())
    assert evaluation["multiclass_classification_metrics"]["accuracy"]["value"] > 0.5
    assert len(pd.read_csv(processing / "output" / "clusters" / "assignments.csv")) > 0


def test_a_failing_job_leaves_the_reason_where_sagemaker_reads_it(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("TWEETOPS_ML_ROOT", str(tmp_path))
    result = runner.invoke(main, ["train"])
    assert result.exit_code == 1
    assert "no parquet files" in (tmp_path / "output" / "failure").read_text()


def test_aws_refusing_an_s3_read_gives_one_aws_line_and_the_failure_reason(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("TWEETOPS_ML_ROOT", str(tmp_path))
    (tmp_path / "in.csv").write_text("id,text\n1,hola amigos\n2,hello friends\n")
    with mock_aws():  # the bucket does not exist: S3 refuses to list the model prefix
        result = runner.invoke(main, ["discover", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"),
                                      "--embedding-model", "s3://no-such-bucket/models/minilm/"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith("Error: AWS: ") and "NoSuchBucket" in errors[0]
    assert "Traceback" not in result.output
    assert (tmp_path / "output" / "failure").read_text().startswith("AWS: ")


def test_discover_says_when_the_best_k_is_the_top_of_the_range(runner, tmp_path):
    topics = ["refund money back please", "package delivery late tracking", "password login locked account",
              "app crashes error screen", "price discount plan offer", "agent rude waiting phone"]
    rows = [f"{i},my {topics[i % 6]} issue number {i} today" for i in range(120)]
    (tmp_path / "in.csv").write_text("id,text\n" + "\n".join(rows) + "\n")
    result = runner.invoke(main, ["discover", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"),
                                  "--k-range", "2:3", "--umap", "off"])
    assert result.exit_code == 0, result.output
    assert "3 fine clusters (plain KMeans" in result.output  # six topics: more clusters always separate better
    assert "grouped into" in result.output and "proposed categories" in result.output
    assert "note: the best k by silhouette is the top of --k-range 2:3" in result.output


HOSTILE_IDS = ["=1+1", "+cmd|' /C calc'!A0", "@SUM(A1:A2)", "-3.5"]


def test_discover_clusters_four_messages_into_three_and_quotes_formula_ids_in_assignments(runner, tmp_path):
    texts = ["my card was charged twice", "where is my refund", "la app no abre", "quiero cancelar mi cuenta"]
    pd.DataFrame({"id": HOSTILE_IDS, "text": texts}).to_csv(tmp_path / "in.csv", index=False)
    result = runner.invoke(main, ["discover", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"),
                                  "--k", "3", "--featurizer", "tfidf"])
    assert result.exit_code == 0, result.output
    assert "rows in 4: accepted 4, quarantined 0" in result.output and "3 fine clusters" in result.output
    assignments = pd.read_csv(tmp_path / "out" / "assignments.csv", dtype={"id": str})
    # Spreadsheets would run the first three as formulas; a plain number stays a number.
    assert sorted(assignments["id"]) == sorted(["'=1+1", "'+cmd|' /C calc'!A0", "'@SUM(A1:A2)", "-3.5"])
    assert sorted(assignments["cluster"].unique()) == [0, 1, 2]
    summary = json.loads((tmp_path / "out" / "clusters.json").read_text())  # JSON, read by programs, stays exact
    assert sorted(m["id"] for c in summary["clusters"] for m in c["representative"]) == sorted(HOSTILE_IDS)


def test_discover_asking_for_more_clusters_than_a_tiny_batch_allows_says_how_many_messages_are_needed(runner, tmp_path):
    (tmp_path / "in.csv").write_text("id,text\n1,my card was charged twice\n2,where is my refund\n3,la app no abre\n"
                                     "4,quiero cancelar mi cuenta\n")
    result = runner.invoke(main, ["discover", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"),
                                  "--k", "5", "--featurizer", "tfidf"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == ("Error: 4 messages are too few to form 5 clusters: clustering "
                                                      "needs at least 6 messages; give more messages or a smaller k")
    assert "Traceback" not in result.output


def _command_raising(error: BaseException, wrapper):
    """A one-off command, wrapped like the real ones, whose job fails with `error`."""
    import click

    @click.command()
    @wrapper
    def job() -> None:
        raise error
    return job


@pytest.mark.parametrize("error, shown", [
    (RecursionError("maximum recursion depth exceeded"), "RecursionError: maximum recursion depth exceeded"),
    (TypeError("unhashable type: 'dict'"), "TypeError: unhashable type: 'dict'"),
    (tarfile.ReadError("file could not be opened successfully"),
     "tarfile.ReadError: file could not be opened successfully"),
])
def test_an_unexpected_error_in_a_job_is_one_line_naming_its_type_and_the_failure_reason(runner, tmp_path,
                                                                                         monkeypatch, error, shown):
    monkeypatch.setenv("TWEETOPS_ML_ROOT", str(tmp_path))
    result = runner.invoke(_command_raising(error, _user_errors))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {shown} (a bug? please report it with the command "
                                                  "that failed)"]
    assert (tmp_path / "output" / "failure").read_text().startswith(shown)


def test_an_interrupt_is_not_reported_as_a_bug(runner):
    result = runner.invoke(_command_raising(KeyboardInterrupt(), _user_errors))
    assert result.exit_code != 0 and "a bug?" not in result.output


ESCAPES = "bad header \x1b]0;pwned\x07\x1b[2J\x9b31m \u202egnp.exe\nsecond line"
SHOWN = "bad header \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m \\u202egnp.exe\\nsecond line"


def test_error_messages_show_control_characters_from_input_as_escapes(runner, tmp_path, monkeypatch):
    from processing.ingest import IngestError

    monkeypatch.setenv("TWEETOPS_ML_ROOT", str(tmp_path))
    for error in (IngestError(f"in.csv: no text column (columns found: {ESCAPES})"), OSError(ESCAPES)):
        result = runner.invoke(_command_raising(error, _user_errors))
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
        assert SHOWN in result.output and "\x1b" not in result.output and "\u202e" not in result.output
        assert SHOWN in (tmp_path / "output" / "failure").read_text()


def test_registry_and_pipeline_errors_show_control_characters_as_escapes(runner):
    from pipelines.operations import PipelineError
    from register.cli import _registry_errors
    from register.local import RegistryError

    for error in (RegistryError(ESCAPES), PipelineError(ESCAPES)):
        result = runner.invoke(_command_raising(error, _registry_errors if isinstance(error, RegistryError)
                                                else _pipeline_errors))
        assert result.exit_code == 1 and result.output == f"Error: {SHOWN}\n"


@pytest.mark.parametrize("wrapper", ["pipeline", "registry"])
def test_an_unexpected_error_in_a_pipeline_or_registry_command_is_one_line_too(runner, wrapper):
    from register.cli import _registry_errors

    command = _command_raising(RecursionError("maximum recursion depth exceeded \x1b[2J"),
                               _pipeline_errors if wrapper == "pipeline" else _registry_errors)
    result = runner.invoke(command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output == ("Error: RecursionError: maximum recursion depth exceeded \\x1b[2J (a bug? please report "
                             "it with the command that failed)\n")


def test_run_local_with_a_definition_file_that_is_not_json_names_the_file(runner, tmp_path):
    definition = tmp_path / "definition.json"
    for content in ("not json", "[" * 100_000, '{"Parameters": 3}'):
        definition.write_text(content)
        result = runner.invoke(main, ["run-local", "--home", str(tmp_path / "home"), "--definition", str(definition)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert result.output.strip().splitlines()[-1].startswith(f"Error: {definition}: not a pipeline definition")


def test_local_status_names_an_unreadable_execution_record_and_escapes_what_jobs_wrote(runner, tmp_path):
    record = {"PipelineExecutionId": "20261201T000000-abcdef", "PipelineName": "tweetops-training",
              "PipelineExecutionStatus": "Failed", "CreationTime": "2026-12-01T00:00:00+00:00",
              "FailureReason": "job said \x1b[2Jcleared", "Steps": []}
    folder = tmp_path / "home" / "executions" / record["PipelineExecutionId"]
    folder.mkdir(parents=True)
    (folder / "execution.json").write_text(json.dumps(record))
    result = runner.invoke(main, ["local-status", "--home", str(tmp_path / "home")])
    assert result.exit_code == 0 and "(job said \\x1b[2Jcleared)" in result.output and "\x1b" not in result.output
    (folder / "execution.json").write_text("{truncated")
    result = runner.invoke(main, ["local-status", "--home", str(tmp_path / "home")])
    assert result.exit_code == 1
    assert result.output == (f"Error: {folder / 'execution.json'}: not a readable execution record "
                             "(JSONDecodeError); move the folder away to go on\n")
