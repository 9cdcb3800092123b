"""The amplify_traffic_rollback and amplify_redeploy roles, every input given as a role variable.

Inline plays on localhost with connection options from module_defaults; the repository's
inventories are not used (see test_amplify_info for the helpers).
"""

from __future__ import annotations

from tests.integration.test_amplify_helpers import BLUE, GREEN, history, make_app, mapping, operations
from tests.integration.test_amplify_info import READ, local_inventory, play, retries, traffic_role

FAST_REDEPLOY = {"amplify_redeploy_wait_delay": 1, "amplify_redeploy_wait_timeout": 120}
SWITCH = "Switch the domain's traffic to the blue branch"
REFUSE = "Refuse to move traffic to a blue branch that serves no good build"


def redeploy_role(app_id: str) -> str:
    return play(roles=[{"role": "propie.rollback.amplify_redeploy", "amplify_redeploy_app_id": app_id,
                        "amplify_redeploy_branch": BLUE, **FAST_REDEPLOY}])


def test_traffic_rollback_check_apply_reapply(sandbox, run_playbook, tmp_path):
    # The repository app is prop-ie-app: its id is the sandbox inventory's rollback_amplify_app_id.
    app_id = make_app(sandbox, True, blue_jobs=history(True, newest="SUCCEED"))
    assert app_id == "d4cebxzd5u3ynb"
    traffic, inventory = traffic_role(app_id, amplify_traffic_rollback_wait_timeout=60), local_inventory(tmp_path)

    seq = sandbox.last_seq()
    run = run_playbook(traffic, check=True, diff=True, inventory=inventory)
    assert run.rc == 0, run.stdout
    assert run.result(SWITCH)["changed"] is True
    assert sandbox.mutating_since(seq) == []

    seq = sandbox.last_seq()
    run = run_playbook(traffic, diff=True, inventory=inventory)
    assert run.rc == 0, run.stdout
    record = run.result("Record the traffic rollback")["ansible_facts"]["amplify_traffic_rollback_result"]
    assert record["verified"] is True and record["to"] == {"": BLUE, "www": BLUE, "beta": GREEN}
    assert record["from"] == {"": GREEN, "www": GREEN, "beta": GREEN}
    assert (record["blue_health"], record["blue_job"]["job_id"], record["blue_serving_job"]["job_id"]) == ("good", "4", "4")
    assert operations(sandbox, seq, mutating=True) == ["UpdateDomainAssociation"]
    assert mapping(sandbox, app_id)["www"] == BLUE

    seq = sandbox.last_seq()
    run = run_playbook(traffic, inventory=inventory)
    assert run.rc == 0, run.stdout
    assert run.changed_tasks == []
    assert sandbox.mutating_since(seq) == []


def test_traffic_rollback_waits_then_refuses_while_blue_failed_in_its_deploy_step(sandbox, run_playbook, tmp_path):
    # A manual app: blue's newest deployment (job 4) FAILED in its DEPLOY step, which may have
    # left the branch between builds. The role polls for the wait timeout, then refuses.
    app_id = make_app(sandbox, False)
    seq = sandbox.last_seq()
    run = run_playbook(traffic_role(app_id, amplify_traffic_rollback_wait_timeout=2), inventory=local_inventory(tmp_path))
    assert run.rc != 0 and run.failed_tasks == [REFUSE], run.stdout
    assert len(retries(run)) == 2 and run.result(READ)["attempts"] == 3
    msg = run.result(REFUSE)["msg"]
    assert "Not moving traffic to the blue branch production: what it serves is still unknown after waiting up to 2s" in msg
    assert "newer job 4 ended FAILED in its DEPLOY step" in msg and "Traffic stays where it is" in msg
    assert SWITCH not in run.task_results
    assert sandbox.mutating_since(seq) == []
    assert mapping(sandbox, app_id)[""] == GREEN


def test_redeploy_role_then_traffic(sandbox, run_playbook, tmp_path):
    app_id = make_app(sandbox, True)
    redeploy, inventory = redeploy_role(app_id), local_inventory(tmp_path)
    seq = sandbox.last_seq()
    run = run_playbook(redeploy, check=True, inventory=inventory)
    assert run.rc == 0, run.stdout
    assert sandbox.mutating_since(seq) == []

    run = run_playbook(redeploy, inventory=inventory)
    assert run.rc == 0, run.stdout
    record = run.result("Record the redeploy")["ansible_facts"]["amplify_redeploy_result"]
    assert (record["action"], record["target_job"]["job_id"], record["job"]["status"]) == ("started", "3", "SUCCEED")
    assert record["rollback_id"].startswith("rb-")

    seq = sandbox.last_seq()
    run = run_playbook(redeploy, inventory=inventory)
    assert run.rc == 0, run.stdout
    assert run.changed_tasks == []
    assert sandbox.mutating_since(seq) == []

    # Blue serves the successful rebuild (job 5): traffic moves.
    run = run_playbook(traffic_role(app_id, amplify_traffic_rollback_wait_timeout=60), inventory=inventory)
    assert run.rc == 0, run.stdout
    assert run.result("Record the traffic rollback")["ansible_facts"]["amplify_traffic_rollback_result"][
        "blue_serving_job"]["job_id"] == "5"
    assert mapping(sandbox, app_id)[""] == BLUE
