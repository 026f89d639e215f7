"""The tweetops estate as one stack, read top to bottom: key and storage, registry, identity, observability,
triggers, audit, then the outputs the CLI reads (pipelines/stack.py) and the tags on everything."""
from __future__ import annotations

from aws_cdk import CfnOutput, DefaultStackSynthesizer, Stack, Tags
from constructs import Construct

from infra.audit import Audit
from infra.catalog import Catalog
from infra.config import EstateConfig
from infra.identity import PERSONAS, Identity
from infra.nag import expand_wildcard_acknowledgements
from infra.observability import Observability
from infra.registry import Registry
from infra.storage import Storage
from infra.triggers import Triggers
from pipelines.stack import OUTPUT_SETTINGS


class TweetopsStack(Stack):
    """Everything tweetops needs around its pipelines, for one environment (dev, staging or prod)."""

    def __init__(self, scope: Construct, config: EstateConfig) -> None:
        super().__init__(scope, config.stack_name, description=f"tweetops {config.environment}: storage zones, roles "
                         "per persona, registry, triggers, alarms and audit (docs/infrastructure.md)",
                         # No bootstrap-version rule: the template deploys with plain CloudFormation too.
                         synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False))
        self.config = config
        # ------------------------------------------------------------ 1. the key and the zones
        self.storage = Storage(self, "Storage", config)
        # ------------------------------------------------------------ 2. images and the model registry
        self.registry = Registry(self, "Registry", config, self.storage.key)
        # ------------------------------------------------------------ 3. SQL over the zones, and who may do what
        self.catalog = Catalog(self, "Catalog", config, self.storage, PERSONAS)
        self.identity = Identity(self, "Identity", config, self.storage, self.registry)
        # ------------------------------------------------------------ 4. alarms, dashboard, the topic
        self.observability = Observability(self, "Observability", config, self.storage.key)
        # ------------------------------------------------------------ 5. what starts the pipelines
        self.triggers = Triggers(self, "Triggers", config, self.storage, self.registry, self.observability.topic)
        # ------------------------------------------------------------ 6. who did what
        self.audit = Audit(self, "Audit", config, self.storage)
        # ------------------------------------------------------------ outputs: what `tweetops` reads
        values = {
            "ExecutionRoleArn": self.identity.execution.role_arn,
            "DataBucketName": self.storage.data_bucket.bucket_name,
            "Prefix": config.prefix,
            "KmsKeyArn": self.storage.key.key_arn,
            "ImageRepositoryUri": self.registry.repository.repository_uri,
            "ReviewQueueUrl": self.triggers.review_queue.queue_url,
            "ModelPackageGroupName": config.model_package_group,
            "TrainingPipelineName": config.training_pipeline,
            "InferencePipelineName": config.inference_pipeline,
            "EvolutionPipelineName": config.evolution_pipeline,
            "AlarmTopicArn": self.observability.topic.topic_arn,
        }
        assert set(values) == set(OUTPUT_SETTINGS), "every output the CLI reads, and only those"
        for name, value in values.items():
            CfnOutput(self, name, value=value, description=f"tweetops setting {OUTPUT_SETTINGS[name]}")
        CfnOutput(self, "CatalogDatabase", value=config.catalog_database, description="the Glue database of the zones")
        for name, role in self.identity.roles.personas.items():
            CfnOutput(self, f"{name}RoleArn", value=role.role_arn, description=f"the {name} persona's role")
        CfnOutput(self, "CiDeployRoleArn", value=self.identity.roles.deploy.role_arn,
                  description="set as the repository variable TWEETOPS_DEPLOY_ROLE_ARN")
        CfnOutput(self, "CiDiffRoleArn", value=self.identity.roles.diff.role_arn,
                  description="set as the repository variable TWEETOPS_DIFF_ROLE_ARN")
        for name, value in config.tags.items():
            Tags.of(self).add(name, value)
        expand_wildcard_acknowledgements(self)
