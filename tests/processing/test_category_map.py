"""The category map: file format, validation messages, content hash, draft maps and pseudo-labels."""
from __future__ import annotations

import json
import os
import pickle
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from processing.category_map import (
    NAME_PATTERN,
    Category,
    CategoryMap,
    CategoryMapError,
    Review,
    category_map_schema,
    check_against_clusters,
    draft_category_map,
    find_category_map,
    load_category_map,
    next_category_id,
    pseudo_labels,
    readable_name,
    save_category_map,
)

GOOD_YAML = """\
# reviewed by the support team
version: 3
clustering_run: "run-2026-11-19-a1b2c3"
reviewed: {by: "ana.lopez", at: "2026-11-20T10:00:00Z"}
discard_category: "_discard"
categories:
  - name: billing
    description: "Charges, invoices, double payments"
    clusters: [0, 7]
  - name: refunds
    description: "Refund requests"
    clusters: [1]
  - name: _discard
    description: "Spam and noise"
    clusters: [5]
"""


def good_doc() -> dict:
    """The GOOD_YAML document as plain data, for tests that break one field of it."""
    return yaml.safe_load(GOOD_YAML.replace('"2026-11-20T10:00:00Z"', "'2026-11-20T10:00:00Z'"))


def write(tmp_path: Path, text: str, name: str = "category_map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_doc(tmp_path: Path, doc: dict) -> CategoryMap:
    """Load a document written as JSON (so the test controls the exact types)."""
    return load_category_map(write(tmp_path, json.dumps(doc), "category_map.json"))


def load_error(tmp_path: Path, doc: dict) -> str:
    """The error message of loading `doc`, with the temp folder cut from the file name it starts with."""
    with pytest.raises(CategoryMapError) as caught:
        load_doc(tmp_path, doc)
    assert str(caught.value).startswith(f"{tmp_path / 'category_map.json'}: ")
    return str(caught.value).replace(f"{tmp_path}{os.sep}", "")


# ------------------------------------------------------------------------------------------- loading and saving


def test_a_valid_yaml_map_loads_with_its_categories_clusters_and_review(tmp_path):
    cmap = load_category_map(write(tmp_path, GOOD_YAML))
    assert cmap.version == 3
    assert cmap.clustering_run == "run-2026-11-19-a1b2c3"
    assert cmap.reviewed == Review("ana.lopez", datetime(2026, 11, 20, 10, tzinfo=timezone.utc))
    assert cmap.is_reviewed
    assert cmap.categories == ("billing", "refunds")  # the discard category is not a training category
    assert dict(cmap.cluster_to_category) == {0: "billing", 7: "billing", 1: "refunds", 5: "_discard"}
    assert cmap.discarded_clusters == {5}


def test_the_same_map_in_json_loads_to_an_equal_map_with_the_same_hash(tmp_path):
    from_yaml = load_category_map(write(tmp_path, GOOD_YAML))
    from_json = load_category_map(write(tmp_path, json.dumps(good_doc()), "category_map.json"))
    assert from_json == from_yaml
    assert from_json.content_hash == from_yaml.content_hash


def test_a_file_without_a_known_extension_is_read_as_json_or_yaml_by_its_content(tmp_path):
    as_json = load_category_map(write(tmp_path, json.dumps(good_doc()), "map.txt"))
    as_yaml = load_category_map(write(tmp_path, GOOD_YAML, "map.conf"))
    assert as_json == as_yaml


def test_an_unquoted_yaml_review_time_is_read_as_text_and_validated(tmp_path):
    text = GOOD_YAML.replace('at: "2026-11-20T10:00:00Z"', "at: 2026-11-20T11:00:00+01:00")
    cmap = load_category_map(write(tmp_path, text))
    assert cmap.reviewed.at == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("name", ["category_map.yaml", "category_map.json"])
def test_save_then_load_gives_back_an_equal_map(tmp_path, name):
    cmap = load_category_map(write(tmp_path, GOOD_YAML))
    saved = save_category_map(cmap, tmp_path / name)
    assert load_category_map(saved) == cmap
    assert load_category_map(saved).content_hash == cmap.content_hash


def test_saved_yaml_has_an_editing_header_stable_key_order_and_inline_cluster_lists(tmp_path):
    cmap = load_category_map(write(tmp_path, GOOD_YAML))
    text = save_category_map(cmap, tmp_path / "saved.yaml").read_text(encoding="utf-8")
    assert text.startswith("# tweetops category map")
    top_keys = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[a-z_]+:", line)]
    assert top_keys == ["version", "clustering_run", "reviewed", "discard_category", "categories"]
    assert "clusters: [0, 7]" in text
    assert "UNREVIEWED" not in text


def test_saving_replaces_the_file_atomically_and_leaves_no_temp_file(tmp_path):
    path = write(tmp_path, "old content\n")
    path.chmod(0o640)
    save_category_map(load_category_map(write(tmp_path, GOOD_YAML, "src.yaml")), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["category_map.yaml", "src.yaml"]
    assert path.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions
    assert load_category_map(path).version == 3


# ------------------------------------------------------------------------------------------------- content hash


def test_hash_is_unchanged_by_comments_formatting_key_order_and_list_order(tmp_path):
    original = load_category_map(write(tmp_path, GOOD_YAML))
    reformatted = """\
categories:
- clusters:
  - 5
  name: _discard
  description: Spam and noise
- {name: refunds, clusters: [1], description: Refund requests}
- name: billing
  clusters: [7, 0]   # order within a list does not matter
  description: >-
    Charges, invoices, double payments
reviewed:
  at: 2026-11-20T11:00:00+01:00   # same instant as 10:00Z
  by: ana.lopez
discard_category: _discard
clustering_run: run-2026-11-19-a1b2c3
version: 3
"""
    assert load_category_map(write(tmp_path, reformatted, "other.yaml")).content_hash == original.content_hash


def test_hash_is_unchanged_by_writing_the_default_discard_category_explicitly(tmp_path):
    explicit = load_doc(tmp_path, good_doc())
    implicit_doc = good_doc()
    del implicit_doc["discard_category"]
    assert load_doc(tmp_path, implicit_doc).content_hash == explicit.content_hash


@pytest.mark.parametrize("change", [
    lambda d: d.update(version=4),
    lambda d: d.update(clustering_run="run-other"),
    lambda d: d.update(reviewed=None),
    lambda d: d["reviewed"].update(by="someone.else"),
    lambda d: d["categories"][0].update(name="payments"),
    lambda d: d["categories"][0].update(description="Charges"),
    lambda d: d["categories"][0]["clusters"].append(9),
    lambda d: d["categories"][0]["clusters"].remove(7) or d["categories"][1]["clusters"].append(7),
], ids=["version", "clustering_run", "unreviewed", "reviewer", "name", "description", "new_cluster", "moved_cluster"])
def test_hash_changes_when_the_content_changes(tmp_path, change):
    original = load_doc(tmp_path, good_doc())
    changed_doc = good_doc()
    change(changed_doc)
    assert load_doc(tmp_path, changed_doc).content_hash != original.content_hash


def test_hash_is_a_sha256_hex_digest(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{64}", load_doc(tmp_path, good_doc()).content_hash)


# --------------------------------------------------------------------------------------------------- validation


def test_a_non_integer_cluster_id_is_named_by_its_position(tmp_path):
    doc = good_doc()
    doc["categories"][1]["clusters"] = ["x"]
    message = load_error(tmp_path, doc)
    assert message.startswith("category_map.json: ")
    assert "categories[1].clusters[0] (category 'refunds'): 'x' is not an integer" in message


def test_a_float_cluster_id_is_rejected_although_json_schema_counts_it_as_an_integer(tmp_path):
    doc = good_doc()
    doc["categories"][0]["clusters"] = [0, 7.0]
    assert "categories[0].clusters[1] (category 'billing'): 7.0 is not an integer" in load_error(tmp_path, doc)


def test_a_negative_cluster_id_is_rejected(tmp_path):
    doc = good_doc()
    doc["categories"][1]["clusters"] = [-1]
    assert "categories[1].clusters[0] (category 'refunds'): -1 is negative" in load_error(tmp_path, doc)


def test_a_cluster_in_two_categories_names_both_categories(tmp_path):
    doc = good_doc()
    doc["categories"][2]["clusters"] = [5, 7]
    assert ("categories[2] (name '_discard'): cluster 7 is already mapped to 'billing' (categories[0])"
            in load_error(tmp_path, doc))


def test_a_cluster_listed_twice_in_one_category_is_rejected(tmp_path):
    doc = good_doc()
    doc["categories"][0]["clusters"] = [0, 7, 7]
    assert "categories[0].clusters (category 'billing'): 7 listed more than once" in load_error(tmp_path, doc)


def test_a_duplicate_category_name_names_the_first_use(tmp_path):
    doc = good_doc()
    doc["categories"][1]["name"] = "billing"
    assert ("categories[1] (name 'billing'): the name 'billing' is already used by categories[0]"
            in load_error(tmp_path, doc))


@pytest.mark.parametrize("bad_name", ["Billing", "billing issues", "facturación", "-billing", "", "a" * 65])
def test_an_unsafe_category_name_is_rejected_with_the_naming_rule(tmp_path, bad_name):
    doc = good_doc()
    doc["categories"][0]["name"] = bad_name
    message = load_error(tmp_path, doc)
    assert "categories[0].name: " in message
    assert "lowercase letters a-z" in message or "must not be empty" in message


def test_a_category_without_clusters_is_rejected(tmp_path):
    doc = good_doc()
    doc["categories"][1]["clusters"] = []
    assert ("categories[1].clusters (category 'refunds'): a category needs at least one cluster"
            in load_error(tmp_path, doc))


@pytest.mark.parametrize("field, where", [
    ("name", "categories[1]"),  # no name to show
    ("description", "categories[1] (name 'refunds')"),
    ("clusters", "categories[1] (name 'refunds')"),
])
def test_a_category_missing_a_field_names_the_category_and_the_field(tmp_path, field, where):
    doc = good_doc()
    del doc["categories"][1][field]
    assert f"{where}: missing required field '{field}'" in load_error(tmp_path, doc)


@pytest.mark.parametrize("field", ["version", "clustering_run", "categories"])
def test_a_map_missing_a_top_level_field_names_the_field(tmp_path, field):
    doc = good_doc()
    del doc[field]
    assert load_error(tmp_path, doc) == f"category_map.json: missing required field '{field}'"


def test_an_unknown_field_is_rejected_so_typos_are_not_silently_ignored(tmp_path):
    doc = good_doc()
    doc["categories"][0]["cluster"] = doc["categories"][0].pop("clusters")
    message = load_error(tmp_path, doc)
    assert "categories[0] (name 'billing'): unknown field 'cluster' (allowed: name, description, clusters, id, lineage)" in message
    assert "categories[0] (name 'billing'): missing required field 'clusters'" in message


@pytest.mark.parametrize("version, expected", [
    ("3", "version: '3' is not an integer"),
    (0, "version: 0 is not a valid version; versions start at 1"),
    (3.0, "version: 3.0 is not an integer"),
    (True, "version: true is not an integer"),
])
def test_a_bad_version_is_rejected(tmp_path, version, expected):
    doc = good_doc()
    doc["version"] = version
    assert expected in load_error(tmp_path, doc)


@pytest.mark.parametrize("at, expected", [
    ("20 Nov 2026", "reviewed.at: '20 Nov 2026' is not an ISO 8601 date-time"),
    ("2026-11-20", "reviewed.at: '2026-11-20' is not an ISO 8601 date-time"),
    ("2026-11-20T10:00:00", "reviewed.at: '2026-11-20T10:00:00' is not an ISO 8601 date-time with a UTC offset"),
    ("2026-13-20T10:00:00Z", "reviewed.at: '2026-13-20T10:00:00Z' is not a valid date-time (month must be in 1..12)"),
])
def test_a_bad_review_time_is_rejected(tmp_path, at, expected):
    doc = good_doc()
    doc["reviewed"]["at"] = at
    assert expected in load_error(tmp_path, doc)


def test_a_review_without_a_reviewer_is_rejected(tmp_path):
    doc = good_doc()
    del doc["reviewed"]["by"]
    assert "reviewed: missing required field 'by'" in load_error(tmp_path, doc)


def test_an_explicit_discard_category_must_name_a_listed_category(tmp_path):
    doc = good_doc()
    doc["discard_category"] = "_discrad"
    assert "discard_category: '_discrad' names no category" in load_error(tmp_path, doc)


def test_a_map_whose_only_category_is_the_discard_category_is_rejected(tmp_path):
    doc = good_doc()
    doc["categories"] = [doc["categories"][2]]
    assert "at least one category must be kept for training" in load_error(tmp_path, doc)


def test_several_problems_are_reported_together_in_document_order(tmp_path):
    doc = good_doc()
    doc["categories"][0]["clusters"] = ["x"]
    doc["version"] = "3"
    message = load_error(tmp_path, doc)
    assert message.startswith("category_map.json: 2 problems:\n  - categories[0]")
    assert message.endswith("  - version: '3' is not an integer")
    assert list(CategoryMapError(["a", "b"]).problems) == ["a", "b"]


def test_errors_never_show_a_jsonschema_dump(tmp_path):
    doc = good_doc()
    doc["categories"][0] = "billing"
    message = load_error(tmp_path, doc)
    assert message == "category_map.json: categories[0]: 'billing' is not a mapping"
    assert "Failed validating" not in message


@pytest.mark.parametrize("text, expected", [
    ("", "a category map must be a mapping with version, clustering_run and categories; found nothing"),
    ("- 1\n- 2\n", "found a list"),
    ("version: 3\nversion: 4\n", "found duplicate key 'version'"),
    ("version: [3\n", "invalid YAML at line 2"),
])
def test_unreadable_yaml_is_reported_with_the_file_name(tmp_path, text, expected):
    with pytest.raises(CategoryMapError, match=re.escape(expected)) as caught:
        load_category_map(write(tmp_path, text))
    assert str(caught.value).startswith(f"{tmp_path / 'category_map.yaml'}: ")


@pytest.mark.parametrize("text, expected", [
    ('{"version": 3,', "invalid JSON at line 1, column 15"),
    ('{"version": 3, "version": 4}', "duplicate key 'version'"),
])
def test_unreadable_json_is_reported_with_the_file_name(tmp_path, text, expected):
    with pytest.raises(CategoryMapError, match=re.escape(expected)):
        load_category_map(write(tmp_path, text, "category_map.json"))


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")) + "version: *i\n"


def test_a_yaml_map_with_nested_aliases_is_refused_at_once_without_expanding_them(tmp_path):
    # It took 13.5 s and 1.1 GB: an error message built the repr of the expanded value before shortening it.
    assert len(BILLION_LAUGHS) < 700
    started = time.perf_counter()
    with pytest.raises(CategoryMapError) as caught:
        load_category_map(write(tmp_path, BILLION_LAUGHS))
    assert time.perf_counter() - started < 1
    assert str(caught.value).endswith("invalid YAML at line 2, column 8: aliases (*name) are not allowed in a "
                                      "category map; write the value out")


def test_a_single_yaml_alias_is_refused_too_since_a_map_has_no_use_for_one(tmp_path):
    text = GOOD_YAML.replace("clusters: [0, 7]", "clusters: &billing [0, 7]").replace("clusters: [1]",
                                                                                      "clusters: *billing")
    with pytest.raises(CategoryMapError, match=re.escape("aliases (*name) are not allowed")):
        load_category_map(write(tmp_path, text))


@pytest.mark.parametrize("name, text", [
    ("category_map.yaml", "version: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("category_map.yaml", "version:\n" + "".join(" " * depth + "- \n" for depth in range(0, 200, 2)) + "\n"),
    ("category_map.json", '{"version": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("map", '{"version": ' + "[" * 100_000 + "]" * 100_000 + "}"),
])
def test_a_deeply_nested_map_is_one_clear_error_not_a_recursion_error(tmp_path, name, text):
    with pytest.raises(CategoryMapError) as caught:
        load_category_map(write(tmp_path, text, name))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / name}: invalid ")
    assert "nested deeper than 64 levels; a category map is four levels deep" in message
    assert "\n" not in message


def test_a_large_value_in_a_map_is_shown_shortened(tmp_path):
    doc = good_doc()
    doc["version"] = [["x" * 100_000] * 10] * 3
    message = load_error(tmp_path, doc)
    assert message.startswith("category_map.json: version: [['xxxxxxxxxx")
    assert message.endswith("... is not an integer") and len(message) < 120


def test_a_json_map_with_an_integer_too_long_to_read_is_one_clear_error(tmp_path):
    with pytest.raises(CategoryMapError, match="a number has more than 4300 digits"):
        load_category_map(write(tmp_path, '{"version": ' + "9" * 5000 + "}", "category_map.json"))


def test_a_map_file_larger_than_any_map_is_refused_before_it_is_read(tmp_path):
    path = write(tmp_path, "# " + "x" * (5 << 20) + "\n" + GOOD_YAML)
    with pytest.raises(CategoryMapError, match="is too large for a category map"):
        load_category_map(path)


def test_a_missing_file_raises_category_map_error(tmp_path):
    with pytest.raises(CategoryMapError, match="cannot read the file"):
        load_category_map(tmp_path / "absent.yaml")


def test_constructing_an_invalid_map_in_code_runs_the_same_checks():
    with pytest.raises(CategoryMapError, match=r"cluster 1 is already mapped to 'a' \(categories\[0\]\)"):
        CategoryMap(1, "run", (Category("a", "A", (1,)), Category("b", "B", [1, 2])))
    with pytest.raises(CategoryMapError, match="has no UTC offset|with a UTC offset"):
        CategoryMap(1, "run", (Category("a", "A", (1,)),), reviewed=Review("ana", datetime(2026, 11, 20)))


# ---------------------------------------------------------------------------------------------- the schema file


def test_a_map_built_in_code_accepts_numpy_cluster_ids_and_its_errors_pickle():
    cmap = CategoryMap(1, "run", (Category("a", "A", np.array([3, 1])),))
    assert cmap.entries[0].clusters == (3, 1) and type(cmap.entries[0].clusters[0]) is int
    error = pickle.loads(pickle.dumps(CategoryMapError(["one", "two"], "map.yaml")))
    assert (error.problems, error.source) == (["one", "two"], "map.yaml")


def test_the_schema_file_is_a_valid_draft_2020_12_schema():
    schema = category_map_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_file_accepts_the_documented_example():
    jsonschema.Draft202012Validator(category_map_schema()).validate(good_doc())


@pytest.mark.parametrize("break_it", [
    lambda d: d.pop("clustering_run"),
    lambda d: d.update(version=0),
    lambda d: d.update(extra=1),
    lambda d: d["reviewed"].update(at="yesterday"),
    lambda d: d["categories"][0].update(name="Billing"),
    lambda d: d["categories"][0].update(clusters=[]),
    lambda d: d["categories"][0].update(clusters=[-1]),
    lambda d: d["categories"][0].update(clusters=[1, 1]),
    lambda d: d.update(categories=[]),
], ids=["no_run", "version_0", "unknown_field", "bad_time", "bad_name", "no_clusters", "negative", "repeat", "empty"])
def test_the_schema_file_rejects_broken_maps(break_it):
    doc = good_doc()
    break_it(doc)
    assert not jsonschema.Draft202012Validator(category_map_schema()).is_valid(doc)


def test_the_schema_name_pattern_matches_the_module_name_rule():
    assert category_map_schema()["$defs"]["category_name"]["pattern"] == NAME_PATTERN.pattern


# ----------------------------------------------------------------------------------------------------- drafting


def test_a_draft_map_has_one_category_per_cluster_named_from_its_top_terms():
    draft = draft_category_map(
        {1: ["Facturación", "doble", "cobro", "tarjeta"], 0: ["refund", "money back"]}, "run-abc")
    assert [(e.name, e.clusters) for e in draft.entries] == [
        ("refund_money_back", (0,)), ("facturacion_doble_cobro", (1,))]
    assert draft.entries[1].description == "Auto-drafted from cluster 1; top terms: Facturación, doble, cobro, tarjeta"


def test_a_draft_map_is_an_unreviewed_version_1_of_the_given_clustering():
    draft = draft_category_map({0: ["a"]}, "run-abc")
    assert (draft.version, draft.clustering_run, draft.reviewed, draft.is_reviewed) == (1, "run-abc", None, False)


def test_draft_names_are_deduplicated_with_a_suffix_and_never_empty():
    draft = draft_category_map({0: ["pago", "tarjeta"], 1: ["Pago!", "TARJETA"], 2: ["pago", "tarjeta"],
                                3: ["😀", "!!!"], 4: []}, "run")
    assert [e.name for e in draft.entries] == ["pago_tarjeta", "pago_tarjeta_2", "pago_tarjeta_3",
                                              "cluster_3", "cluster_4"]
    assert all(NAME_PATTERN.match(e.name) for e in draft.entries)


def test_a_draft_accepts_cluster_ids_as_json_string_keys_or_numpy_ints():
    draft = draft_category_map({"2": ["b"], np.int64(1): ["a"]}, "run")
    assert dict(draft.cluster_to_category) == {1: "a", 2: "b"}


def test_a_saved_draft_says_it_is_unreviewed_and_loads_back(tmp_path):
    draft = draft_category_map({0: ["pago"], 1: ["envio"]}, "run-abc")
    path = save_category_map(draft, tmp_path / "draft.yaml")
    assert "UNREVIEWED DRAFT" in path.read_text(encoding="utf-8")
    assert "reviewed: null" in path.read_text(encoding="utf-8")
    assert load_category_map(path) == draft


# ------------------------------------------------------------------------------------------------ pseudo-labels


@pytest.fixture
def cmap(tmp_path) -> CategoryMap:
    return load_category_map(write(tmp_path, GOOD_YAML))


def test_pseudo_labels_map_each_message_to_its_clusters_category(cmap):
    labels = pseudo_labels([0, 1, 7, 0], cmap)
    assert labels.dtype == object
    assert labels.tolist() == ["billing", "refunds", "billing", "billing"]


def test_messages_in_discarded_clusters_get_no_label(cmap):
    assert pseudo_labels(np.array([5, 0, 5]), cmap).tolist() == [None, "billing", None]


def test_unmapped_clusters_raise_by_default_listing_clusters_and_message_counts(cmap):
    with pytest.raises(CategoryMapError) as caught:
        pseudo_labels([0, 3, 3, 9, -1], cmap)
    message = str(caught.value)
    assert "3 clusters are not in the category map (version 3" in message
    assert "cluster -1 (1 message), cluster 3 (2 messages), cluster 9 (1 message)" in message
    assert "unmapped='discard'" in message


def test_unmapped_clusters_can_be_discarded_instead(cmap):
    assert pseudo_labels([0, 3, 5], cmap, unmapped="discard").tolist() == ["billing", None, None]


def test_pseudo_labels_reject_non_integer_cluster_ids_and_bad_modes(cmap):
    assert pseudo_labels([], cmap).tolist() == []
    with pytest.raises(TypeError):
        pseudo_labels([0.5], cmap)
    with pytest.raises(ValueError):
        pseudo_labels([0], cmap, unmapped="ignore")


# ------------------------------------------------------------------------------------ checking against clusters


def test_check_against_clusters_returns_the_clusterings_unmapped_clusters(cmap):
    assert check_against_clusters(cmap, range(9)) == [2, 3, 4, 6, 8]


def test_check_against_clusters_rejects_map_clusters_the_clustering_lacks(cmap):
    with pytest.raises(CategoryMapError, match=r"names cluster 7 \(in 'billing'\) that clustering run "
                                               r"'run-2026-11-19-a1b2c3' does not have \(its clusters: 0-6\)"):
        check_against_clusters(cmap, range(7))


def test_check_against_clusters_rejects_a_map_written_for_another_clustering_run(cmap):
    with pytest.raises(CategoryMapError, match="was written for clustering run 'run-2026-11-19-a1b2c3'"):
        check_against_clusters(cmap, range(9), clustering_run="run-other")
    assert check_against_clusters(cmap, range(9), clustering_run="run-2026-11-19-a1b2c3") == [2, 3, 4, 6, 8]


# ------------------------------------------------------------------------------------------- identity and lineage


def lineage_doc() -> dict:
    """A reviewed version 4 made from version 3: stable ids, a split, a merge, a rename and the changelog."""
    doc = good_doc()
    doc["version"] = 4
    doc["previous"] = {"version": 3, "hash": "ab" * 32}
    doc["categories"] = [
        {"id": "c1", "name": "billing", "description": "Charges", "clusters": [0, 7],
         "lineage": {"renamed_from": "invoices"}},
        {"id": "c5", "name": "card_stolen", "description": "Stolen cards", "clusters": [2], "lineage": {"split_from": "c2"}},
        {"id": "c2", "name": "card_lost", "description": "Lost cards", "clusters": [3]},
        {"id": "c3", "name": "payments", "description": "Payments", "clusters": [4, 5], "lineage": {"merged_from": ["c4"]}},
        {"name": "_discard", "description": "Spam", "clusters": [9]},
    ]
    doc["changelog"] = [
        {"version": 4, "at": "2026-12-01T09:00:00Z", "by": "ana", "action": "split", "change": "split:c2",
         "category": "c5", "name": "card_stolen", "reason": "stolen is not lost"},
        {"version": 4, "at": "2026-12-01T09:00:00Z", "by": "ana", "action": "merge", "change": "merge:c3+c4",
         "category": "c4", "reason": "same thing"},
    ]
    return doc


def test_ids_lineage_previous_and_changelog_round_trip_through_a_file(tmp_path):
    cmap = load_doc(tmp_path, lineage_doc())
    assert cmap.ids == {"billing": "c1", "card_stolen": "c5", "card_lost": "c2", "payments": "c3", "_discard": "_discard"}
    assert cmap.entries[1].lineage == {"split_from": "c2"}
    assert cmap.previous == {"version": 3, "hash": "ab" * 32}
    assert [item["action"] for item in cmap.changelog] == ["split", "merge"]
    saved = load_category_map(save_category_map(cmap, tmp_path / "again.yaml"))
    assert saved == cmap and saved.content_hash == cmap.content_hash


def test_a_category_keeps_its_id_when_renamed_and_the_id_is_part_of_the_hash(tmp_path):
    cmap = load_doc(tmp_path, lineage_doc())
    assert cmap.category_id("billing") == "c1"
    other = lineage_doc()
    other["categories"][0]["id"] = "c9"
    assert load_doc(tmp_path, other).content_hash != cmap.content_hash


def test_a_map_written_before_ids_keeps_its_hash_and_uses_names_as_ids(tmp_path):
    cmap = load_category_map(write(tmp_path, GOOD_YAML))
    # The hash registered packages carry for maps made before ids existed (issue 15 must not change it).
    legacy = CategoryMap(cmap.version, cmap.clustering_run, cmap.entries, cmap.reviewed, cmap.discard_category)
    assert cmap.content_hash == legacy.content_hash
    assert cmap.category_id("billing") == "billing"


def test_two_categories_with_one_id_are_rejected(tmp_path):
    doc = lineage_doc()
    doc["categories"][2]["id"] = "c5"
    assert "categories[2] (name 'card_lost'): the id 'c5' is already used by categories[1]" in load_error(tmp_path, doc)


@pytest.mark.parametrize("field, value, expected", [
    ("id", "12", "categories[1].id (category 'card_stolen'): '12' is not a category id"),
    ("lineage", {"merged_from": ["c2", "x"]}, "categories[1].lineage.merged_from[1] (category 'card_stolen'): 'x' is "
                                              "not a category id"),
    ("lineage", {"split_from": "c2", "parent": "c1"}, "unknown field 'parent'"),
])
def test_bad_ids_and_lineage_are_named(tmp_path, field, value, expected):
    doc = lineage_doc()
    doc["categories"][1][field] = value
    assert expected in load_error(tmp_path, doc)


def test_a_changelog_entry_needs_who_when_and_what(tmp_path):
    doc = lineage_doc()
    del doc["changelog"][0]["by"]
    assert "changelog[0]: missing required field 'by'" in load_error(tmp_path, doc)


def test_next_category_id_never_reuses_a_retired_id(tmp_path):
    cmap = load_doc(tmp_path, lineage_doc())
    assert next_category_id(cmap) == "c6"  # c5 is the highest in use; c4 was retired by the merge


def test_a_draft_from_groups_has_one_category_per_group_with_ids_and_readable_names():
    cmap = draft_category_map([((4, 0, 9), ["top", "top up", "cancel", "top not"]), ((1,), ["pago", "tarjeta"])],
                              clustering_run="run-x")
    assert [(e.id, e.name, e.clusters) for e in cmap.entries] == [
        ("c1", "top_up_cancel", (0, 4, 9)), ("c2", "pago_tarjeta", (1,))]
    assert "clusters 0, 4, 9" in cmap.entries[0].description


@pytest.mark.parametrize("terms, name", [
    (["top", "top top", "cancel", "top not"], "top_cancel"),
    (["Facturación doble", "factura", "cobro"], "facturacion_doble_factura"),
    (["not", "no"], ""),
])
def test_readable_names_never_repeat_a_word(terms, name):
    assert readable_name(terms) == name


def test_a_category_map_folder_without_a_map_means_the_draft(tmp_path):
    (tmp_path / "README.txt").write_text("empty on purpose")
    assert find_category_map(tmp_path) is None
    (tmp_path / "map.yaml").write_text("x")
    assert find_category_map(tmp_path) == tmp_path / "map.yaml"
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="several category maps"):
        find_category_map(tmp_path)
