"""Specification of the training pipeline definition, built with the real SageMaker SDK v3 under moto: the
steps, their wiring, the quality gate, production settings on every job, byte-identical rebuilds, and upsert /
start / status against moto's SageMaker."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from pipelines import operations
from pipelines.settings import PipelineSettings, SettingsError
from tests.pipelines.definitions import aws  # noqa: F401 (a fixture: pytestmark below uses it)
from tests.pipelines.definitions import references, steps_by_name, validate_requests

ROLE = "arn:aws:iam::123456789012:role/tweetops-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JOB_STEPS = ["ValidateClean", "Features", "Cluster", "Train", "Evaluate"]


pytestmark = pytest.mark.usefixtures("aws")  # every test on moto's AWS


@pytest.fixture(scope="module")
def settings() -> PipelineSettings:
    return PipelineSettings(role_arn=ROLE, kms_key_id=KMS, subnets=("subnet-1",), security_group_ids=("sg-1",),
                            network_isolation=True, cost_centre="cx-42", tags={"team": "nlp"})


@pytest.fixture(scope="module")
def definition(settings) -> dict:
    with mock_aws():
        return json.loads(operations.definition(settings))


def test_the_dag_is_validate_features_cluster_train_evaluate_then_the_gate(definition):
    assert [step["Name"] for step in definition["Steps"]] == [
        JOB_STEPS[0], "RecordValidation", *JOB_STEPS[1:3], "RecordCategoryMap", *JOB_STEPS[3:], "QualityGate"]
    steps = steps_by_name(definition)
    assert references(steps["Features"]["Arguments"]) == {"ValidateClean"}
    assert references(steps["Cluster"]["Arguments"]) == {"ValidateClean", "Features"}
    assert references(steps["Train"]["Arguments"]) == {"Cluster"}
    assert references(steps["Evaluate"]["Arguments"]) == {"Train", "Cluster"}
    assert references(steps["ScoreHeldOut"]["Arguments"]) == {"CreateModel", "Cluster"}


def test_each_job_runs_its_tweetops_entry_point_with_container_paths(definition):
    steps = steps_by_name(definition)
    entry = {name: steps[name]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
             for name in ("ValidateClean", "Features", "Cluster", "Evaluate")}
    assert entry == {"ValidateClean": ["tweetops", "validate"], "Features": ["tweetops", "featurize"],
                     "Cluster": ["tweetops", "cluster"], "Evaluate": ["tweetops", "evaluate"]}
    arguments = steps["ValidateClean"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[:4] == ["--input", "/opt/ml/processing/input/raw", "--output", "/opt/ml/processing/output"]
    assert "--clean" in arguments
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == {"Get": "Parameters.ImageUri"}


def test_the_gate_compares_evaluation_macro_f1_with_the_threshold_parameter(definition):
    gate = steps_by_name(definition)["QualityGate"]["Arguments"]
    [condition] = gate["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"] == {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "multiclass_classification_metrics.macro_f1.value"}
    assert condition["RightValue"] == {"Get": "Parameters.MacroF1Threshold"}
    assert [s["Name"] for s in gate["IfSteps"]] == ["CreateModel", "ScoreHeldOut", "Baseline", "RegisterModel"]
    [fail] = gate["ElseSteps"]
    assert fail["Type"] == "Fail"
    message = json.dumps(fail["Arguments"]["ErrorMessage"])
    assert "Steps.Evaluate.PropertyFiles.EvaluationReport" in message and "Parameters.MacroF1Threshold" in message
    evaluate = steps_by_name(definition)["Evaluate"]
    assert evaluate["PropertyFiles"] == [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                                          "FilePath": "evaluation.json"}]


def test_registration_waits_for_approval_and_carries_metrics_and_provenance(definition):
    register = steps_by_name(definition)["RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == "tweetops-message-classifier"
    statistics = json.dumps(register["ModelMetrics"]["ModelQuality"]["Statistics"])
    assert "evaluation.json" in statistics and "Steps.Evaluate" in statistics
    metadata = register["CustomerMetadataProperties"]
    assert {"category_map_version", "category_map_hash", "category_map_reviewed", "input_data_hash",
            "code_version", "seed"} <= set(metadata)
    assert metadata["category_map_hash"]["Std:JsonGet"]["Path"] == "category_map.hash"
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "tweetops_serving.py"


def test_the_package_and_every_serving_model_pin_the_digest_evaluate_verified(definition):
    steps = steps_by_name(definition)
    evaluated_digest = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                        "Path": "model.sha256"}}
    register = steps["RegisterModel"]["Arguments"]
    assert register["CustomerMetadataProperties"]["model_sha256"] == evaluated_digest
    assert register["CustomerMetadataProperties"]["featurizer_sha256"]["Std:JsonGet"]["Path"] == "featurizer_sha256"
    containers = [register["InferenceSpecification"]["Containers"][0],
                  steps["CreateModel"]["Arguments"]["PrimaryContainer"]]
    for container in containers:  # the serving code is the image's, and it loads only the pinned model
        assert container["Environment"] | {"SAGEMAKER_PROGRAM": "tweetops_serving.py",
                                           "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/tweetops/inference/entry",
                                           "TWEETOPS_MODEL_SHA256": evaluated_digest} == container["Environment"]


def test_parameters_cover_what_operators_change_between_runs(definition):
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert {"InputDataUri", "CategoryMapUri", "ClusterAssignmentsUri", "GoldSetUri", "Seed", "K", "Categories",
            "Languages", "Featurizer", "EmbeddingModel",
            "EmbeddingModelUri", "EmbeddingCacheUri", "MacroF1Threshold", "ProcessingInstanceType",
            "ProcessingInstanceCount", "FeaturesInstanceType", "FeaturesImageUri", "TrainingInstanceType",
            "TransformInstanceType", "KmsKeyId", "ModelApprovalStatus", "ImageUri"} == set(parameters)
    assert parameters["K"] == {"Name": "K", "Type": "Integer", "DefaultValue": 0}
    assert parameters["Categories"] == {"Name": "Categories", "Type": "Integer", "DefaultValue": 0}  # 0 = auto cut
    assert parameters["KmsKeyId"]["DefaultValue"] == KMS
    assert parameters["ImageUri"]["DefaultValue"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:")


def test_features_step_takes_its_backend_model_instance_type_and_image_as_parameters(definition):
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["Featurizer"] == {"Name": "Featurizer", "Type": "String", "DefaultValue": "hybrid",
                                        "EnumValues": ["hybrid", "sentence-embeddings", "tfidf"]}
    assert parameters["EmbeddingModel"]["DefaultValue"] == "all-MiniLM-L6-v2"
    assert parameters["EmbeddingCacheUri"]["DefaultValue"].endswith("/tweetops/embedding-cache/")
    features = steps_by_name(definition)["Features"]["Arguments"]
    assert features["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {"Get": "Parameters.FeaturesInstanceType"}
    assert features["AppSpecification"]["ImageUri"] == {"Get": "Parameters.FeaturesImageUri"}
    arguments = features["AppSpecification"]["ContainerArguments"]
    for flag, parameter in (("--featurizer", "Featurizer"), ("--embedding-model", "EmbeddingModel"),
                            ("--cache-uri", "EmbeddingCacheUri")):
        assert arguments[arguments.index(flag) + 1] == {"Get": f"Parameters.{parameter}"}
    # A model in S3 is staged into the job as a channel (works under network isolation).
    channels = {i["InputName"]: i["S3Input"] for i in features["ProcessingInputs"]}
    assert channels["embedding_model"]["S3Uri"] == {"Get": "Parameters.EmbeddingModelUri"}
    assert arguments[arguments.index("--embedding-model-dir") + 1] == channels["embedding_model"]["LocalPath"]
    # The other processing steps keep the general processing instance type.
    cluster = steps_by_name(definition)["Cluster"]["Arguments"]
    assert cluster["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}


def test_every_job_encrypts_volumes_outputs_and_traffic_and_is_tagged(definition):
    steps = steps_by_name(definition)
    kms = {"Get": "Parameters.KmsKeyId"}
    for name in ("ValidateClean", "Features", "Cluster", "Evaluate"):
        arguments = steps[name]["Arguments"]
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == kms, name
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == kms, name
        network = arguments["NetworkConfig"]
        assert network["EnableInterContainerTrafficEncryption"] is True and network["EnableNetworkIsolation"] is True
        assert network["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == kms and train["OutputDataConfig"]["KmsKeyId"] == kms
    assert train["EnableInterContainerTrafficEncryption"] is True
    transform = steps["ScoreHeldOut"]["Arguments"]
    assert transform["TransformOutput"]["KmsKeyId"] == kms and transform["TransformResources"]["VolumeKmsKeyId"] == kms
    for name in ("ValidateClean", "Train", "Evaluate"):
        tags = {tag["Key"]: tag["Value"] for tag in steps[name]["Arguments"]["Tags"]}
        assert tags == {"project": "tweetops", "cost-centre": "cx-42", "team": "nlp"}


def test_heavy_steps_are_cached_and_every_step_retries_throttling(definition):
    steps = steps_by_name(definition)
    for name in JOB_STEPS:
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, name
    assert "CacheConfig" not in steps["ScoreHeldOut"]  # a new model name every run: its cache could never hit
    for name in [*JOB_STEPS, "RegisterModel", "CreateModel", "ScoreHeldOut"]:
        policies = steps[name]["RetryPolicies"]
        assert any("Step.THROTTLING" in policy.get("ExceptionType", []) for policy in policies), name
    for name in [*JOB_STEPS, "QualityGate"]:
        assert steps[name].get("DisplayName") and steps[name].get("Description"), name


def test_scaling_shards_validation_input_and_splits_transform_by_line(definition):
    steps = steps_by_name(definition)
    [raw] = steps["ValidateClean"]["Arguments"]["ProcessingInputs"]
    assert raw["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert steps["ValidateClean"]["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {
        "Get": "Parameters.ProcessingInstanceCount"}
    transform = steps["ScoreHeldOut"]["Arguments"]
    assert transform["TransformInput"]["SplitType"] == "Line" and transform["TransformResources"]["InstanceCount"] == 2


def test_two_builds_give_byte_identical_definitions(settings):
    assert operations.definition(settings) == operations.definition(settings)


def test_the_cli_prints_the_same_bytes_in_two_processes(tmp_path):
    outputs = []
    for run in ("a", "b"):
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "pipeline", "definition", "--role-arn", ROLE],
            capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": {"a": "1", "b": "2"}[run], "HOME": str(tmp_path),
                 "AWS_DEFAULT_REGION": "us-east-1"})  # no credentials at all: building is offline
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and json.loads(outputs[0])["Version"] == "2020-12-01"


def test_upsert_creates_then_updates_and_start_runs_against_moto(settings):
    boto_session = boto3.Session(region_name="us-east-1")
    resolved_bucket = "sagemaker-us-east-1-123456789012"
    boto_session.client("s3").create_bucket(Bucket=resolved_bucket)
    first = operations.upsert(settings, description="first", boto_session=boto_session)
    second = operations.upsert(settings, description="second", boto_session=boto_session)
    assert first["PipelineArn"] == second["PipelineArn"]
    client = boto_session.client("sagemaker")
    described = client.describe_pipeline(PipelineName="tweetops-training")
    assert described["PipelineDescription"] == "second"
    assert described["PipelineDefinition"] == operations.definition(settings, boto_session)
    marker = boto_session.client("s3").get_object(Bucket=resolved_bucket, Key="tweetops/empty/README.txt")
    assert b"intentionally empty" in marker["Body"].read()

    started = operations.start(settings, {"Seed": "7", "K": "20"}, boto_session=boto_session)
    parameters = client.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=started["PipelineExecutionArn"])["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {"K": "20", "Seed": "7"}


def stub_execution_steps(boto_session: boto3.Session, steps: list[dict]) -> None:
    """moto lacks ListPipelineExecutionSteps (notes): answer it at the boto3 boundary, before moto sees it."""
    ok = SimpleNamespace(status_code=200, headers={})
    boto_session.events.register("before-call.sagemaker.ListPipelineExecutionSteps",
                                 lambda **kwargs: (ok, {"PipelineExecutionSteps": steps}))


def test_status_reports_the_execution_and_its_steps(settings):
    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    operations.upsert(settings, boto_session=boto_session)
    started = operations.start(settings, {}, boto_session=boto_session)
    stub_execution_steps(boto_session, [{"StepName": "Train", "StepStatus": "Succeeded"}])
    latest = operations.status(settings=settings, boto_session=boto_session)
    assert latest["PipelineExecutionArn"] == started["PipelineExecutionArn"]
    assert latest["PipelineExecutionStatus"] == "Succeeded"  # moto ends executions at once
    assert latest["steps"] == [{"StepName": "Train", "StepStatus": "Succeeded"}]


def test_waiting_on_a_failed_execution_names_the_failing_step(settings):
    boto_session = boto3.Session(region_name="us-east-1")
    boto_session.client("s3").create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    operations.upsert(settings, boto_session=boto_session)
    stub_execution_steps(boto_session, [
        {"StepName": "Evaluate", "StepStatus": "Succeeded"},
        {"StepName": "MacroF1BelowThreshold", "StepStatus": "Failed",
         "FailureReason": "held-out macro-F1 0.41 is below the threshold 0.7"}])
    # moto reports every execution Succeeded; a real failed one says Failed: answer that call too.
    boto_session.events.register(
        "after-call.sagemaker.DescribePipelineExecution",
        lambda parsed, **kwargs: parsed.update(PipelineExecutionStatus="Failed"))
    with pytest.raises(operations.PipelineError, match="step MacroF1BelowThreshold: held-out macro-F1 0.41"):
        operations.start(settings, {}, wait=True, poll_seconds=0, boto_session=boto_session)


def test_starting_a_pipeline_that_was_never_upserted_says_so(settings):
    with pytest.raises(operations.PipelineError, match="run `tweetops pipeline upsert` first"):
        operations.start(settings, {}, boto_session=boto3.Session(region_name="us-east-1"))


@pytest.mark.parametrize("pairs, message", [
    (["Seed"], "expected NAME=VALUE"),
    (["=3"], "expected NAME=VALUE"),
    (["Sed=3"], "no such parameter; known: InputDataUri"),
])
def test_malformed_parameters_are_refused(pairs, message):
    with pytest.raises(SettingsError, match=message):
        operations.parse_parameters(pairs, ["InputDataUri", "Seed"])


def test_an_empty_category_map_or_gold_set_means_the_default_empty_input():
    known = ["CategoryMapUri", "GoldSetUri", "InputDataUri"]
    assert operations.parse_parameters(["CategoryMapUri=", "GoldSetUri=", "InputDataUri=s3://b/raw/"], known) == {
        "InputDataUri": "s3://b/raw/"}
    assert operations.parse_parameters(["CategoryMapUri=s3://b/map.yaml"], known) == {
        "CategoryMapUri": "s3://b/map.yaml"}


def test_building_without_a_role_says_how_to_give_one():
    with pytest.raises(SettingsError, match="no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN"):
        operations.definition(PipelineSettings())


def test_every_step_is_a_valid_request_of_its_sagemaker_api(definition):
    """Checked against botocore's SageMaker service model: required fields, types, enums, lengths."""
    checked = validate_requests(definition)
    assert sorted(checked) == sorted([*JOB_STEPS, "RecordValidation", "RecordCategoryMap", "RegisterModel",
                                      "CreateModel", "ScoreHeldOut", "Baseline"])
    for name, step in steps_by_name(definition).items():
        assert re.fullmatch(r"[A-Za-z0-9\-_]{1,64}", name) and len(step.get("DisplayName", "")) <= 82


def test_the_baseline_is_made_from_the_held_out_scores_and_registered_with_the_package(definition):
    gate = steps_by_name(definition)["QualityGate"]["Arguments"]
    inner = {step["Name"]: step for step in gate["IfSteps"]}
    baseline = inner["Baseline"]["Arguments"]
    assert baseline["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "baseline"]
    assert references(baseline) == {"ScoreHeldOut", "Cluster", "Features", "ValidateClean", "Train"}
    register = inner["RegisterModel"]["Arguments"]
    quality = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert [quality[part]["S3Uri"]["Std:Join"]["Values"][1] for part in ("Statistics", "Constraints")] == [
        "statistics.json", "constraints.json"]
    assert register["CustomerMetadataProperties"]["monitoring_baseline_uri"] == {
        "Get": "Steps.Baseline.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"}


def test_the_package_names_its_category_map_so_the_registry_can_compare_maps(definition):
    register = steps_by_name(definition)["QualityGate"]["Arguments"]["IfSteps"]
    metadata = {step["Name"]: step for step in register}["RegisterModel"]["Arguments"]["CustomerMetadataProperties"]
    assert metadata["category_map_uri"] == {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.Cluster.ProcessingOutputConfig.Outputs['clusters'].S3Output.S3Uri"}, "category_map.yaml"]}}


def test_retraining_takes_the_reviewed_clusters_from_cluster_assignments_uri(definition):
    cluster = steps_by_name(definition)["Cluster"]["Arguments"]
    inputs = {item["InputName"]: item for item in cluster["ProcessingInputs"]}
    assert inputs["assignments"]["S3Input"]["S3Uri"] == {"Get": "Parameters.ClusterAssignmentsUri"}
    arguments = cluster["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--assignments") + 1] == "/opt/ml/processing/input/assignments"
    default = {p["Name"]: p for p in definition["Parameters"]}["ClusterAssignmentsUri"]["DefaultValue"]
    assert default.endswith("/empty/")  # the empty marker: cluster anew


def test_the_draft_map_is_recorded_in_the_shared_category_maps_zone_by_an_uncached_step(definition, settings):
    record = steps_by_name(definition)["RecordCategoryMap"]
    arguments = record["Arguments"]
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "record-map"]
    assert references(arguments) == {"Cluster"}
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "maps"
    # The zone every execution adds its file to (the bucket is the session's default here).
    assert re.fullmatch(rf"s3://[a-z0-9.-]+/{settings.prefix}/category-map-versions/", output["S3Output"]["S3Uri"])
    container = arguments["AppSpecification"]["ContainerArguments"]
    assert container[container.index("--run-id") + 1] == {"Get": "Execution.PipelineExecutionId"}
    assert container[container.index("--run-date") + 1] == {"Get": "Execution.StartDateTime"}
    # The execution id changes every run: a cached step holding it could never hit (and the Cluster step still can).
    assert "CacheConfig" not in record
    assert "Execution" not in json.dumps(steps_by_name(definition)["Cluster"]["Arguments"]["AppSpecification"])


def test_the_validation_is_recorded_in_the_shared_quarantine_and_quality_zones_by_an_uncached_step(definition):
    steps = steps_by_name(definition)
    record = steps["RecordValidation"]["Arguments"]
    assert record["AppSpecification"]["ContainerEntrypoint"] == ["tweetops", "validation-tables"]
    assert references(record) == {"ValidateClean"}
    outputs = {item["OutputName"]: item["S3Output"]["S3Uri"] for item in record["ProcessingOutputConfig"]["Outputs"]}
    zone = "s3://sagemaker-us-east-1-123456789012/tweetops"  # the account's default bucket, as upsert resolves it
    assert outputs == {"quarantine": f"{zone}/quarantine/", "quality": f"{zone}/quality-reports/"}
    container = record["AppSpecification"]["ContainerArguments"]
    assert container[container.index("--run-id") + 1] == {"Get": "Execution.PipelineExecutionId"}
    assert container[container.index("--run-date") + 1] == {"Get": "Execution.StartDateTime"}
    assert container[container.index("--pipeline") + 1] == "training"
    # The execution id changes every run: a cached step holding it could never hit (and ValidateClean still can).
    assert "CacheConfig" not in steps["RecordValidation"] and "CacheConfig" in steps["ValidateClean"]
    assert "Execution" not in json.dumps(steps["ValidateClean"]["Arguments"]["AppSpecification"])
    # ValidateClean's own quarantine.jsonl stays by execution, under the quarantine zone's lifecycle rule.
    (rejected,) = [item for item in steps["ValidateClean"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
                   if item["OutputName"] == "quarantine"]
    assert rejected["S3Output"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
        f"{zone}/quarantine", {"Get": "Execution.PipelineExecutionId"}]}}
