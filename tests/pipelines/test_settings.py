"""Specification of deployment settings: defaults < config file < TWEETOPS_* environment < flags, with
errors that name the bad setting and where it came from."""
from __future__ import annotations

import pytest

from pipelines.settings import PipelineSettings, SettingsError, load_settings, load_settings_with_sources, resolved

ROLE = "arn:aws:iam::123456789012:role/from-file"


def test_flags_beat_environment_beat_config_file_beat_defaults(tmp_path):
    config = tmp_path / "tweetops.yaml"
    config.write_text(f"role_arn: {ROLE}\nbucket: file-bucket\npipeline_name: file-name\nregion: eu-west-1\n")
    environ = {"TWEETOPS_BUCKET": "env-bucket", "TWEETOPS_PIPELINE_NAME": "env-name"}
    settings = load_settings(config, environ=environ, pipeline_name="flag-name", region=None)
    assert settings.role_arn == ROLE                 # file
    assert settings.region == "eu-west-1"            # file (flag not given)
    assert settings.bucket == "env-bucket"           # environment over file
    assert settings.pipeline_name == "flag-name"     # flag over environment
    assert settings.prefix == "tweetops"             # default


def test_the_settings_given_in_the_config_file_environment_or_flags_are_named_as_explicit(tmp_path):
    config = tmp_path / "tweetops.yaml"
    config.write_text("bucket: file-bucket\nstack_name: tweetops-prod\n")
    settings, explicit = load_settings_with_sources(config, environ={"TWEETOPS_KMS_KEY_ID": "alias/k"},
                                                    role_arn=ROLE, region=None)
    assert explicit == {"bucket", "stack_name", "kms_key_id", "role_arn"}  # region: the flag was not given
    assert settings == load_settings(config, environ={"TWEETOPS_KMS_KEY_ID": "alias/k"}, role_arn=ROLE)
    assert settings.stack_name == "tweetops-prod"
    assert load_settings_with_sources(environ={})[1] == frozenset()


def test_the_stack_is_tweetops_dev_unless_named_and_an_empty_name_reads_none():
    assert load_settings(environ={}).stack_name == "tweetops-dev"
    assert load_settings(environ={"TWEETOPS_STACK_NAME": "tweetops-staging"}).stack_name == "tweetops-staging"
    assert load_settings(environ={"TWEETOPS_STACK_NAME": "x"}, stack_name="").stack_name == ""


def test_config_file_comes_from_the_environment_when_not_given(tmp_path):
    (tmp_path / "c.json").write_text('{"role_arn": "%s", "subnets": ["s-1"], "security_group_ids": ["g-1"]}' % ROLE)
    settings = load_settings(environ={"TWEETOPS_CONFIG": str(tmp_path / "c.json")})
    assert settings.subnets == ("s-1",) and settings.security_group_ids == ("g-1",)


def test_environment_values_are_parsed_by_type():
    settings = load_settings(environ={"TWEETOPS_SUBNETS": "s-1,s-2", "TWEETOPS_SECURITY_GROUP_IDS": "g-1",
                                      "TWEETOPS_NETWORK_ISOLATION": "true", "TWEETOPS_TRANSFORM_INSTANCE_COUNT": "4",
                                      "TWEETOPS_TAGS": '{"team": "nlp"}'})
    assert settings.subnets == ("s-1", "s-2") and settings.network_isolation is True
    assert settings.transform_instance_count == 4 and dict(settings.tags) == {"team": "nlp"}


@pytest.mark.parametrize("environ, message", [
    ({"TWEETOPS_NETWORK_ISOLATION": "maybe"}, "TWEETOPS_NETWORK_ISOLATION: expected true or false"),
    ({"TWEETOPS_TRANSFORM_INSTANCE_COUNT": "two"}, "TWEETOPS_TRANSFORM_INSTANCE_COUNT: expected an integer"),
    ({"TWEETOPS_ROLE_ARN": "my-role"}, "'my-role' is not an IAM role ARN"),
    ({"TWEETOPS_SUBNETS": "s-1"}, "subnets and security_group_ids go together"),
    ({"TWEETOPS_ALARM_TOPIC_ARN": "alarms"}, "alarm_topic_arn 'alarms' is not an SNS topic ARN"),
    ({"TWEETOPS_STACK_NAME": "tweetops_dev"}, "stack_name 'tweetops_dev' is not a CloudFormation stack name"),
])
def test_bad_environment_values_are_named(environ, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=environ)


def test_config_file_errors_name_the_file_and_the_setting(tmp_path):
    (tmp_path / "bad.yaml").write_text("rol_arn: x\n")
    with pytest.raises(SettingsError, match="bad.yaml: unknown setting\\(s\\) \\['rol_arn'\\]"):
        load_settings(tmp_path / "bad.yaml", environ={})
    with pytest.raises(SettingsError, match="missing.yaml: config file not found"):
        load_settings(tmp_path / "missing.yaml", environ={})
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        load_settings(tmp_path / "list.yaml", environ={})


def test_account_defaults_fill_bucket_and_image_only_when_unset():
    filled = resolved(PipelineSettings(role_arn=ROLE), account="123456789012", version="1.2.3")
    assert filled.bucket == "sagemaker-us-east-1-123456789012"
    assert filled.image_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweetops:1.2.3"
    kept = resolved(PipelineSettings(bucket="mine", image_uri="img"), account="1", version="x")
    assert (kept.bucket, kept.image_uri) == ("mine", "img")


def test_tags_always_name_the_project_and_the_cost_centre_when_set():
    assert PipelineSettings(cost_centre="cx", tags={"a": "b"}).all_tags() == [
        {"Key": "a", "Value": "b"}, {"Key": "cost-centre", "Value": "cx"}, {"Key": "project", "Value": "tweetops"}]
