"""Specification of what `run-local` prints while it runs: the lines jobs print reach the terminal without
control sequences."""
from __future__ import annotations

import io

from pipelines.local.terminal import TerminalReport


def test_a_job_line_with_terminal_escapes_is_relayed_with_them_shown_as_text():
    stream = io.StringIO()
    TerminalReport(stream=stream).line("Validate", "warning: column \x1b]0;pwned\x07\x1b[2J\u202egnp.exe\rdone")
    assert stream.getvalue() == "      warning: column \\x1b]0;pwned\\x07\\x1b[2J\\u202egnp.exe\\rdone\n"
