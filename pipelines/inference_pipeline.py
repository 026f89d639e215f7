"""The batch-inference pipeline: a new batch -> validated -> scored by an approved model package ->
predictions zone + summary -> drift check against the package's baseline -> new-data zone. Reads top to bottom as
the DAG it builds.

ValidateBatch ─► (CreateModel from the package) ─► Predict (batch transform, line split) ─► Summarize ─► Monitor
              ─► Accumulate (the scored messages into the new-data zone, by date: what evolution explores)
"""
from __future__ import annotations

from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
import json

from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow import ModelStep, Pipeline, ProcessingStep, TransformStep

from pipelines.evolution_pipeline import NEW_DATA_ZONE
from pipelines.monitor_commands import METRICS_SINKS
from pipelines.settings import PipelineSettings
from pipelines.steps import JOB_RETRIES, PROCESSING, THROTTLING_RETRY, Jobs, channel, output_uri
from pipelines.training_pipeline import empty_input_uri
from processing.catalog import TABLES
from processing.contract import DEFAULT_LANGUAGES

NOVELTY_ZONE = "novelty-queue"  # s3://bucket/prefix/novelty-queue/<execution>/novel.jsonl: what discovery picks up


def get_inference_pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """Build the batch-inference pipeline for `settings` (bucket and image resolved) on a PipelineSession."""
    # ---------------------------------------------------------------- parameters (what changes per run)
    model_package = ParameterString("ModelPackageArn", default_value="")  # the CLI passes the latest approved
    input_data = ParameterString("InputDataUri", default_value=f"s3://{settings.bucket}/{settings.prefix}/incoming/")
    languages = ParameterString("Languages", default_value=",".join(DEFAULT_LANGUAGES))
    low_confidence = ParameterFloat("LowConfidenceThreshold", default_value=0.5)
    processing_type = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")
    processing_count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    transform_type = ParameterString("TransformInstanceType", default_value="ml.m5.xlarge")
    kms_key = ParameterString("KmsKeyId", default_value=settings.kms_key_id)
    image_uri = ParameterString("ImageUri", default_value=settings.image_uri)
    # The package's monitoring baseline and featurizer digest: the CLI fills both from the package
    # (register.registry.monitoring_parameters); without a baseline the Monitor step says nothing was judged.
    baseline_uri = ParameterString("BaselineUri", default_value=empty_input_uri(settings))
    featurizer_sha256 = ParameterString("FeaturizerSha256", default_value="")
    metrics_sink = ParameterString("MetricsSink", default_value="cloudwatch", enum_values=list(METRICS_SINKS))
    min_messages = ParameterInteger("MinMonitoredMessages", default_value=200)
    parameters = [model_package, input_data, languages, low_confidence, processing_type, processing_count,
                  transform_type, kms_key, image_uri, baseline_uri, featurizer_sha256, metrics_sink, min_messages]
    jobs = Jobs(settings, session, image_uri=image_uri, kms_key=kms_key, processing_type=processing_type)
    # The execution names the table files its jobs write; its start day is their date partition (docs/tables.md).
    run_arguments = ["--run-id", ExecutionVariables.PIPELINE_EXECUTION_ID,
                     "--run-date", ExecutionVariables.START_DATETIME]

    # ---------------------------------------------------------------- 1. validate the batch (sharded by file)
    validate = ProcessingStep(
        name="ValidateBatch", display_name="Validate the batch",
        description="Checks the message contract, quarantines bad rows with a reason, writes the scoring input.",
        step_args=jobs.processor("validate", instance_count=processing_count).run(
            inputs=[channel("raw", input_data, distribution="ShardedByS3Key")],
            outputs=[jobs.output("batch", "batch", "batch"), jobs.quarantine_output(),
                     jobs.output("reports", "reports", "reports", "validation"),
                     jobs.table_output("quality", "quality", TABLES["quality_reports"].zone)],
            arguments=["--input", f"{PROCESSING}/input/raw", "--output", f"{PROCESSING}/output",
                       "--languages", languages, "--batch", *run_arguments, "--pipeline", "inference"]),
        retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 2. the model, from the approved package
    # The SDK's ModelBuilder looks a package up at build time; a CreateModel request naming the package (a
    # parameter) keeps the definition offline and lets each execution score with another package.
    session.context = None
    session.init_model_step_arguments(_PackageModel(session))
    session.create_model(name="tweetops-batch", role=settings.role_arn, container_defs={"ModelPackageName": model_package},
                         enable_network_isolation=True, tags=settings.all_tags())
    create_model = ModelStep(
        name="CreateModel", display_name="Model from the approved package",
        description="A SageMaker Model from the model package given by ModelPackageArn.",
        step_args=session.context, retry_policies=[THROTTLING_RETRY])

    # ---------------------------------------------------------------- 3. score (batch transform, line split)
    predict = TransformStep(
        name="Predict", display_name="Batch-score the messages",
        description="Predictions (id, category, confidence, novel, versions) into the predictions zone.",
        step_args=jobs.batch_transform(create_model.properties.ModelName, output_uri(validate, "batch"),
                                       jobs.zone("predictions"), transform_type, "tweetops-predict",
                                       capture=settings.model_monitor),
        retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 4. summarize
    summarize = ProcessingStep(
        name="Summarize", display_name="Summarize the predictions",
        description="Counts per category, shares of low-confidence and novel messages.",
        step_args=jobs.processor("summarize-predictions").run(
            inputs=[channel("predictions", predict.properties.TransformOutput.S3OutputPath)],
            outputs=[jobs.output("summary", "summary", "reports", "predictions")],
            arguments=["--predictions", f"{PROCESSING}/input/predictions", "--output", f"{PROCESSING}/output/summary",
                       "--low-confidence", low_confidence.to_string()]),
        retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 5. drift check against the baseline
    monitor = ProcessingStep(
        name="Monitor", display_name="Check the batch for drift",
        description="Data and prediction drift, estimated accuracy, novelty and descriptors against the package's "
                    "baseline; report, metrics (CloudWatch) and the novelty queue (docs/monitoring.md).",
        step_args=jobs.processor("monitor").run(
            inputs=[channel("baseline", baseline_uri), channel("batch", output_uri(validate, "batch")),
                    channel("predictions", predict.properties.TransformOutput.S3OutputPath),
                    channel("reports", output_uri(validate, "reports"))],
            outputs=[jobs.output("monitoring", "monitoring", "monitoring"),
                     ProcessingOutput(output_name="novelty", s3_output=ProcessingS3Output(
                         s3_uri=Join(on="/", values=[f"s3://{settings.bucket}/{settings.prefix}/{NOVELTY_ZONE}",
                                                     ExecutionVariables.PIPELINE_EXECUTION_ID]),
                         local_path=f"{PROCESSING}/output/novelty", s3_upload_mode="EndOfJob")),
                     jobs.table_output("metrics", "metrics", TABLES["batch_metrics"].zone)],
            arguments=["--baseline", f"{PROCESSING}/input/baseline", "--batch", f"{PROCESSING}/input/batch",
                       "--predictions", f"{PROCESSING}/input/predictions", "--reports", f"{PROCESSING}/input/reports",
                       "--output", f"{PROCESSING}/output/monitoring", "--novelty-output", f"{PROCESSING}/output/novelty",
                       "--featurizer-sha256", featurizer_sha256, "--model-package", model_package,
                       "--model-package-group", settings.model_package_group,
                       "--pipeline", settings.inference_pipeline_name, "--metrics-sink", metrics_sink,
                       "--min-messages", min_messages.to_string(),
                       "--metrics-output", f"{PROCESSING}/output/metrics", *run_arguments,
                       # the thresholds `tweetops monitoring setup` gives the CloudWatch alarms: one judgement
                       "--alarm-thresholds", json.dumps(dict(settings.alarm_thresholds), sort_keys=True)]),
        depends_on=[summarize], retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 6. accumulate for the next exploration
    # The job writes date=YYYY-MM-DD/<execution id>.parquet inside its output folder, so the upload adds this batch's
    # files to the shared zone beside the earlier batches' (an upload never removes objects).
    accumulate = ProcessingStep(
        name="Accumulate", display_name="Add the batch to the new-data zone",
        description="The scored messages (category, confidence, novelty from the predictions and the novelty queue) "
                    "into new-data/date=YYYY-MM-DD/: what the evolution pipeline explores (docs/evolution.md).",
        step_args=jobs.processor("accumulate").run(
            inputs=[channel("batch", output_uri(validate, "batch")),
                    channel("predictions", predict.properties.TransformOutput.S3OutputPath),
                    channel("novelty", output_uri(monitor, "novelty"))],
            outputs=[ProcessingOutput(output_name="new_data", s3_output=ProcessingS3Output(
                s3_uri=f"s3://{settings.bucket}/{settings.prefix}/{NEW_DATA_ZONE}/",
                local_path=f"{PROCESSING}/output/new-data", s3_upload_mode="EndOfJob"))],
            arguments=["--batch", f"{PROCESSING}/input/batch", "--predictions", f"{PROCESSING}/input/predictions",
                       "--novelty", f"{PROCESSING}/input/novelty", "--output", f"{PROCESSING}/output/new-data",
                       "--batch-name", ExecutionVariables.PIPELINE_EXECUTION_ID,
                       "--scored-on", ExecutionVariables.START_DATETIME]),
        retry_policies=JOB_RETRIES)

    return Pipeline(name=settings.inference_pipeline_name, parameters=parameters,
                    steps=[validate, create_model, predict, summarize, monitor, accumulate], sagemaker_session=session)


class _PackageModel:
    """What ModelStep asks of the model behind its arguments: the PipelineSession they were made in."""

    def __init__(self, session: PipelineSession):
        self.sagemaker_session = session
