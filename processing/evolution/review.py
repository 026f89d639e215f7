"""The analyst's review of an evolution proposal: a decisions document applied to the proposal and the map it was
made against gives category map version N+1 (stable ids, lineage, changelog, reviewer and time).

Pure: documents in, a CategoryMap out. `tweetops review` (pipelines/review_cli.py) and the AWS Lambda handler
(pipelines/review_lambda.py) read the files and call `apply_decisions`; reading and checking the two documents is
processing/evolution/documents.py. The decisions format and the rules are in
docs/evolution.md ("Review").

Lineage in map N+1 says how each category came out of version N (split from, merged from, renamed from, new in N+1);
the changelog keeps every version's decisions, so the history survives while lineage stays one step deep.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from processing.category_map import (DEFAULT_DISCARD_CATEGORY, NAME_PATTERN, Category, CategoryMap, CategoryMapError,
                                     Review, next_category_id, readable_name)
from processing.category_map_validation import show
# Re-exported: the review's one public surface for the CLI and the Lambda (reading lives in documents.py).
from processing.evolution.documents import (DEFAULTS, MAX_DECISIONS_BYTES, MAX_PROPOSAL_BYTES,  # noqa: F401
                                            PROPOSAL_SCHEMA, ProposalIndex, ReviewError, StaleProposal, check_base,
                                            check_decisions, parse_decisions, parse_proposal)


@dataclass
class _Draft:
    """Map N+1 while the decisions are applied: categories by id, their fine clusters, what was retired."""

    version: int
    categories: dict[str, dict] = field(default_factory=dict)  # id -> {name, description, fine, lineage, base_name}
    retired: dict[str, str] = field(default_factory=dict)  # id -> the id it went into ("" when retired outright)
    discarded: set[int] = field(default_factory=set)
    next_number: int = 1

    def new_id(self) -> str:
        self.next_number += 1
        return f"c{self.next_number - 1}"

    def owner(self, fine: int) -> str | None:
        return next((cid for cid, cat in self.categories.items() if fine in cat["fine"]), None)

    def move(self, fines, to: str | None) -> None:
        """Put fine clusters in category `to` (None: discarded), out of wherever they were."""
        for cat in self.categories.values():
            cat["fine"] -= set(fines)
        self.discarded -= set(fines)
        (self.discarded if to is None else self.categories[to]["fine"]).update(fines)

    def active(self, cid: str) -> str | None:
        """The id a base category's messages now go to: itself, the category it was merged into, or None."""
        while cid in self.retired:
            cid = self.retired[cid]
        return cid if cid in self.categories else None


def apply_decisions(proposal: Mapping, base_map: CategoryMap, decisions: Mapping, *, reviewer: str | None,
                    at: datetime, current_map: CategoryMap | None = None,
                    default: str | None = None) -> tuple[CategoryMap, list[dict]]:
    """Category map version base+1 from the analyst's decisions on `proposal`, and this version's changelog entries.

    `base_map` is the map the proposal was made against; it must be `current_map` (default: itself), else the
    proposal is refused. `default` ("accept" or "reject") decides the changes the document leaves undecided.
    """
    check_base(proposal, base_map)
    if current_map is not None:
        check_base(proposal, current_map)
    if at.tzinfo is None:
        raise ReviewError("the review time must carry a time zone (UTC)")
    if default not in (None, *DEFAULTS):
        raise ReviewError(f"default must be accept or reject, not {default!r}")
    prop = ProposalIndex.of(proposal)
    on_changes, extras = check_decisions(decisions, prop, default)
    by = _reviewer(decisions, reviewer)
    draft, key_to_id = _start(prop, base_map)
    log: list[dict] = []
    stamp = {"version": base_map.version + 1, "at": _utc_text(at), "by": by}

    def record(action: str, **fields) -> None:
        log.append(stamp | {"action": action} | {k: v for k, v in fields.items() if v not in (None, "")})

    # Splits and merges first, so a rejected new candidate's messages follow the categories as they end up; an
    # absorbed category last, so that it may keep what rejected candidates gave it.
    order = {"split": 0, "merge": 1, "gone": 2, "new": 3, "absorbed": 4}
    for change_id, decision in sorted(on_changes.items(), key=lambda item: order[prop.changes[item[0]]["kind"]]):
        _apply_change(draft, prop, key_to_id, prop.changes[change_id], decision, record)
    for decision in extras:
        _apply_extra(draft, prop, decision, record)
    cmap = _finish(draft, prop, base_map, by, at, log)
    return cmap, log


def proposal_outcome(entries: list[dict]) -> str:
    """'rejected' when the analyst rejected every proposed change and edited nothing else, else 'accepted'."""
    decided = [e for e in entries if e["action"] != "keep"]
    return "rejected" if decided and all(e["action"] == "reject" for e in decided) else "accepted"


def _utc_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _reviewer(decisions: Mapping, reviewer: str | None) -> str:
    """Who reviewed: the caller's name, else the document's `reviewer`."""
    by = reviewer if reviewer is not None else decisions.get("reviewer") if isinstance(decisions, Mapping) else None
    if not isinstance(by, str) or not by.strip() or len(by) > 200 or any(c in by for c in "\r\n"):
        raise ReviewError("say who reviewed the proposal: `reviewer: <name>` in the decisions file or --reviewer "
                          f"(one line, at most 200 characters; got {show(by)})")
    return by.strip()


def _start(prop: ProposalIndex, base_map: CategoryMap) -> tuple[_Draft, dict[str, str]]:
    """Map N+1 before any decision: every base category with the window clusters matched to it (kept or split),
    ids kept (or given, c1.., to a map written before ids); merged and new clusters wait for their decisions."""
    draft = _Draft(base_map.version + 1)
    draft.next_number = int(next_category_id(base_map)[1:])
    key_to_id: dict[str, str] = {}
    placed: dict[int, str] = {}
    for entry in base_map.entries:
        key = base_map.category_id(entry.name)
        cid = entry.id or draft.new_id()
        key_to_id[key] = cid
        verdict = prop.category.get(key)
        if verdict is None and entry.name != base_map.discard_category:
            raise ReviewError(f"proposal {prop.doc['proposal_id']} says nothing about category {key} "
                              f"({entry.name!r}) of map version {base_map.version}; run evolve again")
        draft.categories[cid] = {"name": entry.name, "description": entry.description, "fine": set(),
                                 "lineage": {}, "base_name": entry.name, "key": key}
        if verdict is not None and verdict["status"] in ("kept", "split"):
            for g in verdict["clusters"]:
                _place(prop, placed, int(g), f"category {key}")
                draft.categories[cid]["fine"].update(prop.fine_of_group.get(int(g), []))
    unknown = [str(c["id"]) for c in prop.doc["categories"] if str(c["id"]) not in key_to_id]
    if unknown:
        raise ReviewError(f"proposal {prop.doc['proposal_id']} names categories {', '.join(unknown)} that map "
                          f"version {base_map.version} does not have")
    for change in prop.doc["changes"]:
        if change["kind"] in ("new", "merge"):
            _place(prop, placed, int(change["cluster"]), f"change {change['change']}")
    unplaced = sorted(set(prop.fine_of_group) - set(placed))
    if unplaced:
        raise ReviewError(f"proposal {prop.doc['proposal_id']}: window cluster(s) {', '.join(map(str, unplaced))} "
                          "belong to no category and no change")
    return draft, key_to_id


def _place(prop: ProposalIndex, placed: dict[int, str], group: int, by: str) -> None:
    if group not in prop.fine_of_group:
        raise ReviewError(f"proposal {prop.doc['proposal_id']}: {by} names window cluster {group}, which it lacks")
    if group in placed:
        raise ReviewError(f"proposal {prop.doc['proposal_id']}: window cluster {group} is claimed by both "
                          f"{placed[group]} and {by}")
    placed[group] = by


def _apply_change(draft: _Draft, prop: ProposalIndex, key_to_id: dict[str, str], change: Mapping, decision: dict,
                  record) -> None:
    """One proposed change accepted, rejected or (a new candidate) discarded, by the rules of docs/evolution.md."""
    action, kind, change_id = decision["action"], change["kind"], change["change"]
    where = (f"decisions[{decision['index']}] (change {change_id})" if decision["index"] is not None
             else f"change {change_id} (rejected by default)")
    note = {"change": change_id, "reason": decision.get("reason")}
    if kind == "split":
        cid = key_to_id[str(change["category"])]
        if action == "accept":
            parts = [int(g) for g in change["clusters"]]
            _split(draft, prop, cid, {g: decision.get("names", {}).get(g) for g in parts}, record, note)
        else:
            record("reject", category=cid, detail=f"{draft.categories[cid]['name']} stays one category", **note)
    elif kind == "merge":
        group = int(change["cluster"])
        ids = [key_to_id[str(k)] for k in change["categories"]]
        if action == "accept":
            draft.move(prop.fine_of_group[group], _largest(draft, prop, ids))
            _merge(draft, prop, ids, decision.get("name"), record, note, by_share=True)
        else:
            for fine in prop.fine_of_group[group]:
                counts = prop.assigned.get(fine, {})
                draft.move([fine], max(ids, key=lambda cid: (counts.get(_key_of(key_to_id, cid), 0), -ids.index(cid))))
            empty = [cid for cid in ids if not draft.categories[cid]["fine"]]
            if empty:
                raise ReviewError(f"{where}: rejecting the merge leaves {', '.join(empty)} with no window cluster (the "
                                  f"classifier put most of cluster {group}'s messages elsewhere); accept the merge, "
                                  "or evolve on a wider window")
            record("reject", category=ids[0], detail=f"{' and '.join(ids)} stay apart", **note)
    elif kind == "gone":
        cid = key_to_id[str(change["category"])]
        name = draft.categories[cid]["name"]
        if action != "accept":
            raise ReviewError(f"{where}: {cid} ({name}) cannot be kept: no message of the window is in it, so "
                              "retraining has nothing to learn it from; accept the change, or evolve on a wider "
                              "window (WindowDays)")
        if draft.categories[cid]["fine"]:
            raise ReviewError(f"{where}: the proposal says {cid} is gone but matches window clusters to it")
        del draft.categories[cid]
        draft.retired[cid] = ""
        record("accept", category=cid, name=name, detail=f"{name} retired: no message of the window is in it", **note)
    elif kind == "absorbed":
        proposed_into = draft.active(key_to_id.get(str(change.get("into")), "")) if change.get("into") else None
        _absorbed(draft, prop, key_to_id[str(change["category"])], str(change["category"]), proposed_into, action,
                  where, record, note)
    else:  # new
        group = int(change["cluster"])
        fines = prop.fine_of_group[group]
        if action == "accept":
            name = decision.get("name") or _proposed_name(draft, prop, group)
            cid = draft.new_id()
            draft.categories[cid] = {"name": name, "fine": set(), "lineage": {"new_in": draft.version},
                                     "description": _description(prop, group, f"New in version {draft.version}")}
            draft.move(fines, cid)
            record("accept", category=cid, name=name,
                   detail=f"new category from window cluster {group} ({prop.size(fines)} messages)", **note)
        elif action == "discard":
            draft.move(fines, None)
            record("discard", detail=f"window cluster {group} ({prop.size(fines)} messages) dropped", **note)
        else:
            for fine in fines:
                draft.move([fine], _majority(draft, key_to_id, prop, fine, where))
            record("reject", detail=f"window cluster {group} goes to the categories its messages were assigned to",
                   **note)


def _absorbed(draft: _Draft, prop: ProposalIndex, cid: str, key: str, proposed_into: str | None, action: str, where: str,
              record, note: dict) -> None:
    """A category whose window messages all sit in other categories' clusters. Accepted: retired into the category
    holding most of them (the proposal's `into` on a tie; lineage merged_from). Rejected: it stays when rejected
    candidates gave it window clusters (their messages were mostly assigned to it); otherwise refused, as for gone."""
    cat = draft.categories[cid]
    held: dict[str, int] = {}
    for fine, counts in sorted(prop.assigned.items()):
        owner = draft.owner(fine)
        if owner is not None and owner != cid and counts.get(key):
            held[owner] = held.get(owner, 0) + counts[key]
    if action == "accept":
        into = max(held, key=lambda other: (held[other], other == proposed_into, -list(draft.categories).index(other)),
                   default=None)
        if into is None:
            raise ReviewError(f"{where}: no other category holds the messages of {cid} ({cat['name']}), so it cannot "
                              "be absorbed; reject the change")
        name = cat["name"]
        draft.move(set(cat["fine"]), into)
        del draft.categories[cid]
        draft.retired[cid] = into
        draft.categories[into]["lineage"]["merged_from"] = [*draft.categories[into]["lineage"].get("merged_from", []),
                                                            cid]
        record("accept", category=cid, name=name, detail=f"{name} absorbed into {into} "
               f"({draft.categories[into]['name']}): {held[into]} of its window messages are in its clusters", **note)
        return
    if not cat["fine"]:
        raise ReviewError(f"{where}: {cid} ({cat['name']}) cannot be kept: no window cluster is mostly its messages, "
                          "so retraining has nothing of its own to learn it from; accept the change, or evolve on a "
                          "wider window (WindowDays)")
    record("reject", category=cid, detail=f"{cat['name']} stays, with the clusters of rejected candidates", **note)


def _apply_extra(draft: _Draft, prop: ProposalIndex, decision: dict, record) -> None:
    """A decision beyond the proposal: rename, merge, split (by window clusters) or discard a window cluster."""
    where = f"decisions[{decision['index']}] ({decision['action']})"
    note = {"reason": decision.get("reason")}
    for cid in decision.get("categories", [decision.get("category")]):
        if cid is not None and cid not in draft.categories:
            state = "was retired or merged by an earlier decision" if cid in draft.retired else "is not a category id"
            raise ReviewError(f"{where}: {cid} {state} (categories: {', '.join(draft.categories)})")
    action = decision["action"]
    if action == "rename":
        cat = draft.categories[decision["category"]]
        record("rename", category=decision["category"], name=decision["name"],
               detail=f"{cat['name']} renamed {decision['name']}", **note)
        _rename(cat, decision["name"])
    elif action == "merge":
        ids = decision["categories"]
        _merge(draft, prop, ids, decision.get("name"), record, note, by_share=False)
    elif action == "split":
        cid, named = decision["category"], decision["clusters"]
        groups = {g for g, fines in prop.fine_of_group.items() if set(fines) & draft.categories[cid]["fine"]}
        outside = sorted(set(named) - groups)
        if outside:
            raise ReviewError(f"{where}: window cluster(s) {', '.join(map(str, outside))} are not in {cid} "
                              f"(its clusters: {', '.join(map(str, sorted(groups)))})")
        missing = sorted(groups - set(named))
        if missing:
            raise ReviewError(f"{where}: name every window cluster of {cid}; missing {', '.join(map(str, missing))}")
        _split(draft, prop, cid, named, record, note, action="split")
    else:  # discard
        fines = prop.fine_of_group[decision["cluster"]]
        draft.move(fines, None)
        record("discard", detail=f"window cluster {decision['cluster']} ({prop.size(fines)} messages) dropped", **note)


def _split(draft: _Draft, prop: ProposalIndex, cid: str, names: dict[int, str | None], record, note: dict,
           action: str = "accept") -> None:
    """Split `cid` into parts (window clusters sharing a name form one part); the largest part keeps the id."""
    cat = draft.categories[cid]
    parts: dict[str, list[int]] = {}
    for group in sorted(names):
        label = names[group] or f"\0{group}"  # unnamed parts stay apart
        parts.setdefault(label, []).extend(f for f in prop.fine_of_group[group] if f in cat["fine"])
    ordered = sorted(parts.items(), key=lambda item: (-prop.size(item[1]), min(item[1], default=0)))
    old_name = cat["name"]
    for rank, (label, fines) in enumerate(ordered):
        named = None if label.startswith("\0") else label
        if rank == 0:
            if named:
                _rename(cat, named)
            record(action, category=cid, name=cat["name"], detail=f"{old_name} split: {prop.size(fines)} messages "
                   f"keep {cid}", **note)
            continue
        group = int(label[1:]) if named is None else min(g for g in names if names[g] == named)
        name = named or _proposed_name(draft, prop, group)
        new = draft.new_id()
        draft.categories[new] = {"name": name, "fine": set(), "lineage": {"split_from": cid},
                                 "description": _description(prop, group, f"Split from {cid} ({old_name}) in "
                                                                          f"version {draft.version}")}
        draft.move(fines, new)
        record(action, category=new, name=name, detail=f"split from {cid} ({old_name}): {prop.size(fines)} messages",
               **note)


def _merge(draft: _Draft, prop: ProposalIndex, ids: list[str], name: str | None, record, note: dict, *,
           by_share: bool) -> None:
    """Merge categories into the larger one (it keeps its id; the others are retired into it)."""
    survivor = _largest(draft, prop, ids, by_share=by_share)
    cat = draft.categories[survivor]
    absorbed = [cid for cid in ids if cid != survivor]
    names = " + ".join(f"{draft.categories[cid]['name']} ({cid})" for cid in ids)
    cat["description"] += f" Merged with {', '.join(absorbed)} in version {draft.version}."
    for cid in absorbed:
        draft.move(set(draft.categories[cid]["fine"]), survivor)
        del draft.categories[cid]
        draft.retired[cid] = survivor
    cat["lineage"]["merged_from"] = [*cat["lineage"].get("merged_from", []), *absorbed]
    if name:
        _rename(cat, name)
    record("accept" if by_share else "merge", category=survivor, name=cat["name"],
           detail=f"{names} merged into {survivor}", **note)


def _largest(draft: _Draft, prop: ProposalIndex, ids: list[str], *, by_share: bool = True) -> str:
    """The category that keeps its id in a merge: the larger share of messages before (the proposal's
    share_before) for a proposed merge, else the most window messages now; ties go to the first listed."""
    def size(cid: str) -> float:
        verdict = prop.category.get(draft.categories[cid].get("key", ""), {})
        if by_share and isinstance(verdict.get("share_before"), (int, float)):
            return float(verdict["share_before"])
        return float(prop.size(draft.categories[cid]["fine"]))
    return max(ids, key=lambda cid: (size(cid), -ids.index(cid)))


def _rename(cat: dict, name: str) -> None:
    if name != cat["name"] and "base_name" in cat and name != cat["base_name"]:
        cat["lineage"]["renamed_from"] = cat["base_name"]
    elif name == cat.get("base_name"):
        cat["lineage"].pop("renamed_from", None)
    cat["name"] = name


def _key_of(key_to_id: dict[str, str], cid: str) -> str:
    return next((key for key, value in key_to_id.items() if value == cid), cid)


def _majority(draft: _Draft, key_to_id: dict[str, str], prop: ProposalIndex, fine: int, where: str) -> str:
    """The category most of a fine cluster's messages were assigned to, following merges, skipping retired ones."""
    counts = prop.assigned.get(fine, {})
    for key, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        target = draft.active(key_to_id.get(key, key))
        if target is not None:
            return target
    raise ReviewError(f"{where}: the messages of fine cluster {fine} were assigned to no category that remains; "
                      "accept or discard the candidate instead")


def _proposed_name(draft: _Draft, prop: ProposalIndex, group: int) -> str:
    """The proposal's name for a window cluster (or one made from its top terms), unique in the draft."""
    info = prop.group.get(group, {})
    name = info.get("name") if isinstance(info.get("name"), str) and NAME_PATTERN.match(info.get("name")) else None
    name = name or readable_name([str(t) for t in info.get("top_terms", []) or []]) or f"cluster_{group}"
    taken = {cat["name"] for cat in draft.categories.values()}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _description(prop: ProposalIndex, group: int, origin: str) -> str:
    terms = ", ".join(str(t) for t in (prop.group.get(group, {}).get("top_terms") or [])[:8]) or "none"
    return f"{origin} (proposal {prop.doc['proposal_id']}, window cluster {group}); top terms: {terms}"


def _finish(draft: _Draft, prop: ProposalIndex, base_map: CategoryMap, by: str, at: datetime,
            log: list[dict]) -> CategoryMap:
    """The validated CategoryMap N+1: every fine cluster mapped or discarded, names unique, none empty."""
    discard_name = base_map.discard_category or DEFAULT_DISCARD_CATEGORY
    for cid, cat in draft.categories.items():
        if cat["name"] == discard_name and cat.get("base_name") != discard_name:
            raise ReviewError(f"{cid} cannot be called {discard_name!r}: that name is the discard category's, whose "
                              "messages are dropped from training; choose another name")
    discard_id = next((cid for cid, cat in draft.categories.items() if cat["name"] == discard_name), None)
    if draft.discarded:
        if discard_id is None:
            discard_id = draft.new_id()
            draft.categories[discard_id] = {"name": discard_name, "fine": set(), "lineage": {},
                                            "description": "Messages dropped from training (noise, spam).",
                                            "base_name": discard_name}
        draft.move(set(draft.discarded), discard_id)
    if discard_id is not None and not draft.categories[discard_id]["fine"]:
        # An entry needs a cluster, so the discard category leaves the map; the changelog keeps its id reserved
        # (next_category_id reads the changelog), so no later category can take it.
        del draft.categories[discard_id]
        log.append({"version": draft.version, "at": _utc_text(at), "by": by, "action": "keep",
                    "category": discard_id, "name": discard_name,
                    "detail": "no window message is discarded; the discard category's id stays reserved"})
    empty = [f"{cid} ({cat['name']})" for cid, cat in draft.categories.items() if not cat["fine"]]
    if empty:
        raise ReviewError(f"{', '.join(empty)} would have no window cluster left to train on; keep a cluster in it "
                          "or merge it into another category")
    seen: dict[str, str] = {}
    for cid, cat in draft.categories.items():
        if cat["name"] in seen:
            raise ReviewError(f"two categories would be called {cat['name']!r}: {seen[cat['name']]} and {cid}; "
                              "give one of them another name")
        seen[cat["name"]] = cid
    unmapped = sorted(set(prop.size_of_fine) - {f for cat in draft.categories.values() for f in cat["fine"]})
    if unmapped:  # not reached when the proposal passed _start; kept so a rule change cannot drop messages silently
        raise ReviewError(f"fine cluster(s) {', '.join(map(str, unmapped))} would be in no category")
    entries = [Category(cat["name"], cat["description"], tuple(sorted(cat["fine"])), cid, cat["lineage"] or None)
               for cid, cat in draft.categories.items()]
    try:
        return CategoryMap(
            version=draft.version, clustering_run=prop.doc["clustering_run"], entries=tuple(entries),
            reviewed=Review(by, at), discard_category=discard_name if discard_id else base_map.discard_category,
            previous={"version": base_map.version, "hash": base_map.content_hash},
            changelog=(*base_map.changelog, *log))
    except CategoryMapError as error:
        raise ReviewError(f"the decisions give an invalid category map: {error}") from None
