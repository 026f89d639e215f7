"""`tweetops record-map`: the training pipeline's RecordCategoryMap step, which adds the draft category map of the
Cluster step to the category_maps table (processing/map_versions.py). Paths default to the SageMaker container
contract, as every step command's do; the work is processing.map_versions.record_map_job."""
from __future__ import annotations

import click

from pipelines.cli_common import job_errors
from pipelines.monitor_commands import _path


@click.command("record-map")
@_path("--category-map", "input", "clusters", help="The map file, or the Cluster step's output folder holding it.",
       dest="category_map")
@_path("--output", "output", "maps", help="The category-map-versions zone: date=YYYY-MM-DD/<run>.parquet goes in it.",
       folder=True)
@click.option("--run-id", required=True, help="Names the file and fills `execution` (the pipeline passes its "
              "execution id).")
@click.option("--run-date", required=True, help="When it was written (ISO 8601; the pipeline passes its start "
              "time): the date partition and `written_at`.")
@job_errors
def record_map(category_map, output, run_id, run_date) -> None:
    """Add an unreviewed (drafted) category map to the category_maps table; a reviewed one was added by its review."""
    from processing.map_versions import record_map_job

    result = record_map_job(category_map, output, run_id=run_id, run_date=run_date)
    if result["written"] is None:
        click.echo(f"category map version {result['version']} is reviewed: its review recorded it; nothing written")
    else:
        click.echo(f"category map version {result['version']} (draft): {result['rows']} categories into "
                   f"{result['written']}")
