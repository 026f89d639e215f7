"""The definition's expressions: Get, Std:Join, Std:JsonGet and conditions."""
import pytest

from pipelines.local.expressions import (ExpressionError, Scope, evaluate_condition, problems, referenced_steps,
                                         resolve, split_path)

STEP_PROPERTIES = {"ProcessingOutputConfig": {"Outputs": [
    {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
    {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test"}}]}}


@pytest.fixture
def scope():
    return Scope(parameters={"Seed": 7, "Threshold": 0.5, "Name": "x"},
                 execution={"PipelineExecutionId": "exec-1"},
                 steps={"Cluster": STEP_PROPERTIES},
                 read_property_file=lambda step, name: {"metrics": {"f1": {"value": 0.8}}, "list": [1, 2]})


def test_paths_split_into_names_and_indexes():
    assert split_path("Steps.A.Outputs['train'].S3Output.S3Uri") == ["Steps", "A", "Outputs", "train", "S3Output", "S3Uri"]
    assert split_path("a.b[0].c") == ["a", "b", 0, "c"]


def test_get_reads_parameters_execution_variables_and_named_list_elements(scope):
    assert resolve({"Get": "Parameters.Seed"}, scope) == 7
    assert resolve({"Get": "Execution.PipelineExecutionId"}, scope) == "exec-1"
    assert resolve({"Get": "Steps.Cluster.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}, scope) == "s3://b/test"


def test_join_renders_values_as_text(scope):
    joined = {"Std:Join": {"On": "/", "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, {"Get": "Parameters.Seed"}]}}
    assert resolve(joined, scope) == "s3://b/exec-1/7"


def test_json_get_reads_a_property_file(scope):
    value = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.f1.value"}}
    assert resolve(value, scope) == 0.8
    with pytest.raises(ExpressionError, match="no 'recall'"):
        resolve({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.E.PropertyFiles.R"}, "Path": "metrics.recall"}}, scope)


def test_a_step_that_has_not_run_cannot_be_read(scope):
    with pytest.raises(ExpressionError, match="has not run"):
        resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, scope)


@pytest.mark.parametrize("kind, right, expected", [
    ("GreaterThanOrEqualTo", 0.8, True), ("GreaterThanOrEqualTo", 0.81, False), ("GreaterThan", 0.8, False),
    ("LessThan", 0.9, True), ("LessThanOrEqualTo", 0.8, True), ("Equals", 0.8, True)])
def test_comparisons(scope, kind, right, expected):
    left = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.E.PropertyFiles.R"}, "Path": "metrics.f1.value"}}
    assert evaluate_condition({"Type": kind, "LeftValue": left, "RightValue": right}, scope) is expected


def test_not_or_in(scope):
    equals = {"Type": "Equals", "LeftValue": {"Get": "Parameters.Name"}, "RightValue": "y"}
    assert evaluate_condition({"Type": "Not", "Condition": equals}, scope)
    assert not evaluate_condition({"Type": "Or", "Conditions": [equals, equals]}, scope)
    assert evaluate_condition({"Type": "In", "QueryValue": {"Get": "Parameters.Name"}, "Values": ["x", "z"]}, scope)


def test_references_and_problems_are_found_without_running():
    body = {"a": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
            "b": [{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.R"}, "Path": "x"}}],
            "c": {"Std:Fancy": 1}, "d": {"Get": "Parameters.Nope"}}
    assert referenced_steps(body) == {"Train", "Evaluate"}
    found = problems(body, parameters={"Seed"}, steps={"Train"})
    assert any("Std:Fancy is not supported" in item for item in found)
    assert any("unknown parameter 'Nope'" in item for item in found)
    assert any("unknown step 'Evaluate'" in item for item in found)
