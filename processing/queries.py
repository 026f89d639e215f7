"""Saved queries: the questions people ask of the tables (processing/catalog.py), as SQL that runs unchanged on
DuckDB (`tweetops query --saved`, pipelines/query.py) and on Athena (Trino) over the Glue catalog.

Pure: names, descriptions, SQL text and parameters. A parameter appears in the SQL as `{name}` and is bound as a
SQL literal (`bind`): a quoted string with its quotes doubled, or a checked integer, so a value never becomes SQL.
Athena's own `?` execution parameters are positional and DuckDB's are not, so binding literals is what keeps one
text for both. The SQL sticks to what both engines read the same way: `"date"` quoted (a type name in both),
CAST(... AS DOUBLE) for shares, IS DISTINCT FROM for nullable comparisons, no engine-specific functions.
docs/tables.md lists them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

PLACEHOLDER = re.compile(r"\{([a-z][a-z_]*)\}")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


class QueryParameterError(ValueError):
    """A saved query asked for that does not exist, or a parameter missing, unknown or not of its type."""


@dataclass(frozen=True)
class Parameter:
    """A saved query's parameter: name, type (string or integer), what it means, its default (None: required)."""
    name: str
    type: str
    description: str
    default: str | None = None
    minimum: int | None = None  # integers only

    def literal(self, value: str) -> str:
        """`value` as a SQL literal of this parameter's type (QueryParameterError when it is not one)."""
        if self.type == "string":
            return "'" + value.replace("'", "''") + "'"
        if not _INTEGER.match(value.strip()):
            raise QueryParameterError(f"parameter {self.name}: {value!r} is not an integer")
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise QueryParameterError(f"parameter {self.name}: {number} is below its minimum {self.minimum}")
        return str(number)


@dataclass(frozen=True)
class SavedQuery:
    """A question and the SQL that answers it; `{name}` marks where a parameter's literal goes."""
    name: str
    description: str
    sql: str
    parameters: tuple[Parameter, ...] = ()

    @property
    def usage(self) -> str:
        """How to give its parameters on the command line (`--param category=... [--param limit=20]`)."""
        return " ".join(f"--param {item.name}=..." if item.default is None else f"[--param {item.name}={item.default}]"
                        for item in self.parameters)


CATEGORY_SHARES = SavedQuery(
    "category-shares",
    "Category shares per day and model version: the scored messages of each category and their share of the "
    "day's messages scored by that model version (predictions).",
    """SELECT "date", model_version, category, COUNT(*) AS messages,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY "date", model_version) AS share
FROM predictions
GROUP BY "date", model_version, category
ORDER BY "date", model_version, messages DESC, category""")

QUARANTINE_REASONS = SavedQuery(
    "quarantine-reasons",
    "Quarantine reasons over time: rows rejected per validation day and reason, how many executions rejected them, "
    "and their share of the rows validated that day (quarantine, quality_reports).",
    """WITH reasons AS (
    SELECT "date", reason, COUNT(*) AS quarantined, COUNT(DISTINCT execution) AS executions
    FROM quarantine
    GROUP BY "date", reason
), validated AS (
    SELECT "date", SUM(rows_in) AS rows_in
    FROM quality_reports
    GROUP BY "date"
)
SELECT reasons."date", reasons.reason, reasons.quarantined, reasons.executions, validated.rows_in,
       CAST(reasons.quarantined AS DOUBLE) / NULLIF(validated.rows_in, 0) AS share
FROM reasons
LEFT JOIN validated ON reasons."date" = validated."date"
ORDER BY reasons."date", reasons.quarantined DESC, reasons.reason""")

DRIFT_HISTORY = SavedQuery(
    "drift-history",
    "Drift and estimated accuracy history: per scored batch, in scoring order, the drift tests, the accuracy "
    "estimated without labels, the novel share and the alarms that fired (batch_metrics).",
    """SELECT "date", scored_at, execution, model_package, judged, scored_messages,
       data_drift_detected, data_drift_p_value, prediction_drift_detected, prediction_divergence,
       estimated_accuracy, estimated_accuracy_drop, novel_share, alarms
FROM batch_metrics
ORDER BY scored_at, execution""")

CATEGORY_MESSAGES = SavedQuery(
    "category-messages",
    "The messages of one category: the most confident first, with their day, batch and model version "
    "(predictions).",
    """SELECT "date", batch, id, text, confidence, novel, model_version
FROM predictions
WHERE category = {category}
ORDER BY confidence DESC, "date", batch, id
LIMIT {limit}""",
    (Parameter("category", "string", "the category name, as predicted"),
     Parameter("limit", "integer", "at most this many messages", default="20", minimum=1)))

MAP_CHANGES = SavedQuery(
    "map-changes",
    "What changed between two category map versions: each category added, removed, renamed, given other clusters "
    "or described anew, by stable id, with the new version's lineage. A version written more than once (a draft "
    "per training run) is compared as last written (category_maps).",
    """WITH written AS (
    SELECT DISTINCT map_version, map_hash, execution, written_at
    FROM category_maps
    WHERE map_version IN ({from}, {to})
), latest AS (
    SELECT map_version, map_hash, execution
    FROM (SELECT map_version, map_hash, execution,
                 ROW_NUMBER() OVER (PARTITION BY map_version ORDER BY written_at DESC, execution DESC) AS pick
          FROM written) AS ranked
    WHERE pick = 1
), versions AS (
    SELECT maps.map_version, maps.category_id, maps.name, maps.description, maps.clusters, maps.lineage
    FROM category_maps AS maps
    JOIN latest ON maps.map_version = latest.map_version AND maps.map_hash = latest.map_hash
                   AND maps.execution = latest.execution
), before_map AS (
    SELECT * FROM versions WHERE map_version = {from}
), after_map AS (
    SELECT * FROM versions WHERE map_version = {to}
), compared AS (
    SELECT COALESCE(after_map.category_id, before_map.category_id) AS category_id,
           CASE WHEN before_map.category_id IS NULL THEN 'added'
                WHEN after_map.category_id IS NULL THEN 'removed'
                WHEN before_map.name IS DISTINCT FROM after_map.name THEN 'renamed'
                WHEN before_map.clusters IS DISTINCT FROM after_map.clusters THEN 'clusters changed'
                WHEN before_map.description IS DISTINCT FROM after_map.description THEN 'description changed'
                ELSE 'unchanged' END AS change,
           before_map.name AS from_name, after_map.name AS to_name,
           before_map.clusters AS from_clusters, after_map.clusters AS to_clusters, after_map.lineage AS lineage
    FROM before_map
    FULL OUTER JOIN after_map ON before_map.category_id = after_map.category_id
)
SELECT category_id, change, from_name, to_name, from_clusters, to_clusters, lineage
FROM compared
WHERE change <> 'unchanged'
ORDER BY category_id""",
    (Parameter("from", "integer", "the earlier map version", minimum=1),
     Parameter("to", "integer", "the later map version", minimum=1)))

SAVED_QUERIES: dict[str, SavedQuery] = {query.name: query for query in (
    CATEGORY_SHARES, QUARANTINE_REASONS, DRIFT_HISTORY, CATEGORY_MESSAGES, MAP_CHANGES)}


def saved_query(name: str) -> SavedQuery:
    """The saved query called `name` (QueryParameterError listing the known ones otherwise)."""
    if name not in SAVED_QUERIES:
        raise QueryParameterError(f"no saved query {name!r}; known: {', '.join(SAVED_QUERIES)}")
    return SAVED_QUERIES[name]


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """NAME=VALUE strings (from --param) as a dict; QueryParameterError for a pair without `=` or a name."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise QueryParameterError(f"--param {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def bind(query: SavedQuery, values: Mapping[str, str]) -> str:
    """The query's SQL with every parameter's literal in place: given values, else defaults. QueryParameterError
    names an unknown parameter or a required one not given (with how to give it)."""
    known = {item.name: item for item in query.parameters}
    unknown = sorted(set(values) - set(known))
    if unknown:
        accepted = ", ".join(known) or "none"
        raise QueryParameterError(f"saved query {query.name} has no parameter {', '.join(unknown)}; "
                                  f"its parameters: {accepted}")
    missing = [name for name, item in known.items() if item.default is None and name not in values]
    if missing:
        raise QueryParameterError(f"saved query {query.name} needs {', '.join(missing)}: {query.usage}")
    literals = {name: item.literal(values.get(name, item.default)) for name, item in known.items()}
    return PLACEHOLDER.sub(lambda match: literals[match.group(1)], query.sql)


# --- the reference in docs/tables.md ----------------------------------------------------------------------------

REFERENCE_START = ("<!-- generated by `python -m processing.queries` from processing/catalog.py and "
                   "processing/queries.py: edit those, then regenerate -->")
REFERENCE_END = "<!-- end of the generated reference -->"


def reference_markdown() -> str:
    """The table reference (every column of every catalog table, its location and partition) and the saved queries,
    as the Markdown docs/tables.md holds between REFERENCE_START and REFERENCE_END."""
    from processing.catalog import EXECUTION_PARTITION, TABLES

    lines = [REFERENCE_START, "", "## Tables", ""]
    for table in TABLES.values():
        if table.partition == EXECUTION_PARTITION:
            where = f"`<prefix>/executions/<execution>/{table.zone}/*.parquet`"
            partition = "the training execution (the folder name; Athena: an injected projection, so a query " \
                        "must say `WHERE execution = '...'`)"
        else:
            where = f"`<prefix>/{table.zone}/date=YYYY-MM-DD/<run>.parquet`"
            partition = "the day (YYYY-MM-DD, from the folder name)"
        lines += [f"### {table.name}", "", table.description, "", f"Files: {where}.", "",
                  "| column | type | meaning |", "|---|---|---|",
                  *[f"| `{column.name}` | {column.type} | {column.comment} |" for column in table.columns],
                  f"| `{table.partition}` | string | partition: {partition} |", ""]
    lines += ["## Saved queries", "", "`tweetops query --saved NAME [--param NAME=VALUE ...]`; "
              "`--show-sql` prints the SQL with the parameters bound, to run on Athena.", ""]
    for query in SAVED_QUERIES.values():
        lines += [f"### {query.name}", "", query.description, ""]
        for item in query.parameters:
            default = "required" if item.default is None else f"default {item.default}"
            lines.append(f"- `{item.name}` ({item.type}, {default}): {item.description}")
        lines += [*([""] if query.parameters else []), "```sql", query.sql, "```", ""]
    return "\n".join([*lines, REFERENCE_END]) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
