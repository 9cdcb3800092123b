"""The one command, `playbooks/rollback.yml -e env=sandbox`, on the seeded PropIE incident.

Emulated AWS durations in realistic ratios (a restore the longest, then the Amplify build,
then the stack), at a time scale that makes the whole run take seconds. End states are read
back with boto3; the request log shows what was called, when, and how often.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from sandbox.scenarios import propie_incident as incident
from tests.emulated import AdvanceWhenPolled
from tests.integration.killed import kill_at
from tests.integration.test_environments import _production_like

PLAYBOOK = "playbooks/rollback.yml"
APP_ID = "d4cebxzd5u3ynb"
# Emulated seconds: restore 20 min, build 5 min, stack phases 1 min, domain 30 s.
DURATIONS = {"restore_seconds": 1200, "job": {"PENDING": 2, "PROVISIONING": 10, "RUNNING": 288},
             "phase_seconds": 60, "domain_update_seconds": 30}
SCALE = 0.005  # real seconds per emulated second: the restore takes 6 s, the build 1.5 s
LONG_RESTORE_SECONDS = 7200  # 36 s at SCALE: a restore that cannot end before its wait starts


def _seed(sandbox, scale: float = SCALE) -> str:
    sandbox.set_time_scale(scale)
    incident.seed(sandbox)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": DURATIONS["restore_seconds"]})
    sandbox.control("POST", "amplify/config", {"job_durations": DURATIONS["job"],
                                               "domain_update_seconds": DURATIONS["domain_update_seconds"]})
    sandbox.control("POST", "cloudformation/config", {"phase_seconds": DURATIONS["phase_seconds"]})
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _estate(sandbox) -> dict:
    """What a person checks after a rollback, read with boto3."""
    amplify = sandbox.boto3_client("amplify")
    domain = amplify.get_domain_association(appId=APP_ID, domainName=incident.DOMAIN)["domainAssociation"]
    stack = sandbox.boto3_client("cloudformation").describe_stacks(StackName=incident.STACK)["Stacks"][0]
    table = sandbox.boto3_client("ssm").get_parameter(Name=incident.TABLE_PARAMETER)["Parameter"]["Value"]
    live = sandbox.control("GET", f"amplify/deployed?app_id={APP_ID}&branch_name=production")["deployed"]
    return {
        "traffic": {s["subDomainSetting"]["prefix"]: s["subDomainSetting"]["branchName"] for s in domain["subDomains"]},
        "stack": stack["StackStatus"],
        "table": table,
        "live_job": live and live["jobId"],
        "live_table": live and live.get("environmentVariables", {}).get("DATA_TABLE_NAME"),
    }


def _ops(sandbox, seq: int) -> list[str]:
    return [r["operation"] for r in sandbox.mutating_since(seq) if r.get("status", 200) < 400]


def _record(tmp_path: Path, incident_id: str) -> dict:
    return json.loads((tmp_path / "state" / "incidents" / "sandbox" / f"{incident_id}.json").read_text())


def test_one_command_rolls_the_seeded_incident_back(sandbox, run_playbook, tmp_path):
    point = _seed(sandbox)
    before = _estate(sandbox)
    assert before["traffic"] == {"": "green", "www": "green"} and before["stack"] == "UPDATE_ROLLBACK_FAILED"

    seq = sandbox.last_seq()
    check = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point}, check=True)
    assert check.rc == 0, check.stdout
    assert sandbox.mutating_since(seq) == []
    lines = check.result("Show the plan")["msg"]
    assert any(line.startswith("traffic:") for line in lines) and any(line.startswith("data:") for line in lines)

    # The restore lasts far longer (in real time) than the run's other steps take on any machine;
    # once the wait has polled twice, its end comes through the sandbox's clock.
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": LONG_RESTORE_SECONDS})
    seq = sandbox.last_seq()
    with AdvanceWhenPolled(sandbox, after="ContinueUpdateRollback", operation="DescribeTable",
                           seconds=LONG_RESTORE_SECONDS) as clock:
        run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point})
    assert run.rc == 0, run.stdout
    assert clock.advanced.is_set()
    incident_id = run.result("Check the request and fix the incident id")["ansible_facts"]["rollback_run"]["incident_id"]
    after = _estate(sandbox)
    recovery = f"{incident.TABLE}-pitr-{incident_id}"
    assert after["traffic"] == {"": "production", "www": "production"}
    assert after["stack"] == "UPDATE_ROLLBACK_COMPLETE"
    assert after["table"] == recovery and after["live_table"] == recovery
    items = sandbox.boto3_client("dynamodb").scan(TableName=recovery)["Items"]
    assert len(items) == incident.GOOD_ITEMS and {i["status"]["S"] for i in items} == {"FOR_SALE"}

    # The long wait shows what it waits for and the state now, at every poll.
    assert "... rollback-sandbox: waiting" in run.stdout and "restore " + recovery + " CREATING" in run.stdout
    ops = _ops(sandbox, seq)
    assert ops.count("RestoreTableToPointInTime") == 1
    assert ops.count("ContinueUpdateRollback") == 1
    assert ops.count("StartJob") == 2, ops  # the RETRY of the last good build, then one rebuild for the swap
    # Traffic first: the domain moved before the restore, the rebuild or the stack action started.
    calls = sandbox.mutating_since(seq)
    first = {op: next(r["seq"] for r in calls if r["operation"] == op)
             for op in ("UpdateDomainAssociation", "RestoreTableToPointInTime", "StartJob", "ContinueUpdateRollback")}
    assert first["UpdateDomainAssociation"] < min(first["RestoreTableToPointInTime"], first["StartJob"],
                                                  first["ContinueUpdateRollback"])

    record = _record(tmp_path, incident_id)
    assert record["status"] == "succeeded" and record["env"] == "sandbox"
    assert set(record["components"]) == {"traffic", "frontend", "infra", "data"}
    assert all(c["status"] == "succeeded" for c in record["components"].values())
    assert record["data"][0]["restore_point"] == point and record["data"][0]["recovery_table"] == recovery
    assert record["time_to_traffic_restored_s"] < record["time_to_all_done_s"]
    for ext in ("md", "html"):
        assert (tmp_path / "state" / "incidents" / "sandbox" / f"{incident_id}.{ext}").stat().st_size > 0
    # Each step's window holds the calls it made (within a second, by the request log's clock).
    step_of = {"UpdateDomainAssociation": "traffic back on blue", "RestoreTableToPointInTime": "restores started",
               "ContinueUpdateRollback": "stack actions started"}
    steps = {s["step"]: s for s in record["timeline"]}
    for op, step in step_of.items():
        call = next(r for r in calls if r["operation"] == op)
        when = dt.datetime.fromisoformat(call["time"].replace("Z", "+00:00")).timestamp()
        window = [dt.datetime.fromisoformat(steps[step][k].replace("Z", "+00:00")).timestamp() for k in ("started", "ended")]
        assert window[0] - 1 <= when <= window[1] + 1, (op, call["time"], steps[step])

    # The same command again: nothing to do, no AWS change.
    seq = sandbox.last_seq()
    again = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point})
    assert again.rc == 0, again.stdout
    assert sandbox.mutating_since(seq) == []
    assert "Nothing to roll back on sandbox" in again.stdout


def test_production_like_env_refuses_without_confirm(sandbox, run_playbook, tmp_path):
    point = _seed(sandbox)
    inventory = _production_like(tmp_path)
    seq = sandbox.last_seq()
    run = run_playbook(PLAYBOOK, inventory=str(inventory), extravars={"env": "production", "restore_point": point})
    assert run.rc != 0
    assert sandbox.mutating_since(seq) == []
    said = " ".join(run.stdout.split())
    assert "production needs confirmation: nothing was changed" in said
    assert "-e confirm=production" in said and "traffic:" in said


def test_two_runs_at_once_one_proceeds_the_other_names_the_holder(sandbox, run_playbook, tmp_path):
    point = _seed(sandbox)
    results = {}

    def go(name):
        results[name] = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point})

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.rc for r in results.values())
    assert codes[0] == 0 and codes[1] != 0, {n: r.stdout[-2000:] for n, r in results.items()}
    loser = next(r for r in results.values() if r.rc != 0)
    said = " ".join(loser.stdout.split())
    assert "break_lock=rb-" in said
    ops = _ops(sandbox, 0)
    assert ops.count("RestoreTableToPointInTime") == 1


def test_a_stale_lease_of_a_dead_run_expires(sandbox, run_playbook, tmp_path):
    point = _seed(sandbox)
    ddb = sandbox.boto3_client("dynamodb")
    # A lease a killed run left behind, long expired.
    first = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point, "components": "infra"})
    assert first.rc == 0, first.stdout
    ddb.put_item(TableName="propie-rollback-locks", Item={
        "env": {"S": "sandbox"}, "incident_id": {"S": "rb-20260101T000000Z-000000"}, "holder": {"S": "dead"},
        "host": {"S": "gone"}, "started": {"S": "2026-01-01T00:00:00Z"}, "renewed": {"S": "2026-01-01T00:00:00Z"},
        "expires": {"S": "2026-01-01T00:15:00Z"}, "expires_at": {"N": "1767226500"}, "version": {"N": "1"}})
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point, "components": "traffic"})
    assert run.rc == 0, run.stdout
    assert _estate(sandbox)["traffic"] == {"": "production", "www": "production"}


# During the restore wait, during the frontend build, during the data swap.
@pytest.mark.parametrize("kill_when", ["RestoreTableToPointInTime", "StartJob", "PutParameter"])
def test_killed_mid_run_then_the_same_command_finishes_the_job(sandbox, tmp_path, run_printed, kill_when):
    """kill -9 of ansible-playbook once the given call was made, then the printed resume command."""
    point = _seed(sandbox)
    seq = sandbox.last_seq()
    resume = kill_at(sandbox, tmp_path, PLAYBOOK, ["env=sandbox", f"restore_point={point}"], kill_when)
    assert "incident_id=rb-" in resume
    again = run_printed(resume)
    assert again.returncode == 0, again.stdout
    after = _estate(sandbox)
    assert after["traffic"] == {"": "production", "www": "production"} and after["stack"] == "UPDATE_ROLLBACK_COMPLETE"
    assert after["table"].startswith(f"{incident.TABLE}-pitr-rb-") and after["live_table"] == after["table"], again.stdout[-6000:]
    ops = _ops(sandbox, seq)
    assert ops.count("RestoreTableToPointInTime") == 1, ops
    assert ops.count("ContinueUpdateRollback") == 1, ops
    assert ops.count("StartJob") == 2, ops
    tables = [t for t in sandbox.boto3_client("dynamodb").list_tables()["TableNames"] if "-pitr-" in t]
    assert len(tables) == 1


def test_check_mode_of_every_entry_playbook_previews_the_broken_estate(sandbox, run_playbook):
    point = _seed(sandbox)
    seq = sandbox.last_seq()
    for playbook in ("rollback", "amplify_rollback", "cloudformation_rollback", "dynamodb_rollback", "snapshot", "alarms"):
        check = run_playbook(f"playbooks/{playbook}.yml", extravars={"env": "sandbox", "restore_point": point}, check=True)
        assert check.rc == 0, (playbook, check.stdout)
    assert sandbox.mutating_since(seq) == []
