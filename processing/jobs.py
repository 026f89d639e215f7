"""Processing jobs: each reads its inputs from folders, calls the pure core, writes its outputs atomically.

These are the bodies of the container entry points (`tweetops validate|clean|featurize|cluster|evaluate`)
and of `discover`, which chains the first four on one machine. Folder layout of one run (the storage
zones of DESIGN.md):

    ingested/messages.parquet        accepted rows          quarantine/quarantine.jsonl  rejected rows
    reports/quality_report.json      counts by reason       processed/messages.parquet   cleaned text
    features/featurizer.joblib, features-*.npz              clusters/ (assignments, summary, draft map)
    pseudo-labeled/{train,test}/messages.parquet + provenance.json
    pseudo-labeled/held-out-batch/messages.jsonl   the held-out split as a batch-transform input (id, text)
    evaluation/evaluation.json
"""
from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import joblib
import numpy as np
import pandas as pd

from processing import evaluation
from processing.category_map import (check_against_clusters, draft_category_map, load_category_map,
                                     pseudo_labels, save_category_map)
from processing.clean import TextCleaner
from processing.cluster import DEFAULT_K_RANGE, MessageClusterer, sample_indices, summarize_clusters
from processing.contract import DEFAULT_LANGUAGES, DEFAULT_MAX_TEXT_CHARS
from processing.features import DEFAULT_FEATURIZER, make_featurizer, save_featurizer
from processing.ingest import read_messages
from processing.provenance import code_version
from processing.storage import atomic_output, write_json_atomic, write_text_atomic
from processing.validate import validate, write_validation_outputs
from training.train import load_model, read_parquet_dir, split_holdout

Progress = Callable[[str], None]
MESSAGES_FILE = "messages.parquet"
HELD_OUT_BATCH = "held-out-batch"


def _quiet(message: str) -> None:
    """Default progress sink: say nothing."""


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame to parquet atomically, without the pandas index."""
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def validate_job(input_path: str | Path, output_dir: str | Path, languages: Sequence[str] = DEFAULT_LANGUAGES,
                 max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, part: str = "", batch: bool = False) -> dict:
    """raw/ -> ingested/messages.parquet + quarantine/quarantine.jsonl + reports/quality_report.json, and with
    `batch` also batch/messages.jsonl (the accepted messages as a batch-transform input).

    `part` suffixes the file names so that the instances of a sharded job do not overwrite each other
    (duplicate ids are then only caught within a shard).
    """
    output_dir = Path(output_dir)
    batch = read_messages(input_path)
    result = validate(batch.records, languages=languages, max_text_chars=max_text_chars,
                      input_hash=batch.input_hash, warnings=batch.warnings)
    write_validation_outputs(result, output_dir / "ingested", output_dir / "quarantine",
                             output_dir / "reports" / f"quality_report{part}.json", part=part)
    if batch:
        write_transform_batch(result.accepted, output_dir / "batch" / f"messages{part}.jsonl")
    return result.report


CLEAN_CHUNK_ROWS = 20_000  # rows cleaned between progress reports


def clean_job(ingested_path: str | Path, output_dir: str | Path, n_process: int | str = "auto",
              part: str = "", progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """ingested/ -> processed/messages<part>.parquet with clean_text and feature_text added.

    `progress(done, total)` is called after every chunk of CLEAN_CHUNK_ROWS messages."""
    messages = read_parquet_dir(ingested_path)
    cleaner = TextCleaner(n_process=n_process)
    parts = []
    for start in range(0, len(messages), CLEAN_CHUNK_ROWS):  # cleaning is per message: chunks change nothing
        parts.append(cleaner.transform(messages.iloc[start:start + CLEAN_CHUNK_ROWS]))
        if progress:
            progress(min(start + CLEAN_CHUNK_ROWS, len(messages)), len(messages))
    cleaned = pd.concat(parts) if parts else cleaner.transform(messages)
    write_parquet(cleaned, Path(output_dir) / MESSAGES_FILE.replace(".parquet", f"{part}.parquet"))
    return cleaned


def featurize_job(processed_path: str | Path, output_dir: str | Path, featurizer: str = "tfidf",
                  max_fit_rows: int = 50_000, seed: int = 0, share: tuple[int, int] = (0, 1),
                  cache_uri: str | None = None, **params) -> np.ndarray:
    """processed/ -> features/featurizer.joblib (fitted on a seeded sample) + features-<share>.npz (this
    instance's share of the rows: all of them on one instance) + features.json (what made them).

    `params` go to the featurizer (e.g. model, runtime, threads, cache_dir for the embedding ones). With
    `cache_uri` (an S3 prefix) the embedding cache is synced with it before and after, so later executions
    on other machines reuse the vectors.
    """
    messages = read_parquet_dir(processed_path)
    if messages.empty:
        raise ValueError(f"{processed_path}: no messages to featurize: every input row was quarantined "
                         "(the quarantine zone says why)")
    fit_rows = sample_indices(len(messages), max_fit_rows, seed)
    model = make_featurizer(featurizer, seed=seed, **params)
    cache_folder = None
    if cache_uri and "cache_dir" in model.get_params():
        from processing.embeddings import default_cache_dir, sync_cache_from_s3

        cache_folder = Path(params.get("cache_dir") or default_cache_dir()) / "embeddings"
        sync_cache_from_s3(cache_uri, cache_folder)
    model.fit(messages.iloc[fit_rows])
    # Every instance fits the same featurizer (same seeded sample of the same rows) and transforms its own
    # contiguous share; cluster_job concatenates the parts in name order.
    start, stop = share_bounds(len(messages), *share)
    features = model.transform(messages.iloc[start:stop])
    if cache_folder is not None:
        from processing.embeddings import sync_cache_to_s3

        sync_cache_to_s3(cache_folder, cache_uri)
    output_dir = Path(output_dir)
    save_featurizer(model, output_dir / "featurizer.joblib")
    with atomic_output(output_dir / f"features-{share[0]:05d}.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, features=features, ids=messages["id"].iloc[start:stop].to_numpy(dtype=str))
    write_json_atomic(output_dir / FEATURES_INFO, {
        "featurizer": featurizer, "dimensions": int(features.shape[1]),
        "components_ordered": bool(model.components_ordered),
        "embedding_cache": embedding_cache_stats(model)})
    return features


FEATURES_INFO = "features.json"


def embedding_cache_stats(featurizer) -> dict | None:
    """How many texts the embedding part of a featurizer took from its cache and how many it embedded."""
    part = getattr(featurizer, "embeddings_", featurizer)
    return getattr(part, "cache_stats_", None)


def features_plain_components(features_path: str | Path, default: int | None) -> int | None:
    """Leading components plain KMeans may use: `default` for ordered (LSA) features, all of them otherwise."""
    info = Path(features_path) / FEATURES_INFO
    if info.is_file() and not json.loads(info.read_text(encoding="utf-8")).get("components_ordered", True):
        return None
    return default


def write_transform_batch(messages: pd.DataFrame, path: str | Path) -> Path:
    """Messages as batch transform reads them: JSON Lines of id and text (it splits its input by line)."""
    return write_text_atomic(path, messages[["id", "text"]].to_json(orient="records", lines=True, force_ascii=False))


def share_bounds(n_rows: int, index: int, count: int) -> tuple[int, int]:
    """Row range [start, stop) of share `index` of `count` near-equal contiguous shares."""
    return n_rows * index // count, n_rows * (index + 1) // count


def read_features(features_path: str | Path, ids: Sequence[str]) -> np.ndarray:
    """Concatenate the feature parts written by featurize_job, checking they cover `ids` in order."""
    parts = sorted(Path(features_path).glob("features-*.npz"))
    if not parts:
        raise FileNotFoundError(f"{features_path}: no features-*.npz files (run featurize first)")
    loaded = [np.load(part) for part in parts]
    features = np.concatenate([part["features"] for part in loaded])
    feature_ids = np.concatenate([part["ids"] for part in loaded])
    if len(feature_ids) != len(ids) or not np.array_equal(feature_ids, np.asarray(ids, dtype=str)):
        raise ValueError(f"{features_path}: features cover {len(feature_ids)} messages that do not match the "
                         f"{len(ids)} processed messages (were they featurized from other data?)")
    return features


def cluster_job(processed_path: str | Path, features_path: str | Path, output_dir: str | Path, *,
                n_clusters: int | str = "auto", use_umap: bool | str = "auto", seed: int = 0,
                k_range: tuple[int, int] = DEFAULT_K_RANGE, category_map_path: str | Path | None = None, unmapped: str = "error",
                test_size: float = 0.2, pseudo_labeled_dir: str | Path | None = None) -> dict:
    """Cluster, summarise, draft (or apply) the category map, and write the pseudo-labelled splits.

    Writes to output_dir: assignments.csv (id, cluster), clusters.json (summary + selection evidence),
    category_map.yaml (the draft, or a copy of the given map), clusterer.joblib; and to
    pseudo_labeled_dir (default output_dir/pseudo-labeled): train/ and test/, each messages.parquet plus
    provenance.json (clustering run, category map version and hash, input data hash), and
    held-out-batch/messages.jsonl: the held-out messages (id, text) as batch transform reads them.
    """
    output_dir = Path(output_dir)
    messages = read_parquet_dir(processed_path)
    features = read_features(features_path, messages["id"])
    clusterer = MessageClusterer(n_clusters=n_clusters, k_range=k_range, use_umap=use_umap, seed=seed)
    clusterer.set_params(plain_components=features_plain_components(features_path, clusterer.plain_components))
    clusters = clusterer.fit_predict(features)
    k = clusterer.n_clusters_
    summary = summarize_clusters(messages["id"], messages["text"], messages["feature_text"].fillna(""),
                                 features, clusters, k)
    quality = evaluation.internal_cluster_quality(features, clusters, seed=seed)
    run_id = clustering_run_id(messages["id"], clusters)

    category_map_path = find_category_map(category_map_path) if category_map_path else None
    if category_map_path:
        category_map = load_category_map(category_map_path)
        check_against_clusters(category_map, range(k), clustering_run=run_id)
    else:
        category_map = draft_category_map({c["cluster"]: c["top_terms"] for c in summary}, clustering_run=run_id)

    write_text_atomic(output_dir / "assignments.csv",
                      pd.DataFrame({"id": messages["id"], "cluster": clusters}).to_csv(index=False))
    write_json_atomic(output_dir / "clusters.json", {
        "clustering_run": run_id, "n_clusters": k, "quality": quality,
        "selection": clusterer.selection_, "clusters": summary})
    save_category_map(category_map, output_dir / "category_map.yaml")
    with atomic_output(output_dir / "clusterer.joblib") as tmp:
        joblib.dump(clusterer, tmp)

    labelled = messages.assign(cluster=clusters,
                               category=pseudo_labels(clusters, category_map, unmapped=unmapped))
    train, test = split_holdout(labelled[labelled["category"].notna()], test_size=test_size, seed=seed)
    pseudo_dir = Path(pseudo_labeled_dir) if pseudo_labeled_dir else output_dir / "pseudo-labeled"
    provenance = {
        "clustering_run": run_id,
        "category_map": {"version": category_map.version, "hash": category_map.content_hash,
                         "reviewed": category_map.is_reviewed},
        "input_data_hash": messages_hash(messages),
        "code_version": code_version(),
        "cluster_quality": quality,
    }
    # One folder per split, so each is a channel of its own (training reads train/, evaluation test/).
    for split, frame in (("train", train), ("test", test)):
        write_parquet(frame, pseudo_dir / split / MESSAGES_FILE)
        write_json_atomic(pseudo_dir / split / "provenance.json", provenance)
    write_transform_batch(test, pseudo_dir / HELD_OUT_BATCH / "messages.jsonl")
    return {"n_clusters": k, "quality": quality, "selection": clusterer.selection_,
            "category_map_reviewed": category_map.is_reviewed,
            "train_rows": len(train), "test_rows": len(test),
            "discarded_rows": int(labelled["category"].isna().sum())}


def find_category_map(path: str | Path) -> Path | None:
    """The map file itself, or the one map (*.yaml, *.yml, *.json) in a folder; None for a folder without one."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such category map file or folder")
    maps = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json"))
    if len(maps) > 1:
        raise ValueError(f"{path}: several category maps {[p.name for p in maps]}; keep one")
    return maps[0] if maps else None


def clustering_run_id(ids: Sequence[str], clusters: np.ndarray) -> str:
    """Content id of a clustering (hash of ids and their clusters): a map names the run it was written for."""
    frame = pd.DataFrame({"id": list(ids), "cluster": clusters})
    return "run-" + _sha256_hex(frame.to_csv(index=False).encode())[:16]


def messages_hash(messages: pd.DataFrame) -> str:
    """Hash of the accepted messages (ids and texts): the input data hash recorded in artifacts."""
    return _sha256_hex(messages[["id", "text"]].to_csv(index=False).encode())


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evaluate_job(model_path: str | Path, test_path: str | Path, output_dir: str | Path, *,
                 gold_path: str | Path | None = None, clusters_path: str | Path | None = None) -> dict:
    """Score the model on the held-out split (and a gold set when given); write evaluation.json."""
    with _model_directory(model_path) as model_dir:
        model, metadata = load_model(model_dir)
    test = read_parquet_dir(test_path)
    held_out = evaluation.classification_scores(test["category"], model.predict(test["feature_text"].fillna("")))
    result = {
        "multiclass_classification_metrics": held_out,
        "model_version": metadata["model_version"],
        "category_map": metadata.get("category_map"),
        "gold": None,
        "cluster_quality": None,
    }
    if gold_path and has_messages(gold_path):
        result["gold"] = gold_evaluation(model, gold_path)
    if clusters_path:
        result["cluster_quality"] = json.loads(
            (Path(clusters_path) / "clusters.json").read_text(encoding="utf-8"))["quality"]
    write_json_atomic(Path(output_dir) / "evaluation.json", result)
    return result


def has_messages(path: str | Path) -> bool:
    """Whether a path is a message file, or a folder holding at least one (an optional channel may be empty)."""
    from processing.ingest import list_input_files

    return bool(list_input_files(path)[0])


def gold_evaluation(model, gold_path: str | Path) -> dict:
    """Classification scores against a human gold set (messages with a `label`), cleaned like training data."""
    gold = read_messages(gold_path).records
    if "label" not in gold.columns:
        raise ValueError(f"{gold_path}: a gold set needs a 'label' column")
    result = validate(gold)
    accepted = result.accepted[result.accepted["label"].notna() & (result.accepted["label"] != "")]
    cleaned = TextCleaner().transform(accepted)
    predicted = model.predict(cleaned["feature_text"])
    scores = evaluation.classification_scores(cleaned["label"], predicted)
    scores["rows_quarantined"] = result.report["rows_quarantined"]
    # Name-independent agreement: meaningful even before an analyst has named categories like the gold set.
    scores["agreement"] = evaluation.clustering_scores(cleaned["label"], predicted)
    scores["categories_named_as_gold"] = len(set(model.classes_) & set(cleaned["label"]))
    return scores


class _model_directory:
    """Context manager giving a model directory for a folder, or for a model.tar.gz (extracted to a temp dir)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._tmp = None

    def __enter__(self) -> Path:
        tarball = self.path if self.path.is_file() else self.path / "model.tar.gz"
        if not tarball.is_file():
            return self.path
        self._tmp = tempfile.TemporaryDirectory()
        with tarfile.open(tarball) as archive:
            archive.extractall(self._tmp.name, filter="data")
        return Path(self._tmp.name)

    def __exit__(self, *exc) -> None:
        if self._tmp:
            self._tmp.cleanup()


def discover(input_path: str | Path, out_dir: str | Path, *, n_clusters: int | str = "auto",
             use_umap: bool | str = "auto", seed: int = 0, k_range: tuple[int, int] = DEFAULT_K_RANGE, languages: Sequence[str] = DEFAULT_LANGUAGES,
             max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, featurizer: str = DEFAULT_FEATURIZER,
             featurizer_params: dict | None = None, progress: Progress = _quiet) -> dict:
    """validate -> clean -> featurize -> cluster on one machine; the outputs land in out_dir."""
    out_dir = Path(out_dir)
    progress("validating")
    report = validate_job(input_path, out_dir, languages=languages, max_text_chars=max_text_chars)
    write_json_atomic(out_dir / "quality_report.json", report)
    if report["rows_accepted"] == 0:
        raise ValueError(f"{input_path}: no message passed validation; see {out_dir / 'quarantine'}")
    progress(f"cleaning {report['rows_accepted']} messages")
    clean_job(out_dir / "ingested", out_dir / "processed")
    progress(f"featurizing ({featurizer})")
    featurize_job(out_dir / "processed", out_dir / "features", featurizer=featurizer, seed=seed,
                  **(featurizer_params or {}))
    cache = json.loads((out_dir / "features" / FEATURES_INFO).read_text(encoding="utf-8"))["embedding_cache"]
    if cache:
        progress(f"embedded {cache['embedded']} distinct texts, {cache['from_cache']} taken from the cache")
    progress("clustering")
    summary = cluster_job(out_dir / "processed", out_dir / "features", out_dir, n_clusters=n_clusters,
                          use_umap=use_umap, seed=seed, k_range=k_range)
    return {"quality_report": report, **summary}
