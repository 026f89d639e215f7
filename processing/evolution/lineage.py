"""How one category map differs from another, by stable id and recorded lineage: what the registry shows an
approver when a package's categories are not the approved package's."""
from __future__ import annotations

from processing.category_map import CategoryMap

CHANGE_KINDS = ("added", "split", "merged", "renamed", "removed")


def map_changes(old: CategoryMap, new: CategoryMap) -> dict:
    """{kind: [...]} for kinds added, split, merged, renamed, removed (each a list of plain dicts), plus
    "changed" (whether anything did) and both versions. Categories are matched by stable id (by name for maps
    written before ids); `new`'s lineage says where a category came from."""
    old_entries = {_id(entry): entry for entry in old.entries if entry.name != old.discard_category}
    new_entries = {_id(entry): entry for entry in new.entries if entry.name != new.discard_category}
    changes: dict = {kind: [] for kind in CHANGE_KINDS}
    merged_away: set[str] = set()
    for cid, entry in new_entries.items():
        lineage = dict(entry.lineage or {})
        if lineage.get("merged_from"):
            sources = [source for source in lineage["merged_from"] if source != cid]
            merged_away.update(sources)
            changes["merged"].append({"into": cid, "name": entry.name, "from": [cid, *sources] if cid in old_entries
                                      else sources, "from_names": [_name(old_entries, s) for s in sources]})
        if lineage.get("split_from") and lineage["split_from"] != cid:
            changes["split"].append({"from": lineage["split_from"], "from_name": _name(old_entries, lineage["split_from"]),
                                     "part": cid, "name": entry.name})
        elif cid not in old_entries and not lineage.get("merged_from"):
            changes["added"].append({"id": cid, "name": entry.name})
        if cid in old_entries and old_entries[cid].name != entry.name:
            changes["renamed"].append({"id": cid, "from": old_entries[cid].name, "to": entry.name})
    for cid, entry in old_entries.items():
        if cid not in new_entries and cid not in merged_away:
            changes["removed"].append({"id": cid, "name": entry.name})
    changes["changed"] = any(changes[kind] for kind in CHANGE_KINDS) or old.content_hash != new.content_hash
    changes["from_version"], changes["to_version"] = old.version, new.version
    changes["reviewed_from_it"] = bool(new.previous and new.previous.get("hash") == old.content_hash)
    return changes


def describe_changes(changes: dict) -> list[str]:
    """One readable line per change ("split c3 card into card_lost (c3), card_stolen (c9)", ...)."""
    lines = [f"added {item['name']} ({item['id']})" for item in changes["added"]]
    splits: dict[str, list[str]] = {}
    for item in changes["split"]:
        splits.setdefault(f"{item['from']} {item['from_name']}", []).append(f"{item['name']} ({item['part']})")
    lines += [f"split {source} into {', '.join(parts)}" for source, parts in splits.items()]
    lines += [f"merged {', '.join(item['from'])} into {item['name']} ({item['into']})" for item in changes["merged"]]
    lines += [f"renamed {item['id']} {item['from']} -> {item['to']}" for item in changes["renamed"]]
    lines += [f"removed {item['name']} ({item['id']})" for item in changes["removed"]]
    return lines


def _id(entry) -> str:
    return entry.id or entry.name


def _name(entries: dict, cid: str) -> str:
    return entries[cid].name if cid in entries else cid
