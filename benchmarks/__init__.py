"""Benchmarks: scripts that print measured figures (`python -m benchmarks.<name> --help`)."""
import sys
from pathlib import Path

import pandas as pd

# ../shared/data beside the checkout: real labelled datasets written by others (never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_missing() -> bool:
    """True (after saying the benchmark is skipped) when ../shared/data is not beside the checkout."""
    if SHARED_DATA.is_dir():
        return False
    print(f"benchmark skipped: {SHARED_DATA} is not present", file=sys.stderr)
    return True


def read_dataset(csv_name: str) -> pd.DataFrame:
    """A labelled CSV under ../shared/data, every column as text (empty cells stay empty strings)."""
    return pd.read_csv(SHARED_DATA / csv_name, dtype=str, keep_default_na=False)
