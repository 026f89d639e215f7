"""What an artifact was made from: code version and library versions, recorded in every artifact."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("pipelines", "processing", "training", "inference", "register")
LIBRARIES = ("tweetops", "scikit-learn", "numpy", "pandas", "scipy", "spacy", "umap-learn", "joblib")


@lru_cache(maxsize=1)
def code_version() -> str:
    """`<release>+<hash of the package sources>`: changes whenever any shipped .py or .json file does."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{_version('tweetops')}+{digest.hexdigest()[:12]}"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape model bytes and results."""
    return {name: _version(name) for name in LIBRARIES}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not-installed"
