"""rollback_plan: edge cases the sandbox cannot produce on demand (botocore Stubber)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.propie.rollback.plugins.modules import rollback_plan
from tests.unit.fakes import Exit, Fail, FakeAWSModule, stubbed_clients

APP = "d4cebxzd5u3ynb"
RID = "rb-20261130T034501Z-9f2c1a"
TABLE = "prop-ie-sandbox-data"
TARGET = "%s-pitr-%s" % (TABLE, RID)
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/%s" % TABLE
NOW = dt.datetime.now(dt.timezone.utc)
T0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)
AMPLIFY = {"app_id": APP, "blue_branch": "production", "green_branch": "green", "domain": "prop-ie-app.com",
           "prefixes": ["", "www"]}


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for rollback_plan: its option defaults."""

    def __init__(self, clients, params, check_mode=False):
        super().__init__(clients, params, check_mode, defaults=dict(
            amplify=None, stacks=[], snapshot_dir=None, tables=[], restore_point=None, recorded_restore_points={}))


SERVICES = ("amplify", "cloudformation", "dynamodb", "ssm", "appsync", "lambda")


@pytest.fixture
def aws():
    yield from stubbed_clients(SERVICES)


@pytest.fixture
def sleeps(monkeypatch):
    slept = []
    monkeypatch.setattr(cloud.time, "sleep", slept.append)
    return slept


def run(clients, params, **kwargs):
    module = FakeModule(clients, dict(dict(incident_id=RID), **params), **kwargs)
    with pytest.raises((Exit, Fail)) as info:
        rollback_plan.do(module)
    return info.value, module


def job(job_id, status="SUCCEED", commit=None, job_type="RELEASE"):
    return {
        "jobArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/production/jobs/%s" % (APP, job_id),
        "jobId": str(job_id), "commitId": commit or "c%s" % job_id, "commitMessage": "commit %s" % job_id,
        "commitTime": T0, "startTime": T0 + dt.timedelta(minutes=int(job_id)), "status": status, "jobType": job_type,
    }


def app(repository="https://github.com/propie/prop-ie-aws-app"):
    return {"app": {"appId": APP, "appArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s" % APP, "name": "prop-ie-app",
                    "description": "", "repository": repository, "platform": "WEB", "createTime": T0, "updateTime": T0,
                    "environmentVariables": {}, "defaultDomain": "%s.amplifyapp.com" % APP,
                    "enableBranchAutoBuild": False, "enableBasicAuth": False}}


def branch(name="production", variables=None):
    return {"branch": {
        "branchArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/%s" % (APP, name), "branchName": name,
        "description": "", "stage": "PRODUCTION", "displayName": name, "enableNotification": False,
        "createTime": T0, "updateTime": T0, "environmentVariables": variables or {"DATA_TABLE_NAME": TABLE},
        "enableAutoBuild": True, "customDomains": [], "framework": "", "activeJobId": "5", "totalNumberOfJobs": "5",
        "enableBasicAuth": False, "ttl": "5", "enablePullRequestPreview": False}}


def source_table(sse=None):
    table = {"TableName": TABLE, "TableArn": TABLE_ARN, "TableStatus": "ACTIVE"}
    if sse:
        table["SSEDescription"] = sse
    return {"Table": table}


def backups(earliest, latest, status="ENABLED"):
    return {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": status, "PointInTimeRecoveryDescription": {
        "PointInTimeRecoveryStatus": status, "EarliestRestorableDateTime": earliest, "LatestRestorableDateTime": latest}}}


def expect_table_reads(stubs, latest, target=None, sse=None):
    ddb = stubs["dynamodb"]
    ddb.add_response("describe_table", source_table(sse), {"TableName": TABLE})
    ddb.add_response("describe_continuous_backups", backups(NOW - dt.timedelta(days=2), latest), {"TableName": TABLE})
    if target is None:
        ddb.add_client_error("describe_table", "ResourceNotFoundException", expected_params={"TableName": TARGET})
    else:
        ddb.add_response("describe_table", {"Table": target}, {"TableName": TARGET})


def ssm_target(stubs, value=TABLE, name="/prop-ie/sandbox/data-table"):
    stubs["ssm"].add_response("get_parameter", {"Parameter": {"Name": name, "Type": "String", "Value": value,
                                                              "Version": 1}},
                              {"Name": name, "WithDecryption": False})


TABLES = [{"name": TABLE, "swap_targets": [{"type": "ssm_parameter", "name": "/prop-ie/sandbox/data-table"}],
           "verify_min_item_count": 120, "verify_canaries": [{"key": {"pk": "A"}}]}]


# ---------------------------------------------------------------------------
# frontend: paging, throttling, stopping early
# ---------------------------------------------------------------------------


def test_throttled_listjobs_page_is_retried_and_paging_stops_once_decided(aws, sleeps):
    clients, stubs = aws
    amp = stubs["amplify"]
    amp.add_response("get_app", app(), {"appId": APP})
    amp.add_response("get_branch", branch(), {"appId": APP, "branchName": "production"})
    page = {"appId": APP, "branchName": "production", "maxResults": 50}
    amp.add_response("list_jobs", {"jobSummaries": [job(5, "FAILED")], "nextToken": "p2"}, page)
    amp.add_client_error("list_jobs", "ThrottlingException", http_status_code=400, expected_params=dict(page, nextToken="p2"))
    # Page 2 holds the known-good build: no page 3 is read although there is one.
    amp.add_response("list_jobs", {"jobSummaries": [job(4), job(3)], "nextToken": "p3"}, dict(page, nextToken="p2"))

    out, _module = run(clients, dict(components=["frontend"], amplify=AMPLIFY))
    assert isinstance(out, Exit), out.result
    frontend = out.result["components"]["frontend"]
    assert (frontend["action"], frontend["method"], frontend["from_job"], frontend["target_job"]) == (
        "start", "RETRY", "5", "4")
    assert out.result["lines"] == ["frontend: RETRY of job 4 on production (newest job 5 FAILED)"]
    assert out.result["calls"] == 5  # GetApp, GetBranch, ListJobs x3 (one throttled)
    assert len(sleeps) == 1
    assert out.result["todo"] == ["frontend"] and out.result["traffic_first"] is False


def test_app_without_repository_plans_startdeployment(aws, sleeps):
    clients, stubs = aws
    amp = stubs["amplify"]
    amp.add_response("get_app", app(repository=""), {"appId": APP})
    amp.add_response("get_branch", branch(), {"appId": APP, "branchName": "production"})
    jobs = [dict(job(2, "FAILED", job_type="MANUAL"), sourceUrl="s3://b/2.zip"),
            dict(job(1, job_type="MANUAL"), sourceUrl="s3://b/1.zip")]
    amp.add_response("list_jobs", {"jobSummaries": jobs}, {"appId": APP, "branchName": "production", "maxResults": 50})
    out, _module = run(clients, dict(components=["frontend"], amplify=AMPLIFY))
    assert out.result["components"]["frontend"]["method"] == "StartDeployment"
    assert out.result["components"]["frontend"]["target_job"] == "1"


def test_blue_without_any_good_build_fails_naming_the_branch(aws, sleeps):
    clients, stubs = aws
    amp = stubs["amplify"]
    amp.add_response("get_app", app(), {"appId": APP})
    amp.add_response("get_branch", branch(), {"appId": APP, "branchName": "production"})
    amp.add_response("list_jobs", {"jobSummaries": [job(1, "FAILED")]},
                     {"appId": APP, "branchName": "production", "maxResults": 50})
    out, _module = run(clients, dict(components=["frontend"], amplify=AMPLIFY))
    assert isinstance(out, Fail)
    assert "amplify.blue_branch production" in out.result["msg"] and "nothing was changed" in out.result["msg"]


# ---------------------------------------------------------------------------
# data: latest, recorded points, swap targets, existing targets
# ---------------------------------------------------------------------------


def test_latest_is_resolved_to_the_latest_restorable_time_to_the_second(aws):
    clients, stubs = aws
    latest = dt.datetime(2026, 11, 30, 3, 40, 12, 654321, tzinfo=dt.timezone.utc)
    expect_table_reads(stubs, latest, sse={"Status": "ENABLED", "SSEType": "KMS",
                                           "KMSMasterKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k1"})
    ssm_target(stubs)
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    assert isinstance(out, Exit), out.result
    [table] = out.result["components"]["data"]["tables"]
    assert (table["requested"], table["restore_point"]) == ("latest", "2026-11-30T03:40:12Z")
    assert table["target_table"] == TARGET
    assert table["sse"] == {"type": "KMS", "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k1"}
    assert table["swap_targets"] == [{"id": "ssm_parameter:/prop-ie/sandbox/data-table", "type": "ssm_parameter",
                                      "current": TABLE, "to": TARGET}]
    assert table["verify"] == {"min_item_count": 120, "canaries": 1}
    assert out.result["lines"] == [
        "data: restore %s to 2026-11-30T03:40:12Z as %s; verify min 120 items, 1 canary" % (TABLE, TARGET),
        "data: %s will be encrypted with KMS key arn:aws:kms:us-east-1:123456789012:key/k1 (as the source)" % TARGET,
        "data: swap ssm_parameter:/prop-ie/sandbox/data-table %s -> %s" % (TABLE, TARGET)]
    assert out.result["calls"] == 4


def test_recorded_restore_point_wins_over_latest_and_over_a_given_time(aws):
    clients, stubs = aws
    recorded = (NOW - dt.timedelta(hours=1)).replace(microsecond=0)
    for _round in range(2):
        expect_table_reads(stubs, NOW - dt.timedelta(minutes=5))
        ssm_target(stubs)
    params = dict(components=["data"], tables=TABLES, recorded_restore_points={TABLE: recorded.isoformat()})
    out, module = run(clients, dict(params, restore_point="latest"))
    [table] = out.result["components"]["data"]["tables"]
    assert (table["requested"], table["restore_point"]) == ("latest", recorded.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert module.warnings == []

    asked = (NOW - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out, module = run(clients, dict(params, restore_point=asked))
    [table] = out.result["components"]["data"]["tables"]
    assert (table["requested"], table["restore_point"]) == (asked, recorded.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "recorded_restore_points" in module.warnings[0]


def test_missing_swap_target_fails_naming_it(aws):
    clients, stubs = aws
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5))
    stubs["ssm"].add_client_error("get_parameter", "ParameterNotFound",
                                  expected_params={"Name": "/prop-ie/sandbox/data-table", "WithDecryption": False})
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    assert isinstance(out, Fail)
    msg = out.result["msg"]
    assert msg.startswith("tables[0].swap_targets[0] (ssm_parameter:/prop-ie/sandbox/data-table): SSM parameter")
    assert "does not exist" in msg and "nothing was changed" in msg


def test_missing_appsync_api_and_lambda_function_fail_naming_them(aws):
    clients, stubs = aws
    tables = [{"name": TABLE, "swap_targets": [{"type": "appsync_datasource", "api_id": "nope", "name": "Props"}]}]
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5))
    stubs["appsync"].add_client_error("get_data_source", "NotFoundException",
                                      expected_params={"apiId": "nope", "name": "Props"})
    stubs["appsync"].add_client_error("get_graphql_api", "NotFoundException", expected_params={"apiId": "nope"})
    out, _module = run(clients, dict(components=["data"], tables=tables, restore_point="latest"))
    assert "AppSync API nope does not exist" in out.result["msg"] and "swap_targets[0]" in out.result["msg"]

    tables = [{"name": TABLE, "swap_targets": [{"type": "lambda_env", "function_name": "api", "variable": "T"}]}]
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5))
    stubs["lambda"].add_client_error("get_function_configuration", "ResourceNotFoundException",
                                     expected_params={"FunctionName": "api"})
    out, _module = run(clients, dict(components=["data"], tables=tables, restore_point="latest"))
    assert "Lambda function api does not exist" in out.result["msg"]


def test_amplify_branch_env_swap_reads_the_variable_and_notes_the_rebuild(aws):
    clients, stubs = aws
    tables = [{"name": TABLE, "swap_targets": [
        {"type": "amplify_branch_env", "app_id": APP, "branch_name": "production", "variable": "DATA_TABLE_NAME"}]}]
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5))
    stubs["amplify"].add_response("get_branch", branch(), {"appId": APP, "branchName": "production"})
    out, _module = run(clients, dict(components=["data"], tables=tables, restore_point="latest"))
    [swap] = out.result["components"]["data"]["tables"][0]["swap_targets"]
    assert swap == {"id": "amplify_branch_env:%s/production:DATA_TABLE_NAME" % APP, "type": "amplify_branch_env",
                    "current": TABLE, "to": TARGET}
    assert out.result["lines"][-1] == ("data: branch production of app %s is rebuilt after the swap "
                                       "(DATA_TABLE_NAME is read at build time)" % APP)


def test_existing_restore_of_this_incident_is_resumed_at_its_own_point(aws):
    clients, stubs = aws
    restored = dt.datetime(2026, 11, 30, 3, 30, tzinfo=dt.timezone.utc)
    target = {"TableName": TARGET, "TableArn": TABLE_ARN + "-pitr", "TableStatus": "CREATING",
              "RestoreSummary": {"SourceTableArn": TABLE_ARN, "RestoreDateTime": restored, "RestoreInProgress": True}}
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5), target=target)
    stubs["dynamodb"].add_response("list_tags_of_resource", {"Tags": []}, {"ResourceArn": TABLE_ARN + "-pitr"})
    ssm_target(stubs)
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    [table] = out.result["components"]["data"]["tables"]
    assert (table["exists"], table["resumable"], table["target_status"], table["restore_point"]) == (
        True, True, "CREATING", "2026-11-30T03:30:00Z")
    assert out.result["lines"][0].startswith("data: resume the restore of %s" % TABLE)


def test_existing_restore_under_another_key_than_the_source_is_said(aws):
    clients, stubs = aws
    cmk, other = ("arn:aws:kms:us-east-1:123456789012:key/%s" % k for k in ("cmk", "other"))
    restored = dt.datetime(2026, 11, 30, 3, 30, tzinfo=dt.timezone.utc)
    target = {"TableName": TARGET, "TableArn": TABLE_ARN + "-pitr", "TableStatus": "CREATING",
              "SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": other},
              "RestoreSummary": {"SourceTableArn": TABLE_ARN, "RestoreDateTime": restored, "RestoreInProgress": True}}
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5), target=target,
                       sse={"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": cmk})
    stubs["dynamodb"].add_response("list_tags_of_resource", {"Tags": []}, {"ResourceArn": TABLE_ARN + "-pitr"})
    ssm_target(stubs)
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    [table] = out.result["components"]["data"]["tables"]
    assert table["sse"] == {"type": "KMS", "kms_key_arn": cmk}
    assert table["recovery_sse"] == {"type": "KMS", "kms_key_arn": other}
    assert out.result["lines"][1] == "data: %s is encrypted with KMS key %s, the source with KMS key %s" % (
        TARGET, other, cmk)


def test_existing_target_of_another_incident_fails(aws):
    clients, stubs = aws
    target = {"TableName": TARGET, "TableArn": TABLE_ARN + "-pitr", "TableStatus": "ACTIVE",
              "RestoreSummary": {"SourceTableArn": TABLE_ARN, "RestoreDateTime": T0, "RestoreInProgress": False}}
    expect_table_reads(stubs, NOW - dt.timedelta(minutes=5), target=target)
    stubs["dynamodb"].add_response("list_tags_of_resource", {"Tags": [
        {"Key": "propie-rollback:rollback-id", "Value": "rb-20261129T000000Z-000000"}]},
        {"ResourceArn": TABLE_ARN + "-pitr"})
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    assert isinstance(out, Fail)
    assert "belongs to rollback rb-20261129T000000Z-000000" in out.result["msg"]
    assert "tables[0]" in out.result["msg"] and "nothing was changed" in out.result["msg"]


def test_pitr_disabled_fails(aws):
    clients, stubs = aws
    ddb = stubs["dynamodb"]
    ddb.add_response("describe_table", source_table(), {"TableName": TABLE})
    ddb.add_response("describe_continuous_backups", {"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "DISABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}}, {"TableName": TABLE})
    ddb.add_client_error("describe_table", "ResourceNotFoundException", expected_params={"TableName": TARGET})
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest"))
    assert "point-in-time recovery is DISABLED" in out.result["msg"]


# ---------------------------------------------------------------------------
# inputs checked before any call
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("params,named", [
    (dict(components=["data"], tables=TABLES), "-e restore_point="),
    (dict(components=["data"], tables=TABLES, restore_point="yesterday"), "-e restore_point="),
    (dict(components=["traffic"]), "amplify"),
    (dict(components=["traffic"], amplify=dict(AMPLIFY, prefixes=[])), "amplify.prefixes"),
    (dict(components=["infra"]), "stacks"),
    (dict(components=["data"], restore_point="latest", tables=[{"name": TABLE, "swap_targets": [
        {"type": "ssm_parameter"}]}]), "tables[0].swap_targets[0]"),
    (dict(components=["data"], restore_point="latest", tables=TABLES,
          recorded_restore_points={TABLE: "latest"}), "recorded_restore_points[%s]" % TABLE),
    (dict(components=["frontend"], amplify=AMPLIFY, incident_id="incident-42"), "incident_id"),
])
def test_bad_inputs_fail_before_any_call(aws, params, named):
    clients, _stubs = aws
    out, _module = run(clients, params)
    assert isinstance(out, Fail)
    assert named in out.result["msg"] and out.result["calls"] == 0, out.result


def test_stack_in_rollback_complete_fails_and_update_complete_without_snapshot_is_nothing(aws, tmp_path):
    clients, stubs = aws
    cfn = stubs["cloudformation"]

    def stack(name, status):
        return {"Stacks": [{"StackName": name, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/%s/x" % name,
                            "StackStatus": status, "CreationTime": T0}]}

    cfn.add_response("describe_stacks", stack("ok", "UPDATE_COMPLETE"), {"StackName": "ok"})
    cfn.add_response("describe_stacks", stack("dead", "ROLLBACK_COMPLETE"), {"StackName": "dead"})
    out, _module = run(clients, dict(components=["infra"], stacks=["ok", "dead"], snapshot_dir=str(tmp_path / "none")))
    assert isinstance(out, Fail)
    assert out.result["msg"].startswith("infra: dead: the stack is in ROLLBACK_COMPLETE")
    assert out.result["lines"] == ["infra: ok UPDATE_COMPLETE: nothing to do "
                                   "(UPDATE_COMPLETE and no snapshot to compare with: nothing to roll back)"]
