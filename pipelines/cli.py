"""The `tweetops` command line: the one-machine jobs and the container entry points of every step.

Step commands (`validate`, `clean`, `featurize`, `cluster`, `train`, `evaluate`) default their paths to
the SageMaker container contract (/opt/ml/..., SM_* variables; root overridable with TWEETOPS_ML_ROOT),
so the same command is the job's entry point on SageMaker and a tool on local files.
Errors a user can fix print one line and exit 1; a job failure is also written to /opt/ml/output/failure.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from pipelines.cli_common import echo_json, job_errors as _user_errors, one_line_errors
from pipelines.cli_common import processing_default as _processing_default
from pipelines.cli_common import aws_settings as _aws_settings
from pipelines.cli_common import load_settings as _load_settings, settings_options as _settings_options
from processing import container
from processing.contract import DEFAULT_LANGUAGES, DEFAULT_MAX_TEXT_CHARS
from processing.defaults import DEFAULT_FEATURIZER, DEFAULT_K_RANGE, FEATURIZER_NAMES
from processing.demo_scenarios import SCENARIOS
from processing.sanitize import terminal_text


def _progress(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


def _clean_progress(done: int, total: int) -> None:
    container.report_progress(done, total, "messages cleaned")


def _step_progress(unit: str):
    """A job's progress callback: `progress: done/total unit` lines, which the local executor shows as a bar."""
    return lambda done, total: container.report_progress(done, total, unit)


def _parse_count(value: str, least: int) -> int | str:
    """'auto' (or 0, as the pipeline's integer parameters K and Categories say it) or an integer >= `least`."""
    if value in ("auto", "0"):
        return "auto"
    try:
        count = int(value)
    except ValueError:
        count = least - 1
    if count < least:
        raise click.BadParameter(f"expected an integer >= {least} or 'auto', got {value!r}")
    return count


def _parse_k(value: str) -> int | str:
    return _parse_count(value, 2)


def _parse_categories(value: str) -> int | str:
    return _parse_count(value, 1)


def _parse_umap(value: str) -> bool | str:
    return {"auto": "auto", "on": True, "off": False}[value]


def _languages(value: str) -> tuple[str, ...]:
    languages = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(languages) - {"es", "en", "other"}
    if not languages or unknown:
        raise click.BadParameter(f"languages are a comma-separated subset of es,en,other; got {value!r}")
    return languages


# Shared options, declared once.
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Seed for every random choice.")
k_option = click.option("--k", "k", default="auto", show_default=True,
                        help="Number of clusters, or 'auto' (or 0) to choose it by silhouette over --k-range.")
k_range_option = click.option("--k-range", default=":".join(map(str, DEFAULT_K_RANGE)), show_default=True,
                              help="Range searched when --k auto (LOW:HIGH).")
categories_option = click.option("--categories", default="auto", show_default=True,
                                 help="Proposed categories the fine clusters are grouped into, or 'auto' (or 0) to "
                                      "cut the cluster hierarchy where internal evidence says (docs/clustering.md).")
umap_option = click.option("--umap", "umap", type=click.Choice(["auto", "on", "off"]), default="auto",
                           show_default=True, help="Reduce with UMAP before KMeans; 'auto' decides from "
                           "cluster stability and learnability (docs/clustering.md).")
languages_option = click.option("--languages", default=",".join(DEFAULT_LANGUAGES), show_default=True,
                                help="Accepted languages (comma-separated subset of es,en,other).")
max_chars_option = click.option("--max-text-chars", type=int, default=DEFAULT_MAX_TEXT_CHARS, show_default=True,
                                help="Texts longer than this are quarantined.")


def featurizer_options(command):
    """--featurizer and the embedding settings, shared by `featurize` and `discover`."""
    options = [
        click.option("--featurizer", type=click.Choice(FEATURIZER_NAMES), default=DEFAULT_FEATURIZER,
                     show_default=True, help="Feature backend: TF-IDF+LSA, sentence embeddings, or both "
                     "(hybrid); the embedding ones need the [embeddings] extra (docs/embeddings.md)."),
        click.option("--embedding-model", default="all-MiniLM-L6-v2", show_default=True,
                     help="sentence-transformers model: a name (all-MiniLM-L6-v2 is shipped with the extra; "
                          "others must be in the local Hugging Face cache), a model folder, or an s3:// prefix."),
        click.option("--embedding-runtime", type=click.Choice(["auto", "onnx-int8", "torch"]), default="auto",
                     show_default=True, help="auto: ONNX Runtime int8 on CPU, torch on a GPU."),
        click.option("--embedding-threads", type=click.IntRange(min=1), default=None,
                     help="Encoder threads [default: every CPU this process may use]."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Cache folder: embeddings, exported models, compiled UMAP kernels [default: "
                          "$TWEETOPS_CACHE_DIR, else ~/.cache/tweetops]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _featurizer_params(featurizer: str, embedding_model: str, embedding_runtime: str,
                       embedding_threads: int | None, cache_dir: str | None) -> dict:
    """Keyword arguments of make_featurizer for the chosen backend (none for TF-IDF)."""
    if featurizer == "tfidf":
        return {}
    return {"model": embedding_model, "runtime": embedding_runtime, "threads": embedding_threads,
            "cache_dir": cache_dir}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tweetops")
def main() -> None:
    """tweetops: discover categories in short user messages, train and run a classifier on SageMaker."""


@main.command("demo-data", help="Write seeded synthetic Spanish/English messages with realistic noise and a hidden "
              "gold label.\n\n\b\nScenarios (--scenario), to see monitoring at work:\n"
              + "\n".join(f"  {name:<16}{what}" for name, what in SCENARIOS.items()))
@click.option("--rows", type=click.IntRange(min=1), default=5000, show_default=True, help="Number of messages.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Output file; the format follows the extension (.csv, .jsonl, .json, .parquet).")
@seed_option
@click.option("--malformed-share", type=click.FloatRange(0, 1), default=0.03, show_default=True,
              help="Share of rows made malformed on purpose (to exercise the quarantine).")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="normal", show_default=True,
              help="What moves against the training mix (listed above).")
@click.option("--shift-share", type=click.FloatRange(0, 1), default=None,
              help="Share of the messages in the group that moves: the new category, Spanish, or delivery.")
@_user_errors
def demo_data(rows: int, out: str, seed: int, malformed_share: float, scenario: str, shift_share: float | None) -> None:
    """Write a seeded demo batch, normal or shifted (its help, above, lists the scenarios)."""
    from processing.demo_data import write_demo_data
    from processing.demo_scenarios import generate_scenario, scenario_summary

    if scenario == "normal" and shift_share is not None:
        raise click.UsageError("--shift-share needs a shifted --scenario (new-topic, language-shift, category-shift)")
    frame = generate_scenario(scenario, rows, seed, malformed_share, shift_share)
    info = write_demo_data(frame, out, raw_defects=True)
    summary = scenario_summary(frame.attrs, len(frame))
    click.echo(f"wrote {info['rows']} messages to {out} ({info['format']})" + (f"; {summary}" if summary else ""))


@main.command()
@click.option("--input", "input_path", type=click.Path(exists=True), required=True,
              help="A message file (CSV, JSON Lines, JSON, Parquet) or a folder of them.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@k_option
@k_range_option
@categories_option
@umap_option
@featurizer_options
@seed_option
@languages_option
@max_chars_option
@_user_errors
def discover(input_path, out, k, k_range, categories, umap, featurizer, embedding_model, embedding_runtime,
             embedding_threads, cache_dir, seed, languages, max_text_chars) -> None:
    """Validate, clean, featurize and cluster a batch on this machine; write assignments and a draft map.

    Writes OUT/assignments.csv (id,cluster), OUT/clusters.json (summary), OUT/report.html (the review page:
    proposed categories with their terms and messages), OUT/category_map.yaml (draft, unreviewed) and
    OUT/quality_report.json, plus every intermediate zone.
    """
    from processing.jobs import discover as run_discover

    if cache_dir:  # the clusterer's compiled kernels go there too
        os.environ["TWEETOPS_CACHE_DIR"] = str(Path(cache_dir).resolve())
    started = time.perf_counter()
    result = run_discover(input_path, out, n_clusters=_parse_k(k), use_umap=_parse_umap(umap), seed=seed,
                          languages=_languages(languages), max_text_chars=max_text_chars, progress=_progress,
                          k_range=_parse_range(k_range), featurizer=featurizer,
                          featurizer_params=_featurizer_params(featurizer, embedding_model, embedding_runtime,
                                                               embedding_threads, cache_dir),
                          n_groups=_parse_categories(categories))
    report = result["quality_report"]
    click.echo(f"rows in {report['rows_in']}: accepted {report['rows_accepted']}, "
               f"quarantined {report['rows_quarantined']}")
    click.echo(f"{result['n_clusters']} fine clusters ({result['selection']['chosen']} KMeans, silhouette "
               f"{result['quality']['silhouette']:.3f}) grouped into {result['n_categories']} proposed categories; "
               f"{time.perf_counter() - started:.1f}s")
    _warn_k_at_upper_bound(result["selection"], k_range)
    click.echo(f"review the page {Path(out) / 'report.html'} (or clusters.json) and edit {Path(out) / 'category_map.yaml'}")


def _warn_k_at_upper_bound(selection: dict, k_range: str) -> None:
    if selection.get("k_at_upper_bound"):
        click.echo(f"note: the best k by silhouette is the top of --k-range {k_range}; the data may hold more "
                   "(or near-duplicate) groups: widen the range, or set --k", err=True)


def _parse_range(value: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"expected LOW:HIGH, got {value!r}") from None
    if not 2 <= low <= high:
        raise click.BadParameter(f"expected 2 <= LOW <= HIGH, got {value!r}")
    return low, high


def validation_run_options(command):
    """--run-id, --run-date, --pipeline: the execution whose validation becomes table rows (docs/tables.md)."""
    options = [
        click.option("--run-id", default=None, help="The pipeline execution: with --run-date and --pipeline, write "
                     "the quarantine and quality_reports table files (OUTPUT/quarantine/, OUTPUT/quality/)."),
        click.option("--run-date", default=None, help="When the execution started (ISO 8601): the date partition."),
        click.option("--pipeline", "pipeline_type", type=click.Choice(["training", "inference"]), default=None,
                     help="The pipeline that validates (quality_reports.pipeline)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _table_run(run_id: str | None, run_date: str | None, pipeline_type: str | None):
    """The TableRun the three options name, or None when none is given."""
    from processing.catalog import TableRun

    if (run_id, run_date, pipeline_type).count(None) not in (0, 3):
        raise click.UsageError("--run-id, --run-date and --pipeline go together")
    return TableRun.of(run_id, run_date, pipeline_type) if run_id is not None else None


@main.command()
@click.option("--input", "input_path", type=click.Path(), default=_processing_default("input", "raw"),
              show_default="/opt/ml/processing/input/raw", help="Raw message file or folder.")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output"),
              show_default="/opt/ml/processing/output",
              help="Writes ingested/, quarantine/ and reports/ under this folder.")
@languages_option
@max_chars_option
@click.option("--clean/--no-clean", default=False, show_default=True,
              help="Also clean the accepted messages into OUTPUT/processed/ (the pipeline's ValidateClean step).")
@click.option("--batch/--no-batch", default=False, show_default=True,
              help="Also write the accepted messages as JSON Lines (id, text) into OUTPUT/batch/ for batch transform.")
@validation_run_options
@_user_errors
def validate(input_path, output, languages, max_text_chars, clean, batch, run_id, run_date, pipeline_type) -> None:
    """Validate a raw batch against the message contract; bad rows go to quarantine with a reason.

    On a multi-instance job each instance validates its shard of the input files and suffixes its file
    names with its part number.
    """
    from processing.validation_jobs import validate_job

    run = _table_run(run_id, run_date, pipeline_type)
    part = container.part_suffix()
    report = validate_job(input_path, output, languages=_languages(languages), max_text_chars=max_text_chars,
                          part=part, batch=batch, run=run)
    click.echo(f"rows in {report['rows_in']}: accepted {report['rows_accepted']}, "
               f"quarantined {report['rows_quarantined']}")
    if clean:
        from processing.jobs import clean_job

        cleaned = clean_job(Path(output) / "ingested", Path(output) / "processed", part=part,
                            progress=_clean_progress)
        click.echo(f"cleaned {len(cleaned)} messages into {Path(output) / 'processed'}")


@main.command("validation-tables")
@click.option("--quarantine", type=click.Path(), default=_processing_default("input", "quarantine"),
              show_default="/opt/ml/processing/input/quarantine", help="The Validate step's quarantine*.jsonl.")
@click.option("--reports", type=click.Path(), default=_processing_default("input", "reports"),
              show_default="/opt/ml/processing/input/reports", help="The Validate step's quality_report*.json.")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output"),
              show_default="/opt/ml/processing/output", help="Writes quarantine/ and quality/ under this folder.")
@validation_run_options
@_user_errors
def validation_tables(quarantine, reports, output, run_id, run_date, pipeline_type) -> None:
    """A Validate step's rejected rows and report as quarantine and quality_reports table files (the training
    pipeline's ValidateClean is cached, so the execution is given to this step instead)."""
    from processing.validation_jobs import validation_tables_job

    run = _table_run(run_id, run_date, pipeline_type)
    if run is None:
        raise click.UsageError("--run-id, --run-date and --pipeline are required")
    totals = validation_tables_job(quarantine, reports, output, run)
    click.echo(f"{totals['rows_quarantined']} rejected rows of {totals['reports']} report(s) as table files in "
               f"{Path(output) / 'quarantine'} and {Path(output) / 'quality'}")


@main.command()
@click.option("--input", "input_path", type=click.Path(), default=_processing_default("input", "ingested"),
              show_default="/opt/ml/processing/input/ingested", help="Accepted messages (parquet file or folder).")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output", "processed"),
              show_default="/opt/ml/processing/output/processed", help="Folder for processed/messages.parquet.")
@click.option("--n-process", default="auto", show_default=True, help="spaCy worker processes, or 'auto'.")
@_user_errors
def clean(input_path, output, n_process) -> None:
    """Clean accepted messages with spaCy (es/en): normalised text, lemmas, feature text."""
    from processing.jobs import clean_job

    cleaned = clean_job(input_path, output, n_process=n_process if n_process == "auto" else int(n_process),
                        progress=_clean_progress)
    click.echo(f"cleaned {len(cleaned)} messages into {output}")


@main.command()
@click.option("--input", "input_path", type=click.Path(), default=_processing_default("input", "processed"),
              show_default="/opt/ml/processing/input/processed", help="Processed messages.")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output", "features"),
              show_default="/opt/ml/processing/output/features", help="Folder for featurizer.joblib and features-*.npz.")
@featurizer_options
@click.option("--embedding-model-dir", type=click.Path(file_okay=False), default=None,
              help="A staged model folder (the pipeline's embedding_model channel); used instead of "
                   "--embedding-model when it holds a model.")
@click.option("--cache-uri", default=None,
              help="S3 prefix the embedding cache is synced with before and after (reuse across executions).")
@seed_option
@_user_errors
def featurize(input_path, output, featurizer, embedding_model, embedding_runtime, embedding_threads, cache_dir,
              embedding_model_dir, cache_uri, seed) -> None:
    """Fit the featurizer (TF-IDF+LSA, sentence embeddings, or both) and write features for every message."""
    from processing.embeddings import is_model_folder
    from processing.jobs import featurize_job

    if embedding_model_dir and is_model_folder(embedding_model_dir):
        embedding_model = embedding_model_dir
    params = _featurizer_params(featurizer, embedding_model, embedding_runtime, embedding_threads, cache_dir)
    features = featurize_job(input_path, output, featurizer=featurizer, seed=seed, share=container.host_share(),
                             cache_uri=cache_uri or None, progress=_step_progress("messages featurized"), **params)
    click.echo(f"{features.shape[0]} messages x {features.shape[1]} features into {output}")


@main.command()
@click.option("--input", "input_path", type=click.Path(), default=_processing_default("input", "processed"),
              show_default="/opt/ml/processing/input/processed", help="Processed messages.")
@click.option("--features", type=click.Path(), default=_processing_default("input", "features"),
              show_default="/opt/ml/processing/input/features", help="Output folder of `featurize`.")
@click.option("--category-map", type=click.Path(), default=None,
              help="Reviewed category map; without it a draft map is written and used.")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output", "clusters"),
              show_default="/opt/ml/processing/output/clusters", help="Folder for assignments, summary, map.")
@click.option("--pseudo-labeled", type=click.Path(file_okay=False),
              default=_processing_default("output", "pseudo-labeled"),
              show_default="/opt/ml/processing/output/pseudo-labeled", help="Folder for the train/test splits.")
@k_option
@k_range_option
@categories_option
@umap_option
@click.option("--unmapped", type=click.Choice(["error", "discard"]), default="error", show_default=True,
              help="What to do with clusters the category map does not mention.")
@click.option("--assignments", type=click.Path(), default=None,
              help="Folder with assignments.parquet (from `tweetops evolve`): take each message's cluster from it "
                   "instead of clustering, so a map reviewed on those clusters applies (retraining).")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Held-out share for evaluation.")
@seed_option
@_user_errors
def cluster(input_path, features, category_map, output, pseudo_labeled, k, k_range, categories, umap, unmapped,
            assignments, test_size, seed) -> None:
    """Cluster messages into pseudo-labels, summarise clusters and draft or apply the category map."""
    from processing.jobs import cluster_job

    if category_map == "":
        category_map = None  # an empty pipeline parameter means "use the drafted map"
    result = cluster_job(input_path, features, output, n_clusters=_parse_k(k), k_range=_parse_range(k_range),
                         use_umap=_parse_umap(umap), seed=seed, category_map_path=category_map, unmapped=unmapped, test_size=test_size,
                         pseudo_labeled_dir=pseudo_labeled, assignments_path=assignments or None,
                         n_groups=_parse_categories(categories),
                         progress=_step_progress("messages assigned to clusters"))
    click.echo(f"{result['n_clusters']} fine clusters in {result['n_categories']} proposed categories; "
               f"train {result['train_rows']}, held out {result['test_rows']}, "
               f"discarded {result['discarded_rows']}")
    _warn_k_at_upper_bound(result["selection"], k_range)


@main.command()
@click.option("--train", "train_path", type=click.Path(), default=lambda: str(container.training_channel("train")),
              show_default="$SM_CHANNEL_TRAIN or /opt/ml/input/data/train", help="Pseudo-labelled train split.")
@click.option("--model-dir", type=click.Path(file_okay=False), default=lambda: str(container.model_dir()),
              show_default="$SM_MODEL_DIR or /opt/ml/model", help="Where model.joblib and metadata.json go.")
@click.option("--seed", type=int, default=None, help="Seed (default: hyperparameter 'seed', else 0).")
@click.option("--c", "c", type=float, default=None, help="SVM regularisation C (default: hyperparameter 'c', else 0.5).")
@_user_errors
def train(train_path, model_dir, seed, c) -> None:
    """Train the calibrated classifier on pseudo-labels (SageMaker training-job entry point)."""
    from training.train import run_training

    hyperparameters = container.hyperparameters()
    seed = seed if seed is not None else int(hyperparameters.get("seed", 0))
    c = c if c is not None else float(hyperparameters.get("c", 0.5))
    metadata = run_training(train_path, model_dir, seed=seed, C=c)
    click.echo(f"model {metadata['model_version']} ({len(metadata['classes'])} categories, "
               f"{metadata['train_rows']} messages) in {model_dir}")


@main.command()
@click.option("--model", "model_path", type=click.Path(), default=_processing_default("input", "model"),
              show_default="/opt/ml/processing/input/model", help="Model folder or model.tar.gz.")
@click.option("--test", "test_path", type=click.Path(), default=_processing_default("input", "test"),
              show_default="/opt/ml/processing/input/test", help="Held-out pseudo-labelled split.")
@click.option("--gold", "gold_path", type=click.Path(), default=None,
              help="Optional human gold set (messages with a 'label' column).")
@click.option("--clusters", "clusters_path", type=click.Path(), default=None,
              help="Optional output folder of `cluster`, to include cluster quality.")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output", "evaluation"),
              show_default="/opt/ml/processing/output/evaluation", help="Folder for evaluation.json.")
@click.option("--model-sha256", default=None,
              help="Load the model only if model.joblib has this sha256 [default: the digest its training job "
                   "recorded in metadata.json]. The model is a pickle: see docs/security.md.")
@_user_errors
def evaluate(model_path, test_path, gold_path, clusters_path, output, model_sha256) -> None:
    """Write evaluation.json: macro-F1, accuracy, per class and confusion matrix (held out, gold)."""
    from processing.jobs import evaluate_job

    result = evaluate_job(model_path, test_path, output, gold_path=gold_path or None,
                          clusters_path=clusters_path or None, model_sha256=model_sha256,
                          progress=_step_progress("held-out messages scored"))
    metrics = result["multiclass_classification_metrics"]
    click.echo(f"held out: macro-F1 {metrics['macro_f1']['value']:.3f}, "
               f"accuracy {metrics['accuracy']['value']:.3f} on {metrics['n_samples']} messages")
    gold = result["gold"]
    if gold:
        click.echo(f"gold: macro-F1 {gold['macro_f1']['value']:.3f}, accuracy {gold['accuracy']['value']:.3f}; "
                   f"name-independent agreement NMI {gold['agreement']['nmi']:.3f}, "
                   f"cluster accuracy {gold['agreement']['acc']:.3f}")
        if not gold["categories_named_as_gold"]:
            click.echo("note: no category is named like a gold label (is the category map still the draft?); "
                       "only the name-independent figures are meaningful", err=True)


@main.command("summarize-predictions")
@click.option("--predictions", type=click.Path(), default=_processing_default("input", "predictions"),
              show_default="/opt/ml/processing/input/predictions", help="Batch transform output (*.out files).")
@click.option("--output", type=click.Path(file_okay=False), default=_processing_default("output", "summary"),
              show_default="/opt/ml/processing/output/summary", help="Folder for summary.json.")
@click.option("--low-confidence", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Predictions below this confidence count as low-confidence.")
@_user_errors
def summarize_predictions(predictions, output, low_confidence) -> None:
    """Summarize batch predictions: counts per category, shares of low-confidence and novel messages."""
    from processing.predictions import summarize_job

    summary = summarize_job(predictions, output, low_confidence_threshold=low_confidence)
    click.echo(f"{summary['rows']} predictions summarized into {Path(output) / 'summary.json'}")


# ---------------------------------------------------------------------------------------------- pipeline
def _pipeline_errors(command):
    """Settings and AWS failures as one line and exit code 1 (on top of the input errors of _user_errors)."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pipelines.operations import PipelineError
        from pipelines.settings import SettingsError

        with one_line_errors(SettingsError, PipelineError):
            return command(*args, **kwargs)
    return wrapper


@main.group()
def pipeline() -> None:
    """Build, upsert, start and watch the SageMaker training pipeline.

    Settings come from defaults < the deployed infra/ stack's outputs (--stack) < config file < TWEETOPS_*
    environment < flags (docs/pipeline.md).
    """


which_option = click.option("--pipeline-type", "which", type=click.Choice(["training", "inference", "evolution"]),
                            default="training", show_default=True,
                            help="The training, the batch-inference or the evolution pipeline.")


@pipeline.command("definition")
@_settings_options
@which_option
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON here instead of standard output.")
@_pipeline_errors
def pipeline_definition(config_path, which, out, **flags) -> None:
    """Print the pipeline definition JSON exactly as upsert sends it (offline: no AWS call unless --stack is given)."""
    from pipelines import operations
    from processing.storage import write_text_atomic

    settings = (_aws_settings(config_path, need_role=True, **flags) if flags.get("stack_name")
                else _load_settings(config_path, **flags))
    document = operations.definition(settings, which=which)
    if out:
        write_text_atomic(Path(out), document)
        click.echo(f"wrote {len(document.encode())} bytes to {out}", err=True)
    else:
        click.echo(document)


@pipeline.command("upsert")
@_settings_options
@which_option
@click.option("--description", default=None, help="Pipeline description (default: 'tweetops <type> pipeline').")
@_pipeline_errors
def pipeline_upsert(config_path, which, description, **flags) -> None:
    """Create the pipeline, or update it to the current definition."""
    from pipelines import operations

    result = operations.upsert(_aws_settings(config_path, need_role=True, **flags), which=which,
                               description=description or f"tweetops {which} pipeline")
    click.echo(f"upserted {result['PipelineName']}: {result['PipelineArn']}")


@pipeline.command("start")
@_settings_options
@which_option
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Pipeline parameter (repeatable), e.g. --param InputDataUri=s3://bucket/raw/ --param K=20.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Wait for the execution to end; exit 1 when it fails, printing the failing step and reason.")
@click.option("--poll-seconds", type=click.FloatRange(min=0), default=30, show_default=True)
@_pipeline_errors
def pipeline_start(config_path, which, params, wait, poll_seconds, **flags) -> None:
    """Start an execution of the upserted pipeline."""
    from pipelines import operations

    settings = _aws_settings(config_path, need_role=True, **flags)
    pipeline, _ = operations.build(settings, which=which)
    parameters = operations.parse_parameters(list(params), [parameter.name for parameter in pipeline.parameters])
    # Both score with a package: the one given, else the group's latest approved (as the EventBridge triggers do).
    if which in ("inference", "evolution") and not parameters.get("ModelPackageArn"):
        parameters["ModelPackageArn"] = operations.latest_approved_package(settings)
    # The inference pipeline takes the package's baseline, the evolution pipeline its model, baseline and map.
    if parameters.get("ModelPackageArn") and (which == "evolution" or which == "inference"
                                              and "BaselineUri" not in parameters):
        parameters = {**operations.package_parameters(settings, parameters["ModelPackageArn"], which), **parameters}
    result = operations.start(settings, parameters, wait=wait, poll_seconds=poll_seconds, report=_progress,
                              which=which)
    click.echo(f"{result['PipelineExecutionStatus']}: {result['PipelineExecutionArn']}")


@pipeline.command("status")
@click.argument("execution_arn", required=False)
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_pipeline_errors
def pipeline_status(execution_arn, config_path, as_json, **flags) -> None:
    """Status of an execution (default: the latest execution of the pipeline) and of its steps."""
    from pipelines import operations

    # An execution ARN names its pipeline and region: only the latest execution needs the settings (and the stack).
    settings = _load_settings(config_path, **flags) if execution_arn else _aws_settings(config_path, **flags)
    result = operations.status(execution_arn, settings=settings)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['PipelineExecutionStatus']}: {result['PipelineExecutionArn']}")
    for step in result["steps"]:
        reason = f" ({step['FailureReason']})" if step.get("FailureReason") else ""
        click.echo(f"  {step['StepName']}: {step['StepStatus']}{reason}")


# ---------------------------------------------------------------------------------------------- local run
def _end(execution, lines: list[str]) -> None:
    """Say how a local execution ended; exit 1 unless it succeeded."""
    for line in lines:
        click.echo(terminal_text(line))  # failure reasons and log lines quote job output, hence input
    if execution.record["PipelineExecutionStatus"] != "Succeeded":
        sys.exit(1)


@main.command("run-local")
@click.option("--input", "input_path", type=click.Path(exists=True),
              help="Message file or folder (CSV, JSON Lines, JSON, Parquet). Default: generated demo data.")
@click.option("--category-map", type=click.Path(exists=True, dir_okay=False),
              help="Reviewed category map to apply (default: the drafted one).")
@click.option("--assignments", type=click.Path(exists=True),
              help="Cluster assignments to train on instead of clustering (a proposal's clusters/ folder, with the "
                   "map `tweetops review` wrote and --input the proposal's retrain/ folder).")
@click.option("--gold", type=click.Path(exists=True), help="Gold set with a 'label' column to evaluate against.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Pipeline parameter (repeatable), e.g. --param K=12 --param MacroF1Threshold=0.8.")
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME",
              help="Folder for the local store, executions, registry and cache.")
@click.option("--definition", "definition_file", type=click.Path(exists=True, dir_okay=False),
              help="Run this definition JSON (from `tweetops pipeline definition --out`) instead of building it.")
@click.option("--demo-rows", type=click.IntRange(min=50), default=3000, show_default=True,
              help="Size of the generated demo batch when no --input is given.")
@click.option("--demo-seed", type=int, default=0, show_default=True, help="Seed of the generated demo data.")
@click.option("--resume", "resume_id", metavar="EXECUTION_ID|latest",
              help="Continue an interrupted or failed execution from its last completed step.")
@click.option("--no-cache", is_flag=True, help="Run every step even when an earlier result could be reused.")
@_settings_options
@_pipeline_errors
@_user_errors
def run_local(input_path, category_map, assignments, gold, params, home, definition_file, demo_rows, demo_seed,
              resume_id, no_cache, config_path, **flags) -> None:
    """Run the training pipeline's definition on this machine: no AWS account, no Docker.

    Builds the same definition JSON that `pipeline upsert` sends, then executes it: parameters, step graph,
    property files, the quality gate, processing/training/transform jobs (each in a local /opt/ml folder),
    model creation and registration into a local registry. Artifacts, logs and the execution record are under
    --home (docs/local.md). Exit code 1 when the execution fails.
    """
    from pipelines import operations
    from pipelines.local.executor import LocalExecutor
    from pipelines.local.run import DEFINITIONS_FOLDER, local_definition, read_definition_file, stage_inputs, summary
    from pipelines.local.terminal import TerminalReport

    executor = LocalExecutor(home, report=TerminalReport(), cache=not no_cache)
    # Jobs inherit the environment: their embedding cache is a folder of this home unless one is set.
    os.environ.setdefault("TWEETOPS_CACHE_DIR", str(Path(executor.home).resolve() / "cache"))
    try:
        if resume_id:
            execution = executor.resume(None if resume_id == "latest" else resume_id)
        else:
            definition, settings = local_definition(_load_settings(config_path, **flags),
                                                    cache_dir=executor.home / DEFINITIONS_FOLDER)
            if definition_file:
                definition = read_definition_file(definition_file)
            known = [item.get("Name") for item in json.loads(definition).get("Parameters", []) if isinstance(item, dict)]
            parameters = stage_inputs(executor, settings, input_path=input_path, category_map=category_map,
                                      assignments=assignments, gold=gold, demo_rows=demo_rows, seed=demo_seed)
            parameters.update(operations.parse_parameters(list(params), known))
            _progress(f"running {settings.pipeline_name} locally in {Path(home).resolve()}")
            execution = executor.start(definition, parameters, pipeline_name=settings.pipeline_name)
    except KeyboardInterrupt:
        click.echo("interrupted: `tweetops run-local --resume latest` continues from the last completed step",
                   err=True)
        sys.exit(130)
    _end(execution, summary(executor, execution))


@main.command("local-status")
@click.argument("execution_id", required=False)
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME", help="The local executor's home.")
@click.option("--all", "show_all", is_flag=True, help="List every execution instead of one execution's steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution record(s) as JSON.")
@_user_errors
def local_status(execution_id, home, show_all, as_json) -> None:
    """Status of a local execution and its steps (default: the latest), or of every execution with --all."""
    from pipelines.local.executor import LocalExecutor, LocalRunError

    executor = LocalExecutor(home)
    executions = executor.executions()
    if show_all:
        records = [execution.record for execution in executions]
    elif execution_id:
        records = [executor.load(execution_id).record]
    elif executions:
        records = [executions[-1].record]
    else:
        raise LocalRunError(f"no executions under {executor.home / 'executions'}: run `tweetops run-local`")
    if as_json:
        echo_json(records if show_all else records[0])
        return
    for record in records:
        reason = f" ({record['FailureReason']})" if record.get("FailureReason") else ""
        status = record["PipelineExecutionStatus"]
        if executor.load(record["PipelineExecutionId"]).interrupted:
            status, reason = "Interrupted", " (killed while running: `tweetops run-local --resume` continues it)"
        click.echo(terminal_text(f"{record['PipelineExecutionId']}  {record['PipelineName']}  {status}"
                                 f"  started {record['CreationTime'][:19]}{reason}"))
        if show_all:
            continue
        for step in record["Steps"]:
            cached = step.get("CacheHitResult", {}).get("SourcePipelineExecutionId")
            detail = f"cache hit from {cached}" if cached else f"{step.get('Seconds', 0):.1f}s"
            failure = f"  {step['FailureReason']}" if step.get("FailureReason") else ""
            click.echo(terminal_text(f"  {step['StepName']:<24} {step['StepStatus']:<10} {detail}{failure}"))


@main.command()
@click.option("--input", "input_path", type=click.Path(exists=True), required=True,
              help="Message file or folder to score (CSV, JSON Lines, JSON, Parquet).")
@click.option("--package", "package_arn", help="Model package ARN (default: the latest approved in the local registry).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Inference pipeline parameter (repeatable), e.g. --param LowConfidenceThreshold=0.6.")
@click.option("--home", type=click.Path(file_okay=False), envvar="TWEETOPS_LOCAL_HOME", default="tweetops-local",
              show_default="./tweetops-local or $TWEETOPS_LOCAL_HOME", help="The local executor's home.")
@_settings_options
@_pipeline_errors
@_user_errors
def predict(input_path, package_arn, params, home, config_path, **flags) -> None:
    """Score a batch locally with the batch-inference pipeline and an approved model package.

    Runs the inference pipeline's definition with the local executor: validation (bad rows quarantined),
    a model from the package, batch transform, and a summary. Predictions follow DESIGN.md (id, category,
    confidence, novel, model_version, category_map_version).
    """
    from pipelines import operations
    from pipelines.local.executor import LocalExecutor
    from pipelines.local.run import (DEFINITIONS_FOLDER, approved_package, local_definition, prediction_summary,
                                     record_monitoring)
    from pipelines.local.terminal import TerminalReport
    from register.registry import monitoring_parameters

    executor = LocalExecutor(home, report=TerminalReport())
    try:
        definition, settings = local_definition(_load_settings(config_path, **flags), which="inference",
                                                cache_dir=executor.home / DEFINITIONS_FOLDER)
        known = [item["Name"] for item in json.loads(definition)["Parameters"]]
        package = approved_package(executor, settings.model_package_group, package_arn)
        parameters = {"ModelPackageArn": package, "MetricsSink": "file",  # the home records the metrics
                      "InputDataUri": executor.store.stage(input_path, f"s3://{settings.bucket}/{settings.prefix}/incoming"),
                      **monitoring_parameters(executor.registry.describe_model_package(package))}
        parameters.update(operations.parse_parameters(list(params), known))
        _progress(f"scoring {input_path} with {parameters['ModelPackageArn']}")
        execution = executor.start(definition, parameters, pipeline_name=settings.inference_pipeline_name)
    except KeyboardInterrupt:
        sys.exit(130)
    _end(execution, prediction_summary(executor, execution) + record_monitoring(executor, execution))


def _add_registry_commands() -> None:
    from register.cli import registry

    main.add_command(registry)


_add_registry_commands()


def _add_monitoring_commands() -> None:
    from pipelines.monitoring_cli import monitoring

    main.add_command(monitoring)


_add_monitoring_commands()


def _add_evolution_commands() -> None:
    from pipelines.evolution_cli import evolution

    main.add_command(evolution)


_add_evolution_commands()


def _add_monitoring_jobs() -> None:
    from pipelines.monitor_commands import baseline, monitor

    main.add_command(baseline)
    main.add_command(monitor)


_add_monitoring_jobs()


def _add_evolution_jobs() -> None:
    from pipelines.evolution_jobs_cli import accumulate, evolve

    main.add_command(accumulate)
    main.add_command(evolve)


_add_evolution_jobs()


def _add_review_command() -> None:
    from pipelines.map_versions_cli import record_map
    from pipelines.review_cli import review

    main.add_command(review)
    main.add_command(record_map)


_add_review_command()


def _add_query_command() -> None:
    from pipelines.query_cli import query

    main.add_command(query)


_add_query_command()


if __name__ == "__main__":
    sys.exit(main())
