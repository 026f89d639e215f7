"""Text that leaves tweetops for a person, made harmless where it lands: spreadsheet cells and terminal lines.

Message ids, texts, category names and file contents are untrusted input (DESIGN.md, threat model). Two edges
interpret what they show:

* **Spreadsheets.** A CSV cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
  spreadsheets skip before parsing) is read as a formula when an analyst opens the file: `+cmd|' /C calc'!A0`
  runs a program through DDE, `=HYPERLINK(...)` leaks data. `spreadsheet_cell` prefixes such a cell with a
  single quote, as OWASP recommends ("CSV Injection"), so the spreadsheet shows it as text. A plain number
  (`-3.5`, `+12`, `-1e-3`) is left as it is: a spreadsheet parses it as that number and runs nothing, and
  quoting it would turn numeric columns into text. Applied to the CSVs a person may open (assignments.csv,
  CSV predictions); JSON and JSON Lines, which programs read, stay exact.
* **Terminals.** Control characters in an error message or a relayed log line are commands to the terminal:
  ESC sequences recolour, retitle or rewrite the screen, carriage returns and bidirectional overrides hide
  or reorder what is shown. `terminal_text` writes each such character as a visible escape (`\\x1b`, `\\n`,
  `\\u202e`) and keeps every other character, accents and emojis included. `shown_value` and `shown_names`
  quote input-derived names (column names, values) inside a one-line message: escaped the same way, invisible
  characters too (a column `id\\u200b` must not pass for `id`), shortened, and at most a few of them.
"""
from __future__ import annotations

import re

import pandas as pd

from processing.contract import BIDI_CONTROL_CHARACTERS, ZERO_WIDTH_CHARACTERS

# OWASP's list: the characters spreadsheets treat as the start of a formula, plus tab and carriage return.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# C0 controls (newline and tab included: a message stays one line), DEL, C1 controls (0x9b is a one-byte
# CSI to some terminals), line and paragraph separators, and the bidirectional marks, embeddings, overrides
# and isolates (the "Trojan Source" characters). Zero-width joiners are kept: emoji sequences need them.
_TERMINAL_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029{BIDI_CONTROL_CHARACTERS}]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Inside a quoted name, also the zero-width and invisible characters terminal_text keeps, and lone surrogates
# (bytes that were not UTF-8).
_INVISIBLE = re.compile(f"[{ZERO_WIDTH_CHARACTERS}\u2061-\u2065\ud800-\udfff]")  # + invisible operators
SHOWN_NAMES = 10
SHOWN_NAME_CHARS = 40


def spreadsheet_cell(value):
    """`value` as a spreadsheet shows it as text: a string starting with a formula character gets a leading `'`.

    Anything else (other strings, plain numbers written as text, numbers, None) is returned unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def spreadsheet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with `spreadsheet_cell` applied to every text column, ready for `to_csv`."""
    text_columns = [name for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]
    return frame.assign(**{str(name): frame[name].map(spreadsheet_cell) for name in text_columns})


def one_line(error: BaseException) -> str:
    """An exception as one line of text: its type and message (white space folded), no traceback."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def terminal_text(text) -> str:
    """`text` (any object, as str) with every control, separator and bidirectional character written as a
    visible escape, so that printing it cannot move the cursor, rewrite the screen or reorder the line."""
    return _TERMINAL_UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def shown_value(value, width: int = SHOWN_NAME_CHARS) -> str:
    """A value from the input, safe inside a one-line message: escaped like terminal_text, invisible characters
    too (\\u200b), cut to `width` characters."""
    value = str(value)[:width * 6]  # an escape is at most six characters: never scan an unbounded value
    escaped = _INVISIBLE.sub(_escape, terminal_text(value))
    return escaped if len(escaped) <= width else escaped[:width - 1] + "…"


def shown_names(names, limit: int = SHOWN_NAMES, width: int = SHOWN_NAME_CHARS) -> str:
    """Input-derived names for a message: at most `limit`, each through shown_value, then "... and N more"."""
    names = list(names)
    shown = ", ".join(shown_value(name, width) for name in names[:limit])
    return shown + (f", ... and {len(names) - limit} more" if len(names) > limit else "")
