"""The evolution jobs' entry points: `tweetops accumulate` (the inference pipeline's Accumulate step) and
`tweetops evolve` (the evolution pipeline's Evolve step). Paths default to the SageMaker container contract, as
every step command's do; the work is in processing/evolution/jobs.py."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli_common import job_errors
from pipelines.monitor_commands import _path


@click.command("accumulate")
@_path("--batch", "input", "batch", help="The batch-transform input (id, text, lang, created_at).")
@_path("--predictions", "input", "predictions", help="The batch-transform output.")
@_path("--novelty", "input", "novelty", help="The Monitor step's novelty queue (novel.jsonl); may be absent.")
@_path("--output", "output", "new-data", help="The new-data zone: date=YYYY-MM-DD/<batch>.parquet are written in it.",
       folder=True)
@click.option("--batch-name", required=True, help="Names the batch's files (the pipeline passes its execution id).")
@click.option("--scored-on", required=True, help="When the batch was scored (ISO 8601; the pipeline passes its "
              "start time): the date of messages without a usable created_at.")
@job_errors
def accumulate(batch, predictions, novelty, output, batch_name, scored_on) -> None:
    """Add a scored batch's messages to the new-data zone, partitioned by date (docs/evolution.md)."""
    from processing.evolution.jobs import accumulate_job

    summary = accumulate_job(batch, predictions, novelty, output, batch=batch_name, scored_on=scored_on)
    click.echo(f"added {summary['added']} of {summary['messages']} messages ({summary['novel']} novel) to the "
               f"new-data zone in {len(summary['dates'])} date partition(s) of {output}")


@click.command("evolve")
@_path("--new-data", "input", "new_data", help="The new-data zone (date=YYYY-MM-DD partitions).", dest="new_data")
@_path("--baseline", "input", "baseline", help="The package's monitoring baseline (reference vectors, featurizer).")
@_path("--model", "input", "model", help="The package's model (folder or model.tar.gz).")
@_path("--category-map", "input", "category_map", help="The package's category map (file or folder).",
       dest="category_map")
@_path("--output", "output", "evolution", help="Folder for proposal.json, report.html, clusters/, retrain/.",
       folder=True)
@click.option("--window-days", type=click.IntRange(min=1), default=28, show_default=True,
              help="Days of new data the exploration reads, up to --as-of.")
@click.option("--as-of", default="", help="Last day of the window (YYYY-MM-DD); default: the latest partition.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the clustering.")
@click.option("--categories", type=click.IntRange(min=0), default=0, show_default=True,
              help="Window clusters to group the fine clusters into; 0: chosen from internal evidence.")
@click.option("--min-messages", type=click.IntRange(min=1), default=200, show_default=True,
              help="A smaller window is refused: too few messages to cluster.")
@click.option("--model-sha256", default="", help="The package's classifier digest (a pickle: loaded only if its "
              "bytes match).")
@click.option("--featurizer-sha256", default="", help="The package's featurizer digest (a pickle: loaded only if its "
              "bytes match).")
@click.option("--model-package", default="", help="The package's ARN (recorded in the proposal).")
@job_errors
def evolve(new_data, baseline, model, category_map, output, window_days, as_of, seed, categories, min_messages,
           model_sha256, featurizer_sha256, model_package) -> None:
    """Re-cluster the new data, match it to the package's categories and write a proposal (docs/evolution.md)."""
    from processing.evolution.jobs import evolve_job

    summary = evolve_job(new_data, baseline, model, category_map, output, window_days=window_days,
                         as_of=as_of or None, seed=seed, n_groups=categories or "auto",
                         model_sha256=model_sha256 or None, featurizer_sha256=featurizer_sha256 or None,
                         model_info={"package": model_package} if model_package else None,
                         min_messages=min_messages)
    window = summary["window"]
    click.echo(f"proposal {summary['proposal_id']}: {window['messages']} messages of {window['from']}..{window['to']} "
               f"in {summary['clusters']} clusters ({summary['n_fine_clusters']} fine); "
               f"{len(summary['changes'])} change(s) to review: {Path(output) / 'proposal.json'}")
