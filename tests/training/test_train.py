"""Specification of the training edge: seeded held-out split, model.joblib + metadata.json with provenance,
and the training job's inputs and errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from inference import IMAGE_SERVING_DIR, SERVING_PROGRAM, installed_serving_dir
from pipelines.training_pipeline import SERVING_ENV
from processing.artifacts import ArtifactIntegrityError
from processing.jobs import write_parquet
from training.train import load_model, read_parquet_dir, read_provenance, run_training, split_holdout, train_model


@pytest.fixture
def pseudo_labeled(demo_messages, tmp_path):
    """A training channel as the cluster step writes it: messages.parquet and provenance.json."""
    channel = tmp_path / "train"
    write_parquet(demo_messages.assign(category=demo_messages["label"]), channel / "messages.parquet")
    (channel / "provenance.json").write_text(json.dumps({
        "category_map": {"version": 3, "hash": "sha256:abc", "reviewed": True},
        "input_data_hash": "f00d", "clustering_run": "run-1"}))
    return channel


def test_holdout_split_is_seeded_stratified_and_disjoint(demo_messages):
    frame = demo_messages.assign(category=demo_messages["label"])
    train, test = split_holdout(frame, test_size=0.25, seed=1)
    again, _ = split_holdout(frame, test_size=0.25, seed=1)
    assert len(train) + len(test) == len(frame) and not set(train["id"]) & set(test["id"])
    assert train["id"].tolist() == again["id"].tolist()
    share = test["category"].value_counts() / frame["category"].value_counts()
    assert share.between(0.2, 0.3).all()


def test_holdout_size_must_be_a_fraction(demo_messages):
    with pytest.raises(ValueError, match="test_size must be between 0 and 1"):
        split_holdout(demo_messages.assign(category="a"), test_size=1.5)


def test_rows_without_a_category_are_not_trained_on(demo_messages):
    frame = demo_messages.assign(category=demo_messages["label"].where(demo_messages["label"] != "billing"))
    assert "billing" not in train_model(frame).classes_
    with pytest.raises(ValueError, match="no training rows carry a category"):
        train_model(frame.assign(category=None))


def test_training_job_writes_the_model_and_its_provenance(pseudo_labeled, tmp_path):
    metadata = run_training(pseudo_labeled, tmp_path / "model", seed=4)
    model, saved = load_model(tmp_path / "model", metadata["model_sha256"])
    assert saved == json.loads(json.dumps(metadata))
    assert saved["classes"] == sorted(model.classes_) and len(saved["classes"]) == 8
    assert saved["category_map"] == {"version": 3, "hash": "sha256:abc", "reviewed": True}
    assert saved["input_data_hash"] == "f00d" and saved["seed"] == 4
    assert {"scikit-learn", "spacy"} <= set(saved["libraries"])
    assert saved["model_version"] == saved["model_sha256"][:12]


def test_two_training_runs_with_the_same_seed_write_identical_model_bytes(pseudo_labeled, tmp_path):
    first = run_training(pseudo_labeled, tmp_path / "a", seed=2)
    second = run_training(pseudo_labeled, tmp_path / "b", seed=2)
    assert (tmp_path / "a" / "model.joblib").read_bytes() == (tmp_path / "b" / "model.joblib").read_bytes()
    assert first["model_sha256"] == second["model_sha256"]


def test_training_data_without_the_needed_columns_is_refused(tmp_path):
    write_parquet(pd.DataFrame({"id": ["1"], "text": ["hola"]}), tmp_path / "train" / "part.parquet")
    with pytest.raises(ValueError, match="lacks columns \\['category', 'feature_text'\\]"):
        run_training(tmp_path / "train", tmp_path / "model")


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parquet files"):
        read_parquet_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model.joblib"):
        load_model(tmp_path, "0" * 64)
    assert read_provenance(tmp_path) == {}


def test_sharded_inputs_are_read_in_name_order(tmp_path):
    write_parquet(pd.DataFrame({"id": ["2"]}), tmp_path / "part-1.parquet")
    write_parquet(pd.DataFrame({"id": ["1"]}), tmp_path / "part-0.parquet")
    assert read_parquet_dir(tmp_path)["id"].tolist() == ["1", "2"]


def test_the_serving_program_comes_from_the_image_not_from_the_model_directory(pseudo_labeled, tmp_path):
    run_training(pseudo_labeled, tmp_path / "model")
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == ["metadata.json", "model.joblib"]
    assert SERVING_ENV == {"SAGEMAKER_PROGRAM": SERVING_PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": IMAGE_SERVING_DIR}
    # What the serving stack does with them: the program's folder first on sys.path, then import it by name.
    probe = (f"import sys; sys.path.insert(0, {str(installed_serving_dir())!r}); import importlib; "
             f"m = importlib.import_module({Path(SERVING_PROGRAM).stem!r}); "
             "print(all(hasattr(m, f) for f in ('model_fn', 'input_fn', 'predict_fn', 'output_fn')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "True", result.stderr


def test_the_image_copies_the_serving_program_where_the_serving_environment_names_it():
    dockerfile = (Path(__file__).resolve().parents[2] / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY inference/ inference/" in dockerfile and "WORKDIR /opt/tweetops" in dockerfile
    assert IMAGE_SERVING_DIR == "/opt/tweetops/inference/entry"
    assert (installed_serving_dir() / SERVING_PROGRAM).is_file()


# ---- a model is a pickle: it is unpickled only when its bytes have the digest a trusted record gives

PAYLOAD = "import os; open({marker!r}, 'w').write('ran')"


class _RunsCodeWhenUnpickled:
    """What an attacker puts in model.joblib: unpickling it calls exec() with the payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (PAYLOAD.format(marker=str(self.marker)),)


def test_a_tampered_model_is_refused_before_any_code_in_it_runs(pseudo_labeled, tmp_path):
    metadata = run_training(pseudo_labeled, tmp_path / "model")
    marker = tmp_path / "pwned"
    joblib.dump(_RunsCodeWhenUnpickled(marker), tmp_path / "model" / "model.joblib")
    with pytest.raises(ArtifactIntegrityError, match="model.joblib: refusing to load it: its sha256 is"):
        load_model(tmp_path / "model", metadata["model_sha256"])
    assert not marker.exists()
    # The same file, trusted blindly, would have run the payload: the test's attacker is real.
    joblib.load(tmp_path / "model" / "model.joblib")
    assert marker.read_text() == "ran"


def test_a_model_without_a_trusted_digest_is_not_loaded(pseudo_labeled, tmp_path):
    run_training(pseudo_labeled, tmp_path / "model")
    for digest in (None, "", "not-a-digest"):
        with pytest.raises(ArtifactIntegrityError, match="refusing to load it"):
            load_model(tmp_path / "model", digest)


def test_metadata_that_describes_another_model_is_refused(pseudo_labeled, tmp_path):
    metadata = run_training(pseudo_labeled, tmp_path / "model")
    (tmp_path / "model" / "metadata.json").write_text(json.dumps({**metadata, "model_sha256": "f" * 64}))
    with pytest.raises(ArtifactIntegrityError, match="describes another model"):
        load_model(tmp_path / "model", metadata["model_sha256"])


def test_above_max_rows_the_classifier_trains_on_a_seeded_sample_stratified_by_category(demo_messages):
    from training.train import training_rows

    frame = demo_messages.assign(category=demo_messages["label"])
    assert training_rows(frame, seed=1, max_rows=len(frame)).equals(frame)  # small inputs: every row
    sample = training_rows(frame, seed=1, max_rows=400)
    assert len(sample) == 400 and sample.index.is_monotonic_increasing
    assert training_rows(frame, seed=1, max_rows=400).equals(sample)
    assert not training_rows(frame, seed=2, max_rows=400).equals(sample)
    shares = sample["category"].value_counts(normalize=True) - frame["category"].value_counts(normalize=True)
    assert shares.abs().max() < 0.01


def test_the_metadata_counts_the_rows_trained_on_and_the_labelled_rows_offered(pseudo_labeled, tmp_path):
    metadata = run_training(pseudo_labeled, tmp_path / "model", seed=4)
    assert metadata["train_rows"] == metadata["labelled_rows"] == 1200
