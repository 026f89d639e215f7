"""Specification of how a value read from a message file is named, turned into text and made writable."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from processing.record_values import as_text, is_missing, json_kind, json_safe, printable, shorten


def test_json_kind_names_values_as_json_does():
    assert [json_kind(value) for value in (None, True, 3, 2.5, "a", [1], {"a": 1})] == \
        ["null", "boolean", "number", "number", "string", "array", "object"]


def test_undecodable_bytes_are_written_as_hex_escapes_and_valid_text_is_unchanged():
    raw = b"caf\xe9 ok".decode("utf-8", "surrogateescape")
    assert printable(raw) == "caf\\xe9 ok" and printable("café") == "café"
    assert shorten("x" * 100, limit=5) == "xxxxx…"


def test_values_become_text_integers_as_digits_and_timestamps_as_iso():
    texts = as_text(pd.Series([12345678901234567890, dt.datetime(2026, 12, 1, 10, 0), "a", None], dtype=object))
    assert texts.tolist() == ["12345678901234567890", "2026-12-01T10:00:00", "a", None]


def test_json_safe_turns_nan_numpy_and_dates_into_json_values():
    assert json_safe({"a": float("nan"), "b": np.int64(3), "c": [dt.date(2026, 1, 2)], 4: b"\xff"}) == \
        {"a": None, "b": 3, "c": ["2026-01-02"], "4": "\\xff"}
    assert is_missing(None) and is_missing(float("nan")) and not is_missing([]) and not is_missing("")
