"""Category map versions as rows of the category_maps table: one row per category, the catalog's schema, the
date=<day>/<run>.parquet layout, and the same bytes whether written to a folder or put to S3."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pyarrow.parquet as pq
import pytest

from processing import catalog
from processing.category_map import Category, CategoryMap, Review, draft_category_map
from processing.map_versions import (category_map_rows, map_version_key, map_version_parquet, review_run,
                                     write_map_version)

TABLE = catalog.TABLES["category_maps"]


@pytest.fixture
def draft() -> CategoryMap:
    return draft_category_map([((0, 3), ["pago", "tarjeta"]), ((1,), ["envio", "paquete"]), ((2,), ["hola"])],
                              clustering_run="run-0123456789abcdef")


@pytest.fixture
def reviewed(draft) -> CategoryMap:
    """Version 2 as a review writes it: a rename, a split, a new category, a discard category, the reviewer."""
    return CategoryMap(
        version=2, clustering_run="run-0123456789abcdef",
        entries=(Category("pagos", "Payments", (0,), "c1", {"renamed_from": "pago_tarjeta"}),
                 Category("tarjetas", "Cards", (3,), "c4", {"split_from": "c1"}),
                 Category("envio_paquete", "Deliveries", (1,), "c2"),
                 Category("fraude", "Scams", (4,), "c5", {"new_in": 2}),
                 Category("_discard", "Noise", (2,), "c3")),
        reviewed=Review("ana", datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)),
        previous={"version": 1, "hash": draft.content_hash})


def test_a_draft_gives_one_unreviewed_row_per_category_with_its_clusters_as_json(draft):
    rows = category_map_rows(draft, "exec-1", "2024-03-04T10:15:00Z")
    assert list(rows.columns) == TABLE.column_names
    assert rows["category_id"].tolist() == ["c1", "c2", "c3"]
    assert [json.loads(value) for value in rows["clusters"]] == [[0, 3], [1], [2]]
    assert rows["name"].tolist() == [entry.name for entry in draft.entries]
    assert set(rows["map_version"]) == {1} and set(rows["map_hash"]) == {draft.content_hash}
    assert not rows["reviewed"].any() and rows["reviewed_by"].isna().all() and rows["reviewed_at"].isna().all()
    assert rows["lineage"].map(json.loads).tolist() == [{}, {}, {}]
    assert set(rows["execution"]) == {"exec-1"} and set(rows["written_at"]) == {"2024-03-04T10:15:00+00:00"}


def test_a_reviewed_version_names_its_reviewer_and_each_categorys_lineage(reviewed):
    rows = category_map_rows(reviewed, review_run("prop-00112233aabbccdd"), datetime(2024, 3, 5, 9, 30,
                                                                                      tzinfo=timezone.utc))
    assert rows["reviewed"].all() and set(rows["reviewed_by"]) == {"ana"}
    assert set(rows["reviewed_at"]) == {"2024-03-05T09:00:00Z"}
    lineage = dict(zip(rows["category_id"], rows["lineage"].map(json.loads)))
    assert lineage == {"c1": {"renamed_from": "pago_tarjeta"}, "c4": {"split_from": "c1"}, "c2": {},
                       "c5": {"new_in": 2}, "c3": {}}
    assert set(rows["execution"]) == {"review-prop-00112233aabbccdd"}
    assert "_discard" in set(rows["name"])  # the discard category is a category of the version too


def test_a_map_written_before_ids_uses_the_names_as_category_ids():
    old = CategoryMap(version=1, clustering_run="run-x", entries=(Category("billing", "b", (0,)),
                                                                   Category("delivery", "d", (1,))))
    assert category_map_rows(old, "exec-1", "2024-03-04")["category_id"].tolist() == ["billing", "delivery"]


def test_the_file_has_the_catalogs_schema_and_lands_in_the_day_partition_of_written_at(draft, tmp_path):
    path = write_map_version(draft, tmp_path, "exec-1", "2024-03-04T23:30:00-02:00")  # 01:30 UTC next day
    assert path == tmp_path / "date=2024-03-05" / "exec-1.parquet"
    assert pq.read_schema(path).remove_metadata() == TABLE.arrow_schema()
    frame = pd.read_parquet(path)
    assert len(frame) == len(draft.entries) and set(frame["written_at"]) == {"2024-03-05T01:30:00+00:00"}
    assert map_version_key(draft, "exec-1", "2024-03-04T23:30:00-02:00") == \
        "category-map-versions/date=2024-03-05/exec-1.parquet"


def test_the_bytes_put_to_s3_are_the_bytes_written_to_a_folder_and_repeat(reviewed, tmp_path):
    written = write_map_version(reviewed, tmp_path, "review-prop-1", "2024-03-05T09:30:00Z").read_bytes()
    assert map_version_parquet(reviewed, "review-prop-1", "2024-03-05T09:30:00Z") == written
    assert map_version_parquet(reviewed, "review-prop-1", "2024-03-05T09:30:00Z") == written


@pytest.mark.parametrize("run, written_at, message", [
    ("../escape", "2024-03-04", "must be 1-128 letters"),
    ("exec-1", "yesterday", "written_at 'yesterday' is not an ISO 8601 date or time"),
])
def test_a_bad_run_name_or_time_is_refused_in_one_line(draft, tmp_path, run, written_at, message):
    with pytest.raises(ValueError, match=message):
        write_map_version(draft, tmp_path, run, written_at)
    assert not any(tmp_path.rglob("*.parquet"))
