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
