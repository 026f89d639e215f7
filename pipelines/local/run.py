"""`tweetops run-local`: build the training pipeline's definition offline, stage the inputs into the local
store, run the definition with the local executor, and say how it ended."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import metadata
from pathlib import Path

from pipelines.local.executor import Execution, LocalExecutor, LocalRunError
from pipelines.local.store import LOCAL_BUCKET
from pipelines.settings import PipelineSettings
from processing.storage import write_text_atomic

LOCAL_ROLE = "arn:aws:iam::000000000000:role/tweetops-local"  # never used locally; the definition needs one
DEMO_GOLD_ROWS = 1000
DEFINITIONS_FOLDER = "definitions"  # in the executor's home: definitions built for this code and these settings
SDK_DISTRIBUTIONS = ("sagemaker", "sagemaker-core", "sagemaker-train", "sagemaker-serve", "sagemaker-mlops")


def local_settings(settings: PipelineSettings) -> PipelineSettings:
    """The settings with what a local run needs and the user did not give: a role and a bucket name."""
    return dataclasses.replace(settings, role_arn=settings.role_arn or LOCAL_ROLE,
                               bucket=settings.bucket or LOCAL_BUCKET)


def local_definition(settings: PipelineSettings, which: str = "training",
                     cache_dir: str | Path | None = None) -> tuple[str, PipelineSettings]:
    """The definition exactly as `tweetops pipeline definition` gives it for these (local) settings.

    With `cache_dir`, a definition is built once per code version, SDK version and settings, and read back after
    that: importing the SDK and building take seconds, which every `predict` of a small batch would pay again. Once
    the SDK is imported, every pipeline's definition is built and kept (run-local's then serve the first predict)."""
    from pipelines import operations

    settings = operations.build_settings(local_settings(settings))
    if cache_dir is None:
        return _built_definition(settings, which), settings
    cached = {name: Path(cache_dir) / f"{name}-{definition_key(settings, name)}.json" for name in operations.PIPELINES}
    if not cached[which].is_file():
        for name, path in cached.items():
            if not path.is_file():
                write_text_atomic(path, _built_definition(settings, name))
    return cached[which].read_text(encoding="utf-8"), settings


def _built_definition(settings: PipelineSettings, which: str) -> str:
    """The definition the SDK builds for resolved settings."""
    from pipelines import operations

    pipeline, _ = operations.build(settings, which=which)
    with operations.quiet_sdk():
        return pipeline.definition()


def definition_key(settings: PipelineSettings, which: str) -> str:
    """What a definition is made from, hashed: the pipeline, its settings, tweetops' code and the SDK's versions."""
    from processing.provenance import code_version

    sdk = {name: metadata.version(name) for name in SDK_DISTRIBUTIONS}
    made_from = {"pipeline": which, "settings": dataclasses.asdict(settings), "code": code_version(), "sdk": sdk}
    return hashlib.sha256(json.dumps(made_from, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_definition_file(path: str | Path) -> str:
    """A definition JSON file's text, checked to be a JSON object with a Parameters list (LocalRunError naming
    the file otherwise); `plan` checks the rest before anything runs."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise LocalRunError(f"{path}: not a pipeline definition JSON ({type(error).__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("Parameters", []), list):
        raise LocalRunError(f"{path}: not a pipeline definition (expected an object with a Parameters list)")
    return text


def stage_inputs(executor: LocalExecutor, settings: PipelineSettings, *, input_path: str | None,
                 category_map: str | None, gold: str | None, demo_rows: int, seed: int,
                 assignments: str | None = None) -> dict[str, str]:
    """Copy the given files into the local store (content-addressed) and return the parameters naming them.
    Without an input, seeded demo data is generated (plus an unseen gold set to evaluate against)."""
    from pipelines.operations import EMPTY_MARKER, EMPTY_MARKER_TEXT
    from pipelines.training_pipeline import EMPTY_PREFIX

    base = f"s3://{settings.bucket}/{settings.prefix}"
    empty = executor.store.path(f"{base}/{EMPTY_PREFIX}/{EMPTY_MARKER}")
    if not empty.is_file():  # what `upsert` seeds in S3: the optional inputs' default
        write_text_atomic(empty, EMPTY_MARKER_TEXT)
    parameters = {}
    if input_path is None:
        input_path, generated_gold = demo_inputs(executor.home / "demo", demo_rows, seed)
        gold = gold or generated_gold
    parameters["InputDataUri"] = executor.store.stage(input_path, f"{base}/raw")
    parameters["EmbeddingCacheUri"] = ""  # locally the cache is a folder (TWEETOPS_CACHE_DIR), not S3
    if category_map:
        parameters["CategoryMapUri"] = executor.store.stage(category_map, f"{base}/category-maps")
    if assignments:
        parameters["ClusterAssignmentsUri"] = executor.store.stage(assignments, f"{base}/cluster-assignments")
    if gold:
        parameters["GoldSetUri"] = executor.store.stage(gold, f"{base}/gold")
    return parameters


def demo_inputs(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """Seeded demo messages (with malformed rows) and a gold set from the same generator, written once."""
    from processing.demo_data import generate_messages, write_demo_data

    messages, gold = folder / f"messages-{rows}-seed{seed}.csv", folder / f"gold-{DEMO_GOLD_ROWS}-seed{seed + 1}.csv"
    if not messages.is_file():
        write_demo_data(generate_messages(rows, seed=seed), messages, raw_defects=True)
    if not gold.is_file():
        write_demo_data(generate_messages(DEMO_GOLD_ROWS, seed=seed + 1, malformed_share=0.0), gold)
    return messages, gold


def summary(executor: LocalExecutor, execution: Execution) -> list[str]:
    """How the execution ended, in a few lines: figures, registered package, where everything is."""
    record = execution.record
    status = record["PipelineExecutionStatus"]
    lines = [f"{status}: execution {execution.id}"]
    steps = {step["StepName"]: step for step in record["Steps"]}
    evaluation = _evaluation(executor, execution)
    if evaluation:
        held_out = evaluation["multiclass_classification_metrics"]
        lines.append(f"  evaluation: held-out macro-F1 {held_out['macro_f1']['value']:.3f}, accuracy "
                     f"{held_out['accuracy']['value']:.3f} on {held_out['n_samples']} messages")
        gold = evaluation.get("gold")
        if gold:
            agreement = (f"NMI {gold['agreement']['nmi']:.3f}, cluster accuracy {gold['agreement']['acc']:.3f}"
                         f" on {gold['n_samples']} messages")
            if gold["categories_named_as_gold"]:
                lines.append(f"  gold set: macro-F1 {gold['macro_f1']['value']:.3f}, accuracy "
                             f"{gold['accuracy']['value']:.3f}; {agreement}")
            else:  # a drafted map names categories by top terms: only name-independent agreement means anything
                lines.append(f"  gold set (categories not yet named like its labels): {agreement}")
    lines += _categories(execution, steps)
    for step in steps.values():
        arn = step.get("Metadata", {}).get("RegisterModel", {}).get("Arn")
        if arn and step["StepStatus"] == "Succeeded":
            package = executor.registry.describe_model_package(arn)
            lines.append(f"  registered: {arn} ({package['ModelApprovalStatus']})")
    if status == "Failed":
        failed = [step for step in steps.values() if step.get("StepStatus") == "Failed"]
        if not failed:  # it ended outside any step (e.g. a completed step's properties unreadable on resume)
            lines.append(f"  failed: {record.get('FailureReason', 'no reason recorded')}")
        for step in failed:
            if step.get("StepType") == "Fail":
                lines.append(f"  stopped by {step['StepName']}: {step['FailureReason']}")
            else:
                lines.append(f"  step {step['StepName']} failed: {step['FailureReason']}")
                lines += [f"    | {text}" for text in step.get("LogTail", [])[-8:]]
                lines.append(f"  log: {execution.folder / 'steps' / step['StepName']}")
    lines.append(f"  record: {execution.folder / 'execution.json'}; artifacts: {execution.folder / 'artifacts'}")
    if status != "Succeeded":
        lines.append(f"  resume: tweetops run-local --home {executor.home} --resume {execution.id}")
    return lines


def _categories(execution: Execution, steps: dict) -> list[str]:
    """How many categories the Cluster step proposed or applied, and where the review page is."""
    clusters = execution.folder / "artifacts" / "clusters"
    if steps.get("Cluster", {}).get("StepStatus") != "Succeeded" or not (clusters / "clusters.json").is_file():
        return []
    document = json.loads((clusters / "clusters.json").read_text(encoding="utf-8"))
    if document.get("selection", {}).get("chosen") == "given":  # retraining on reviewed clusters
        counted = f"the given map on {document['n_clusters']} clusters of the assignments it was reviewed on"
    else:
        counted = f"{document.get('n_categories', '?')} proposed categories from {document['n_clusters']} fine clusters"
    return [f"  categories: {counted}; review page: {clusters / 'report.html'}"]


def _evaluation(executor: LocalExecutor, execution: Execution) -> dict | None:
    """evaluation.json of the step with the EvaluationReport property file, if it ran."""
    definition = json.loads((execution.folder / "definition.json").read_text(encoding="utf-8"))
    for step in definition["Steps"]:
        for item in step.get("PropertyFiles", []):
            if item["PropertyFileName"] == "EvaluationReport" and execution.properties_path(step["Name"]).is_file():
                path = output_folder(executor, execution, step["Name"], item["OutputName"]) / item["FilePath"]
                return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return None


def approved_package(executor: LocalExecutor, group: str, package_arn: str | None) -> str:
    """The package to score with: the one given, else the group's latest approved (LocalRunError if none)."""
    if package_arn:
        return package_arn
    how = (f"train one with `tweetops run-local`, then approve it with `tweetops registry approve <version> "
           f"--by <you> --reason <why> --home {executor.home}`")
    groups = [item["ModelPackageGroupName"] for item in executor.registry.list_model_package_groups()]
    latest = executor.registry.latest_approved(group) if group in groups else None
    if latest is None:
        raise LocalRunError(f"no approved model package in group {group!r} of the local registry "
                            f"({executor.home / 'registry.db'}): {how}")
    return latest["ModelPackageArn"]


def prediction_summary(executor: LocalExecutor, execution: Execution) -> list[str]:
    """How a batch-inference execution ended: counts, categories, low-confidence and novel shares, where."""
    lines = summary(executor, execution)
    steps = {step["StepName"]: step for step in execution.record["Steps"]}
    if steps.get("Summarize", {}).get("StepStatus") != "Succeeded":
        return lines
    artifacts = execution.folder / "artifacts"
    report = json.loads(next((artifacts / "reports" / "validation").glob("quality_report*.json")).read_text())
    result = json.loads((artifacts / "reports" / "predictions" / "summary.json").read_text())
    top = ", ".join(f"{item['category']} {item['count']}" for item in result["categories"][:5])
    lines[1:1] = [
        f"  rows in {report['rows_in']}: scored {result['scored']}, quarantined {report['rows_quarantined']}"
        f" ({quarantine_files(executor, execution)})",
        f"  top categories: {top or 'none (nothing was scored)'}",
        f"  low confidence (< {result['low_confidence']['threshold']}): {_share(result['low_confidence']['share'])}, "
        f"novel: {_share(result['novel']['share'])}",
        f"  predictions: {artifacts / 'predictions'}",
        *accumulation_summary(executor, execution),
    ]
    return lines


def quarantine_files(executor: LocalExecutor, execution: Execution) -> str:
    """Where a batch-inference execution's rejected rows are: its file(s) of the quarantine table."""
    zone = output_folder(executor, execution, "ValidateBatch", "quarantine")
    files = sorted(zone.glob(f"date=*/{execution.id}*.parquet"))
    return ", ".join(map(str, files)) if len(files) <= 2 else f"{files[0].parent}/{execution.id}*.parquet"


def accumulation_summary(executor: LocalExecutor, execution: Execution) -> list[str]:
    """How many of the batch's messages the Accumulate step added to the new-data zone, and where it is."""
    import pandas as pd

    steps = {step["StepName"]: step for step in execution.record["Steps"]}
    if steps.get("Accumulate", {}).get("StepStatus") != "Succeeded":
        return []
    zone = output_folder(executor, execution, "Accumulate")
    files = sorted(zone.glob(f"date=*/{execution.id}.parquet"))
    added = sum(len(pd.read_parquet(path, columns=["id"])) for path in files)
    return [f"  new data: {added} messages added to {zone} ({len(files)} date partition(s)), for `tweetops evolution run`"]


def output_folder(executor: LocalExecutor, execution: Execution, step_name: str, output: str | None = None) -> Path:
    """The local folder a finished processing step wrote its output to (its first when `output` is None)."""
    properties = json.loads(execution.properties_path(step_name).read_text(encoding="utf-8"))
    outputs = properties["ProcessingOutputConfig"]["Outputs"]
    chosen = next(item for item in outputs if output is None or item["OutputName"] == output)
    return executor.store.path(chosen["S3Output"]["S3Uri"])


def record_monitoring(executor: LocalExecutor, execution: Execution) -> list[str]:
    """Record a batch-inference execution's drift check in the home (metrics log, a notification per fired alarm,
    as CloudWatch and SNS would) and say what it found: verdict, alarms, what changed, where the page is."""
    from pipelines.local.monitoring import record_batch

    steps = {step["StepName"]: step for step in execution.record["Steps"]}
    report_path = execution.folder / "artifacts" / "monitoring" / "report.json"
    if steps.get("Monitor", {}).get("StepStatus") != "Succeeded" or not report_path.is_file():
        return []
    report = json.loads(report_path.read_text(encoding="utf-8"))
    notifications = record_batch(executor.home, report, execution.id)
    lines = [f"  monitoring: {report['verdict']} (page: {report_path.with_name('report.html')})"]
    lines += [f"  ALARM {alarm['alarm']}: {alarm['message']}" for alarm in report["alarms"]]
    drift = report.get("data_drift") or {}
    distinctive = [item["term"] for item in drift.get("distinctive_terms") or []][:8]
    if drift.get("detected") and distinctive:
        lines.append(f"    words of the messages most unlike the baseline: {', '.join(distinctive)}")
        lines.append(f"    e.g. {drift['examples'][0]['text'][:100]!r}")
    shares = [item for item in (report.get("prediction_drift") or {}).get("categories", []) if item["significant"]]
    lines += [f"    {item['category']}: {_share(item['baseline_share'])} of the baseline -> {_share(item['batch_share'])}"
              for item in shares[:4]]
    if notifications:
        lines.append(f"  {len(notifications)} notification(s) recorded in {executor.home / 'monitoring'}")
    return lines


def _share(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


__all__ = ["LocalRunError", "local_definition", "stage_inputs", "summary", "approved_package", "prediction_summary",
           "record_monitoring"]
