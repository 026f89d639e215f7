"""The evolution jobs: read folders, call the pure core, write outputs atomically.

- accumulate_job (the inference pipeline's Accumulate step): a scored batch + its predictions + its novelty queue
  -> the new-data zone, one file per date: <output>/date=YYYY-MM-DD/<batch>.parquet;
- evolve_job (the evolution pipeline's Evolve step): the zone's last window_days + the approved package (baseline
  with its featurizer, classifier, category map; each pickle verified by its digest) -> a proposal:

    proposal.json               the matched window clusters and proposed changes (processing.evolution.proposal)
    report.html                 the analyst's page (reports.review)
    clusters/assignments.csv    id, cluster: each window message's fine cluster (for people; ids formula-safe)
    clusters/assignments.parquet  the same with exact ids: what retraining's Cluster step reads (ClusterAssignmentsUri)
    clusters/clusters.json      clustering_run, n_clusters: what the reviewed map's cluster ids refer to
    retrain/messages.jsonl      the window as a raw input (id, text, lang, created_at): InputDataUri of retraining
    window.json                 which days and how many messages the window held
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from processing.artifacts import ArtifactIntegrityError
from processing.evolution.accumulate import accumulate_rows, batch_file_name, read_window
from processing.storage import write_json_atomic

DEFAULT_MIN_MESSAGES = 200


def read_novel_ids(folder: str | Path | None) -> set[str]:
    """The ids in a novelty queue (novel.jsonl files under a folder; none when there is no folder or file)."""
    if not folder or not Path(folder).exists():
        return set()
    files = sorted(Path(folder).rglob("*.jsonl")) if Path(folder).is_dir() else [Path(folder)]
    ids = set()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    ids.add(str(json.loads(line)["id"]))
                except (json.JSONDecodeError, TypeError, KeyError):
                    raise ValueError(f"{path}: line {number} is not a novelty-queue record (JSON with an id)") from None
    return ids


def accumulate_job(batch_path: str | Path, predictions_path: str | Path, novelty_path: str | Path | None,
                   output_dir: str | Path, *, batch: str, scored_on: str) -> dict:
    """Add a scored batch's messages to the new-data zone: output_dir/date=YYYY-MM-DD/<batch>.parquet per date.
    Returns the counts: messages in the batch, added, not added (unscored), novel, and the rows per date."""
    from processing.storage import write_parquet
    from processing.monitoring.jobs import read_batch_messages
    from processing.predictions import read_predictions

    name = batch_file_name(batch)
    messages = read_batch_messages(batch_path)
    parts = accumulate_rows(messages, read_predictions(predictions_path), read_novel_ids(novelty_path), batch,
                            scored_on)
    for day, frame in parts.items():
        write_parquet(frame, Path(output_dir) / f"date={day}" / name)
    added = sum(len(frame) for frame in parts.values())
    return {"batch": batch, "messages": int(messages["id"].nunique()), "added": int(added),
            "not_added": int(messages["id"].nunique() - added),
            "novel": int(sum(int(frame["novel"].sum()) for frame in parts.values())),
            "dates": {day: int(len(frame)) for day, frame in parts.items()}}


def evolve_job(new_data_path: str | Path, baseline_path: str | Path, model_path: str | Path,
               category_map_path: str | Path, output_dir: str | Path, *, window_days: int,
               as_of: str | None = None, seed: int = 0, n_groups: int | str = "auto",
               model_sha256: str | None = None, featurizer_sha256: str | None = None, model_info: dict | None = None,
               min_messages: int = DEFAULT_MIN_MESSAGES) -> dict:
    """Re-cluster the new-data window in the approved package's feature space, match it to the package's
    categories and write the proposal files (module docstring) to output_dir. Returns a short summary."""
    from processing.category_map import load_category_map
    from processing.defaults import DEFAULT_K_RANGE
    from processing.category_map import find_category_map

    window, info = read_window(new_data_path, window_days, as_of)
    needed = max(min_messages, DEFAULT_K_RANGE[0] + 1)  # KMeans' k search needs more rows than its smallest k
    if len(window) < needed:
        raise ValueError(f"{new_data_path}: the window {info['from']}..{info['to']} holds {len(window)} messages; "
                         f"evolve needs at least {needed} (widen the window or score more batches)")
    for what, digest, flag in (("featurizer", featurizer_sha256, "--featurizer-sha256"),
                               ("model", model_sha256, "--model-sha256")):
        if not digest:
            raise ArtifactIntegrityError(f"no {what} digest given: pass the package's {what} sha256 ({flag}); "
                                         f"the {what} is a pickle, never loaded unchecked")
    map_file = find_category_map(category_map_path)
    if map_file is None:
        raise FileNotFoundError(f"{category_map_path}: no category map (*.yaml, *.yml, *.json) in the folder")
    base_map = load_category_map(map_file)
    featurizer, reference_vectors, reference_messages, featurizer_name = _baseline(baseline_path, featurizer_sha256)
    classifier, metadata = _classifier(model_path, model_sha256, base_map)

    cleaned = _cleaned(window)
    vectors = np.asarray(featurizer.transform(cleaned))
    assigned = classifier.predict(cleaned["feature_text"].fillna("").astype(str).tolist())
    # The training-time picture of each category: the baseline's held-out sample as the classifier saw it.
    reference_categories = classifier.predict(reference_messages["feature_text"].fillna("").astype(str).tolist())
    from processing.evolution.proposal import propose

    model = {**(model_info or {}), "model_version": metadata.get("model_version"),
             "model_sha256": metadata.get("model_sha256"), "featurizer": featurizer_name,
             "featurizer_sha256": featurizer_sha256}
    proposal, fine = propose(cleaned, vectors, assigned, base_map, reference_vectors, reference_categories,
                             clustering_params=dict(getattr(featurizer, "clustering_params", {}) or {}),
                             n_groups=n_groups, seed=seed, model=model, window_info=info)
    write_outputs(Path(output_dir), proposal, window, np.asarray(fine), info)
    return {"proposal_id": proposal["proposal_id"], "window": info, "n_fine_clusters": proposal["n_fine_clusters"],
            "clusters": len(proposal["clusters"]), "changes": [change["change"] for change in proposal["changes"]]}


def _baseline(baseline_path: str | Path, featurizer_sha256: str):
    """(verified featurizer, reference vectors, reference messages, featurizer name) of a package's baseline."""
    from processing.features import load_featurizer
    from processing.monitoring.baseline import Baseline
    from processing.monitoring.jobs import FEATURIZER_FILE

    baseline = Baseline.load(baseline_path)
    featurizer = load_featurizer(Path(baseline_path) / FEATURIZER_FILE, featurizer_sha256)
    if "feature_text" not in baseline.messages:
        raise ValueError(f"{baseline_path}: the baseline's reference messages have no feature_text")
    name = (baseline.summary.get("featurizer") or {}).get("name")
    return featurizer, np.asarray(baseline.vectors), baseline.messages, name


def _classifier(model_path: str | Path, model_sha256: str, base_map):
    """The verified classifier and its metadata, checked to have been trained with `base_map`'s categories."""
    from processing.jobs import _model_directory
    from training.train import load_model

    with _model_directory(model_path) as model_dir:
        classifier, metadata = load_model(model_dir, model_sha256)
    trained = metadata.get("category_map") or {}
    if trained.get("hash") and trained["hash"] != base_map.content_hash:
        raise ValueError(f"the model was trained with category map version {trained.get('version')} (hash "
                         f"{str(trained['hash'])[:12]}), not the given map version {base_map.version} (hash "
                         f"{base_map.content_hash[:12]}): pass the map of the model's package")
    unknown = sorted(set(map(str, classifier.classes_)) - set(base_map.categories))
    if unknown:
        raise ValueError(f"the model predicts categories the category map version {base_map.version} does not "
                         f"have: {', '.join(unknown[:5])}")
    return classifier, metadata


def _cleaned(window: pd.DataFrame) -> pd.DataFrame:
    """The window with clean_text and feature_text, cleaned as training cleans (processing.clean)."""
    from processing.clean import TextCleaner

    return TextCleaner(n_process="auto").transform(window.reset_index(drop=True))


def write_outputs(output_dir: Path, proposal: dict, window: pd.DataFrame, fine: np.ndarray, info: dict) -> None:
    """proposal.json, report.html, clusters/ (assignments.csv and .parquet, clusters.json), retrain/messages.jsonl,
    window.json."""
    from processing.jobs import write_assignments
    from processing.validation_jobs import write_transform_batch
    from reports.review import write_review_report

    if len(fine) != len(window):
        raise ValueError(f"the proposal assigned {len(fine)} fine clusters to {len(window)} window messages")
    write_json_atomic(output_dir / "proposal.json", proposal)
    write_review_report(proposal, output_dir / "report.html")
    write_assignments(window["id"], fine, output_dir / "clusters")  # as cluster_job writes them
    write_json_atomic(output_dir / "clusters" / "clusters.json",
                      {"clustering_run": proposal["clustering_run"], "n_clusters": proposal["n_fine_clusters"]})
    # The window as a raw input (id, text, lang, created_at), written as scored batches are.
    write_transform_batch(window, output_dir / "retrain" / "messages.jsonl", dated=True)
    write_json_atomic(output_dir / "window.json", info)
