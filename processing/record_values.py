"""What a value read from a message file is, as validation and the quarantine need to say it: its JSON type,
its text, and a form that can be written (undecodable bytes shown as \\xNN). Plain functions of values.
"""
from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

SURROGATE_RE = re.compile("[\ud800-\udfff]")  # lone surrogates: bytes "surrogateescape" could not decode


def json_kind(value: object) -> str:
    """The JSON name of a value's type ("string", "number", "array", ...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "number"
    kinds = {str: "string", list: "array", dict: "object"}
    return next((kind for cls, kind in kinds.items() if isinstance(value, cls)), type(value).__name__)


def has_valid_type(values: pd.Series, is_valid_type: Callable[[type], bool]) -> pd.Series:
    """Per value: does its type pass `is_valid_type`? Checked once per distinct type, for speed."""
    types = values.map(type)
    return types.isin([kind for kind in types.unique() if is_valid_type(kind)])


def is_string_type(kind: type) -> bool:
    return issubclass(kind, str)


def is_id_like_type(kind: type) -> bool:
    return issubclass(kind, (str, numbers.Integral)) and not issubclass(kind, (bool, np.bool_))


def as_text(values: pd.Series) -> pd.Series:
    """Values as text in an object column (pandas' string dtypes differ between 2.x and 3.x)."""
    texts = values.astype(object)
    if not has_valid_type(texts.dropna(), is_string_type).all():
        texts = texts.map(as_text_value, na_action="ignore").astype(object)
    return texts.where(texts.notna(), None)


def as_text_value(value: object) -> str:
    """Integers as their digits, timestamps as ISO 8601, strings unchanged."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def is_missing(value: object) -> bool:
    """None/NaN/NaT (a field the row did not have), but not a list or dict value."""
    return value is None or (not isinstance(value, (list, tuple, dict, np.ndarray)) and bool(pd.isna(value)))


def json_safe(value: object) -> object:
    """A JSON-serialisable copy: NaN -> null, numpy -> Python, timestamps -> ISO, bad bytes -> \\xNN text."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value) or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def printable(value: object) -> object:
    """Text with undecodable bytes shown as \\xNN (and other lone surrogates as \\udNNN), so it can be written."""
    if not isinstance(value, str) or not SURROGATE_RE.search(value):
        return value
    return value.encode("utf-8", "surrogateescape" if only_escaped_bytes(value) else "backslashreplace") \
        .decode("utf-8", "backslashreplace")


def only_escaped_bytes(value: str) -> bool:
    return all(0xDC80 <= ord(char) <= 0xDCFF for char in SURROGATE_RE.findall(value))


def shorten(value: str, limit: int = 60) -> str:
    value = printable(value)
    return value if len(value) <= limit else value[:limit] + "…"
