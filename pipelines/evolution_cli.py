"""`tweetops evolution`: run the evolution pipeline's definition on this machine with the approved package (`run`),
and list its executions and what each waits for (`status`). docs/evolution.md.

pipelines.cli registers this group. The run stops at the AwaitReview callback step, waiting; `tweetops review`
sends the analyst's decision and resumes it (pipelines/local/callbacks.py). Errors are one line and exit 1.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
from datetime import date
from pathlib import Path

import click

from pipelines.cli_common import echo_json, one_line_errors
from pipelines.cli_common import load_settings as _load_settings, settings_options as _settings_options
from processing.sanitize import terminal_text

REVIEW_STEP = "AwaitReview"
LATEST_APPROVED = "latest-approved"

home_option = click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME",
                           default="tweetops-local", show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME",
                           help="The local executor's home.")


def _evolution_errors(command):
    """Settings, registry, executor and callback-record failures as one line and exit code 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.local.callbacks import CallbackError
        from pipelines.local.executor import LocalRunError
        from pipelines.local.store import StoreError
        from pipelines.settings import SettingsError
        from register.local import RegistryError

        with one_line_errors(SettingsError, LocalRunError, RegistryError, CallbackError, StoreError, OSError):
            return command(*args, **kwargs)
    return wrapper


def _as_of(context, parameter, value: str | None) -> str | None:
    """--as-of is a calendar date, YYYY-MM-DD."""
    if value is None:
        return None
    try:  # fromisoformat alone would also take 20240301 and 2024-W09-5
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def evolution() -> None:
    """Evolve the categories: re-cluster the new data, match it to the categories, wait for the analyst's review.

    The new data is what `tweetops predict` accumulated (docs/evolution.md). Settings come from defaults < config
    file < TWEETOPS_* environment < flags, as for `tweetops pipeline`.
    """


@evolution.command("run")
@home_option
@click.option("--package", "package", default=LATEST_APPROVED, show_default=True, metavar=f"ARN|{LATEST_APPROVED}",
              help="The model package whose model, baseline and category map the new data is matched against.")
@click.option("--window-days", type=click.IntRange(min=1), default=None, help="Days of new data to explore "
              "[default: the pipeline's WindowDays, 28].")
@click.option("--as-of", default=None, callback=_as_of, metavar="YYYY-MM-DD",
              help="Last day of the window [default: the latest day with new data].")
@click.option("--categories", type=click.IntRange(min=0), default=None,
              help="Number of window clusters; 0 chooses it from internal evidence [default: 0].")
@click.option("--seed", type=int, default=None, help="Seed of the clustering [default: 0].")
@_settings_options
@_evolution_errors
def run(home, package, window_days, as_of, categories, seed, config_path, **flags) -> None:
    """Run the evolution pipeline locally with an approved package: a proposal and its review page, then wait.

    Prints where the proposal and the page are and the `tweetops review` command that decides it. Exit code 1 when
    the execution fails before it waits.
    """
    from pipelines.local.executor import LocalExecutor, LocalRunError
    from pipelines.local.run import DEFINITIONS_FOLDER, approved_package, local_definition
    from pipelines.local.terminal import TerminalReport
    from pipelines.operations import evolution_parameters

    executor = LocalExecutor(home, report=TerminalReport())
    os.environ.setdefault("TWEETOPS_CACHE_DIR", str(executor.home / "cache"))  # as run-local: jobs share it
    settings = _load_settings(config_path, **flags)
    arn = approved_package(executor, settings.model_package_group, None if package == LATEST_APPROVED else package)
    definition, settings = local_definition(settings, which="evolution", cache_dir=executor.home / DEFINITIONS_FOLDER)
    defaults = {item["Name"]: item.get("DefaultValue") for item in json.loads(definition)["Parameters"]}
    new_data = defaults["NewDataUri"]
    if not executor.store.path(new_data).is_dir() or not executor.store.objects(new_data):
        raise LocalRunError(f"no new data in {executor.store.path(new_data)}: score batches with `tweetops predict "
                            f"--home {executor.home}` first (their messages accumulate there)")
    _seed_empty_input(executor, defaults["CategoryMapUri"])
    parameters = evolution_parameters(executor.registry.describe_model_package(arn))
    chosen = {"WindowDays": window_days, "AsOf": as_of, "Categories": categories, "Seed": seed}
    parameters.update({name: str(value) for name, value in chosen.items() if value is not None})
    click.echo(f"evolving the categories of {arn} on {executor.store.path(new_data)}", err=True)
    try:
        execution = executor.start(definition, parameters, pipeline_name=settings.evolution_pipeline_name)
    except KeyboardInterrupt:
        click.echo("interrupted: `tweetops run-local --resume latest` continues from the last completed step",
                   err=True)
        sys.exit(130)
    for line in execution_lines(executor, execution, detail=True):
        click.echo(terminal_text(line))
    if execution.record["PipelineExecutionStatus"] == "Failed":
        sys.exit(1)


@evolution.command("status")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print the executions' records as JSON.")
@_settings_options
@_evolution_errors
def status(home, as_json, config_path, **flags) -> None:
    """Every local evolution execution, oldest first: how it ended, or what it waits for."""
    from pipelines.local.executor import LocalExecutor

    executor = LocalExecutor(home)
    name = _load_settings(config_path, **flags).evolution_pipeline_name
    executions = [item for item in executor.executions() if item.record.get("PipelineName") == name]
    if as_json:
        echo_json([{**item.record, "Waiting": waiting_on(executor, item)} for item in executions])
        return
    if not executions:
        click.echo(f"no evolution executions under {executor.home / 'executions'}: run `tweetops evolution run`")
    for item in executions:
        for line in execution_lines(executor, item):
            click.echo(terminal_text(line))


def execution_lines(executor, execution, detail: bool = False) -> list[str]:
    """How an evolution execution stands: waiting for review (proposal, page, the review command), decided
    (accepted: the new map; rejected: why), failed (the step and reason) or interrupted."""
    from pipelines.local.run import summary

    record = execution.record
    status = record["PipelineExecutionStatus"]
    head = f"{execution.id}  {status}  started {record['CreationTime'][:19]}"
    waiting = waiting_on(executor, execution)
    if waiting:
        folder = waiting["folder"]
        lines = [f"{head}: waiting for review (proposal {waiting['proposal']}): tweetops review {folder} "
                 f"--decisions DECISIONS.yaml --home {executor.home}"]
        if detail:
            lines += [f"  proposal: {folder / 'proposal.json'}", f"  review page: {folder / 'report.html'}",
                      *_proposal_lines(folder / "proposal.json")]
        return lines
    if execution.interrupted:
        return [f"{head}: interrupted (killed while running: `tweetops run-local --home {executor.home} --resume "
                f"{execution.id}` continues it)"]
    steps = {step["StepName"]: step for step in record["Steps"]}
    decided = {item["Name"]: item["Value"] for item in
               steps.get(REVIEW_STEP, {}).get("Metadata", {}).get("Callback", {}).get("OutputParameters", [])}
    if status == "Succeeded":
        new_map = f": category map {decided['CategoryMapUri']}" if decided.get("CategoryMapUri") else ""
        return [f"{head}: accepted{new_map}"]
    if detail:
        return [f"{head}", *summary(executor, execution)[1:]]
    failed = [step for step in steps.values() if step.get("StepStatus") == "Failed"]
    reason = failed[0]["FailureReason"] if failed else record.get("FailureReason", "no reason recorded")
    where = failed[0]["StepName"] if failed else "the execution"
    return [f"{head}: {where}: {reason}"]


def waiting_on(executor, execution) -> dict | None:
    """What a waiting execution waits for: {"step", "token", "proposal", "folder"} (its proposal's local folder)."""
    from pipelines.local import callbacks

    waiting = execution.waiting
    if waiting is None:
        return None
    entry = next((item for item in callbacks.pending(executor.home)
                  if item["token"] == waiting["CallbackToken"]), None)
    inputs = (entry or {}).get("inputs", {})
    proposal_uri = inputs.get("ProposalUri")
    folder = executor.store.path(proposal_uri).parent if proposal_uri else execution.folder / "artifacts"
    return {"step": waiting["StepName"], "token": waiting["CallbackToken"],
            "proposal": inputs.get("ProposalId", "unknown"), "folder": folder}


def _proposal_lines(path: Path) -> list[str]:
    """The proposal in a few lines: the window, the clusters, the changes to review by kind."""
    try:
        proposal = json.loads(path.read_text(encoding="utf-8"))
        window, changes = proposal["window"], proposal["changes"]
        kinds = {}
        for change in changes:
            kinds[change["kind"]] = kinds.get(change["kind"], 0) + 1
        return [f"  window: {window['messages']} messages from {window['from']} to {window['to']} "
                f"({window['novel']} flagged novel); {len(proposal['clusters'])} clusters "
                f"({proposal['n_fine_clusters']} fine)",
                "  changes to review: " + (", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
                                           or "none (every category kept)")]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"  (the proposal cannot be summarised: {type(error).__name__})"]


def _seed_empty_input(executor, uri: str) -> None:
    """The intentionally empty input the optional channels default to (what `upsert` seeds in S3)."""
    from pipelines.operations import EMPTY_MARKER, EMPTY_MARKER_TEXT
    from processing.storage import write_text_atomic

    marker = executor.store.path(f"{uri.rstrip('/')}/{EMPTY_MARKER}")
    if not marker.is_file():
        write_text_atomic(marker, EMPTY_MARKER_TEXT)
