"""Specification of the command line under hostile input: every file of the hostile corpus (tests/hostile_corpus.py)
through `tweetops validate` and `tweetops discover` ends in outputs whose counts add up, or in one clear line
naming the file, with exit code 1; never a traceback. (`predict` on the same corpus: tests/pipelines/local/
test_run_local.py, which has a trained, approved package.)"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from tests.hostile_corpus import EXPECTED, write_hostile_corpus

pytestmark = pytest.mark.xdist_group("hostile-corpus-cli")  # one worker loads spaCy once for every case


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_hostile_corpus(tmp_path_factory.mktemp("corpus"))


def assert_one_clear_line(result, name: str) -> None:
    """Exit 1 with a single `Error: <file>: ...` line, and no exception escaping the command."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and name in lines[0], result.output
    assert "Traceback" not in result.output and "\x1b" not in result.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_writes_outputs_that_add_up_or_says_in_one_line_why_not(corpus, name, tmp_path):
    expected = EXPECTED[name]
    result = CliRunner().invoke(main, ["validate", "--input", str(corpus[name]), "--output", str(tmp_path),
                                       "--batch"])
    if expected.error:
        assert_one_clear_line(result, name)
        return
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "reports" / "quality_report.json").read_text())
    assert report["rows_in"] == expected.rows_in == report["rows_accepted"] + report["rows_quarantined"]
    quarantined = (tmp_path / "quarantine" / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    batch = (tmp_path / "batch" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(quarantined) == report["rows_quarantined"] and len(batch) == report["rows_accepted"]
    assert "\x1b" not in result.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_discover_clusters_or_says_in_one_line_why_not(corpus, name, tmp_path):
    expected = EXPECTED[name]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["discover", "--input", str(corpus[name]), "--out", str(out),
                                       "--featurizer", "tfidf", "--k", "2"])
    if expected.error:
        assert_one_clear_line(result, name)
        return
    if expected.accepted < 3:  # two clusters need three messages: too few is said in one line
        assert_one_clear_line(result, "no message passed validation" if expected.accepted == 0 else
                              f"{expected.accepted} message{'s are' if expected.accepted > 1 else ' is'} too few")
        return
    assert result.exit_code == 0, result.output
    report = json.loads((out / "quality_report.json").read_text())
    assert report["rows_in"] == expected.rows_in == report["rows_accepted"] + report["rows_quarantined"]
    assignments = (out / "assignments.csv").read_text(encoding="utf-8").splitlines()
    assert len(assignments) == 1 + report["rows_accepted"]
    # Ids that a spreadsheet would run as formulas are written as text.
    assert not any(line[:1] in "=+-@" for line in assignments[1:])
