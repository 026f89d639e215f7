"""What starts things: EventBridge rules and the two handlers they call, both AWS Lambda functions from one image
(docker/lambda.Dockerfile, `<repository>:lambda-<version>`).

- trigger handler (pipelines/trigger_lambda.py): a model package approved, a batch uploaded under
  <prefix>/incoming/, and the schedules start the inference or evolution pipeline with the parameters the CLI
  would pass (the package's baseline and digests).
- review handler (pipelines/review_lambda.py): the evolution pipeline's review queue (its CallbackStep), and a
  decisions file uploaded beside a proposal (docs/evolution.md).
- a failed execution of any of the three pipelines goes to the alarm topic.
"""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import EstateConfig
from infra.identity import PACKAGE_READ
from infra.nag import acknowledge
from infra.observability import log_retention
from infra.registry import Registry
from infra.storage import Storage
from pipelines import events as patterns

REVIEW_HANDLER = "pipelines.review_lambda.handler"
TRIGGER_HANDLER = "pipelines.trigger_lambda.handler"

class Triggers(Construct):
    """`review_queue`, `review_function`, `trigger_function` and the rules."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, storage: Storage,
                 registry: Registry, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.config, self.storage, self.registry = config, storage, registry
        stack = self.stack = Stack.of(self)
        key = storage.key
        pipeline_arn = lambda name: stack.format_arn(service="sagemaker", resource="pipeline", resource_name=name)

        # --- the review queue (the evolution pipeline's CallbackStep writes here) ----------------------------
        dead_letters = sqs.Queue(self, "ReviewDeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
                                 enforce_ssl=True, retention_period=Duration.days(14))
        self.review_queue = sqs.Queue(
            self, "ReviewQueue", queue_name=f"{config.evolution_pipeline}-review", encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key, enforce_ssl=True, retention_period=Duration.days(14),
            visibility_timeout=Duration.minutes(6 * 5),  # six times the function's timeout, as Lambda advises
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=5))
        acknowledge(dead_letters, "AwsSolutions-SQS3", "it is the review queue's dead-letter queue")

        events.Rule(self, "PipelineFailed", description="a failed execution of a tweetops pipeline notifies operators",
                    event_pattern=_pattern(patterns.pipeline_failed_pattern(
                        [config.training_pipeline, config.inference_pipeline, config.evolution_pipeline])),
                    targets=[targets.SnsTopic(topic)])

        if config.functions:  # off for an account's first deploy: their image is pushed into the repository made here
            self.review_function = self._review_handler(pipeline_arn)
            self.trigger_function = self._trigger_handler(pipeline_arn)

    def _review_handler(self, pipeline_arn) -> lambda_.DockerImageFunction:
        """The review function: the review queue's messages and the decisions files uploaded beside proposals."""
        config, storage, registry = self.config, self.storage, self.registry
        key, prefix, bucket = storage.key, config.prefix, storage.data_bucket
        self.review_function = self._function("Review", REVIEW_HANDLER, concurrency=1, environment={
            # One review at a time: two decisions for one evolution run must not both write map N+1.
            "TRAINING_PIPELINE": config.training_pipeline, "MODEL_PACKAGE_GROUP": config.model_package_group,
            "KMS_KEY_ID": key.key_arn})
        self.review_function.add_event_source(sources.SqsEventSource(self.review_queue, batch_size=1))
        self.review_function.add_to_role_policy(iam.PolicyStatement(
            sid="ReadProposalsAndModels", actions=["s3:GetObject"],
            resources=[storage.zone_arn(prefix, "evolution"), storage.zone_arn(prefix, "category-maps"),
                       storage.zone_arn(prefix, "clusters")]))
        self.review_function.add_to_role_policy(iam.PolicyStatement(
            sid="WriteOutcomesAndMaps", actions=["s3:PutObject"],
            resources=[storage.zone_arn(prefix, "evolution"), storage.zone_arn(prefix, "category-maps"),
                       storage.zone_arn(prefix, "category-map-versions")]))
        self.review_function.add_to_role_policy(iam.PolicyStatement(
            sid="ListProposals", actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}/evolution/*", f"{prefix}/category-maps/*"]}}))
        self.review_function.add_to_role_policy(iam.PolicyStatement(
            sid="StartTrainingAndAnswerTheReviewStep", actions=[
                "sagemaker:StartPipelineExecution", "sagemaker:SendPipelineExecutionStepSuccess",
                "sagemaker:SendPipelineExecutionStepFailure"],
            resources=[pipeline_arn(config.training_pipeline),
                       f"{pipeline_arn(config.evolution_pipeline)}/execution/*"]))

        self.review_function.add_to_role_policy(iam.PolicyStatement(
            sid="ReadModelPackages", actions=PACKAGE_READ, resources=[registry.group_arn, registry.package_arn()]))
        key.grant_encrypt_decrypt(self.review_function)  # reads and writes the key's objects and its queue
        events.Rule(self, "DecisionsUploaded", description="an analyst's decisions on a proposal are applied",
                    event_pattern=_pattern(patterns.decisions_uploaded_pattern(bucket.bucket_name, prefix)),
                    targets=[self._target(self.review_function)])
        return self.review_function

    def _trigger_handler(self, pipeline_arn) -> lambda_.DockerImageFunction:
        """The trigger function and the rules that call it: approvals, uploads, the schedules."""
        config, storage, registry = self.config, self.storage, self.registry
        key, prefix, bucket = storage.key, config.prefix, storage.data_bucket
        self.trigger_function = self._function("Trigger", TRIGGER_HANDLER, concurrency=2, environment={
            "INFERENCE_PIPELINE": config.inference_pipeline, "EVOLUTION_PIPELINE": config.evolution_pipeline,
            "MODEL_PACKAGE_GROUP": config.model_package_group,
            "INCOMING_PREFIX": f"s3://{bucket.bucket_name}/{prefix}/incoming/"})
        self.trigger_function.add_to_role_policy(iam.PolicyStatement(  # to name the known groups when ours is missing
            sid="ListGroups", actions=["sagemaker:ListModelPackageGroups"], resources=["*"]))
        self.trigger_function.add_to_role_policy(iam.PolicyStatement(
            sid="StartInferenceAndEvolution", actions=["sagemaker:StartPipelineExecution"],
            resources=[pipeline_arn(config.inference_pipeline), pipeline_arn(config.evolution_pipeline)]))
        self.trigger_function.add_to_role_policy(iam.PolicyStatement(
            sid="ReadModelPackages", actions=PACKAGE_READ, resources=[registry.group_arn, registry.package_arn()]))
        key.grant_decrypt(self.trigger_function)  # its environment only
        trigger = self._target(self.trigger_function)
        events.Rule(self, "ModelApproved", description="an approved package scores incoming/ with the new model",
                    event_pattern=_pattern(patterns.model_approved_pattern(config.model_package_group)),
                    targets=[trigger])
        events.Rule(self, "BatchUploaded", description=f"a file under {prefix}/incoming/ is scored",
                    event_pattern=_pattern(patterns.object_created_pattern(bucket.bucket_name, f"{prefix}/incoming/")),
                    targets=[trigger])
        events.Rule(self, "InferenceSchedule", description="score everything under incoming/ on a schedule",
                    enabled=config.inference_schedule_enabled,
                    schedule=events.Schedule.expression(config.inference_schedule),
                    targets=[self._target(self.trigger_function, "inference")])
        events.Rule(self, "EvolutionSchedule", description="look for new categories in the new-data zone",
                    schedule=events.Schedule.expression(config.evolution_schedule),
                    targets=[self._target(self.trigger_function, "evolution")])
        return self.trigger_function

    def _function(self, name: str, handler: str, concurrency: int, environment: dict) -> lambda_.DockerImageFunction:
        """A function of the Lambda image running `handler`: its own log group (key, retention), a dead-letter queue
        for events it could not handle, X-Ray tracing, environment encrypted with the key."""
        config, key = self.config, self.storage.key
        log_group = logs.LogGroup(self, f"{name}Logs", encryption_key=key, removal_policy=RemovalPolicy.RETAIN,
                                  retention=log_retention(config.retention_days))
        dead_letters = sqs.Queue(self, f"{name}FailedEvents", encryption=sqs.QueueEncryption.KMS,
                                 encryption_master_key=key, enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(dead_letters, "AwsSolutions-SQS3", f"it is the {name.lower()} function's dead-letter queue")
        # Its own role: CloudWatch Logs on its log group only (not the AWS managed basic-execution policy).
        role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"tweetops {config.environment}: {handler}")
        role.add_to_policy(iam.PolicyStatement(sid="WriteItsLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                               resources=[log_group.log_group_arn]))
        function = lambda_.DockerImageFunction(
            self, name, role=role, description=f"tweetops {config.environment}: {handler}",
            code=lambda_.DockerImageCode.from_ecr(self.registry.repository, tag_or_digest=f"lambda-{config.image_tag}",
                                                  cmd=[handler]),
            timeout=Duration.minutes(5), memory_size=1024, environment=environment, environment_encryption=key,
            log_group=log_group, tracing=lambda_.Tracing.ACTIVE, dead_letter_queue=dead_letters,
            reserved_concurrent_executions=concurrency)
        acknowledge(role, "AwsSolutions-IAM5", "X-Ray's PutTraceSegments/PutTelemetryRecords and SageMaker's "
                    "ListModelPackageGroups have no resource-level permissions; object patterns are zones under the "
                    "project prefix; pipeline executions are named by SageMaker")
        acknowledge(function, "CKV_AWS_117", "the function calls only AWS APIs (S3, SageMaker) and reads no VPC "
                    "resource; VPC placement is a per-deployment choice (docs/infrastructure.md)")
        return function

    def _target(self, function: lambda_.IFunction, scheduled: str | None = None) -> targets.LambdaFunction:
        """A rule target retried for two hours; an event the function then fails on lands in its dead-letter queue.
        A schedule's target gets the pipeline to start and the event's id and time (pipelines.events.scheduled_input)."""
        event = events.RuleTargetInput.from_object(patterns.scheduled_input(
            scheduled, events.EventField.event_id, events.EventField.time)) if scheduled else None
        return targets.LambdaFunction(function, retry_attempts=4, max_event_age=Duration.hours(2), event=event)

def _pattern(pattern: dict) -> events.EventPattern:
    """A pattern from pipelines.events (EventBridge's JSON) as CDK's EventPattern."""
    known = {"source": "source", "detail-type": "detail_type", "detail": "detail", "resources": "resources",
             "account": "account", "region": "region"}
    return events.EventPattern(**{known[key]: value for key, value in pattern.items()})
