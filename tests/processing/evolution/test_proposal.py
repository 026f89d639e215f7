"""propose() on a small synthetic window whose answer is known: a kept category, a new blob, a merge, a split and
a category that is gone; the document's shape (docs/evolution.md) and its determinism."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from processing.category_map import Category, CategoryMap
from processing.evolution.match import MatchThresholds
from processing.evolution.proposal import MIN_MESSAGES_PER_FINE_CLUSTER, SCHEMA, propose, window_k_range
from processing.evolution.review import ReviewError, apply_decisions

DIMENSIONS = 16
WORDS = {0: "invoice charge bill", 1: "parcel late courier", 2: "card payment declined", 3: "password login reset",
         4: "address email profile", 5: "promo coupon summer", 6: "scam phishing link"}
PER_BLOB = 40
# Parts further apart than this are distinct: the blobs below sit at cosine ~0.36 from each other.
THRESHOLDS = MatchThresholds(distinct_similarity=0.6)
PARAMS = {"use_umap": False, "plain_components": None, "n_init": 3}


def centers() -> np.ndarray:
    """Seven topic centres sharing one common direction (pairwise cosine 0.36), as related topics do."""
    common = np.zeros(DIMENSIONS)
    common[-1] = 1.0
    return np.stack([0.6 * common + 0.8 * np.eye(DIMENSIONS)[i] for i in range(7)])


def blob(center: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    points = center + 0.08 * rng.standard_normal((n, DIMENSIONS))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def base_map() -> CategoryMap:
    """Version 2: billing (blob 0), delivery (1), card_a and card_b (both blob 2: to be merged), account (blobs 3
    and 4: to be split), old_promo (blob 5: gone from the window)."""
    names = ["billing", "delivery", "card_a", "card_b", "account", "old_promo"]
    return CategoryMap(2, "run-0123456789abcdef", tuple(
        Category(name, f"{name} messages", (i,), id=f"c{i + 1}") for i, name in enumerate(names)))


def scenario(seed: int = 0) -> dict:
    """The window (blobs 0-4 and the new blob 6), the classifier's assignments and the baseline reference."""
    rng = np.random.default_rng(seed)
    c = centers()
    window_blobs = [0, 1, 2, 3, 4, 6]
    vectors = np.vstack([blob(c[b], PER_BLOB, rng) for b in window_blobs])
    blob_of = np.repeat(window_blobs, PER_BLOB)
    # The classifier: its own category per blob; blob 2 half card_a, half card_b; the new blob goes to billing.
    by_blob = {0: "billing", 1: "delivery", 3: "account", 4: "account", 6: "billing"}
    assigned = np.array([by_blob.get(b) or ("card_a" if rng.random() < 0.5 else "card_b") for b in blob_of])
    words = [WORDS[b].split() for b in blob_of]
    texts = [" ".join(rng.permutation(w)) + f" number {i}" for i, w in enumerate(words)]
    window = pd.DataFrame({
        "id": [f"m{i:03d}" for i in range(len(blob_of))], "text": texts,
        "lang": np.where(np.arange(len(blob_of)) % 3 == 0, "es", "en"), "clean_text": texts, "feature_text": texts,
        "created_at": None, "date": np.where(np.arange(len(blob_of)) % 2 == 0, "2026-11-30", "2026-12-01"),
        "novel": blob_of == 6})
    reference_parts = [(0, "billing", 20), (1, "delivery", 20), (2, "card_a", 10), (2, "card_b", 10),
                       (3, "account", 10), (4, "account", 10), (5, "old_promo", 20)]
    reference = np.vstack([blob(c[b], n, rng) for b, _, n in reference_parts])
    reference_categories = np.concatenate([[name] * n for _, name, n in reference_parts])
    return {"window": window, "vectors": vectors, "assigned": assigned, "reference": reference,
            "reference_categories": reference_categories, "blob_of": blob_of}


def run(seed: int = 0, thresholds: MatchThresholds = THRESHOLDS) -> tuple[dict, np.ndarray, dict]:
    s = scenario()
    proposal, fine = propose(s["window"], s["vectors"], s["assigned"], base_map(), s["reference"],
                             s["reference_categories"], clustering_params=PARAMS, seed=seed,
                             model={"model_version": "abc123"}, window_info={"days": 28, "messages": 240},
                             thresholds=thresholds)
    return proposal, fine, s


@pytest.fixture(scope="module")
def proposal_run():
    return run()


def groups_of(proposal: dict, fine: np.ndarray) -> np.ndarray:
    return np.array([item["group"] for item in proposal["fine_clusters"]])[fine]


def blob_groups(proposal: dict, fine: np.ndarray, blob_of: np.ndarray, b: int) -> set[int]:
    return set(groups_of(proposal, fine)[blob_of == b].tolist())


def category(proposal: dict, cid: str) -> dict:
    return next(c for c in proposal["categories"] if c["id"] == cid)


def test_a_category_whose_messages_form_their_own_group_is_kept_with_its_id(proposal_run):
    proposal, fine, s = proposal_run
    billing, delivery = category(proposal, "c1"), category(proposal, "c2")
    assert (billing["status"], delivery["status"]) == ("kept", "kept")
    assert delivery["clusters"] == sorted(blob_groups(proposal, fine, s["blob_of"], 1))
    assert proposal["clusters"][delivery["clusters"][0]]["match"]["category"] == "c2"
    assert 0 <= delivery["moved"] < 0.05  # same blob at training and now: it barely moved
    assert delivery["size_after"] == PER_BLOB


def test_a_blob_with_no_reference_messages_nearby_is_a_candidate_new_category_with_its_evidence(proposal_run):
    proposal, fine, s = proposal_run
    (group,) = blob_groups(proposal, fine, s["blob_of"], 6)
    (new,) = [c for c in proposal["changes"] if c["kind"] == "new"]
    assert new["change"] == f"new:{group}" and new["cluster"] == group
    assert new["evidence"]["reference_ratio"] == 0.0
    assert new["evidence"]["assigned_shares"] == {"c1": 1.0}  # the classifier put it all in billing
    assert proposal["clusters"][group]["match"]["category"] is None
    assert proposal["clusters"][group]["novel_share"] == 1.0
    assert "scam" in proposal["clusters"][group]["top_terms"]


def test_a_candidate_records_how_unlikely_its_missing_reference_neighbours_are_by_chance(proposal_run):
    proposal, _, _ = proposal_run
    (new,) = [c for c in proposal["changes"] if c["kind"] == "new"]
    share = proposal["thresholds"]["expected_reference_share"]
    assert share == pytest.approx(100 / (240 + 100 - 1), abs=1e-6)
    assert new["evidence"]["new_pvalue"] == pytest.approx((1 - share) ** PER_BLOB, abs=1e-6)
    assert new["evidence"]["new_pvalue"] <= THRESHOLDS.new_alpha


def test_a_candidate_whose_evidence_could_be_chance_goes_back_to_the_category_its_messages_were_assigned_to():
    strict = MatchThresholds(distinct_similarity=0.6, new_alpha=1e-12)  # 40 messages without reference: p 1e-6
    proposal, fine, s = run(thresholds=strict)
    assert [c for c in proposal["changes"] if c["kind"] == "new"] == []
    (group,) = blob_groups(proposal, fine, s["blob_of"], 6)
    assert proposal["clusters"][group]["match"]["category"] == "c1"  # billing, where the classifier put them
    assert not any(item["new"] for item in proposal["fine_clusters"])


def test_the_window_is_never_cut_finer_than_twenty_messages_a_fine_cluster_on_average(proposal_run):
    assert window_k_range(1942) == (4, 1942 // MIN_MESSAGES_PER_FINE_CLUSTER) == (4, 97)
    assert window_k_range(6518) == (4, 200) and window_k_range(50) == (4, 4)
    proposal, _, _ = proposal_run
    assert proposal["n_fine_clusters"] <= 240 // MIN_MESSAGES_PER_FINE_CLUSTER
    assert max(int(k) for k in proposal["selection"]["k_silhouettes"]) <= 12


def test_the_window_groups_are_cut_as_discovery_cuts_them_comparing_messages_within_their_language(proposal_run):
    proposal, _, _ = proposal_run
    assert "within strata" in proposal["hierarchy"]["criterion"]


def test_two_categories_the_window_no_longer_separates_are_proposed_as_a_merge(proposal_run):
    proposal, fine, s = proposal_run
    (group,) = blob_groups(proposal, fine, s["blob_of"], 2)
    (merge,) = [c for c in proposal["changes"] if c["kind"] == "merge"]
    assert merge["change"] == "merge:c3+c4" and merge["categories"] == ["c3", "c4"] and merge["cluster"] == group
    assert category(proposal, "c3")["status"] == category(proposal, "c4")["status"] == "merged"
    assert category(proposal, "c3")["merged_with"] == ["c4"]


def test_one_category_in_two_far_apart_blobs_is_proposed_as_a_split(proposal_run):
    proposal, fine, s = proposal_run
    parts = blob_groups(proposal, fine, s["blob_of"], 3) | blob_groups(proposal, fine, s["blob_of"], 4)
    (split,) = [c for c in proposal["changes"] if c["kind"] == "split"]
    assert split["change"] == "split:c5" and sorted(split["clusters"]) == sorted(parts) and len(parts) == 2
    assert split["evidence"]["parts_similarity"] < THRESHOLDS.distinct_similarity
    assert category(proposal, "c5")["status"] == "split"


def test_a_category_with_no_messages_in_the_window_is_gone(proposal_run):
    proposal, _, _ = proposal_run
    promo = category(proposal, "c6")
    assert promo["status"] == "gone" and promo["clusters"] == [] and promo["share_after"] == 0.0
    assert promo["share_before"] == pytest.approx(20 / 100)
    assert {"change": "gone:c6", "kind": "gone", "category": "c6"}.items() <= \
        next(c for c in proposal["changes"] if c["kind"] == "gone").items()


def test_the_proposal_has_the_documented_shape_and_every_fine_cluster_is_in_exactly_one_group(proposal_run):
    proposal, fine, s = proposal_run
    assert proposal["schema"] == SCHEMA and re.fullmatch(r"prop-[0-9a-f]{16}", proposal["proposal_id"])
    assert proposal["base_map"] == {"version": 2, "hash": base_map().content_hash,
                                    "clustering_run": "run-0123456789abcdef"}
    assert proposal["model"] == {"model_version": "abc123"} and proposal["window"]["days"] == 28
    assert re.fullmatch(r"run-[0-9a-f]{16}", proposal["clustering_run"])
    assert proposal["n_fine_clusters"] == len(proposal["fine_clusters"]) == int(fine.max()) + 1
    listed = sorted(f for cluster in proposal["clusters"] for f in cluster["fine_clusters"])
    assert listed == list(range(proposal["n_fine_clusters"]))
    for item in proposal["fine_clusters"]:
        assert item["cluster"] in proposal["clusters"][item["group"]]["fine_clusters"]
        assert item["size"] == int((fine == item["cluster"]).sum()) == sum(item["assigned"].values())
    assert [c["cluster"] for c in proposal["clusters"]] == list(range(len(proposal["clusters"])))
    for cluster in proposal["clusters"]:
        assert set(cluster) >= {"cluster", "fine_clusters", "size", "name", "top_terms", "top_terms_by_language",
                                "representative", "borderline", "sizes_by_date", "novel_share", "match"}
        assert set(cluster["top_terms_by_language"]) == {"en", "es"}
        assert sum(cluster["sizes_by_date"].values()) == cluster["size"]
        assert set(cluster["match"]) >= {"category", "similarity", "overlap"}
    assert [c["id"] for c in proposal["categories"]] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    for entry in proposal["categories"]:
        assert set(entry) >= {"id", "name", "status", "clusters", "merged_with", "moved", "share_before",
                              "share_after", "size_after", "sizes_by_date", "evidence"}
    points = proposal["map_points"]
    assert len(points["x"]) == len(points["y"]) == len(points["cluster"]) == len(points["id"]) == 240
    assert json.loads(json.dumps(proposal)) == proposal  # plain JSON all the way down


def test_the_same_inputs_and_seed_give_a_byte_identical_proposal(proposal_run):
    again, _, _ = run()
    assert json.dumps(again, sort_keys=True) == json.dumps(proposal_run[0], sort_keys=True)


def test_a_window_whose_vectors_do_not_match_its_messages_is_refused_in_one_sentence():
    s = scenario()
    with pytest.raises(ValueError, match=r"^the window has 240 messages but 239 vectors and 240 assigned categories$"):
        propose(s["window"], s["vectors"][:-1], s["assigned"], base_map(), s["reference"], s["reference_categories"],
                clustering_params=PARAMS)


# --- every proposal is reviewable ---------------------------------------------------------------------------------

AT = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)


def absorbed_run(new_blob_to: str = "billing") -> tuple[dict, np.ndarray, dict, CategoryMap]:
    """The scenario with a seventh category, refunds (c7): trained on a blob of its own, which the window lacks,
    while the classifier puts every fifth billing and delivery message in it: a real share of the window, but a
    minority of every cluster. `new_blob_to`: where the classifier puts the new blob."""
    s = scenario()
    refunds = blob(0.8 * np.eye(DIMENSIONS)[7] + 0.6 * np.eye(DIMENSIONS)[-1], 20, np.random.default_rng(7))
    assigned = s["assigned"].copy()
    assigned[np.isin(s["blob_of"], [0, 1]) & (np.arange(len(assigned)) % 5 == 0)] = "refunds"
    assigned[s["blob_of"] == 6] = new_blob_to
    cmap = CategoryMap(2, "run-0123456789abcdef", (*base_map().entries,
                                                   Category("refunds", "refunds messages", (6,), id="c7")))
    proposal, fine = propose(s["window"], s["vectors"], assigned, cmap, np.vstack([s["reference"], refunds]),
                             np.concatenate([s["reference_categories"], ["refunds"] * 20]),
                             clustering_params=PARAMS, seed=0, thresholds=THRESHOLDS)
    return proposal, fine, s, cmap


@pytest.fixture(scope="module")
def absorbed_proposal():
    return absorbed_run()


def review_all(proposal: dict, cmap: CategoryMap, default: str, *items: dict):
    return apply_decisions(proposal, cmap, {"proposal": proposal["proposal_id"], "decisions": list(items)},
                           reviewer="t", at=AT, default=default)


def window_clusters_claimed(proposal: dict) -> list[int]:
    """Every window group each category (kept or split) or change (new, merge) owns, as review reads them."""
    owned = [g for c in proposal["categories"] if c["status"] in ("kept", "split") for g in c["clusters"]]
    return sorted(owned + [c["cluster"] for c in proposal["changes"] if c["kind"] in ("new", "merge")])


def test_every_window_group_belongs_to_exactly_one_category_or_change(proposal_run, absorbed_proposal):
    for proposal in (proposal_run[0], absorbed_proposal[0]):
        assert window_clusters_claimed(proposal) == list(range(len(proposal["clusters"])))


def test_accepting_every_change_of_a_proposal_gives_a_valid_next_map_covering_every_fine_cluster(proposal_run):
    proposal = proposal_run[0]
    cmap, log = review_all(proposal, base_map(), "accept")
    assert cmap.version == 3 and cmap.clustering_run == proposal["clustering_run"]
    assert sorted(cmap.cluster_to_category) == list(range(proposal["n_fine_clusters"]))
    ids = {e.id: e for e in cmap.entries}
    assert {"c1", "c2", "c5"} <= set(ids) and "c6" not in ids  # kept, split (keeps its id), gone retired
    assert len([c for c in ("c3", "c4") if c in ids]) == 1  # the merge kept one id
    assert [e.lineage for e in cmap.entries if e.lineage and "split_from" in e.lineage] == [{"split_from": "c5"}]
    assert [e.lineage for e in cmap.entries if e.lineage and "new_in" in e.lineage] == [{"new_in": 3}]
    assert {e["change"] for e in log if "change" in e} == {c["change"] for c in proposal["changes"]}


def cannot_be_rejected(proposal: dict) -> list[dict]:
    """Accept decisions for the changes the review rules refuse to reject: a gone category (nothing in the window
    to train it), a merge whose window cluster is one fine cluster (nothing to keep the two apart), and an absorbed
    category that no rejected candidate gives a cluster (the classifier put most of no candidate in it)."""
    sizes = {c["cluster"]: len(c["fine_clusters"]) for c in proposal["clusters"]}
    candidates_to = {max(c["evidence"]["assigned_shares"].items(), key=lambda item: item[1])[0]
                     for c in proposal["changes"] if c["kind"] == "new" and c["evidence"]["assigned_shares"]}
    return [{"change": c["change"], "action": "accept"} for c in proposal["changes"]
            if c["kind"] == "gone" or (c["kind"] == "merge" and sizes[c["cluster"]] < len(c["categories"]))
            or (c["kind"] == "absorbed" and c["category"] not in candidates_to)]


def test_rejecting_every_change_that_can_be_rejected_keeps_the_base_categories(proposal_run):
    proposal = proposal_run[0]
    forced = cannot_be_rejected(proposal)
    assert [d["change"] for d in forced] == ["merge:c3+c4", "gone:c6"]  # blob 2 is one fine cluster
    cmap, log = review_all(proposal, base_map(), "reject", *forced)
    assert sorted(cmap.cluster_to_category) == list(range(proposal["n_fine_clusters"]))
    assert {e.id for e in cmap.entries} in ({"c1", "c2", "c3", "c5"}, {"c1", "c2", "c4", "c5"})
    assert [e.lineage for e in cmap.entries if e.lineage] == [{"merged_from": ["c4"]}] or \
        [e.lineage for e in cmap.entries if e.lineage] == [{"merged_from": ["c3"]}]
    assert {e["change"] for e in log if e["action"] == "reject"} == {"new:" + str(c["cluster"]) for c in
                                                                    proposal["changes"] if c["kind"] == "new"} | {
        "split:c5"}


def test_rejecting_a_gone_category_or_a_merge_the_window_cannot_separate_is_refused_in_one_line(proposal_run):
    proposal = proposal_run[0]
    for change in ("merge:c3+c4", "gone:c6"):
        with pytest.raises(ReviewError, match=r"^change (merge:c3\+c4|gone:c6) \(rejected by default\): [^\n]+; "
                                              r"(accept the (merge|change)|evolve on a wider window)[^\n]*$"):
            review_all(proposal, base_map(), "reject", *[d for d in cannot_be_rejected(proposal)
                                                         if d["change"] != change])


def test_a_category_whose_messages_sit_only_in_other_categories_clusters_is_proposed_as_absorbed(absorbed_proposal):
    proposal, _, _, _ = absorbed_proposal
    refunds = category(proposal, "c7")
    assert refunds["status"] == "absorbed" and refunds["clusters"] == []
    (change,) = [c for c in proposal["changes"] if c["kind"] == "absorbed"]
    assert change["change"] == "absorbed:c7" and change["category"] == "c7" and change["into"] in ("c1", "c2")
    held = refunds["evidence"]["held_by"]
    assert {h["category"] for h in held} == {"c1", "c2"} and sum(h["share"] for h in held) == pytest.approx(1.0)
    assert change["clusters"] == [h["cluster"] for h in held]


def test_an_absorbed_category_accepted_is_retired_into_the_category_holding_most_of_its_messages(
        absorbed_proposal):
    proposal, _, _, cmap = absorbed_proposal
    into = next(c["into"] for c in proposal["changes"] if c["kind"] == "absorbed")
    new_map, log = review_all(proposal, cmap, "accept")
    ids = {e.id: e for e in new_map.entries}
    assert "c7" not in ids and "c7" in ids[into].lineage["merged_from"]
    assert sorted(new_map.cluster_to_category) == list(range(proposal["n_fine_clusters"]))
    (entry,) = [e for e in log if e.get("change") == "absorbed:c7"]
    assert entry["action"] == "accept" and entry["detail"].startswith(f"refunds absorbed into {into}")


def test_an_absorbed_category_cannot_be_kept_when_no_window_cluster_is_mostly_its_messages(absorbed_proposal):
    proposal, _, _, cmap = absorbed_proposal
    others = [d for d in cannot_be_rejected(proposal) if d["change"] != "absorbed:c7"]
    with pytest.raises(ReviewError, match=r"^change absorbed:c7 \(rejected by default\): c7 \(refunds\) cannot be "
                                          r"kept: no window cluster is mostly its messages, [^\n]+ wider window"):
        review_all(proposal, cmap, "reject", *others)


def test_an_absorbed_category_rejected_stays_with_the_candidates_whose_messages_it_was_given():
    proposal, fine, s, cmap = absorbed_run(new_blob_to="refunds")
    (new,) = [c for c in proposal["changes"] if c["kind"] == "new"]
    assert category(proposal, "c7")["status"] == "absorbed"
    new_map, log = review_all(proposal, cmap, "reject", *cannot_be_rejected(proposal))
    refunds = {e.id: e for e in new_map.entries}["c7"]
    assert refunds.name == "refunds" and set(refunds.clusters) == set(proposal["clusters"][new["cluster"]][
        "fine_clusters"])
    assert sorted(new_map.cluster_to_category) == list(range(proposal["n_fine_clusters"]))
