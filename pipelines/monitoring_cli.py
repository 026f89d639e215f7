"""`tweetops monitoring`: CloudWatch alarms to SNS (`setup`), Model Monitor schedules (`attach`) and the local
home's monitoring records across batches (`history`). docs/monitoring.md.

pipelines.cli registers this group; the settings options are the pipeline commands' (cli_common). Errors are one
line and exit 1, as every other group's.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import click

from pipelines.cli_common import echo_json, one_line_errors
from pipelines.cli_common import aws_settings as _aws_settings
from pipelines.cli_common import load_settings as _load_settings, settings_options as _settings_options
from processing.sanitize import terminal_text

# The columns of read_history that say which batch a row is, as the table shows them (--json has every one).
TABLE_KEYS = ("time", "execution", "model_version")


def _monitoring_errors(command):
    """Settings, registry, AWS and monitoring-record failures as one line and exit code 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.operations import PipelineError
        from pipelines.settings import SettingsError
        from register.local import RegistryError

        with one_line_errors(SettingsError, PipelineError, RegistryError, OSError, ValueError):
            return command(*args, **kwargs)
    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def monitoring() -> None:
    """Alarms, Model Monitor schedules and the monitoring history (docs/monitoring.md).

    Settings come from defaults < the deployed infra/ stack's outputs (--stack) < config file < TWEETOPS_* environment
    < flags, as for `tweetops pipeline`.
    """


@monitoring.command("setup")
@_settings_options
@click.option("--email", help="Subscribe this address to the alarm topic (AWS sends a confirmation email).")
@json_option
@_monitoring_errors
def setup(config_path, email, as_json, **flags) -> None:
    """Create or update the alarm rules as CloudWatch alarms notifying a KMS-encrypted SNS topic.

    The topic is the setting alarm_topic_arn (the deployed stack's) when set, else <pipeline name>-alarms, created
    here. Idempotent: running it again changes nothing and says "unchanged"; a changed threshold (setting
    alarm_thresholds) updates exactly that alarm.
    """
    import boto3

    from pipelines.monitoring_aws import setup_alarms

    settings = _aws_settings(config_path, **flags)
    result = setup_alarms(boto3.Session(region_name=settings.region), settings, email=email)
    for warning in result["warnings"]:
        click.echo(terminal_text(f"warning: {warning}"), err=True)
    if as_json:
        echo_json(result)
        return
    topic = result["topic"]
    click.echo(terminal_text(f"topic {topic['arn']} (KMS key {topic['kms_key_id']}): {topic['status']}"))
    if result["subscription"]:
        click.echo(terminal_text(f"email {result['subscription']['endpoint']}: {result['subscription']['status']}"))
    for alarm in result["alarms"]:
        click.echo(terminal_text(f"alarm {alarm['name']} ({alarm['metric']} {alarm['comparison']} "
                                 f"{alarm['threshold']:g}): {alarm['status']}"))


@monitoring.command("attach")
@click.argument("package", required=False)
@_settings_options
@click.option("--group", "model_package_group",
              help="Model package group (default: the setting model_package_group).")
@click.option("--schedule", type=click.Choice(["hourly", "daily"]), default="daily", show_default=True,
              help="How often Model Monitor analyses the captured batch-transform data.")
@click.option("--enable", is_flag=True, help="Attach even though the setting model_monitor is off.")
@json_option
@_monitoring_errors
def attach(package, config_path, model_package_group, schedule, enable, as_json, **flags) -> None:
    """Attach a Model Monitor data-quality schedule to the batch transforms of an approved package.

    PACKAGE is a model package ARN or a version number of the group (default: the latest approved). The
    schedule compares the captured transform data with the package's baseline (statistics.json and
    constraints.json). Off by default (Model Monitor is closed to new AWS customers): set model_monitor: true
    in the settings or pass --enable.
    """
    import boto3

    from pipelines.monitoring_aws import attach_schedule
    from pipelines.settings import SettingsError
    from pipelines.stack import require_role
    from register.local import RegistryError
    from register.registry import resolve_package, sagemaker_backend

    settings = _aws_settings(config_path, model_package_group=model_package_group, **flags)
    if not (settings.model_monitor or enable):
        raise SettingsError("Model Monitor schedules are off: set model_monitor: true in the settings "
                            "(or TWEETOPS_MODEL_MONITOR=true), or pass --enable; docs/monitoring.md")
    require_role(settings)
    session = boto3.Session(region_name=settings.region)
    registry, _ = sagemaker_backend(session)
    group = settings.model_package_group
    if package is None:
        described = registry.latest_approved(group)
        if described is None:
            raise RegistryError(f"no approved package in {group!r}: approve one (`tweetops registry approve`) or "
                                "name one")
    else:
        described = registry.describe_model_package(resolve_package(registry, package, group))
    if described.get("ModelApprovalStatus") != "Approved":
        raise RegistryError(f"{described['ModelPackageArn']} is {described.get('ModelApprovalStatus')}, not "
                            "Approved: schedules watch what approved packages score")
    result = attach_schedule(session, settings, described, schedule=schedule)
    if as_json:
        echo_json(result)
        return
    click.echo(terminal_text(f"schedule {result['schedule']} ({result['cron']}): {result['status']}"))
    click.echo(terminal_text(f"job definition {result['job_definition']}: {result['job_definition_status']}"))
    click.echo(terminal_text(f"baseline of {result['package']}: {result['baseline']['statistics']}, "
                             f"{result['baseline']['constraints']}"))
    click.echo(terminal_text(f"watches {result['data_capture']}; reports to {result['output']}"))


@monitoring.command("history")
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME", help="Folder of the local runs.")
@click.option("--metric", "metrics", multiple=True,
              help="Show only this metric (repeatable; default: every metric recorded).")
@click.option("--plot", type=click.Path(dir_okay=False), help="Also write the series as a PNG here.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Settings file whose alarm_thresholds the plot draws (default $TWEETOPS_CONFIG, else "
                   "./tweetops.yaml if present).")
@json_option
@_monitoring_errors
def history(home, metrics, plot, config_path, as_json) -> None:
    """Each monitoring metric across the scored batches of the local home: a table, optionally a PNG plot."""
    from pipelines.local.monitoring import HISTORY_COLUMNS, METRICS_LOG, plot_history, read_history

    frame = read_history(home)
    if frame.empty:
        click.echo(terminal_text(f"no monitoring records in {Path(home) / METRICS_LOG} yet: score a batch "
                                 "(`tweetops predict`) to make one"))
        return
    columns = history_columns(frame, list(metrics), HISTORY_COLUMNS)
    if plot:
        overrides = dict(_load_settings(config_path).alarm_thresholds)
        plot_history(frame, plot, metrics=columns, overrides=overrides)
        click.echo(terminal_text(f"wrote {plot}"), err=True)
    records = [{name: _plain(row[name]) for name in [*HISTORY_COLUMNS, *columns]} for _, row in frame.iterrows()]
    if as_json:
        echo_json(records)
        return
    from register.cli import _table

    keys = [key for key in TABLE_KEYS if key in HISTORY_COLUMNS]
    rows = [[terminal_text(_cell(record[name])) for name in [*keys, *columns]] for record in records]
    for line in _table([*keys, *columns], rows):
        click.echo(line)


def history_columns(frame, wanted: list[str], keys: tuple[str, ...]) -> list[str]:
    """The metric columns to show: `wanted` (each a metric name) or every metric with at least one recorded value."""
    metrics = [name for name in frame.columns if name not in keys]
    unknown = [name for name in wanted if name not in metrics]
    if unknown:
        raise ValueError(f"no metric {', '.join(map(repr, unknown))}; known: {', '.join(metrics)}")
    return list(dict.fromkeys(wanted)) or [name for name in metrics if frame[name].notna().any()]


def _plain(value):
    """A table value as JSON has it: NaN and missing as None, numpy numbers as Python numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _cell(value) -> str:
    """A value as the table shows it: numbers to 4 significant digits, missing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
