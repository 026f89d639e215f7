"""Specification of SQL over the zones on AWS: every table of processing/catalog.py is a Glue table with the same
columns and types over its zone, partitions projected (no crawler); each persona queries in its own Athena
workgroup, whose results are encrypted with the key in a prefix only that persona reads."""
from __future__ import annotations

import pytest

from processing.catalog import DATE_PARTITION, EXECUTION_PARTITION, TABLES
from tests.infra.iam import ACCOUNT, REGION, Policies

pytestmark = pytest.mark.xdist_group("infra")

PERSONAS = ("DataScientist", "DataEngineer", "MLEngineer", "Analyst", "Admin")


def glue_tables(synthesized) -> dict[str, dict]:
    return {resource["Properties"]["TableInput"]["Name"]: resource["Properties"]
            for resource in synthesized.resources("AWS::Glue::Table").values()}


def test_every_catalog_table_is_a_glue_table_with_the_same_columns_and_types(synthesized):
    tables = glue_tables(synthesized)
    assert sorted(tables) == sorted(TABLES)
    for name, table in TABLES.items():
        properties = tables[name]
        assert properties["DatabaseName"] == "tweetops_dev"
        descriptor = properties["TableInput"]["StorageDescriptor"]
        assert [(column["Name"], column["Type"]) for column in descriptor["Columns"]] == [
            (column.name, column.type) for column in table.columns]
        assert properties["TableInput"]["PartitionKeys"] == [{"Name": table.partition, "Type": "string"}]
        assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


def test_partitions_are_projected_from_the_zone_layout_with_no_crawler(synthesized):
    iam = Policies(synthesized.template)
    assert synthesized.resources("AWS::Glue::Crawler") == {}
    for name, table in TABLES.items():
        parameters = iam.resolve(glue_tables(synthesized)[name]["TableInput"]["Parameters"])
        assert parameters["projection.enabled"] == "true"
        template = parameters["storage.location.template"]
        assert template.startswith("s3://") and template.endswith(f"/tweetops/{table.location_template}")
        if table.partition == DATE_PARTITION:
            assert template.endswith(f"/tweetops/{table.zone}/date=${{date}}/")
            assert parameters["projection.date.type"] == "date" and parameters["projection.date.format"] == "yyyy-MM-dd"
            assert parameters["projection.date.range"].endswith(",NOW")
        else:
            assert table.partition == EXECUTION_PARTITION and parameters["projection.execution.type"] == "injected"


def test_each_persona_queries_in_its_own_workgroup_with_encrypted_enforced_results(synthesized):
    (key,) = synthesized.resources("AWS::KMS::Key")
    workgroups = {resource["Properties"]["Name"]: resource["Properties"]
                  for resource in synthesized.resources("AWS::Athena::WorkGroup").values()}
    assert sorted(workgroups) == sorted(f"tweetops-dev-{persona.lower()}" for persona in PERSONAS)
    iam = Policies(synthesized.template)
    for name, properties in workgroups.items():
        configuration = properties["WorkGroupConfiguration"]
        assert configuration["EnforceWorkGroupConfiguration"] is True
        assert configuration["BytesScannedCutoffPerQuery"] > 0
        result = configuration["ResultConfiguration"]
        assert result["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [key, "Arn"]}}
        persona = name.rsplit("-", 1)[1]
        assert iam.resolve(result["OutputLocation"]).endswith(f"/tweetops/athena-results/{persona}/")


def test_a_persona_runs_queries_in_its_workgroup_only_and_reads_only_its_own_results(synthesized):
    iam = Policies(synthesized.template)
    bucket = next(name for name, resource in iam.resources.items()
                  if resource["Type"] == "AWS::S3::Bucket" and name.startswith("StorageData"))
    results = f"arn:aws:s3:::{iam.name(bucket)}/tweetops/athena-results/{{}}/q.csv"
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/tweetops-dev-{{}}"
    analyst, scientist = iam.role_id(": Analyst persona"), iam.role_id(": DataScientist persona")
    assert iam.allows(analyst, "athena:StartQueryExecution", workgroup.format("analyst"))
    assert not iam.allows(analyst, "athena:StartQueryExecution", workgroup.format("datascientist"))
    assert iam.allows(analyst, "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/tweetops_dev/predictions")
    assert iam.allows(analyst, "s3:GetObject", results.format("analyst"))
    assert not iam.allows(scientist, "s3:GetObject", results.format("analyst"))


def test_query_results_expire(synthesized):
    (name,) = [name for name in synthesized.resources("AWS::S3::Bucket") if name.startswith("StorageData")]
    rules = {rule["Id"]: rule for rule in
             synthesized.template["Resources"][name]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireQueryResults"]["Prefix"] == "tweetops/athena-results/"
