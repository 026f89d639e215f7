"""Shared fixtures: cleaned demo messages (our own generator), and the real labelled datasets beside the
repository (skipped cleanly when absent)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import SHARED_DATA
from processing.clean import TextCleaner
from processing.demo_data import generate_messages
from processing.validate import validate


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of ../shared/data; tests that need it skip when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_messages() -> pd.DataFrame:
    """1,200 validated and cleaned demo messages (8 categories, es/en) with their hidden gold `label`."""
    raw = generate_messages(1200, seed=7, malformed_share=0.0)
    accepted = validate(raw).accepted
    return TextCleaner().transform(accepted).reset_index(drop=True)


@pytest.fixture(scope="session")
def trained_model_dir(demo_messages, tmp_path_factory) -> Path:
    """A model directory trained on the demo messages' gold labels (what `tweetops train` writes)."""
    from processing.jobs import write_parquet
    from training.train import run_training

    root = tmp_path_factory.mktemp("trained")
    write_parquet(demo_messages.assign(category=demo_messages["label"]), root / "train" / "messages.parquet")
    (root / "train" / "provenance.json").write_text(json.dumps({"category_map": {"version": 2, "hash": "h"}}))
    run_training(root / "train", root / "model")
    return root / "model"
