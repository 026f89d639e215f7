"""File-system edges shared by every step: atomic writes and stable content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, on error remove it.

    Readers never see a half-written artifact: the rename is atomic within one file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_parquet(frame, path: str | Path) -> Path:
    """Write a pandas frame to Parquet atomically, without its index."""
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def write_json_atomic(path: str | Path, data) -> Path:
    """Write JSON atomically, with sorted keys and a trailing newline so equal data gives equal bytes."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False,
                                              default=str) + "\n")


def cache_root(folder: str | Path | None = None) -> Path:
    """Where tweetops keeps what it can recompute: `folder` when given, else $TWEETOPS_CACHE_DIR, else
    $XDG_CACHE_HOME/tweetops, else ~/.cache/tweetops."""
    if folder:
        return Path(folder)
    if os.environ.get("TWEETOPS_CACHE_DIR"):
        return Path(os.environ["TWEETOPS_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tweetops"


def keep_numba_kernels(kernels) -> None:
    """Let numba keep these compiled kernels (numba dispatchers) on disk, in cache_root()/numba unless
    NUMBA_CACHE_DIR says otherwise: compiling costs seconds in every fresh process, loading a fraction of one."""
    import numba
    from numba.core.caching import NullCache

    user_dir = numba.config.CACHE_DIR
    # The folder is read when a kernel's cache is created, so setting it only around that spares other libraries.
    numba.config.CACHE_DIR = user_dir or str(cache_root() / "numba")
    try:
        for kernel in kernels:
            if isinstance(kernel._cache, NullCache):
                kernel.enable_caching()
    finally:
        numba.config.CACHE_DIR = user_dir


def key_problem(key: str) -> str | None:
    """Why an S3 key (or its part below a prefix) cannot name a path inside a folder, or None when it can.

    Keys are untrusted: a key that is absolute or holds '.', '..', empty parts (//), a backslash (a separator on
    Windows) or NUL could lead outside the folder it is written to. A trailing / names a prefix and is allowed."""
    if "\0" in key or "\\" in key:
        return "NUL characters and backslashes are not allowed in keys"
    if key.startswith("/"):
        return "the key looks absolute (it starts with /)"
    parts = key.split("/")
    if "" in parts[:-1]:
        return "empty parts (//) are not allowed in keys"
    if any(part in ("..", ".") for part in parts):
        return "'.' and '..' are not allowed in keys"
    return None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
