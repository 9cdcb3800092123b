"""The DR drill's AWS modules against moto: dynamodb_canary, dynamodb_recovery_table, cloudwatch_metric_data."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.propie.rollback.plugins.module_utils import drill as dr
from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.modules import cloudwatch_metric_data as cwd
from ansible_collections.propie.rollback.plugins.modules import dynamodb_canary as canary
from ansible_collections.propie.rollback.plugins.modules import dynamodb_recovery_table as recovery
from tests.unit.fakes import Exit, Fail, FakeAWSModule

DRILL_ID = "dr-20261130T030000Z-9f2c1a"
RID = "rb-20261130T030000Z-9f2c1a"
REGION = "us-east-1"
NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for the drill modules' do(): given clients, else a client of moto's mock."""

    def __init__(self, params, check_mode=False, diff=False, clients=None):
        super().__init__(clients or {}, params, check_mode, diff=diff)

    def raw_client(self, service):
        return self._clients.get(service) or boto3.client(service, region_name=REGION)


def run(module_file, params, **kwargs):
    with pytest.raises(Exit) as done:
        module_file.do(FakeModule(params, **kwargs))
    return done.value.result


def fail(module_file, params, **kwargs):
    with pytest.raises(Fail) as failed:
        module_file.do(FakeModule(params, **kwargs))
    return failed.value.result


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


def make_table(client, name="live", pitr=True, ttl=True, hash_type="S", sort=True):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if sort:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=schema, AttributeDefinitions=attrs)
    if pitr:
        client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


# -- dynamodb_canary -----------------------------------------------------------------------------

CANARY = {"table": "live", "drill_id": DRILL_ID, "state": "present", "expire_after": 86400}
KEY = {"pk": "propie-drill-canary#" + DRILL_ID, "sk": "propie-drill-canary"}


def test_canary_is_written_once_with_its_time_and_a_ttl(aws):
    make_table(aws)
    predicted = run(canary, CANARY, check_mode=True, diff=True)
    assert predicted["changed"] and predicted["key"] == KEY and aws.scan(TableName="live")["Count"] == 0
    assert predicted["diff"]["before"] == {"item": None} and predicted["diff"]["after"]["item"]["propie_drill_id"] == DRILL_ID
    assert predicted["progress"].startswith("would write the canary to live")

    written = run(canary, CANARY)
    assert written["changed"] and not written["restorable"] and written["rpo_seconds"] is None
    [item] = aws.scan(TableName="live")["Items"]
    assert ddb.to_plain(item) == written["item"]
    assert item["propie_drill_id"] == {"S": DRILL_ID} and item["propie_drill_written_at"]["S"] == written["written_at"]
    stamp = rec.parse_time(written["written_at"])
    assert int(item["expires_at"]["N"]) == int(stamp.timestamp()) + 86400
    assert written["canary"] == {"key": KEY, "present": True, "attributes": {"propie_drill_id": DRILL_ID}}
    assert written["restore_window"]["status"] == "ENABLED"

    again = run(canary, CANARY)
    assert not again["changed"] and again["written_at"] == written["written_at"]
    assert aws.scan(TableName="live")["Count"] == 1


def test_canary_key_follows_a_number_hash_key_and_no_ttl(aws):
    make_table(aws, ttl=False, hash_type="N", sort=False)
    written = run(canary, CANARY)
    assert written["key"] == {"pk": -int("20261130030000" + str(int("9f2c1a", 16)))}
    assert "expires_at" not in written["item"]
    assert aws.get_item(TableName="live", Key={"pk": {"N": str(written["key"]["pk"])}})["Item"]


def test_canary_refuses_a_table_without_pitr_and_writes_nothing(aws):
    make_table(aws, pitr=False)
    failed = fail(canary, CANARY)
    assert "point-in-time recovery is DISABLED on live" in failed["msg"] and "No canary was written" in failed["msg"]
    assert aws.scan(TableName="live")["Count"] == 0
    assert "does not exist" in fail(canary, dict(CANARY, table="missing"))["msg"]
    assert "is not a drill id" in fail(canary, dict(CANARY, drill_id="rb-x"))["msg"]


def test_canary_never_touches_an_item_that_is_not_its_own(aws):
    make_table(aws)
    aws.put_item(TableName="live", Item=dict(ddb.to_typed(KEY), owner={"S": "someone"}))
    for state in ("present", "absent"):
        failed = fail(canary, dict(CANARY, state=state))
        assert "not drill %s's canary" % DRILL_ID in failed["msg"] and "left alone" in failed["msg"]
    assert ddb.to_plain(aws.scan(TableName="live")["Items"][0])["owner"] == "someone"


def test_canary_is_deleted_only_when_it_is_there(aws):
    make_table(aws)
    run(canary, CANARY)
    assert run(canary, dict(CANARY, state="absent"), check_mode=True)["changed"]
    assert aws.scan(TableName="live")["Count"] == 1
    gone = run(canary, dict(CANARY, state="absent"), diff=True)
    assert gone["changed"] and gone["item"] is None and gone["diff"]["after"] == {"item": None}
    assert aws.scan(TableName="live")["Count"] == 0
    again = run(canary, dict(CANARY, state="absent"))
    assert not again["changed"] and again["progress"] == "no canary of %s in live" % DRILL_ID


@pytest.mark.parametrize("latest, restorable, rpo", [
    (NOW - dt.timedelta(seconds=300), False, None),          # the window is 5 minutes behind the write
    (NOW + dt.timedelta(milliseconds=500), False, None),     # past it, but not by a whole second
    (NOW + dt.timedelta(seconds=2), True, 298.0),            # read at +300s: the window passed it 298s after
])
def test_restorable_once_the_window_passes_the_canary_by_a_second(latest, restorable, rpo):
    read_at = NOW + dt.timedelta(seconds=300)
    judged = canary.judge(dr.utc_text(NOW), {"latest": latest}, read_at)
    assert judged["restorable"] is restorable and judged["rpo_seconds"] == rpo
    assert ("canary restorable" in judged["progress"]) is restorable
    assert not canary.judge(None, {"latest": latest}, read_at)["restorable"]
    assert "no latest restorable time" in canary.judge(dr.utc_text(NOW), {"latest": None}, read_at)["progress"]


# -- dynamodb_recovery_table ---------------------------------------------------------------------

SCRATCH = "live-" + DRILL_ID
DELETE = {"table": SCRATCH, "rollback_id": RID, "source_table": "live", "state": "absent", "wait": True,
          "wait_timeout": 30, "wait_delay": 0}


def restore(client, name=SCRATCH, source="live", rollback_id=RID):
    arn = client.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=name,
                                                UseLatestRestorableTime=True)["TableDescription"]["TableArn"]
    if rollback_id:
        client.tag_resource(ResourceArn=arn, Tags=[{"Key": ddb.TAG_ROLLBACK_ID, "Value": rollback_id}])
    return arn


def names(client):
    return sorted(client.list_tables()["TableNames"])


def test_recovery_table_is_deleted_only_when_it_is_this_rollbacks_restore(aws):
    make_table(aws)
    make_table(aws, "other")
    assert run(recovery, DELETE)["status"] == "absent" and not run(recovery, DELETE)["changed"]

    aws.create_table(TableName=SCRATCH, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    assert "is not a point-in-time restore" in fail(recovery, DELETE)["msg"]
    aws.delete_table(TableName=SCRATCH)

    restore(aws, source="other")
    assert "is a restore of" in fail(recovery, DELETE)["msg"] and "not of" in fail(recovery, DELETE)["msg"]
    aws.delete_table(TableName=SCRATCH)
    restore(aws, rollback_id="rb-20261130T030000Z-000000")
    assert "belongs to rollback rb-20261130T030000Z-000000" in fail(recovery, DELETE)["msg"]
    assert "is the source table itself" in fail(recovery, dict(DELETE, table="live"))["msg"]
    assert SCRATCH in names(aws) and "live" in names(aws)


def test_recovery_table_deletion_turns_deletion_protection_off_first(aws):
    make_table(aws)
    restore(aws)
    aws.update_table(TableName=SCRATCH, DeletionProtectionEnabled=True)
    predicted = run(recovery, DELETE, check_mode=True, diff=True)
    assert predicted["deleted"] and predicted["diff"]["before"]["table"]["rollback_id"] == RID
    assert SCRATCH in names(aws)
    done = run(recovery, DELETE)
    assert done["deleted"] and done["deletion_protection_disabled"] and done["status"] == "ACTIVE"
    assert done["restore_of"].endswith(":table/live")
    assert names(aws) == ["live"]


def test_recovery_table_untagged_restore_is_ours_when_it_restores_the_source(aws):
    make_table(aws)
    restore(aws, rollback_id=None)  # the restore module tags it only once it is ACTIVE
    assert run(recovery, DELETE)["deleted"] and names(aws) == ["live"]


def test_recovery_table_waits_for_a_restore_still_creating():
    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    summary = {"SourceTableArn": arn + "live", "RestoreDateTime": NOW, "RestoreInProgress": True}

    def table(status, **extra):
        return {"Table": dict({"TableName": SCRATCH, "TableArn": arn + SCRATCH, "TableStatus": status,
                               "RestoreSummary": dict(summary, RestoreInProgress=status == "CREATING")}, **extra)}

    with Stubber(client) as stub:
        stub.add_response("describe_table", table("CREATING"), {"TableName": SCRATCH})
        stub.add_response("describe_table", {"Table": {"TableName": "live", "TableArn": arn + "live", "TableStatus": "ACTIVE"}},
                          {"TableName": "live"})
        stub.add_response("list_tags_of_resource", {"Tags": []}, {"ResourceArn": arn + SCRATCH})
        stub.add_response("describe_table", table("CREATING"), {"TableName": SCRATCH})
        stub.add_response("describe_table", table("ACTIVE"), {"TableName": SCRATCH})
        stub.add_response("delete_table", {}, {"TableName": SCRATCH})
        stub.add_response("describe_table", table("DELETING"), {"TableName": SCRATCH})
        stub.add_client_error("describe_table", "ResourceNotFoundException", expected_params={"TableName": SCRATCH})
        done = run(recovery, DELETE, clients={"dynamodb": client})
        stub.assert_no_pending_responses()
    assert done["deleted"] and done["status"] == "CREATING"
    assert [p["status"] for p in done["progress"]] == ["CREATING", "ACTIVE", "DELETING", "DELETED"]


# -- cloudwatch_metric_data ----------------------------------------------------------------------

DATA = {"namespace": "PropIE/Rollback", "dimensions": {"Environment": "staging"},
        "metrics": [{"name": "DrillRTO", "value": 1312.5, "unit": "Seconds", "dimensions": {}, "timestamp": None,
                     "storage_resolution": 60},
                    {"name": "DrillPassed", "value": 1, "unit": "Count", "dimensions": {"Kind": "drill"},
                     "timestamp": None, "storage_resolution": 60}]}


@pytest.mark.parametrize("change, message", [
    ({"namespace": "AWS/DynamoDB"}, "not starting with AWS/"),
    ({"namespace": ""}, "namespace ''"),
    ({"metrics": [{"name": "x", "value": float("nan")}]}, "is not a finite number"),
    ({"metrics": [{"name": "", "value": 1}]}, "the name needs 1-255 characters"),
    ({"metrics": [{"name": "x", "value": 1, "unit": "Parsecs"}]}, "unit 'Parsecs' is not one of"),
    ({"metrics": [{"name": "x", "value": 1, "timestamp": "2026-11-01T00:00:00Z"}]}, "outside what CloudWatch takes"),
    ({"metrics": [{"name": "x", "value": 1, "timestamp": "yesterday"}]}, "not an ISO 8601 time"),
    ({"metrics": [{"name": "x", "value": 1, "dimensions": {"D%d" % i: "v" for i in range(31)}}]}, "at most 30"),
    ({"metrics": [{"name": "x", "value": 1, "dimensions": {"Env": ""}}]}, "dimension 'Env'=''"),
])
def test_metric_data_is_checked_before_anything_is_sent(change, message):
    params = dict(DATA, **change)
    with pytest.raises(cwd.DataError, match=message):
        cwd.data_points(params["namespace"], params["dimensions"], params["metrics"], NOW)


def test_metric_data_dimensions_merge_and_batches_of_a_thousand():
    points = cwd.data_points("PropIE/Rollback", {"Environment": "staging", "Kind": "x"}, DATA["metrics"], NOW)
    assert points[1]["Dimensions"] == [{"Name": "Environment", "Value": "staging"}, {"Name": "Kind", "Value": "drill"}]
    assert points[0]["Timestamp"] == NOW and points[0]["Unit"] == "Seconds"
    client = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    many = cwd.data_points("PropIE/Rollback", {}, [{"name": "n", "value": i} for i in range(1001)], NOW)
    with Stubber(client) as stub:
        stub.add_response("put_metric_data", {}, {"Namespace": "PropIE/Rollback", "MetricData": many[:1000]})
        stub.add_response("put_metric_data", {}, {"Namespace": "PropIE/Rollback", "MetricData": many[1000:]})
        assert cwd.put(RetryingBotoClientWrapper(client, aws_retry), "PropIE/Rollback", many) == 2


def test_metric_data_is_published_and_read_back(aws):
    watch = boto3.client("cloudwatch", region_name=REGION)
    predicted = run(cwd, DATA, check_mode=True, diff=True)
    assert predicted["changed"] and predicted["requests"] == 0 and watch.list_metrics()["Metrics"] == []
    assert predicted["diff"]["after"]["metrics"][0]["dimensions"] == {"Environment": "staging"}
    sent = run(cwd, DATA)
    assert sent["requests"] == 1 and [m["name"] for m in sent["metrics"]] == ["DrillRTO", "DrillPassed"]
    stats = watch.get_metric_statistics(
        Namespace="PropIE/Rollback", MetricName="DrillRTO", Dimensions=[{"Name": "Environment", "Value": "staging"}],
        StartTime=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5),
        EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5), Period=60, Statistics=["Maximum"])
    assert [p["Maximum"] for p in stats["Datapoints"]] == [1312.5]
    assert "nothing was sent" in fail(cwd, dict(DATA, namespace="AWS/X"))["msg"]
