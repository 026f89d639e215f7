"""Who may do what: the SageMaker execution role, one role per persona, and the CI deploy role (GitHub OIDC).

Every statement names the project's resources; where AWS offers no resource-level permission (list calls, ECR's
authorization token, PutMetricData) the wildcard is bounded by a condition or is read-only, and says so. The
persona matrix (docs/infrastructure.md) is the `PERSONAS` table below; tests/infra/test_personas.py checks it.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import EstateConfig
from infra.nag import acknowledge
from infra.registry import Registry
from infra.storage import Storage

PERSONAS = ("DataScientist", "DataEngineer", "MLEngineer", "Analyst", "Admin")
GITHUB_OIDC = "token.actions.githubusercontent.com"
SAGEMAKER_IMAGES_ACCOUNT = "683313688378"  # AWS's account of the SageMaker framework images in us-east-1 and others
# Zones each persona reads and writes (top-level zones and every execution's zones, storage.ZONES/EXECUTION_ZONES).
READS = {
    "DataScientist": ("processed", "pseudo-labeled", "features", "clusters", "evaluation", "monitoring", "reports",
                      "predictions", "new-data", "evolution", "category-maps", "novelty-queue", "quality-reports",
                      "monitoring-metrics", "category-map-versions"),
    "DataEngineer": ("raw", "incoming", "ingested", "quarantine", "processed", "reports", "quality-reports"),
    "MLEngineer": ("evaluation", "monitoring", "reports", "predictions", "category-maps", "model", "quality-reports",
                   "monitoring-metrics", "category-map-versions"),
    "Analyst": ("clusters", "reports", "monitoring", "evolution", "category-maps", "new-data", "novelty-queue",
                "monitoring-metrics", "category-map-versions"),
}
WRITES = {
    "DataScientist": ("empty",),  # `pipeline upsert` writes the intentionally empty input the optional channels use
    "DataEngineer": ("raw", "incoming", "ingested", "quarantine", "processed"),
    "MLEngineer": (),
    "Analyst": ("category-maps",),  # reviewed maps; decisions files go into evolution/<id>/ (below)
}
PIPELINE_READ = ["sagemaker:DescribePipeline", "sagemaker:DescribePipelineDefinitionForExecution",
                 "sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutions",
                 "sagemaker:ListPipelineExecutionSteps", "sagemaker:ListPipelineParametersForExecution"]
PACKAGE_READ = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"]
# List calls without resource-level permissions (the service authorization reference lists no resource type).
LIST_ONLY = ["sagemaker:ListPipelines", "sagemaker:ListModelPackageGroups", "sagemaker:ListProcessingJobs",
             "sagemaker:ListTrainingJobs", "sagemaker:ListTransformJobs", "sagemaker:Search",
             "cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
             "cloudformation:ListStacks"]

_PERSONA_WILDCARDS = ("Zones are object key patterns under the project prefix (<prefix>/executions/*/<zone>/*: "
                      "every execution's zone); pipeline executions and model packages are named by SageMaker; "
                      "list and metric-read calls have no resource-level permissions; Admin's service wildcards "
                      "are bound to the project's own resources")


@dataclass
class Roles:
    """The roles the stack creates."""
    execution: iam.Role
    personas: dict[str, iam.Role]
    deploy: iam.Role
    diff: iam.Role


class Identity(Construct):
    """The execution role, the persona roles and the CI deploy role."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, storage: Storage,
                 registry: Registry) -> None:
        super().__init__(scope, construct_id)
        self.config, self.storage, self.registry = config, storage, registry
        stack = Stack.of(self)
        self.stack = stack
        self.pipeline_arns = {name: stack.format_arn(service="sagemaker", resource="pipeline", resource_name=name)
                              for name in (config.training_pipeline, config.inference_pipeline,
                                           config.evolution_pipeline)}
        self.execution = self._execution_role()
        personas = {name: self._persona(name) for name in PERSONAS}
        provider_arn = config.github_oidc_provider_arn or iam.CfnOIDCProvider(
            self, "GitHubOidc", url=f"https://{GITHUB_OIDC}", client_id_list=["sts.amazonaws.com"]).attr_arn
        self.roles = Roles(self.execution, personas, self._deploy_role(provider_arn), self._diff_role(provider_arn))
        registry.restrict_approvals([personas["MLEngineer"].role_arn, personas["Admin"].role_arn])

    # --- helpers ------------------------------------------------------------------------------------------------
    def _zone_statements(self, reads: tuple[str, ...], writes: tuple[str, ...]) -> list[iam.PolicyStatement]:
        """Object reads and writes in the named zones, listing only under the project prefix, and the key for both."""
        prefix, bucket, key = self.config.prefix, self.storage.data_bucket, self.storage.key
        statements = [iam.PolicyStatement(
            sid="ListTheProjectPrefix", actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[bucket.bucket_arn], conditions={"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}})]
        if reads:
            statements.append(iam.PolicyStatement(
                sid="ReadZones", actions=["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"],
                resources=[self.storage.zone_arn(prefix, zone) for zone in sorted(set(reads) | set(writes))]))
        if writes:
            statements.append(iam.PolicyStatement(
                sid="WriteZones", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[self.storage.zone_arn(prefix, zone) for zone in sorted(writes)]))
        # Through S3 only: the key decrypts the zones' objects, not anything else it may protect.
        statements.append(iam.PolicyStatement(
            sid="UseTheKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{self.stack.region}.amazonaws.com"}}))
        return statements

    def _pass_execution_role(self) -> iam.PolicyStatement:
        """iam:PassRole of the execution role, to SageMaker only (upsert and start hand it to the pipeline)."""
        return iam.PolicyStatement(sid="PassTheExecutionRoleToSageMaker", actions=["iam:PassRole"],
                                   resources=[self.execution.role_arn],
                                   conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})

    def _policy(self, name: str, role: iam.Role, statements: list[iam.PolicyStatement], reason: str) -> iam.ManagedPolicy:
        policy = iam.ManagedPolicy(self, f"{name}Policy", statements=statements, roles=[role],
                                   description=f"tweetops {self.config.environment}: {name}")
        acknowledge(policy, "AwsSolutions-IAM5", reason)
        return policy

    # --- the execution role ------------------------------------------------------------------------------------
    def _execution_role(self) -> iam.Role:
        config, stack, storage, registry = self.config, self.stack, self.storage, self.registry
        role = iam.Role(self, "SageMakerExecution", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description=f"tweetops {config.environment}: pipelines and their jobs")
        job_arns = [stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                    for kind in ("processing-job", "training-job", "transform-job", "model")]
        self._policy("Execution", role, [
            iam.PolicyStatement(sid="ListTheProjectPrefix", actions=["s3:ListBucket", "s3:GetBucketLocation"],
                                resources=[storage.data_bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{config.prefix}/*", config.prefix]}}),
            iam.PolicyStatement(sid="ReadWriteTheProjectPrefix",
                                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                                resources=[storage.data_bucket.arn_for_objects(f"{config.prefix}/*")]),
            iam.PolicyStatement(sid="UseTheKey", actions=["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*",
                                                          "kms:GenerateDataKey*", "kms:DescribeKey"],
                                resources=[storage.key.key_arn]),
            # Jobs attach the key to their volumes through grants that only AWS services may use.
            iam.PolicyStatement(sid="GrantTheKeyToJobVolumes", actions=["kms:CreateGrant"],
                                resources=[storage.key.key_arn],
                                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            iam.PolicyStatement(sid="PullTheImage", actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                                             "ecr:BatchCheckLayerAvailability"],
                                resources=[registry.repository.repository_arn]),
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(sid="JobLogs", actions=["logs:CreateLogGroup", "logs:CreateLogStream",
                                                        "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                resources=[stack.format_arn(service="logs", resource="log-group",
                                                            resource_name="/aws/sagemaker/*",
                                                            arn_format=ArnFormat.COLON_RESOURCE_NAME)]),
            iam.PolicyStatement(sid="PublishMetricsToOwnNamespaces", actions=["cloudwatch:PutMetricData"],
                                resources=["*"], conditions={"StringLike": {"cloudwatch:namespace": [
                                    "tweetops", "/aws/sagemaker/*"]}}),
            iam.PolicyStatement(sid="RunTheJobs", actions=[
                "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                "sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel", "sagemaker:AddTags"],
                resources=job_arns),
            iam.PolicyStatement(sid="RegisterModels", actions=["sagemaker:CreateModelPackage", *PACKAGE_READ,
                                                               "sagemaker:AddTags"],
                                resources=[registry.group_arn, registry.package_arn()]),
            iam.PolicyStatement(sid="AnnounceProposals", actions=["sqs:SendMessage"],
                                resources=[stack.format_arn(service="sqs", resource=f"{config.evolution_pipeline}-review",
                                                            arn_format=ArnFormat.NO_RESOURCE_NAME)]),
            iam.PolicyStatement(sid="PassItselfToJobs", actions=["iam:PassRole"], resources=[role.role_arn],
                                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
        ], "Objects under the project prefix of the project bucket only; job, model and log-group names are generated "
           "by SageMaker Pipelines (pipelines-<id>-...), so their ARNs end in a wildcard; ecr:GetAuthorizationToken "
           "and cloudwatch:PutMetricData have no resource-level permissions (the latter is bound to the tweetops and "
           "SageMaker namespaces by condition)")
        return role

    # --- personas ----------------------------------------------------------------------------------------------
    def _persona(self, name: str) -> iam.Role:
        """A role people assume (with MFA) or, for Studio users, SageMaker assumes; its policy is the persona's row."""
        people = iam.AccountRootPrincipal().with_conditions({"Bool": {"aws:MultiFactorAuthPresent": "true"}})
        role = iam.Role(self, name, assumed_by=people, max_session_duration=Duration.hours(4),
                        description=f"tweetops {self.config.environment}: {name} persona (docs/infrastructure.md)")
        if name in ("DataScientist", "Analyst"):  # SageMaker Studio user profiles run with these roles
            role.assume_role_policy.add_statements(iam.PolicyStatement(
                actions=["sts:AssumeRole"], principals=[iam.ServicePrincipal("sagemaker.amazonaws.com")],
                conditions={"StringEquals": {"aws:SourceAccount": self.stack.account}}))
        statements = [*getattr(self, f"_{name.lower()}_statements")(), *self._query_statements(name)]
        self._policy(name, role, statements, _PERSONA_WILDCARDS)
        return role

    def _query_statements(self, persona: str) -> list[iam.PolicyStatement]:
        """Athena in the persona's own workgroup over the catalog's tables, results in its own prefix. Athena reads
        the zones with the persona's credentials: a table over a zone the persona may not read returns an error."""
        from infra.catalog import results_prefix, workgroup_name

        stack, database = self.stack, self.config.catalog_database
        results = self.storage.data_bucket.arn_for_objects(f"{self.config.prefix}/{results_prefix(persona)}*")
        return [
            iam.PolicyStatement(sid="QueryInItsWorkGroup", actions=[
                "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
                "athena:GetQueryResults", "athena:GetQueryResultsStream", "athena:GetWorkGroup",
                "athena:ListQueryExecutions"],
                resources=[stack.format_arn(service="athena", resource="workgroup",
                                            resource_name=workgroup_name(self.config, persona))]),
            iam.PolicyStatement(sid="ReadTheCatalog", actions=[
                "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition",
                "glue:GetPartitions", "glue:BatchGetPartition"],
                resources=[stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
                           stack.format_arn(service="glue", resource="database", resource_name=database),
                           stack.format_arn(service="glue", resource="table", resource_name=f"{database}/*")]),
            iam.PolicyStatement(sid="ItsQueryResults", actions=["s3:GetObject", "s3:PutObject",
                                                                "s3:AbortMultipartUpload"],
                                resources=[results]),
            iam.PolicyStatement(sid="ItsQueryResultsBucket", actions=["s3:GetBucketLocation", "s3:ListBucket"],
                                resources=[self.storage.data_bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{self.config.prefix}/"
                                                                         f"{results_prefix(persona)}*"]}}),
        ]

    def _datascientist_statements(self) -> list[iam.PolicyStatement]:
        return [
            *self._zone_statements(READS["DataScientist"], WRITES["DataScientist"]),
            iam.PolicyStatement(sid="UpsertAndStartPipelines", actions=[
                "sagemaker:CreatePipeline", "sagemaker:UpdatePipeline", "sagemaker:StartPipelineExecution",
                "sagemaker:StopPipelineExecution", "sagemaker:RetryPipelineExecution", "sagemaker:AddTags",
                *PIPELINE_READ], resources=self._pipeline_resources()),
            iam.PolicyStatement(sid="ReadModelPackages", actions=PACKAGE_READ,
                                resources=[self.registry.group_arn, self.registry.package_arn()]),
            iam.PolicyStatement(sid="ListAndReadMetrics", actions=LIST_ONLY, resources=["*"]),
            self._read_stack_outputs(),
            self._pass_execution_role(),
            # Approval is the ML engineer's: refused here even if another policy is attached to this role later.
            iam.PolicyStatement(sid="NeverApproveModels", effect=iam.Effect.DENY,
                                actions=["sagemaker:UpdateModelPackage"], resources=["*"]),
        ]

    def _dataengineer_statements(self) -> list[iam.PolicyStatement]:
        stack, catalog = self.stack, self.config.catalog_database
        return [
            *self._zone_statements(READS["DataEngineer"], WRITES["DataEngineer"]),
            iam.PolicyStatement(sid="TheProjectCatalog", actions=[
                "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition",
                "glue:GetPartitions", "glue:BatchGetPartition", "glue:CreateTable", "glue:UpdateTable",
                "glue:BatchCreatePartition", "glue:CreatePartition", "glue:UpdatePartition"],
                resources=[stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
                           stack.format_arn(service="glue", resource="database", resource_name=catalog),
                           stack.format_arn(service="glue", resource="table", resource_name=f"{catalog}/*")]),
            iam.PolicyStatement(sid="ListAndReadMetrics", actions=LIST_ONLY, resources=["*"]),
            self._read_stack_outputs(),
            iam.PolicyStatement(sid="NeverApproveModels", effect=iam.Effect.DENY,
                                actions=["sagemaker:UpdateModelPackage"], resources=["*"]),
        ]

    def _mlengineer_statements(self) -> list[iam.PolicyStatement]:
        inference = self.pipeline_arns[self.config.inference_pipeline]
        return [
            *self._zone_statements(READS["MLEngineer"], WRITES["MLEngineer"]),
            iam.PolicyStatement(sid="ApproveOrRejectModelPackages",
                                actions=["sagemaker:UpdateModelPackage", *PACKAGE_READ],
                                resources=[self.registry.group_arn, self.registry.package_arn()]),
            iam.PolicyStatement(sid="StartInference", actions=["sagemaker:StartPipelineExecution", *PIPELINE_READ],
                                resources=[inference, f"{inference}/execution/*"]),
            iam.PolicyStatement(sid="ReadPipelines", actions=PIPELINE_READ, resources=self._pipeline_resources()),
            iam.PolicyStatement(sid="ListAndReadMetrics", actions=LIST_ONLY, resources=["*"]),
            self._read_stack_outputs(),
            self._pass_execution_role(),
        ]

    def _analyst_statements(self) -> list[iam.PolicyStatement]:
        return [
            *self._zone_statements(READS["Analyst"], WRITES["Analyst"]),
            # The review: a decisions file uploaded beside a proposal is what the review handler applies.
            iam.PolicyStatement(sid="UploadReviewDecisions", actions=["s3:PutObject"], resources=[
                self.storage.data_bucket.arn_for_objects(f"{self.config.prefix}/evolution/*/decisions.{suffix}")
                for suffix in ("yaml", "yml", "json")]),
            iam.PolicyStatement(sid="ReadModelPackages", actions=PACKAGE_READ,
                                resources=[self.registry.group_arn, self.registry.package_arn()]),
            self._read_stack_outputs(),
            iam.PolicyStatement(sid="NeverApproveModels", effect=iam.Effect.DENY,
                                actions=["sagemaker:UpdateModelPackage"], resources=["*"]),
        ]

    def _admin_statements(self) -> list[iam.PolicyStatement]:
        """Everything on the project's own resources, nothing beyond them."""
        storage, stack = self.storage, self.stack
        return [
            iam.PolicyStatement(sid="TheProjectBuckets", actions=["s3:*"], resources=[
                storage.data_bucket.bucket_arn, storage.data_bucket.arn_for_objects("*"),
                storage.log_bucket.bucket_arn, storage.log_bucket.arn_for_objects("*")]),
            iam.PolicyStatement(sid="TheProjectKey", actions=["kms:*"], resources=[storage.key.key_arn]),
            iam.PolicyStatement(sid="TheProjectPipelinesAndModels", actions=["sagemaker:*"], resources=[
                *self._pipeline_resources(), self.registry.group_arn, self.registry.package_arn(),
                *[stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                  for kind in ("processing-job", "training-job", "transform-job", "model",
                               "monitoring-schedule", "data-quality-job-definition")]]),
            iam.PolicyStatement(sid="TheProjectCatalog", actions=["glue:*"], resources=[
                stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
                stack.format_arn(service="glue", resource="database", resource_name=self.config.catalog_database),
                stack.format_arn(service="glue", resource="table", resource_name=f"{self.config.catalog_database}/*")]),
            iam.PolicyStatement(sid="TheProjectImages", actions=["ecr:*"],
                                resources=[self.registry.repository.repository_arn]),
            iam.PolicyStatement(sid="TheProjectStack", actions=["cloudformation:*"], resources=[
                stack.format_arn(service="cloudformation", resource="stack",
                                 resource_name=f"{self.config.stack_name}/*")]),
            iam.PolicyStatement(sid="ListAndReadMetrics", actions=LIST_ONLY, resources=["*"]),
            self._pass_execution_role(),
        ]

    def _pipeline_resources(self) -> list[str]:
        """The three pipelines and their executions."""
        return [arn for base in self.pipeline_arns.values() for arn in (base, f"{base}/execution/*")]

    def _read_stack_outputs(self) -> iam.PolicyStatement:
        """cloudformation:DescribeStacks of this stack: the CLI reads its outputs (role, bucket, key, topic)."""
        return iam.PolicyStatement(sid="ReadTheStackOutputs", actions=["cloudformation:DescribeStacks"],
                                   resources=[self.stack.stack_id])

    # --- CI ------------------------------------------------------------------------------------------------------
    def _github(self, provider_arn: str, subjects: list[str]) -> iam.FederatedPrincipal:
        """GitHub Actions of the configured repository, for the given token subjects (OIDC: no stored keys)."""
        repository = self.config.github_repository
        return iam.FederatedPrincipal(provider_arn, {
            "StringEquals": {f"{GITHUB_OIDC}:aud": "sts.amazonaws.com"},
            "StringLike": {f"{GITHUB_OIDC}:sub": [f"repo:{repository}:{subject}" for subject in subjects]}},
            "sts:AssumeRoleWithWebIdentity")

    def _deploy_role(self, provider_arn: str) -> iam.Role:
        """The role the release and deploy workflows assume: the main branch and the `production` environment only."""
        config, stack = self.config, self.stack
        role = iam.Role(
            self, "CiDeploy", max_session_duration=Duration.hours(1),
            description=f"tweetops {config.environment}: GitHub Actions of {config.github_repository} (OIDC)",
            assumed_by=self._github(provider_arn, ["ref:refs/heads/main", "environment:production"]))
        bootstrap_roles = stack.format_arn(service="iam", region="", resource="role",
                                           resource_name="cdk-hnb659fds-*")
        self._policy("CiDeploy", role, [
            iam.PolicyStatement(sid="PushImages", actions=[
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages",
                "ecr:GetDownloadUrlForLayer"], resources=[self.registry.repository.repository_arn]),
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            # The job image builds FROM SageMaker's scikit-learn image (docker/Dockerfile), in AWS's own account.
            iam.PolicyStatement(sid="PullTheBaseImage", actions=[
                "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[f"arn:{stack.partition}:ecr:*:{SAGEMAKER_IMAGES_ACCOUNT}:repository/sagemaker-scikit-learn"]),
            iam.PolicyStatement(sid="UpsertPipelines", actions=["sagemaker:CreatePipeline", "sagemaker:UpdatePipeline",
                                                                "sagemaker:AddTags", *PIPELINE_READ],
                                resources=self._pipeline_resources()),
            iam.PolicyStatement(sid="WriteTheEmptyInput", actions=["s3:PutObject"],
                                resources=[self.storage.zone_arn(config.prefix, "empty")]),
            iam.PolicyStatement(sid="UseTheKeyThroughS3", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                resources=[self.storage.key.key_arn],
                                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}),
            self._read_stack_outputs(),
            self._pass_execution_role(),
            # `cdk diff` and `cdk deploy` work through the CDK bootstrap roles of the account.
            iam.PolicyStatement(sid="AssumeCdkBootstrapRoles", actions=["sts:AssumeRole"], resources=[bootstrap_roles]),
        ], "ECR's authorization token has no resource-level permission; CDK's bootstrap roles are named "
           "cdk-hnb659fds-<purpose>-<account>-<region>; pipeline executions are named by SageMaker; the base image's "
           "repository is in each region SageMaker serves it from")
        return role

    def _diff_role(self, provider_arn: str) -> iam.Role:
        """The role pull requests assume for `cdk diff`: reads the stack and assumes CDK's read-only lookup role;
        it cannot deploy, push or upsert (a pull request runs code nobody has approved yet)."""
        config, stack = self.config, self.stack
        role = iam.Role(
            self, "CiDiff", max_session_duration=Duration.hours(1),
            description=f"tweetops {config.environment}: pull requests of {config.github_repository} (OIDC, read-only)",
            assumed_by=self._github(provider_arn, ["pull_request"]))
        self._policy("CiDiff", role, [
            iam.PolicyStatement(sid="ReadTheStack", actions=["cloudformation:DescribeStacks",
                                                             "cloudformation:GetTemplate",
                                                             "cloudformation:ListStackResources"],
                                resources=[stack.stack_id]),
            iam.PolicyStatement(sid="AssumeCdkLookupRole", actions=["sts:AssumeRole"], resources=[
                stack.format_arn(service="iam", region="", resource="role", resource_name="cdk-hnb659fds-lookup-role-*")]),
        ], "CDK's lookup role is named cdk-hnb659fds-lookup-role-<account>-<region>")
        return role
