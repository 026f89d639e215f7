"""`tweetops registry`: list, show, approve and reject model packages, and find the latest approved one.

Works on the local registry that run-local writes (default) or on the SageMaker Model Registry
(`--backend sagemaker`). Readable tables by default, `--json` for scripts; errors are one line and exit 1.
"""
from __future__ import annotations

import functools
import sqlite3
from datetime import datetime, timezone

import click

from pipelines.cli_common import echo_json, one_line_errors
from processing.sanitize import terminal_text
from register.local import APPROVAL_STATUSES, RegistryError


def _registry_errors(command):
    """Registry refusals, settings and AWS failures as one line and exit code 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.settings import SettingsError

        with one_line_errors(RegistryError, SettingsError):
            try:
                return command(*args, **kwargs)
            except sqlite3.Error as error:
                raise click.ClickException(terminal_text(f"local registry: {error}")) from None
    return wrapper


def _backend_options(command):
    """Where the registry is: the backend, the local home or the AWS region, and the model package group."""
    options = [
        click.option("--backend", type=click.Choice(["local", "sagemaker"]), default="local", show_default=True,
                     help="The local registry that run-local writes, or the SageMaker Model Registry."),
        click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME",
                     default="tweetops-local", show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME",
                     help="Folder of the local run (local backend)."),
        click.option("--region", help="AWS region (sagemaker backend; default: the settings' region, or the "
                                      "region of an ARN given)."),
        click.option("--group", help="Model package group (default: the setting model_package_group, "
                                     "tweetops-message-classifier)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _open(backend: str, home: str, region: str | None, group: str | None, ref: str | None = None):
    """(registry, read_json, group) for the options given; an ARN in `ref` names its own region. On SageMaker the
    group not given comes from the deployed infra/ stack's outputs when there is one (pipelines/stack.py)."""
    from pipelines.settings import load_settings_with_sources
    from register.registry import local_backend, sagemaker_backend

    if backend == "sagemaker" and region is None and ref and ref.startswith("arn:") and ref.count(":") >= 5:
        region = ref.split(":")[3]
    settings, explicit = load_settings_with_sources(region=region, model_package_group=group)
    if backend == "local":
        registry, read_json = local_backend(home)
    else:
        import boto3

        from pipelines.stack import with_stack_outputs

        session = boto3.Session(region_name=settings.region)
        settings = with_stack_outputs(settings, explicit, session)
        registry, read_json = sagemaker_backend(session)
    return registry, read_json, settings.model_package_group


def _when(moment: datetime | None) -> str:
    """A time as 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if moment is None:
        return "-"
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    """Lines of a table with left-aligned columns two spaces apart."""
    cells = [headers] + [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]


def _short(digest: str | None, length: int = 12) -> str:
    """The start of a hash (the JSON output has it whole)."""
    return "-" if not digest else digest if len(digest) <= length else digest[:length] + "…"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def registry() -> None:
    """Review, approve and reject the model packages the training pipeline registers (docs/registry.md).

    A package whose category map was never reviewed is approved only with --allow-unreviewed-map.
    """


@registry.command("list")
@_backend_options
@click.option("--status", type=click.Choice(APPROVAL_STATUSES), help="Only packages with this approval status.")
@click.option("--groups", "list_groups", is_flag=True, help="List the model package groups instead.")
@json_option
@_registry_errors
def list_command(backend, home, region, group, status, list_groups, as_json) -> None:
    """List the versions of the group, newest first.

    With --status, only those with that approval status; with --groups, the model package groups instead.
    """
    from register import registry as operations

    registry_, _, group = _open(backend, home, region, group)
    if list_groups:
        groups = operations.list_groups(registry_)
        if as_json:
            echo_json(groups)
        elif not groups:
            click.echo("no model package groups")
        else:
            for line in _table(["GROUP", "CREATED (UTC)", "ARN"],
                               [[g["name"], _when(g["created"]), g["arn"]] for g in groups]):
                click.echo(line)
        return
    rows = operations.list_packages(registry_, group, approval_status=status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no {status + ' ' if status else ''}versions in {group}")
        return
    click.echo(f"{group}: {len(rows)} {status + ' ' if status else ''}version{'s' if len(rows) != 1 else ''}")
    for line in _table(["VERSION", "STATUS", "CREATED (UTC)", "ARN"],
                       [[row["version"], row["status"], _when(row["created"]), row["arn"]] for row in rows]):
        click.echo(line)


@registry.command("show")
@click.argument("package")
@_backend_options
@json_option
@_registry_errors
def show_command(package, backend, home, region, group, as_json) -> None:
    """Show one package: metrics, map, lineage.

    PACKAGE is a model package ARN or a version number of the group. Shows the status and decision, held-out
    and gold-set metrics from its evaluation.json, the category map (version, hash, reviewed or not), input
    data hash, code version, seed and the pipeline execution that registered it.
    """
    from register import registry as operations

    registry_, read_json, group = _open(backend, home, region, group, package)
    summary = operations.package_summary(registry_, operations.resolve_package(registry_, package, group),
                                         read_json)
    if as_json:
        echo_json(summary)
    else:
        _echo_summary(summary)


def _echo_summary(summary: dict) -> None:
    """A package summary as aligned 'field  value' lines."""
    metrics, cmap = summary["metrics"], summary["category_map"]
    fields = [("package", f"{summary['group']} version {summary['version']}"), ("arn", summary["arn"]),
              ("status", summary["status"])]
    if summary["approval_description"]:
        fields.append(("decision", summary["approval_description"]))
    fields.append(("created", f"{_when(summary['created'])} UTC"))
    if metrics is None:
        fields.append(("metrics", f"unavailable: {summary['metrics_error']}"))
    else:
        fields.append(("held-out", _scores(metrics)))
        gold = metrics["gold"]
        fields.append(("gold set", "none given" if gold is None else _gold(gold)))
    reviewed = {True: "reviewed", False: "NOT REVIEWED", None: "review unknown (no category_map_reviewed)"}[
        cmap["reviewed"]]
    if cmap["reviewed"] is not True and summary["status"] != "Approved":
        reviewed += " (approving needs --allow-unreviewed-map)"
    fields += [
        ("category map", f"version {cmap['version'] or '?'}, {reviewed}, hash {_short(cmap['hash'])}"),
        ("input data", _short(summary["input_data_hash"])),
        ("code version", summary["code_version"] or "-"),
        ("seed", summary["seed"] or "-"),
        ("lineage", summary["lineage"]["generated_by"] or summary["lineage"]["pipeline_execution"] or "-"),
        ("model data", summary["model_data_url"] or "-"),
        ("model sha256", f"{summary['model_sha256']} (serving loads only this model.joblib)"
         if summary["model_sha256"] else "NOT PINNED: serving refuses this package (docs/security.md)"),
        ("evaluation", summary["metrics_uri"] or "-"),
        ("monitoring", summary["monitoring_baseline_uri"] or "no baseline: its batches are not judged for drift"),
    ]
    fields += _category_change_fields(summary.get("category_changes"))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(terminal_text(f"{name.ljust(width)}  {value}"))  # a decision's text is anyone's input


def _category_change_fields(changes: dict | None) -> list[tuple[str, str]]:
    """'categories' lines: how this package's categories differ from the approved package's (nothing to say: none)."""
    from processing.evolution.lineage import describe_changes

    if not changes:
        return []
    if "error" in changes:
        return [("categories", f"not compared with the approved package: {changes['error']}")]
    if not changes["changed"]:
        return [("categories", f"same as the approved {changes['against']}")]
    lines = describe_changes(changes) or ["same names, other clusters"]
    review = "reviewed" if changes["reviewed"] else "NOT REVIEWED: approval refused until `tweetops review`"
    head = (f"changed from the approved {changes['against']} (map version {changes['from_version']} -> "
            f"{changes['to_version']}, {review})")
    return [("categories", head)] + [("", f"  {line}") for line in lines]


def _scores(scores: dict) -> str:
    """'macro-F1 0.912  accuracy 0.930  (600 messages)'."""
    size = f"  ({scores['n_samples']} messages)" if scores.get("n_samples") is not None else ""
    return f"macro-F1 {scores['macro_f1']:.3f}  accuracy {scores['accuracy']:.3f}{size}"


def _gold(gold: dict) -> str:
    """Gold-set scores; before any category is named like a gold label, the name-free agreement instead."""
    agreement = gold.get("agreement") or {}
    if gold.get("categories_named_as_gold") == 0 and agreement:
        return (f"categories not yet named like its labels: NMI {agreement['nmi']:.3f}, "
                f"cluster accuracy {agreement['acc']:.3f}  ({gold.get('n_samples')} messages)")
    return _scores(gold)


def _decision_options(command):
    """--by and --reason, required: the approval description records them."""
    command = click.option("--reason", required=True, help="Why (recorded in the approval description).")(command)
    return click.option("--by", required=True, help="Who decides (recorded in the approval description).")(command)


@registry.command("approve")
@click.argument("package")
@_decision_options
@click.option("--allow-unreviewed-map", is_flag=True,
              help="Approve even though the package's category map was never reviewed (recorded as such).")
@_backend_options
@_registry_errors
def approve_command(package, by, reason, allow_unreviewed_map, backend, home, region, group) -> None:
    """Approve a package, recording who and why.

    PACKAGE is a model package ARN or a version number of the group. Refused when the package's category map
    was never reviewed, unless --allow-unreviewed-map (the approval description then says so); refused whatever
    the flag when its categories differ from the approved package's and the map was not reviewed.
    """
    from register import registry as operations

    registry_, read_json, group = _open(backend, home, region, group, package)
    arn = operations.resolve_package(registry_, package, group)
    result = operations.approve(registry_, arn, by, reason, allow_unreviewed_map=allow_unreviewed_map,
                                read_json=read_json)
    _echo_decision(result)
    if backend == "sagemaker":
        _attach_model_monitor(registry_.describe_model_package(arn), region)


def _attach_model_monitor(package: dict, region: str | None) -> None:
    """With settings.model_monitor on, an approved package gets its data-quality schedule at once (docs/monitoring.md)."""
    from pipelines.settings import load_settings_with_sources

    settings, explicit = load_settings_with_sources(region=region or package["ModelPackageArn"].split(":")[3])
    if not settings.model_monitor:
        return
    import boto3

    from pipelines.monitoring_aws import attach_schedule
    from pipelines.stack import with_stack_outputs

    session = boto3.Session(region_name=settings.region)
    attached = attach_schedule(session, with_stack_outputs(settings, explicit, session), package)
    click.echo(f"Model Monitor schedule {attached['schedule']} {attached['status']} ({attached['cron']})")


@registry.command("reject")
@click.argument("package")
@_decision_options
@_backend_options
@_registry_errors
def reject_command(package, by, reason, backend, home, region, group) -> None:
    """Reject a package, recording who and why.

    PACKAGE is a model package ARN or a version number of the group.
    """
    from register import registry as operations

    registry_, _, group = _open(backend, home, region, group, package)
    _echo_decision(operations.reject(registry_, operations.resolve_package(registry_, package, group), by, reason))


def _echo_decision(result: dict) -> None:
    """'<name>: <previous> -> <status>' and the recorded description."""
    click.echo(f"{result['name']}: {result['previous_status']} -> {result['status']}")
    click.echo(f"  {terminal_text(result['approval_description'])}")
    click.echo(f"  {result['arn']}")


@registry.command("latest")
@_backend_options
@json_option
@_registry_errors
def latest_command(backend, home, region, group, as_json) -> None:
    """Show the latest approved package.

    The highest approved version of the group, as `show` prints it; exit code 1 when none is approved.
    """
    from register import registry as operations

    registry_, read_json, group = _open(backend, home, region, group)
    summary = operations.latest(registry_, group, read_json)
    if summary is None:
        pending = [row["version"] for row in
                   operations.list_packages(registry_, group, approval_status="PendingManualApproval")]
        waiting = f" (pending: {', '.join(map(str, pending))})" if pending else ""
        raise click.ClickException(f"no approved model package in {group}{waiting}; approve one with "
                                   "`tweetops registry approve VERSION --by WHO --reason WHY`")
    if as_json:
        echo_json(summary)
    else:
        _echo_summary(summary)
