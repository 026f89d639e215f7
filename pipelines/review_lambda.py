"""The review on AWS: an AWS Lambda function (handler `pipelines.review_lambda.handler`) between the evolution
pipeline, the analyst and the training pipeline. docs/evolution.md ("Review").

It handles two kinds of records:
* an SQS message from the evolution pipeline's CallbackStep (AwaitReview): {"token", "pipelineExecutionArn",
  "arguments": {"ProposalUri", "ProposalId", "BaseMapHash", ...}, "status"}; stored as callback.json beside the
  proposal, so the decision can answer that step later;
* an S3 ObjectCreated event for <proposal folder>/decisions.yaml (or .yml, .json), uploaded by the analyst: a bucket
  notification record, or the EventBridge "Object Created" event of the stack's rule (events.
  decisions_uploaded_pattern) made into one (s3_record). The same pure code as `tweetops review` applies it to
  proposal.json and the current map; map N+1 goes to
  s3://<bucket>/<prefix>/category-maps/v<N+1>/category_map.yaml and its rows of the category_maps table to
  <prefix>/category-map-versions/date=<day>/review-<proposal id>.parquet (Athena); the training pipeline starts with
  it (the window as input, the proposal's cluster assignments), and the waiting step gets
  SendPipelineExecutionStepSuccess with
  Decision, Reason, CategoryMapUri and TrainingExecutionArn. A refused or invalid decision gets
  SendPipelineExecutionStepFailure with the reason, and no map is written.
The outcome is recorded as review.json beside the proposal; a second decisions upload for a decided proposal is
ignored (SageMaker accepts one answer per callback token).

Environment: TRAINING_PIPELINE (name or ARN), CURRENT_MAP_URI or MODEL_PACKAGE_GROUP (the approved package's
category_map_uri is the current map), optional MAP_PREFIX (default: the part of the proposal's key before
evolution/<execution>/), optional KMS_KEY_ID (for what it writes to S3).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote_plus, urlparse

import boto3
from botocore.exceptions import ClientError

from pipelines.events import DECISION_FILES, OBJECT_CREATED
from processing.category_map import MAX_MAP_BYTES, CategoryMap, CategoryMapError, parse_category_map, save_category_map
from processing.evolution.review import (MAX_DECISIONS_BYTES, MAX_PROPOSAL_BYTES, ReviewError, apply_decisions,
                                         parse_decisions, parse_proposal, proposal_outcome)
from processing.map_versions import map_version_key, map_version_parquet, review_run
from processing.sanitize import one_line
from register.local import RegistryError

CALLBACK_FILE, OUTCOME_FILE, PROPOSAL_FILE = "callback.json", "review.json", "proposal.json"
MAX_FAILURE_REASON = 256  # SendPipelineExecutionStepFailure's FailureReason limit
EVOLUTION_FOLDER = re.compile(r"^(?:(?P<prefix>.*)/)?evolution/[^/]+$")


class Clients(NamedTuple):
    """The two AWS clients the function uses."""
    s3: Any
    sagemaker: Any


def handler(event: dict, context=None) -> dict:
    """Each record of the event handled in turn; returns what became of each (also logged)."""
    session = boto3.Session()
    aws = Clients(session.client("s3"), session.client("sagemaker"))  # made once: a client costs ~0.5 s to build
    results = []
    for record in event.get("Records") or ([s3_record(event)] if _object_created(event) else []):
        if record.get("eventSource") == "aws:sqs":
            results.append(store_callback(aws, record))
        elif record.get("eventSource") == "aws:s3" and str(record.get("eventName", "")).startswith("ObjectCreated"):
            results.append(decide(aws, record, os.environ))
        else:
            results.append({"status": "ignored", "reason": f"not an SQS message or S3 upload: "
                                                           f"{record.get('eventSource')!r}"})
        print(json.dumps(results[-1], sort_keys=True))  # the function's log (CloudWatch Logs)
    return {"results": results}


def s3_record(event: dict) -> dict:
    """An EventBridge "Object Created" event as the S3 notification record decide() reads (both URL-encode the key)."""
    detail = event.get("detail") or {}
    return {"eventSource": "aws:s3", "eventName": f"ObjectCreated:{detail.get('reason', 'PutObject')}",
            "eventTime": event.get("time"), "s3": {"bucket": {"name": (detail.get("bucket") or {}).get("name")},
                                                   "object": {"key": (detail.get("object") or {}).get("key", "")}}}


def _object_created(event: dict) -> bool:
    return event.get("source") == "aws.s3" and event.get("detail-type") == OBJECT_CREATED


def store_callback(aws: Clients, record: dict) -> dict:
    """The CallbackStep's message kept as callback.json in the proposal's folder."""
    message = json.loads(record["body"])
    token, arguments = message["token"], message.get("arguments") or {}
    bucket, key = _split(arguments["ProposalUri"])
    folder = key.rsplit("/", 1)[0] if key.endswith(".json") else key.rstrip("/")
    document = {"token": token, "pipelineExecutionArn": message.get("pipelineExecutionArn"), "arguments": arguments}
    _put(aws.s3, bucket, f"{folder}/{CALLBACK_FILE}", json.dumps(document, indent=2, sort_keys=True))
    return {"status": "waiting", "proposal": arguments.get("ProposalId"), "callback": f"s3://{bucket}/{folder}/"
                                                                                      f"{CALLBACK_FILE}"}


def decide(aws: Clients, record: dict, environ) -> dict:
    """An uploaded decisions file applied and answered (see the module's docstring)."""
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    folder, _, name = key.rpartition("/")
    if name not in DECISION_FILES:
        return {"status": "ignored", "reason": f"s3://{bucket}/{key} is not a decisions file"}
    s3, sagemaker = aws.s3, aws.sagemaker
    if _exists(s3, bucket, f"{folder}/{OUTCOME_FILE}"):
        return {"status": "ignored", "reason": f"s3://{bucket}/{folder}/ was decided already ({OUTCOME_FILE})"}
    callback = _read_json(s3, bucket, f"{folder}/{CALLBACK_FILE}", 1 << 20)
    if callback is None:
        return {"status": "error", "reason": f"no evolution execution waits on s3://{bucket}/{folder}/ (no "
                                             f"{CALLBACK_FILE}); nothing was decided"}
    at = _event_time(record)  # the upload's time: a retried invocation writes the same map
    try:
        proposal = parse_proposal(_read(s3, bucket, f"{folder}/{PROPOSAL_FILE}", MAX_PROPOSAL_BYTES),
                                  f"s3://{bucket}/{folder}/{PROPOSAL_FILE}")
        text = _read(s3, bucket, key, MAX_DECISIONS_BYTES).decode("utf-8")
        decisions = parse_decisions(text, f"s3://{bucket}/{key}")
        current = current_map(aws, environ)
        new_map, entries = apply_decisions(proposal, current, decisions, reviewer=None, at=at)
        outcome = _accept(aws, bucket, folder, proposal, new_map, entries, environ)
    except (ReviewError, CategoryMapError, RegistryError, UnicodeDecodeError) as error:
        reason = one_line(error) if isinstance(error, UnicodeDecodeError) else " ".join(str(error).split())
        sagemaker.send_pipeline_execution_step_failure(
            CallbackToken=callback["token"], FailureReason=reason[:MAX_FAILURE_REASON],
            ClientRequestToken=_request_token("failure", folder, reason))
        outcome = {"status": "failed", "reason": reason}
        _put(s3, bucket, f"{folder}/{OUTCOME_FILE}", json.dumps(outcome, indent=2, sort_keys=True))
        return outcome
    sagemaker.send_pipeline_execution_step_success(
        CallbackToken=callback["token"], ClientRequestToken=_request_token("success", folder, new_map.content_hash),
        OutputParameters=[{"Name": name, "Value": outcome[field]} for name, field in (
            ("Decision", "decision"), ("Reason", "reason"), ("CategoryMapUri", "category_map_uri"),
            ("TrainingExecutionArn", "training_execution_arn"))])
    _put(s3, bucket, f"{folder}/{OUTCOME_FILE}", json.dumps(outcome | {"changes": entries}, indent=2,
                                                                  sort_keys=True))
    return outcome


def _accept(aws: Clients, bucket: str, folder: str, proposal: dict, new_map: CategoryMap,
            entries: list[dict], environ) -> dict:
    """Store map N+1 and start the training pipeline with it (nothing for a proposal rejected whole)."""
    decision = proposal_outcome(entries)
    reason = "; ".join(e.get("detail", e["action"]) for e in entries if e["action"] != "keep") or decision
    outcome = {"status": "decided", "decision": decision, "proposal": proposal["proposal_id"],
               "reviewer": new_map.reviewed.by, "reason": reason[:1024], "category_map_uri": "",
               "training_execution_arn": ""}
    if decision != "accepted":
        return outcome
    if not environ.get("TRAINING_PIPELINE"):
        raise ReviewError("TRAINING_PIPELINE is not set: the function does not know which pipeline retrains")
    prefix = environ.get("MAP_PREFIX") or _prefix(folder)
    map_key = f"{prefix}/category-maps/v{new_map.version}/category_map.yaml".lstrip("/")
    text = _map_text(new_map)
    s3 = aws.s3
    if _exists(s3, bucket, map_key) and _read(s3, bucket, map_key, MAX_MAP_BYTES).decode("utf-8") != text:
        raise ReviewError(f"s3://{bucket}/{map_key} already holds another category map version {new_map.version}")
    _put(s3, bucket, map_key, text)
    outcome["category_map_uri"] = f"s3://{bucket}/{map_key}"
    # Its categories as rows of the category_maps table (Athena), beside the drafts the training runs recorded.
    # The upload's time makes the file, so a retried invocation puts the same bytes under the same key.
    at = new_map.reviewed.at
    rows_key = f"{prefix}/{map_version_key(new_map, review_run(proposal['proposal_id']), at)}".lstrip("/")
    _put(s3, bucket, rows_key, map_version_parquet(new_map, review_run(proposal["proposal_id"]), at))
    outcome["category_map_rows_uri"] = f"s3://{bucket}/{rows_key}"
    started = aws.sagemaker.start_pipeline_execution(
        PipelineName=environ["TRAINING_PIPELINE"],
        PipelineExecutionDescription=f"retraining with category map version {new_map.version} "
                                     f"(proposal {proposal['proposal_id']}, reviewed by {new_map.reviewed.by})"[:3072],
        PipelineParameters=[{"Name": "InputDataUri", "Value": f"s3://{bucket}/{folder}/retrain/"},
                            {"Name": "CategoryMapUri", "Value": outcome["category_map_uri"]},
                            {"Name": "ClusterAssignmentsUri", "Value": f"s3://{bucket}/{folder}/clusters/"}],
        ClientRequestToken=_request_token("training", folder, new_map.content_hash))
    outcome["training_execution_arn"] = started["PipelineExecutionArn"]
    return outcome


def current_map(aws: Clients, environ) -> CategoryMap:
    """The map proposals must be made against: CURRENT_MAP_URI, else the approved package's category_map_uri."""
    def read(uri: str) -> CategoryMap:
        bucket, key = _split(uri)
        return parse_category_map(_read(aws.s3, bucket, key, MAX_MAP_BYTES), uri)

    if environ.get("CURRENT_MAP_URI"):
        return read(environ["CURRENT_MAP_URI"])
    from register.registry import approved_category_map
    from register.sagemaker import SageMakerModelRegistry

    group = environ.get("MODEL_PACKAGE_GROUP")
    if not group:
        raise ReviewError("set CURRENT_MAP_URI or MODEL_PACKAGE_GROUP: the function cannot tell the current map")
    return approved_category_map(SageMakerModelRegistry(aws.sagemaker), group, read)


def _map_text(cmap: CategoryMap) -> str:
    with tempfile.TemporaryDirectory() as folder:
        return save_category_map(cmap, Path(folder) / "category_map.yaml").read_text(encoding="utf-8")


def _prefix(folder: str) -> str:
    match = EVOLUTION_FOLDER.match(folder)
    if match is None:
        raise ReviewError(f"{folder!r} is not an evolution/<execution> folder; set MAP_PREFIX to say where maps go")
    return match["prefix"] or ""


def _event_time(record: dict) -> datetime:
    try:
        at = datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        at = datetime.now(timezone.utc)
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).replace(microsecond=0)


def _request_token(kind: str, folder: str, detail: str) -> str:
    """An idempotency token (32+ characters): the same answer to the same proposal is sent once."""
    return f"{kind}-" + hashlib.sha256(f"{folder}\0{detail}".encode()).hexdigest()[:40]


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ReviewError(f"{uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response["Error"].get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _read(s3, bucket: str, key: str, limit: int) -> bytes:
    """An object's bytes, refused (ReviewError) when missing or larger than `limit`."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise ReviewError(f"s3://{bucket}/{key}: {error.response['Error'].get('Code')}") from None
    if response["ContentLength"] > limit:
        raise ReviewError(f"s3://{bucket}/{key}: {response['ContentLength']} bytes, more than the {limit} allowed")
    return response["Body"].read()


def _read_json(s3, bucket: str, key: str, limit: int) -> dict | None:
    if not _exists(s3, bucket, key):
        return None
    return json.loads(_read(s3, bucket, key, limit))


def _put(s3, bucket: str, key: str, body: str | bytes) -> None:
    extra = ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": os.environ["KMS_KEY_ID"]}
             if os.environ.get("KMS_KEY_ID") else {})
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8") if isinstance(body, str) else body, **extra)
