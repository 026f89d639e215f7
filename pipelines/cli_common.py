"""What every command group prints the same way (pipelines.cli and register.cli, which pipelines.cli imports)."""
from __future__ import annotations

import contextlib
import json

import click

from processing.sanitize import terminal_text


def echo_json(data) -> None:
    """Print data as JSON for scripts: indented, keys sorted."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextlib.contextmanager
def one_line_errors(*expected: type[BaseException]):
    """The `expected` errors and AWS failures ("AWS: ...") as a one-line message and exit code 1; control
    characters from input (a name, a file's content) are shown as escapes, never sent to the terminal."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except expected as error:
        raise click.ClickException(terminal_text(error)) from None
    except (ClientError, BotoCoreError) as error:
        raise click.ClickException(terminal_text(f"AWS: {error}")) from None
