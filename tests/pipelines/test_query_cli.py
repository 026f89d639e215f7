"""Specification of `tweetops query` as an analyst uses it: SQL or a saved query over the local home, as a table,
CSV (formula-safe) or JSON; the saved queries listed; the SQL to take to Athena shown; every mistake one line and
exit code 1."""
from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from tests.pipelines.test_query import build_home


@pytest.fixture(autouse=True)
def no_settings(monkeypatch, tmp_path):
    """No ./tweetops.yaml and no TWEETOPS_* settings leaking in."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWEETOPS_CONFIG", "TWEETOPS_LOCAL_HOME", "TWEETOPS_BUCKET", "TWEETOPS_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("query-cli") / "home"
    return folder, build_home(folder)


def invoke(*args: str):
    return CliRunner().invoke(main, ["query", *args])


def test_query_explains_itself():
    result = invoke("--help")
    assert result.exit_code == 0 and "Usage: main query [OPTIONS] [SQL]" in result.output and "--saved" in result.output


def test_the_table_format_aligns_columns_counts_rows_and_escapes_terminal_controls(home):
    result = invoke("--home", str(home[0]), "SELECT id, text, novel, confidence, lang FROM predictions "
                                            "WHERE id = 'exec-a-2024-03-04-0'")
    assert result.exit_code == 0, result.output
    header, row, count = result.output.splitlines()
    assert header.split() == ["id", "text", "novel", "confidence", "lang"]
    assert row.startswith("exec-a-2024-03-04-0  message 0 \\x1b[2J of 2024-03-04") and "\x1b" not in result.output
    assert header.index("text") == row.index("message") and count == "(1 row)"


def test_the_table_format_shows_null_and_cuts_long_text(home, tmp_path):
    result = invoke("--home", str(home[0]), "SELECT NULL AS nothing, repeat('a', 100) AS long_text, 1.0/3 AS third")
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[1].split()
    assert row == ["NULL", "a" * 59 + "…", "0.333333"]


def test_csv_has_a_header_every_row_and_text_that_would_run_as_a_formula_quoted(home):
    result = invoke("--home", str(home[0]), "--format", "csv",
                    "SELECT category, COUNT(*) AS n, MIN(novel) AS some_novel FROM predictions GROUP BY category "
                    "ORDER BY category")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    predictions = home[1]["predictions"]
    counts = predictions.groupby("category").size()
    assert [row["category"] for row in rows] == ["'=HYPERLINK(\"http://x\")", "billing", "cuenta", "delivery"]
    assert [int(row["n"]) for row in rows] == [int(counts[name]) for name in sorted(counts.index)]
    assert {row["some_novel"] for row in rows} <= {"true", "false"}


def test_json_is_one_object_per_row_with_sql_nulls_as_null(home):
    result = invoke("--home", str(home[0]), "--format", "json", "--saved", "map-changes", "--param", "from=1",
                    "--param", "to=2")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(row["category_id"], row["change"]) for row in rows] == [
        ("c2", "renamed"), ("c3", "clusters changed"), ("c4", "removed"), ("c5", "added"),
        ("c6", "description changed")]
    assert rows[2]["to_name"] is None and rows[3]["from_name"] is None


def test_a_saved_query_with_parameters_from_the_command_line(home):
    result = invoke("--home", str(home[0]), "--format", "json", "--saved", "category-messages",
                    "--param", "category=billing", "--param", "limit=3")
    assert result.exit_code == 0, result.output
    confidences = [row["confidence"] for row in json.loads(result.output)]
    billing = home[1]["predictions"].query("category == 'billing'")
    assert confidences == sorted(billing["confidence"], reverse=True)[:3]


def test_the_home_comes_from_the_environment_as_for_the_other_local_commands(home, monkeypatch):
    monkeypatch.setenv("TWEETOPS_LOCAL_HOME", str(home[0]))
    result = invoke("--format", "json", "SELECT COUNT(*) AS n FROM batch_metrics")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"n": 2}]


def test_show_sql_prints_the_bound_saved_query_to_run_on_athena_without_a_home():
    result = invoke("--saved", "category-messages", "--param", "category=it's", "--show-sql")
    assert result.exit_code == 0, result.output
    assert "WHERE category = 'it''s'" in result.output and "LIMIT 20" in result.output


def test_list_names_every_saved_query_with_its_parameters_and_every_table():
    from processing.catalog import TABLES
    from processing.queries import SAVED_QUERIES

    text = invoke("--list").output
    for query in SAVED_QUERIES.values():
        assert f"  {query.name} {query.usage}".rstrip() in text
    for name in TABLES:
        assert f"  {name}: " in text
    listed = json.loads(invoke("--list", "--format", "json").output)
    assert [item["name"] for item in listed["saved_queries"]] == list(SAVED_QUERIES)
    assert listed["tables"]["processed_messages"][-1] == "execution"


def test_an_empty_home_answers_with_no_rows_and_says_why_on_stderr(tmp_path):
    (tmp_path / "home" / "s3" / "tweetops-local" / "tweetops").mkdir(parents=True)
    result = invoke("--home", str(tmp_path / "home"), "--format", "json", "--saved", "drift-history")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [] and "no table has files" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["SELEC 1"], 'Error: Parser Error: syntax error at or near "SELEC"'),
    (["DELETE FROM predictions"], "Error: only SELECT queries run here (the zones are read-only), not DELETE"),
    (["--saved", "nope"], "Error: no saved query 'nope'; known: category-shares, quarantine-reasons, drift-history, "
                          "category-messages, map-changes"),
    (["--saved", "map-changes", "--param", "from=1"], "Error: saved query map-changes needs to: --param from=... "
                                                      "--param to=..."),
    (["--saved", "map-changes", "--param", "from=one", "--param", "to=2"],
     "Error: parameter from: 'one' is not an integer"),
    (["--saved", "drift-history", "--param", "x"], "Error: --param 'x': expected NAME=VALUE"),
])
def test_bad_sql_and_bad_saved_queries_are_one_line_and_exit_one(home, args, message):
    result = invoke("--home", str(home[0]), *args)
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1] == message


def test_no_home_is_one_line_and_exit_one(tmp_path):
    result = invoke("--home", str(tmp_path / "nowhere"), "SELECT 1")
    assert result.exit_code == 1
    assert result.output == (f"Error: no local home at {tmp_path / 'nowhere'}: run `tweetops run-local` (or `predict`) "
                             "there, or give --home\n")


@pytest.mark.parametrize("args", [[], ["SELECT 1", "--saved", "drift-history"], ["SELECT 1", "--param", "a=b"]])
def test_sql_or_a_saved_query_is_needed_and_not_both(args):
    result = invoke(*args)
    assert result.exit_code == 2 and "Error:" in result.output
