"""Specification of the training edge: seeded held-out split, model.joblib + metadata.json with provenance,
and the training job's inputs and errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from processing.jobs import write_parquet
from training.train import (SERVING_PROGRAM, load_model, read_parquet_dir, read_provenance, run_training, split_holdout,
                            train_model)


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
    model, saved = load_model(tmp_path / "model")
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
        load_model(tmp_path)
    assert read_provenance(tmp_path) == {}


def test_sharded_inputs_are_read_in_name_order(tmp_path):
    write_parquet(pd.DataFrame({"id": ["2"]}), tmp_path / "part-1.parquet")
    write_parquet(pd.DataFrame({"id": ["1"]}), tmp_path / "part-0.parquet")
    assert read_parquet_dir(tmp_path)["id"].tolist() == ["1", "2"]


def test_the_model_directory_carries_the_serving_entry_point(pseudo_labeled, tmp_path):
    run_training(pseudo_labeled, tmp_path / "model")
    code = tmp_path / "model" / "code"
    # What the serving stack does: code/ first on sys.path, then import SAGEMAKER_PROGRAM by module name.
    probe = (f"import sys; sys.path.insert(0, {str(code)!r}); import importlib; "
             f"m = importlib.import_module({Path(SERVING_PROGRAM).stem!r}); "
             "print(all(hasattr(m, f) for f in ('model_fn', 'input_fn', 'predict_fn', 'output_fn')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "True", result.stderr
