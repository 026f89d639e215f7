"""Specification of `tweetops evolution`: `status` says of each local evolution execution what it waits for (the
proposal and the review command) or how the decision ended it; `run` refuses what it cannot run in one line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.local.callbacks import pending_for, send_decision
from pipelines.local.executor import LocalExecutor
from tests.pipelines.local.test_callbacks import PROPOSAL, evolution_definition
from tests.pipelines.local.test_executor import TEST_ENTRY_POINTS


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("TWEETOPS_CONFIG", raising=False)
    monkeypatch.delenv("TWEETOPS_LOCAL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./tweetops.yaml
    return tmp_path / "home"


@pytest.fixture
def executor(home):
    return LocalExecutor(home, sleep=lambda seconds: None, entry_points=TEST_ENTRY_POINTS)


def status(home, *options) -> str:
    result = CliRunner().invoke(main, ["evolution", "status", "--home", str(home), *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_waiting_execution_names_its_proposal_and_the_review_command(home, executor):
    execution = executor.start(evolution_definition(), pipeline_name="tweetops-evolution")
    folder = executor.store.path(f"s3://test-bucket/runs/{execution.id}/evolution")
    (line,) = status(home).splitlines()
    assert line.startswith(f"{execution.id}  Executing  started ")
    assert line.endswith(f": waiting for review (proposal {PROPOSAL}): tweetops review {folder} "
                         f"--decisions DECISIONS.yaml --home {executor.home}")
    assert "interrupted" not in line.lower()
    (record,) = json.loads(status(home, "--json"))
    assert record["Waiting"]["proposal"] == PROPOSAL and record["Waiting"]["step"] == "AwaitReview"


def test_a_decided_execution_says_accepted_with_its_map_or_why_it_was_rejected(home, executor):
    accepted = executor.start(evolution_definition(), pipeline_name="tweetops-evolution")
    send_decision(home, pending_for(home, PROPOSAL)["token"], "Success",
                  {"Decision": "accepted", "Reason": "ok"})
    executor.resume(accepted.id)
    rejected = executor.start(evolution_definition(), pipeline_name="tweetops-evolution")
    send_decision(home, pending_for(home, PROPOSAL)["token"], "Success",
                  {"Decision": "rejected", "Reason": "new:7 is spam"})
    executor.resume(rejected.id)
    lines = status(home).splitlines()
    assert lines[0].startswith(accepted.id) and lines[0].endswith(": accepted")
    assert lines[1].startswith(rejected.id) and lines[1].endswith(
        f": ProposalRejected: proposal {PROPOSAL} rejected: new:7 is spam")


def test_status_lists_only_evolution_executions(home, executor):
    executor.start(evolution_definition(), pipeline_name="tweetops-training")
    assert status(home) == f"no evolution executions under {executor.home / 'executions'}: run `tweetops evolution run`\n"


def test_run_refuses_a_date_that_is_not_yyyy_mm_dd(home):
    result = CliRunner().invoke(main, ["evolution", "run", "--home", str(home), "--as-of", "20240301"])
    assert result.exit_code == 2 and "expected a date YYYY-MM-DD, got '20240301'" in result.output


def test_run_without_an_approved_package_says_how_to_get_one_in_one_line(home):
    result = CliRunner().invoke(main, ["evolution", "run", "--home", str(home)])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: no approved model package in group 'tweetops-message-classifier'")
    assert "tweetops run-local" in line and "tweetops registry approve" in line
