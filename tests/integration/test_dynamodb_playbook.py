"""playbooks/dynamodb_rollback.yml -e env=sandbox against the seeded PropIE incident.

The seed (`python -m sandbox seed --scenario propie-incident`) writes 120 good items about 90
minutes ago and corrupts them about 20 minutes ago; the sandbox inventory's swap targets are the
production branch's DATA_TABLE_NAME, an SSM parameter and an AppSync data source.
"""

from __future__ import annotations

import datetime as dt
import shlex

from sandbox.scenarios import propie_incident as incident
from tests.conftest import REPO, recap

PLAYBOOK = "playbooks/dynamodb_rollback.yml"
RID = "rb-20261130T034501Z-9f2c1a"
APP_ID = "d4cebxzd5u3ynb"  # the inventory's rollback_amplify_app_id: the sandbox's id of prop-ie-app


def _live_build(sandbox) -> dict:
    """The production build visitors get, with the variables it was built with."""
    return sandbox.control("GET", f"amplify/deployed?app_id={APP_ID}&branch_name={incident.BLUE}")["deployed"]


def _swap_targets(sandbox) -> dict:
    """Where the application reads its table name (the inventory's swap targets)."""
    amplify = sandbox.boto3_client("amplify").get_branch(appId=APP_ID, branchName=incident.BLUE)["branch"]
    source = sandbox.boto3_client("appsync").get_data_source(apiId=incident.APPSYNC_API_ID, name="PropertiesTable")
    return {
        "amplify_branch": amplify["environmentVariables"]["DATA_TABLE_NAME"],
        "amplify_live": _live_build(sandbox)["environmentVariables"]["DATA_TABLE_NAME"],
        "ssm": sandbox.boto3_client("ssm").get_parameter(Name=incident.TABLE_PARAMETER)["Parameter"]["Value"],
        "appsync": source["dataSource"]["dynamodbConfig"]["tableName"],
    }


def _everywhere(table: str) -> dict:
    return {"amplify_branch": table, "amplify_live": table, "ssm": table, "appsync": table}


LOCK_OPS = {"PutItem", "UpdateItem", "DeleteItem"}


def estate_mutations(sandbox, seq: int) -> list[str]:
    """Mutating calls since `seq` other than the env lease's item writes in the lock table."""
    return [r["operation"] for r in sandbox.mutating_since(seq)
            if not (r["service"] == "dynamodb" and r["operation"] in LOCK_OPS)]


def test_playbook_rolls_the_seeded_table_back_swaps_and_swaps_back(sandbox, run_playbook, run_printed, tmp_path):
    sandbox.set_time_scale(0.01)  # the seed restores this scale when it is done
    facts = incident.seed(sandbox)
    assert facts["app_id"] == APP_ID
    ddb = sandbox.boto3_client("dynamodb")
    before = _swap_targets(sandbox)
    assert before == _everywhere(incident.TABLE)
    point = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extravars = {"env": "sandbox", "restore_point": point, "rollback_id": RID,
                 "dynamodb_pitr_rollback_wait_delay": 1,
                 "dynamodb_pitr_rollback_record_dir": str(tmp_path / "incidents")}

    seq = sandbox.last_seq()
    check = run_playbook(PLAYBOOK, extravars=extravars, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert sandbox.mutating_since(seq) == []
    assert not (tmp_path / "incidents").exists()

    run = run_playbook(PLAYBOOK, extravars=extravars, diff=True)
    assert run.rc == 0, run.stdout
    result = run.result("Record the DynamoDB rollback")["ansible_facts"]["dynamodb_pitr_rollback_result"]
    recovery = result["recovery_table"]
    assert (result["rollback_id"], result["status"], result["restore_date_time"]) == (RID, "ACTIVE", point)
    items = ddb.scan(TableName=recovery)["Items"]
    assert len(items) == incident.GOOD_ITEMS
    assert {i["status"]["S"] for i in items} == {"FOR_SALE"}  # nothing CORRUPTED, nothing deleted
    assert result["verification"] and all(c["ok"] for c in result["verification"])
    # Every target names the recovery table, and the Amplify build that serves was rebuilt to read it.
    assert _swap_targets(sandbox) == _everywhere(recovery)
    assert _live_build(sandbox)["jobId"] == "6"  # seeded jobs 1-5 (5 is the broken release)
    assert [(a["rebuild"], a["job_status"]) for a in result["swap"]["amplify"]] == [("started", "SUCCEED")]
    assert ddb.scan(TableName=incident.TABLE, Select="COUNT")["Count"] < incident.GOOD_ITEMS  # source untouched

    seq = sandbox.last_seq()
    rerun = run_playbook(PLAYBOOK, extravars=extravars)
    assert rerun.rc == 0 and rerun.changed_tasks == [], rerun.changed_tasks
    # Only the env's lease in the lock table (taken and released), nothing of the estate.
    assert estate_mutations(sandbox, seq) == []

    # Swap back with the one command the rollback printed, as printed, from the same directory.
    printed = run.result("Say how to swap back")["msg"].split(":", 1)[1].strip()
    words = shlex.split(printed)
    assert words[:2] == ["ansible-playbook", str(REPO / PLAYBOOK)] and "env=sandbox" in words, words
    back = run_printed(printed)
    assert back.returncode == 0, back.stdout
    assert _swap_targets(sandbox) == before
    assert _live_build(sandbox)["jobId"] == "7"
    assert ddb.describe_table(TableName=recovery)["Table"]["TableStatus"] == "ACTIVE"  # kept

    seq = sandbox.last_seq()
    again = run_printed(printed)
    assert again.returncode == 0, again.stdout
    assert recap(again.stdout)["rollback-sandbox"]["changed"] == 0, again.stdout
    assert estate_mutations(sandbox, seq) == []
