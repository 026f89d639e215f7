"""Specification of the saved queries (processing/queries.py): each one's SQL is valid Athena (Trino) SQL that reads
only catalog tables and columns, its placeholders are exactly its parameters, and binding a value makes a literal
of it, never SQL."""
from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify

from processing.catalog import TABLES
from processing.queries import (PLACEHOLDER, SAVED_QUERIES, QueryParameterError, bind, parse_params,
                                saved_query)

# What each parameter is given when a test binds every saved query.
EXAMPLE_VALUES = {"category": "billing", "limit": "5", "from": "1", "to": "2"}
# The catalog as sqlglot's schema: every column and the partition (text in the Glue tables, as in the DuckDB views).
SCHEMA = {name: {**{column.name: column.type for column in table.columns}, table.partition: "string"}
          for name, table in TABLES.items()}


def bound(name: str) -> str:
    query = SAVED_QUERIES[name]
    return bind(query, {item.name: EXAMPLE_VALUES[item.name] for item in query.parameters})


def athena_tree(sql: str) -> exp.Expression:
    """The SQL parsed as Athena reads it, with every column resolved against the catalog (OptimizeError if one is
    not a column of the tables it reads)."""
    return qualify(sqlglot.parse_one(sql, read="athena"), schema=SCHEMA, dialect="athena",
                   validate_qualify_columns=True)


@pytest.mark.parametrize("name", list(SAVED_QUERIES))
def test_every_saved_query_is_athena_sql_over_catalog_tables_and_columns(name):
    tree = athena_tree(bound(name))
    common_tables = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = {table.name for table in tree.find_all(exp.Table)} - common_tables
    assert tables and tables <= set(TABLES)


def test_the_athena_check_fails_a_column_or_table_the_catalog_does_not_have():
    with pytest.raises(OptimizeError, match="could not be resolved"):
        athena_tree("SELECT model FROM predictions")
    with pytest.raises(OptimizeError):
        athena_tree("SELECT id FROM predictions_v2")


@pytest.mark.parametrize("name", list(SAVED_QUERIES))
def test_a_saved_query_s_placeholders_are_exactly_its_parameters_and_its_description_names_the_tables_read(name):
    query = SAVED_QUERIES[name]
    assert set(PLACEHOLDER.findall(query.sql)) == {item.name for item in query.parameters}
    assert query.name == name and "{" not in bound(name)
    tree = sqlglot.parse_one(bound(name), read="athena")
    read = {table.name for table in tree.find_all(exp.Table)} - {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    named = query.description.rsplit("(", 1)[1].rstrip(").").split(", ")
    assert set(named) == read


def test_the_saved_queries_answer_the_issue_s_questions():
    assert list(SAVED_QUERIES) == ["category-shares", "quarantine-reasons", "drift-history", "category-messages",
                                   "map-changes"]
    assert [item.name for item in SAVED_QUERIES["category-messages"].parameters] == ["category", "limit"]
    assert [item.name for item in SAVED_QUERIES["map-changes"].parameters] == ["from", "to"]


def test_a_string_value_becomes_one_literal_whatever_it_holds():
    hostile = "x' OR '1'='1'; DROP TABLE predictions; --"
    sql = bind(SAVED_QUERIES["category-messages"], {"category": hostile})
    tree = sqlglot.parse_one(sql, read="athena")
    condition = tree.find(exp.Where).this
    assert isinstance(condition, exp.EQ) and condition.expression.this == hostile
    assert isinstance(tree.args["limit"].expression, exp.Literal) and tree.args["limit"].expression.this == "20"


def test_an_integer_value_is_checked_and_written_as_a_number():
    sql = bind(SAVED_QUERIES["map-changes"], {"from": " 3", "to": "+4"})
    assert "IN (3, 4)" in sql and "map_version = 3" in sql and "map_version = 4" in sql


@pytest.mark.parametrize("values, message", [
    ({"category": "a", "limit": "1; DROP TABLE x"}, "parameter limit: '1; DROP TABLE x' is not an integer"),
    ({"category": "a", "limit": "0"}, "parameter limit: 0 is below its minimum 1"),
    ({"limit": "5"}, "saved query category-messages needs category: --param category=... [--param limit=20]"),
    ({"category": "a", "colour": "red"}, "saved query category-messages has no parameter colour; its parameters: "
                                         "category, limit"),
])
def test_a_bad_missing_or_unknown_parameter_is_named(values, message):
    with pytest.raises(QueryParameterError) as raised:
        bind(SAVED_QUERIES["category-messages"], values)
    assert str(raised.value) == message


def test_a_query_without_parameters_takes_none():
    with pytest.raises(QueryParameterError, match="saved query drift-history has no parameter x; its parameters: none"):
        bind(SAVED_QUERIES["drift-history"], {"x": "1"})


def test_params_are_name_value_pairs_and_a_value_may_hold_an_equals_sign():
    assert parse_params(["category=a=b", "limit=5"]) == {"category": "a=b", "limit": "5"}
    for pair in ("category", "=5"):
        with pytest.raises(QueryParameterError, match="expected NAME=VALUE"):
            parse_params([pair])


def test_an_unknown_saved_query_is_named_with_the_known_ones():
    with pytest.raises(QueryParameterError, match="no saved query 'shares'; known: category-shares, quarantine-re"):
        saved_query("shares")
