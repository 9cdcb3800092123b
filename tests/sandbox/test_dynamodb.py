"""DynamoDB point-in-time recovery fidelity of the sandbox, through boto3 over HTTP.

Asserts AWS's documented behaviour of RestoreTableToPointInTime, UpdateContinuousBackups
and DescribeContinuousBackups (error codes from botocore's model, TableDescription shapes).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.client import SandboxClient

HOUR = 3600


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def assert_error(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    assert err.value.response["Error"]["Code"] == code, (args, kwargs)


def restore(ddb: Any, source: str, target: str, **kwargs: Any) -> dict[str, Any]:
    return ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target,
                                              **kwargs)["TableDescription"]


def backdate(sandbox: SandboxClient, seconds: float) -> None:
    sandbox.control("POST", "dynamodb/backdate", {"seconds": seconds})


def create_table(ddb: Any, name: str, range_key: bool = False, **extra: Any) -> None:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    attrs += extra.pop("ExtraAttributes", [])
    extra.setdefault("BillingMode", "PAY_PER_REQUEST")
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, **extra)


def enable_pitr(ddb: Any, name: str) -> dict[str, Any]:
    out = ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return out["ContinuousBackupsDescription"]


def put(ddb: Any, table: str, pk: str, value: str, sk: str | None = None) -> None:
    item = {"pk": {"S": pk}, "v": {"S": value}}
    if sk is not None:
        item["sk"] = {"S": sk}
    ddb.put_item(TableName=table, Item=item)


def scan_values(ddb: Any, table: str) -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            key = (item["pk"]["S"],) + ((item["sk"]["S"],) if "sk" in item else ())
            out[key] = item["v"]["S"]
    return out


def wait_active(ddb: Any, table: str) -> dict[str, Any]:
    ddb.get_waiter("table_exists").wait(TableName=table,
                                        WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return ddb.describe_table(TableName=table)["Table"]


@pytest.fixture
def ddb(sandbox: SandboxClient) -> Any:
    sandbox.set_time_scale(0.01)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 0})
    return sandbox.boto3_client("dynamodb")


def seed_hour_of_history(sandbox: SandboxClient, ddb: Any, table: str) -> dt.datetime:
    """a,b,c written an hour ago; half an hour ago a updated, b deleted, d added.

    Returns a moment between the two (45 minutes ago).
    """
    backdate(sandbox, HOUR)
    enable_pitr(ddb, table)
    for pk in "abc":
        put(ddb, table, pk, "v1", sk="s")
    backdate(sandbox, HOUR / 2)
    ddb.update_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "s"}},
                    UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "v2"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"S": "s"}})
    put(ddb, table, "d", "v1", sk="s")
    backdate(sandbox, 0)
    return utcnow() - dt.timedelta(minutes=45)


def test_restore_to_past_time_returns_the_data_as_it_was(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "orders", range_key=True)
    past = seed_hour_of_history(sandbox, ddb, "orders")
    put(ddb, "orders", "e", "v1", sk="s")  # written now: after every restore point below

    out = restore(ddb, "orders", "orders-past", RestoreDateTime=past)
    summary = out["RestoreSummary"]
    assert abs((summary["RestoreDateTime"] - past).total_seconds()) < 0.01
    wait_active(ddb, "orders-past")
    # later update undone, later delete present again, later puts absent
    assert scan_values(ddb, "orders-past") == {("a", "s"): "v1", ("b", "s"): "v1",
                                               ("c", "s"): "v1"}

    restore(ddb, "orders", "orders-latest", UseLatestRestorableTime=True)
    wait_active(ddb, "orders-latest")
    # the latest restorable time is 3 s (300 s * 0.01) ago: 'e' is too recent to be in it
    assert scan_values(ddb, "orders-latest") == {("a", "s"): "v2", ("c", "s"): "v1",
                                                 ("d", "s"): "v1"}
    assert scan_values(ddb, "orders") == {("a", "s"): "v2", ("c", "s"): "v1",
                                          ("d", "s"): "v1", ("e", "s"): "v1"}


def test_history_covers_every_write_path_in_real_time(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "tbl")
    enable_pitr(ddb, "tbl")
    ddb.batch_write_item(RequestItems={"tbl": [
        {"PutRequest": {"Item": {"pk": {"S": k}, "v": {"S": "v1"}}}} for k in "abcdef"]})
    ddb.execute_statement(Statement="UPDATE tbl SET v='v1p' WHERE pk='f'")
    # Emulated time moves between the two batches, so `before` falls strictly between them.
    sandbox.advance(1)
    before = sandbox.now()
    sandbox.advance(1)
    ddb.batch_write_item(RequestItems={"tbl": [
        {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "v": {"S": "v2"}}}}]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "g"}, "v": {"S": "v1"}}}},
        {"Update": {"TableName": "tbl", "Key": {"pk": {"S": "c"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "v2"}}}},
        {"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "d"}}}},
    ])
    ddb.update_item(TableName="tbl", Key={"pk": {"S": "h"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"S": "v1"}})  # upsert of a new item
    ddb.execute_statement(Statement="DELETE FROM tbl WHERE pk='e'")
    ddb.execute_statement(Statement="UPDATE tbl SET v='v2' WHERE pk='f'")
    after = sandbox.now()
    sandbox.advance(320)  # let the latest restorable time (300 emulated s behind now) pass `after`

    restore(ddb, "tbl", "tbl-before", RestoreDateTime=before)
    restore(ddb, "tbl", "tbl-after", RestoreDateTime=after)
    wait_active(ddb, "tbl-before")
    wait_active(ddb, "tbl-after")
    assert scan_values(ddb, "tbl-before") == {
        ("a",): "v1", ("b",): "v1", ("c",): "v1", ("d",): "v1", ("e",): "v1", ("f",): "v1p"}
    assert scan_values(ddb, "tbl-after") == scan_values(ddb, "tbl") == {
        ("b",): "v2", ("c",): "v2", ("f",): "v2", ("g",): "v1", ("h",): "v1"}


def test_cancelled_and_failed_writes_leave_no_history(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "tbl")
    backdate(sandbox, HOUR)
    enable_pitr(ddb, "tbl")
    put(ddb, "tbl", "x", "v1")
    backdate(sandbox, HOUR / 2)  # failed writes land well inside the restorable window
    assert_error("TransactionCanceledException", ddb.transact_write_items, TransactItems=[
        {"Update": {"TableName": "tbl", "Key": {"pk": {"S": "x"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "cancelled"}}}},
        {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "y"}, "v": {"S": "cancelled"}},
                 "ConditionExpression": "attribute_exists(pk)"}},
    ])
    assert_error("ConditionalCheckFailedException", ddb.update_item, TableName="tbl",
                 Key={"pk": {"S": "x"}}, UpdateExpression="SET v = :v",
                 ConditionExpression="v = :other",
                 ExpressionAttributeValues={":v": {"S": "failed"}, ":other": {"S": "nope"}})
    backdate(sandbox, 0)
    restore(ddb, "tbl", "tbl2", UseLatestRestorableTime=True)
    wait_active(ddb, "tbl2")
    assert scan_values(ddb, "tbl2") == scan_values(ddb, "tbl") == {("x",): "v1"}


def test_continuous_backups_window_lags_by_scaled_five_minutes(
        sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "tbl")
    assert ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"] == {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    enabled_at = utcnow()
    desc = enable_pitr(ddb, "tbl")["PointInTimeRecoveryDescription"]
    assert desc["PointInTimeRecoveryStatus"] == "ENABLED"
    assert desc["RecoveryPeriodInDays"] == 35
    assert abs((desc["EarliestRestorableDateTime"] - enabled_at).total_seconds()) <= 1.1
    # Just enabled: nothing restorable yet but the moment of enabling.
    assert desc["LatestRestorableDateTime"] == desc["EarliestRestorableDateTime"]

    sandbox.advance(420)
    desc = ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"]
    pitr = desc["PointInTimeRecoveryDescription"]
    lag = (sandbox.now() - pitr["LatestRestorableDateTime"]).total_seconds()
    assert 3 <= lag <= 3.5  # 300 s * 0.01

    sandbox.set_time_scale(1)
    backdate(sandbox, HOUR)
    create_table(ddb, "tbl1")
    enable_pitr(ddb, "tbl1")
    pitr = ddb.describe_continuous_backups(TableName="tbl1")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert 300 <= (sandbox.now() - pitr["LatestRestorableDateTime"]).total_seconds() <= 302
    assert HOUR <= (sandbox.now() - pitr["EarliestRestorableDateTime"]).total_seconds() <= HOUR + 2

    # Disabling drops the window; re-enabling starts it again from now.
    backdate(sandbox, 0)
    ddb.update_continuous_backups(
        TableName="tbl1", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    pitr = ddb.describe_continuous_backups(TableName="tbl1")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr == {"PointInTimeRecoveryStatus": "DISABLED"}
    pitr = ddb.update_continuous_backups(TableName="tbl1", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["RecoveryPeriodInDays"] == 7
    assert (sandbox.now() - pitr["EarliestRestorableDateTime"]).total_seconds() <= 1.1


def test_continuous_backups_errors(sandbox: SandboxClient, ddb: Any) -> None:
    assert_error("TableNotFoundException", ddb.describe_continuous_backups, TableName="missing")
    assert_error("TableNotFoundException", enable_pitr, ddb, "missing")
    create_table(ddb, "tbl")
    assert_error("ValidationException", ddb.update_continuous_backups, TableName="tbl",
                 PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True,
                                                   "RecoveryPeriodInDays": 36})


def test_restore_errors_use_aws_codes(sandbox: SandboxClient, ddb: Any) -> None:
    latest = {"UseLatestRestorableTime": True}
    create_table(ddb, "nopitr")
    assert_error("PointInTimeRecoveryUnavailableException", restore, ddb, "nopitr", "xx1",
                 **latest)
    # botocore's model: a missing source is TableNotFoundException
    assert_error("TableNotFoundException", restore, ddb, "missing", "xx1", **latest)

    create_table(ddb, "src")
    backdate(sandbox, 600)
    desc = enable_pitr(ddb, "src")["PointInTimeRecoveryDescription"]
    backdate(sandbox, 0)
    earliest = desc["EarliestRestorableDateTime"]
    for when in (earliest - dt.timedelta(seconds=1), utcnow(),
                 utcnow() + dt.timedelta(minutes=1)):
        assert_error("InvalidRestoreTimeException", restore, ddb, "src", "xx1",
                     RestoreDateTime=when)
    # the window's own edges, as DescribeContinuousBackups reports them, are restorable
    restore(ddb, "src", "x-earliest", RestoreDateTime=earliest)

    assert_error("TableAlreadyExistsException", restore, ddb, "src", "nopitr", **latest)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 600})
    restore(ddb, "src", "slow", **latest)
    # a target still being created
    assert_error("TableInUseException", restore, ddb, "src", "slow", **latest)

    for both_or_neither in ({}, {**latest, "RestoreDateTime": utcnow()}):
        assert_error("ValidationException", restore, ddb, "src", "xx2", **both_or_neither)


def test_restore_by_source_arn(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "src")
    backdate(sandbox, 60)
    enable_pitr(ddb, "src")
    put(ddb, "src", "a", "v1")
    backdate(sandbox, 0)
    arn = ddb.describe_table(TableName="src")["Table"]["TableArn"]
    out = ddb.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="dst",
                                             UseLatestRestorableTime=True)
    assert out["TableDescription"]["RestoreSummary"]["SourceTableArn"] == arn
    wait_active(ddb, "dst")
    assert scan_values(ddb, "dst") == {("a",): "v1"}


def test_restored_table_is_creating_then_active(sandbox: SandboxClient, ddb: Any) -> None:
    sandbox.set_time_scale(1)  # emulated time passes only by clock advances below
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 200})
    create_table(ddb, "src")
    backdate(sandbox, 60)
    enable_pitr(ddb, "src")
    put(ddb, "src", "a", "v1")
    backdate(sandbox, 0)
    sandbox.advance(300)  # the latest restorable time (5 min behind now) passes the write
    out = restore(ddb, "src", "dst", UseLatestRestorableTime=True)
    assert out["TableStatus"] == "CREATING"
    assert out["RestoreSummary"]["RestoreInProgress"] is True
    table = ddb.describe_table(TableName="dst")["Table"]
    assert table["TableStatus"] == "CREATING"
    assert "dst" in ddb.list_tables()["TableNames"]

    # A table that is not ACTIVE refuses data-plane calls with ResourceNotFoundException.
    calls = [
        lambda: ddb.get_item(TableName="dst", Key={"pk": {"S": "a"}}),
        lambda: put(ddb, "dst", "b", "v1"),
        lambda: ddb.scan(TableName="dst"),
        lambda: ddb.query(TableName="dst", KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "a"}}),
        lambda: ddb.batch_write_item(RequestItems={"dst": [
            {"PutRequest": {"Item": {"pk": {"S": "b"}}}}]}),
        lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "dst", "Item": {"pk": {"S": "b"}}}}]),
        lambda: ddb.execute_statement(Statement="SELECT * FROM dst"),
    ]
    for call in calls:
        assert_error("ResourceNotFoundException", call)
    assert_error("ResourceInUseException", ddb.delete_table, TableName="dst")
    assert_error("ContinuousBackupsUnavailableException", enable_pitr, ddb, "dst")

    sandbox.advance(190)
    assert ddb.describe_table(TableName="dst")["Table"]["TableStatus"] == "CREATING"
    sandbox.advance(10)
    table = ddb.describe_table(TableName="dst")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["RestoreSummary"]["RestoreInProgress"] is False
    assert ddb.get_item(TableName="dst", Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "v1"}
    put(ddb, "dst", "b", "v1")
    ddb.delete_table(TableName="dst")


def test_settings_aws_does_not_restore_are_absent(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "src", Tags=[{"Key": "team", "Value": "propie"}],
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
                 DeletionProtectionEnabled=True)
    ddb.update_time_to_live(TableName="src", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    backdate(sandbox, 60)
    enable_pitr(ddb, "src")
    backdate(sandbox, 0)
    restore_at = utcnow() - dt.timedelta(seconds=30)
    restore(ddb, "src", "dst", RestoreDateTime=restore_at)
    table = wait_active(ddb, "dst")
    assert table["RestoreSummary"]["SourceTableArn"] == ddb.describe_table(
        TableName="src")["Table"]["TableArn"]
    assert abs((table["RestoreSummary"]["RestoreDateTime"] - restore_at).total_seconds()) < 0.01
    assert "StreamSpecification" not in table and "LatestStreamArn" not in table
    assert table["DeletionProtectionEnabled"] is False
    assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == []
    ttl = ddb.describe_time_to_live(TableName="dst")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
    backups = ddb.describe_continuous_backups(TableName="dst")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}
    # ... while the source keeps all of them
    assert ddb.describe_table(TableName="src")["Table"]["DeletionProtectionEnabled"] is True


def test_sse_override_is_reflected(sandbox: SandboxClient, ddb: Any) -> None:
    create_table(ddb, "plain")
    create_table(ddb, "kms", SSESpecification={"Enabled": True, "SSEType": "KMS"})
    backdate(sandbox, 60)
    enable_pitr(ddb, "plain")
    enable_pitr(ddb, "kms")
    backdate(sandbox, 0)

    def restored_sse(source: str, target: str, **override: Any) -> dict[str, Any] | None:
        restore(ddb, source, target, UseLatestRestorableTime=True, **override)
        return wait_active(ddb, target).get("SSEDescription")

    sse = restored_sse("plain", "plain-kms", SSESpecificationOverride={"Enabled": True})
    assert sse["Status"] == "ENABLED" and sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert restored_sse("plain", "plain-same") is None  # AWS owned key, as the source
    assert restored_sse("kms", "kms-same")["SSEType"] == "KMS"  # inherited from the source
    assert restored_sse("kms", "kms-owned", SSESpecificationOverride={"Enabled": False}) is None

    kms = sandbox.boto3_client("kms")
    key = kms.create_key(Description="restore key")["KeyMetadata"]
    kms.create_alias(AliasName="alias/restore", TargetKeyId=key["KeyId"])
    sse = restored_sse("plain", "plain-cmk", SSESpecificationOverride={
        "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/restore"})
    assert sse["KMSMasterKeyArn"] == key["Arn"]


def test_indexes_and_capacity_are_carried_with_overrides(sandbox: SandboxClient,
                                                         ddb: Any) -> None:
    gsi = {"IndexName": "by-status",
           "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "ALL"},
           "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}}
    gsi2 = {**gsi, "IndexName": "by-owner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}]}
    lsi = {"IndexName": "by-created",
           "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                         {"AttributeName": "created", "KeyType": "RANGE"}],
           "Projection": {"ProjectionType": "KEYS_ONLY"}}
    create_table(ddb, "src", range_key=True, BillingMode="PROVISIONED",
                 ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
                 GlobalSecondaryIndexes=[gsi, gsi2], LocalSecondaryIndexes=[lsi],
                 ExtraAttributes=[{"AttributeName": n, "AttributeType": "S"}
                                  for n in ("status", "owner", "created")])
    backdate(sandbox, 60)
    enable_pitr(ddb, "src")
    ddb.put_item(TableName="src", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "v1"},
                                        "status": {"S": "open"}, "owner": {"S": "ann"},
                                        "created": {"S": "2026"}})
    backdate(sandbox, 0)

    restore(ddb, "src", "same", UseLatestRestorableTime=True)
    table = wait_active(ddb, "same")
    source = ddb.describe_table(TableName="src")["Table"]
    assert table["KeySchema"] == source["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        source["AttributeDefinitions"], key=str)
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {"by-status", "by-owner"}
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["by-created"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    hits = ddb.query(TableName="same", IndexName="by-status",
                     KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":s": {"S": "open"}})["Items"]
    assert [h["pk"]["S"] for h in hits] == ["a"]

    restore(ddb, "src", "slim", UseLatestRestorableTime=True,
            BillingModeOverride="PAY_PER_REQUEST",
            GlobalSecondaryIndexOverride=[{k: v for k, v in gsi.items()
                                           if k != "ProvisionedThroughput"}],
            LocalSecondaryIndexOverride=[])
    table = wait_active(ddb, "slim")
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["by-status"]
    assert not table.get("LocalSecondaryIndexes")
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {"pk", "sk", "status"}

    restore(ddb, "src", "bigger", UseLatestRestorableTime=True,
            ProvisionedThroughputOverride={"ReadCapacityUnits": 50, "WriteCapacityUnits": 60})
    table = wait_active(ddb, "bigger")
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 50

    # overrides must name existing indexes
    assert_error("ValidationException", restore, ddb, "src", "bad", UseLatestRestorableTime=True,
                 GlobalSecondaryIndexOverride=[{**gsi, "IndexName": "nope"}])


def test_control_routes_validate_and_reset(sandbox: SandboxClient) -> None:
    settled = {"restore_seconds": 60.0, "backdate_seconds": 0.0, "restorable_lag_seconds": 300.0, "time_scale": 1.0}
    assert sandbox.control("GET", "dynamodb") == settled
    for route, body in (("config", {"restore_seconds": -1}), ("config", {"restore_seconds": "1"}),
                        ("config", {"restore": 5}), ("backdate", {"seconds": True}),
                        ("backdate", {"seconds": -5}), ("backdate", {}),
                        ("backdate", {"seconds": 10**9}), ("lag", {"seconds": -1}),
                        ("lag", {"seconds": 10**6}), ("lag", {"lag": 5}), ("nope", {})):
        with pytest.raises(RuntimeError, match="400") as err:
            sandbox.control("POST", f"dynamodb/{route}", body)
        assert "error" in str(err.value)
    state = sandbox.control("POST", "dynamodb/backdate", {"seconds": 90})
    assert state["backdate_seconds"] == 90
    assert sandbox.control("POST", "dynamodb/config", {"restore_seconds": 5})[
        "restore_seconds"] == 5
    # The restorable window's lag: the latest restorable time that many emulated seconds back.
    assert sandbox.control("POST", "dynamodb/lag", {"seconds": 900})["restorable_lag_seconds"] == 900
    backdate(sandbox, 0)
    ddb = sandbox.boto3_client("dynamodb")
    create_table(ddb, "tbl")
    enable_pitr(ddb, "tbl")
    sandbox.advance(1000)
    pitr = ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]
    assert 900 <= (sandbox.now() - pitr["LatestRestorableDateTime"]).total_seconds() < 1000
    sandbox.reset()
    assert sandbox.control("GET", "dynamodb") == settled


def test_recreated_table_and_reset_start_with_no_history(sandbox: SandboxClient,
                                                         ddb: Any) -> None:
    create_table(ddb, "tbl")
    backdate(sandbox, 600)
    enable_pitr(ddb, "tbl")
    put(ddb, "tbl", "old", "v1")
    ddb.delete_table(TableName="tbl")
    create_table(ddb, "tbl")
    enable_pitr(ddb, "tbl")
    put(ddb, "tbl", "new", "v1")
    backdate(sandbox, 0)
    restore(ddb, "tbl", "tbl-copy", UseLatestRestorableTime=True)
    wait_active(ddb, "tbl-copy")
    assert scan_values(ddb, "tbl-copy") == {("new",): "v1"}

    sandbox.reset()
    assert sandbox.control("GET", "dynamodb")["backdate_seconds"] == 0
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 0})
    create_table(ddb, "tbl")
    enable_pitr(ddb, "tbl")
    restore(ddb, "tbl", "tbl-copy", UseLatestRestorableTime=True)
    wait_active(ddb, "tbl-copy")
    assert scan_values(ddb, "tbl-copy") == {}


def test_backdate_records_writes_in_the_past(sandbox: SandboxClient, ddb: Any) -> None:
    backdate(sandbox, 2 * HOUR)
    create_table(ddb, "tbl")
    assert (utcnow() - ddb.describe_table(TableName="tbl")["Table"][
        "CreationDateTime"]).total_seconds() >= 2 * HOUR - 1
    desc = enable_pitr(ddb, "tbl")["PointInTimeRecoveryDescription"]
    put(ddb, "tbl", "a", "v1")
    backdate(sandbox, HOUR)
    put(ddb, "tbl", "a", "v2")
    backdate(sandbox, 0)  # off: writes happen now again
    put(ddb, "tbl", "a", "v3")
    assert 2 * HOUR <= (utcnow() - desc["EarliestRestorableDateTime"]).total_seconds() <= 2 * HOUR + 2
    # before PITR was (back-dated) enabled
    assert_error("InvalidRestoreTimeException", restore, ddb, "tbl", "at-150min",
                 RestoreDateTime=utcnow() - dt.timedelta(minutes=150))
    expectations = {119: "v1", 90: "v1", 30: "v2"}  # minutes ago -> value then
    for minutes in expectations:
        restore(ddb, "tbl", f"at-{minutes}min",
                RestoreDateTime=utcnow() - dt.timedelta(minutes=minutes))
    for minutes, value in expectations.items():
        wait_active(ddb, f"at-{minutes}min")
        assert scan_values(ddb, f"at-{minutes}min") == {("a",): value}, minutes
    assert scan_values(ddb, "tbl") == {("a",): "v3"}


def test_large_table_restore_is_fast(sandbox: SandboxClient, ddb: Any) -> None:
    """20k items written an hour ago, 2k of them changed half an hour ago."""
    create_table(ddb, "big")
    backdate(sandbox, HOUR)
    enable_pitr(ddb, "big")
    seed_started = time.monotonic()
    for start in range(0, 20_000, 25):
        ddb.batch_write_item(RequestItems={"big": [
            {"PutRequest": {"Item": {"pk": {"S": f"k{i:05d}"}, "v": {"S": "v1"}}}}
            for i in range(start, start + 25)]})
    backdate(sandbox, HOUR / 2)
    for start in range(0, 2_000, 25):
        ddb.batch_write_item(RequestItems={"big": [
            {"PutRequest": {"Item": {"pk": {"S": f"k{i:05d}"}, "v": {"S": "v2"}}}}
            for i in range(start, start + 25)]})
    backdate(sandbox, 0)
    seeded = time.monotonic() - seed_started

    started = time.monotonic()
    restore(ddb, "big", "big-past", RestoreDateTime=utcnow() - dt.timedelta(minutes=45))
    restore_call = time.monotonic() - started
    table = wait_active(ddb, "big-past")
    print(f"\n20k items: seeded in {seeded:.1f} s, RestoreTableToPointInTime answered in "
          f"{restore_call * 1000:.0f} ms")
    assert restore_call < 2.0
    assert table["ItemCount"] == 20_000
    got = ddb.batch_get_item(RequestItems={"big-past": {"Keys": [
        {"pk": {"S": f"k{i:05d}"}} for i in (0, 1999, 2000, 19999)]}})["Responses"]["big-past"]
    assert {g["pk"]["S"]: g["v"]["S"] for g in got} == {
        "k00000": "v1", "k01999": "v1", "k02000": "v1", "k19999": "v1"}
