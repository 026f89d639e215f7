"""A category map (version 3) and an evolution proposal made against it, written by hand in the shape of
docs/evolution.md, so the review is specified without running the matching.

The window has 8 clusters (0-7) made of 12 fine clusters (0-11):
  window cluster 0 (fine 0, 1)  -> c1 billing, kept          window cluster 4 (fine 6, 7) -> c4 refund + c5 returns
  window cluster 1 (fine 2)     -> c2 delivery, kept         window cluster 5 (fine 8)    -> c6 app_login, kept
  window clusters 2 and 3       -> c3 card, split            window cluster 6 (fine 9, 10) -> new candidate
  (fine 3, 4: 50 messages; fine 5: 25)                       window cluster 7 (fine 11)    -> new candidate
c8 old_promo has no window message (gone); c7 was retired in version 2 and c10 is the discard category, so the
next new id is c11.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone

from processing.category_map import Category, CategoryMap, Review

AT = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)
PROPOSAL_ID = "prop-0123456789abcdef"

SIZES = {0: 40, 1: 20, 2: 35, 3: 30, 4: 20, 5: 25, 6: 50, 7: 32, 8: 18, 9: 33, 10: 15, 11: 14}
GROUPS = {0: [0, 1], 1: [2], 2: [3, 4], 3: [5], 4: [6, 7], 5: [8], 6: [9, 10], 7: [11]}
ASSIGNED = {0: {"c1": 40}, 1: {"c1": 20}, 2: {"c2": 35}, 3: {"c3": 30}, 4: {"c3": 20}, 5: {"c3": 25},
            6: {"c4": 40, "c5": 10}, 7: {"c5": 30, "c4": 2}, 8: {"c6": 18},
            9: {"c1": 30, "c6": 3}, 10: {"c6": 12, "c1": 3}, 11: {"c8": 10, "c2": 4}}
TERMS = {0: ["invoice", "charge"], 1: ["package", "late"], 2: ["card", "lost", "card"], 3: ["card", "stolen"],
         4: ["refund", "return"], 5: ["login", "password"], 6: ["scam", "phishing", "link"], 7: ["lottery", "win"]}


def base_map() -> CategoryMap:
    """Version 3, reviewed, with ids; c7 retired in version 2 (its changelog entry)."""
    entries = [Category("billing", "Charges and invoices.", (0, 1), "c1"),
               Category("delivery", "Where is my package.", (2,), "c2"),
               Category("card", "Card problems.", (3, 4), "c3"),
               Category("refund", "Money back.", (5,), "c4"),
               Category("returns", "Sending items back.", (6,), "c5"),
               Category("app_login", "Cannot log in.", (7,), "c6"),
               Category("old_promo", "A promotion that ended.", (8,), "c8"),
               Category("_discard", "Spam.", (9,), "c10")]
    changelog = [{"version": 2, "at": "2026-10-01T08:00:00Z", "by": "ana", "action": "accept",
                  "change": "gone:c7", "category": "c7", "name": "summer_sale"}]
    return CategoryMap(3, "run-1111111111111111", entries, Review("ana", datetime(2026, 11, 1, tzinfo=timezone.utc)),
                       previous={"version": 2, "hash": "a" * 64}, changelog=changelog)


def proposal(cmap: CategoryMap | None = None) -> dict:
    """The proposal made against `cmap` (default base_map())."""
    cmap = cmap or base_map()
    fine = [{"cluster": f, "group": g, "size": SIZES[f], "assigned": ASSIGNED[f]} for g, fs in GROUPS.items()
            for f in fs]
    clusters = [{"cluster": g, "fine_clusters": fs, "size": sum(SIZES[f] for f in fs),
                 "name": "_".join(dict.fromkeys(TERMS[g]))[:20], "top_terms": TERMS[g],
                 "top_terms_by_language": {"en": TERMS[g], "es": []},
                 "representative": [{"id": f"m{g}", "text": "<script>alert(1)</script>"}], "borderline": [],
                 "sizes_by_date": {"2026-12-01": 1}, "novel_share": 0.0, "match": {}} for g, fs in GROUPS.items()]

    def category(cid, name, status, groups, share, **extra):
        return {"id": cid, "name": name, "status": status, "clusters": groups, "merged_with": [], "moved": 0.1,
                "share_before": share, "share_after": share, "size_after": 1, "sizes_by_date": {}, "evidence": {}}\
            | extra
    categories = [category("c1", "billing", "kept", [0], 0.30), category("c2", "delivery", "kept", [1], 0.15),
                  category("c3", "card", "split", [2, 3], 0.20),
                  category("c4", "refund", "merged", [4], 0.10, merged_with=["c5"]),
                  category("c5", "returns", "merged", [4], 0.05, merged_with=["c4"]),
                  category("c6", "app_login", "kept", [5], 0.12), category("c8", "old_promo", "gone", [], 0.08)]
    changes = [{"change": "new:6", "kind": "new", "cluster": 6, "name": "scam_phishing_link", "evidence": {}},
               {"change": "new:7", "kind": "new", "cluster": 7, "name": "lottery_win", "evidence": {}},
               {"change": "split:c3", "kind": "split", "category": "c3", "clusters": [2, 3]},
               {"change": "merge:c4+c5", "kind": "merge", "categories": ["c4", "c5"], "cluster": 4},
               {"change": "gone:c8", "kind": "gone", "category": "c8"}]
    return copy.deepcopy({"schema": "tweetops.evolution.proposal/1", "proposal_id": PROPOSAL_ID,
            "base_map": {"version": cmap.version, "hash": cmap.content_hash, "clustering_run": cmap.clustering_run},
            "model": {"model_version": "1"}, "window": {"days": 28, "messages": sum(SIZES.values())},
            "clustering_run": "run-2222222222222222", "n_fine_clusters": len(SIZES), "fine_clusters": fine,
            "clusters": clusters, "categories": categories, "changes": changes,
            "map_points": {"x": [], "y": [], "cluster": [], "id": []}})  # tests edit their copy


def decisions(*items: dict, reviewer: str | None = "ana") -> dict:
    """A decisions document for the proposal."""
    doc = {"proposal": PROPOSAL_ID, "decisions": [copy.deepcopy(item) for item in items]}
    return doc if reviewer is None else doc | {"reviewer": reviewer}


ACCEPT_ALL = (
    {"change": "new:6", "action": "accept", "name": "fraud_scam", "reason": "new complaint type"},
    {"change": "new:7", "action": "accept"},
    {"change": "split:c3", "action": "accept", "names": {2: "card_lost", 3: "card_stolen"}},
    {"change": "merge:c4+c5", "action": "accept", "name": "refunds_returns"},
    {"change": "gone:c8", "action": "accept", "reason": "promotion ended"},
)
