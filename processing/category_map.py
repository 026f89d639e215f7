"""The category map: the analyst's file saying which clusters of one clustering run form which business category.

Pseudo-labels for training are each message's cluster mapped through the map, and the map's content hash travels
into the model package metadata. The file format and its rules are documented in docs/category_map.md and in
category_map.schema.json (shipped beside this module).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
import re
import stat
import sys
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import yaml

from processing.category_map_validation import (DEFAULT_DISCARD_CATEGORY, NAME_RULE, CategoryMapError,  # noqa: F401
                                                category_map_schema, document_problems, parse_review_time, show)
from processing.ingest import json_too_deep

NAME_MAX_CHARS = 64
# Kept in step with $defs.category_name in the schema file (a test checks they agree).
NAME_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,63}$")
# Stable category ids ("c12"): they survive renames and map versions (docs/category_map.md, "Identity and lineage").
ID_PATTERN = re.compile(r"^c[0-9]{1,6}$")
# How many words a drafted category name is built from ("pago_tarjeta_cobro").
DRAFT_NAME_TERMS = 3
# Negations are kept in the features (they separate intents) but say nothing as a name's word.
NAME_FILLER_WORDS = frozenset({"not", "no", "nor", "ni"})
# A map is a small hand-edited file (a few KiB per hundred categories); these bound what a hostile one can cost.
MAX_MAP_BYTES = 4 << 20
MAX_MAP_DEPTH = 64  # a map document is four levels deep


# --------------------------------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Review:
    """Who reviewed a map and when (`at` is timezone-aware and normalised to UTC)."""

    by: str
    at: datetime

    def __post_init__(self) -> None:
        if isinstance(self.at, datetime) and self.at.tzinfo is not None:
            object.__setattr__(self, "at", self.at.astimezone(timezone.utc))


@dataclass(frozen=True)
class Category:
    """One entry of the map's `categories` list: a name, what it means, and the clusters that form it."""

    name: str
    description: str
    clusters: tuple[int, ...]
    id: str | None = None  # stable across renames and versions ("c12"); None in maps written before ids
    lineage: Mapping[str, Any] | None = None  # split_from, merged_from, renamed_from, new_in

    def __post_init__(self) -> None:
        # Callers may pass lists or numpy ints (cluster labels from sklearn); store plain ints in a tuple.
        object.__setattr__(self, "clusters", tuple(int(c) if isinstance(c, np.integer) else c for c in self.clusters))

    def to_dict(self) -> dict[str, Any]:
        """The entry as the file writes it (id and lineage only when set)."""
        entry: dict[str, Any] = {} if self.id is None else {"id": self.id}
        entry |= {"name": self.name, "description": self.description, "clusters": list(self.clusters)}
        if self.lineage:
            entry["lineage"] = {key: list(value) if isinstance(value, (list, tuple)) else value
                                for key, value in self.lineage.items()}
        return entry


@dataclass(frozen=True)
class CategoryMap:
    """A validated category map; constructing one runs the same checks as loading a file."""

    version: int
    clustering_run: str
    entries: tuple[Category, ...]  # the file's `categories` list, in file order (discard category included)
    reviewed: Review | None = None
    discard_category: str | None = DEFAULT_DISCARD_CATEGORY  # None: no cluster is dropped from training
    previous: Mapping[str, Any] | None = None  # {version, hash} of the map this version was reviewed from
    changelog: tuple[Mapping[str, Any], ...] = ()  # what each reviewed version changed, by whom, when, why

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "changelog", tuple(self.changelog))
        problems = document_problems(self.to_dict())
        if problems:
            raise CategoryMapError(problems)

    @property
    def is_reviewed(self) -> bool:
        """False for an auto-drafted map nobody has signed off."""
        return self.reviewed is not None

    @property
    def categories(self) -> tuple[str, ...]:
        """Names of the categories a classifier is trained on (file order, discard category excluded)."""
        return tuple(e.name for e in self.entries if e.name != self.discard_category)

    @cached_property
    def cluster_to_category(self) -> Mapping[int, str]:
        """Read-only cluster id -> category name, discarded clusters included (mapped to the discard name)."""
        return MappingProxyType({c: e.name for e in self.entries for c in e.clusters})

    def category_id(self, name: str) -> str:
        """The stable id of the category called `name` (its name, in a map written before ids)."""
        for entry in self.entries:
            if entry.name == name:
                return entry.id or entry.name
        raise KeyError(f"category map version {self.version} has no category {name!r}")

    @property
    def ids(self) -> dict[str, str]:
        """Category name -> stable id, for every entry (discard category included)."""
        return {e.name: e.id or e.name for e in self.entries}

    @property
    def discarded_clusters(self) -> frozenset[int]:
        """Clusters whose messages are dropped from training."""
        return frozenset(c for e in self.entries if e.name == self.discard_category for c in e.clusters)

    @cached_property
    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON form: blind to YAML formatting, comments, key and list order."""
        canonical = json.dumps(self._canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _canonical(self) -> dict[str, Any]:
        """Everything the map says, with the order the analyst happened to write things in removed."""
        return {
            "version": self.version,
            "clustering_run": self.clustering_run,
            "reviewed": _review_to_dict(self.reviewed),
            "discard_category": self.discard_category,
            "categories": sorted(
                ({**e.to_dict(), "clusters": sorted(e.clusters)} for e in self.entries),
                key=lambda entry: entry["name"],
            ),
            # Only when present, so that the hash of a map written before lineage existed does not change.
            **({"previous": dict(self.previous)} if self.previous else {}),
            **({"changelog": [dict(item) for item in self.changelog]} if self.changelog else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The file's document (plain JSON types, file key order), as save_category_map writes it."""
        doc: dict[str, Any] = {
            "version": self.version,
            "clustering_run": self.clustering_run,
            "reviewed": _review_to_dict(self.reviewed),
        }
        # The default discard name is written only when a category uses it, so a draft map stays minimal and an
        # explicit discard_category in a file always names a listed category (a typo there is an error).
        if self.discard_category != DEFAULT_DISCARD_CATEGORY or self.discard_category in self._names():
            doc["discard_category"] = self.discard_category
        if self.previous:
            doc["previous"] = dict(self.previous)
        doc["categories"] = [e.to_dict() for e in self.entries]
        if self.changelog:
            doc["changelog"] = [dict(item) for item in self.changelog]
        return doc

    def _names(self) -> list[str]:
        return [e.name for e in self.entries]


def _review_to_dict(review: Review | None) -> dict[str, str] | None:
    """The `reviewed` mapping with `at` as an ISO 8601 UTC string ending in Z."""
    if review is None:
        return None
    at = review.at
    if isinstance(at, datetime) and at.tzinfo is not None:
        at_text = at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    else:  # naive or not a datetime: left as is, so validation reports it
        at_text = at.isoformat() if isinstance(at, datetime) else at
    return {"by": review.by, "at": at_text}



# ------------------------------------------------------------------------------------------------- load & save


def load_category_map(path: str | os.PathLike) -> CategoryMap:
    """Read, validate and return the map in a .yaml/.yml or .json file; any problem raises CategoryMapError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MAP_BYTES:
            raise CategoryMapError(f"{path.stat().st_size} bytes is too large for a category map "
                                   f"(limit {MAX_MAP_BYTES >> 20} MiB)", path)
        data = path.read_bytes()
    except OSError as exc:
        raise CategoryMapError(f"cannot read the file ({exc.strerror or exc})", path) from exc
    return parse_category_map(data, path)


def parse_category_map(data: bytes, source: str | os.PathLike) -> CategoryMap:
    """Validate and return the map in `data` (the bytes of a file or an S3 object named `source`, whose extension
    says YAML or JSON); any problem raises CategoryMapError naming `source`."""
    path = Path(str(source))
    if len(data) > MAX_MAP_BYTES:
        raise CategoryMapError(f"{len(data)} bytes is too large for a category map (limit {MAX_MAP_BYTES >> 20} MiB)",
                               source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CategoryMapError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source) from exc
    doc = _parse(text, _is_json(path, text), source)
    problems = document_problems(doc)
    if problems:
        raise CategoryMapError(problems, source)
    return _from_document(doc)


def _is_json(path: Path, text: str) -> bool:
    """JSON by extension; for other extensions, by content (a JSON map starts with '{')."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return False
    return suffix == ".json" or text.lstrip("\ufeff \t\r\n").startswith("{")


def _parse(text: str, is_json: bool, path: Path | str) -> Any:
    """The raw document, with syntax errors turned into CategoryMapError naming line and column."""
    too_deep = f"nested deeper than {MAX_MAP_DEPTH} levels; a category map is four levels deep"
    if is_json:
        if json_too_deep(text, MAX_MAP_DEPTH):  # checked without recursing, before the recursive parser runs
            raise CategoryMapError(f"invalid JSON: {too_deep}", path)
        try:
            return json.loads(text, object_pairs_hook=_json_object_without_duplicates)
        except json.JSONDecodeError as exc:
            raise CategoryMapError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", path) from exc
        except _DuplicateKeyError as exc:
            raise CategoryMapError(str(exc), path) from exc
        except RecursionError:  # not reached after the depth check; kept so no parser change can crash a load
            raise CategoryMapError(f"invalid JSON: {too_deep}", path) from None
        except ValueError:  # the one other failure of json.loads on text: an integer too long to convert
            raise CategoryMapError(f"invalid JSON: a number has more than {sys.get_int_max_str_digits()} digits",
                                   path) from None
    try:
        return yaml.load(text, Loader=_MapYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CategoryMapError(f"invalid YAML{where}: {exc.problem or exc.context}", path) from exc
    except yaml.YAMLError as exc:
        raise CategoryMapError(f"invalid YAML: {exc}", path) from exc


class _DuplicateKeyError(ValueError):
    pass


def _json_object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys; an analyst's second `clusters` would silently win.
    keys = [k for k, _ in pairs]
    repeated = [k for k, count in Counter(keys).items() if count > 1]
    if repeated:
        raise _DuplicateKeyError(f"duplicate key {show(repeated[0])} in one JSON object")
    return dict(pairs)


class _MapYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (the schema checks them), rejects duplicate keys, aliases and
    nesting deeper than MAX_MAP_DEPTH."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # An alias repeats a value without writing it again: nested aliases expand exponentially ("billion
        # laughs"). A map has no use for them, so none is expanded. Composing recurses once per level, hence
        # the depth bound.
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a category map; "
                                              "write the value out", self.peek_event().start_mark)
        if self._depth >= MAX_MAP_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_MAP_DEPTH} levels; a category "
                                              "map is four levels deep", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_MapYamlLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # PyYAML keeps the last of two equal keys; an analyst's second `clusters:` would silently win.
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        with contextlib.suppress(TypeError):  # unhashable keys are reported by construct_mapping itself
            if key in seen:
                raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                        f"found duplicate key {show(key)}", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node)


_MapYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates)


def _from_document(doc: dict[str, Any]) -> CategoryMap:
    """A CategoryMap from a document that has passed validation."""
    reviewed = doc.get("reviewed")
    return CategoryMap(
        version=doc["version"],
        clustering_run=doc["clustering_run"],
        entries=tuple(Category(e["name"], e["description"], tuple(e["clusters"]), e.get("id"), e.get("lineage"))
                      for e in doc["categories"]),
        reviewed=None if reviewed is None else Review(reviewed["by"], parse_review_time(reviewed["at"])),
        discard_category=doc.get("discard_category", DEFAULT_DISCARD_CATEGORY),
        previous=doc.get("previous"),
        changelog=tuple(doc.get("changelog") or ()),
    )


def save_category_map(cmap: CategoryMap, path: str | os.PathLike) -> Path:
    """Write the map atomically: JSON for a .json path, otherwise YAML with a header saying how to edit it."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(cmap.to_dict(), indent=2, ensure_ascii=False) + "\n"
    else:
        body = yaml.dump(cmap.to_dict(), Dumper=_MapYamlDumper, sort_keys=False, allow_unicode=True, width=100)
        text = _yaml_header(cmap) + body
    _write_atomically(path, text)
    return path


def _yaml_header(cmap: CategoryMap) -> str:
    """The comment block at the top of a saved YAML map (comments do not change the content hash)."""
    lines = [
        "tweetops category map: which clusters of `clustering_run` form which business category.",
        "Format: docs/category_map.md. To edit: move cluster ids between categories, merge categories by",
        "joining their cluster lists, rename them (a-z, 0-9, '_' and '-'; at most 64 characters) and describe them.",
    ]
    if cmap.discard_category is not None:
        lines.append(f"Clusters in a category named {cmap.discard_category!r} are dropped from training (noise, spam).")
    lines += [
        "When done, bump `version` and set",
        "reviewed: {by: <you>, at: '<UTC time, e.g. 2026-11-20T10:00:00Z>'}",
    ]
    if not cmap.is_reviewed:
        lines.append("UNREVIEWED DRAFT (reviewed: null): fine for experiments; review it before a production model.")
    return "".join(f"# {line}\n" for line in lines)


class _MapYamlDumper(yaml.SafeDumper):
    """SafeDumper that indents block lists and writes lists of scalars inline (`clusters: [0, 7]`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    inline = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_MapYamlDumper.add_representer(list, _represent_list)


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temp file beside `path`, then rename over it, so readers never see a half-written map."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file owner-only; a map is a shared, human-edited file, so keep the old mode or 644.
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


# ------------------------------------------------------------------------------------------------------- draft


def draft_category_map(groups: Mapping[int, Sequence[str]] | Sequence[tuple[Sequence[int], Sequence[str]]],
                       clustering_run: str) -> CategoryMap:
    """The unreviewed starting map, version 1: one category per group of clusters (a list of (clusters, top
    terms), as discovery proposes them) or per cluster (a {cluster: top terms} mapping), with ids c1, c2, ...
    and readable names made from the top terms."""
    if isinstance(groups, Mapping):
        groups = [((_cluster_id(k),), list(v)) for k, v in sorted(groups.items(), key=lambda kv: _cluster_id(kv[0]))]
    taken: set[str] = set()
    entries = []
    for number, (clusters, terms) in enumerate(groups, 1):
        clusters = tuple(sorted(int(c) for c in clusters))
        fallback = f"cluster_{clusters[0]}" if len(clusters) == 1 else f"category_{number}"
        name = _unique_name(readable_name(terms) or fallback, taken)
        listed = ", ".join(terms) if terms else "none"
        origin = f"cluster {clusters[0]}" if len(clusters) == 1 else f"clusters {_ranges(list(clusters))}"
        entries.append(Category(name, f"Auto-drafted from {origin}; top terms: {listed}", clusters, f"c{number}"))
    return CategoryMap(version=1, clustering_run=clustering_run, entries=tuple(entries), reviewed=None)


def next_category_id(cmap: CategoryMap) -> str:
    """The id a new category gets: 'c' + one more than the highest number any entry or changelog ever used, so a
    retired id is never given to another category."""
    used = [e.id for e in cmap.entries if e.id] + [item.get("category") for item in cmap.changelog]
    numbers = [int(value[1:]) for value in used if isinstance(value, str) and ID_PATTERN.match(value)]
    return f"c{max(numbers, default=0) + 1}"


def _cluster_id(key: Any) -> int:
    """A cluster id from a dict key: ints (numpy too) or digit strings, as cluster summaries read from JSON have."""
    if isinstance(key, str) and re.fullmatch(r"-?\d+", key.strip()):
        return int(key)
    try:
        return operator.index(key)
    except TypeError:
        raise CategoryMapError(f"cluster_top_terms: key {key!r} is not a cluster id (an integer)") from None


def readable_name(terms: Sequence[str]) -> str:
    """A category name from top terms: their words in order, each word once, at most DRAFT_NAME_TERMS words,
    ASCII ('top up', 'top', 'cancel' -> 'top_up_cancel'); '' when no term has a usable word."""
    words: list[str] = []
    for term in terms:
        for word in _slug(str(term)).split("_"):
            if word and word not in words and word not in NAME_FILLER_WORDS:
                words.append(word)
            if len(words) == DRAFT_NAME_TERMS:
                break
        if len(words) == DRAFT_NAME_TERMS:
            break
    # Leave room for a de-duplication suffix ("_12") within NAME_MAX_CHARS.
    return "_".join(words)[: NAME_MAX_CHARS - 4].strip("_")


def _slug(term: str) -> str:
    """'Facturación  Doble!' -> 'facturacion_doble': accents dropped, anything else outside a-z0-9 becomes '_'."""
    ascii_text = unicodedata.normalize("NFKD", term).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def _unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, ... when taken; records the result as taken."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


# ------------------------------------------------------------------------------------------- applying the map


def pseudo_labels(
    clusters: Sequence[int] | np.ndarray,
    cmap: CategoryMap,
    *,
    unmapped: Literal["error", "discard"] = "error",
) -> np.ndarray:
    """Category name per message (object array); None for messages dropped from training.

    Messages in discarded clusters always get None. Messages in clusters the map does not mention raise
    CategoryMapError listing those clusters and their message counts (unmapped="error"), or get None
    (unmapped="discard").
    """
    if unmapped not in ("error", "discard"):
        raise ValueError(f"unmapped must be 'error' or 'discard', not {unmapped!r}")
    ids = np.asarray(clusters)
    if ids.ndim != 1:
        raise ValueError(f"clusters must be one cluster id per message (1-D), got shape {ids.shape}")
    if ids.size == 0:
        return np.empty(0, dtype=object)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"cluster ids must be integers, got dtype {ids.dtype}")
    distinct, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    mapping = cmap.cluster_to_category
    missing = [(int(c), int(n)) for c, n in zip(distinct, counts) if int(c) not in mapping]
    if missing and unmapped == "error":
        listed = ", ".join(f"cluster {c} ({n} message{'s' if n != 1 else ''})" for c, n in missing)
        raise CategoryMapError(
            f"{len(missing)} cluster{'s are' if len(missing) != 1 else ' is'} not in the category map "
            f"(version {cmap.version}, clustering run {cmap.clustering_run!r}): {listed}; map them to a category, "
            f"or pass unmapped='discard' to drop their messages from training")
    label_of_distinct = np.empty(len(distinct), dtype=object)
    for i, cluster in enumerate(distinct):
        category = mapping.get(int(cluster))
        label_of_distinct[i] = None if category == cmap.discard_category else category
    return label_of_distinct[inverse.reshape(-1)]


def check_against_clusters(
    cmap: CategoryMap,
    cluster_ids: Iterable[int],
    *,
    clustering_run: str | None = None,
) -> list[int]:
    """Check the map fits a clustering; return that clustering's clusters the map leaves unmapped (sorted).

    Raises CategoryMapError when the map names clusters the clustering does not have, or, if `clustering_run`
    is given, when the map was written for a different clustering run.
    """
    if clustering_run is not None and clustering_run != cmap.clustering_run:
        raise CategoryMapError(
            f"the category map (version {cmap.version}) was written for clustering run {cmap.clustering_run!r}, "
            f"not {clustering_run!r}; its cluster numbers would mean different clusters")
    known = {int(c) for c in cluster_ids}
    unknown = sorted(set(cmap.cluster_to_category) - known)
    if unknown:
        owners = ", ".join(f"{c} (in {cmap.cluster_to_category[c]!r})" for c in unknown)
        raise CategoryMapError(
            f"the category map (version {cmap.version}) names cluster{'s' if len(unknown) > 1 else ''} {owners} "
            f"that clustering run {cmap.clustering_run!r} does not have (its clusters: {_ranges(sorted(known))})")
    return sorted(known - set(cmap.cluster_to_category))


def _ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5': a readable list of cluster ids."""
    runs: list[list[int]] = []
    for cluster in ids:
        if runs and cluster == runs[-1][1] + 1:
            runs[-1][1] = cluster
        else:
            runs.append([cluster, cluster])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs) or "none"


def find_category_map(path: str | Path) -> Path | None:
    """The map file itself, or the one map (*.yaml, *.yml, *.json) in a folder; None for a folder without one."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such category map file or folder")
    maps = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json"))
    named = [p for p in maps if p.stem.startswith("category_map")]
    maps = named or maps  # a clustering output folder also holds clusters.json: its category_map.yaml is the map
    if len(maps) > 1:
        raise ValueError(f"{path}: several category maps {[p.name for p in maps]}; keep one")
    return maps[0] if maps else None
