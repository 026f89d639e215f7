"""Building blocks shared by the pipelines' jobs: processors, channels, outputs, retry policies, zones.

Every job runs the tweetops image with KMS on volumes and outputs, encrypted inter-container traffic,
optional VPC config and network isolation, and tags (DESIGN.md principle 6).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK builds a client when sagemaker.mlops is imported

from sagemaker.core.inputs import BatchDataCaptureConfig  # noqa: E402
from sagemaker.core.network import NetworkConfig  # noqa: E402
from sagemaker.core.processing import Processor  # noqa: E402
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output  # noqa: E402
from sagemaker.core.transformer import Transformer  # noqa: E402
from sagemaker.core.workflow.execution_variables import ExecutionVariables  # noqa: E402
from sagemaker.core.workflow.functions import Join  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.mlops.workflow import (ProcessingStep, SageMakerJobExceptionTypeEnum,  # noqa: E402
                                      SageMakerJobStepRetryPolicy, StepExceptionTypeEnum, StepRetryPolicy)

from pipelines.settings import DATA_CAPTURE_PREFIX, PipelineSettings  # noqa: E402

QUARANTINE_ZONE = "quarantine"  # s3://bucket/prefix/quarantine/: the quarantine table (rejected rows, with reasons)
PROCESSING = "/opt/ml/processing"
THROTTLING_RETRY = StepRetryPolicy(
    exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
    interval_seconds=10, backoff_rate=2.0, max_attempts=5)
CAPACITY_RETRY = SageMakerJobStepRetryPolicy(
    exception_types=[SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT, SageMakerJobExceptionTypeEnum.CAPACITY_ERROR],
    failure_reason_types=[SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
    interval_seconds=60, backoff_rate=2.0, max_attempts=3)
JOB_RETRIES = [THROTTLING_RETRY, CAPACITY_RETRY]


@dataclass(frozen=True)
class Jobs:
    """What every job of one pipeline shares: settings, session, and the image, KMS key and processing
    instance type (pipeline parameters)."""
    settings: PipelineSettings
    session: PipelineSession
    image_uri: object
    kms_key: object
    processing_type: object

    @property
    def vpc(self) -> dict:
        """VPC config keyword arguments (empty when no subnets are set)."""
        settings = self.settings
        return {"subnets": list(settings.subnets), "security_group_ids": list(settings.security_group_ids)} \
            if settings.subnets else {}

    def zone(self, *parts: str) -> Join:
        """s3://bucket/prefix/executions/<execution id>/<zone>: one prefix per execution (DESIGN.md zones)."""
        return Join(on="/", values=[f"s3://{self.settings.bucket}/{self.settings.prefix}/executions",
                                    ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    def processor(self, command: str, instance_count=1, instance_type=None, image_uri=None) -> Processor:
        """A processing job running `tweetops <command>` in the image (or `image_uri`), on the processing
        instance type (or `instance_type`)."""
        return Processor(
            role=self.settings.role_arn, image_uri=image_uri or self.image_uri, entrypoint=["tweetops", command],
            instance_count=instance_count, instance_type=instance_type or self.processing_type, volume_size_in_gb=30,
            volume_kms_key=self.kms_key, output_kms_key=self.kms_key, max_runtime_in_seconds=4 * 3600,
            base_job_name=f"tweetops-{command}", env={"PYTHONHASHSEED": "0"},
            network_config=NetworkConfig(enable_network_isolation=self.settings.network_isolation,
                                         encrypt_inter_container_traffic=True, **self.vpc),
            tags=self.settings.all_tags(), sagemaker_session=self.session)

    def batch_transform(self, model_name, data, output_path, instance_type, base_name: str, capture: bool = False):
        """Step arguments of a batch transform over JSON Lines: split by line, packed into 6 MB payloads,
        assembled by line, on `transform_instance_count` instances (a build-time setting: see docs). With
        `capture`, inputs and outputs are also captured where a Model Monitor schedule reads them
        (settings.model_monitor; docs/monitoring.md)."""
        capture_config = BatchDataCaptureConfig(
            destination_s3_uri=f"s3://{self.settings.bucket}/{self.settings.prefix}/{DATA_CAPTURE_PREFIX}/",
            kms_key_id=self.kms_key, generate_inference_id=True) if capture else None
        return Transformer(
            model_name=model_name, instance_count=self.settings.transform_instance_count,
            instance_type=instance_type, strategy="MultiRecord", assemble_with="Line",
            accept="application/jsonlines", max_payload=6, output_path=output_path,
            output_kms_key=self.kms_key, volume_kms_key=self.kms_key, base_transform_job_name=base_name,
            tags=self.settings.all_tags(), sagemaker_session=self.session,
        ).transform(data=data, data_type="S3Prefix", content_type="application/jsonlines", split_type="Line",
                    batch_data_capture_config=capture_config)

    def output(self, name: str, local: str, *zone_parts: str) -> ProcessingOutput:
        """Output `name` from /opt/ml/processing/output/<local> to the execution's zone."""
        return self._output(name, local, self.zone(*zone_parts))

    def table_output(self, name: str, local: str, zone: str) -> ProcessingOutput:
        """Output `name` to a table's zone s3://bucket/prefix/<zone>/, which every execution shares: the job writes
        date=<day>/<execution id>.parquet under its folder, and an upload adds files, never removes them."""
        return self._output(name, local, f"s3://{self.settings.bucket}/{self.settings.prefix}/{zone}/")

    def quarantine_output(self) -> ProcessingOutput:
        """The quarantine table's files, to s3://bucket/prefix/quarantine/: a zone of its own (not inside the
        execution's folder) so a lifecycle rule can expire it (infra/storage.py)."""
        return self.table_output("quarantine", "quarantine", QUARANTINE_ZONE)

    def rejected_rows_output(self) -> ProcessingOutput:
        """A cached Validate step's quarantine.jsonl (rejected rows), to s3://bucket/prefix/quarantine/<execution
        id>/: under the quarantine zone, so the same lifecycle rule expires it."""
        return self._output("quarantine", "quarantine", Join(on="/", values=[
            f"s3://{self.settings.bucket}/{self.settings.prefix}/{QUARANTINE_ZONE}",
            ExecutionVariables.PIPELINE_EXECUTION_ID]))

    def _output(self, name: str, local: str, uri) -> ProcessingOutput:
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=uri, local_path=f"{PROCESSING}/output/{local}", s3_upload_mode="EndOfJob"))


def channel(name: str, uri, distribution: str = "FullyReplicated") -> ProcessingInput:
    """Input `name` from an S3 prefix to /opt/ml/processing/input/<name>."""
    return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
        s3_uri=uri, local_path=f"{PROCESSING}/input/{name}", s3_data_type="S3Prefix", s3_input_mode="File",
        s3_data_distribution_type=distribution))


def output_uri(step: ProcessingStep, name: str):
    """The S3 URI a processing step's output `name` was uploaded to."""
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri
