"""The approval workflow behaves the same on the local registry and on SageMaker's (moto): what `show` tells an
approver, approve/reject with who and why, the unreviewed-map rule, the latest approved package, and listing."""
from __future__ import annotations

import pytest

from register import registry as ops
from register.local import RegistryError
from tests.register.conftest import GROUP, INPUT_HASH, MAP_HASH, MODEL_SHA256, evaluation, make_sagemaker, register_request


def test_summary_has_metrics_category_map_provenance_and_lineage(backend):
    arn = backend.register()
    summary = ops.package_summary(backend.registry, arn, backend.read_json)
    expected = evaluation()
    held_out, gold = expected["multiclass_classification_metrics"], expected["gold"]

    assert summary["arn"] == arn
    assert (summary["group"], summary["version"], summary["status"]) == (GROUP, 1, "PendingManualApproval")
    assert summary["metrics"] == {
        "macro_f1": held_out["macro_f1"]["value"], "accuracy": held_out["accuracy"]["value"], "n_samples": 16,
        "gold": {"macro_f1": gold["macro_f1"]["value"], "accuracy": gold["accuracy"]["value"], "n_samples": 8,
                 "categories_named_as_gold": 2, "agreement": gold["agreement"]},
    }
    assert 0 < summary["metrics"]["macro_f1"] < 1
    assert summary["metrics_error"] is None
    assert summary["metrics_uri"] == "s3://tweetops-data/tweetops/executions/exec0001/evaluation/evaluation.json"
    assert summary["category_map"] == {"version": "2", "hash": MAP_HASH, "reviewed": True, "uri": None}
    assert (summary["input_data_hash"], summary["code_version"], summary["seed"]) == (
        INPUT_HASH, "0.3.0+g1a2b3c4", "7")
    assert summary["lineage"] == {
        "generated_by": f"arn:aws:sagemaker:{backend.region}:{backend.account}:pipeline/tweetops-training/"
                        "execution/exec0001",
        "pipeline_execution": "exec0001"}
    assert summary["model_data_url"].endswith("/exec0001/model/train/output/model.tar.gz")
    assert summary["approval_description"] is None
    assert summary["created"].tzinfo is not None


def test_the_gold_block_is_optional(backend):
    arn = backend.register(metrics=evaluation(gold=False))
    metrics = ops.package_summary(backend.registry, arn, backend.read_json)["metrics"]
    assert metrics["gold"] is None and metrics["macro_f1"] > 0


@pytest.mark.parametrize("reviewed, expected", [("true", True), ("false", False), (None, None)])
def test_the_review_flag_is_read_from_customer_metadata(backend, reviewed, expected):
    arn = backend.register(reviewed=reviewed)
    assert ops.package_summary(backend.registry, arn, backend.read_json)["category_map"]["reviewed"] is expected


def test_a_missing_metrics_file_does_not_stop_show_and_says_why(backend):
    arn = backend.register(metrics=None)
    summary = ops.package_summary(backend.registry, arn, backend.read_json)
    assert summary["metrics"] is None
    assert summary["metrics_error"].startswith(summary["metrics_uri"])
    assert ("not found" if backend.name == "local" else "NoSuchKey") in summary["metrics_error"]
    assert summary["category_map"]["reviewed"] is True  # the rest is still there


def test_an_unreadable_or_misshapen_metrics_file_says_why(backend):
    not_json, misshapen = backend.register(), backend.register()
    for arn, content in ((not_json, b"{truncated"), (misshapen, b'{"accuracy": 0.9}')):
        backend.put_bytes(ops.package_summary(backend.registry, arn, backend.read_json)["metrics_uri"], content)
    assert "not JSON" in ops.package_summary(backend.registry, not_json, backend.read_json)["metrics_error"]
    assert ops.package_summary(backend.registry, misshapen, backend.read_json)["metrics_error"].endswith(
        "evaluation.json: not an evaluation.json (no 'multiclass_classification_metrics')")


def test_a_package_without_model_metrics_says_so(backend):
    summary = ops.package_summary(backend.registry, backend.register(metrics="absent"), backend.read_json)
    assert summary["metrics"] is None and summary["metrics_uri"] is None
    assert summary["metrics_error"] == "the package records no model quality statistics"


def test_approve_records_who_and_why(backend):
    arn = backend.register()
    result = ops.approve(backend.registry, arn, by="alice", reason="gold macro-F1 0.88, spot-checked 50")
    assert result == {"arn": arn, "group": GROUP, "version": 1, "name": f"{GROUP} version 1",
                      "previous_status": "PendingManualApproval", "status": "Approved",
                      "approval_description": "approved by alice: gold macro-F1 0.88, spot-checked 50"}
    package = backend.registry.describe_model_package(arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == "approved by alice: gold macro-F1 0.88, spot-checked 50"


@pytest.mark.parametrize("reviewed, state", [("false", "was never reviewed"), (None, "has no review record")])
def test_approve_refuses_an_unreviewed_map_naming_the_flag(backend, reviewed, state):
    arn = backend.register(reviewed=reviewed)
    with pytest.raises(RegistryError) as refused:
        ops.approve(backend.registry, arn, by="alice", reason="looks fine")
    message = str(refused.value)
    assert f"the category map of {GROUP} version 1 {state}" in message
    assert "--allow-unreviewed-map" in message and "\n" not in message
    assert backend.registry.describe_model_package(arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_approve_refuses_a_package_whose_serving_model_pins_no_digest(backend):
    request = register_request(None, execution="exec-old", region=backend.region, account=backend.account)
    del request["InferenceSpecification"]["Containers"][0]["Environment"]["TWEETOPS_MODEL_SHA256"]
    arn = backend.create(request)
    assert ops.package_summary(backend.registry, arn, backend.read_json)["model_sha256"] is None
    with pytest.raises(RegistryError, match="pins no model digest .TWEETOPS_MODEL_SHA256 in its serving environment."):
        ops.approve(backend.registry, arn, by="alice", reason="looks fine", allow_unreviewed_map=True)
    assert backend.registry.describe_model_package(arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_the_summary_names_the_pinned_model_digest(backend):
    summary = ops.package_summary(backend.registry, backend.register(), backend.read_json)
    assert summary["model_sha256"] == MODEL_SHA256


def test_the_override_approves_and_the_description_says_the_map_was_unreviewed(backend):
    arn = backend.register(reviewed="false")
    result = ops.approve(backend.registry, arn, by="bob", reason="experiment", allow_unreviewed_map=True)
    assert result["approval_description"] == "approved by bob with an unreviewed category map: experiment"
    package = backend.registry.describe_model_package(arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == result["approval_description"]


def test_reject_records_who_and_why_even_after_an_approval(backend):
    arn = backend.register()
    ops.approve(backend.registry, arn, by="alice", reason="ok")
    result = ops.reject(backend.registry, arn, by="carol", reason="drift on the new campaign")
    assert (result["previous_status"], result["status"]) == ("Approved", "Rejected")
    package = backend.registry.describe_model_package(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "rejected by carol: drift on the new campaign"


def test_reject_needs_no_reviewed_map(backend):
    arn = backend.register(reviewed="false")
    assert ops.reject(backend.registry, arn, by="carol", reason="unreviewed")["status"] == "Rejected"


@pytest.mark.parametrize("by, reason, error", [
    ("  ", "ok", r"say who decides \(--by\)"),
    ("alice", "\n", r"say why \(--reason\)"),
    ("alice", "x" * 1100, "SageMaker keeps at most 1024: shorten --reason"),
])
def test_blank_or_too_long_decisions_are_refused(backend, by, reason, error):
    arn = backend.register()
    with pytest.raises(RegistryError, match=error):
        ops.reject(backend.registry, arn, by=by, reason=reason)
    assert backend.registry.describe_model_package(arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_descriptions_are_one_line(backend):
    arn = backend.register()
    result = ops.approve(backend.registry, arn, by=" alice\n", reason="line one\n  line two\t")
    assert result["approval_description"] == "approved by alice: line one line two"


def test_latest_approved_is_the_highest_approved_version(backend):
    arns = [backend.register() for _ in range(3)]
    assert ops.latest(backend.registry, GROUP, backend.read_json) is None
    ops.approve(backend.registry, arns[0], by="alice", reason="first")
    ops.approve(backend.registry, arns[2], by="alice", reason="third")
    assert ops.latest(backend.registry, GROUP, backend.read_json)["version"] == 3
    ops.reject(backend.registry, arns[2], by="carol", reason="regression")
    latest = ops.latest(backend.registry, GROUP, backend.read_json)
    assert (latest["arn"], latest["approval_description"]) == (arns[0], "approved by alice: first")
    assert latest["metrics"]["macro_f1"] > 0


def test_list_packages_newest_first_and_by_status(backend):
    arns = [backend.register() for _ in range(3)]
    ops.reject(backend.registry, arns[1], by="carol", reason="no")
    rows = ops.list_packages(backend.registry, GROUP)
    assert [(row["version"], row["status"], row["arn"]) for row in rows] == [
        (3, "PendingManualApproval", arns[2]), (2, "Rejected", arns[1]), (1, "PendingManualApproval", arns[0])]
    assert all(row["group"] == GROUP and row["created"].tzinfo for row in rows)
    assert [row["version"] for row in ops.list_packages(backend.registry, GROUP, "PendingManualApproval")] == [3, 1]
    assert ops.list_packages(backend.registry, GROUP, "Approved") == []


def test_list_groups(backend):
    backend.register()
    (group,) = ops.list_groups(backend.registry)
    assert group["name"] == GROUP
    assert group["arn"] == f"arn:aws:sagemaker:{backend.region}:{backend.account}:model-package-group/{GROUP}"


def test_an_unknown_group_is_refused_naming_the_known_ones(backend):
    backend.register()
    with pytest.raises(RegistryError, match=f"no model package group 'other'.*known: {GROUP}"):
        ops.list_packages(backend.registry, "other")


def test_a_version_number_resolves_to_its_arn(backend):
    arns = [backend.register() for _ in range(2)]
    assert ops.resolve_package(backend.registry, "2", GROUP) == arns[1]
    assert ops.resolve_package(backend.registry, f" {arns[0]} ", GROUP) == arns[0]
    with pytest.raises(RegistryError, match=f"no version 7 in model package group '{GROUP}'"):
        ops.resolve_package(backend.registry, "7", GROUP)
    with pytest.raises(RegistryError, match="expected a model package ARN or a version number, got 'latest'"):
        ops.resolve_package(backend.registry, "latest", GROUP)


def test_an_unknown_arn_is_a_registry_error(backend):
    backend.register()
    missing = f"arn:aws:sagemaker:{backend.region}:{backend.account}:model-package/{GROUP}/9"
    for operation in (lambda: ops.package_summary(backend.registry, missing, backend.read_json),
                      lambda: ops.approve(backend.registry, missing, by="alice", reason="ok"),
                      lambda: ops.reject(backend.registry, missing, by="alice", reason="ok")):
        with pytest.raises(RegistryError, match=f"{GROUP}/9"):
            operation()


def test_sagemaker_listing_follows_every_page(aws):
    backend = make_sagemaker(page_size=2)
    arns = [backend.register() for _ in range(5)]
    for arn in arns[:4]:
        ops.approve(backend.registry, arn, by="alice", reason="ok")
    assert [row["version"] for row in ops.list_packages(backend.registry, GROUP)] == [5, 4, 3, 2, 1]
    assert [row["version"] for row in ops.list_packages(backend.registry, GROUP, "Approved")] == [4, 3, 2, 1]
    assert backend.registry.list_model_packages(GROUP, sort_order="Ascending")[0]["ModelPackageArn"] == arns[0]
    assert ops.latest(backend.registry, GROUP, backend.read_json)["arn"] == arns[3]


def test_sagemaker_metrics_are_read_from_s3_uris_only(sagemaker):
    with pytest.raises(ValueError, match="'file:///tmp/evaluation.json' is not an s3://bucket/key URI"):
        sagemaker.read_json("file:///tmp/evaluation.json")


def test_a_missing_local_registry_is_refused_without_creating_one(tmp_path):
    home = tmp_path / "nowhere"
    with pytest.raises(RegistryError, match=f"no local registry at {home / 'registry.db'}: run `tweetops run-local`"):
        ops.local_backend(home)
    assert not home.exists()
