"""The alarm rules, defined once: the monitoring job evaluates them on each batch's figures, the local home
records what fired, `tweetops monitoring setup` turns them into CloudWatch alarms to SNS, and the CDK app
(infra/) creates the same alarms from this table.

A rule watches one metric the monitoring job publishes (metrics.METRICS) with a static threshold. The
pipeline-failure rules watch the metric SageMaker itself publishes for every pipeline execution.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from processing.monitoring.metrics import NAMESPACE

COMPARISONS = {  # CloudWatch's ComparisonOperator names and what they mean
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
SYMBOLS = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">", "LessThanThreshold": "<",
           "LessThanOrEqualToThreshold": "<="}
# SageMaker publishes ExecutionFailed (and ExecutionStarted, ...) per pipeline in this namespace.
PIPELINE_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"


@dataclass(frozen=True)
class AlarmRule:
    """One alarm: `metric` compared with `threshold`; `setting` names the threshold's override in settings."""
    name: str
    metric: str
    comparison: str
    threshold: float
    description: str
    setting: str | None = None
    namespace: str = NAMESPACE
    statistic: str = "Maximum"

    def fires(self, value: float | None, threshold: float | None = None) -> bool:
        """Whether a value breaches the rule (a missing value never does: CloudWatch's notBreaching)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return COMPARISONS[self.comparison](value, self.threshold if threshold is None else threshold)


BATCH_RULES = (
    AlarmRule("data-drift", "DataDriftDetected", "GreaterThanOrEqualToThreshold", 1.0,
              "The messages of a scored batch differ from the package's baseline (two-sample test).",
              statistic="Maximum"),
    AlarmRule("prediction-drift", "PredictionDriftDetected", "GreaterThanOrEqualToThreshold", 1.0,
              "The share of at least one category changed significantly against the baseline."),
    # Relative to the baseline's own estimate too: an absolute 0.75 fired on a quarter of normal banking77 batches,
    # whose model is 76% accurate (docs/benchmarks.md, "Drift").
    AlarmRule("estimated-accuracy", "EstimatedAccuracyDrop", "GreaterThanThreshold", 0.05,
              "The accuracy estimated without labels fell below the baseline's by more than the threshold.",
              setting="max_estimated_accuracy_drop"),
    # Relative to the baseline's own novel share: a package whose held-out split already had 5% novel messages
    # would otherwise alarm on every normal batch.
    AlarmRule("novel-share", "NovelShareIncrease", "GreaterThanThreshold", 0.05,
              "The share of messages that look like none of the known categories rose above the baseline's "
              "by more than the threshold.", setting="max_novel_share_increase"),
    AlarmRule("quarantine-share", "QuarantineShare", "GreaterThanThreshold", 0.10,
              "More rows than the threshold were quarantined by validation.",
              setting="max_quarantine_share"),
)
PIPELINE_FAILED = AlarmRule(
    "pipeline-failed", "ExecutionFailed", "GreaterThanOrEqualToThreshold", 1.0,
    "An execution of the pipeline failed.", namespace=PIPELINE_NAMESPACE, statistic="Sum")


def thresholds(overrides: dict | None = None) -> dict[str, float]:
    """Each batch rule's threshold by rule name, with `overrides` (by rule name or setting name) applied."""
    overrides = overrides or {}
    result = {}
    for rule in BATCH_RULES:
        result[rule.name] = float(overrides.get(rule.name, overrides.get(rule.setting, rule.threshold)))
    return result


def evaluate_alarms(metrics: dict[str, float | None], overrides: dict | None = None) -> list[dict]:
    """The batch rules that fire on a batch's figures (metric name -> value): rule, metric, value, threshold."""
    limits = thresholds(overrides)
    fired = []
    for rule in BATCH_RULES:
        value = metrics.get(rule.metric)
        if rule.fires(value, limits[rule.name]):
            fired.append({"alarm": rule.name, "metric": rule.metric, "value": value,
                          "threshold": limits[rule.name], "comparison": rule.comparison,
                          "message": f"{rule.metric} {value:.4g} {SYMBOLS[rule.comparison]} "
                                     f"{limits[rule.name]:.4g}: {rule.description}"})
    return fired
