"""Specification of `tweetops review` as an analyst uses it: the decisions applied to a proposal folder, map N+1
written beside it (or where --out says), a short changelog table, the retraining command; a waiting local
evolution execution is sent the decision and resumed; every mistake is one line and exit code 1."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.local import callbacks, containers
from pipelines.local.executor import LocalExecutor
from processing import catalog
from processing.category_map import load_category_map, save_category_map
from processing.map_versions import write_map_version
from register.local import LocalModelRegistry
from tests.pipelines.local.test_callbacks import evolution_definition
from tests.pipelines.local.test_executor import TEST_ENTRY_POINTS
from tests.processing.evolution.review_fixtures import ACCEPT_ALL, PROPOSAL_ID, base_map, decisions, proposal


@pytest.fixture(autouse=True)
def no_settings(monkeypatch, tmp_path):
    """No ./tweetops.yaml and no TWEETOPS_* settings leaking in."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWEETOPS_CONFIG", "TWEETOPS_LOCAL_HOME", "TWEETOPS_MODEL_PACKAGE_GROUP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """An evolution output folder with its proposal, the current map, and the analyst's decisions."""
    folder = tmp_path / "evolution"
    folder.mkdir()
    (folder / "proposal.json").write_text(json.dumps(proposal()), encoding="utf-8")
    current = save_category_map(base_map(), tmp_path / "current.yaml")
    decided = tmp_path / "decisions.yaml"
    decided.write_text(yaml.safe_dump(decisions(*ACCEPT_ALL)), encoding="utf-8")
    return {"folder": folder, "current": current, "decisions": decided, "home": tmp_path / "home"}


def run(files: dict, *extra: str, decisions_file: Path | None = None):
    return CliRunner().invoke(main, ["review", str(files["folder"]), "--decisions",
                                     str(decisions_file or files["decisions"]), "--current-map", str(files["current"]),
                                     "--home", str(files["home"]), *extra])


def write_decisions(tmp_path: Path, *items, **fields) -> Path:
    path = tmp_path / "other-decisions.yaml"
    path.write_text(yaml.safe_dump(decisions(*items, **fields)), encoding="utf-8")
    return path


def test_review_writes_map_n_plus_1_beside_the_proposal_and_prints_the_changes_and_the_retraining_command(files):
    result = run(files)
    assert result.exit_code == 0, result.output
    written = files["folder"] / "category_map-v4.yaml"
    cmap = load_category_map(written)
    assert (cmap.version, cmap.reviewed.by, cmap.previous["hash"]) == (4, "ana", base_map().content_hash)
    assert {e.id: e.name for e in cmap.entries}["c12"] == "fraud_scam"
    lines = result.output.splitlines()
    assert lines[0] == f"proposal {PROPOSAL_ID} against map version 3: accepted, reviewed by ana"
    assert lines[1].split() == ["action", "change", "category", "name", "what"]
    assert any(line.split()[:4] == ["accept", "gone:c8", "c8", "old_promo"] for line in lines)
    assert f"category map version 4: {written.resolve()}" in lines
    assert lines[-1] == (f"retrain with it: tweetops run-local --input {files['folder'] / 'retrain'} "
                         f"--category-map {written.resolve()} --assignments {files['folder'] / 'clusters'}")


def test_the_new_versions_rows_join_the_category_maps_table_beside_the_earlier_versions(files):
    zone = files["home"] / "s3" / "tweetops-local" / "tweetops" / "category-map-versions"
    earlier = write_map_version(base_map(), zone, "exec-training-1", "2026-11-01T08:00:00Z")  # as its writer did
    before = datetime.now(timezone.utc).date()
    result = run(files)
    assert result.exit_code == 0, result.output
    (written,) = [path for path in zone.rglob("*.parquet") if path != earlier]
    days = {f"date={day}" for day in (before, datetime.now(timezone.utc).date())}  # the review's day (UTC)
    assert written.parent.name in days
    assert written.name == f"review-{PROPOSAL_ID}.parquet"
    assert f"  its categories in the category_maps table (tweetops query): {written}" in result.output
    assert pq.read_schema(written).remove_metadata() == catalog.TABLES["category_maps"].arrow_schema()
    table = pd.concat([pd.read_parquet(path) for path in (earlier, written)])
    assert table.groupby("map_version")["execution"].unique().map(list).to_dict() == {
        3: ["exec-training-1"], 4: [f"review-{PROPOSAL_ID}"]}
    version_4 = table[table["map_version"] == 4].set_index("category_id")
    cmap = load_category_map(files["folder"] / "category_map-v4.yaml")
    assert sorted(version_4.index) == sorted(entry.id for entry in cmap.entries)
    assert set(version_4["map_hash"]) == {cmap.content_hash} and set(version_4["reviewed_by"]) == {"ana"}
    assert version_4.loc["c12", "name"] == "fraud_scam"
    assert json.loads(version_4.loc["c12", "lineage"]) == dict(cmap.entries[[e.id for e in cmap.entries].index(
        "c12")].lineage)


def test_a_proposal_json_path_and_out_choose_the_files(files, tmp_path):
    out = tmp_path / "maps" / "v4.json"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["review", str(files["folder"] / "proposal.json"), "--decisions",
                                       str(files["decisions"]), "--current-map", str(files["current"]),
                                       "--home", str(files["home"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_category_map(out).version == 4 and not (files["folder"] / "category_map-v4.yaml").exists()


def test_a_dry_run_shows_the_changes_and_writes_nothing(files):
    result = run(files, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing written, no execution resumed" in result.output
    assert list(files["folder"].iterdir()) == [files["folder"] / "proposal.json"]
    assert not files["home"].exists()  # nor the category_maps rows


def test_the_reviewer_flag_overrides_the_file_and_one_is_required(files, tmp_path):
    result = run(files, "--reviewer", "bo")
    assert result.exit_code == 0 and load_category_map(files["folder"] / "category_map-v4.yaml").reviewed.by == "bo"
    anonymous = write_decisions(tmp_path, *ACCEPT_ALL, reviewer=None)
    result = run(files, decisions_file=anonymous)
    assert result.exit_code == 1
    assert result.output.startswith("Error: say who reviewed the proposal") and result.output.count("\n") == 1


def test_undecided_changes_are_refused_unless_accept_all_or_a_default_decides_them(files, tmp_path):
    partial = write_decisions(tmp_path, *ACCEPT_ALL[:4])
    refused = run(files, decisions_file=partial)
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: 1 change(s) left undecided: gone:c8; ")
    assert run(files, "--accept-all", decisions_file=partial).exit_code == 0
    rejected = run(files, "--default", "reject", decisions_file=partial)
    assert rejected.exit_code == 1 and "c8 (old_promo) cannot be kept" in rejected.output
    both = run(files, "--accept-all", "--default", "accept", decisions_file=partial)
    assert both.exit_code == 2 and "give --accept-all or --default, not both" in both.output


def test_a_proposal_made_against_an_older_map_is_refused_and_nothing_is_written(files):
    base = base_map()
    newer = base.__class__(4, base.clustering_run, base.entries, base.reviewed)
    save_category_map(newer, files["current"])
    result = run(files)
    assert result.exit_code == 1
    assert result.output == (f"Error: proposal {PROPOSAL_ID} was made against category map version 3 (hash "
                             f"{base.content_hash[:12]}); the current map is version 4 (hash "
                             f"{newer.content_hash[:12]}); run evolve again on the current map\n")
    assert not (files["folder"] / "category_map-v4.yaml").exists()


@pytest.mark.parametrize("text, message", [
    ("proposal: [unclosed\n", "Error: {path}: invalid YAML at line 2, column 1: "),
    ("proposal: prop-0123456789abcdef\nreviewer: ana\ndecisions:\n  - {change: 'new:6', action: maybe}\n",
     "Error: decisions[0] (change 'new:6'): action 'maybe' is not one of accept, reject, discard\n"),
    ("\x1b[31mred: 1\n", "Error: {path}: invalid YAML"),
])
def test_a_bad_decisions_file_is_one_line_and_exit_1(files, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = run(files, decisions_file=path)
    assert result.exit_code == 1
    assert result.output.startswith(message.format(path=path)) and result.output.count("\n") == 1
    assert "\x1b" not in result.output and "Traceback" not in result.output


def test_a_folder_without_a_proposal_is_one_line(files, tmp_path):
    (files["folder"] / "proposal.json").unlink()
    result = run(files)
    assert result.exit_code == 1
    assert result.output == f"Error: {files['folder'] / 'proposal.json'}: no proposal here (give an evolution " \
                            "output folder or its proposal.json)\n"


def test_without_current_map_the_approved_packages_map_is_the_current_one(files):
    home = files["home"]
    uri = "s3://test-bucket/runs/exec1/clusters/category_map.yaml"
    stored = home / "s3" / "test-bucket" / "runs" / "exec1" / "clusters" / "category_map.yaml"
    stored.parent.mkdir(parents=True)
    save_category_map(base_map(), stored)
    registry = LocalModelRegistry(home / "registry.db")
    registry.create_model_package({"ModelPackageGroupName": "tweetops-message-classifier",
                                   "ModelApprovalStatus": "Approved",
                                   "CustomerMetadataProperties": {"category_map_uri": uri}})
    result = CliRunner().invoke(main, ["review", str(files["folder"]), "--decisions", str(files["decisions"]),
                                       "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert load_category_map(files["folder"] / "category_map-v4.yaml").previous["version"] == 3


def test_without_current_map_or_a_registry_the_error_says_what_to_do(files):
    result = CliRunner().invoke(main, ["review", str(files["folder"]), "--decisions", str(files["decisions"]),
                                       "--home", str(files["home"])])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: no local registry at {files['home'] / 'registry.db'}")


def test_a_package_without_a_map_uri_asks_for_current_map(files):
    LocalModelRegistry(files["home"] / "registry.db").create_model_package(
        {"ModelPackageGroupName": "tweetops-message-classifier", "ModelApprovalStatus": "Approved"})
    result = CliRunner().invoke(main, ["review", str(files["folder"]), "--decisions", str(files["decisions"]),
                                       "--home", str(files["home"])])
    assert result.exit_code == 1 and "records no category_map_uri" in result.output
    assert result.output.rstrip().endswith("pass --current-map FILE")


# --- a local evolution execution waiting for this review -----------------------------------------------------

@pytest.fixture
def waiting(files, monkeypatch):
    """A local evolution execution stopped at its callback step, waiting for this proposal's review (its Evolve
    step is a small test program, which the executor `review` makes is allowed to run)."""
    for kind, allowed in TEST_ENTRY_POINTS.items():
        monkeypatch.setitem(containers.ENTRY_POINTS, kind, allowed)
    execution = LocalExecutor(files["home"], sleep=lambda s: None).start(evolution_definition(),
                                                                        pipeline_name="tweetops-evolution")
    assert callbacks.pending_for(files["home"], PROPOSAL_ID)["execution"] == execution.id
    return execution


def test_an_accepted_review_resumes_the_waiting_execution_which_succeeds(files, waiting):
    result = run(files)
    assert result.exit_code == 0, result.output
    assert f"evolution execution {waiting.id}: decision sent (accepted), now Succeeded" in result.output
    record = LocalExecutor(files["home"]).load(waiting.id).record
    assert record["PipelineExecutionStatus"] == "Succeeded"
    token = waiting.waiting["CallbackToken"]
    assert callbacks.decision(files["home"], token)["outputs"]["Decision"] == "accepted"


def test_a_review_rejecting_every_change_writes_no_map_and_the_execution_fails_as_rejected(files, waiting, tmp_path):
    # A proposal every change of which can be rejected: c8 is not gone (it has window cluster 7, no new:7).
    prop = proposal()
    prop["changes"] = [c for c in prop["changes"] if c["change"] not in ("gone:c8", "new:7")]
    prop["categories"] = [c for c in prop["categories"] if c["id"] != "c8"] + [
        {"id": "c8", "name": "old_promo", "status": "kept", "clusters": [7]}]
    (files["folder"] / "proposal.json").write_text(json.dumps(prop), encoding="utf-8")
    items = [{"change": change["change"], "action": "reject"} for change in prop["changes"]]
    result = run(files, decisions_file=write_decisions(tmp_path, *items))
    assert result.exit_code == 0, result.output
    assert "every change rejected: the current map (version 3) stays" in result.output
    assert not (files["folder"] / "category_map-v4.yaml").exists() and "retrain with it" not in result.output
    assert not list(files["home"].glob("s3/*/*/category-map-versions/**/*.parquet"))  # no new version, no rows
    record = LocalExecutor(files["home"]).load(waiting.id).record
    assert record["PipelineExecutionStatus"] == "Failed"
    assert {s["StepName"]: s["StepStatus"] for s in record["Steps"]}["ProposalRejected"] == "Failed"


def test_a_dry_run_leaves_the_waiting_execution_waiting(files, waiting):
    assert run(files, "--dry-run").exit_code == 0
    assert callbacks.pending_for(files["home"], PROPOSAL_ID)["decided"] is None


def test_accept_all_needs_no_decisions_file_but_a_reviewer(files):
    base = ["review", str(files["folder"]), "--current-map", str(files["current"]), "--home", str(files["home"])]
    accepted = CliRunner().invoke(main, [*base, "--accept-all", "--reviewer", "ana"])
    assert accepted.exit_code == 0, accepted.output
    assert "category map version 4:" in accepted.output  # the base map is version 3
    nobody = CliRunner().invoke(main, [*base, "--accept-all"])
    assert nobody.exit_code == 2 and "--reviewer" in nobody.output
    undecided = CliRunner().invoke(main, base)
    assert undecided.exit_code == 2 and "give --decisions FILE" in undecided.output
