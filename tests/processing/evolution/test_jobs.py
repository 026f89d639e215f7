"""Specification of the evolution jobs on folders laid out as the pipelines lay them out: accumulate_job adds a
scored batch (batch-transform input and output, novelty queue) to the new-data zone; evolve_job reads the zone's
window, verifies and uses the package's featurizer and classifier, hands the core what it needs and writes the
proposal's files; the `tweetops accumulate` / `tweetops evolve` commands fail in one line."""
from __future__ import annotations

import json
import shutil
import sys
import types

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from inference.handlers import output_fn
from pipelines.cli import main
from processing.artifacts import ArtifactIntegrityError
from processing.category_map import Category, CategoryMap, save_category_map
from processing.demo_data import generate_messages
from processing.evolution.accumulate import read_window
from processing.evolution.jobs import accumulate_job, evolve_job
from processing.jobs import featurize_job, features_info, write_parquet
from processing.validation_jobs import write_transform_batch
from processing.monitoring.baseline import build_baseline
from processing.monitoring.jobs import FEATURIZER_FILE
from processing.validate import validate
from training.train import read_model_metadata, run_training

SCORED = "2024-04-01T09:30:00+00:00"


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """An approved package's artifacts made by the product's own jobs: a featurizer, a classifier trained with a
    category map (its hash in the model's provenance), the monitoring baseline; and one scored batch."""
    from processing.clean import TextCleaner

    root = tmp_path_factory.mktemp("package")
    messages = validate(generate_messages(900, seed=11, malformed_share=0.0)).accepted
    cleaned = TextCleaner().transform(messages).reset_index(drop=True)
    labels = sorted(cleaned["label"].unique())
    category_map = CategoryMap(version=3, clustering_run="run-0123456789abcdef", entries=tuple(
        Category(label, f"gold {label}", (number,), f"c{number + 1}") for number, label in enumerate(labels)))
    (root / "map").mkdir()
    save_category_map(category_map, root / "map" / "category_map.yaml")
    train, held_out, batch = cleaned.iloc[:400], cleaned.iloc[400:600], cleaned.iloc[600:]
    write_parquet(train.assign(category=train["label"]), root / "train" / "messages.parquet")
    (root / "train" / "provenance.json").write_text(json.dumps({"category_map": {
        "version": category_map.version, "hash": category_map.content_hash, "reviewed": False}}))
    run_training(root / "train", root / "model")
    write_parquet(train, root / "processed" / "messages.parquet")
    featurize_job(root / "processed", root / "features", "tfidf", n_components=30)
    from processing.features import load_featurizer
    from training.train import load_model

    digest = features_info(root / "features")["featurizer_sha256"]
    featurizer = load_featurizer(root / "features" / "featurizer.joblib", digest)
    model, metadata = load_model(root / "model", read_model_metadata(root / "model")["model_sha256"])
    predicted = pd.DataFrame({"id": held_out["id"], "category": model.predict(held_out["feature_text"]),
                              "confidence": 0.9, "novel": False})
    baseline = build_baseline(held_out.assign(category=held_out["label"]), predicted, featurizer.transform(held_out),
                              seed=0, featurizer={"name": "tfidf", "sha256": digest})
    baseline.save(root / "baseline")
    shutil.copyfile(root / "features" / "featurizer.joblib", root / "baseline" / FEATURIZER_FILE)

    write_transform_batch(batch.drop(columns=["clean_text", "feature_text"]), root / "batch" / "messages.jsonl",
                          dated=True)
    scored = pd.DataFrame({"id": batch["id"], "category": model.predict(batch["feature_text"]),
                           "confidence": 0.7, "novel": np.arange(len(batch)) % 10 == 0,
                           "model_version": metadata["model_version"], "category_map_version": 3,
                           "error": None}).astype(object)
    (root / "predictions").mkdir()
    (root / "predictions" / "messages.jsonl.out").write_text(output_fn(scored)[0], encoding="utf-8")
    (root / "novelty").mkdir()
    queue = batch.iloc[[1, 2]][["id", "text"]]  # queued by the Monitor step although the predictions say not novel
    (root / "novelty" / "novel.jsonl").write_text(queue.to_json(orient="records", lines=True), encoding="utf-8")
    return {"root": root, "map": category_map, "batch": batch, "featurizer_sha256": digest,
            "model_sha256": metadata["model_sha256"], "labels": labels}


def accumulate(package, output, batch="exec-1"):
    root = package["root"]
    return accumulate_job(root / "batch", root / "predictions", root / "novelty", output, batch=batch,
                          scored_on=SCORED)


@pytest.fixture
def fake_propose(monkeypatch):
    """Stands in for processing.evolution.proposal.propose (the matching core, specified in its own tests): records
    what the job hands it and answers a proposal-shaped document and one fine cluster per message."""
    calls = []

    def propose(window, vectors, assigned, base_map, reference_vectors, reference_categories, **kwargs):
        calls.append({"window": window, "vectors": vectors, "assigned": assigned, "base_map": base_map,
                      "reference_vectors": reference_vectors, "reference_categories": reference_categories, **kwargs})
        fine = np.arange(len(window)) % 5
        return {"schema": "tweetops.evolution.proposal/1", "proposal_id": "prop-00112233aabbccdd",
                "base_map": {"version": base_map.version, "hash": base_map.content_hash},
                "clustering_run": "run-feedfacefeedface", "n_fine_clusters": 5, "clusters": [], "categories": [],
                "changes": [{"change": "new:0", "kind": "new", "cluster": 0}], "window": kwargs["window_info"]}, fine

    module = types.ModuleType("processing.evolution.proposal")
    module.propose = propose
    monkeypatch.setitem(sys.modules, "processing.evolution.proposal", module)
    monkeypatch.setattr("reports.review.write_review_report",
                        lambda doc, path: path.write_text(f"page of {doc['proposal_id']}", encoding="utf-8"))
    return calls


def evolve(package, new_data, output, **kwargs):
    root = package["root"]
    settings = {"window_days": 28, "model_sha256": package["model_sha256"],
                "featurizer_sha256": package["featurizer_sha256"], "min_messages": 100, **kwargs}
    return evolve_job(new_data, root / "baseline", root / "model", root / "map", output, **settings)


# ------------------------------------------------------------------------------------------------- accumulate
def test_accumulate_job_files_every_scored_message_under_its_date(package, tmp_path):
    summary = accumulate(package, tmp_path / "zone")
    batch = package["batch"]
    expected_dates = pd.to_datetime(batch["created_at"], utc=True).dt.strftime("%Y-%m-%d").value_counts()
    assert summary["messages"] == summary["added"] == len(batch) and summary["not_added"] == 0
    assert summary["dates"] == {day: int(count) for day, count in sorted(expected_dates.items())}
    assert sorted(path.relative_to(tmp_path / "zone").as_posix() for path in (tmp_path / "zone").rglob("*.parquet")) \
        == [f"date={day}/exec-1.parquet" for day in sorted(expected_dates.index)]
    window, info = read_window(tmp_path / "zone", 365)
    assert sorted(window["id"]) == sorted(batch["id"]) and info["messages"] == len(batch)
    assert window.set_index("id").loc[batch["id"], "text"].tolist() == batch["text"].tolist()


def test_accumulate_job_marks_the_novelty_queue_and_the_predictions_novel_flags(package, tmp_path):
    summary = accumulate(package, tmp_path / "zone")
    window, _ = read_window(tmp_path / "zone", 365)
    batch = package["batch"].reset_index(drop=True)
    flagged = set(batch["id"].iloc[::10]) | set(batch["id"].iloc[[1, 2]])
    assert set(window.loc[window["novel"], "id"]) == flagged and summary["novel"] == len(flagged)


def test_accumulate_job_records_the_model_and_category_map_versions(package, tmp_path):
    accumulate(package, tmp_path / "zone")
    window, _ = read_window(tmp_path / "zone", 365)
    assert set(window["category_map_version"]) == {3} and window["model_version"].nunique() == 1
    assert set(window["category"]) <= set(package["labels"]) and set(window["batch"]) == {"exec-1"}


def test_a_second_batch_adds_files_beside_the_first(package, tmp_path):
    accumulate(package, tmp_path / "zone", batch="exec-1")
    accumulate(package, tmp_path / "zone", batch="exec-2")
    names = {path.name for path in (tmp_path / "zone").rglob("*.parquet")}
    assert names == {"exec-1.parquet", "exec-2.parquet"}
    assert read_window(tmp_path / "zone", 365)[1]["duplicates"] == len(package["batch"])


# ------------------------------------------------------------------------------------------------------ evolve
@pytest.fixture
def zone(package, tmp_path):
    accumulate(package, tmp_path / "zone")
    return tmp_path / "zone"


def test_evolve_job_hands_the_core_the_window_in_the_packages_feature_space(package, zone, tmp_path, fake_propose):
    summary = evolve(package, zone, tmp_path / "out", seed=4, n_groups=6, model_info={"package": "arn:x"})
    call = fake_propose[0]
    window = call["window"]
    assert len(window) == len(package["batch"]) == len(call["vectors"]) == len(call["assigned"])
    assert {"id", "text", "lang", "clean_text", "feature_text", "created_at", "date", "novel"} <= set(window.columns)
    assert call["vectors"].shape[1] == 30  # the baseline featurizer's dimensions (LSA components)
    assert set(call["assigned"]) <= set(package["labels"])
    assert len(call["reference_vectors"]) == len(call["reference_categories"]) > 0
    assert set(call["reference_categories"]) <= set(package["labels"])
    assert call["base_map"] == package["map"]
    assert (call["seed"], call["n_groups"]) == (4, 6)
    assert call["clustering_params"]["plain_components"] == 100  # the featurizer's own clustering settings
    assert call["model"]["package"] == "arn:x" and call["model"]["model_sha256"] == package["model_sha256"]
    assert call["model"]["featurizer_sha256"] == package["featurizer_sha256"]
    assert call["window_info"]["messages"] == len(window)
    assert summary["proposal_id"] == "prop-00112233aabbccdd" and summary["changes"] == ["new:0"]


def test_evolve_job_writes_the_proposal_the_page_the_assignments_and_the_retraining_input(
        package, zone, tmp_path, fake_propose):
    out = tmp_path / "out"
    evolve(package, zone, out)
    proposal = json.loads((out / "proposal.json").read_text())
    window = fake_propose[0]["window"]
    assert proposal["proposal_id"] == "prop-00112233aabbccdd"
    assert (out / "report.html").read_text() == "page of prop-00112233aabbccdd"
    assignments = pd.read_csv(out / "clusters" / "assignments.csv", dtype={"id": str})
    assert assignments["id"].tolist() == window["id"].tolist()
    assert assignments["cluster"].tolist() == (np.arange(len(window)) % 5).tolist()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "clusters" / "assignments.parquet"), assignments,
                                  check_dtype=False)
    assert json.loads((out / "clusters" / "clusters.json").read_text()) == {
        "clustering_run": "run-feedfacefeedface", "n_clusters": 5}
    raw = pd.read_json(out / "retrain" / "messages.jsonl", lines=True, dtype=False)
    assert list(raw.columns) == ["id", "text", "lang", "created_at"]
    assert raw["id"].tolist() == window["id"].tolist() and raw["text"].tolist() == window["text"].tolist()
    assert json.loads((out / "window.json").read_text()) == fake_propose[0]["window_info"]


def test_evolve_job_outputs_are_byte_identical_on_a_second_run(package, zone, tmp_path, fake_propose):
    evolve(package, zone, tmp_path / "a")
    evolve(package, zone, tmp_path / "b")
    for name in ("proposal.json", "clusters/assignments.csv", "clusters/assignments.parquet", "retrain/messages.jsonl", "window.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_window_with_too_few_messages_is_refused_before_anything_is_loaded(package, zone, tmp_path, fake_propose):
    with pytest.raises(ValueError, match=r"holds 300 messages; evolve needs at least 500 \(widen the window"):
        evolve(package, zone, tmp_path / "out", min_messages=500)
    assert not fake_propose and not (tmp_path / "out").exists()


@pytest.mark.parametrize("digest", ["model_sha256", "featurizer_sha256"])
def test_a_missing_or_wrong_digest_refuses_the_pickles(package, zone, tmp_path, fake_propose, digest):
    with pytest.raises(ArtifactIntegrityError, match=f"no {digest.split('_')[0]} digest given"):
        evolve(package, zone, tmp_path / "out", **{digest: ""})
    with pytest.raises(ArtifactIntegrityError):
        evolve(package, zone, tmp_path / "out", **{digest: "0" * 64})
    assert not fake_propose


def test_a_category_map_other_than_the_models_is_refused(package, zone, tmp_path, fake_propose):
    root = package["root"]
    other = CategoryMap(version=4, clustering_run="run-0123456789abcdef", entries=package["map"].entries[::-1])
    save_category_map(other, tmp_path / "other.yaml")
    with pytest.raises(ValueError, match="the model was trained with category map version 3 .* not the given map "
                                         "version 4"):
        evolve_job(zone, root / "baseline", root / "model", tmp_path / "other.yaml", tmp_path / "out", window_days=28,
                   model_sha256=package["model_sha256"], featurizer_sha256=package["featurizer_sha256"],
                   min_messages=100)


# ---------------------------------------------------------------------------------------------------- commands
def test_the_accumulate_command_writes_the_zone_and_says_how_many_were_added(package, tmp_path):
    root = package["root"]
    result = CliRunner().invoke(main, ["accumulate", "--batch", str(root / "batch"), "--predictions",
                                       str(root / "predictions"), "--novelty", str(root / "novelty"), "--output",
                                       str(tmp_path / "zone"), "--batch-name", "exec-9", "--scored-on", SCORED])
    assert result.exit_code == 0, result.output
    assert f"added {len(package['batch'])} of {len(package['batch'])} messages" in result.output
    assert len(read_window(tmp_path / "zone", 365)[0]) == len(package["batch"])


def test_the_accumulate_command_takes_the_date_part_of_an_execution_start_time(package, tmp_path):
    root = package["root"]
    messages = package["batch"].drop(columns=["clean_text", "feature_text"]).assign(created_at=None)
    write_transform_batch(messages, tmp_path / "batch" / "messages.jsonl", dated=True)
    result = CliRunner().invoke(main, ["accumulate", "--batch", str(tmp_path / "batch"), "--predictions",
                                       str(root / "predictions"), "--novelty", str(tmp_path / "no-queue"),
                                       "--output", str(tmp_path / "zone"), "--batch-name", "exec-9",
                                       "--scored-on", "2024-05-06T23:59:59.123Z"])
    assert result.exit_code == 0, result.output
    assert [path.parent.name for path in (tmp_path / "zone").rglob("*.parquet")] == ["date=2024-05-06"]


def test_the_evolve_command_fails_in_one_line_on_an_empty_zone(package, tmp_path):
    root = package["root"]
    (tmp_path / "zone").mkdir()
    result = CliRunner().invoke(main, ["evolve", "--new-data", str(tmp_path / "zone"), "--baseline",
                                       str(root / "baseline"), "--model", str(root / "model"), "--category-map",
                                       str(root / "map"), "--output", str(tmp_path / "out"),
                                       "--model-sha256", package["model_sha256"],
                                       "--featurizer-sha256", package["featurizer_sha256"]])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'zone'}: the new-data zone has no date=YYYY-MM-DD partitions (run predict first)"]


def test_the_evolve_command_runs_the_job_with_its_container_contract_arguments(package, zone, tmp_path, fake_propose):
    root = package["root"]
    result = CliRunner().invoke(main, ["evolve", "--new-data", str(zone), "--baseline", str(root / "baseline"),
                                       "--model", str(root / "model"), "--category-map", str(root / "map"),
                                       "--output", str(tmp_path / "out"), "--window-days", "365", "--as-of", "",
                                       "--seed", "2", "--categories", "0", "--min-messages", "100",
                                       "--model-sha256", package["model_sha256"],
                                       "--featurizer-sha256", package["featurizer_sha256"]])
    assert result.exit_code == 0, result.output
    assert (fake_propose[0]["n_groups"], fake_propose[0]["seed"]) == ("auto", 2)
    assert "proposal prop-00112233aabbccdd" in result.output and (tmp_path / "out" / "proposal.json").is_file()


def test_evolve_job_with_the_real_core_writes_a_proposal_on_the_window_and_its_review_page(package, zone, tmp_path):
    summary = evolve(package, zone, tmp_path / "out", seed=0)
    proposal = json.loads((tmp_path / "out" / "proposal.json").read_text())
    assert proposal["schema"] == "tweetops.evolution.proposal/1" and proposal["proposal_id"] == summary["proposal_id"]
    assert proposal["base_map"]["hash"] == package["map"].content_hash
    assignments = pd.read_parquet(tmp_path / "out" / "clusters" / "assignments.parquet")
    assert len(assignments) == len(package["batch"]) and assignments["cluster"].nunique() == proposal["n_fine_clusters"]
    assert proposal["clustering_run"] == json.loads((tmp_path / "out" / "clusters" / "clusters.json").read_text())[
        "clustering_run"]
    assert "<html" in (tmp_path / "out" / "report.html").read_text().lower()
