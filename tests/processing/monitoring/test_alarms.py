"""Specification of the alarm rules and the published metrics: exactly the breached rules fire, thresholds
take overrides by rule or setting name, a missing figure never fires, and the CloudWatch data carry the
documented dimensions and leave missing figures out."""
from __future__ import annotations

import math

import pytest

from processing.monitoring.alarms import BATCH_RULES, PIPELINE_FAILED, evaluate_alarms, thresholds
from processing.monitoring.metrics import CATEGORY_METRIC, METRICS, NAMESPACE, batch_metrics, metric_data

QUIET = {"DataDriftDetected": 0.0, "PredictionDriftDetected": 0.0, "EstimatedAccuracyDrop": 0.01,
         "NovelShareIncrease": 0.01, "QuarantineShare": 0.02}


def fired(metrics: dict, overrides: dict | None = None) -> list[str]:
    return [alarm["alarm"] for alarm in evaluate_alarms(metrics, overrides)]


def test_a_quiet_batch_fires_nothing():
    assert fired(QUIET) == []


@pytest.mark.parametrize("metric, value, rule", [
    ("DataDriftDetected", 1.0, "data-drift"),
    ("PredictionDriftDetected", 1.0, "prediction-drift"),
    ("EstimatedAccuracyDrop", 0.06, "estimated-accuracy"),
    ("NovelShareIncrease", 0.051, "novel-share"),
    ("QuarantineShare", 0.2, "quarantine-share"),
])
def test_exactly_the_breached_rule_fires(metric, value, rule):
    alarms = evaluate_alarms({**QUIET, metric: value})
    assert [alarm["alarm"] for alarm in alarms] == [rule]
    alarm = alarms[0]
    assert alarm["metric"] == metric and alarm["value"] == value
    assert alarm["threshold"] == thresholds()[rule] and alarm["comparison"]
    assert alarm["message"].startswith(metric) and "\n" not in alarm["message"]


def test_several_breaches_fire_several_alarms_in_rule_order():
    breached = {**QUIET, "DataDriftDetected": 1.0, "EstimatedAccuracyDrop": 0.3, "QuarantineShare": 0.5}
    assert fired(breached) == ["data-drift", "estimated-accuracy", "quarantine-share"]


def test_a_value_on_a_strict_threshold_does_not_fire():
    assert fired({**QUIET, "EstimatedAccuracyDrop": 0.05, "NovelShareIncrease": 0.05, "QuarantineShare": 0.10}) == []


def test_thresholds_apply_overrides_by_rule_or_setting_name():
    defaults = thresholds()
    assert defaults == {rule.name: rule.threshold for rule in BATCH_RULES}
    changed = thresholds({"estimated-accuracy": 0.1, "max_quarantine_share": 0.3})
    assert changed["estimated-accuracy"] == 0.1 and changed["quarantine-share"] == 0.3
    assert changed["novel-share"] == defaults["novel-share"]
    assert fired({**QUIET, "EstimatedAccuracyDrop": 0.07}, {"max_estimated_accuracy_drop": 0.1}) == []
    assert fired({**QUIET, "QuarantineShare": 0.05}, {"quarantine-share": 0.01}) == ["quarantine-share"]


@pytest.mark.parametrize("missing", [None, math.nan])
def test_a_missing_or_nan_value_never_fires(missing):
    assert fired({name: missing for name in QUIET}) == []
    assert fired({}) == []
    assert not PIPELINE_FAILED.fires(missing)


def test_the_pipeline_failure_rule_watches_sagemakers_own_metric():
    assert PIPELINE_FAILED.namespace == "AWS/Sagemaker/ModelBuildingPipeline"
    assert PIPELINE_FAILED.fires(1.0) and not PIPELINE_FAILED.fires(0.0)


def test_every_batch_rule_watches_a_published_metric():
    assert all(rule.metric in METRICS and rule.namespace == NAMESPACE for rule in BATCH_RULES)


# ---- metrics

REPORT = {"batch": {"messages": 500},
          "data_drift": {"detected": True, "p_value": 0.002, "statistic": 0.01},
          "prediction_drift": {"detected": False, "jensen_shannon": 0.05, "categories": [
              {"category": "billing", "batch_share": 0.6}, {"category": "cards", "batch_share": 0.4}]},
          "estimated": {"accuracy": 0.8, "macro_f1": None},
          "novel_share": 0.07, "novelty": {"increase": 0.02}}


def test_batch_metrics_read_the_report_with_booleans_as_numbers_and_none_where_missing():
    values = batch_metrics(REPORT)
    assert set(values) == set(METRICS)
    assert values["DataDriftDetected"] == 1.0 and values["PredictionDriftDetected"] == 0.0
    assert values["EstimatedAccuracy"] == 0.8 and values["ScoredMessages"] == 500.0
    assert values["EstimatedMacroF1"] is None and values["QuarantineShare"] is None


def test_metric_data_has_the_dimensions_and_skips_missing_figures():
    data = metric_data(REPORT, "tweetops-inference", "tweetops-models")
    names = [datum["MetricName"] for datum in data]
    assert "EstimatedMacroF1" not in names and "QuarantineShare" not in names and "MeanConfidence" not in names
    assert {"DataDriftDetected", "EstimatedAccuracy", "NovelShare", "ScoredMessages"} <= set(names)
    base = [{"Name": "Pipeline", "Value": "tweetops-inference"}, {"Name": "ModelPackageGroup", "Value": "tweetops-models"}]
    batch_level = [datum for datum in data if datum["MetricName"] != CATEGORY_METRIC]
    assert all(datum["Dimensions"] == base and isinstance(datum["Value"], float) for datum in batch_level)
    assert next(d for d in data if d["MetricName"] == "ScoredMessages")["Unit"] == "Count"
    shares = {d["Dimensions"][2]["Value"]: d["Value"] for d in data if d["MetricName"] == CATEGORY_METRIC}
    assert shares == {"billing": 0.6, "cards": 0.4}
    assert all(d["Dimensions"][:2] == base for d in data if d["MetricName"] == CATEGORY_METRIC)


def test_a_report_without_figures_publishes_nothing():
    assert metric_data({"judged": False, "verdict": "no baseline"}, "p", "g") == []
