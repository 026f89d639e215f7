"""Specification of what tweetops shows a person: CSV cells a spreadsheet never runs as formulas, and terminal
text that carries no control sequence."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from processing.sanitize import shown_names, spreadsheet_cell, spreadsheet_frame, terminal_text


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
                                  "\t=1+1", "\r=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "-", "+", "@user"])
def test_a_cell_starting_with_a_formula_character_is_quoted_as_text(cell):
    assert spreadsheet_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3.5", "+12", "-1e-3", "42", ".5", "-.5"])
def test_a_plain_number_stays_readable_as_a_number(cell):
    assert spreadsheet_cell(cell) == cell


@pytest.mark.parametrize("cell", ["msg-1", "hola = adiós", "", "'already quoted", " =1+1", None, 3, -3.5, True])
def test_other_values_are_left_unchanged(cell):
    assert spreadsheet_cell(cell) is cell


def test_a_frame_is_made_safe_in_its_text_columns_and_keeps_its_numbers():
    frame = pd.DataFrame({"id": ["=1+1", "ok", "-7"], "cluster": [0, -1, 2], "confidence": [0.5, None, -0.25]})
    safe = spreadsheet_frame(frame)
    assert safe["id"].tolist() == ["'=1+1", "ok", "-7"]
    pd.testing.assert_frame_equal(safe[["cluster", "confidence"]], frame[["cluster", "confidence"]])
    assert frame["id"].tolist() == ["=1+1", "ok", "-7"]  # the input frame is not modified
    read_back = pd.read_csv(io.StringIO(safe.to_csv(index=False)), dtype={"id": str})
    assert not read_back["id"].str.match(r"[=+@\t\r]").any()


@pytest.mark.parametrize("text, shown", [
    ("bad header \x1b]0;pwned\x07\x1b[2J", "bad header \\x1b]0;pwned\\x07\\x1b[2J"),
    ("line one\nline two\r\tend", "line one\\nline two\\r\\tend"),
    ("del\x7f and c1 \x9b31m", "del\\x7f and c1 \\x9b31m"),
    ("user\u202egnp.exe", "user\\u202egnp.exe"),
    ("isolate \u2066x\u2069 mark \u200f sep \u2028", "isolate \\u2066x\\u2069 mark \\u200f sep \\u2028"),
    ("nul \x00 end", "nul \\x00 end"),
])
def test_control_and_bidirectional_characters_are_shown_as_escapes(text, shown):
    assert terminal_text(text) == shown


def test_ordinary_unicode_text_is_shown_as_it_is():
    text = "¿Dónde está mi tarjeta? ñandú 😂 👨\u200d👩\u200d👧 日本語 C:\\datos\\mensajes.csv"
    assert terminal_text(text) == text


def test_any_object_is_shown_through_its_string():
    assert terminal_text(KeyError("a\x1bb")) == "'a\\x1bb'"


def test_shown_names_escapes_controls_and_invisible_formatting_but_keeps_accents():
    assert shown_names(["año", "a\u202eb", "c\u200bd", "e\x00f", "caf\udce9"]) == \
        "año, a\\u202eb, c\\u200bd, e\\x00f, caf\\udce9"
    assert shown_names(["n" * 100], width=10) == "nnnnnnnnn…"


def test_shown_names_are_bounded_in_count_and_length_whatever_the_input():
    shown = shown_names([f"c{i}\x1b[2J" * 1000 for i in range(5000)])
    assert shown.endswith(", ... and 4990 more") and len(shown) < 500 and "\x1b" not in shown
