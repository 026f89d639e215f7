"""Deployment settings of the pipeline: account-level things an operator sets once, not per execution.

Sources, lowest precedence first: built-in defaults < the outputs of the deployed infra/ stack (for the commands
that talk to AWS: pipelines/stack.py) < config file (YAML or JSON; `--config`, else `TWEETOPS_CONFIG`, else
./tweetops.yaml when present) < environment (`TWEETOPS_<FIELD>` in upper case, e.g. TWEETOPS_ROLE_ARN,
TWEETOPS_SUBNETS=subnet-a,subnet-b) < command-line flags. Per-execution values (input data, seed, k, thresholds,
instance types, ...) are pipeline parameters instead (pipelines/training_pipeline.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

DEFAULT_CONFIG_FILE = "tweetops.yaml"
ENV_PREFIX = "TWEETOPS_"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")  # CloudFormation's rule for stack names


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and where it came from."""

DATA_CAPTURE_PREFIX = "data-capture"  # where batch transforms capture inputs and outputs for Model Monitor


@dataclass(frozen=True)
class PipelineSettings:
    """Where and how the pipeline runs. Every field can come from the config file, environment or flags."""
    region: str = "us-east-1"
    # The CloudFormation stack of infra/ whose outputs fill every setting not given (pipelines/stack.py); empty:
    # read no stack.
    stack_name: str = "tweetops-dev"
    role_arn: str = ""
    bucket: str = ""                     # default: sagemaker-<region>-<account> (the SDK's default bucket)
    prefix: str = "tweetops"             # key prefix of every artifact in the bucket
    pipeline_name: str = "tweetops-training"
    inference_pipeline_name: str = "tweetops-batch-inference"
    evolution_pipeline_name: str = "tweetops-evolution"
    # The SQS queue the evolution pipeline's AwaitReview step announces each proposal on (docs/evolution.md);
    # default: https://sqs.<region>.amazonaws.com/<account>/<evolution_pipeline_name>-review
    review_queue_url: str = ""
    model_package_group: str = "tweetops-message-classifier"
    image_uri: str = ""                  # default: <account>.dkr.ecr.<region>.amazonaws.com/tweetops:<version>
    kms_key_id: str = ""                 # KMS key for every volume and output; empty = the AWS managed key
    subnets: tuple[str, ...] = ()        # VPC config for every job (both lists or neither)
    security_group_ids: tuple[str, ...] = ()
    network_isolation: bool = False
    transform_instance_count: int = 2    # build-time: the SDK refuses a parameter here (notes)
    cost_centre: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    # Monitoring (docs/monitoring.md): alarm threshold overrides by rule or setting name (e.g.
    # {"max_estimated_accuracy_drop": 0.08}); model_monitor lets `tweetops monitoring attach` create Model Monitor schedules.
    alarm_thresholds: Mapping[str, float] = field(default_factory=dict)
    model_monitor: bool = False
    # The SNS topic the alarms notify (the stack's); empty: `tweetops monitoring setup` creates <pipeline_name>-alarms.
    alarm_topic_arn: str = ""

    def __post_init__(self) -> None:
        if bool(self.subnets) != bool(self.security_group_ids):
            raise SettingsError("subnets and security_group_ids go together: set both or neither")
        if self.transform_instance_count < 1:
            raise SettingsError(f"transform_instance_count must be >= 1, got {self.transform_instance_count}")
        if self.role_arn and not ROLE_ARN.match(self.role_arn):
            raise SettingsError(f"role_arn {self.role_arn!r} is not an IAM role ARN "
                                "(arn:aws:iam::<12-digit account>:role/<name>)")
        if self.alarm_topic_arn and not TOPIC_ARN.match(self.alarm_topic_arn):
            raise SettingsError(f"alarm_topic_arn {self.alarm_topic_arn!r} is not an SNS topic ARN "
                                "(arn:aws:sns:<region>:<12-digit account>:<name>)")
        if self.stack_name and not STACK_NAME.match(self.stack_name):
            raise SettingsError(f"stack_name {self.stack_name!r} is not a CloudFormation stack name (a letter, then "
                                "letters, digits and hyphens, at most 128)")
        _check_alarm_thresholds(self.alarm_thresholds)

    def require_role(self) -> str:
        """The execution role, or a clear error saying how to give one."""
        if not self.role_arn:
            raise SettingsError("no execution role: pass --role-arn, set TWEETOPS_ROLE_ARN, put role_arn in the "
                                "config file, or pass --stack to read it from the deployed infra/ stack")
        return self.role_arn

    def all_tags(self) -> list[dict[str, str]]:
        """Tags on the pipeline and every job: project, cost centre (when set) and the extra ones, sorted."""
        tags = {"project": "tweetops", **({"cost-centre": self.cost_centre} if self.cost_centre else {}),
                **dict(self.tags)}
        return [{"Key": key, "Value": str(value)} for key, value in sorted(tags.items())]


def _check_alarm_thresholds(overrides: Mapping[str, float]) -> None:
    """Refuse a threshold override that names no alarm rule (a typo would silently keep the default) or is no number."""
    from processing.monitoring.alarms import BATCH_RULES

    known = sorted({rule.name for rule in BATCH_RULES} | {rule.setting for rule in BATCH_RULES if rule.setting})
    for name, value in dict(overrides).items():
        if name not in known:
            raise SettingsError(f"alarm_thresholds: no alarm rule {name!r}; known: {', '.join(known)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"alarm_thresholds: {name} must be a number, got {value!r}")


def load_settings(config_path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> PipelineSettings:
    """Merge defaults < config file < environment < `overrides` (flags; None means "not given")."""
    return load_settings_with_sources(config_path, environ, **overrides)[0]


def load_settings_with_sources(config_path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                               **overrides: Any) -> tuple[PipelineSettings, frozenset[str]]:
    """(load_settings(...), the names of the settings given explicitly: in the config file, the environment or as
    a flag), so that the stack's outputs fill only the others (pipelines/stack.py)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_path or environ.get(ENV_PREFIX + "CONFIG") or (
        DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).is_file() else None)
    if path:
        values |= _read_config_file(Path(path))
    for item in fields(PipelineSettings):
        raw = environ.get(ENV_PREFIX + item.name.upper())
        if raw is not None:
            values[item.name] = _from_text(item.name, raw, f"${ENV_PREFIX}{item.name.upper()}")
    values |= {name: value for name, value in overrides.items() if value is not None}
    return _build(values), frozenset(values)


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"{path}: config file not found")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML/JSON: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(document).__name__}")
    known = {item.name for item in fields(PipelineSettings)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known)}")
    return document


def _from_text(name: str, raw: str, source: str) -> Any:
    """Parse an environment value by the field's type."""
    kind = {item.name: item.type for item in fields(PipelineSettings)}[name]
    if "tuple" in str(kind):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind in (bool, "bool"):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{source}: expected true or false, got {raw!r}")
        return raw.lower() in ("true", "1", "yes")
    if kind in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{source}: expected an integer, got {raw!r}") from None
    if "Mapping" in str(kind):
        try:
            return dict(json.loads(raw))
        except (ValueError, TypeError):
            raise SettingsError(f"{source}: expected a JSON object, got {raw!r}") from None
    return raw


def _build(values: dict[str, Any]) -> PipelineSettings:
    for name in ("subnets", "security_group_ids"):
        if isinstance(values.get(name), str):
            values[name] = tuple(part for part in values[name].split(",") if part)
        elif values.get(name) is not None:
            values[name] = tuple(values[name])
    try:
        return PipelineSettings(**values)
    except TypeError as error:
        raise SettingsError(f"bad settings: {error}") from None


def resolved(settings: PipelineSettings, account: str, version: str) -> PipelineSettings:
    """Settings with the account-dependent defaults (bucket, image) filled in."""
    return dataclasses.replace(
        settings,
        bucket=settings.bucket or f"sagemaker-{settings.region}-{account}",
        image_uri=settings.image_uri or f"{account}.dkr.ecr.{settings.region}.amazonaws.com/tweetops:{version}",
        review_queue_url=settings.review_queue_url or review_queue_url(settings.region, account,
                                                                       settings.evolution_pipeline_name),
    )


def review_queue_url(region: str, account: str, pipeline: str) -> str:
    """The default SQS queue URL of the evolution pipeline's review requests: <pipeline>-review in the account."""
    return f"https://sqs.{region}.amazonaws.com/{account}/{pipeline}-review"
