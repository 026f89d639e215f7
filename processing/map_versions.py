"""Category map versions as rows of the `category_maps` table (processing/catalog.py): one row per category of a
map version, so that SQL can say which categories a version had, who reviewed it and where each came from.

Written by the training pipeline's RecordCategoryMap step (the draft the Cluster step made), by `tweetops review`
and by the review function (the reviewed version N+1), each as `category-map-versions/date=<day>/<run>.parquet`.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from processing import catalog
from processing.category_map import CategoryMap, find_category_map, load_category_map
from processing.evolution.accumulate import scoring_time

TABLE = catalog.TABLES["category_maps"]
REVIEW_RUN_PREFIX = "review-"  # the run (file and `execution` column) of a review: review-<proposal id>


def category_map_rows(cmap: CategoryMap, execution: str, written_at: str | dt.datetime) -> pd.DataFrame:
    """The `category_maps` rows of one map version: one per category in file order (the discard category
    included), clusters and lineage as JSON text (lineage `{}` when the category has none)."""
    document = cmap.to_dict()
    reviewed = document["reviewed"] or {}
    rows = [{
        "map_version": cmap.version, "map_hash": cmap.content_hash,
        "category_id": entry.get("id", entry["name"]),  # a map written before ids: the name is the identity
        "name": entry["name"], "description": entry["description"],
        "clusters": json.dumps(entry["clusters"]),
        "reviewed": cmap.is_reviewed, "reviewed_by": reviewed.get("by"), "reviewed_at": reviewed.get("at"),
        "lineage": json.dumps(entry.get("lineage", {}), sort_keys=True),
        "execution": execution, "written_at": written_time(written_at),
    } for entry in document["categories"]]
    return pd.DataFrame(rows, columns=TABLE.column_names)


def written_time(value: str | dt.datetime) -> str:
    """ISO 8601 text of a time in UTC (as the predictions' scored_at); ValueError naming a value that is none."""
    try:
        return scoring_time(value).isoformat()
    except ValueError:
        raise ValueError(f"written_at {value!r} is not an ISO 8601 date or time") from None


def review_run(proposal_id: str) -> str:
    """The run name of the review of a proposal: its table file and `execution` column."""
    return f"{REVIEW_RUN_PREFIX}{proposal_id}"


def map_version_key(cmap: CategoryMap, execution: str, written_at: str | dt.datetime) -> str:
    """`category-map-versions/date=<day>/<execution>.parquet`: the file's key below the prefix (day of written_at)."""
    day = scoring_time(written_time(written_at)).date()
    return f"{TABLE.zone}/{catalog.partition_file(TABLE, day, execution)}"


def map_version_parquet(cmap: CategoryMap, execution: str, written_at: str | dt.datetime) -> bytes:
    """The Parquet bytes of a map version's rows (what the review function puts to S3)."""
    buffer = io.BytesIO()
    pq.write_table(catalog.conform(TABLE, category_map_rows(cmap, execution, written_at)), buffer)
    return buffer.getvalue()


def write_map_version(cmap: CategoryMap, zone_folder: str | Path, execution: str,
                      written_at: str | dt.datetime) -> Path:
    """Write a map version's rows into the category-map-versions zone folder (date=<day>/<execution>.parquet)."""
    written = written_time(written_at)
    return catalog.write_partition(TABLE, category_map_rows(cmap, execution, written), zone_folder,
                                   scoring_time(written).date(), execution)


def record_map_job(category_map_path: str | Path, output_dir: str | Path, *, run_id: str, run_date: str) -> dict:
    """The Cluster step's draft map as rows of the category_maps table: output_dir/date=<day>/<run_id>.parquet.

    A reviewed map (given to the Cluster step) is not written again: the review that made it wrote its rows.
    Separate from cluster_job because the run id changes every execution: in the Cluster step's arguments it would
    make that cached step (and every step after it) run again each time."""
    found = find_category_map(category_map_path)
    if found is None:
        raise FileNotFoundError(f"{category_map_path}: no category map (*.yaml, *.yml, *.json) here")
    category_map = load_category_map(found)
    if category_map.is_reviewed:
        return {"written": None, "version": category_map.version, "reviewed": True, "rows": 0}
    path = write_map_version(category_map, output_dir, run_id, run_date)
    return {"written": str(path), "version": category_map.version, "reviewed": False,
            "rows": len(category_map.entries)}
