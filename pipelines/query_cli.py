"""`tweetops query`: SQL over the local home's tables with DuckDB (the Glue catalog's names, so the same SQL runs on
Athena), or one of the saved queries (processing/queries.py). docs/tables.md.

pipelines.cli registers the command; pipelines.query does the work. Errors are one line and exit 1, as every other
command's.
"""
from __future__ import annotations

import functools

import click

from pipelines.cli_common import echo_json, one_line_errors
from processing.sanitize import terminal_text


def _query_errors(command):
    """No home, bad SQL, an unknown saved query or parameter, bad settings: one line and exit code 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.query import QueryError
        from pipelines.settings import SettingsError
        from processing.queries import QueryParameterError

        with one_line_errors(QueryError, QueryParameterError, SettingsError, OSError):
            return command(*args, **kwargs)
    return wrapper


@click.command("query", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sql", required=False)
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME", help="The local executor's home.")
@click.option("--saved", "saved_name", metavar="NAME", help="Run a saved query instead of SQL (--list names them).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A saved query's parameter (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="table for people, csv for spreadsheets (formula-safe), json for scripts.")
@click.option("--list", "list_saved", is_flag=True, help="List the saved queries and the tables, then exit.")
@click.option("--show-sql", is_flag=True, help="Print the SQL (a saved query's with its parameters bound) and exit: "
                                               "the text to run on Athena.")
@_query_errors
def query(sql, home, saved_name, params, output_format, list_saved, show_sql) -> None:
    """Run SQL over the local home's tables: predictions, quarantine, quality_reports, batch_metrics,
    category_maps, processed_messages (docs/tables.md), named as in the Glue catalog so the same SQL runs on Athena.

    One read-only SELECT per call; a table nothing has written yet is empty. Examples:

      tweetops query "SELECT category, COUNT(*) AS n FROM predictions GROUP BY category ORDER BY n DESC"

      tweetops query --saved category-messages --param category=billing --format csv
    """
    from processing.queries import SAVED_QUERIES, parse_params

    if list_saved:
        _list_saved(SAVED_QUERIES, output_format)
        return
    if bool(sql) == bool(saved_name):
        raise click.UsageError("give SQL or --saved NAME (one of them; --list shows the saved queries)")
    if params and not saved_name:
        raise click.UsageError("--param is for saved queries (--saved NAME); write values into your SQL")
    from pipelines import query as engine

    text = engine.saved_sql(saved_name, parse_params(params)) if saved_name else sql
    if show_sql:
        click.echo(text)
        return
    root = engine.zones_root(home, *_bucket_and_prefix())
    if not engine.has_files(root):
        click.echo(terminal_text(f"note: no table has files under {root} yet (score a batch: `tweetops predict`); "
                                 "every table is empty"), err=True)
    result = engine.run(root, text)
    if output_format == "json":
        echo_json(engine.records(result))
    elif output_format == "csv":
        click.echo(engine.csv_text(result), nl=False)
    else:
        for line in engine.table_lines(result):
            click.echo(line)


def _bucket_and_prefix() -> tuple[str, str]:
    """Where the local runs put the zones: the bucket and prefix of the settings run-local uses (defaults
    tweetops-local and tweetops; ./tweetops.yaml or TWEETOPS_* may change them)."""
    from pipelines.query import LOCAL_BUCKET
    from pipelines.settings import load_settings

    settings = load_settings()
    return settings.bucket or LOCAL_BUCKET, settings.prefix


def _list_saved(saved_queries, output_format: str) -> None:
    """The saved queries (name, parameters, description) and the tables, as a list or JSON."""
    from processing.catalog import TABLES

    if output_format == "json":
        echo_json({"saved_queries": [{"name": item.name, "description": item.description, "sql": item.sql,
                                      "parameters": [{"name": p.name, "type": p.type, "description": p.description,
                                                      "default": p.default} for p in item.parameters]}
                                     for item in saved_queries.values()],
                   "tables": {name: table.column_names + [table.partition] for name, table in TABLES.items()}})
        return
    click.echo("saved queries (tweetops query --saved NAME [--param NAME=VALUE ...]):")
    for item in saved_queries.values():
        click.echo(f"  {item.name} {item.usage}".rstrip())
        click.echo(f"      {item.description}")
    click.echo("tables (docs/tables.md):")
    for name, table in TABLES.items():
        click.echo(f"  {name}: {', '.join([*table.column_names, table.partition])}")
