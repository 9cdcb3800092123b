"""Sandbox fidelity found by issue 11, through boto3 over HTTP.

- POST /_sandbox/reset drops AWS state, faults and the request log, and keeps the time scale;
- DynamoDB TagResource on a key the table has overwrites its value;
- table names outside 3-255 characters of [a-zA-Z0-9_.-] are a ValidationException
  (CreateTable, RestoreTableToPointInTime);
- DescribeTable reports SSEDescription with the key's ARN for tables created or restored with a
  KMS key, the AWS managed key (alias/aws/dynamodb) included.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.client import SandboxClient

KEYS = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"}


@pytest.fixture
def ddb(sandbox: SandboxClient) -> Any:
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 0})  # restores are ACTIVE at once
    return sandbox.boto3_client("dynamodb")


def create(ddb: Any, name: str, **extra: Any) -> dict[str, Any]:
    return ddb.create_table(TableName=name, **KEYS, **extra)["TableDescription"]


def with_pitr(sandbox: SandboxClient, ddb: Any, name: str, **extra: Any) -> None:
    """A table whose restorable window is open now (PITR enabled ten minutes ago)."""
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 600})
    create(ddb, name, **extra)
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 0})


def restore(ddb: Any, source: str, target: str, **extra: Any) -> dict[str, Any]:
    return ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target,
                                              UseLatestRestorableTime=True, **extra)["TableDescription"]


def validation_error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


def sse(ddb: Any, name: str) -> dict[str, Any] | None:
    return ddb.describe_table(TableName=name)["Table"].get("SSEDescription")


# ---------------------------------------------------------------------------
# reset
# ---------------------------------------------------------------------------


def test_reset_drops_state_faults_and_log_but_keeps_the_time_scale(sandbox: SandboxClient) -> None:
    sandbox.set_time_scale(0.05)
    sandbox.boto3_client("sns").create_topic(Name="gone")
    sandbox.add_fault(service="sqs", operation="*", latency_ms=1)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 5})
    sandbox.reset()
    assert sandbox.health()["time_scale"] == 0.05
    assert sandbox.control("GET", "dynamodb")["time_scale"] == 0.05  # the extensions share the clock
    assert sandbox.control("GET", "dynamodb")["restore_seconds"] == 60.0  # extension settings are reset
    assert sandbox.requests() == []
    assert sandbox.control("GET", "faults")["faults"] == []
    assert sandbox.boto3_client("sns").list_topics()["Topics"] == []


# ---------------------------------------------------------------------------
# TagResource
# ---------------------------------------------------------------------------


def test_tag_resource_overwrites_an_existing_key(ddb: Any) -> None:
    arn = create(ddb, "tagged", Tags=[{"Key": "app", "Value": "prop-ie"}, {"Key": "env", "Value": "old"}])["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "new"}, {"Key": "team", "Value": "data"}])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "newer"}])
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("app", "prop-ie"), ("env", "newer"), ("team", "data")]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sorted(t["Key"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]) == ["app", "team"]


# ---------------------------------------------------------------------------
# Table names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, constraint", [
    ("ab", "Member must have length greater than or equal to 3"),
    ("t" * 256, "Member must have length less than or equal to 255"),
    ("t" * 300, "Member must have length less than or equal to 255"),
    ("prop ie!", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
])
def test_create_table_refuses_names_aws_refuses(ddb: Any, name: str, constraint: str) -> None:
    message = validation_error(create, ddb, name)
    assert "at 'tableName' failed to satisfy constraint" in message and constraint in message
    assert ddb.list_tables()["TableNames"] == []


def test_create_table_accepts_the_bounds(ddb: Any) -> None:
    for name in ("abc", "t" * 255, "prop-ie_data.v2"):
        assert create(ddb, name)["TableName"] == name


@pytest.mark.parametrize("target, constraint", [
    ("t" * 300, "Member must have length less than or equal to 255"),
    ("data/copy", "Member must satisfy regular expression pattern"),
])
def test_restore_refuses_target_names_aws_refuses(sandbox: SandboxClient, ddb: Any, target: str,
                                                  constraint: str) -> None:
    with_pitr(sandbox, ddb, "src")
    message = validation_error(restore, ddb, "src", target)
    assert "at 'targetTableName' failed to satisfy constraint" in message and constraint in message
    assert ddb.list_tables()["TableNames"] == ["src"]
    assert restore(ddb, "src", "s" * 255)["TableName"] == "s" * 255  # the longest name is fine


# ---------------------------------------------------------------------------
# SSEDescription
# ---------------------------------------------------------------------------


def test_create_table_reports_the_kms_key_arn_however_the_key_is_named(sandbox: SandboxClient,
                                                                       ddb: Any) -> None:
    kms = sandbox.boto3_client("kms")
    key = kms.create_key(Description="prop-ie data")["KeyMetadata"]
    kms.create_alias(AliasName="alias/prop-ie-data", TargetKeyId=key["KeyId"])
    alias_arn = key["Arn"].split(":key/")[0] + ":alias/prop-ie-data"
    for n, key_id in enumerate((key["KeyId"], key["Arn"], "alias/prop-ie-data", alias_arn)):
        create(ddb, f"cmk-{n}", SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_id})
        assert sse(ddb, f"cmk-{n}") == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key["Arn"]}, key_id

    message = validation_error(create, ddb, "cmk-missing", SSESpecification={
        "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/nope"})
    assert "alias/nope" in message
    assert "cmk-missing" not in ddb.list_tables()["TableNames"]


def test_the_aws_managed_key_is_resolved_to_its_key_arn(sandbox: SandboxClient, ddb: Any) -> None:
    create(ddb, "managed", SSESpecification={"Enabled": True})
    create(ddb, "managed-by-alias", SSESpecification={"Enabled": True, "SSEType": "KMS",
                                                      "KMSMasterKeyId": "alias/aws/dynamodb"})
    create(ddb, "owned")
    managed = sandbox.boto3_client("kms").describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert managed["Arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    for name in ("managed", "managed-by-alias"):
        assert sse(ddb, name) == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": managed["Arn"]}
    assert sse(ddb, "owned") is None  # the AWS owned key: no SSEDescription


def test_restore_reports_the_kms_key_arn(sandbox: SandboxClient, ddb: Any) -> None:
    kms = sandbox.boto3_client("kms")
    key = kms.create_key(Description="prop-ie data")["KeyMetadata"]
    other = kms.create_key(Description="recovery")["KeyMetadata"]
    kms.create_alias(AliasName="alias/recovery", TargetKeyId=other["KeyId"])
    with_pitr(sandbox, ddb, "cmk-src", SSESpecification={"Enabled": True, "SSEType": "KMS",
                                                         "KMSMasterKeyId": key["KeyId"]})
    cmk = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key["Arn"]}

    assert restore(ddb, "cmk-src", "kept")["SSEDescription"] == cmk  # in the restore's answer too
    assert sse(ddb, "kept") == cmk
    restore(ddb, "cmk-src", "named", SSESpecificationOverride={"Enabled": True, "SSEType": "KMS",
                                                               "KMSMasterKeyId": key["Arn"]})
    assert sse(ddb, "named") == cmk
    restore(ddb, "cmk-src", "other", SSESpecificationOverride={"Enabled": True, "SSEType": "KMS",
                                                               "KMSMasterKeyId": "alias/recovery"})
    assert sse(ddb, "other")["KMSMasterKeyArn"] == other["Arn"]
    restore(ddb, "cmk-src", "managed", SSESpecificationOverride={"Enabled": True, "SSEType": "KMS",
                                                                 "KMSMasterKeyId": "alias/aws/dynamodb"})
    managed = kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]
    assert sse(ddb, "managed") == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": managed}
    restore(ddb, "cmk-src", "owned", SSESpecificationOverride={"Enabled": False})
    assert sse(ddb, "owned") is None
    validation_error(restore, ddb, "cmk-src", "nokey", SSESpecificationOverride={
        "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/nope"})
