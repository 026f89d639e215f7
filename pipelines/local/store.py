"""S3 as folders: `s3://bucket/key` is the file `<root>/bucket/key`; a key prefix is a folder.

Jobs read from and write to the store only through the executor, which publishes outputs atomically
(copy to a hidden sibling, then rename), so no reader ever sees a half-written prefix.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path

from processing.storage import key_problem, sha256_file

LOCAL_BUCKET = "tweetops-local"  # the bucket of a local run's s3:// URIs when the settings name none
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StoreError(ValueError):
    """A URI the local store cannot serve (not s3://, nothing under it)."""


class LocalStore:
    """A folder standing in for S3."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, uri: str) -> Path:
        """The local path of an s3:// URI (an object's file or a prefix's folder); StoreError for a bucket name
        S3 would refuse or a key that would leave its bucket's folder."""
        text = str(uri)
        if not text.startswith("s3://"):
            raise StoreError(f"{text!r} is not an s3://bucket/key URI")
        bucket, _, key = text[len("s3://"):].partition("/")
        if not BUCKET_NAME.match(bucket) or ".." in bucket:
            raise StoreError(f"{text!r}: {bucket!r} is not an S3 bucket name (3-63 characters of a-z 0-9 . -)")
        problem = key_problem(key)
        if problem:
            raise StoreError(f"{text!r}: {problem}")
        folder = self.root / bucket
        path = folder / key
        # Resolved, not only read: a link inside the store must not lead out of the bucket either.
        if not path.resolve().is_relative_to(folder.resolve()):
            raise StoreError(f"{text!r}: the key leads outside the bucket")
        return path

    def uri(self, path: str | Path) -> str:
        """The s3:// URI of a path inside the store."""
        relative = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        return f"s3://{relative}"

    def objects(self, uri: str) -> list[tuple[str, Path]]:
        """(relative key, file) of every object under a URI, sorted by key: the object itself, or a folder's files."""
        path = self.path(uri)
        if path.is_file():
            return [(path.name, path)]
        if path.is_dir():
            return sorted((file.relative_to(path).as_posix(), file) for file in path.rglob("*")
                          if file.is_file() and not _hidden(file.relative_to(path)))
        return []

    def download(self, uri: str, destination: str | Path, share: tuple[int, int] = (0, 1)) -> list[str]:
        """Copy the objects under `uri` into `destination` (share (i, n): every n-th object from the i-th,
        as ShardedByS3Key gives each instance its part); returns the keys copied."""
        objects = self.objects(uri)
        if not objects:
            raise StoreError(f"no objects under {uri} (local store {self.path(uri)})")
        index, count = share
        destination = Path(destination)
        copied = []
        for key, file in objects[index::count]:
            target = destination / key
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
            copied.append(key)
        destination.mkdir(parents=True, exist_ok=True)  # an instance may get no object of a small shard
        return copied

    def publish(self, sources: list[Path], uri: str, replace: bool = True) -> None:
        """Make the files of `sources` (folders, merged in order) the content of prefix `uri`, atomically; with
        `replace` False add them to what is there instead (each file atomically, as S3 stores each object)."""
        if not replace:
            for source in (Path(source) for source in sources if Path(source).is_dir()):
                for file in sorted(source.rglob("*")):
                    if file.is_file() and not _hidden(file.relative_to(source)):
                        self.put_file(file, f"{uri.rstrip('/')}/{file.relative_to(source).as_posix()}")
            return
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.upload-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir()
            for source in sources:
                if Path(source).is_dir():
                    shutil.copytree(source, staging, dirs_exist_ok=True)
            self._replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def put_file(self, source: str | Path, uri: str) -> None:
        """Store one file as the object `uri`, atomically."""
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.upload-{uuid.uuid4().hex[:8]}"
        shutil.copyfile(source, staging)
        os.replace(staging, target)

    def stage(self, source: str | Path, prefix_uri: str) -> str:
        """Copy a local file or folder under `<prefix_uri>/<content hash>/`; returns that prefix's URI.

        Content addressing makes the URI change exactly when the content does, so step caching is right.
        """
        source = Path(source)
        files = [(source.name, source)] if source.is_file() else sorted(
            (file.relative_to(source).as_posix(), file) for file in source.rglob("*")
            if file.is_file() and not _hidden(file.relative_to(source)))
        if not files:
            raise StoreError(f"{source}: no files to stage")
        uri = f"{prefix_uri.rstrip('/')}/{_digest(files)[:16]}"
        if not self.path(uri).is_dir():
            target = self.path(uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.parent / f".{target.name}.upload-{uuid.uuid4().hex[:8]}"
            for key, file in files:
                (staging / key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, staging / key)
            self._replace(staging, target)
        return uri + "/"

    def fingerprint(self, uri: str) -> str:
        """Hash of the keys and bytes under a URI ("" when nothing is there): a content-aware cache key part."""
        objects = self.objects(uri)
        return _digest(objects) if objects else ""

    @staticmethod
    def _replace(staging: Path, target: Path) -> None:
        """Rename `staging` to `target`, removing an older `target` (left by an interrupted earlier attempt)."""
        if target.exists():
            trash = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, trash)
            os.replace(staging, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, target)


def _hidden(relative: Path) -> bool:
    """Staging folders and temporary files (dot names) are not objects."""
    return any(part.startswith(".") for part in relative.parts)


def _digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for key, file in files:
        digest.update(key.encode() + b"\0" + sha256_file(file).encode() + b"\n")
    return digest.hexdigest()
