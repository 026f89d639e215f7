"""The monitoring jobs: read folders, call the pure core, write outputs atomically.

- baseline_job (the training pipeline's Baseline step): held-out split + its predictions + features + validation
  reports -> the baseline folder registered with the model package;
- monitor_job (the inference pipeline's Monitor step): a scored batch + the package's baseline -> report.json,
  report.html, metrics.json and the novelty queue.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from processing import catalog
from processing.artifacts import ArtifactIntegrityError
from processing.monitoring.baseline import BASELINE_FILE, Baseline, build_baseline
from processing.monitoring.check import MonitorSettings, check_batch, featurizer_embedding
from processing.monitoring.metrics import batch_metrics, metric_data
from processing.predictions import read_predictions
from processing.storage import write_json_atomic, write_text_atomic

FEATURIZER_FILE = "featurizer.joblib"
REPORT_FILE, REPORT_PAGE, METRICS_FILE = "report.json", "report.html", "metrics.json"
NOVELTY_QUEUE = "novel.jsonl"


def read_quality_reports(folder: str | Path | None) -> list[dict]:
    """Every validation report (quality_report*.json, one per shard) under a folder."""
    if not folder or not Path(folder).is_dir():
        return []
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(folder).rglob("quality_report*.json"))]


def features_of(features_path: str | Path, ids: pd.Series) -> np.ndarray:
    """The feature vectors featurize_job wrote for the given message ids (ValueError naming missing ones)."""
    from processing.jobs import feature_parts

    features, feature_ids = feature_parts(features_path)
    rows = pd.Index(feature_ids).get_indexer(ids.astype(str))
    if (rows < 0).any():
        raise ValueError(f"{features_path}: no features for {int((rows < 0).sum())} held-out messages")
    return features[rows]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def classifier_vocabulary(model_path: str | Path) -> frozenset[str]:
    """The words (unigrams) of the classifier's word TF-IDF: a model folder or model.tar.gz, verified against
    the digest its training job recorded (as Evaluate loads it; in the pipeline it comes from this execution)."""
    from processing.jobs import _model_directory
    from training.train import load_model, read_model_metadata

    with _model_directory(model_path) as model_dir:
        model, _ = load_model(model_dir, read_model_metadata(model_dir).get("model_sha256"))
    return frozenset(word for word in model.word_vocabulary() if " " not in word)


def baseline_job(predictions_path: str | Path, test_path: str | Path, features_path: str | Path,
                 reports_path: str | Path | None, output_dir: str | Path, seed: int = 0,
                 model_path: str | Path | None = None) -> dict:
    """Held-out split (pseudo-labeled/test) + its batch predictions + the Features step's output + validation
    reports (+ the model, for its vocabulary) -> output_dir: the baseline files and a copy of the featurizer
    (checked against features.json)."""
    from processing.jobs import FEATURIZER_FILE as FEATURES_FEATURIZER, features_info
    from training.train import read_parquet_dir

    output_dir, features_path = Path(output_dir), Path(features_path)
    held_out = read_parquet_dir(test_path)
    info = features_info(features_path)
    featurizer = features_path / FEATURES_FEATURIZER
    if _sha256(featurizer) != info.get("featurizer_sha256"):
        raise ArtifactIntegrityError(f"{featurizer}: sha256 differs from the digest in features.json")
    baseline = build_baseline(held_out, read_predictions(predictions_path), features_of(features_path, held_out["id"]),
                              read_quality_reports(reports_path), seed=seed,
                              featurizer={"name": info.get("featurizer"), "sha256": info["featurizer_sha256"]},
                              vocabulary=classifier_vocabulary(model_path) if model_path else frozenset())
    output_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(featurizer, output_dir / FEATURIZER_FILE)
    baseline.save(output_dir)
    return baseline.summary


def read_batch_messages(folder: str | Path) -> pd.DataFrame:
    """The batch-transform input (JSON Lines of id, text, lang) under a folder, as one frame of strings."""
    files = sorted(Path(folder).rglob("*.jsonl")) if Path(folder).is_dir() else [Path(folder)]
    frames = [pd.read_json(path, lines=True, dtype=False) for path in files if path.stat().st_size]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "text", "lang"])
    frame["id"] = frame["id"].astype(str)
    return frame


def monitor_job(baseline_path: str | Path, batch_path: str | Path, predictions_path: str | Path,
                reports_path: str | Path | None, output_dir: str | Path, *, featurizer_sha256: str | None,
                novelty_dir: str | Path | None = None, settings: MonitorSettings = MonitorSettings(),
                context: dict | None = None, run: catalog.TableRun | None = None,
                metrics_dir: str | Path | None = None) -> dict:
    """Check one scored batch against the package's baseline; write report.json, report.html, metrics.json to
    output_dir and the novel messages to novelty_dir/novel.jsonl (default output_dir/novelty). Without a baseline
    (a package registered before monitoring existed) the report says so. With `run` (the scoring execution) the
    figures are also the batch's `batch_metrics` row: metrics_dir/date=<day>/<execution>.parquet."""
    output_dir = Path(output_dir)
    predictions = read_predictions(predictions_path)
    predictions["id"] = predictions["id"].astype(str)
    messages = read_batch_messages(batch_path)
    context = {**_versions(predictions), **(context or {})}
    if not (Path(baseline_path) / BASELINE_FILE).is_file():
        report = {"schema": "tweetops.monitoring.report/1", "judged": False, "alarms": [],
                  "batch": {"messages": int(predictions["error"].isna().sum()), **context},
                  "verdict": "no baseline: the model package carries none (registered before monitoring "
                             "existed?); nothing was judged"}
    else:
        if not featurizer_sha256:
            raise ArtifactIntegrityError("no featurizer digest given: pass the package's featurizer_sha256 "
                                         "(--featurizer-sha256); the featurizer is a pickle, never loaded unchecked")
        from processing.features import load_featurizer

        baseline = Baseline.load(baseline_path)
        featurizer = load_featurizer(Path(baseline_path) / FEATURIZER_FILE, featurizer_sha256)
        report = check_batch(baseline, messages, predictions, featurizer_embedding(featurizer),
                             read_quality_reports(reports_path), settings, context)
    novel = predictions[predictions["novel"].fillna(False).astype(bool)]
    queue = novel[["id", "category", "confidence"]].merge(messages, on="id", how="left")
    novelty_dir = Path(novelty_dir) if novelty_dir else output_dir / "novelty"
    write_text_atomic(novelty_dir / NOVELTY_QUEUE,
                      queue.to_json(orient="records", lines=True, force_ascii=False) if len(queue) else "")
    write_json_atomic(output_dir / METRICS_FILE, metric_data(report, context.get("pipeline") or "",
                                                             context.get("model_package_group") or ""))
    write_json_atomic(output_dir / REPORT_FILE, report)
    write_text_atomic(output_dir / REPORT_PAGE, _page(report))
    if run:
        catalog.write_partition(catalog.TABLES["batch_metrics"], batch_metrics_row(report, run),
                                metrics_dir or output_dir / "metrics", run.day, run.execution)
    return report


def batch_metrics_row(report: dict, run: catalog.TableRun) -> pd.DataFrame:
    """The one `batch_metrics` row of a monitoring report: its CloudWatch figures (catalog.METRIC_COLUMNS), the
    alarm rules that fired (JSON list), whether it was judged, the scoring package and execution."""
    figures = batch_metrics(report)
    return pd.DataFrame([{
        "execution": run.execution, "model_package": (report.get("batch") or {}).get("model_package"),
        "judged": bool(report.get("judged")),
        **{column: figures[metric] for metric, column in catalog.METRIC_COLUMNS.items()},
        "alarms": json.dumps([alarm["alarm"] for alarm in report.get("alarms", [])]), "scored_at": run.at}])


def _versions(predictions: pd.DataFrame) -> dict:
    """The model and category-map versions the predictions carry (the first of each; a batch has one)."""
    return {field: (str(values.iloc[0]) if len(values) else None)
            for field in ("model_version", "category_map_version")
            for values in [predictions[field].dropna()]}


def _page(report: dict) -> str:
    """report.html: the operator's page (reports/monitoring.py)."""
    from reports.monitoring import monitoring_report_html

    return monitoring_report_html(report)
