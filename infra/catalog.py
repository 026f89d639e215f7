"""SQL over the zones on AWS: the Glue database with one table per processing.catalog table (partition projection:
no crawler, a new day is queryable when its first file lands) and the Athena workgroup people query it from
(results encrypted with the key, settings enforced, a scan limit per query). The same names and SQL work locally
with `tweetops query` (DuckDB)."""
from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from constructs import Construct

from infra.config import EstateConfig
from infra.storage import Storage
from processing.catalog import DATE_PARTITION, EXECUTION_PARTITION, TABLES, Table

PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
FIRST_DAY = "2020-01-01"  # the projected date range starts here and ends today (NOW)
RESULTS_ZONE = "athena-results"
SCAN_LIMIT_BYTES = 100 * 1024 ** 3  # a query scanning more is cancelled (100 GB, about $0.50)


class Catalog(Construct):
    """`database`, `tables` (by name) and `workgroups` (by persona)."""

    def __init__(self, scope: Construct, construct_id: str, config: EstateConfig, storage: Storage,
                 personas: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.root = f"s3://{storage.data_bucket.bucket_name}/{config.prefix}"
        self.database = glue.CfnDatabase(self, "Database", catalog_id=stack.account, database_input={
            "name": config.catalog_database,
            "description": f"tweetops {config.environment}: the storage zones as tables (docs/tables.md)"})
        self.tables = {name: self._table(config, stack, table) for name, table in TABLES.items()}
        self.workgroups = {persona: self._workgroup(config, storage, persona) for persona in personas}

    def _workgroup(self, config: EstateConfig, storage: Storage, persona: str) -> athena.CfnWorkGroup:
        """The persona's workgroup: its own results prefix (results can hold what other personas may not read),
        encrypted with the key, settings enforced, a scan limit per query."""
        return athena.CfnWorkGroup(
            self, f"{persona}WorkGroup", name=workgroup_name(config, persona), state="ENABLED",
            description=f"tweetops {config.environment}: {persona} queries over {config.catalog_database}",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True, publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=SCAN_LIMIT_BYTES,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="AUTO"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"{self.root}/{results_prefix(persona)}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=storage.key.key_arn))))

    def _table(self, config: EstateConfig, stack: Stack, table: Table) -> glue.CfnTable:
        """A Glue table of `table`: Parquet under its zone, the partition projected."""
        if table.partition == EXECUTION_PARTITION:
            # One training execution's files: name it in the query (WHERE execution = '...').
            projection = {f"projection.{EXECUTION_PARTITION}.type": "injected"}
            location = f"{self.root}/executions/"
        else:
            projection = {f"projection.{DATE_PARTITION}.type": "date",
                          f"projection.{DATE_PARTITION}.format": "yyyy-MM-dd",
                          f"projection.{DATE_PARTITION}.range": f"{FIRST_DAY},NOW",
                          f"projection.{DATE_PARTITION}.interval": "1",
                          f"projection.{DATE_PARTITION}.interval.unit": "DAYS"}
            location = f"{self.root}/{table.zone}/"
        resource = glue.CfnTable(self, table.name, catalog_id=stack.account, database_name=config.catalog_database,
                                 table_input=glue.CfnTable.TableInputProperty(
            name=table.name, description=table.description, table_type="EXTERNAL_TABLE",
            parameters={"classification": "parquet", "projection.enabled": "true",
                        "storage.location.template": f"{self.root}/{table.location_template}", **projection},
            partition_keys=[glue.CfnTable.ColumnProperty(name=table.partition, type="string")],
            storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                location=location, input_format=PARQUET["input_format"], output_format=PARQUET["output_format"],
                serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=PARQUET["serde"]),
                columns=[glue.CfnTable.ColumnProperty(name=column.name, type=column.type, comment=column.comment)
                         for column in table.columns])))
        resource.node.add_dependency(self.database)  # the database first
        return resource


def workgroup_name(config: EstateConfig, persona: str) -> str:
    """`tweetops-<env>-<persona>`: the Athena workgroup a persona queries in."""
    return f"tweetops-{config.environment}-{persona.lower()}"


def results_prefix(persona: str) -> str:
    """Where a persona's query results go, under the prefix."""
    return f"{RESULTS_ZONE}/{persona.lower()}/"
