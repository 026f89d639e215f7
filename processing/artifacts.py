"""Pickled artifacts (classifier, featurizer, clusterer): saved with their sha256, loaded only when it matches.

A joblib file is a pickle, and unpickling runs whatever code the file names. So no artifact is deserialised
on trust: `load_artifact` reads the bytes once, compares their sha256 with a digest from a trusted record
(the model package in the registry, the serving model's environment, the provenance written when it was
made), and only then unpickles those same bytes. A missing or different digest is an ArtifactIntegrityError
raised before any byte is unpickled. Why digests and not a format that cannot run code (skops), and where
each digest comes from: docs/security.md.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import re
import tarfile
import zlib
from pathlib import Path

import joblib

from processing.sanitize import one_line
from processing.storage import atomic_output, sha256_file

# The serving model's environment carries the digest of the classifier it may load (set at registration).
MODEL_DIGEST_VARIABLE = "TWEETOPS_MODEL_SHA256"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A model archive holds a few files of a few hundred MB at most; more is a corrupt or hostile archive.
MAX_ARCHIVE_MEMBERS = 10_000
MAX_ARCHIVE_BYTES = 8 << 30


class ArtifactIntegrityError(ValueError):
    """An artifact was not loaded: no trusted digest for it, its bytes do not match, or it is not what was asked."""


def save_artifact(artifact: object, path: str | Path) -> str:
    """Write `artifact` with joblib, atomically; return the sha256 of the bytes written."""
    with atomic_output(path) as temporary:
        joblib.dump(artifact, temporary)
    return sha256_file(path)


def load_artifact(path: str | Path, sha256: str | None, expected_type: type | tuple[type, ...] = object) -> object:
    """Unpickle `path` only if its bytes have the trusted `sha256`, and check the result is an `expected_type`."""
    path = Path(path)
    expected = normalized_digest(sha256, path.name)
    data = path.read_bytes()  # hashed and unpickled from memory: the file cannot change in between
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, expected):
        raise ArtifactIntegrityError(
            f"{path.name}: refusing to load it: its sha256 is {actual[:16]}..., the trusted record says "
            f"{expected[:16]}... (the file was changed after it was made)")
    artifact = joblib.load(io.BytesIO(data))
    if not isinstance(artifact, expected_type):
        raise ArtifactIntegrityError(f"{path.name}: holds a {type(artifact).__name__}, not a {_names(expected_type)}")
    return artifact


def normalized_digest(sha256: str | None, name: str) -> str:
    """A sha256 hex digest in lower case; ArtifactIntegrityError when there is none or it is malformed."""
    if not sha256:
        raise ArtifactIntegrityError(f"{name}: refusing to load it: no trusted sha256 to verify it against "
                                     "(a pickle runs code when loaded; docs/security.md)")
    digest = str(sha256).strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ArtifactIntegrityError(f"{name}: refusing to load it: the trusted record's sha256 {digest[:70]!r} "
                                     "is not 64 hex digits")
    return digest


def _names(types: type | tuple[type, ...]) -> str:
    return " or ".join(kind.__name__ for kind in (types if isinstance(types, tuple) else (types,)))


def extract_model_archive(archive: str | Path, destination: str | Path) -> Path:
    """Unpack a model.tar.gz into `destination`: regular files and folders only, nothing outside it, bounded
    in count and size; ArtifactIntegrityError with one line for a truncated, corrupt or hostile archive."""
    archive, destination = Path(archive), Path(destination)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()  # reads the whole archive: a truncated one fails here, before writing
            _check_members(members, archive.name)
            tar.extractall(destination, filter="data")  # "data": no links out, no devices, no absolute paths
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        # tarfile's messages can span lines: the reason is one line
        raise ArtifactIntegrityError(f"{archive.name}: not a readable model archive (truncated or corrupt: "
                                     f"{one_line(error)})") from None
    return destination


def _check_members(members: list[tarfile.TarInfo], name: str) -> None:
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ArtifactIntegrityError(f"{name}: {len(members)} entries; a model archive holds at most "
                                     f"{MAX_ARCHIVE_MEMBERS}")
    if sum(member.size for member in members) > MAX_ARCHIVE_BYTES:
        raise ArtifactIntegrityError(f"{name}: unpacks to more than {MAX_ARCHIVE_BYTES >> 30} GiB")
    odd = [member.name for member in members if not (member.isfile() or member.isdir())]
    if odd:
        raise ArtifactIntegrityError(f"{name}: holds links or special files ({', '.join(odd[:3])[:120]}); "
                                     "a model archive holds only files and folders")
