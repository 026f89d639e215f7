"""Specification of `tweetops record-map`, the training pipeline's RecordCategoryMap step: the Cluster step's draft
map becomes category_maps rows at date=<day>/<run>.parquet; a reviewed map is left to the review that wrote it;
mistakes are one line and exit code 1."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pyarrow.parquet as pq
from click.testing import CliRunner

from pipelines.cli import main
from processing import catalog
from processing.category_map import Review, draft_category_map, save_category_map
from processing.storage import write_json_atomic

TABLE = catalog.TABLES["category_maps"]


def cluster_output(folder, reviewed: bool = False):
    """A Cluster step's output folder: clusters.json beside the map it drafted (or copied, when given one)."""
    cmap = draft_category_map({0: ["pago"], 1: ["envio"], 2: ["hola"]}, clustering_run="run-0011223344556677")
    if reviewed:
        cmap = type(cmap)(version=2, clustering_run=cmap.clustering_run, entries=cmap.entries,
                          reviewed=Review("ana", datetime(2024, 3, 1, tzinfo=timezone.utc)))
    write_json_atomic(folder / "clusters.json", {"clustering_run": cmap.clustering_run})
    save_category_map(cmap, folder / "category_map.yaml")
    return cmap


def record(*arguments):
    return CliRunner().invoke(main, ["record-map", *map(str, arguments)])


def test_the_draft_map_of_a_cluster_output_becomes_its_rows_in_the_day_of_the_run(tmp_path):
    draft = cluster_output(tmp_path)
    zone = tmp_path / "maps"
    result = record("--category-map", tmp_path, "--output", zone, "--run-id", "exec-7",
                    "--run-date", "2024-03-04T10:00:00.123Z")
    assert result.exit_code == 0, result.output
    path = zone / "date=2024-03-04" / "exec-7.parquet"
    assert f"category map version 1 (draft): 3 categories into {path}" in result.output
    assert pq.read_schema(path).remove_metadata() == TABLE.arrow_schema()
    rows = pd.read_parquet(path)
    assert rows["category_id"].tolist() == ["c1", "c2", "c3"] and set(rows["map_hash"]) == {draft.content_hash}
    assert set(rows["execution"]) == {"exec-7"} and not rows["reviewed"].any()


def test_a_second_run_adds_its_own_file_and_a_rerun_rewrites_the_same_bytes(tmp_path):
    cluster_output(tmp_path)
    zone = tmp_path / "maps"
    record("--category-map", tmp_path, "--output", zone, "--run-id", "exec-7", "--run-date", "2024-03-04T10:00:00Z")
    first = (zone / "date=2024-03-04" / "exec-7.parquet").read_bytes()
    record("--category-map", tmp_path, "--output", zone, "--run-id", "exec-7", "--run-date", "2024-03-04T10:00:00Z")
    record("--category-map", tmp_path, "--output", zone, "--run-id", "exec-8", "--run-date", "2024-03-05T08:00:00Z")
    assert (zone / "date=2024-03-04" / "exec-7.parquet").read_bytes() == first
    assert sorted(path.relative_to(zone).as_posix() for path in zone.rglob("*.parquet")) == [
        "date=2024-03-04/exec-7.parquet", "date=2024-03-05/exec-8.parquet"]


def test_a_reviewed_map_given_to_the_cluster_step_is_not_written_again(tmp_path):
    cluster_output(tmp_path, reviewed=True)
    result = record("--category-map", tmp_path, "--output", tmp_path / "maps", "--run-id", "exec-7",
                    "--run-date", "2024-03-04T10:00:00Z")
    assert result.exit_code == 0, result.output
    assert "category map version 2 is reviewed: its review recorded it; nothing written" in result.output
    assert not any((tmp_path / "maps").rglob("*.parquet"))


def test_a_folder_without_a_map_or_a_bad_run_is_one_line_and_exit_1(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = record("--category-map", empty, "--output", tmp_path / "maps", "--run-id", "exec-7",
                     "--run-date", "2024-03-04")
    assert missing.exit_code == 1 and "no category map (*.yaml, *.yml, *.json) here" in missing.output
    cluster_output(tmp_path)
    for run_id, run_date, message in (("a/b", "2024-03-04", "run name 'a/b' must be"),
                                      ("exec-7", "soon", "written_at 'soon' is not an ISO 8601")):
        result = record("--category-map", tmp_path, "--output", tmp_path / "maps", "--run-id", run_id,
                        "--run-date", run_date)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
