"""When a package's categories differ from the approved package's, the registry says how (added, split, merged,
renamed, removed, from the map's stable ids and lineage) and approval needs the new map to have been reviewed."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from processing.category_map import Category, CategoryMap, Review, save_category_map
from register import registry as ops
from register.local import RegistryError
from tests.register.conftest import register_request

APPROVED_MAP = CategoryMap(1, "run-a", (
    Category("billing", "Charges", (0,), "c1"), Category("card", "Cards", (1, 2), "c2"),
    Category("payments", "Payments", (3,), "c3"), Category("transfers", "Transfers", (4,), "c4"),
    Category("refunds", "Refunds", (5,), "c5")))


def evolved_map(reviewed: bool) -> CategoryMap:
    """Version 2 as `tweetops review` writes it: c1 renamed, c2 split into c2 + c6, c4 merged into c3, c5 removed,
    a new c7."""
    return CategoryMap(2, "run-b", (
        Category("billing_disputes", "Charges", (0,), "c1", {"renamed_from": "billing"}),
        Category("card_lost", "Lost cards", (1,), "c2"),
        Category("card_stolen", "Stolen cards", (2,), "c6", {"split_from": "c2", "new_in": 2}),
        Category("payments", "Payments and transfers", (3, 4), "c3", {"merged_from": ["c4"]}),
        Category("fraud_scam", "Scams", (5,), "c7", {"new_in": 2})),
        reviewed=Review("ana", datetime(2026, 12, 1, tzinfo=timezone.utc)) if reviewed else None,
        previous={"version": 1, "hash": APPROVED_MAP.content_hash})


def register_with_map(backend, tmp_path, cmap: CategoryMap, execution: str, status: str) -> str:
    """A package whose metadata names its category map file in the backend's store (as RegisterModel records it)."""
    uri = f"s3://tweetops-data/tweetops/executions/{execution}/clusters/category_map.yaml"
    backend.put_bytes(uri, save_category_map(cmap, tmp_path / f"{execution}.yaml").read_bytes())
    request = register_request(None, execution=execution, region=backend.region, account=backend.account,
                               reviewed="true" if cmap.is_reviewed else "false")
    request["CustomerMetadataProperties"]["category_map_uri"] = uri
    request["ModelApprovalStatus"] = status
    return backend.create(request)


def test_show_says_how_the_categories_differ_from_the_approved_package(backend, tmp_path):
    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    arn = register_with_map(backend, tmp_path, evolved_map(reviewed=True), "exec-2", "PendingManualApproval")
    changes = ops.package_summary(backend.registry, arn, backend.read_json)["category_changes"]
    assert changes["changed"] and changes["reviewed"] and changes["reviewed_from_it"]
    assert changes["added"] == [{"id": "c7", "name": "fraud_scam"}]
    assert changes["split"] == [{"from": "c2", "from_name": "card", "part": "c6", "name": "card_stolen"}]
    assert changes["merged"] == [{"into": "c3", "name": "payments", "from": ["c3", "c4"], "from_names": ["transfers"]}]
    assert changes["renamed"] == [{"id": "c1", "from": "billing", "to": "billing_disputes"},
                                  {"id": "c2", "from": "card", "to": "card_lost"}]
    assert changes["removed"] == [{"id": "c5", "name": "refunds"}]


def test_a_package_with_the_approved_map_has_no_changes(backend, tmp_path):
    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    arn = register_with_map(backend, tmp_path, APPROVED_MAP, "exec-2", "PendingManualApproval")
    assert ops.package_summary(backend.registry, arn, backend.read_json)["category_changes"]["changed"] is False


def test_a_changed_unreviewed_map_is_refused_even_with_the_override(backend, tmp_path):
    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    arn = register_with_map(backend, tmp_path, evolved_map(reviewed=False), "exec-2", "PendingManualApproval")
    with pytest.raises(RegistryError) as refused:
        ops.approve(backend.registry, arn, by="bob", reason="new model", allow_unreviewed_map=True,
                    read_json=backend.read_json)
    message = str(refused.value)
    assert "differ from those of the approved" in message and "split c2 card into card_stolen (c6)" in message
    assert "needs an analyst's review (`tweetops review`)" in message
    assert backend.registry.describe_model_package(arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_a_changed_reviewed_map_is_approved_and_the_description_names_the_versions(backend, tmp_path):
    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    arn = register_with_map(backend, tmp_path, evolved_map(reviewed=True), "exec-2", "PendingManualApproval")
    result = ops.approve(backend.registry, arn, by="bob", reason="evolved scheme", read_json=backend.read_json)
    assert result["approval_description"] == ("approved by bob (category map version 1 -> 2, reviewed): "
                                               "evolved scheme")


def test_an_unreadable_map_does_not_hide_the_rest_of_the_summary(backend, tmp_path):
    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    arn = register_with_map(backend, tmp_path, evolved_map(reviewed=True), "exec-2", "PendingManualApproval")
    backend.put_bytes("s3://tweetops-data/tweetops/executions/exec-2/clusters/category_map.yaml", b"version: [")
    summary = ops.package_summary(backend.registry, arn, backend.read_json)
    assert "invalid YAML" in summary["category_changes"]["error"] and summary["metrics"] is None


def test_registry_show_prints_the_changes_and_approve_refuses_them_unreviewed(backend, tmp_path):
    from click.testing import CliRunner

    from register.cli import registry

    register_with_map(backend, tmp_path, APPROVED_MAP, "exec-1", "Approved")
    register_with_map(backend, tmp_path, evolved_map(reviewed=False), "exec-2", "PendingManualApproval")
    shown = CliRunner().invoke(registry, ["show", "2", *backend.cli_args])
    assert shown.exit_code == 0, shown.output
    assert "NOT REVIEWED: approval refused until `tweetops review`" in shown.output
    assert "    added fraud_scam (c7)\n" in shown.output and "    removed refunds (c5)\n" in shown.output
    refused = CliRunner().invoke(registry, ["approve", "2", "--by", "bob", "--reason", "x", "--allow-unreviewed-map",
                                            *backend.cli_args])
    assert refused.exit_code == 1 and "a changed category scheme needs an analyst's review" in refused.output
