"""What differs between deployments of the estate: environment, names, schedules, options. Everything else is code.

Values come from CDK context (`-c key=value` on the CDK command line, or infra/cdk.json), with the defaults below;
the pipeline names and the model package group default to the ones `tweetops` itself uses (pipelines/settings.py),
so a deployed stack and the CLI agree without flags.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from pipelines.operations import package_version
from pipelines.settings import PipelineSettings

ENVIRONMENTS = ("dev", "staging", "prod")
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_DEFAULTS = PipelineSettings()


class ConfigError(ValueError):
    """A context value is missing or malformed; the message names it."""


@dataclass(frozen=True)
class EstateConfig:
    """One deployment of the estate (stack `tweetops-<environment>`)."""
    environment: str = "dev"
    prefix: str = _DEFAULTS.prefix                      # key prefix of every zone in the data bucket
    training_pipeline: str = _DEFAULTS.pipeline_name
    inference_pipeline: str = _DEFAULTS.inference_pipeline_name
    evolution_pipeline: str = _DEFAULTS.evolution_pipeline_name
    model_package_group: str = _DEFAULTS.model_package_group
    cost_centre: str = "ml-platform"
    image_tag: str = field(default_factory=package_version)  # job image <repo>:<tag>, Lambda image <repo>:lambda-<tag>
    # GitHub repository (owner/name) whose main branch and `production` environment may assume the CI deploy role.
    github_repository: str = "your-org/tweetops"
    # The account's GitHub OIDC provider when it exists already (one per account); empty: the stack creates it.
    github_oidc_provider_arn: str = ""
    # The two Lambda functions and the rules that call them. Off for an account's first deploy: their image
    # (<repository>:lambda-<tag>) is pushed by the release workflow into the repository this stack creates.
    functions: bool = True
    guardduty: bool = False                            # one detector per account and region: on where none exists
    inference_schedule: str = "cron(0 6 * * ? *)"      # score what is in incoming/ every day at 06:00 UTC
    inference_schedule_enabled: bool = False           # the per-upload rule is the default trigger
    evolution_schedule: str = "cron(0 7 ? * MON *)"    # look for new categories every Monday
    # SageMaker creates /aws/sagemaker/{Processing,Training,Transform}Jobs itself on first use, without retention or
    # key; on a fresh account the stack can own them instead (it cannot adopt existing ones).
    sagemaker_log_groups: bool = False
    log_retention_days: int = 0                        # 0: 90 days in dev and staging, 365 in prod
    alarm_thresholds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ConfigError(f"env {self.environment!r}: choose one of {', '.join(ENVIRONMENTS)}")
        if not _GITHUB_REPOSITORY.match(self.github_repository):
            raise ConfigError(f"github_repository {self.github_repository!r}: expected owner/name")
        PipelineSettings(alarm_thresholds=self.alarm_thresholds)  # refuses unknown rule names, as the CLI does

    @property
    def stack_name(self) -> str:
        """`tweetops-<environment>`: what `tweetops --stack` (default tweetops-dev) reads the outputs of."""
        return f"tweetops-{self.environment}"

    @property
    def catalog_database(self) -> str:
        """The Glue database of the zones' tables (Glue names allow no hyphen)."""
        return f"tweetops_{self.environment}"

    @property
    def retention_days(self) -> int:
        """Log retention: the configured days, else 365 in prod and 90 elsewhere."""
        return self.log_retention_days or (365 if self.environment == "prod" else 90)

    @property
    def tags(self) -> dict[str, str]:
        """The tags on every resource: project, cost centre, environment."""
        return {"project": "tweetops", "cost-centre": self.cost_centre, "environment": self.environment}

    def pipeline_settings(self) -> PipelineSettings:
        """The CLI's settings for these names (the alarm definitions in code take them)."""
        return PipelineSettings(pipeline_name=self.training_pipeline, inference_pipeline_name=self.inference_pipeline,
                                evolution_pipeline_name=self.evolution_pipeline,
                                model_package_group=self.model_package_group, alarm_thresholds=self.alarm_thresholds,
                                prefix=self.prefix)


def from_context(get: Any) -> EstateConfig:
    """The config from CDK context: `get(name)` returns the value or None (`app.node.try_get_context`)."""
    values: dict[str, Any] = {}
    for item in fields(EstateConfig):
        name = "env" if item.name == "environment" else item.name
        raw = get(name)
        if raw is None:
            continue
        values[item.name] = _parse(name, raw, item.type)
    return EstateConfig(**values)


def _parse(name: str, raw: Any, kind: Any) -> Any:
    """A context value (a string on the command line, typed in cdk.json) as the field's type."""
    kind = str(kind)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() not in ("true", "false"):
            raise ConfigError(f"context {name}: expected true or false, got {raw!r}")
        return str(raw).lower() == "true"
    if kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"context {name}: expected an integer, got {raw!r}") from None
    if "Mapping" in kind:
        try:
            return dict(json.loads(raw) if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise ConfigError(f"context {name}: expected a JSON object, got {raw!r}") from None
    return str(raw)
