"""The evolution pipeline: the new-data zone's last WindowDays -> re-clustered in the approved model's feature
space and matched to its categories (a proposal) -> the analyst's decision -> stop, or go on (the decision's
handler has started the training pipeline with category map N+1). Reads top to bottom as the DAG it builds.

Evolve ─► AwaitReview (callback: the review queue gets the proposal, `tweetops review` / the review Lambda answers)
      ─► ReviewAccepted ─(rejected)─► ProposalRejected (Fail)
"""
from __future__ import annotations

import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK builds a client when sagemaker.mlops is imported

from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output  # noqa: E402
from sagemaker.core.workflow.conditions import ConditionEquals  # noqa: E402
from sagemaker.core.workflow.execution_variables import ExecutionVariables  # noqa: E402
from sagemaker.core.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.core.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.mlops.workflow import (CallbackOutput, CallbackStep, ConditionStep, FailStep, Pipeline,  # noqa: E402
                                      ProcessingStep)

from pipelines.settings import PipelineSettings  # noqa: E402
from pipelines.steps import JOB_RETRIES, PROCESSING, Jobs, channel, output_uri  # noqa: E402
from pipelines.training_pipeline import empty_input_uri  # noqa: E402

NEW_DATA_ZONE = "new-data"    # <prefix>/new-data/date=YYYY-MM-DD/<batch>.parquet: what the Accumulate step writes
EVOLUTION_ZONE = "evolution"  # <prefix>/evolution/<execution>/: proposal.json, report.html, clusters/, retrain/
DECISION_OUTPUTS = ("Decision", "Reason", "CategoryMapUri", "TrainingExecutionArn")  # what the decision sends back
ACCEPTED = "accepted"


def get_evolution_pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """Build the evolution pipeline for `settings` (bucket, image and review queue resolved) on a PipelineSession."""
    # ---------------------------------------------------------------- parameters (what changes per run)
    # The CLI fills the model's parameters from the approved package (pipelines.operations.evolution_parameters).
    model_package = ParameterString("ModelPackageArn", default_value="")
    new_data = ParameterString("NewDataUri", default_value=f"s3://{settings.bucket}/{settings.prefix}/{NEW_DATA_ZONE}/")
    window_days = ParameterInteger("WindowDays", default_value=28)
    as_of = ParameterString("AsOf", default_value="")  # YYYY-MM-DD; empty: the latest partition
    category_map = ParameterString("CategoryMapUri", default_value=empty_input_uri(settings))
    model_data = ParameterString("ModelDataUri", default_value=empty_input_uri(settings))
    model_sha256 = ParameterString("ModelSha256", default_value="")
    baseline_uri = ParameterString("BaselineUri", default_value=empty_input_uri(settings))
    featurizer_sha256 = ParameterString("FeaturizerSha256", default_value="")
    seed = ParameterInteger("Seed", default_value=0)
    categories = ParameterInteger("Categories", default_value=0)  # 0 = choose the grouping's cut automatically
    processing_type = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")
    kms_key = ParameterString("KmsKeyId", default_value=settings.kms_key_id)
    image_uri = ParameterString("ImageUri", default_value=settings.image_uri)
    parameters = [model_package, new_data, window_days, as_of, category_map, model_data, model_sha256, baseline_uri,
                  featurizer_sha256, seed, categories, processing_type, kms_key, image_uri]
    jobs = Jobs(settings, session, image_uri=image_uri, kms_key=kms_key, processing_type=processing_type)

    # ---------------------------------------------------------------- 1. evolve: window -> proposal
    # Not cached: NewDataUri names a zone that grows, and SageMaker's cache compares input URIs, not content.
    proposal = PropertyFile(name="Proposal", output_name="evolution", path="proposal.json")
    evolution_uri = Join(on="/", values=[f"s3://{settings.bucket}/{settings.prefix}/{EVOLUTION_ZONE}",
                                         ExecutionVariables.PIPELINE_EXECUTION_ID])
    evolve = ProcessingStep(
        name="Evolve", display_name="Re-cluster the new data and match it to the categories",
        description="The last WindowDays of the new-data zone, featurized and classified by the approved package "
                    "(verified), clustered and matched to its categories: proposal, review page, retraining input.",
        step_args=jobs.processor("evolve").run(
            inputs=[channel("new_data", new_data), channel("baseline", baseline_uri), channel("model", model_data),
                    channel("category_map", category_map)],
            outputs=[ProcessingOutput(output_name="evolution", s3_output=ProcessingS3Output(
                s3_uri=evolution_uri, local_path=f"{PROCESSING}/output/evolution", s3_upload_mode="EndOfJob"))],
            arguments=["--new-data", f"{PROCESSING}/input/new_data", "--baseline", f"{PROCESSING}/input/baseline",
                       "--model", f"{PROCESSING}/input/model", "--category-map", f"{PROCESSING}/input/category_map",
                       "--output", f"{PROCESSING}/output/evolution", "--window-days", window_days.to_string(),
                       "--as-of", as_of, "--seed", seed.to_string(), "--categories", categories.to_string(),
                       "--model-sha256", model_sha256, "--featurizer-sha256", featurizer_sha256,
                       "--model-package", model_package]),
        property_files=[proposal], retry_policies=JOB_RETRIES)
    proposal_uri = output_uri(evolve, "evolution")

    def proposal_value(path: str) -> JsonGet:
        return JsonGet(step_name=evolve.name, property_file=proposal, json_path=path)

    # ---------------------------------------------------------------- 2. wait for the analyst's decision
    # The queue's message carries these inputs and the callback token; the decision (tweetops review, or the review
    # Lambda on AWS) answers SendPipelineExecutionStepSuccess with the outputs, or ...Failure with a reason.
    await_review = CallbackStep(
        name="AwaitReview", display_name="Wait for the analyst's decision",
        description="Announces the proposal on the review queue and waits until its decision arrives.",
        sqs_queue_url=settings.review_queue_url,
        inputs={"ProposalUri": Join(on="/", values=[proposal_uri, "proposal.json"]),
                "ReportUri": Join(on="/", values=[proposal_uri, "report.html"]),
                "ProposalId": proposal_value("proposal_id"), "BaseMapHash": proposal_value("base_map.hash"),
                "ModelPackageArn": model_package},
        outputs=[CallbackOutput(output_name=name) for name in DECISION_OUTPUTS])
    decision = await_review.properties.Outputs["Decision"]

    # ---------------------------------------------------------------- 3. accepted: done; rejected: say why
    rejected = FailStep(
        name="ProposalRejected", display_name="The proposal was rejected",
        description="Stops the execution: the analyst rejected the proposal; the category map stays as it is.",
        error_message=Join(on="", values=["proposal ", proposal_value("proposal_id"), " was not accepted (decision ",
                                          decision, "): ", await_review.properties.Outputs["Reason"]]))
    review_accepted = ConditionStep(
        name="ReviewAccepted", display_name="Proposal accepted?",
        description="Ends the execution successfully when the decision is accepted (retraining has started).",
        conditions=[ConditionEquals(left=decision, right=ACCEPTED)], if_steps=[], else_steps=[rejected])

    return Pipeline(name=settings.evolution_pipeline_name, parameters=parameters,
                    steps=[evolve, await_review, review_accepted], sagemaker_session=session)
