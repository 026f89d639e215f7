"""SQL over a local home's zones with DuckDB (embedded, in memory): the tables of processing/catalog.py under the
names the Glue catalog gives them on AWS, so a query written here runs on Athena. `tweetops query`
(pipelines/query_cli.py) is the terminal edge; notebooks call `query` and `saved`.

Each table is a view over its files in the home's store (`<home>/s3/<bucket>/<prefix>/`): the date-partitioned ones
over `<zone>/date=*/*.parquet` with `date` from the path, processed_messages over `executions/*/processed/*.parquet`
with `execution` from the path. The files are listed here, not globbed by DuckDB, so a hidden file (a write in
progress) is never read. Every column gets its catalog type, and a column no file has yet is NULL; a table with no
file is an empty view of its columns, so every query compiles on a new home.

Read-only, as an analyst's Athena workgroup is: one SELECT per call, and DuckDB may read nothing but the store
(external access off, configuration locked), so a query can neither write files nor read others.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import duckdb
import pandas as pd

from pipelines.local.store import LOCAL_BUCKET
from processing.catalog import DATE_PARTITION, EXECUTION_PARTITION, TABLES, Table
from processing.queries import bind, saved_query
from processing.sanitize import spreadsheet_cell, terminal_text

LOCAL_PREFIX = "tweetops"  # pipelines.settings.PipelineSettings.prefix
SQL_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}
PARTITION_NAME = re.compile(r"^date=\d{4}-\d{2}-\d{2}$")
TABLE_CELL_CHARS = 60  # a table cell longer than this is cut (CSV and JSON keep every character)


class QueryError(ValueError):
    """No home to query, a statement that is not one SELECT, or SQL DuckDB refuses (its message, one line)."""


@dataclass(frozen=True)
class Result:
    """What a query returned: column names and rows of Python values (None for NULL)."""
    columns: list[str]
    rows: list[tuple]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=self.columns)


def zones_root(home: str | Path, bucket: str = LOCAL_BUCKET, prefix: str = LOCAL_PREFIX) -> Path:
    """The folder of the zones in a local home (`<home>/s3/<bucket>/<prefix>`); QueryError when there is none."""
    home = Path(home)
    if not home.is_dir():
        raise QueryError(f"no local home at {home}: run `tweetops run-local` (or `predict`) there, or give --home")
    root = home / "s3" / bucket / prefix
    if not root.is_dir():
        raise QueryError(f"{home}: an empty home (no zones under {root}): run `tweetops run-local` there first")
    return root


def table_files(root: Path, table: Table) -> list[Path]:
    """The table's visible Parquet files under the zones folder, sorted (hidden files are writes in progress)."""
    if table.partition == EXECUTION_PARTITION:
        candidates = root.glob(f"executions/*/{table.zone}/*.parquet")
    else:
        candidates = (path for path in (root / table.zone).glob("*/*.parquet")
                      if PARTITION_NAME.match(path.parent.name))
    return sorted(path for path in candidates if not any(part.startswith(".") for part in path.relative_to(root).parts))


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def view_sql(table: Table, files: list[Path], present: set[str]) -> str:
    """The SELECT of the table's view: its columns in catalog order and types (NULL where no file has one), then
    its partition column as text; an empty view when there are no files."""
    typed = [f'CAST({_quoted(column.name)} AS {SQL_TYPES[column.type]})' if column.name in present
             else f"CAST(NULL AS {SQL_TYPES[column.type]})" for column in table.columns]
    columns = [f"{expression} AS {_quoted(column.name)}" for expression, column in zip(typed, table.columns)]
    if not files:
        partition = f"CAST(NULL AS VARCHAR) AS {_quoted(table.partition)}"
        return f"SELECT {', '.join([*columns, partition])} WHERE false"
    if table.partition == EXECUTION_PARTITION:
        # executions/<execution>/processed/<file>.parquet: the execution is the folder two levels up.
        partition = f"regexp_extract(filename, '/executions/([^/]+)/[^/]+/[^/]+$', 1) AS {_quoted(table.partition)}"
        source = f"read_parquet({_file_list(files)}, union_by_name=true, filename=true)"
    else:
        partition = f"CAST({_quoted(DATE_PARTITION)} AS VARCHAR) AS {_quoted(DATE_PARTITION)}"
        source = (f"read_parquet({_file_list(files)}, hive_partitioning=true, union_by_name=true, "
                  f"hive_types={{'{DATE_PARTITION}': VARCHAR}})")
    return f"SELECT {', '.join([*columns, partition])} FROM {source}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _file_list(files: list[Path]) -> str:
    return "[" + ", ".join(_literal(path.as_posix()) for path in files) + "]"


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per catalog table over the zones folder, then locked to reading it."""
    root = root.resolve()  # absolute paths: DuckDB checks them against the one directory it may read
    connection = duckdb.connect(":memory:")
    for table in TABLES.values():
        files = table_files(root, table)
        present = set()
        if files:
            probe = f"SELECT * FROM read_parquet({_file_list(files)}, union_by_name=true)"
            present = {row[0] for row in connection.execute(f"DESCRIBE {probe}").fetchall()}
        connection.execute(f"CREATE VIEW {_quoted(table.name)} AS {view_sql(table, files, present)}")
    directory = root.as_posix() + "/"
    connection.execute(f"SET allowed_directories = [{_literal(directory)}]")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def has_files(root: Path) -> bool:
    """Whether any table has a file yet (a home where nothing was validated, scored or reviewed has none)."""
    return any(table_files(root, table) for table in TABLES.values())


def execute(connection: duckdb.DuckDBPyConnection, sql: str) -> Result:
    """Run one SELECT statement (QueryError for anything else, or DuckDB's message for SQL it refuses)."""
    try:
        statements = connection.extract_statements(sql)
        if len(statements) != 1:
            raise QueryError(f"give one SQL statement, not {len(statements)}")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise QueryError(f"only SELECT queries run here (the zones are read-only), not "
                             f"{statements[0].type.name.replace('_', ' ')}")
        cursor = connection.execute(sql)
        return Result([column[0] for column in cursor.description], cursor.fetchall())
    except duckdb.Error as error:
        raise QueryError(duckdb_message(error)) from None


def duckdb_message(error: duckdb.Error) -> str:
    """DuckDB's message in one line, without its caret excerpt of the SQL; an unknown table named with the tables
    there are (not DuckDB's guess among its own system tables)."""
    message = " ".join(str(error).split())
    message = re.sub(r"\s*LINE \d+:.*$", "", message)
    unknown = re.search(r"Table with name (.+?) does not exist!", message)
    if unknown:
        return f"Catalog Error: no table {unknown.group(1)}; the tables: {', '.join(TABLES)}"
    return message


def query(home: str | Path, sql: str, bucket: str = LOCAL_BUCKET, prefix: str = LOCAL_PREFIX) -> pd.DataFrame:
    """The answer to `sql` over a local home's tables, as a DataFrame (for notebooks)."""
    return run(zones_root(home, bucket, prefix), sql).frame()


def saved(home: str | Path, name: str, bucket: str = LOCAL_BUCKET, prefix: str = LOCAL_PREFIX,
          **params) -> pd.DataFrame:
    """A saved query's answer over a local home, its parameters as keywords (`saved(home, "map-changes", **{"from":
    1, "to": 2})`)."""
    return run(zones_root(home, bucket, prefix), saved_sql(name, {key: str(value) for key, value in params.items()}))\
        .frame()


def saved_sql(name: str, params: Mapping[str, str]) -> str:
    """A saved query's SQL with its parameters bound (processing.queries)."""
    return bind(saved_query(name), params)


def run(root: Path, sql: str) -> Result:
    """`sql` over the tables of a zones folder, on a fresh connection."""
    connection = connect(root)
    try:
        return execute(connection, sql)
    finally:
        connection.close()


# --- output ------------------------------------------------------------------------------------------------------

def plain(value):
    """A value as JSON has it: NaN as None, dates as ISO 8601 text, Decimals as floats."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # decimal.Decimal (SUM of an integer column in DuckDB is a HUGEINT/DECIMAL)
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def records(result: Result) -> list[dict]:
    """The rows as JSON objects (column -> value)."""
    return [{column: plain(value) for column, value in zip(result.columns, row)} for row in result.rows]


def cell_text(value) -> str:
    """A value as the table shows it: NULL, true/false, floats to 6 significant digits, long text cut."""
    value = plain(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = terminal_text(text)
    return text if len(text) <= TABLE_CELL_CHARS else text[:TABLE_CELL_CHARS - 1] + "…"


def table_lines(result: Result) -> list[str]:
    """The result as aligned text lines (header first), then a line counting the rows."""
    from register.cli import _table  # the registry's and monitoring history's table layout

    lines = _table([terminal_text(column) for column in result.columns],
                   [[cell_text(value) for value in row] for row in result.rows])
    return [*lines, f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})"]


def csv_text(result: Result) -> str:
    """The result as CSV with a header; a text cell that would start a spreadsheet formula is quoted as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_cell(column) for column in result.columns])
    for row in result.rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue()


def _csv_value(value):
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return spreadsheet_cell(value)
