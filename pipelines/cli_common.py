"""What every command group prints the same way (pipelines.cli and the groups it imports: register.cli,
pipelines.monitoring_cli, pipelines.monitor_commands)."""
from __future__ import annotations

import contextlib
import functools
import json
from typing import NoReturn

import click

from processing import container
from processing.sanitize import terminal_text


def echo_json(data) -> None:
    """Print data as JSON for scripts: indented, keys sorted."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextlib.contextmanager
def one_line_errors(*expected: type[BaseException]):
    """The `expected` errors and AWS failures ("AWS: ...") as a one-line message and exit code 1, anything
    unexpected too (named as a possible bug, never a traceback); control characters from input (a name, a file's
    content) are shown as escapes, never sent to the terminal."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except expected as error:
        raise click.ClickException(terminal_text(error)) from None
    except (ClientError, BotoCoreError) as error:
        raise click.ClickException(terminal_text(f"AWS: {error}")) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise  # click's own ways to exit
    except Exception as error:  # KeyboardInterrupt and SystemExit are BaseExceptions: they pass as they are
        raise click.ClickException(terminal_text(unexpected_error_line(error))) from None


def unexpected_error_line(error: BaseException) -> str:
    """An error nobody expected, in one line: its type (`tarfile.ReadError`), message, and that it may be a bug."""
    kind = type(error)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {error} (a bug? please report it with the command that failed)"


def job_errors(command):
    """Turn expected failures (bad input, missing files, AWS refusing an S3 read or write) into a one-line
    message and exit code 1; anything unexpected too, named as a possible bug, never as a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own ways to exit
        except Exception as error:  # KeyboardInterrupt and SystemExit are BaseExceptions: they pass as they are
            _fail(_failure_message(error))
    return wrapper


def _failure_message(error: Exception) -> str:
    """The cause, for errors a user can fix; for any other error also its type, and that it may be a bug."""
    # Imported only on failure: boto3 (under pipelines.operations) alone costs every command 0.3 s.
    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.operations import PipelineError
    from processing.category_map import CategoryMapError
    from processing.embeddings import EmbeddingsUnavailable
    from processing.ingest import IngestError

    message = str(error).strip("'\"") or type(error).__name__
    if isinstance(error, (BotoCoreError, ClientError)):
        return f"AWS: {message}"  # as the pipeline and registry commands say it (cli_common)
    if isinstance(error, (IngestError, CategoryMapError, EmbeddingsUnavailable, FileNotFoundError, ValueError,
                          KeyError, PipelineError)):
        return message
    return unexpected_error_line(error)


def _fail(message: str) -> NoReturn:
    """Write the failure reason (inside a job) and exit 1 with one line; input may hold terminal escapes."""
    message = terminal_text(message)
    container.write_failure_reason(message)
    raise click.ClickException(message) from None


def settings_options(command):
    """Deployment settings as flags; they override the environment (TWEETOPS_*) and the config file."""
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="Settings file (YAML/JSON); default $TWEETOPS_CONFIG, else ./tweetops.yaml if present."),
        click.option("--role-arn", help="SageMaker execution role ARN."),
        click.option("--region", help="AWS region."),
        click.option("--bucket", help="S3 bucket for artifacts (default sagemaker-<region>-<account>)."),
        click.option("--pipeline-name", help="Pipeline name."),
        click.option("--image-uri", help="tweetops image URI (default <account>.dkr.ecr.<region>.amazonaws.com/"
                                         "tweetops:<version>)."),
        click.option("--kms-key-id", help="KMS key for every job's volumes and outputs."),
        click.option("--stack", "stack_name",
                     help="CloudFormation stack of infra/ whose outputs fill every setting not given (default "
                          "tweetops-dev; '' reads none)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_settings(config_path, **flags):
    """The deployment settings from defaults < config file < environment < flags (docs/pipeline.md)."""
    from pipelines.settings import load_settings

    return load_settings(config_path, **flags)


def aws_settings(config_path, need_role: bool = False, **flags):
    """load_settings, then every setting not given filled from the deployed infra/ stack's outputs (settings
    stack_name, --stack); with `need_role`, an error naming every way to give the execution role when none came."""
    import boto3

    from pipelines.settings import load_settings_with_sources
    from pipelines.stack import require_role, with_stack_outputs

    settings, explicit = load_settings_with_sources(config_path, **flags)
    settings = with_stack_outputs(settings, explicit, boto3.Session(region_name=settings.region))
    if need_role:
        require_role(settings)
    return settings


def processing_default(*parts: str):
    """A lazily computed default under /opt/ml/processing (so TWEETOPS_ML_ROOT is honoured)."""
    return lambda: str(container.processing_path(*parts))
