"""DynamoDB rollback helpers: window math, naming, recognition, count plans, AppSync swap (Stubber)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb  # noqa: E402
from ansible_collections.propie.rollback.plugins.module_utils import swap as sw  # noqa: E402

NOW = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.timezone.utc)
WINDOW = {"status": "ENABLED", "earliest": NOW - dt.timedelta(days=35),
          "latest": NOW - dt.timedelta(minutes=5), "recovery_period_in_days": 35}
SOURCE = {"TableName": "data", "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/data"}


def test_parse_restore_point_forms():
    assert ddb.parse_restore_point("latest") == "latest"
    assert ddb.parse_restore_point("2026-11-30T03:45:00.750Z") == dt.datetime(2026, 11, 30, 3, 45, tzinfo=dt.timezone.utc)
    assert ddb.parse_restore_point("2026-11-30T04:45:00+01:00") == dt.datetime(2026, 11, 30, 3, 45, tzinfo=dt.timezone.utc)
    assert ddb.parse_restore_point("2026-11-30T03:45:00") == dt.datetime(2026, 11, 30, 3, 45, tzinfo=dt.timezone.utc)
    with pytest.raises(ddb.RestorePointError, match="neither 'latest'"):
        ddb.parse_restore_point("last tuesday")


@pytest.mark.parametrize("point, message", [
    (NOW + dt.timedelta(seconds=5), "in the future"),
    (NOW - dt.timedelta(minutes=2), "after the latest restorable time"),
    (NOW - dt.timedelta(days=36), "before the earliest restorable time"),
])
def test_restore_point_outside_window(point, message):
    with pytest.raises(ddb.RestorePointError, match=message):
        ddb.check_restore_point("data", point, WINDOW, NOW)


def test_restore_point_inside_window_and_pitr_off():
    ddb.check_restore_point("data", NOW - dt.timedelta(minutes=30), WINDOW, NOW)
    ddb.check_restore_point("data", "latest", WINDOW, NOW)
    with pytest.raises(ddb.RestorePointError, match="point-in-time recovery is DISABLED"):
        ddb.check_restore_point("data", "latest", dict(WINDOW, status="DISABLED"), NOW)


def test_default_names_are_deterministic_and_bounded():
    point = dt.datetime(2026, 11, 30, 3, 45, 1, tzinfo=dt.timezone.utc)
    assert ddb.default_target_name("data", point, "rb-x") == "data-pitr-20261130T034501Z"
    assert ddb.default_target_name("data", "latest", "rb-20261130T034501Z-9f2c1a") == \
        "data-pitr-rb-20261130T034501Z-9f2c1a"
    assert len(ddb.default_target_name("t" * 255, point, "rb-x")) == 255


def test_recognise_restore():
    point = NOW - dt.timedelta(minutes=30)
    ours = {"TableName": "data-pitr", "RestoreSummary": {"SourceTableArn": SOURCE["TableArn"],
                                                         "RestoreDateTime": point}}
    assert ddb.recognise_restore(ours, {}, SOURCE, point, "rb-1") is None  # not tagged yet
    assert ddb.recognise_restore(ours, {ddb.TAG_ROLLBACK_ID: "rb-1"}, SOURCE, point, "rb-1") is None
    assert "belongs to rollback rb-2" in ddb.recognise_restore(ours, {ddb.TAG_ROLLBACK_ID: "rb-2"}, SOURCE, point, "rb-1")
    assert "not to" in ddb.recognise_restore(ours, {}, SOURCE, point - dt.timedelta(minutes=1), None)
    assert "not a restore" in ddb.recognise_restore({"TableName": "x"}, {}, SOURCE, point, None)
    other = dict(ours, RestoreSummary=dict(ours["RestoreSummary"], SourceTableArn=SOURCE["TableArn"] + "2"))
    assert "not of" in ddb.recognise_restore(other, {}, SOURCE, point, None)


def test_count_plan_is_bounded_as_the_table_grows():
    exact = {"mode": "exact", "total_segments": 4, "segments": [0, 1, 2, 3]}
    assert ddb.plan_count("auto", 1000, 50000, 10000, 8, 4) == exact
    for size in (100000, 10000000, 10 ** 9):
        plan = ddb.plan_count("auto", size, 50000, 10000, 8, 4)
        assert plan["mode"] == "sample" and len(plan["segments"]) == 8
        # Items read ~ size * 8 / total stays near 10,000 until TotalSegments hits its cap.
        if plan["total_segments"] < ddb.MAX_TOTAL_SEGMENTS:
            assert size * 8 / plan["total_segments"] <= 10000
    assert ddb.plan_count("sample", 0, 50000, 10000, 8, 4)["total_segments"] == 8


def test_typed_round_trip():
    item = {"pk": "A", "n": 1, "f": 1.5, "ok": True, "tags": ["x"]}
    assert ddb.to_plain(ddb.to_typed(item)) == item


class Plain:
    """Stands in for amazon.aws's retrying wrapper: drops the aws_retry keyword."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        method = getattr(self.client, name)
        return lambda aws_retry=False, **kw: method(**kw)


class FakeModule:
    params = {"wait_timeout": 5, "wait_delay": 1}
    check_mode = False

    def log(self, msg):
        pass


def test_appsync_swap_sends_back_the_whole_definition():
    client = boto3.client("appsync", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    source = {"dataSourceArn": "arn:aws:appsync:us-east-1:123456789012:apis/api1/datasources/T", "name": "T",
              "type": "AMAZON_DYNAMODB", "description": "data", "serviceRoleArn": "arn:aws:iam::123456789012:role/r",
              "dynamodbConfig": {"tableName": "data", "awsRegion": "us-east-1", "useCallerCredentials": False,
                                 "versioned": True, "deltaSyncConfig": {"baseTableTTL": 10}}}
    stub.add_response("get_data_source", {"dataSource": source}, {"apiId": "api1", "name": "T"})
    stub.add_response("update_data_source", {"dataSource": source}, {
        "apiId": "api1", "name": "T", "type": "AMAZON_DYNAMODB", "description": "data",
        "serviceRoleArn": "arn:aws:iam::123456789012:role/r",
        "dynamodbConfig": dict(source["dynamodbConfig"], tableName="data-pitr")})

    with stub:
        handler = sw.AppSyncDataSource(Plain(client), {"type": "appsync_datasource", "api_id": "api1", "name": "T", "value": "data-pitr"})
        assert handler.read() == {"value": "data"}
        handler.write("data-pitr", FakeModule())
    stub.assert_no_pending_responses()


def test_appsync_swap_refuses_other_data_source_types():
    client = boto3.client("appsync", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    stub.add_response("get_data_source", {"dataSource": {"name": "L", "type": "AWS_LAMBDA"}})

    with stub, pytest.raises(sw.SwapError, match="not AMAZON_DYNAMODB"):
        sw.AppSyncDataSource(Plain(client), {"type": "appsync_datasource", "api_id": "api1", "name": "L", "value": "x"}).read()


@pytest.mark.parametrize("spec, message", [
    ({"type": "lambda_env", "function_name": "f", "value": "t"}, "needs variable"),
    ({"type": "ssm_parameter", "name": "p"}, "exactly one of value and value_from_version"),
    ({"type": "lambda_env", "function_name": "f", "variable": "V", "value_from_version": 2}, "ssm_parameter targets only"),
    ({"type": "ssm_parameter", "name": "p", "api_id": "a", "value": "t"}, "does not take api_id"),
])
def test_swap_target_specs(spec, message):
    with pytest.raises(sw.SwapError, match=message):
        sw.check_value_spec(0, spec)
