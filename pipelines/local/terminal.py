"""What a person running `tweetops run-local` sees: one line per step, a bar (or periodic lines when the output
is not a terminal) for rows within heavy steps, and the lines the jobs print."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

from pipelines.local.executor import Report
from processing.sanitize import terminal_text


class TerminalReport(Report):
    """Step lines and row progress on stderr."""

    def __init__(self, stream=None, line_every_seconds: float = 10.0):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.line_every_seconds = line_every_seconds
        self._bar: tqdm | None = None
        self._last_line = 0.0

    def _say(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def step_started(self, name: str, kind: str, index: int, total: int) -> None:
        self._say(f"[{time.strftime('%H:%M:%S')}] {index}/{total} {name} ({kind})")

    def step_ended(self, name: str, status: str, detail: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._say(f"[{time.strftime('%H:%M:%S')}]     {name}: {status.lower()} ({detail})")

    def line(self, name: str, text: str) -> None:
        self._say(f"      {terminal_text(text)}")  # a job's output may echo its input: no escapes reach the terminal

    def progress(self, name: str, done: int, total: int, unit: str) -> None:
        if self.interactive:
            if self._bar is None:
                self._bar = tqdm(total=total, desc=f"      {unit}", unit=" rows", file=self.stream, leave=False)
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if done == total or now - self._last_line >= self.line_every_seconds:
            self._last_line = now
            self._say(f"      {done:,}/{total:,} {unit}")
