"""Local model registry on SQLite with the SageMaker Model Registry's semantics.

The local pipeline executor registers models here (its RegisterModel step) and `tweetops registry` reads and
approves them. Requests and responses mirror boto3's CreateModelPackage, DescribeModelPackage,
ListModelPackages, ListModelPackageGroups and UpdateModelPackage shapes, so one interface can wrap both backends.
As in boto3, keys that were never given (a description, metrics, metadata) are absent from responses.

One SQLite file is the whole registry; several processes may share it (a pipeline run registering while the CLI
approves): versions are allocated inside one `BEGIN IMMEDIATE` transaction, so they never repeat.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "local"
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
SORT_ORDERS = ("Ascending", "Descending")

# botocore's EntityName pattern, which SageMaker applies to ModelPackageGroupName.
_GROUP_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# Request keys kept in their own columns; every other request key goes verbatim into `extra`.
_COLUMN_KEYS = (
    "ModelPackageGroupName",
    "ModelPackageDescription",
    "ModelApprovalStatus",
    "ModelMetrics",
    "CustomerMetadataProperties",
    "InferenceSpecification",
)
# Names are case-insensitive in SageMaker ("Foo" and "foo" are one group, and ARNs are lower-cased),
# hence COLLATE NOCASE on names and ARNs.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_package_group (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    arn TEXT NOT NULL UNIQUE COLLATE NOCASE,
    creation_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_package (
    group_name TEXT NOT NULL COLLATE NOCASE REFERENCES model_package_group (name),
    version INTEGER NOT NULL,
    arn TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT,
    approval_status TEXT NOT NULL,
    approval_description TEXT,
    creation_time TEXT NOT NULL,
    last_modified_time TEXT NOT NULL,
    model_metrics TEXT,
    customer_metadata TEXT,
    inference_specification TEXT,
    extra TEXT NOT NULL,
    PRIMARY KEY (group_name, version)
);
"""


class RegistryError(ValueError):
    """A request the registry refuses (unknown package, bad status): one clear line."""


def _utc_now() -> datetime:
    """The current time, timezone-aware in UTC (the default clock)."""
    return datetime.now(timezone.utc)


def _arn(resource: str) -> str:
    """A SageMaker ARN in the local account and region."""
    return f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{resource}"


def _dumps(value) -> str | None:
    """JSON text with sorted keys (stable bytes for equal values), or None for an absent value."""
    return None if value is None else json.dumps(value, sort_keys=True)


def check_listing(approval_status: str | None, sort_order: str) -> None:
    """RegistryError for an approval-status filter or sort order that ListModelPackages would refuse."""
    if approval_status is not None:
        _check_status(approval_status)
    if sort_order not in SORT_ORDERS:
        raise RegistryError(f"invalid sort order {sort_order!r}; valid: {', '.join(SORT_ORDERS)}")


def _check_status(status: str) -> None:
    """Refuse an approval status SageMaker would refuse."""
    if status not in APPROVAL_STATUSES:
        raise RegistryError(f"invalid approval status {status!r}; valid: {', '.join(APPROVAL_STATUSES)}")


class LocalModelRegistry:
    """SQLite model registry with the SageMaker Model Registry's semantics: groups, versions, approval, metadata."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = _utc_now):
        """Open the registry at `path`, creating its folder and schema if missing; `clock` gives aware times."""
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect(write=True) as conn:
            # executescript would COMMIT the open transaction first; run statements one by one inside it.
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection closed on exit; with `write`, one IMMEDIATE transaction committed or rolled back."""
        # isolation_level=None: we issue BEGIN ourselves; timeout: wait for another process's write lock.
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            if not write:
                yield conn
                return
            # IMMEDIATE takes the write lock up front, so reading max(version) and inserting cannot interleave.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _now(self) -> str:
        """The clock's time as ISO 8601 text in UTC (a naive time is taken as UTC)."""
        now = self.clock()
        now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
        return now.isoformat()

    def create_model_package(self, request: dict) -> dict:
        """Register a new version in the request's group (created if missing); returns {"ModelPackageArn": arn}."""
        group = request.get("ModelPackageGroupName")
        if not isinstance(group, str) or not _GROUP_NAME_RE.fullmatch(group):
            raise RegistryError(
                f"invalid ModelPackageGroupName {group!r}: 1-63 letters, digits and hyphens, "
                "starting and ending with a letter or digit"
            )
        status = request.get("ModelApprovalStatus", "PendingManualApproval")
        _check_status(status)
        metadata = request.get("CustomerMetadataProperties")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for kv in metadata.items() for v in kv)
        ):
            raise RegistryError(f"CustomerMetadataProperties must map strings to strings, got {metadata!r}")
        extra = {key: value for key, value in request.items() if key not in _COLUMN_KEYS}
        try:
            columns = [_dumps(request.get(key)) for key in ("ModelMetrics", "InferenceSpecification")]
            columns += [_dumps(metadata), _dumps(extra)]
        except (TypeError, ValueError) as error:
            raise RegistryError(f"model package request for {group!r} is not JSON-serializable: {error}") from None

        now = self._now()
        with self._connect(write=True) as conn:
            row = conn.execute("SELECT name FROM model_package_group WHERE name = ?", (group,)).fetchone()
            if row is None:
                group_arn = _arn(f"model-package-group/{group.lower()}")
                conn.execute("INSERT INTO model_package_group VALUES (?, ?, ?)", (group, group_arn, now))
            else:
                group = row["name"]  # the spelling the group was created with
            (version,) = conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM model_package WHERE group_name = ?", (group,)
            ).fetchone()
            arn = _arn(f"model-package/{group.lower()}/{version}")
            conn.execute(
                "INSERT INTO model_package (group_name, version, arn, description, approval_status, creation_time,"
                " last_modified_time, model_metrics, inference_specification, customer_metadata, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (group, version, arn, request.get("ModelPackageDescription"), status, now, now, *columns),
            )
        return {"ModelPackageArn": arn}

    def _package_row(self, conn: sqlite3.Connection, arn: str) -> sqlite3.Row:
        """The model package row for `arn`, or RegistryError naming it."""
        row = conn.execute("SELECT * FROM model_package WHERE arn = ?", (arn,)).fetchone()
        if row is None:
            raise RegistryError(f"no model package {arn!r} in {self.path}")
        return row

    def describe_model_package(self, arn: str) -> dict:
        """The DescribeModelPackage response for `arn`."""
        with self._connect() as conn:
            row = self._package_row(conn, arn)
        return self._describe(row)

    def _describe(self, row: sqlite3.Row) -> dict:
        """DescribeModelPackage shape of one row: the request's other keys, then the registry's own fields."""
        response = json.loads(row["extra"])
        response.update(self._summary(row))
        # A versioned package has no name of its own; SageMaker reports the group's name.
        response["ModelPackageName"] = row["group_name"]
        response["ModelPackageStatusDetails"] = {"ValidationStatuses": []}
        response["LastModifiedTime"] = datetime.fromisoformat(row["last_modified_time"])
        optional = {
            "ApprovalDescription": row["approval_description"],
            "ModelMetrics": json.loads(row["model_metrics"] or "null"),
            "CustomerMetadataProperties": json.loads(row["customer_metadata"] or "null"),
            "InferenceSpecification": json.loads(row["inference_specification"] or "null"),
        }
        response.update({key: value for key, value in optional.items() if value is not None})
        return response

    @staticmethod
    def _summary(row: sqlite3.Row) -> dict:
        """ModelPackageSummary shape of one row (the description only when one was given)."""
        summary = {
            "ModelPackageGroupName": row["group_name"],
            "ModelPackageVersion": row["version"],
            "ModelPackageArn": row["arn"],
            "ModelPackageDescription": row["description"],
            "CreationTime": datetime.fromisoformat(row["creation_time"]),
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": row["approval_status"],
        }
        if summary["ModelPackageDescription"] is None:
            del summary["ModelPackageDescription"]
        return summary

    def list_model_package_groups(self) -> list[dict]:
        """ModelPackageGroupSummary of every group, by name."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM model_package_group ORDER BY name").fetchall()
        return [
            {
                "ModelPackageGroupName": row["name"],
                "ModelPackageGroupArn": row["arn"],
                "CreationTime": datetime.fromisoformat(row["creation_time"]),
                "ModelPackageGroupStatus": "Completed",
            }
            for row in rows
        ]

    def list_model_packages(
        self, group: str, approval_status: str | None = None, sort_order: str = "Descending"
    ) -> list[dict]:
        """ModelPackageSummary of the group's versions, optionally of one approval status, ordered by version."""
        check_listing(approval_status, sort_order)
        with self._connect() as conn:
            known = [row["name"] for row in conn.execute("SELECT name FROM model_package_group ORDER BY name")]
            if group.lower() not in {name.lower() for name in known}:
                raise RegistryError(f"no model package group {group!r}; known: {', '.join(known) or '(none)'}")
            direction = "ASC" if sort_order == "Ascending" else "DESC"  # from a closed set, safe to format in
            rows = conn.execute(
                f"SELECT * FROM model_package WHERE group_name = ? AND approval_status = coalesce(?, approval_status)"
                f" ORDER BY version {direction}",
                (group, approval_status),
            ).fetchall()
        return [self._summary(row) for row in rows]

    def update_model_package(self, arn: str, approval_status: str, approval_description: str | None = None) -> dict:
        """Set the approval status (and description, kept as is when None); returns {"ModelPackageArn": arn}."""
        _check_status(approval_status)
        now = self._now()
        with self._connect(write=True) as conn:
            row = self._package_row(conn, arn)
            conn.execute(
                "UPDATE model_package SET approval_status = ?,"
                " approval_description = coalesce(?, approval_description), last_modified_time = ? WHERE arn = ?",
                (approval_status, approval_description, now, arn),
            )
        return {"ModelPackageArn": row["arn"]}

    def latest_approved(self, group: str) -> dict | None:
        """The DescribeModelPackage response of the group's highest Approved version, or None if none is."""
        approved = self.list_model_packages(group, approval_status="Approved", sort_order="Descending")
        return self.describe_model_package(approved[0]["ModelPackageArn"]) if approved else None
