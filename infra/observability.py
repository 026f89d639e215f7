"""What operators watch: the alarm topic (KMS, email as a stack parameter), the alarms from the one definition in
code (processing/monitoring/alarms.py, turned into requests by pipelines/monitoring_aws.py, as `tweetops monitoring
setup` does), pipeline-failure events to the topic, and a dashboard of pipeline runs and the monitoring figures."""
from __future__ import annotations

from aws_cdk import CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import EstateConfig
from pipelines.monitoring_aws import alarm_requests
from processing.monitoring.alarms import PIPELINE_NAMESPACE
from processing.monitoring.metrics import NAMESPACE

PIPELINE_METRICS = ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionStopped")
DASHBOARD_FIGURES = ("EstimatedAccuracy", "NovelShare", "QuarantineShare", "PredictionDivergence",
                     "DataDriftStatistic", "ScoredMessages")


class Observability(Construct):
    """`topic`, `alarms` (one CfnAlarm per request of pipelines.monitoring_aws.alarm_requests) and `dashboard`."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                               display_name=f"tweetops {config.environment} alarms")
        email = CfnParameter(stack, "AlarmEmail", type="String", default="",
                             description="Address subscribed to the alarm topic (empty: none; AWS asks it to confirm)")
        subscription = sns.CfnSubscription(self, "AlarmEmailSubscription", protocol="email",
                                           topic_arn=self.topic.topic_arn, endpoint=email.value_as_string)
        subscription.cfn_options.condition = CfnCondition(
            self, "HasAlarmEmail", expression=Fn.condition_not(Fn.condition_equals(email.value_as_string, "")))
        # Rules publish pipeline failures here (the topic's key allows events.amazonaws.com: storage.py).
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="EventBridgePublishes", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}}))
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}}))

        if config.sagemaker_log_groups:  # a fresh account: the stack owns the job log groups (retention, key)
            for kind in ("ProcessingJobs", "TrainingJobs", "TransformJobs"):
                logs.LogGroup(self, f"{kind}Logs", log_group_name=f"/aws/sagemaker/{kind}", encryption_key=key,
                              retention=log_retention(config.retention_days), removal_policy=RemovalPolicy.RETAIN)
        self.alarms = [self._alarm(request)
                       for request in alarm_requests(config.pipeline_settings(), self.topic.topic_arn)]
        self.dashboard = self._dashboard(config)

    def _alarm(self, request: dict) -> cloudwatch.CfnAlarm:
        """A PutMetricAlarm request as a CloudFormation alarm (same fields, CloudFormation's spelling)."""
        return cloudwatch.CfnAlarm(
            self, request["AlarmName"], alarm_name=request["AlarmName"],
            alarm_description=request["AlarmDescription"], actions_enabled=request["ActionsEnabled"],
            alarm_actions=request["AlarmActions"], metric_name=request["MetricName"], namespace=request["Namespace"],
            statistic=request["Statistic"], period=request["Period"],
            dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name=d["Name"], value=d["Value"])
                        for d in request["Dimensions"]],
            evaluation_periods=request["EvaluationPeriods"], datapoints_to_alarm=request["DatapointsToAlarm"],
            threshold=request["Threshold"], comparison_operator=request["ComparisonOperator"],
            treat_missing_data=request["TreatMissingData"])

    def _dashboard(self, config: EstateConfig) -> cloudwatch.Dashboard:
        """Pipeline runs per pipeline, then the inference pipeline's monitoring figures, then the alarms."""
        period = Duration.hours(1)
        runs = [cloudwatch.GraphWidget(
            title=f"{pipeline}: executions", width=8, left=[
                cloudwatch.Metric(namespace=PIPELINE_NAMESPACE, metric_name=name, statistic="Sum", period=period,
                                  dimensions_map={"PipelineName": pipeline}, label=name.removeprefix("Execution"))
                for name in PIPELINE_METRICS])
            for pipeline in (config.training_pipeline, config.inference_pipeline, config.evolution_pipeline)]
        dimensions = {"Pipeline": config.inference_pipeline, "ModelPackageGroup": config.model_package_group}
        figures = [cloudwatch.GraphWidget(
            title=name, width=8, left=[cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, statistic="Average",
                                                         period=period, dimensions_map=dimensions)])
            for name in DASHBOARD_FIGURES]
        status = cloudwatch.AlarmStatusWidget(
            title="alarms", width=24, alarms=[cloudwatch.Alarm.from_alarm_arn(self, f"Watched{index}", alarm.attr_arn)
                                              for index, alarm in enumerate(self.alarms)])
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"tweetops-{config.environment}")
        dashboard.add_widgets(*runs)
        dashboard.add_widgets(*figures[:3])
        dashboard.add_widgets(*figures[3:])
        dashboard.add_widgets(status)
        return dashboard


def log_retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for `days` (CloudWatch Logs accepts only a fixed set; these are the common ones)."""
    members = {30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR",
               731: "TWO_YEARS", 1827: "FIVE_YEARS", 3653: "TEN_YEARS"}
    if days not in members:
        raise ValueError(f"log retention {days} days: choose one of {', '.join(map(str, members))}")
    return getattr(logs.RetentionDays, members[days])
