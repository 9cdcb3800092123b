"""set_stats of the entry playbooks: the result AWX shows on a job and hands to the next node
of a workflow, read from ansible-runner's artifacts (the playbook_on_stats event's
artifact_data, which is what AWX stores as the job's artifacts).

Each playbook publishes one key (alarms, shift, snapshot, amplify_rollback,
cloudformation_rollback, dynamodb_rollback) with the env, a status (succeeded, failed,
preview, check; completed, held or aborted for a shift) and what it did: ids, record paths,
decisions. A run that fails part way still publishes, with status failed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sandbox.scenarios import propie_incident as incident
from tests.integration.test_shift import FAST as SHIFT_FAST, _estate, _traffic

FAST = {"env": "sandbox", "amplify_redeploy_wait_delay": 1, "amplify_traffic_rollback_wait_delay": 1,
        "cloudformation_rollback_wait_delay": 1}


def stats(run) -> dict:
    """artifact_data of the run's playbook_on_stats event (artifacts/<id>/job_events/)."""
    (event,) = [e for e in run.events if e.get("event") == "playbook_on_stats"]
    return event["event_data"].get("artifact_data", {})


def test_alarms_publish_succeeded_preview_check_and_failed(sandbox, run_playbook):
    run = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox"})
    assert run.rc == 0, run.stdout
    alarms = stats(run)["alarms"]
    assert (alarms["env"], alarms["status"]) == ("sandbox", "succeeded")
    assert sorted(alarms["created"]) == sorted(alarms["alarms"]) and len(alarms["alarms"]) == 4
    assert alarms["topics"] == {"alerts": "arn:aws:sns:us-east-1:123456789012:prop-ie-sandbox-rollback-alerts"}

    preview = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox",
                                                              "rollback_env_requires_confirmation": True})
    assert preview.rc != 0  # stops after the preview, asking for -e confirm=sandbox
    assert stats(preview)["alarms"]["status"] == "preview"

    check = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox"}, check=True)
    assert check.rc == 0, check.stdout
    assert stats(check)["alarms"] == {**alarms, "status": "check", "created": []}

    bad = [{"name": "rate", "action": "rollback", "threshold": 5, "window": 300,
            "metric": {"namespace": "A", "name": "x", "statistic": "Median"}}]
    failed = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox", "rollback_triggers": bad})
    assert failed.rc != 0
    assert stats(failed)["alarms"]["status"] == "failed"


def test_snapshot_publishes_its_id_and_record(sandbox, run_playbook):
    run = run_playbook("playbooks/snapshot.yml", extravars={"env": "sandbox"})
    assert run.rc == 0, run.stdout
    snapshot = stats(run)["snapshot"]
    assert (snapshot["env"], snapshot["status"]) == ("sandbox", "succeeded")
    assert Path(snapshot["record"]["json"]).name == snapshot["id"] + ".json"
    assert Path(snapshot["record"]["json"]).is_file() and Path(snapshot["record"]["latest"]).is_file()
    assert snapshot["s3_key"] == "" and snapshot["healthy"] in (True, False)

    check = run_playbook("playbooks/snapshot.yml", extravars={"env": "sandbox"}, check=True)
    assert check.rc == 0, check.stdout
    assert (stats(check)["snapshot"]["status"], stats(check)["snapshot"]["record"]) == ("check", {})


def test_procedure_playbooks_publish_what_they_did(sandbox, run_playbook, tmp_path):
    incident.seed(sandbox)
    sandbox.set_time_scale(0.01)
    fast = {**FAST, "cloudformation_rollback_snapshot_dir": str(tmp_path / "snapshots")}

    run = run_playbook("playbooks/amplify_rollback.yml", extravars=fast)
    assert run.rc == 0, run.stdout
    amplify = stats(run)["amplify_rollback"]
    assert (amplify["status"], amplify["steps"], amplify["app_id"]) == ("succeeded", ["redeploy", "traffic"], "d4cebxzd5u3ynb")
    assert amplify["redeploy"]["action"] != "none" and amplify["redeploy"]["job"]
    assert amplify["traffic"]["verified"] is True and amplify["traffic"]["to"] == {"": "production", "www": "production"}

    run = run_playbook("playbooks/cloudformation_rollback.yml", extravars=fast)
    assert run.rc == 0, run.stdout
    cfn = stats(run)["cloudformation_rollback"]
    assert cfn["status"] == "succeeded"
    (stack,) = cfn["stacks"]
    assert (stack["stack_name"], stack["final_status"]) == (incident.STACK, "UPDATE_ROLLBACK_COMPLETE")
    assert {"action", "api_call", "initial_status", "rollback_id"} <= set(stack)

    point = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extravars = {"env": "sandbox", "restore_point": point, "rollback_id": "rb-20261130T034501Z-9f2c1a",
                 "dynamodb_pitr_rollback_wait_delay": 1,
                 "dynamodb_pitr_rollback_record_dir": str(tmp_path / "incidents")}
    run = run_playbook("playbooks/dynamodb_rollback.yml", extravars=extravars)
    assert run.rc == 0, run.stdout
    data = stats(run)["dynamodb_rollback"]
    assert (data["status"], data["action"], data["swap_back"]) == ("succeeded", "rollback", None)
    (table,) = data["tables"]
    assert (table["source_table"], table["status"], table["verified"]) == (incident.TABLE, "ACTIVE", True)
    assert (table["rollback_id"], table["restore_date_time"]) == ("rb-20261130T034501Z-9f2c1a", point)
    assert Path(table["swap_record"]).is_file() and "swap_back=" in table["swap_back_command"]

    back = run_playbook("playbooks/dynamodb_rollback.yml",
                        extravars={"env": "sandbox", "swap_back": table["swap_record"],
                                   "dynamodb_pitr_rollback_wait_delay": 1})
    assert back.rc == 0, back.stdout
    swapped = stats(back)["dynamodb_rollback"]
    assert (swapped["status"], swapped["action"], swapped["tables"]) == ("succeeded", "swap_back", [])
    assert swapped["swap_back"]["record"] == table["swap_record"]
    assert swapped["swap_back"]["recovery_table"] == table["recovery_table"]


def test_shift_publishes_completed_and_held(sandbox, run_playbook):
    app_id, _sqs, _url = _estate(sandbox)
    held = run_playbook("playbooks/shift.yml", extravars={"env": "sandbox", **SHIFT_FAST, "traffic_shift_bake_seconds": 5})
    assert held.rc != 0  # no metrics yet: inconclusive, held for a person
    shift = stats(held)["shift"]
    assert (shift["status"], shift["gate"]["decision"], shift["green_branch"]) == ("held", "inconclusive", "green")
    assert [s["percent"] for s in shift["steps"]] == [100]

    _traffic(sandbox, app_id)
    done = run_playbook("playbooks/shift.yml", extravars={"env": "sandbox", **SHIFT_FAST, "shift_decision": "continue"})
    assert done.rc == 0, done.stdout
    shift = stats(done)["shift"]
    assert (shift["status"], shift["decision"], shift["on_green"]) == ("completed", "continue", True)
