"""The review of an evolution proposal: the analyst's decisions applied to the proposal and the map it was made
against give category map version N+1 with stable ids, lineage, a changelog, the reviewer and the time."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
import yaml

from processing.category_map import Category, CategoryMap, load_category_map, save_category_map
from processing.evolution.review import (ReviewError, StaleProposal, apply_decisions, parse_decisions,
                                         parse_proposal, proposal_outcome)
from tests.processing.evolution.review_fixtures import ACCEPT_ALL, AT, PROPOSAL_ID, base_map, decisions, proposal


def review(*items, default=None, current_map=None, cmap=None, prop=None):
    cmap = cmap or base_map()
    return apply_decisions(prop or proposal(cmap), cmap, decisions(*items), reviewer=None, at=AT,
                           current_map=current_map, default=default)


def by_id(cmap: CategoryMap) -> dict[str, Category]:
    return {e.id: e for e in cmap.entries}


def with_action(items, change: str, **fields) -> list[dict]:
    """ACCEPT_ALL with the decision on `change` replaced."""
    return [({"change": change, **fields} if item["change"] == change else item) for item in items]


# --- accepting every change ---------------------------------------------------------------------------------------

def test_accepting_every_change_gives_version_n_plus_1_made_from_the_base_map_and_reviewed():
    cmap, _ = review(*ACCEPT_ALL)
    base = base_map()
    assert cmap.version == 4
    assert cmap.clustering_run == "run-2222222222222222"  # the window's fine clusters
    assert cmap.previous == {"version": 3, "hash": base.content_hash}
    assert (cmap.reviewed.by, cmap.reviewed.at) == ("ana", AT)
    assert sorted(cmap.cluster_to_category) == list(range(12))  # every fine cluster of the proposal mapped


def test_kept_categories_keep_their_ids_and_names():
    cmap, _ = review(*ACCEPT_ALL)
    entries = by_id(cmap)
    assert (entries["c1"].name, entries["c1"].clusters, entries["c1"].lineage) == ("billing", (0, 1), None)
    assert (entries["c2"].name, entries["c2"].clusters) == ("delivery", (2,))
    assert (entries["c6"].name, entries["c6"].clusters) == ("app_login", (8,))


def test_an_accepted_split_leaves_the_id_with_the_largest_part_and_gives_the_other_a_new_id_never_used_before():
    cmap, _ = review(*ACCEPT_ALL)
    entries = by_id(cmap)
    assert (entries["c3"].name, entries["c3"].clusters, entries["c3"].lineage) == (
        "card_lost", (3, 4), {"renamed_from": "card"})
    # c7 was retired in version 2 and c10 is the discard category's: the first new id is c11.
    assert (entries["c11"].name, entries["c11"].clusters, entries["c11"].lineage) == (
        "card_stolen", (5,), {"split_from": "c3"})


def test_an_accepted_merge_keeps_the_larger_categorys_id_and_retires_the_other():
    cmap, _ = review(*ACCEPT_ALL)
    entries = by_id(cmap)
    assert "c5" not in entries
    assert (entries["c4"].name, entries["c4"].clusters) == ("refunds_returns", (6, 7))
    assert entries["c4"].lineage == {"merged_from": ["c5"], "renamed_from": "refund"}


def test_an_accepted_gone_category_is_retired_and_its_id_is_never_reused():
    cmap, log = review(*ACCEPT_ALL)
    assert "c8" not in by_id(cmap)
    gone = [e for e in log if e.get("change") == "gone:c8"]
    assert gone == [{"version": 4, "at": "2026-12-02T09:30:00Z", "by": "ana", "action": "accept", "change": "gone:c8",
                     "category": "c8", "name": "old_promo", "reason": "promotion ended",
                     "detail": "old_promo retired: no message of the window is in it"}]


def test_accepted_new_candidates_get_the_next_ids_the_given_name_or_the_proposed_one_and_new_in():
    cmap, _ = review(*ACCEPT_ALL)
    entries = by_id(cmap)
    assert (entries["c12"].name, entries["c12"].clusters, entries["c12"].lineage) == ("fraud_scam", (9, 10),
                                                                                      {"new_in": 4})
    assert (entries["c13"].name, entries["c13"].clusters) == ("lottery_win", (11,))


def test_the_changelog_keeps_the_history_and_appends_one_entry_per_decided_change_with_who_when_and_why():
    cmap, log = review(*ACCEPT_ALL)
    assert cmap.changelog[0]["change"] == "gone:c7"  # version 2's entry survives
    assert list(cmap.changelog[1:]) == log
    assert all(e["version"] == 4 and e["by"] == "ana" and e["at"] == "2026-12-02T09:30:00Z" for e in log)
    assert [e["change"] for e in log if "change" in e] == ["split:c3", "split:c3", "merge:c4+c5", "gone:c8", "new:6",
                                                           "new:7"]
    assert next(e for e in log if e.get("change") == "new:6")["reason"] == "new complaint type"
    assert proposal_outcome(log) == "accepted"


def test_the_new_map_round_trips_through_yaml_and_json_files_with_the_same_content_hash(tmp_path):
    cmap, _ = review(*ACCEPT_ALL)
    for name in ("v4.yaml", "v4.json"):
        loaded = load_category_map(save_category_map(cmap, tmp_path / name))
        assert loaded.content_hash == cmap.content_hash
        assert loaded.to_dict() == cmap.to_dict()


def test_the_same_decisions_give_byte_identical_maps(tmp_path):
    first = save_category_map(review(*ACCEPT_ALL)[0], tmp_path / "a.yaml").read_bytes()
    second = save_category_map(review(*ACCEPT_ALL)[0], tmp_path / "b.yaml").read_bytes()
    assert first == second


# --- rejecting and discarding ------------------------------------------------------------------------------------

def test_a_rejected_new_candidate_goes_fine_cluster_by_fine_cluster_to_the_category_its_messages_were_assigned_to():
    cmap, log = review(*with_action(ACCEPT_ALL, "new:6", action="reject"))
    assert cmap.cluster_to_category[9] == "billing"  # 30 of its 33 messages were assigned to c1
    assert cmap.cluster_to_category[10] == "app_login"  # 12 of 15 to c6
    assert [e["action"] for e in log if e.get("change") == "new:6"] == ["reject"]


def test_a_rejected_candidate_whose_majority_category_is_retired_goes_to_the_next_one_that_remains():
    cmap, _ = review(*with_action(ACCEPT_ALL, "new:7", action="reject"))
    assert cmap.cluster_to_category[11] == "delivery"  # 10 messages were assigned to c8, retired; 4 to c2


def test_a_rejected_candidate_follows_a_category_merged_into_another():
    items = with_action(ACCEPT_ALL, "new:7", action="reject")
    prop = proposal()
    prop["fine_clusters"][-1]["assigned"] = {"c5": 9, "c2": 4}  # mostly returns, which merges into c4
    cmap, _ = review(*items, prop=prop)
    assert cmap.cluster_to_category[11] == "refunds_returns"


def test_a_discarded_new_candidate_lands_in_the_discard_category_which_keeps_its_id():
    cmap, log = review(*with_action(ACCEPT_ALL, "new:7", action="discard", reason="spam"))
    assert cmap.discarded_clusters == {11}
    assert by_id(cmap)["c10"].name == "_discard"
    assert [e["action"] for e in log if e.get("change") == "new:7"] == ["discard"]


def test_a_rejected_merge_sends_each_fine_cluster_to_its_majority_category_and_both_stay():
    cmap, _ = review(*with_action(ACCEPT_ALL, "merge:c4+c5", action="reject"))
    entries = by_id(cmap)
    assert (entries["c4"].name, entries["c4"].clusters) == ("refund", (6,))
    assert (entries["c5"].name, entries["c5"].clusters) == ("returns", (7,))


def test_a_rejected_merge_that_leaves_a_category_without_messages_is_refused():
    prop = proposal()
    prop["fine_clusters"][7]["assigned"] = {"c4": 30, "c5": 2}  # fine 7 is mostly refund too
    with pytest.raises(ReviewError, match=r"decisions\[3\] \(change merge:c4\+c5\): rejecting the merge leaves c5 "
                                          r"with no window cluster"):
        review(*with_action(ACCEPT_ALL, "merge:c4+c5", action="reject"), prop=prop)


def test_a_rejected_split_keeps_one_category_with_every_part():
    cmap, _ = review(*with_action(ACCEPT_ALL, "split:c3", action="reject"))
    assert (by_id(cmap)["c3"].name, by_id(cmap)["c3"].clusters) == ("card", (3, 4, 5))
    assert "card_stolen" not in cmap.categories


def test_rejecting_a_gone_category_is_refused_because_nothing_could_train_it():
    with pytest.raises(ReviewError, match=r"^decisions\[4\] \(change gone:c8\): c8 \(old_promo\) cannot be kept: no "
                                          r"message of the window is in it.*wider window \(WindowDays\)$"):
        review(*with_action(ACCEPT_ALL, "gone:c8", action="reject"))


def test_rejecting_every_change_but_the_gone_one_is_a_rejected_proposal():
    items = [{"change": item["change"], "action": "reject"} for item in ACCEPT_ALL if item["change"] != "gone:c8"]
    _, log = review(*items, {"change": "gone:c8", "action": "accept"})
    assert proposal_outcome(log) == "accepted"  # retiring c8 is a change
    assert proposal_outcome([e for e in log if e.get("change") != "gone:c8"]) == "rejected"


# --- decisions beyond the proposal -------------------------------------------------------------------------------

def test_a_rename_keeps_the_id_and_records_the_old_name():
    cmap, log = review(*ACCEPT_ALL, {"action": "rename", "category": "c2", "name": "shipping", "reason": "clearer"})
    assert (by_id(cmap)["c2"].name, by_id(cmap)["c2"].lineage) == ("shipping", {"renamed_from": "delivery"})
    assert log[-2]["action"] == "rename" and log[-2]["reason"] == "clearer"  # the last entry reserves c10


def test_a_merge_beyond_the_proposal_keeps_the_id_of_the_category_with_more_window_messages():
    cmap, _ = review(*ACCEPT_ALL, {"action": "merge", "categories": ["c6", "c1"], "name": "account"})
    entries = by_id(cmap)
    assert "c6" not in entries
    assert (entries["c1"].name, entries["c1"].clusters, entries["c1"].lineage) == (
        "account", (0, 1, 8), {"merged_from": ["c6"], "renamed_from": "billing"})


def test_a_split_beyond_the_proposal_divides_a_category_by_window_clusters():
    items = with_action(ACCEPT_ALL, "split:c3", action="reject")
    cmap, _ = review(*items, {"action": "split", "category": "c3", "clusters": {2: "card_lost", 3: "card_theft"}})
    entries = by_id(cmap)
    assert (entries["c3"].name, entries["c3"].clusters) == ("card_lost", (3, 4))
    # Decisions beyond the proposal apply after its changes: new:6 and new:7 took c11 and c12.
    assert (entries["c13"].name, entries["c13"].clusters, entries["c13"].lineage) == (
        "card_theft", (5,), {"split_from": "c3"})


def test_a_split_must_name_every_window_cluster_of_the_category():
    items = with_action(ACCEPT_ALL, "split:c3", action="reject")
    with pytest.raises(ReviewError, match=r"decisions\[5\] \(split\): a split needs at least two names"):
        review(*items, {"action": "split", "category": "c3", "clusters": {2: "card_lost"}})
    with pytest.raises(ReviewError, match=r"decisions\[5\] \(split\): window cluster\(s\) 0 are not in c3"):
        review(*items, {"action": "split", "category": "c3", "clusters": {2: "a", 0: "b"}})


def test_discarding_a_window_cluster_drops_its_messages_and_an_emptied_category_is_refused():
    items = with_action(ACCEPT_ALL, "new:7", action="reject")
    cmap, _ = review(*items, {"action": "discard", "cluster": 7, "reason": "lottery spam"})
    assert cmap.discarded_clusters == {11} and "lottery_win" not in cmap.categories
    with pytest.raises(ReviewError, match=r"c6 \(app_login\) would have no window cluster left to train on"):
        review(*ACCEPT_ALL, {"action": "discard", "cluster": 5})


def test_an_edit_of_a_category_an_earlier_decision_retired_is_refused():
    with pytest.raises(ReviewError, match=r"decisions\[5\] \(rename\): c5 was retired or merged by an earlier "):
        review(*ACCEPT_ALL, {"action": "rename", "category": "c5", "name": "x"})


def test_two_categories_may_not_end_with_the_same_name_nor_take_the_discard_name():
    with pytest.raises(ReviewError, match=r"two categories would be called 'billing': c1 and c12"):
        review(*with_action(ACCEPT_ALL, "new:6", action="accept", name="billing"))
    with pytest.raises(ReviewError, match=r"c2 cannot be called '_discard'"):
        review(*ACCEPT_ALL, {"action": "rename", "category": "c2", "name": "_discard"})


# --- undecided changes, stale proposals --------------------------------------------------------------------------

def test_undecided_changes_are_listed_unless_a_default_decides_them():
    with pytest.raises(ReviewError, match=r"^2 change\(s\) left undecided: new:7, gone:c8; .*--accept-all"):
        review(*ACCEPT_ALL[:1], *ACCEPT_ALL[2:4])
    cmap, log = review(*ACCEPT_ALL[:1], default="accept")
    assert "c8" not in by_id(cmap) and by_id(cmap)["c13"].name == "lottery_win"
    # Unnamed split parts: the largest keeps c3 and its name, the other takes its window cluster's proposed name.
    assert (by_id(cmap)["c3"].name, by_id(cmap)["c11"].name) == ("card", "card_stolen")


def test_a_proposal_made_against_another_map_is_refused_with_both_versions_and_hashes():
    base = base_map()
    newer = CategoryMap(4, base.clustering_run, base.entries, base.reviewed)
    with pytest.raises(StaleProposal) as error:
        review(*ACCEPT_ALL, current_map=newer)
    assert str(error.value) == (
        f"proposal {PROPOSAL_ID} was made against category map version 3 (hash {base.content_hash[:12]}); the "
        f"current map is version 4 (hash {newer.content_hash[:12]}); run evolve again on the current map")


def test_a_map_written_before_ids_gets_ids_in_file_order():
    old = base_map()
    plain = CategoryMap(3, old.clustering_run, [Category(e.name, e.description, e.clusters) for e in old.entries])
    prop = proposal(plain)
    for item in prop["categories"]:  # a map without ids: the proposal names categories by name
        item["id"] = next(e.name for e in old.entries if e.id == item["id"])
    for change in prop["changes"]:
        change["category"] = {"c3": "card", "c8": "old_promo"}.get(change.get("category"), change.get("category"))
        if change["kind"] == "merge":
            change["categories"] = ["refund", "returns"]
    for fine in prop["fine_clusters"]:
        fine["assigned"] = {next(e.name for e in old.entries if e.id == k): v for k, v in fine["assigned"].items()}
    prop["changes"] = [{**c, "change": c["change"].replace("c3", "card").replace("c4+c5", "refund+returns")
                        .replace("c8", "old_promo")} for c in prop["changes"]]
    items = [{**i, "change": i["change"].replace("c3", "card").replace("c4+c5", "refund+returns")
              .replace("c8", "old_promo")} for i in ACCEPT_ALL]
    cmap, _ = apply_decisions(prop, plain, decisions(*items), reviewer="bo", at=AT)
    assert {e.name: e.id for e in cmap.entries} == {
        "billing": "c1", "delivery": "c2", "card_lost": "c3", "refunds_returns": "c4", "app_login": "c6",
        "card_stolen": "c9", "fraud_scam": "c10", "lottery_win": "c11"}
    assert cmap.reviewed.by == "bo"


# --- bad decisions documents -------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc, message", [
    ({"proposal": "prop-ffffffffffffffff", "decisions": []}, r"^proposal: 'prop-ffffffffffffffff' is not this "
                                                             r"proposal's id prop-0123456789abcdef"),
    (decisions({"change": "new:99", "action": "accept"}),
     r"^decisions\[0\] \(change 'new:99'\): no such change in proposal prop-0123456789abcdef \(its changes: new:6"),
    (decisions({"change": "new:6", "action": "approve"}), r"^decisions\[0\] \(change 'new:6'\): action 'approve' is "
                                                          r"not one of accept, reject, discard$"),
    (decisions({"change": "new:6", "action": "accept", "name": "Fraud Scam"}),
     r"^decisions\[0\] \(change 'new:6'\): name: 'Fraud Scam' is not a valid category name \(lowercase"),
    (decisions({"change": "new:6", "action": "accept"}, {"change": "new:6", "action": "reject"}),
     r"^decisions\[1\] \(change 'new:6'\): decided twice \(decisions\[0\]\)$"),
    (decisions({"change": "new:6", "action": "accept", "names": {6: "x"}}),
     r"^decisions\[0\] \(change 'new:6'\): unknown field\(s\) 'names' \(allowed: action, change, name, reason\)$"),
    (decisions({"change": "split:c3", "action": "accept", "names": {5: "x"}}),
     r"^decisions\[0\] \(change 'split:c3'\): names: 5 is not one of the window clusters 2, 3$"),
    (decisions({"change": "gone:c8", "action": "discard"}), r"discard applies to a new candidate"),
    (decisions({"action": "rename", "category": "c2"}), r"^decisions\[0\] \(rename\): missing name$"),
    (decisions({"action": "merge", "categories": ["c1"]}), r"^decisions\[0\] \(merge\): categories must list at "
                                                           r"least two category ids"),
    (decisions({"action": "delete", "category": "c2"}), r"^decisions\[0\]: action 'delete' is not one of rename, "
                                                        r"merge, split, discard"),
    (decisions("accept everything"), r"^decisions\[0\]: 'accept everything' is not a mapping$"),
    (decisions(reviewer=None), r"^say who reviewed the proposal"),
    (decisions() | {"approved": True}, r"^unknown field\(s\) 'approved'"),
    ({"proposal": PROPOSAL_ID, "reviewer": "ana", "decisions": "all"}, r"^decisions: 'all' is not a list$"),
])
def test_a_bad_decisions_document_is_refused_with_one_line_naming_the_decision(doc, message):
    with pytest.raises(ReviewError, match=message) as error:
        apply_decisions(proposal(), base_map(), doc, reviewer=None, at=AT, default="accept")
    assert "\n" not in str(error.value)


def test_a_decisions_file_is_read_as_safely_as_a_category_map():
    text = f"proposal: {PROPOSAL_ID}\nreviewer: ana\ndecisions:\n  - {{change: 'new:6', action: accept}}\n"
    assert parse_decisions(text, "d.yaml")["decisions"] == [{"change": "new:6", "action": "accept"}]
    assert parse_decisions(json.dumps(decisions(*ACCEPT_ALL)), "d.json")["proposal"] == PROPOSAL_ID
    with pytest.raises(ReviewError, match=r"^d.yaml: invalid YAML at line 3, column 5: aliases \(\*name\) are not "
                                          r"allowed in a decisions file"):
        parse_decisions("a: &x [1]\nb:\n  - *x\n", "d.yaml")
    with pytest.raises(ReviewError, match=r"^d.json: duplicate key 'proposal'"):
        parse_decisions('{"proposal": "a", "proposal": "b"}', "d.json")
    with pytest.raises(ReviewError, match=r"^d.yaml: larger than 1 MiB"):
        parse_decisions("#" * (2 << 20), "d.yaml")
    with pytest.raises(ReviewError, match=r"^d.yaml: a decisions file is a mapping"):
        parse_decisions("- accept\n", "d.yaml")
    with pytest.raises(ReviewError, match=r"^d.yaml: invalid YAML"):
        parse_decisions("!!python/object/apply:os.system ['echo hi']\n", "d.yaml")


def test_a_proposal_file_that_is_not_a_proposal_is_refused_in_one_line():
    good = json.dumps(proposal())
    assert parse_proposal(good.encode())["proposal_id"] == PROPOSAL_ID
    with pytest.raises(ReviewError, match=r"^p.json: not JSON"):
        parse_proposal(b"{", "p.json")
    with pytest.raises(ReviewError, match=r"^p.json: not an evolution proposal"):
        parse_proposal(b"{}", "p.json")
    with pytest.raises(ReviewError, match=r"^p.json: not UTF-8"):
        parse_proposal(b"\xff\xfe", "p.json")
    twice = proposal()
    twice["clusters"][0]["fine_clusters"].append(2)  # fine 2 in window clusters 0 and 1
    with pytest.raises(ReviewError, match=r"every fine cluster must belong to exactly one"):
        parse_proposal(json.dumps(twice), "p.json")
    with pytest.raises(ReviewError, match=r"nested deeper than"):
        parse_proposal("[" * 100 + "]" * 100, "p.json")


def test_a_review_time_without_a_time_zone_is_refused():
    with pytest.raises(ReviewError, match="time zone"):
        apply_decisions(proposal(), base_map(), decisions(*ACCEPT_ALL), reviewer=None, at=datetime(2026, 12, 2))


def test_the_yaml_a_person_writes_for_the_documented_example_applies():
    text = f"""\
proposal: {PROPOSAL_ID}
reviewer: ana
decisions:
  - {{change: "new:6", action: accept, name: fraud_scam, reason: "new complaint type"}}
  - {{change: "new:7", action: discard, reason: spam}}
  - {{change: "split:c3", action: accept, names: {{2: card_lost, 3: card_stolen}}}}
  - {{change: "merge:c4+c5", action: accept, name: card_payments}}
  - {{change: "gone:c8", action: accept}}
  - {{action: rename, category: c2, name: shipping, reason: clearer}}
"""
    cmap, _ = apply_decisions(proposal(), base_map(), parse_decisions(text, "d.yaml"), reviewer=None, at=AT)
    assert yaml.safe_load(yaml.safe_dump(cmap.to_dict()))["version"] == 4
    assert sorted(cmap.categories) == ["app_login", "billing", "card_lost", "card_payments", "card_stolen",
                                       "fraud_scam", "shipping"]
