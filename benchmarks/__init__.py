"""Benchmarks: scripts that print measured figures (`python -m benchmarks.<name> --help`)."""
from pathlib import Path

# ../shared/data beside the checkout: real labelled datasets written by others (never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
