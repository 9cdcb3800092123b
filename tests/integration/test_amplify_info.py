"""amplify_branch_info, amplify_domain_info and the traffic role's blue health, through ansible-playbook.

Inline plays on localhost with connection options from module_defaults (the group
propie.rollback.rollback); no repository inventory or playbook is used.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.test_amplify_helpers import BLUE, DOMAIN, GREEN, history, job, make_app, mapping, operations

# Only the region: the sandbox fixture's AWS_ENDPOINT_URL points botocore at the sandbox.
MODULE_DEFAULTS = {"group/propie.rollback.rollback": {"region": "us-east-1"}}
READ = "Read what the blue branch serves, waiting while a deploy makes it unknown"
REFUSE = "Refuse to move traffic to a blue branch that serves no good build"
SWITCH = "Switch the domain's traffic to the blue branch"
RECORD = "Record the traffic rollback"


def local_inventory(tmp_path: Path) -> str:
    """An inventory of localhost alone (the repository's inventories are not used)."""
    path = tmp_path / "localhost.yml"
    path.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                    "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n")
    return str(path)


def play(tasks: list[dict[str, Any]] | None = None, roles: list[dict[str, Any]] | None = None) -> str:
    """A play on localhost with the collection's connection defaults (JSON is YAML)."""
    body: dict[str, Any] = {"name": "Amplify info test", "hosts": "localhost", "gather_facts": False,
                            "module_defaults": MODULE_DEFAULTS}
    if tasks:
        body["tasks"] = tasks
    if roles:
        body["roles"] = roles
    return "---\n" + json.dumps([body], indent=2) + "\n"


def traffic_role(app_id: str, **overrides: Any) -> str:
    """The traffic role with every input given (no inventory defaults), fast polls."""
    role = {"role": "propie.rollback.amplify_traffic_rollback",
            "amplify_traffic_rollback_app_id": app_id, "amplify_traffic_rollback_blue_branch": BLUE,
            "amplify_traffic_rollback_domain": DOMAIN, "amplify_traffic_rollback_prefixes": ["", "www"],
            "amplify_traffic_rollback_wait_delay": 1, "amplify_traffic_rollback_wait_timeout": 120,
            **overrides}
    return play(roles=[role])


def retries(run) -> list[dict[str, Any]]:
    return [e for e in run.events if e.get("event") == "runner_retry"]


def record(run) -> dict[str, Any]:
    return run.result(RECORD)["ansible_facts"]["amplify_traffic_rollback_result"]


def deployed(sandbox, app_id: str, branch: str = BLUE) -> dict[str, Any] | None:
    return sandbox.control("GET", f"amplify/deployed?app_id={app_id}&branch_name={branch}")["deployed"]


def test_branch_info_newest_failed_in_build_still_serves_the_last_good_build(sandbox, run_playbook, tmp_path):
    app_id = make_app(sandbox, True)  # blue: 1.1-1.3 SUCCEED, then job 4 FAILED (in BUILD)
    info = play(tasks=[{"name": "Read the branches", "propie.rollback.amplify_branch_info":
                        {"app_id": app_id, "branch_names": [BLUE, GREEN]}, "register": "out"}])
    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_playbook(info, check=check, inventory=local_inventory(tmp_path))
        assert run.rc == 0, run.stdout
        res = run.result("Read the branches")
        blue = res["branches"][BLUE]
        assert (blue["exists"], blue["health"], blue["health_job_id"]) == (True, "good", "3"), blue["health_reason"]
        assert blue["serving_job"]["job_id"] == deployed(sandbox, app_id)["jobId"] == "3"
        assert (blue["newest_job"]["job_id"], blue["newest_job"]["status"]) == ("4", "FAILED")
        assert "job 3" in blue["health_reason"] and "job 4 FAILED in its BUILD step" in blue["health_reason"]
        assert blue["environment_variables"] == {"DATA_TABLE_NAME": "prop-ie-sandbox-data"}
        assert res["branches"][GREEN]["health"] == "good"
        assert res["changed"] is False
        # One GetApp, a GetBranch and a ListJobs page per branch, GetJob only for blue's failed job 4.
        assert sorted(operations(sandbox, seq)) == sorted(
            ["GetApp", "GetBranch", "GetBranch", "ListJobs", "ListJobs", "GetJob"])
        assert sandbox.mutating_since(seq) == []


def test_role_moves_traffic_to_blue_at_once_when_its_newest_build_failed_before_deploying(sandbox, run_playbook, tmp_path):
    app_id = make_app(sandbox, True)
    seq = sandbox.last_seq()
    run = run_playbook(traffic_role(app_id), inventory=local_inventory(tmp_path))
    assert run.rc == 0, run.stdout
    assert retries(run) == [] and run.result(READ)["attempts"] == 1  # one read, no wait
    ops = operations(sandbox, seq)
    assert "StartJob" not in ops and "StartDeployment" not in ops
    assert operations(sandbox, seq, mutating=True) == ["UpdateDomainAssociation"]
    assert mapping(sandbox, app_id) == {"": BLUE, "www": BLUE, "beta": GREEN}
    rec = record(run)
    assert (rec["blue_health"], rec["blue_serving_job"]["job_id"], rec["blue_job"]["job_id"]) == ("good", "3", "4")
    assert rec["verified"] is True and rec["to"] == {"": BLUE, "www": BLUE, "beta": GREEN}


def test_role_refuses_a_blue_branch_without_a_successful_build(sandbox, run_playbook, tmp_path):
    app_id = make_app(sandbox, True, blue_jobs=[job(True, "FAILED", 1, minutes_ago=90), job(True, "FAILED", 2, minutes_ago=30)])
    seq = sandbox.last_seq()
    run = run_playbook(traffic_role(app_id), inventory=local_inventory(tmp_path))
    assert run.rc != 0 and run.failed_tasks == [REFUSE], run.stdout
    msg = run.result(REFUSE)["msg"]
    assert msg.startswith("Not moving traffic to the blue branch production: Branch production serves no successful build")
    assert "newest: job 2 (FAILED" in msg and "Traffic stays where it is" in msg
    assert retries(run) == [] and SWITCH not in run.task_results
    assert sandbox.mutating_since(seq) == []
    assert mapping(sandbox, app_id)[""] == GREEN

    # `-e ...=false` arrives as a string: | bool makes it switch anyway (a person checked blue).
    run = run_playbook(traffic_role(app_id, amplify_traffic_rollback_require_healthy_blue="false"),
                       inventory=local_inventory(tmp_path))
    assert run.rc == 0, run.stdout
    assert record(run)["blue_health"] == "none" and mapping(sandbox, app_id)[""] == BLUE


def test_unknown_branch_and_domain_fail_clearly_and_change_nothing(sandbox, run_playbook, tmp_path):
    app_id = make_app(sandbox, True)
    inventory = local_inventory(tmp_path)
    seq = sandbox.last_seq()
    reads = play(tasks=[
        {"name": "Unknown branch", "propie.rollback.amplify_branch_info": {"app_id": app_id, "branch_names": [BLUE, "blu"]},
         "ignore_errors": True},
        {"name": "Unknown branch, missing_ok", "propie.rollback.amplify_branch_info":
         {"app_id": app_id, "branch_name": "blu", "missing_ok": True}},
        {"name": "Unknown app", "propie.rollback.amplify_branch_info": {"app_id": "dnosuchapp0000", "branch_name": BLUE},
         "ignore_errors": True},
        {"name": "Known domain", "propie.rollback.amplify_domain_info": {"app_id": app_id, "domain_name": DOMAIN}},
        {"name": "Unknown domain", "propie.rollback.amplify_domain_info": {"app_id": app_id, "domain_name": "prop-ie.com"},
         "ignore_errors": True},
        {"name": "Unknown domain, missing_ok", "propie.rollback.amplify_domain_info":
         {"app_id": app_id, "domain_name": "prop-ie.com", "missing_ok": True}},
    ])
    run = run_playbook(reads, inventory=inventory)
    assert run.rc == 0, run.stdout
    assert run.result("Unknown branch")["msg"] == (
        f"Amplify app {app_id} (prop-ie-app) has no branch 'blu'; its branches: green, production")
    missing = run.result("Unknown branch, missing_ok")["branches"]["blu"]
    assert (missing["exists"], missing["health"]) == (False, "none")
    assert run.result("Unknown app")["msg"] == (
        f"Amplify app 'dnosuchapp0000' does not exist in region us-east-1 (apps there: {app_id} (prop-ie-app))")
    known = run.result("Known domain")
    assert known["exists"] is True and known["domain"]["mapping"] == {"": GREEN, "www": GREEN, "beta": GREEN}
    assert known["domain"]["domain_status"] == "AVAILABLE"
    assert known["domain"]["sub_domains"][0]["sub_domain_setting"] == {"prefix": "", "branch_name": GREEN}
    assert run.result("Unknown domain")["msg"] == (
        f"Amplify app {app_id} has no domain association 'prop-ie.com'; its domains: {DOMAIN}")
    assert run.result("Unknown domain, missing_ok")["exists"] is False

    run = run_playbook(traffic_role(app_id, amplify_traffic_rollback_blue_branch="blu"), inventory=inventory)
    assert run.rc != 0 and run.failed_tasks == [READ], run.stdout
    assert "has no branch 'blu'; its branches: green, production" in run.result(READ)["msg"]
    assert retries(run) == []  # a failed read is not polled again

    run = run_playbook(traffic_role(app_id, amplify_traffic_rollback_domain="prop-ie.com"), inventory=inventory)
    assert run.rc != 0 and run.failed_tasks == [SWITCH], run.stdout
    assert f"Amplify app {app_id} has no domain association 'prop-ie.com'" in run.result(SWITCH)["msg"]

    assert sandbox.mutating_since(seq) == []
    assert mapping(sandbox, app_id)[""] == GREEN


def test_role_waits_while_blue_is_in_its_deploy_step_then_moves_traffic(sandbox, run_playbook, tmp_path):
    # A manual app: a deployment is all DEPLOY step. It runs for 1000 s of emulated time,
    # until the test lets emulated time jump, once the role has seen it deploying.
    sandbox.control("POST", "amplify/config", {"job_durations": {"PENDING": 0, "PROVISIONING": 0, "RUNNING": 100000}})
    app_id = make_app(sandbox, False, blue_jobs=history(False, newest="SUCCEED"))
    amplify = sandbox.boto3_client("amplify")
    new = amplify.start_deployment(appId=app_id, branchName=BLUE, sourceUrl="s3://prop-ie-builds/release-1.5.zip",
                                   sourceUrlType="ZIP")["jobSummary"]["jobId"]
    steps = amplify.get_job(appId=app_id, branchName=BLUE, jobId=new)["job"]["steps"]
    assert [(s["stepName"], s["status"]) for s in steps] == [("DEPLOY", "RUNNING")]
    seq = sandbox.last_seq()
    seen = threading.Event()

    def finish_the_deploy_once_the_role_has_seen_it() -> None:
        deadline = time.monotonic() + 120
        while "GetJob" not in operations(sandbox, seq):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)  # a real poll of the request log: the playbook runs in another process
        seen.set()
        sandbox.set_time_scale(0.000001)  # every emulated duration is over: the deploy SUCCEEDs

    watcher = threading.Thread(target=finish_the_deploy_once_the_role_has_seen_it, daemon=True)
    watcher.start()
    run = run_playbook(traffic_role(app_id), inventory=local_inventory(tmp_path))
    watcher.join(timeout=5)
    assert seen.is_set(), run.stdout
    assert run.rc == 0, run.stdout
    waits = retries(run)
    assert waits and all(w["event_data"]["task"] == READ for w in waits)
    first = waits[0]["event_data"]["res"]["branches"][BLUE]
    assert (first["health"], first["health_job_id"]) == ("unknown", new), first["health_reason"]
    assert f"job {new} is RUNNING in its DEPLOY step" in first["health_reason"]
    rec = record(run)
    assert (rec["blue_health"], rec["blue_serving_job"]["job_id"]) == ("good", new)
    assert deployed(sandbox, app_id)["jobId"] == new
    assert operations(sandbox, seq, mutating=True) == ["UpdateDomainAssociation"]
    assert mapping(sandbox, app_id) == {"": BLUE, "www": BLUE, "beta": GREEN}
