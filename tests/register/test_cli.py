"""Specification of `tweetops registry list|show|approve|reject|latest` as an ML engineer and CI use it: aligned
tables, --json for scripts, the unreviewed-map refusal and its override, one-line errors with exit code 1."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from register.cli import registry
from tests.register.conftest import GROUP, MAP_HASH, MODEL_SHA256

ARN = "arn:aws:sagemaker:local:000000000000:model-package/tweetops-message-classifier/{}"


def run(backend, *args: str):
    """`tweetops registry ARGS` on the backend; returns click's result."""
    return CliRunner().invoke(registry, [*args, *backend.cli_args])


def one_line_error(result, exit_code: int = 1) -> str:
    """The error message of a failed command, checking it is a single line."""
    assert result.exit_code == exit_code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0].removeprefix("Error: ")


@pytest.mark.parametrize("command", ["list", "show", "approve", "reject", "latest"])
def test_every_command_explains_itself(command):
    result = CliRunner().invoke(registry, [command, "--help"])
    assert result.exit_code == 0 and "--backend" in result.output and "--group" in result.output


def test_list_is_an_aligned_table_newest_first(local):
    for _ in range(3):
        local.register()
    run(local, "reject", "2", "--by", "carol", "--reason", "drift")
    result = run(local, "list")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{GROUP}: 3 versions",
        "VERSION  STATUS                 CREATED (UTC)        ARN",
        f"3        PendingManualApproval  2026-11-20 10:02:00  {ARN.format(3)}",
        f"2        Rejected               2026-11-20 10:01:00  {ARN.format(2)}",
        f"1        PendingManualApproval  2026-11-20 10:00:00  {ARN.format(1)}",
    ]


def test_list_filters_by_status(local):
    for _ in range(3):
        local.register()
    run(local, "approve", "1", "--by", "alice", "--reason", "ok")
    lines = run(local, "list", "--status", "PendingManualApproval").output.splitlines()
    assert lines[0] == f"{GROUP}: 2 PendingManualApproval versions"
    assert [line.split()[0] for line in lines[2:]] == ["3", "2"]
    assert run(local, "list", "--status", "Rejected").output == f"no Rejected versions in {GROUP}\n"
    assert run(local, "list", "--status", "approved").exit_code == 2  # click names the valid choices


def test_list_json_for_scripts(local):
    local.register()
    rows = json.loads(run(local, "list", "--json").output)
    assert rows == [{"arn": ARN.format(1), "group": GROUP, "version": 1, "status": "PendingManualApproval",
                     "created": "2026-11-20 10:00:00+00:00"}]


def test_list_groups(local):
    local.register()
    assert run(local, "list", "--groups").output.splitlines() == [
        "GROUP                        CREATED (UTC)        ARN",
        f"{GROUP}  2026-11-20 10:00:00  arn:aws:sagemaker:local:000000000000:model-package-group/{GROUP}"]
    assert [g["name"] for g in json.loads(run(local, "list", "--groups", "--json").output)] == [GROUP]


def test_another_group_is_chosen_with_the_option_or_the_setting(local, monkeypatch):
    local.register()
    assert "no model package group 'other'; known: tweetops-message-classifier" in one_line_error(
        run(local, "list", "--group", "other"))
    monkeypatch.setenv("TWEETOPS_MODEL_PACKAGE_GROUP", "other")
    assert "no model package group 'other'" in one_line_error(run(local, "list"))


def test_show_tells_an_approver_what_the_package_is(local):
    local.register()
    result = run(local, "show", "1")
    assert result.exit_code == 0, result.output
    # "field  value" lines, values aligned after the longest field name ("category map") and two spaces
    fields = {line[:14].rstrip(): line[14:] for line in result.output.splitlines()}
    assert all(line[12:14] == "  " and line[14] != " " for line in result.output.splitlines())
    assert fields["package"] == f"{GROUP} version 1"
    assert fields["arn"] == ARN.format(1)
    assert fields["status"] == "PendingManualApproval"
    assert fields["created"] == "2026-11-20 10:00:00 UTC"
    assert fields["held-out"] == "macro-F1 0.944  accuracy 0.938  (16 messages)"
    assert fields["gold set"] == "macro-F1 0.855  accuracy 0.875  (8 messages)"
    assert fields["category map"] == f"version 2, reviewed, hash {MAP_HASH[:12]}…"
    assert fields["code version"] == "0.3.0+g1a2b3c4"
    assert fields["seed"] == "7"
    assert fields["lineage"] == "arn:aws:sagemaker:local:000000000000:pipeline/tweetops-training/execution/exec0001"
    assert fields["evaluation"] == "s3://tweetops-data/tweetops/executions/exec0001/evaluation/evaluation.json"
    assert fields["model sha256"] == f"{MODEL_SHA256} (serving loads only this model.joblib)"
    # A package registered without a monitoring baseline says its batches are not judged for drift.
    assert fields["monitoring"] == "no baseline: its batches are not judged for drift"
    assert list(fields) == ["package", "arn", "status", "created", "held-out", "gold set", "category map",
                            "input data", "code version", "seed", "lineage", "model data", "model sha256",
                            "evaluation", "monitoring"]


def test_show_takes_an_arn_and_json(local):
    local.register()
    summary = json.loads(run(local, "show", ARN.format(1), "--json").output)
    assert summary["version"] == 1
    assert summary["category_map"] == {"version": "2", "hash": MAP_HASH, "reviewed": True, "uri": None}
    assert summary["metrics"]["gold"]["n_samples"] == 8


def test_show_says_when_metrics_are_unavailable(local):
    local.register(metrics=None)
    result = run(local, "show", "1")
    assert result.exit_code == 0
    (line,) = [line for line in result.output.splitlines() if line.startswith("metrics")]
    assert line.split(None, 1)[1] == (
        "unavailable: s3://tweetops-data/tweetops/executions/exec0001/evaluation/evaluation.json not found "
        f"(local store: {local.cli_args[-1]}/s3/tweetops-data/tweetops/executions/exec0001/evaluation/"
        "evaluation.json)")


def test_show_marks_an_unreviewed_map(local):
    local.register(reviewed="false")
    assert "version 2, NOT REVIEWED (approving needs --allow-unreviewed-map)" in run(local, "show", "1").output


def test_approve_records_who_and_why(local):
    local.register()
    result = run(local, "approve", "1", "--by", "alice", "--reason", "gold macro-F1 0.85")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{GROUP} version 1: PendingManualApproval -> Approved",
                                          "  approved by alice: gold macro-F1 0.85", f"  {ARN.format(1)}"]
    assert "decision      approved by alice: gold macro-F1 0.85" in run(local, "show", "1").output


def test_approving_an_unreviewed_map_is_refused_then_allowed_with_the_flag(local):
    local.register(reviewed="false")
    refused = one_line_error(run(local, "approve", "1", "--by", "alice", "--reason", "pilot"))
    assert refused == (f"not approved: the category map of {GROUP} version 1 was never reviewed "
                       "(category_map_reviewed=false); have an analyst review it and retrain, or pass "
                       "--allow-unreviewed-map to approve it anyway")
    assert json.loads(run(local, "show", "1", "--json").output)["status"] == "PendingManualApproval"

    allowed = run(local, "approve", "1", "--by", "alice", "--reason", "pilot", "--allow-unreviewed-map")
    assert allowed.exit_code == 0, allowed.output
    assert "  approved by alice with an unreviewed category map: pilot" in allowed.output.splitlines()
    shown = run(local, "show", "1").output
    assert "status        Approved" in shown and "NOT REVIEWED," in shown and "approving needs" not in shown


def test_reject_records_who_and_why(local):
    local.register()
    result = run(local, "reject", ARN.format(1), "--by", "carol", "--reason", "confuses billing and refunds")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [f"{GROUP} version 1: PendingManualApproval -> Rejected",
                                              "  rejected by carol: confuses billing and refunds"]


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_a_decision_needs_who_and_why(local, command):
    local.register()
    result = run(local, command, "1", "--by", "alice")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.output
    assert one_line_error(run(local, command, "1", "--by", "alice", "--reason", " ")) == "say why (--reason)"


def test_an_unknown_package_is_one_line(local):
    local.register()
    missing = ARN.format(9)
    registry_file = f"{local.cli_args[-1]}/registry.db"
    assert one_line_error(run(local, "show", missing)) == f"no model package '{missing}' in {registry_file}"
    assert one_line_error(run(local, "approve", missing, "--by", "a", "--reason", "b")).startswith(
        f"no model package '{missing}'")
    assert one_line_error(run(local, "reject", "9", "--by", "a", "--reason", "b")) == (
        f"no version 9 in model package group '{GROUP}'")
    assert one_line_error(run(local, "show", "v1")) == "expected a model package ARN or a version number, got 'v1'"


def test_latest_when_none_is_approved_says_so_and_exits_1(local):
    local.register()
    local.register()
    result = run(local, "latest")
    assert one_line_error(result) == (f"no approved model package in {GROUP} (pending: 2, 1); approve one with "
                                      "`tweetops registry approve VERSION --by WHO --reason WHY`")
    assert result.stdout == ""  # nothing for a script to mistake for a package
    assert run(local, "latest", "--json").stdout == ""


def test_latest_shows_the_highest_approved_version(local):
    for _ in range(3):
        local.register()
    run(local, "approve", "1", "--by", "alice", "--reason", "first")
    run(local, "approve", "2", "--by", "alice", "--reason", "second")
    run(local, "reject", "2", "--by", "carol", "--reason", "regression")
    result = run(local, "latest")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"package       {GROUP} version 1"
    latest = json.loads(run(local, "latest", "--json").output)
    assert (latest["arn"], latest["approval_description"]) == (ARN.format(1), "approved by alice: first")


def test_a_missing_local_home_is_one_line_and_creates_nothing(tmp_path):
    home = tmp_path / "no-run-yet"
    result = CliRunner().invoke(registry, ["list", "--home", str(home)])
    assert one_line_error(result).startswith(f"no local registry at {home / 'registry.db'}")
    assert not home.exists()


def test_the_home_comes_from_the_environment(local, monkeypatch):
    local.register()
    monkeypatch.setenv("TWEETOPS_LOCAL_HOME", local.cli_args[-1])
    assert CliRunner().invoke(registry, ["list"]).output.startswith(f"{GROUP}: 1 version\n")


# ---------------------------------------------------------------------------- the SageMaker backend (moto)
def test_sagemaker_list_show_approve_latest(sagemaker):
    first, second = sagemaker.register(), sagemaker.register(reviewed="false")
    lines = run(sagemaker, "list").output.splitlines()
    assert lines[0] == f"{GROUP}: 2 versions"
    assert [line.split()[:2] for line in lines[2:]] == [["2", "PendingManualApproval"],
                                                          ["1", "PendingManualApproval"]]
    assert lines[2].endswith(second) and lines[3].endswith(first)

    shown = run(sagemaker, "show", "1").output  # metrics read from S3
    assert "held-out      macro-F1 0.944  accuracy 0.938  (16 messages)" in shown
    assert "category map  version 2, reviewed" in shown

    assert "--allow-unreviewed-map" in one_line_error(run(sagemaker, "approve", "2", "--by", "a", "--reason", "b"))
    assert run(sagemaker, "approve", "1", "--by", "alice", "--reason", "gold ok").exit_code == 0
    latest = json.loads(run(sagemaker, "latest", "--json").output)
    assert (latest["arn"], latest["status"], latest["approval_description"]) == (
        first, "Approved", "approved by alice: gold ok")
    # moto's UpdateModelPackage drops CustomerMetadataProperties it is not sent (SageMaker keeps them), so
    # nothing here asserts metadata after an update.


def test_sagemaker_region_comes_from_an_arn_when_not_given(sagemaker):
    arn = sagemaker.register()
    result = CliRunner().invoke(registry, ["show", arn, "--backend", "sagemaker", "--json"])  # default region differs
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["arn"] == arn


def test_sagemaker_unknown_package_and_none_approved_are_one_line(sagemaker):
    sagemaker.register()
    missing = f"arn:aws:sagemaker:eu-west-1:{sagemaker.account}:model-package/{GROUP}/9"
    assert one_line_error(run(sagemaker, "show", missing)).startswith(f"no model package '{missing}'")
    assert one_line_error(run(sagemaker, "latest")).startswith(f"no approved model package in {GROUP} (pending: 1)")
    assert one_line_error(run(sagemaker, "list", "--group", "other")) == (
        f"no model package group 'other' in eu-west-1; known: {GROUP}")
