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
  `\\u202e`) and keeps every other character, accents and emojis included.
"""
from __future__ import annotations

import re

import pandas as pd

# OWASP's list: the characters spreadsheets treat as the start of a formula, plus tab and carriage return.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# C0 controls (newline and tab included: a message stays one line), DEL, C1 controls (0x9b is a one-byte
# CSI to some terminals), line and paragraph separators, and the bidirectional marks, embeddings, overrides
# and isolates (the "Trojan Source" characters). Zero-width joiners are kept: emoji sequences need them.
_TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


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


def terminal_text(text) -> str:
    """`text` (any object, as str) with every control, separator and bidirectional character written as a
    visible escape, so that printing it cannot move the cursor, rewrite the screen or reorder the line."""
    return _TERMINAL_UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
