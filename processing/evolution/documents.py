"""The documents of a review: the proposal `tweetops evolve` wrote and the analyst's decisions file, read as
carefully as category maps (size and depth bounds, safe YAML) and checked against each other, every problem one line
naming the decision and what to fix. processing.evolution.review applies them."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Mapping

from processing.category_map import NAME_PATTERN, NAME_RULE, CategoryMap, CategoryMapError, _parse as _parse_document
from processing.category_map_validation import show
from processing.ingest import json_too_deep

PROPOSAL_SCHEMA = "tweetops.evolution.proposal/1"
PROPOSAL_ID = re.compile(r"^prop-[0-9a-f]{16}$")
# A decisions file is a few lines per change; a proposal carries up to 2,000 map points and a few messages per
# cluster. These bound what a hostile file costs before it is parsed.
MAX_DECISIONS_BYTES = 1 << 20
MAX_PROPOSAL_BYTES = 64 << 20
MAX_PROPOSAL_DEPTH = 32
CHANGE_ACTIONS = ("accept", "reject", "discard")
EXTRA_ACTIONS = ("rename", "merge", "split", "discard")
DEFAULTS = ("accept", "reject")
MAX_REASON_CHARS = 2000  # the changelog's limit (category_map.schema.json)
# Which keys each decision may carry, by the kind of the proposal change it decides (or its own action).
CHANGE_KEYS = {"new": {"name"}, "split": {"names"}, "merge": {"name"}, "gone": set(), "absorbed": set()}
EXTRA_KEYS = {"rename": {"category", "name"}, "merge": {"categories", "name"}, "split": {"category", "clusters"},
              "discard": {"cluster"}}


class ReviewError(ValueError):
    """A decisions document or proposal that cannot be applied; the message is one line saying what to fix."""


class StaleProposal(ReviewError):
    """The proposal was made against another category map than the current one."""


# ---------------------------------------------------------------------------------------------------- reading


def parse_decisions(text: str, source: str | PurePath = "decisions") -> dict:
    """The raw decisions document of a YAML or JSON text, read as category maps are (safe YAML, no aliases,
    no duplicate keys, bounded depth); its content is checked by apply_decisions."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DECISIONS_BYTES:
        raise ReviewError(f"{source}: larger than {MAX_DECISIONS_BYTES >> 20} MiB; a decisions file is a few lines "
                          "per change")
    path = PurePath(str(source))
    is_json = path.suffix.lower() == ".json" or text.lstrip("\ufeff \t\r\n").startswith("{")
    try:
        doc = _parse_document(text, is_json, path)
    except CategoryMapError as error:
        raise ReviewError(str(error).replace("a category map", "a decisions file")) from None
    if not isinstance(doc, dict):
        raise ReviewError(f"{source}: a decisions file is a mapping with proposal, reviewer and decisions; "
                          f"found {show(doc)}")
    return doc


def parse_proposal(data: bytes | str, source: str | PurePath = "proposal.json") -> dict:
    """A proposal.json document, with the shape apply_decisions relies on checked (ReviewError otherwise)."""
    if len(data) > MAX_PROPOSAL_BYTES:
        raise ReviewError(f"{source}: larger than {MAX_PROPOSAL_BYTES >> 20} MiB; not a proposal")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if json_too_deep(text, MAX_PROPOSAL_DEPTH):
            raise ReviewError(f"{source}: nested deeper than {MAX_PROPOSAL_DEPTH} levels; not a proposal")
        doc = json.loads(text)
    except UnicodeDecodeError as error:
        raise ReviewError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except ValueError as error:
        if isinstance(error, ReviewError):
            raise
        raise ReviewError(f"{source}: not JSON ({error})") from None
    problem = _proposal_problem(doc)
    if problem:
        raise ReviewError(f"{source}: {problem}")
    return doc


def _proposal_problem(doc: Any) -> str | None:
    """The first thing that makes `doc` unusable as a proposal, or None."""
    if not isinstance(doc, dict) or doc.get("schema") != PROPOSAL_SCHEMA:
        return f"not an evolution proposal (schema {PROPOSAL_SCHEMA!r} expected)"
    if not isinstance(doc.get("proposal_id"), str) or not PROPOSAL_ID.match(doc["proposal_id"]):
        return f"proposal_id {show(doc.get('proposal_id'))} is not 'prop-' and 16 hex digits"
    base = doc.get("base_map")
    if not (isinstance(base, dict) and _is_int(base.get("version")) and isinstance(base.get("hash"), str)):
        return "base_map needs a version (integer) and a hash"
    if not isinstance(doc.get("clustering_run"), str) or not doc["clustering_run"].strip():
        return "clustering_run is missing"
    shapes = {"fine_clusters": ("cluster", "group", "size"), "clusters": ("cluster", "fine_clusters", "size"),
              "categories": ("id", "name", "status", "clusters"), "changes": ("change", "kind")}
    for key, required in shapes.items():
        items = doc.get(key)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return f"{key} is not a list of mappings"
        for i, item in enumerate(items):
            missing = [name for name in required if name not in item]
            if missing:
                return f"{key}[{i}] lacks {', '.join(missing)}"
    for i, item in enumerate(doc["fine_clusters"]):
        if not all(_is_int(item[k]) for k in ("cluster", "group", "size")) or not isinstance(
                item.get("assigned", {}), dict):
            return f"fine_clusters[{i}]: cluster, group and size must be integers and assigned a mapping"
    for i, item in enumerate(doc["clusters"]):
        if not _is_int(item["cluster"]) or not isinstance(item["fine_clusters"], list) or not all(
                _is_int(f) for f in item["fine_clusters"]):
            return f"clusters[{i}]: cluster must be an integer and fine_clusters a list of integers"
    fine = [item["cluster"] for item in doc["fine_clusters"]]
    listed = [f for item in doc["clusters"] for f in item["fine_clusters"]]
    if len(set(fine)) != len(fine) or sorted(listed) != sorted(fine):
        return "every fine cluster must belong to exactly one of the proposal's clusters"
    kinds = {"new", "split", "merge", "gone", "absorbed"}
    for i, change in enumerate(doc["changes"]):
        if change["kind"] not in kinds:
            return f"changes[{i}]: kind {show(change['kind'])} is not one of {', '.join(sorted(kinds))}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_base(proposal: Mapping, current_map: CategoryMap) -> None:
    """Refuse (StaleProposal) a proposal made against another map than `current_map`."""
    base = proposal["base_map"]
    if base["hash"] != current_map.content_hash:
        raise StaleProposal(
            f"proposal {proposal['proposal_id']} was made against category map version {base['version']} "
            f"(hash {str(base['hash'])[:12]}); the current map is version {current_map.version} "
            f"(hash {current_map.content_hash[:12]}); run evolve again on the current map")


# ------------------------------------------------------------------------------------------- checking decisions


@dataclass
class ProposalIndex:
    """The parts of a proposal the rules read, indexed."""

    doc: Mapping
    fine_of_group: dict[int, list[int]]
    size_of_fine: dict[int, int]
    assigned: dict[int, dict[str, int]]  # fine cluster -> {base category key: messages the classifier put there}
    group: dict[int, Mapping]
    category: dict[str, Mapping]  # base key -> the proposal's verdict on that category
    changes: dict[str, Mapping]

    @classmethod
    def of(cls, doc: Mapping) -> ProposalIndex:
        return cls(doc,
                   {int(g["cluster"]): [int(f) for f in g["fine_clusters"]] for g in doc["clusters"]},
                   {int(f["cluster"]): int(f["size"]) for f in doc["fine_clusters"]},
                   {int(f["cluster"]): {str(k): int(v) for k, v in (f.get("assigned") or {}).items()}
                    for f in doc["fine_clusters"]},
                   {int(g["cluster"]): g for g in doc["clusters"]},
                   {str(c["id"]): c for c in doc["categories"]},
                   {str(c["change"]): c for c in doc["changes"]})

    def size(self, fines) -> int:
        return sum(self.size_of_fine.get(f, 0) for f in fines)


def check_decisions(doc: Any, prop: ProposalIndex, default: str | None) -> tuple[dict[str, dict], list[dict]]:
    """The decisions on the proposal's changes (by change id, undecided ones defaulted) and the other decisions,
    each checked, with errors naming the decision's index."""
    if not isinstance(doc, Mapping):
        raise ReviewError(f"a decisions document is a mapping with proposal, reviewer and decisions; found {show(doc)}")
    unknown = set(doc) - {"proposal", "reviewer", "decisions"}
    if unknown:
        raise ReviewError(f"unknown field(s) {', '.join(map(show, sorted(unknown, key=str)))} "
                          "(allowed: proposal, reviewer, decisions)")
    proposal_id = prop.doc["proposal_id"]
    if doc.get("proposal") != proposal_id:
        raise ReviewError(f"proposal: {show(doc.get('proposal'))} is not this proposal's id {proposal_id}; "
                          "these decisions were written for another proposal")
    items = doc.get("decisions", [])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ReviewError(f"decisions: {show(items)} is not a list")
    on_changes: dict[str, dict] = {}
    extras: list[dict] = []
    for i, item in enumerate(items):
        where = f"decisions[{i}]"
        if not isinstance(item, Mapping):
            raise ReviewError(f"{where}: {show(item)} is not a mapping")
        if "change" in item:
            change_id = item["change"]
            where += f" (change {show(change_id)})"
            if not isinstance(change_id, str) or change_id not in prop.changes:
                raise ReviewError(f"{where}: no such change in proposal {proposal_id} "
                                  f"(its changes: {', '.join(prop.changes) or 'none'})")
            if change_id in on_changes:
                raise ReviewError(f"{where}: decided twice (decisions[{on_changes[change_id]['index']}])")
            on_changes[change_id] = _checked_change(where, item, prop.changes[change_id]) | {"index": i}
        else:
            extras.append(_checked_extra(where, item, prop) | {"index": i})
    undecided = [c for c in prop.changes if c not in on_changes]
    if undecided and default is None:
        raise ReviewError(f"{len(undecided)} change(s) left undecided: {', '.join(undecided)}; add a decision "
                          "for each (action accept, reject or discard), or pass --accept-all or --default "
                          "accept|reject")
    for change_id in undecided:
        on_changes[change_id] = {"action": default, "index": None}
    return on_changes, extras


def _checked_change(where: str, item: Mapping, change: Mapping) -> dict:
    """A decision on one proposed change: its action and the fields its kind allows."""
    action, kind = item.get("action"), change["kind"]
    if action not in CHANGE_ACTIONS:
        raise ReviewError(f"{where}: action {show(action)} is not one of {', '.join(CHANGE_ACTIONS)}")
    if action == "discard" and kind != "new":
        raise ReviewError(f"{where}: discard applies to a new candidate; to drop a window cluster's messages write "
                          "{action: discard, cluster: <n>}")
    _no_unknown_keys(where, item, {"change", "action", "reason"} | CHANGE_KEYS[kind])
    checked = {"action": action, "reason": _reason(where, item)}
    if "name" in item:
        checked["name"] = _name(f"{where}: name", item["name"])
    if "names" in item:
        parts = [int(c) for c in change.get("clusters", [])]
        checked["names"] = _cluster_names(f"{where}: names", item["names"], parts)
    return checked


def _checked_extra(where: str, item: Mapping, prop: ProposalIndex) -> dict:
    """A decision beyond the proposal (rename, merge, split, discard) with its fields checked."""
    action = item.get("action")
    if action not in EXTRA_ACTIONS:
        raise ReviewError(f"{where}: action {show(action)} is not one of {', '.join(EXTRA_ACTIONS)} (a decision "
                          "without `change` edits the map beyond the proposal)")
    where += f" ({action})"
    _no_unknown_keys(where, item, {"action", "reason"} | EXTRA_KEYS[action])
    missing = [key for key in sorted(EXTRA_KEYS[action]) if key not in item and not (key == "name" and action ==
                                                                                     "merge")]
    if missing:
        raise ReviewError(f"{where}: missing {', '.join(missing)}")
    checked = {"action": action, "reason": _reason(where, item)}
    if "category" in item:
        checked["category"] = _id(f"{where}: category", item["category"])
    if "name" in item:
        checked["name"] = _name(f"{where}: name", item["name"])
    if action == "merge":
        ids = item["categories"]
        if not isinstance(ids, list) or len(ids) < 2:
            raise ReviewError(f"{where}: categories must list at least two category ids, got {show(ids)}")
        checked["categories"] = [_id(f"{where}: categories[{k}]", value) for k, value in enumerate(ids)]
        if len(set(checked["categories"])) < len(ids):
            raise ReviewError(f"{where}: categories lists a category twice")
    if action == "split":
        checked["clusters"] = _cluster_names(f"{where}: clusters", item["clusters"], list(prop.fine_of_group))
        if len(set(checked["clusters"].values())) < 2:
            raise ReviewError(f"{where}: a split needs at least two names")
    if action == "discard":
        checked["cluster"] = _group_key(f"{where}: cluster", item["cluster"], list(prop.fine_of_group))
    return checked


def _no_unknown_keys(where: str, item: Mapping, allowed: set[str]) -> None:
    unknown = [key for key in item if key not in allowed]
    if unknown:
        raise ReviewError(f"{where}: unknown field(s) {', '.join(map(show, unknown))} "
                          f"(allowed: {', '.join(sorted(allowed))})")


def _reason(where: str, item: Mapping) -> str | None:
    reason = item.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise ReviewError(f"{where}: reason must be text of at most {MAX_REASON_CHARS} characters")
    return " ".join(reason.split()) if reason else None


def _name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ReviewError(f"{where}: {show(value)} is not a valid category name ({NAME_RULE})")
    return value


def _id(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ReviewError(f"{where}: {show(value)} is not a category id (e.g. 'c3')")
    return value


def _group_key(where: str, value: Any, groups: list[int]) -> int:
    """A window cluster number from a YAML int or a JSON string key, one of `groups`."""
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if not _is_int(number) or number not in groups:
        raise ReviewError(f"{where}: {show(value)} is not one of the window clusters "
                          f"{', '.join(map(str, sorted(groups)))}")
    return number


def _cluster_names(where: str, value: Any, groups: list[int]) -> dict[int, str]:
    if not isinstance(value, Mapping) or not value:
        raise ReviewError(f"{where}: must map window cluster numbers to names, e.g. {{2: card_lost}}")
    names = {_group_key(where, key, groups): _name(f"{where}[{key}]", name) for key, name in value.items()}
    if len(names) < len(value):
        raise ReviewError(f"{where}: a window cluster is named twice")
    return names
