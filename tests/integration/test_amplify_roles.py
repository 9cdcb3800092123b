"""The amplify_traffic_rollback and amplify_redeploy roles with the sandbox inventory's variables."""

from __future__ import annotations

from tests.integration.test_amplify_helpers import BLUE, GREEN, history, make_app, mapping, operations

TRAFFIC = """
- name: Traffic rollback
  hosts: localhost
  gather_facts: false
  roles:
    - role: propie.rollback.amplify_traffic_rollback
"""
REDEPLOY = """
- name: Redeploy
  hosts: localhost
  gather_facts: false
  roles:
    - role: propie.rollback.amplify_redeploy
"""
FAST_TRAFFIC = {"amplify_traffic_rollback_wait_delay": 1, "amplify_traffic_rollback_wait_timeout": 60}
FAST_REDEPLOY = {"amplify_redeploy_wait_delay": 1, "amplify_redeploy_wait_timeout": 120}
SWITCH = "Switch the domain's traffic to the blue branch"
REFUSE = "Refuse to move traffic to an unhealthy blue branch"


def test_traffic_rollback_check_apply_reapply(sandbox, run_playbook):
    # The repository app is prop-ie-app: its id is the inventory's rollback_amplify_app_id.
    app_id = make_app(sandbox, True, blue_jobs=history(True, newest="SUCCEED"))
    assert app_id == "d4cebxzd5u3ynb"

    seq = sandbox.last_seq()
    run = run_playbook(TRAFFIC, extravars=FAST_TRAFFIC, check=True, diff=True)
    assert run.rc == 0, run.stdout
    assert run.result(SWITCH)["changed"] is True
    assert sandbox.mutating_since(seq) == []

    seq = sandbox.last_seq()
    run = run_playbook(TRAFFIC, extravars=FAST_TRAFFIC, diff=True)
    assert run.rc == 0, run.stdout
    record = run.result("Record the traffic rollback")["ansible_facts"]["amplify_traffic_rollback_result"]
    assert record["verified"] is True and record["to"] == {"": BLUE, "www": BLUE, "beta": GREEN}
    assert record["from"] == {"": GREEN, "www": GREEN, "beta": GREEN}
    assert operations(sandbox, seq, mutating=True) == ["UpdateDomainAssociation"]
    assert mapping(sandbox, app_id)["www"] == BLUE

    seq = sandbox.last_seq()
    run = run_playbook(TRAFFIC, extravars=FAST_TRAFFIC)
    assert run.rc == 0, run.stdout
    assert run.changed_tasks == []
    assert sandbox.mutating_since(seq) == []


def test_traffic_rollback_refuses_an_unhealthy_blue_branch(sandbox, run_playbook):
    app_id = make_app(sandbox, True)  # production's newest build FAILED
    seq = sandbox.last_seq()
    run = run_playbook(TRAFFIC, extravars=FAST_TRAFFIC)
    assert run.rc != 0 and run.failed_tasks == [REFUSE]
    msg = run.result(REFUSE)["msg"]
    assert "blue branch production is not healthy" in msg and "newest job 4" in msg and "is FAILED" in msg
    assert SWITCH not in run.task_results
    assert sandbox.mutating_since(seq) == []
    assert mapping(sandbox, app_id)[""] == GREEN


def test_redeploy_role_then_traffic(sandbox, run_playbook):
    app_id = make_app(sandbox, True)
    seq = sandbox.last_seq()
    run = run_playbook(REDEPLOY, extravars=FAST_REDEPLOY, check=True)
    assert run.rc == 0, run.stdout
    assert sandbox.mutating_since(seq) == []

    run = run_playbook(REDEPLOY, extravars=FAST_REDEPLOY)
    assert run.rc == 0, run.stdout
    record = run.result("Record the redeploy")["ansible_facts"]["amplify_redeploy_result"]
    assert (record["action"], record["target_job"]["job_id"], record["job"]["status"]) == ("started", "3", "SUCCEED")
    assert record["rollback_id"].startswith("rb-")

    seq = sandbox.last_seq()
    run = run_playbook(REDEPLOY, extravars=FAST_REDEPLOY)
    assert run.rc == 0, run.stdout
    assert run.changed_tasks == []
    assert sandbox.mutating_since(seq) == []

    # Blue is healthy again (its newest job is the successful rebuild): traffic may move.
    run = run_playbook(TRAFFIC, extravars=FAST_TRAFFIC)
    assert run.rc == 0, run.stdout
    assert mapping(sandbox, app_id)[""] == BLUE
