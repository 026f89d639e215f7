"""The training pipeline: raw messages -> validated, cleaned -> features -> clusters and pseudo-labels ->
classifier -> evaluation -> quality gate -> held-out batch scores -> monitoring baseline -> registered model
(or a Fail step).

Reads top to bottom as the DAG it builds. Every job runs the tweetops image (docker/Dockerfile), whose
`tweetops <step>` entry points read and write the /opt/ml container contract; nothing is uploaded at build
time, so the same code and settings give a byte-identical definition and step caching hits.
"""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK builds a client when sagemaker.mlops is imported

from sagemaker.core.drift_check_baselines import DriftCheckBaselines  # noqa: E402
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics  # noqa: E402
from sagemaker.core.shapes import Tag  # noqa: E402
from sagemaker.core.training.configs import Compute, InputData, Networking, OutputDataConfig, StoppingCondition  # noqa: E402
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.core.workflow.execution_variables import ExecutionVariables  # noqa: E402
from sagemaker.core.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.core.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.mlops.workflow import (CacheConfig, ConditionStep, FailStep, ModelStep, Pipeline,  # noqa: E402
                                      ProcessingStep, TrainingStep, TransformStep)
from sagemaker.serve.model_builder import ModelBuilder  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402

from pipelines.settings import PipelineSettings  # noqa: E402
from pipelines.steps import JOB_RETRIES, PROCESSING, THROTTLING_RETRY, Jobs, channel, output_uri  # noqa: E402
from processing.catalog import TABLES  # noqa: E402
from processing.contract import DEFAULT_LANGUAGES  # noqa: E402
from processing.defaults import DEFAULT_FEATURIZER, FEATURIZER_NAMES  # noqa: E402
from inference import IMAGE_SERVING_DIR, SERVING_PROGRAM  # noqa: E402
from processing.artifacts import MODEL_DIGEST_VARIABLE  # noqa: E402

EMPTY_PREFIX = "empty"  # a prefix holding only a marker file: "no category map" / "no gold set"
EMBEDDING_CACHE_PREFIX = "embedding-cache"  # vectors by content hash, shared by every execution
SERVING_ENV = {  # SageMaker's scikit-learn serving stack loads our handlers from the image, never from the model
    "SAGEMAKER_PROGRAM": SERVING_PROGRAM,
    "SAGEMAKER_SUBMIT_DIRECTORY": IMAGE_SERVING_DIR,
}


def empty_input_uri(settings: PipelineSettings) -> str:
    """The placeholder input for optional channels (upsert seeds it with a marker file)."""
    return f"s3://{settings.bucket}/{settings.prefix}/{EMPTY_PREFIX}/"


def get_pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """Build the training pipeline for `settings` (bucket and image resolved) on a PipelineSession."""
    # ---------------------------------------------------------------- parameters (what changes per run)
    input_data = ParameterString("InputDataUri", default_value=f"s3://{settings.bucket}/{settings.prefix}/raw/")
    category_map = ParameterString("CategoryMapUri", default_value=empty_input_uri(settings))
    # Retraining after `tweetops review`: the evolution proposal's clusters/, so the reviewed map's clusters apply.
    assignments = ParameterString("ClusterAssignmentsUri", default_value=empty_input_uri(settings))
    gold_set = ParameterString("GoldSetUri", default_value=empty_input_uri(settings))
    seed = ParameterInteger("Seed", default_value=0)
    k = ParameterInteger("K", default_value=0)  # 0 = choose k automatically
    categories = ParameterInteger("Categories", default_value=0)  # 0 = cut the cluster hierarchy automatically
    languages = ParameterString("Languages", default_value=",".join(DEFAULT_LANGUAGES))
    featurizer = ParameterString("Featurizer", default_value=DEFAULT_FEATURIZER, enum_values=list(FEATURIZER_NAMES))
    embedding_model = ParameterString("EmbeddingModel", default_value="all-MiniLM-L6-v2")  # a name in the image
    embedding_model_uri = ParameterString("EmbeddingModelUri", default_value=empty_input_uri(settings))  # or S3
    embedding_cache = ParameterString(
        "EmbeddingCacheUri", default_value=f"s3://{settings.bucket}/{settings.prefix}/{EMBEDDING_CACHE_PREFIX}/")
    macro_f1_threshold = ParameterFloat("MacroF1Threshold", default_value=0.7)
    processing_type = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")
    processing_count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    features_type = ParameterString("FeaturesInstanceType", default_value="ml.m5.xlarge")  # a GPU type for big batches
    features_image = ParameterString("FeaturesImageUri", default_value=settings.image_uri)  # e.g. a CUDA build
    training_type = ParameterString("TrainingInstanceType", default_value="ml.m5.xlarge")
    transform_type = ParameterString("TransformInstanceType", default_value="ml.m5.xlarge")
    kms_key = ParameterString("KmsKeyId", default_value=settings.kms_key_id)
    approval_status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    image_uri = ParameterString("ImageUri", default_value=settings.image_uri)
    parameters = [input_data, category_map, assignments, gold_set, seed, k, categories, languages, featurizer,
                  embedding_model, embedding_model_uri, embedding_cache, macro_f1_threshold, processing_type, processing_count,
                  features_type, features_image, training_type, transform_type, kms_key, approval_status, image_uri]

    # ---------------------------------------------------------------- settings shared by every job
    jobs = Jobs(settings, session, image_uri=image_uri, kms_key=kms_key, processing_type=processing_type)
    tags = settings.all_tags()
    cache = CacheConfig(enable_caching=True, expire_after="P30D")

    # ---------------------------------------------------------------- 1. validate + clean (sharded by file)
    validate = ProcessingStep(
        name="ValidateClean", display_name="Validate and clean messages",
        description="Checks the message contract, quarantines bad rows with a reason, cleans text with spaCy.",
        step_args=jobs.processor("validate", instance_count=processing_count).run(
            inputs=[channel("raw", input_data, distribution="ShardedByS3Key")],
            outputs=[jobs.output("processed", "processed", "processed"), jobs.output("ingested", "ingested", "ingested"),
                     jobs.rejected_rows_output(),
                     jobs.output("reports", "reports", "reports", "validation")],
            arguments=["--input", f"{PROCESSING}/input/raw", "--output", f"{PROCESSING}/output",
                       "--languages", languages, "--clean"]),
        cache_config=cache, retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 1b. the validation into the quarantine and
    # quality_reports tables. Its own step, not cached: the execution id names the files, and in ValidateClean's
    # arguments it would make that cached step (and every step after it) run again in every execution.
    record_validation = ProcessingStep(
        name="RecordValidation", display_name="Record the validation",
        description="ValidateClean's rejected rows and counts as rows of the quarantine and quality_reports tables "
                    "(quarantine/ and quality-reports/date=YYYY-MM-DD/<execution id>.parquet; docs/tables.md).",
        step_args=jobs.processor("validation-tables").run(
            inputs=[channel("quarantine", output_uri(validate, "quarantine")),
                    channel("reports", output_uri(validate, "reports"))],
            outputs=[jobs.quarantine_output(), jobs.table_output("quality", "quality", TABLES["quality_reports"].zone)],
            arguments=["--quarantine", f"{PROCESSING}/input/quarantine", "--reports", f"{PROCESSING}/input/reports",
                       "--output", f"{PROCESSING}/output", "--run-id", ExecutionVariables.PIPELINE_EXECUTION_ID,
                       "--run-date", ExecutionVariables.START_DATETIME, "--pipeline", "training"]),
        retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 2. features (fit once, transform in shares)
    features = ProcessingStep(
        name="Features", display_name="Featurize messages",
        description="Fits the featurizer (TF-IDF+LSA, sentence embeddings, or both) on a seeded sample; each "
                    "instance transforms its share; embeddings are cached by content hash in S3.",
        step_args=jobs.processor("featurize", instance_count=processing_count, instance_type=features_type,
                                 image_uri=features_image).run(
            inputs=[channel("processed", output_uri(validate, "processed")),
                    channel("embedding_model", embedding_model_uri)],
            outputs=[jobs.output("features", "features", "features")],
            arguments=["--input", f"{PROCESSING}/input/processed", "--output", f"{PROCESSING}/output/features",
                       "--featurizer", featurizer, "--embedding-model", embedding_model,
                       "--embedding-model-dir", f"{PROCESSING}/input/embedding_model",
                       "--cache-uri", embedding_cache, "--seed", seed.to_string()]),
        cache_config=cache, retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 3. cluster -> pseudo-labels
    provenance = PropertyFile(name="Provenance", output_name="train", path="provenance.json")
    cluster = ProcessingStep(
        name="Cluster", display_name="Cluster and pseudo-label",
        description="UMAP/KMeans clusters, cluster summary, category map (given or drafted), train/test splits.",
        step_args=jobs.processor("cluster").run(
            inputs=[channel("processed", output_uri(validate, "processed")),
                    channel("features", output_uri(features, "features")),
                    channel("category_map", category_map), channel("assignments", assignments)],
            outputs=[jobs.output("clusters", "clusters", "clusters"),
                     jobs.output("train", "pseudo-labeled/train", "pseudo-labeled", "train"),
                     jobs.output("test", "pseudo-labeled/test", "pseudo-labeled", "test"),
                     jobs.output("held_out_batch", "pseudo-labeled/held-out-batch", "pseudo-labeled", "held-out-batch")],
            arguments=["--input", f"{PROCESSING}/input/processed", "--features", f"{PROCESSING}/input/features",
                       "--category-map", f"{PROCESSING}/input/category_map",
                       "--assignments", f"{PROCESSING}/input/assignments",
                       "--output", f"{PROCESSING}/output/clusters",
                       "--pseudo-labeled", f"{PROCESSING}/output/pseudo-labeled",
                       "--k", k.to_string(), "--categories", categories.to_string(), "--seed", seed.to_string()]),
        property_files=[provenance], cache_config=cache, retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 3b. the draft map into the category_maps table
    # Its own step, not cached: the execution id names the file, and in the Cluster step's arguments it would make
    # that cached step (and every step after it) run again in every execution.
    record_map = ProcessingStep(
        name="RecordCategoryMap", display_name="Record the category map version",
        description="The Cluster step's draft map as rows of the category_maps table "
                    "(category-map-versions/date=YYYY-MM-DD/<execution id>.parquet; docs/tables.md).",
        step_args=jobs.processor("record-map").run(
            inputs=[channel("clusters", output_uri(cluster, "clusters"))],
            outputs=[jobs.table_output("maps", "maps", TABLES["category_maps"].zone)],
            arguments=["--category-map", f"{PROCESSING}/input/clusters", "--output", f"{PROCESSING}/output/maps",
                       "--run-id", ExecutionVariables.PIPELINE_EXECUTION_ID,
                       "--run-date", ExecutionVariables.START_DATETIME]),
        retry_policies=JOB_RETRIES)

    # ---------------------------------------------------------------- 4. train (the image's `train` runs tweetops train)
    train = TrainingStep(
        name="Train", display_name="Train classifier",
        description="Calibrated linear classifier on the pseudo-labelled train split.",
        step_args=ModelTrainer(
            training_image=image_uri, role=settings.role_arn, base_job_name="tweetops-train",
            compute=Compute(instance_type=training_type, instance_count=1, volume_size_in_gb=30,
                            volume_kms_key_id=kms_key),
            networking=Networking(enable_network_isolation=settings.network_isolation,
                                  enable_inter_container_traffic_encryption=True, **jobs.vpc),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=4 * 3600),
            output_data_config=OutputDataConfig(s3_output_path=jobs.zone("model"), kms_key_id=kms_key),
            hyperparameters={"seed": seed.to_string()},  # hyperparameters are strings
            environment={"PYTHONHASHSEED": "0"},
            input_data_config=[InputData(channel_name="train", data_source=output_uri(cluster, "train"))],
            tags=[Tag(key=tag["Key"], value=tag["Value"]) for tag in tags], sagemaker_session=session,
        ).train(),
        cache_config=cache, retry_policies=JOB_RETRIES)
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    # ---------------------------------------------------------------- 5. evaluate -> evaluation.json (PropertyFile)
    evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(
        name="Evaluate", display_name="Evaluate classifier",
        description="Macro-F1, accuracy, per class and confusion matrix on the held-out split and the gold set.",
        step_args=jobs.processor("evaluate").run(
            inputs=[channel("model", model_data), channel("test", output_uri(cluster, "test")),
                    channel("gold", gold_set), channel("clusters", output_uri(cluster, "clusters"))],
            outputs=[jobs.output("evaluation", "evaluation", "evaluation")],
            arguments=["--model", f"{PROCESSING}/input/model", "--test", f"{PROCESSING}/input/test",
                       "--gold", f"{PROCESSING}/input/gold", "--clusters", f"{PROCESSING}/input/clusters",
                       "--output", f"{PROCESSING}/output/evaluation"]),
        property_files=[evaluation_report], cache_config=cache, retry_policies=JOB_RETRIES)
    macro_f1 = JsonGet(step_name=evaluate.name, property_file=evaluation_report,
                       json_path="multiclass_classification_metrics.macro_f1.value")
    # The classifier's sha256 as Evaluate verified it: pinned in the package and the serving model's environment,
    # so serving refuses a model.joblib changed after registration (docs/security.md).
    model_sha256 = JsonGet(step_name=evaluate.name, property_file=evaluation_report, json_path="model.sha256")

    # ---------------------------------------------------------------- 6a. gate holds: model, scores, baseline, register
    def provenance_value(path: str) -> JsonGet:
        return JsonGet(step_name=cluster.name, property_file=provenance, json_path=path)

    model_network = Networking(enable_network_isolation=True, **jobs.vpc)  # serving needs no network
    with tempfile.TemporaryDirectory(prefix="tweetops-model-builder-") as scratch:
        def serving_model(purpose: str) -> ModelBuilder:
            """The trained model in the tweetops image; one builder per use (the SDK warns on reuse). ModelBuilder
            makes a local folder even for S3 model data: keep it in a temporary one, not /tmp/sagemaker."""
            return ModelBuilder(image_uri=image_uri, s3_model_data_url=model_data,
                                env_vars={**SERVING_ENV, MODEL_DIGEST_VARIABLE: model_sha256},
                                network=model_network, role_arn=settings.role_arn, sagemaker_session=session,
                                model_path=os.path.join(scratch, purpose))

        create_model = ModelStep(
            name="CreateModel", display_name="Create model",
            description="The SageMaker Model that batch transform runs.",
            step_args=serving_model("create").build(tags=tags),
            retry_policies=[THROTTLING_RETRY])
        score_held_out = TransformStep(
            name="ScoreHeldOut", display_name="Batch-score the held-out split",
            description="Predictions on the held-out split: the baseline that monitoring compares production with.",
            step_args=jobs.batch_transform(create_model.properties.ModelName, output_uri(cluster, "held_out_batch"),
                                           jobs.zone("predictions", "held-out"), transform_type, "tweetops-score"),
            # Not cached: CreateModel names a new model every execution, so the cache key never repeats.
            retry_policies=JOB_RETRIES)
        baseline = ProcessingStep(
            name="Baseline", display_name="Monitoring baseline",
            description="What the held-out split looked like to this model: category shares, confidence, "
                        "novelty, descriptors, a reference sample of feature vectors (docs/monitoring.md).",
            step_args=jobs.processor("baseline").run(
                inputs=[channel("predictions", score_held_out.properties.TransformOutput.S3OutputPath),
                        channel("test", output_uri(cluster, "test")),
                        channel("features", output_uri(features, "features")),
                        channel("reports", output_uri(validate, "reports")), channel("model", model_data)],
                outputs=[jobs.output("baseline", "baseline", "monitoring", "baseline")],
                arguments=["--predictions", f"{PROCESSING}/input/predictions", "--test", f"{PROCESSING}/input/test",
                           "--features", f"{PROCESSING}/input/features", "--reports", f"{PROCESSING}/input/reports",
                           "--model", f"{PROCESSING}/input/model",
                           "--output", f"{PROCESSING}/output/baseline", "--seed", seed.to_string()]),
            retry_policies=JOB_RETRIES)
        baseline_uri = output_uri(baseline, "baseline")

        def baseline_file(name: str) -> MetricsSource:
            return MetricsSource(content_type="application/json", s3_uri=Join(on="/", values=[baseline_uri, name]))

        register = ModelStep(
            name="RegisterModel", display_name="Register model package",
            description="Registers the classifier for manual approval, with its metrics and provenance.",
            step_args=serving_model("register").register(
                model_package_group_name=settings.model_package_group,
                content_types=["text/csv", "application/jsonlines"], response_types=["application/jsonlines"],
                inference_instances=["ml.m5.large"], transform_instances=["ml.m5.xlarge"],
                model_metrics=ModelMetrics(model_statistics=MetricsSource(
                    content_type="application/json",
                    s3_uri=Join(on="/", values=[output_uri(evaluate, "evaluation"), "evaluation.json"]))),
                # Model Monitor's data-quality baseline (tweetops monitoring attach); our own is the whole folder.
                drift_check_baselines=DriftCheckBaselines(model_data_statistics=baseline_file("statistics.json"),
                                                          model_data_constraints=baseline_file("constraints.json")),
                approval_status=approval_status,
                description="tweetops message classifier trained on pseudo-labels",
                customer_metadata_properties={
                    "category_map_version": provenance_value("category_map.version"),
                    "category_map_hash": provenance_value("category_map.hash"),
                    "category_map_reviewed": provenance_value("category_map.reviewed"),
                    # The map itself, so the registry can show how a package's categories differ from another's.
                    "category_map_uri": Join(on="/", values=[output_uri(cluster, "clusters"), "category_map.yaml"]),
                    "input_data_hash": provenance_value("input_data_hash"),
                    "code_version": provenance_value("code_version"),
                    "model_sha256": model_sha256,
                    "featurizer_sha256": provenance_value("featurizer_sha256"),
                    "monitoring_baseline_uri": baseline_uri,
                    "seed": seed.to_string(),
                    "pipeline_execution": ExecutionVariables.PIPELINE_EXECUTION_ID,
                }),
            retry_policies=[THROTTLING_RETRY])

    # ---------------------------------------------------------------- 6b. gate fails: say why
    below_threshold = FailStep(
        name="MacroF1BelowThreshold", display_name="Quality gate failed",
        description="Stops the execution: the classifier's macro-F1 is below the threshold.",
        error_message=Join(on=" ", values=["held-out macro-F1", macro_f1, "is below the threshold",
                                           macro_f1_threshold]))

    quality_gate = ConditionStep(
        name="QualityGate", display_name="Macro-F1 quality gate",
        description="Score, baseline and register the model only when held-out macro-F1 >= MacroF1Threshold.",
        conditions=[ConditionGreaterThanOrEqualTo(left=macro_f1, right=macro_f1_threshold)],
        if_steps=[create_model, score_held_out, baseline, register], else_steps=[below_threshold])

    return Pipeline(name=settings.pipeline_name, parameters=parameters,
                    steps=[validate, record_validation, features, cluster, record_map, train, evaluate, quality_gate],
                    sagemaker_session=session)
