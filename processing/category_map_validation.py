"""What is wrong with a category map document: the JSON Schema checks, the rules a schema cannot express, and
every problem worded in the analyst's terms (never a jsonschema dump). processing.category_map builds on it."""
from __future__ import annotations

import json
import os
import reprlib
from collections import Counter
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Sequence

import jsonschema

SCHEMA_FILE = "category_map.schema.json"
DEFAULT_DISCARD_CATEGORY = "_discard"
NAME_RULE = "lowercase letters a-z, digits, '_' and '-', starting with a letter, digit or '_', at most 64 characters"


class CategoryMapError(ValueError):
    """A category map that cannot be read, breaks the format, or does not fit the clusters it is applied to."""

    def __init__(self, problems: str | Sequence[str], source: str | os.PathLike | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = None if source is None else str(source)
        super().__init__(_format_problems(self.problems, self.source))

    def __reduce__(self):  # so the error survives pickling (multiprocessing) with its problems and source
        return type(self), (self.problems, self.source)


def _format_problems(problems: Sequence[str], source: str | None) -> str:
    """One line for one problem, a bulleted list for several, prefixed by the file they were found in."""
    prefix = f"{source}: " if source else ""
    if len(problems) == 1:
        return prefix + problems[0]
    return prefix + f"{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


# --------------------------------------------------------------------------------------------------- validation


@lru_cache(maxsize=1)
def category_map_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a category map document, read from the package data."""
    return json.loads(resources.files("processing").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(category_map_schema())


def document_problems(doc: Any) -> list[str]:
    """Every problem with a raw map document: schema problems first, then the rules a schema cannot express."""
    if not isinstance(doc, dict):
        found = "nothing (the file is empty)" if doc is None else f"a {_type_word(doc)}"
        return [f"a category map must be a mapping with version, clustering_run and categories; found {found}"]
    errors = sorted(_validator().iter_errors(doc), key=lambda e: _path_sort_key(e.absolute_path))
    problems = list(dict.fromkeys(_describe_schema_error(e, doc) for e in errors))  # dedupe, keep order
    # Semantic checks assume the types the schema guarantees, so they run only on a schema-valid document.
    return problems or _semantic_problems(doc)


def _semantic_problems(doc: dict[str, Any]) -> list[str]:
    """Rules beyond the schema: real integers, unique names, one category per cluster, a real review time."""
    problems = []
    if not _is_int(doc["version"]):
        problems.append(f"version: {show(doc['version'])} is not an integer")
    first_entry_of_name: dict[str, int] = {}
    first_entry_of_id: dict[str, int] = {}
    owner_of_cluster: dict[int, int] = {}
    categories = doc["categories"]
    for i, entry in enumerate(categories):
        where = f"categories[{i}] (name {entry['name']!r})"
        if entry["name"] in first_entry_of_name:
            j = first_entry_of_name[entry["name"]]
            problems.append(f"{where}: the name {entry['name']!r} is already used by categories[{j}]")
        else:
            first_entry_of_name[entry["name"]] = i
        if "id" in entry:
            if entry["id"] in first_entry_of_id:
                j = first_entry_of_id[entry["id"]]
                problems.append(f"{where}: the id {entry['id']!r} is already used by categories[{j}]; "
                                "ids are stable and unique")
            else:
                first_entry_of_id[entry["id"]] = i
        for k, cluster in enumerate(entry["clusters"]):
            if not _is_int(cluster):
                problems.append(f"categories[{i}].clusters[{k}] (category {entry['name']!r}): "
                                f"{show(cluster)} is not an integer")
            elif cluster in owner_of_cluster:
                j = owner_of_cluster[cluster]
                problems.append(f"{where}: cluster {cluster} is already mapped to "
                                f"{categories[j]['name']!r} (categories[{j}])")
            else:
                owner_of_cluster[cluster] = i
    if doc.get("reviewed") is not None:
        problem = _review_time_problem(doc["reviewed"]["at"])
        if problem:
            problems.append(f"reviewed.at: {problem}")
    discard = doc.get("discard_category", DEFAULT_DISCARD_CATEGORY)
    if "discard_category" in doc and discard is not None and discard not in first_entry_of_name:
        problems.append(f"discard_category: {discard!r} names no category (categories are: "
                        f"{', '.join(first_entry_of_name)}); add that category or remove discard_category")
    if all(name == discard for name in first_entry_of_name):
        problems.append(f"categories: the only category is the discard category {discard!r}; "
                        "at least one category must be kept for training")
    return problems


def _review_time_problem(at: str) -> str | None:
    """Why `at` is not a real, timezone-aware ISO 8601 date-time, or None when it is one."""
    try:
        parsed = parse_review_time(at)
    except ValueError as exc:
        return f"{at!r} is not a valid date-time ({exc})"
    if parsed.tzinfo is None:
        return f"{at!r} has no UTC offset; write it in UTC with a Z, e.g. '2026-11-20T10:00:00Z'"
    return None


def parse_review_time(at: str) -> datetime:
    # fromisoformat (3.11+) reads the ISO 8601 forms the schema allows except a lowercase z.
    return datetime.fromisoformat(at[:-1] + "Z" if at.endswith("z") else at)


def _is_int(value: Any) -> bool:
    # JSON Schema counts 7.0 as an integer and YAML reads `7.0` as a float; cluster ids must be written as ints.
    return isinstance(value, int) and not isinstance(value, bool)


def _path_sort_key(path: Iterable[Any]) -> list[tuple[int, Any]]:
    """Sorts document paths with list indices numerically (categories[2] before categories[10])."""
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in path]


def _describe_schema_error(error: jsonschema.ValidationError, doc: dict[str, Any]) -> str:
    """'<where>: <what>' in the analyst's terms, never a jsonschema repr dump."""
    where = _where(list(error.absolute_path), doc)
    what = _schema_error_text(error)
    return f"{where}: {what}" if where else what


def _where(path: list[Any], doc: dict[str, Any]) -> str:
    """A document path like categories[1].clusters[0], plus the category's name when it has a usable one."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if len(path) >= 2 and path[0] == "categories" and isinstance(path[1], int):
        entry = doc["categories"][path[1]]
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and path[2:] != ["name"]:
            text += f" (name {show(name)})" if len(path) == 2 else f" (category {show(name)})"
    return text


def _schema_error_text(error: jsonschema.ValidationError) -> str:
    """What is wrong, worded per JSON Schema keyword; falls back to jsonschema's own message."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    field = error.absolute_path[-1] if error.absolute_path else None
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        text = f"{show(value)} is not {' or '.join(_TYPE_WORDS.get(t, t) for t in wanted)}"
        if "string" in wanted and isinstance(value, (int, float, bool)):
            text += " (quote it in YAML)"
        return text
    if keyword == "required":
        missing = [name for name in expected if name not in value]
        return "missing required field" + ("s " if len(missing) > 1 else " ") + ", ".join(map(repr, missing))
    if keyword == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in value if k not in allowed]
        return (f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"(allowed: {', '.join(allowed)})")
    if keyword == "minimum":
        if field == "version":
            return f"{show(value)} is not a valid version; versions start at {expected}"
        return f"{show(value)} is negative; cluster ids are non-negative integers"
    if keyword == "minItems":
        if field == "categories":
            return "at least one category is required"
        if field == "clusters":
            return "a category needs at least one cluster"
        return f"needs at least {expected} item(s)"
    if keyword == "uniqueItems":
        repeated = [item for item, count in Counter(map(show, value)).items() if count > 1]
        return f"{', '.join(repeated)} listed more than once"
    if keyword in ("minLength", "pattern") and expected in (1, r"\S"):
        return "must not be empty"
    if keyword == "pattern" and field == "at":
        return f"{show(value)} is not an ISO 8601 date-time with a UTC offset, e.g. '2026-11-20T10:00:00Z'"
    if keyword == "pattern" and field in ("id", "split_from") or keyword == "pattern" and isinstance(field, int):
        return f"{show(value)} is not a category id ('c' and up to 6 digits, e.g. 'c12')"
    if keyword == "pattern":
        return f"{show(value)} is not a valid category name ({NAME_RULE})"
    return _cut(error.message, 200)  # jsonschema's message quotes the value whole


_TYPE_WORDS = {
    "integer": "an integer", "string": "a string", "array": "a list", "object": "a mapping",
    "null": "null", "number": "a number", "boolean": "true/false",
}


def _type_word(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)


def show(value: Any) -> str:
    """A short, readable rendering of a value from the file (null/true/false as written, long values cut).

    The rendering is bounded before it is built (reprlib), so a huge or deeply nested value costs nothing."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cut(_SHORT_REPR.repr(value), 60)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 3, 60, 60
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 6
