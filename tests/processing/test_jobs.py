"""Specification of the jobs and of `discover`: every zone written, nothing lost between them, the category
map applied or drafted, and seeded runs reproducible byte for byte across processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from processing.category_map import load_category_map
from processing.demo_data import generate_messages, write_demo_data
from processing.jobs import cluster_job, discover, evaluate_job
from training.train import read_parquet_dir, run_training


@pytest.fixture(scope="module")
def raw_batch(tmp_path_factory):
    """600 demo messages written as a raw CSV with malformed rows and raw-file defects."""
    path = tmp_path_factory.mktemp("raw") / "batch.csv"
    write_demo_data(generate_messages(600, seed=3, malformed_share=0.05), path, raw_defects=True)
    return path


@pytest.fixture(scope="module")
def discovered(raw_batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("discover")
    return out, discover(raw_batch, out, n_clusters=10, use_umap=False, seed=0)


def test_discover_accounts_for_every_row(discovered):
    out, result = discovered
    report = json.loads((out / "quality_report.json").read_text())
    quarantined = (out / "quarantine" / "quarantine.jsonl").read_text().splitlines()
    assignments = pd.read_csv(out / "assignments.csv", dtype={"id": str})
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    assert report["rows_in"] >= 600  # raw-file defects can split or add lines, never drop them
    assert report["rows_quarantined"] == len(quarantined) > 0
    assert len(assignments) == report["rows_accepted"] == len(read_parquet_dir(out / "ingested"))
    assert all(json.loads(line)["reason"] for line in quarantined)
    assert result["train_rows"] + result["test_rows"] + result["discarded_rows"] == report["rows_accepted"]


def test_discover_writes_assignments_summary_and_an_unreviewed_draft_map(discovered):
    out, result = discovered
    assignments = pd.read_csv(out / "assignments.csv", dtype={"id": str})
    assert assignments.columns.tolist() == ["id", "cluster"] and assignments["id"].is_unique
    assert set(assignments["cluster"]) == set(range(10)) and result["n_clusters"] == 10
    summary = json.loads((out / "clusters.json").read_text())
    assert [c["size"] for c in summary["clusters"]] == np.bincount(assignments["cluster"]).tolist()
    assert summary["selection"]["chosen"] == "plain"
    draft = load_category_map(out / "category_map.yaml")
    assert not draft.is_reviewed and draft.clustering_run == summary["clustering_run"]
    assert sorted(c for entry in draft.entries for c in entry.clusters) == list(range(10))
    page = (out / "report.html").read_text(encoding="utf-8")  # the analyst's review page, beside clusters.json
    assert all(f">{entry.name}<" in page for entry in draft.entries) and "<script" not in page


def test_discover_proposes_categories_that_group_the_clusters_as_the_draft_map_does(discovered):
    out, result = discovered
    summary = json.loads((out / "clusters.json").read_text())
    categories, draft = summary["categories"], load_category_map(out / "category_map.yaml")
    assert len(categories) == result["n_categories"] == summary["hierarchy"]["chosen"] == len(draft.entries)
    assert sorted(c for category in categories for c in category["clusters"]) == list(range(10))
    assert [(c["name"], tuple(c["clusters"])) for c in categories] == [(e.name, e.clusters) for e in draft.entries]
    sizes = {c["cluster"]: c["size"] for c in summary["clusters"]}
    assert all(c["size"] == sum(sizes[f] for f in c["clusters"]) for c in categories)
    assert all(set(c["top_terms_by_language"]) <= {"es", "en", "other"} and c["representative"] for c in categories)
    points = summary["map_points"]
    assert len(points["x"]) == len(points["category"]) == min(2000, len(pd.read_csv(out / "assignments.csv")))
    assert set(points["category"]) <= set(range(len(categories)))


def test_pseudo_labeled_splits_carry_provenance(discovered):
    out, _ = discovered
    train, test = read_parquet_dir(out / "pseudo-labeled" / "train"), read_parquet_dir(out / "pseudo-labeled" / "test")
    assert not set(train["id"]) & set(test["id"]) and train["category"].notna().all()
    provenance = json.loads((out / "pseudo-labeled" / "train" / "provenance.json").read_text())
    assert provenance["category_map"]["reviewed"] is False and len(provenance["input_data_hash"]) == 64


def test_the_held_out_split_is_also_written_as_a_batch_transform_input(discovered):
    out, _ = discovered
    test = read_parquet_dir(out / "pseudo-labeled" / "test")
    batch = pd.read_json(out / "pseudo-labeled" / "held-out-batch" / "messages.jsonl", lines=True, dtype=str)
    assert list(batch.columns) == ["id", "text", "lang"]
    assert batch["lang"].tolist() == test["lang"].tolist()
    assert batch["id"].tolist() == test["id"].tolist() and batch["text"].tolist() == test["text"].tolist()


def test_a_reviewed_map_relabels_and_discards_clusters(discovered, tmp_path):
    out, _ = discovered
    document = yaml.safe_load((out / "category_map.yaml").read_text())
    document["version"] = 2
    document["reviewed"] = {"by": "analyst@example.com", "at": "2026-11-24T10:00:00Z"}
    document["categories"] = [{"name": "first_half", "clusters": [0, 1, 2, 3, 4], "description": "x"},
                              {"name": "noise", "clusters": [5, 6, 7, 8, 9], "description": "y"}]
    document["discard_category"] = "noise"
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(document))
    result = cluster_job(out / "processed", out / "features", tmp_path / "clusters", n_clusters=10,
                         use_umap=False, seed=0, category_map_path=tmp_path / "map.yaml",
                         pseudo_labeled_dir=tmp_path / "pseudo")
    train = read_parquet_dir(tmp_path / "pseudo" / "train")
    assert set(train["category"]) == {"first_half"} and result["discarded_rows"] > 0
    assert result["category_map_reviewed"] is True


def test_evaluation_scores_the_held_out_split_and_a_gold_set(discovered, raw_batch, tmp_path):
    out, _ = discovered
    run_training(out / "pseudo-labeled" / "train", tmp_path / "model")
    result = evaluate_job(tmp_path / "model", out / "pseudo-labeled" / "test", tmp_path / "evaluation",
                          gold_path=raw_batch, clusters_path=out)
    written = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(result))
    held_out = written["multiclass_classification_metrics"]
    assert 0 < held_out["macro_f1"]["value"] <= 1 and held_out["n_samples"] == result_rows(out / "pseudo-labeled" / "test")
    assert written["gold"]["n_samples"] + written["gold"]["rows_quarantined"] >= 570
    assert written["cluster_quality"]["n_clusters"] == 10
    # Draft categories are named after top terms, not like the gold labels: only the agreement means something.
    assert written["gold"]["categories_named_as_gold"] == 0
    assert written["gold"]["agreement"]["nmi"] > 0.25  # 10 clusters of es+en messages; random scores ~0


def result_rows(path) -> int:
    return len(read_parquet_dir(path))


def test_seeded_runs_in_separate_processes_give_identical_assignments_and_model_bytes(raw_batch, tmp_path):
    script = ("import sys; from processing.jobs import discover; from training.train import run_training\n"
              "out = sys.argv[1]; discover(sys.argv[2], out, n_clusters='auto', k_range=(4, 12), seed=11)\n"
              "run_training(out + '/pseudo-labeled/train', out + '/model', seed=11)\n")
    for run in ("a", "b"):
        # A different PYTHONHASHSEED per process: set iteration order must not leak into the outputs.
        env = {**os.environ, "PYTHONHASHSEED": {"a": "1", "b": "2"}[run]}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run), str(raw_batch)], check=True, env=env)
    for artifact in ("assignments.csv", "clusters.json", "category_map.yaml", "model/model.joblib",
                     "features/featurizer.joblib", "pseudo-labeled/train/messages.parquet"):
        assert (tmp_path / "a" / artifact).read_bytes() == (tmp_path / "b" / artifact).read_bytes(), artifact


def test_a_batch_with_no_valid_message_stops_with_a_pointer_to_the_quarantine(tmp_path):
    (tmp_path / "bad.csv").write_text("id,text\n1,\n2,https://example.com\n")
    with pytest.raises(ValueError, match="no message passed validation"):
        discover(tmp_path / "bad.csv", tmp_path / "out")
    assert len((tmp_path / "out" / "quarantine" / "quarantine.jsonl").read_text().splitlines()) == 2


def test_sharded_featurization_gives_the_features_of_one_instance(discovered, tmp_path):
    out, _ = discovered
    from processing.jobs import featurize_job, read_features

    whole = featurize_job(out / "processed", tmp_path / "one", seed=0)
    for index in range(3):  # three instances, each its own share, all writing to one prefix
        featurize_job(out / "processed", tmp_path / "three", seed=0, share=(index, 3))
    ids = read_parquet_dir(out / "processed")["id"]
    np.testing.assert_allclose(read_features(tmp_path / "three", ids), whole, atol=1e-6)
    assert (tmp_path / "one" / "featurizer.joblib").read_bytes() == (tmp_path / "three" / "featurizer.joblib").read_bytes()
    with pytest.raises(ValueError, match="do not match"):
        read_features(tmp_path / "three", ids[::-1])


def test_featurize_job_shares_the_embedding_cache_between_machines_through_s3(discovered, tmp_path,
                                                                                 empty_embedding_cache):
    import shutil

    import boto3
    from moto import mock_aws

    from processing.jobs import featurize_job

    out, _ = discovered
    other_machine = tmp_path / "other-cache"
    shutil.copytree(empty_embedding_cache, other_machine)  # the exported encoder only, no vectors
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cache")
        first = featurize_job(out / "processed", tmp_path / "a", featurizer="sentence-embeddings", threads=1,
                              cache_dir=str(empty_embedding_cache), cache_uri="s3://cache/embeddings/")
        second = featurize_job(out / "processed", tmp_path / "b", featurizer="sentence-embeddings", threads=1,
                               cache_dir=str(other_machine), cache_uri="s3://cache/embeddings/")
    info_a = json.loads((tmp_path / "a" / "features.json").read_text())
    info_b = json.loads((tmp_path / "b" / "features.json").read_text())
    assert info_a["embedding_cache"]["embedded"] == info_a["embedding_cache"]["distinct"] > 0
    assert info_b["embedding_cache"]["embedded"] == 0
    assert info_b["featurizer"] == "sentence-embeddings" and info_b["clustering_params"]["plain_projection"] == "pca"
    np.testing.assert_array_equal(first, second)


def test_featurize_job_without_s3_access_warns_and_embeds_anyway(discovered, tmp_path, empty_embedding_cache,
                                                                 capsys):
    from moto import mock_aws

    from processing.jobs import featurize_job

    out, _ = discovered
    with mock_aws():  # no such bucket: as good as no access
        features = featurize_job(out / "processed", tmp_path / "f", featurizer="sentence-embeddings", threads=1,
                                 cache_dir=str(empty_embedding_cache), cache_uri="s3://missing-bucket/cache/")
    assert features.shape[1] == 384 and (tmp_path / "f" / "features-00000.npz").is_file()
    assert "embedding cache not synced with S3" in capsys.readouterr().err


def test_cluster_job_clusters_with_the_settings_the_featurizer_names(discovered, tmp_path):
    from processing.features import HybridFeaturizer, TfidfLsaFeaturizer
    from processing.jobs import features_info

    out, _ = discovered
    assert json.loads((out / "features" / "features.json").read_text())["featurizer"] == "hybrid"
    # Embedding spaces have no variance order (PCA first) and want a finer UMAP graph; LSA: its leading components.
    assert features_info(out / "features")["clustering_params"] == HybridFeaturizer.clustering_params
    assert HybridFeaturizer.clustering_params["plain_projection"] == "pca"
    assert TfidfLsaFeaturizer.clustering_params["plain_components"] == 100
    clusterer = joblib.load(out / "clusterer.joblib")
    assert clusterer.get_params()["umap_neighbors"] == HybridFeaturizer.clustering_params["umap_neighbors"]
    assert features_info(tmp_path) == {}  # a features folder from before features.json


def test_given_cluster_assignments_replace_clustering_so_a_reviewed_map_applies(discovered, tmp_path):
    out, _ = discovered
    ids = read_parquet_dir(out / "processed")["id"]
    given = pd.DataFrame({"id": ids, "cluster": np.arange(len(ids)) % 3})
    (tmp_path / "given").mkdir()
    given.to_parquet(tmp_path / "given" / "assignments.parquet", index=False)
    draft = cluster_job(out / "processed", out / "features", tmp_path / "draft", seed=0,
                        assignments_path=tmp_path / "given", pseudo_labeled_dir=tmp_path / "draft-pseudo")
    assert draft["n_clusters"] == 3 and draft["selection"]["chosen"] == "given"
    assignments = pd.read_parquet(tmp_path / "draft" / "assignments.parquet")
    assert assignments["cluster"].tolist() == given["cluster"].tolist()
    # the map drafted on those clusters applies to them again, as the analyst saw them
    result = cluster_job(out / "processed", out / "features", tmp_path / "again", seed=0,
                         assignments_path=tmp_path / "given", category_map_path=tmp_path / "draft" / "category_map.yaml",
                         pseudo_labeled_dir=tmp_path / "again-pseudo")
    assert result["train_rows"] + result["test_rows"] + result["discarded_rows"] == len(ids)
    assert not (tmp_path / "again" / "clusterer.joblib").exists()


def test_assignments_that_miss_messages_are_refused_with_the_count(discovered, tmp_path):
    out, _ = discovered
    ids = read_parquet_dir(out / "processed")["id"]
    (tmp_path / "given").mkdir()
    pd.DataFrame({"id": ids[:-2], "cluster": 0}).to_parquet(tmp_path / "given" / "assignments.parquet", index=False)
    with pytest.raises(ValueError, match=rf"2 of {len(ids)} messages have no cluster assignment"):
        cluster_job(out / "processed", out / "features", tmp_path / "out", seed=0, assignments_path=tmp_path / "given")


# ---- the quarantine and quality_reports tables (docs/tables.md)

RUN_ARGS = ["--run-id", "exec-42", "--run-date", "2024-03-04T23:59:00+00:00"]


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory):
    """80 demo messages with malformed rows and raw-file defects: a validation takes a moment, not seconds."""
    path = tmp_path_factory.mktemp("small") / "batch.csv"
    write_demo_data(generate_messages(80, seed=5, malformed_share=0.2), path, raw_defects=True)
    return path


def validate_command(*args):
    from click.testing import CliRunner

    from pipelines.cli import main

    return CliRunner().invoke(main, ["validate", *map(str, args)])


def test_a_pipeline_validation_writes_quarantine_and_quality_rows_of_the_catalog_schemas(small_batch, tmp_path):
    import pyarrow.parquet as pq

    from processing.catalog import TABLES

    result = validate_command("--input", small_batch, "--output", tmp_path, *RUN_ARGS, "--pipeline", "inference")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "reports" / "quality_report.json").read_text())
    quarantine = pq.read_table(tmp_path / "quarantine" / "date=2024-03-04" / "exec-42.parquet")
    quality = pq.read_table(tmp_path / "quality" / "date=2024-03-04" / "exec-42.parquet")
    assert quarantine.schema == TABLES["quarantine"].arrow_schema()
    assert quality.schema == TABLES["quality_reports"].arrow_schema()
    # Nothing lost: every rejected row is a table row, the same rows as the human-readable file (now in reports/).
    rejected = [json.loads(line) for line in (tmp_path / "reports" / "quarantine.jsonl").read_text().splitlines()]
    rows = quarantine.to_pylist()
    assert len(rows) == report["rows_quarantined"] == len(rejected) > 0
    assert [{key: row[key] for key in rejected[0]} for row in rows] == rejected
    assert {(row["execution"], row["validated_at"]) for row in rows} == {("exec-42", "2024-03-04T23:59:00+00:00")}
    assert [path.name for path in (tmp_path / "quarantine").rglob("*") if path.is_file()] == ["exec-42.parquet"]
    (summary,) = quality.to_pylist()
    assert summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"] == report["rows_in"]
    assert summary["rows_quarantined"] == len(rows) and summary["pipeline"] == "inference"
    assert summary["quarantine_share"] == pytest.approx(len(rows) / report["rows_in"])
    assert json.loads(summary["reasons"]) == report["by_reason"]
    assert sum(json.loads(summary["reasons"]).values()) == len(rows)
    assert json.loads(summary["languages"]) == report["languages"]


def test_without_a_run_the_validation_writes_what_it_always_wrote(small_batch, tmp_path):
    result = validate_command("--input", small_batch, "--output", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "quarantine" / "quarantine.jsonl").is_file()
    assert not (tmp_path / "quality").exists() and not (tmp_path / "reports" / "quarantine.jsonl").exists()


def test_the_tables_of_a_cached_validation_are_the_rows_the_validation_itself_would_write(small_batch, tmp_path):
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from pipelines.cli import main

    assert validate_command("--input", small_batch, "--output", tmp_path / "direct", *RUN_ARGS,
                            "--pipeline", "training").exit_code == 0
    assert validate_command("--input", small_batch, "--output", tmp_path / "cached").exit_code == 0
    result = CliRunner().invoke(main, [
        "validation-tables", "--quarantine", str(tmp_path / "cached" / "quarantine"),
        "--reports", str(tmp_path / "cached" / "reports"), "--output", str(tmp_path / "recorded"), *RUN_ARGS,
        "--pipeline", "training"])
    assert result.exit_code == 0, result.output
    for table in ("quarantine", "quality"):
        (direct,) = (tmp_path / "direct" / table).rglob("*.parquet")
        recorded = tmp_path / "recorded" / direct.relative_to(tmp_path / "direct")
        assert pq.read_table(recorded).equals(pq.read_table(direct))


def test_validation_tables_refuses_rejected_rows_that_do_not_add_up_in_one_line(small_batch, tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import main

    assert validate_command("--input", small_batch, "--output", tmp_path).exit_code == 0
    rejected = tmp_path / "quarantine" / "quarantine.jsonl"
    rejected.write_text("".join(rejected.read_text().splitlines(keepends=True)[1:]))  # one row lost
    result = CliRunner().invoke(main, [
        "validation-tables", "--quarantine", str(tmp_path / "quarantine"), "--reports", str(tmp_path / "reports"),
        "--output", str(tmp_path / "recorded"), *RUN_ARGS, "--pipeline", "training"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "rejected rows, but quality_report.json counts" in result.output
    assert not (tmp_path / "recorded").exists()


@pytest.mark.parametrize("args, message", [
    (["--run-id", "exec-42"], "--run-id, --run-date and --pipeline go together"),
    ([*RUN_ARGS[:2], "--run-date", "yesterday", "--pipeline", "training"], "is not an ISO 8601 date or time"),
    (["--run-id", "../escape", "--run-date", "2024-03-04", "--pipeline", "training"], "it names a file"),
])
def test_bad_run_arguments_are_refused_in_one_line_before_anything_is_written(small_batch, tmp_path, args, message):
    result = validate_command("--input", small_batch, "--output", tmp_path / "out", *args)
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
