"""LocalModelRegistry behaves like the SageMaker Model Registry: versions, ARNs, approval, listing, metadata,
and safe version allocation when several processes share one registry file."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest

from register.local import APPROVAL_STATUSES, LocalModelRegistry, RegistryError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def ticking_clock(start: datetime = T0, step: timedelta = timedelta(seconds=1)):
    """A deterministic clock: each call is one `step` later than the previous."""
    ticks = count()
    return lambda: start + next(ticks) * step


@pytest.fixture
def registry(tmp_path) -> LocalModelRegistry:
    return LocalModelRegistry(tmp_path / "registry" / "models.db", clock=ticking_clock())


def register(registry: LocalModelRegistry, group: str = "tweetops-classifier", **request) -> str:
    return registry.create_model_package({"ModelPackageGroupName": group, **request})["ModelPackageArn"]


def test_creates_parent_folder_and_reopens_existing_file(tmp_path):
    path = tmp_path / "a" / "b" / "models.db"
    arn = register(LocalModelRegistry(path))
    assert path.is_file()
    assert LocalModelRegistry(path).describe_model_package(arn)["ModelPackageVersion"] == 1


def test_versions_increment_per_group_and_groups_are_independent(registry):
    a = [register(registry, "group-a") for _ in range(3)]
    b = [register(registry, "group-b") for _ in range(2)]
    assert [registry.describe_model_package(arn)["ModelPackageVersion"] for arn in a] == [1, 2, 3]
    assert [registry.describe_model_package(arn)["ModelPackageVersion"] for arn in b] == [1, 2]
    assert [g["ModelPackageGroupName"] for g in registry.list_model_package_groups()] == ["group-a", "group-b"]


def test_arn_format_lower_cases_the_group(registry):
    assert register(registry, "TweetOps-Classifier") == (
        "arn:aws:sagemaker:local:000000000000:model-package/tweetops-classifier/1"
    )
    (group,) = registry.list_model_package_groups()
    assert group["ModelPackageGroupName"] == "TweetOps-Classifier"
    assert group["ModelPackageGroupArn"] == (
        "arn:aws:sagemaker:local:000000000000:model-package-group/tweetops-classifier"
    )
    assert group["CreationTime"] == T0


def test_group_names_are_case_insensitive_like_sagemaker(registry):
    register(registry, "TweetOps")
    assert register(registry, "tweetops").endswith("/tweetops/2")
    assert len(registry.list_model_package_groups()) == 1
    assert len(registry.list_model_packages("TWEETOPS")) == 2


def test_describe_has_the_sagemaker_shape_and_defaults_to_pending(registry):
    arn = register(registry, ModelPackageDescription="first model")
    package = registry.describe_model_package(arn)
    assert package["ModelPackageGroupName"] == "tweetops-classifier"
    assert package["ModelPackageArn"] == arn
    assert package["ModelPackageDescription"] == "first model"
    assert package["ModelPackageStatus"] == "Completed"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CreationTime"] == package["LastModifiedTime"] == T0
    assert package["CreationTime"].tzinfo is not None
    assert "ApprovalDescription" not in package  # absent until set, as in boto3


def test_approve_and_reject_record_description_and_last_modified_time(registry):
    arn = register(registry)
    created = registry.describe_model_package(arn)["LastModifiedTime"]

    assert registry.update_model_package(arn, "Approved", "macro-F1 0.91 on gold set") == {"ModelPackageArn": arn}
    approved = registry.describe_model_package(arn)
    assert approved["ModelApprovalStatus"] == "Approved"
    assert approved["ApprovalDescription"] == "macro-F1 0.91 on gold set"
    assert approved["LastModifiedTime"] > created
    assert approved["CreationTime"] == T0

    registry.update_model_package(arn, "Rejected", "drift on new campaign")
    rejected = registry.describe_model_package(arn)
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert rejected["ApprovalDescription"] == "drift on new campaign"
    assert rejected["LastModifiedTime"] > approved["LastModifiedTime"]


def test_update_without_description_keeps_the_previous_one(registry):
    arn = register(registry)
    registry.update_model_package(arn, "Approved", "ok")
    registry.update_model_package(arn, "Approved")
    assert registry.describe_model_package(arn)["ApprovalDescription"] == "ok"


def test_status_given_at_creation_is_kept(registry):
    arn = register(registry, ModelApprovalStatus="Approved")
    assert registry.describe_model_package(arn)["ModelApprovalStatus"] == "Approved"


def test_list_filters_by_status_and_sorts_by_version(registry):
    arns = [register(registry, ModelPackageDescription=f"v{i}") for i in range(1, 5)]
    registry.update_model_package(arns[0], "Approved")
    registry.update_model_package(arns[2], "Approved")
    registry.update_model_package(arns[3], "Rejected")

    versions = lambda summaries: [s["ModelPackageVersion"] for s in summaries]  # noqa: E731
    assert versions(registry.list_model_packages("tweetops-classifier")) == [4, 3, 2, 1]
    assert versions(registry.list_model_packages("tweetops-classifier", sort_order="Ascending")) == [1, 2, 3, 4]
    assert versions(registry.list_model_packages("tweetops-classifier", "Approved")) == [3, 1]
    assert versions(registry.list_model_packages("tweetops-classifier", "Rejected")) == [4]
    assert versions(registry.list_model_packages("tweetops-classifier", "PendingManualApproval")) == [2]

    summary = registry.list_model_packages("tweetops-classifier", "Rejected")[0]
    assert summary == {
        "ModelPackageGroupName": "tweetops-classifier",
        "ModelPackageVersion": 4,
        "ModelPackageArn": arns[3],
        "ModelPackageDescription": "v4",
        "CreationTime": T0 + timedelta(seconds=3),
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Rejected",
    }


def test_list_of_a_group_without_packages_in_a_status_is_empty(registry):
    register(registry)
    assert registry.list_model_packages("tweetops-classifier", "Approved") == []


def test_latest_approved_picks_the_highest_approved_version(registry):
    arns = [register(registry) for _ in range(4)]
    assert registry.latest_approved("tweetops-classifier") is None

    registry.update_model_package(arns[1], "Approved")
    registry.update_model_package(arns[2], "Approved")
    assert registry.latest_approved("tweetops-classifier")["ModelPackageArn"] == arns[2]

    registry.update_model_package(arns[2], "Rejected")  # a rejected newer version falls back to the older one
    latest = registry.latest_approved("tweetops-classifier")
    assert latest["ModelPackageVersion"] == 2
    assert latest == registry.describe_model_package(arns[1])


def test_latest_approved_ignores_other_groups(registry):
    register(registry, "group-a", ModelApprovalStatus="Approved")
    register(registry, "group-b")
    assert registry.latest_approved("group-b") is None


def test_unknown_arn_is_refused_with_its_name(registry):
    missing = "arn:aws:sagemaker:local:000000000000:model-package/tweetops-classifier/9"
    with pytest.raises(RegistryError, match="no model package .*tweetops-classifier/9"):
        registry.describe_model_package(missing)
    with pytest.raises(RegistryError, match="tweetops-classifier/9"):
        registry.update_model_package(missing, "Approved")


@pytest.mark.parametrize("status", ["approved", "Pending", ""])
def test_bad_status_is_refused_listing_the_valid_ones(registry, status):
    arn = register(registry)
    valid = ", ".join(APPROVAL_STATUSES)
    with pytest.raises(RegistryError, match=f"invalid approval status '{status}'; valid: {valid}"):
        registry.update_model_package(arn, status)
    with pytest.raises(RegistryError, match="invalid approval status"):
        register(registry, ModelApprovalStatus=status)
    with pytest.raises(RegistryError, match="invalid approval status"):
        registry.list_model_packages("tweetops-classifier", approval_status=status)
    assert registry.describe_model_package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert len(registry.list_model_packages("tweetops-classifier")) == 1  # the refused create left nothing


def test_bad_sort_order_is_refused(registry):
    register(registry)
    with pytest.raises(RegistryError, match="invalid sort order 'newest'; valid: Ascending, Descending"):
        registry.list_model_packages("tweetops-classifier", sort_order="newest")


def test_unknown_group_is_refused_naming_the_known_ones(registry):
    with pytest.raises(RegistryError, match=r"no model package group 'x'; known: \(none\)"):
        registry.list_model_packages("x")
    register(registry, "group-b")
    register(registry, "group-a")
    with pytest.raises(RegistryError, match="no model package group 'x'; known: group-a, group-b"):
        registry.list_model_packages("x")
    with pytest.raises(RegistryError, match="no model package group 'x'"):
        registry.latest_approved("x")


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"ModelPackageGroupName": ""},
        {"ModelPackageGroupName": "under_score"},
        {"ModelPackageGroupName": "trailing-"},
        {"ModelPackageGroupName": "g" * 64},
    ],
)
def test_missing_or_invalid_group_name_is_refused(registry, request_):
    with pytest.raises(RegistryError, match="invalid ModelPackageGroupName"):
        registry.create_model_package(request_)
    assert registry.list_model_package_groups() == []


def test_non_string_metadata_is_refused(registry):
    with pytest.raises(RegistryError, match="CustomerMetadataProperties must map strings to strings"):
        register(registry, CustomerMetadataProperties={"rows": 1200})


def test_metadata_metrics_and_other_request_keys_round_trip(registry):
    metrics = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": "file:///tmp/run/evaluation.json"}
        }
    }
    metadata = {"category_map_version": "sha256:ab12", "category_map_reviewed": "false", "seed": "7"}
    inference = {
        "Containers": [{"Image": "tweetops:local", "ModelDataUrl": "file:///tmp/run/model.tar.gz"}],
        "SupportedContentTypes": ["application/jsonlines"],
        "SupportedResponseMIMETypes": ["application/jsonlines"],
    }
    arn = register(
        registry,
        ModelMetrics=metrics,
        CustomerMetadataProperties=metadata,
        InferenceSpecification=inference,
        Domain="NATURAL_LANGUAGE_PROCESSING",
        Task="CLASSIFICATION",
        DriftCheckBaselines={"ModelQuality": {"Constraints": {"S3Uri": "s3://b/c.json"}}},
        # a request key that collides with a response field does not override the registry's own value
        ModelPackageVersion=99,
    )
    package = registry.describe_model_package(arn)
    assert package["ModelMetrics"] == metrics
    assert package["CustomerMetadataProperties"] == metadata
    assert package["InferenceSpecification"] == inference
    assert package["Domain"] == "NATURAL_LANGUAGE_PROCESSING"
    assert package["Task"] == "CLASSIFICATION"
    assert package["DriftCheckBaselines"] == {"ModelQuality": {"Constraints": {"S3Uri": "s3://b/c.json"}}}
    assert package["ModelPackageVersion"] == 1


def test_keys_never_given_are_absent_like_boto3(registry):
    package = registry.describe_model_package(register(registry))
    for key in ("ModelPackageDescription", "ModelMetrics", "CustomerMetadataProperties", "InferenceSpecification"):
        assert key not in package
    assert "ModelPackageDescription" not in registry.list_model_packages("tweetops-classifier")[0]


def test_json_columns_are_stored_with_sorted_keys(registry):
    import sqlite3

    register(registry, CustomerMetadataProperties={"b": "2", "a": "1"}, Zeta="z", Alpha="a")
    conn = sqlite3.connect(registry.path)
    try:
        metadata, extra = conn.execute("SELECT customer_metadata, extra FROM model_package").fetchone()
    finally:
        conn.close()
    assert metadata == '{"a": "1", "b": "2"}'
    assert extra == '{"Alpha": "a", "Zeta": "z"}'


def test_responses_validate_against_botocore_shapes(registry):
    """Responses are the boto3 shapes, so a common interface can wrap both backends."""
    botocore = pytest.importorskip("botocore.session")
    from botocore.validate import ParamValidator

    model = botocore.get_session().get_service_model("sagemaker")

    def check(operation: str, member: str | None, value) -> None:
        shape = model.operation_model(operation).output_shape
        shape = shape.members[member] if member else shape
        report = ParamValidator().validate(value, shape)
        assert not report.has_errors(), report.generate_report()

    arn = register(registry, ModelPackageDescription="d", CustomerMetadataProperties={"k": "v"})
    registry.update_model_package(arn, "Approved", "ok")
    check("DescribeModelPackage", None, registry.describe_model_package(arn))
    check("ListModelPackages", "ModelPackageSummaryList", registry.list_model_packages("tweetops-classifier"))
    check("ListModelPackageGroups", "ModelPackageGroupSummaryList", registry.list_model_package_groups())
    check("CreateModelPackage", None, registry.create_model_package({"ModelPackageGroupName": "g"}))


def _register_many(path: str, group: str, n: int) -> list[int]:
    """Worker for the multi-process test: its own registry instance on the shared file."""
    registry = LocalModelRegistry(path)
    arns = [registry.create_model_package({"ModelPackageGroupName": group})["ModelPackageArn"] for _ in range(n)]
    return [int(arn.rsplit("/", 1)[1]) for arn in arns]


def test_two_instances_on_one_file_see_each_others_writes(tmp_path):
    path = tmp_path / "models.db"
    pipeline, cli = LocalModelRegistry(path), LocalModelRegistry(path)
    arn = pipeline.create_model_package({"ModelPackageGroupName": "tweetops-classifier"})["ModelPackageArn"]
    cli.update_model_package(arn, "Approved", "looks good")
    assert pipeline.latest_approved("tweetops-classifier")["ApprovalDescription"] == "looks good"
    assert cli.create_model_package({"ModelPackageGroupName": "tweetops-classifier"})["ModelPackageArn"].endswith(
        "/2"
    )
    assert [s["ModelPackageVersion"] for s in pipeline.list_model_packages("tweetops-classifier")] == [2, 1]


def test_concurrent_threads_with_separate_instances_allocate_distinct_versions(tmp_path):
    path = str(tmp_path / "models.db")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(_register_many, [path] * 8, ["tweetops-classifier"] * 8, [10] * 8))
    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 81))


def test_concurrent_processes_allocate_distinct_versions(tmp_path):
    path = str(tmp_path / "models.db")
    # spawn: fresh interpreters, as separate pipeline runs and CLI calls would be
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_register_many, [path] * 4, ["tweetops-classifier"] * 4, [15] * 4))
    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 61))
    listed = LocalModelRegistry(path).list_model_packages("tweetops-classifier", sort_order="Ascending")
    assert [s["ModelPackageVersion"] for s in listed] == versions
