"""The figures the monitoring job publishes per batch: names, units, dimensions (docs/monitoring.md).

CloudWatch namespace `tweetops`; every metric has the dimensions Pipeline and ModelPackageGroup; the
per-category share also has Category. Locally the same records go to the home's metrics log.
"""
from __future__ import annotations

NAMESPACE = "tweetops"
# metric name -> (CloudWatch unit, where its value is in report.json)
METRICS = {
    "DataDriftDetected": ("None", "data_drift.detected"),
    "DataDriftPValue": ("None", "data_drift.p_value"),
    "DataDriftStatistic": ("None", "data_drift.statistic"),
    "PredictionDriftDetected": ("None", "prediction_drift.detected"),
    "PredictionDivergence": ("None", "prediction_drift.jensen_shannon"),
    "EstimatedAccuracy": ("None", "estimated.accuracy"),
    "EstimatedAccuracyDrop": ("None", "estimated.accuracy_drop"),
    "EstimatedMacroF1": ("None", "estimated.macro_f1"),
    "MeanConfidence": ("None", "confidence.batch_mean"),
    "NovelShare": ("None", "novel_share"),
    "NovelShareIncrease": ("None", "novelty.increase"),
    "QuarantineShare": ("None", "descriptors.quarantine.share"),
    "MeanTextLength": ("None", "descriptors.text_length.batch_mean"),
    "ScoredMessages": ("Count", "batch.messages"),
}
CATEGORY_METRIC = "CategoryShare"


def report_value(report: dict, path: str):
    """The value at a dotted path of report.json (None when any part is missing); booleans become 0/1."""
    value = report
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def batch_metrics(report: dict) -> dict[str, float | None]:
    """Every batch-level metric of a report by name (None where the report has no figure)."""
    return {name: report_value(report, path) for name, (_, path) in METRICS.items()}


def metric_data(report: dict, pipeline: str, model_package_group: str) -> list[dict]:
    """The report's figures as CloudWatch MetricDatum dictionaries (PutMetricData), missing figures left out."""
    dimensions = [{"Name": "Pipeline", "Value": pipeline}, {"Name": "ModelPackageGroup", "Value": model_package_group}]
    data = [{"MetricName": name, "Value": value, "Unit": METRICS[name][0], "Dimensions": dimensions}
            for name, value in batch_metrics(report).items() if value is not None]
    for item in (report.get("prediction_drift") or {}).get("categories", []):
        if item.get("batch_share") is not None:
            data.append({"MetricName": CATEGORY_METRIC, "Value": float(item["batch_share"]), "Unit": "None",
                         "Dimensions": [*dimensions, {"Name": "Category", "Value": str(item["category"])[:255]}]})
    return data
