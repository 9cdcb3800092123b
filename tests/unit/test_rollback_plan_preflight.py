"""rollback_plan as the per-procedure playbooks' preflight: the options they pass (botocore Stubber).

- target_table_naming=restore_point: the recovery table dynamodb_pitr_restore will create;
- a target_table that is no DynamoDB table name fails before any call;
- amplify.job_id: the frontend plans the job the redeploy was told to rebuild;
- strategy: the stacks' action under a forced strategy (a strategy that does not fit fails).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.fakes import Exit, Fail, stubbed_clients
from tests.unit.test_rollback_plan import AMPLIFY, APP, NOW, RID, TABLE, TABLES, T0, app, backups
from tests.unit.test_rollback_plan import SERVICES, branch, job, run, source_table, ssm_target


@pytest.fixture
def aws():
    yield from stubbed_clients(SERVICES)


def test_restore_point_naming_is_the_restore_modules_name_for_a_time(aws):
    clients, stubs = aws
    point = (NOW - dt.timedelta(hours=1)).replace(microsecond=0)
    name = "%s-pitr-%s" % (TABLE, point.strftime("%Y%m%dT%H%M%SZ"))
    ddb = stubs["dynamodb"]
    ddb.add_response("describe_table", source_table(), {"TableName": TABLE})
    ddb.add_response("describe_continuous_backups", backups(NOW - dt.timedelta(days=2), NOW), {"TableName": TABLE})
    ddb.add_client_error("describe_table", "ResourceNotFoundException", expected_params={"TableName": name})
    ssm_target(stubs)
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point=point.isoformat(),
                                     target_table_naming="restore_point"))
    assert isinstance(out, Exit), out.result
    table = out.result["components"]["data"]["tables"][0]
    assert (table["target_table"], table["swap_targets"][0]["to"]) == (name, name)


def test_latest_is_named_after_the_incident_whatever_the_naming(aws):
    clients, stubs = aws
    ddb = stubs["dynamodb"]
    ddb.add_response("describe_table", source_table(), {"TableName": TABLE})
    ddb.add_response("describe_continuous_backups", backups(NOW - dt.timedelta(days=2), NOW), {"TableName": TABLE})
    ddb.add_client_error("describe_table", "ResourceNotFoundException",
                         expected_params={"TableName": "%s-pitr-%s" % (TABLE, RID)})
    ssm_target(stubs)
    out, _module = run(clients, dict(components=["data"], tables=TABLES, restore_point="latest",
                                     target_table_naming="restore_point"))
    assert isinstance(out, Exit), out.result
    assert out.result["components"]["data"]["tables"][0]["target_table"] == "%s-pitr-%s" % (TABLE, RID)


def test_a_target_table_longer_than_255_characters_fails_before_any_call(aws):
    clients, _stubs = aws
    tables = [dict(TABLES[0], target_table="t" * 300)]
    out, _module = run(clients, dict(components=["data"], tables=tables, restore_point="latest"))
    assert isinstance(out, Fail)
    assert out.result["msg"].startswith("tables[0].target_table 'tttt")
    assert "it is 300 characters long" in out.result["msg"] and "3 to 255 characters" in out.result["msg"]
    assert out.result["calls"] == 0


def test_the_frontend_plans_the_job_it_is_told_to_rebuild(aws):
    clients, stubs = aws
    amp = stubs["amplify"]
    amp.add_response("get_app", app(), {"appId": APP})
    amp.add_response("get_branch", branch(), {"appId": APP, "branchName": "production"})
    amp.add_response("list_jobs", {"jobSummaries": [job(5, "FAILED"), job(4), job(3)]},
                     {"appId": APP, "branchName": "production", "maxResults": 50})
    out, _module = run(clients, dict(components=["frontend"], amplify=dict(AMPLIFY, job_id="3")))
    assert isinstance(out, Exit), out.result
    assert out.result["components"]["frontend"]["target_job"] == "3"


def test_a_forced_strategy_that_does_not_fit_the_stack_fails(aws, tmp_path):
    clients, stubs = aws
    stack = {"Stacks": [{"StackName": "app", "StackId": "arn:aws:cloudformation:us-east-1:1:stack/app/x",
                         "StackStatus": "UPDATE_ROLLBACK_FAILED", "CreationTime": T0}]}
    stubs["cloudformation"].add_response("describe_stacks", stack, {"StackName": "app"})
    out, _module = run(clients, dict(components=["infra"], stacks=["app"], strategy="cancel",
                                     snapshot_dir=str(tmp_path / "none")))
    assert isinstance(out, Fail)
    assert out.result["msg"].startswith("infra: app: strategy cancel calls CancelUpdateStack, which accepts only")
