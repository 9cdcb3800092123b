"""amplify_branch: merge/purge, idempotency, values never shown (in a real ansible-playbook run's
output and events); purge and bad input run the module in-process (run_task)."""

from __future__ import annotations

from tests.integration.test_amplify_helpers import BLUE, make_app, task

TASK = "Set the branch variables"
SECRET = "s3cr3t-api-key-value"


def env_vars(sandbox, app_id):
    return sandbox.boto3_client("amplify").get_branch(appId=app_id, branchName=BLUE)["branch"]["environmentVariables"]


def test_merge_check_apply_reapply_with_masked_values(sandbox, run_playbook):
    app_id = make_app(sandbox, True, domain=False)
    play = task(TASK, "propie.rollback.amplify_branch", {
        "app_id": app_id, "branch_name": BLUE,
        "environment_variables": {"DATA_TABLE_NAME": "prop-ie-sandbox-data-recovery", "API_KEY": SECRET}})

    seq = sandbox.last_seq()
    run = run_playbook(play, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["added"], res["updated"]) == (True, ["API_KEY"], ["DATA_TABLE_NAME"])
    assert res["diff"]["after"]["environment_variables"]["DATA_TABLE_NAME"] == "******** (changed)"
    assert sandbox.mutating_since(seq) == []

    run = run_playbook(play, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert res["changed"] is True and res["rebuild_required"] is True
    assert res["environment_variables"] == {"API_KEY": "********", "DATA_TABLE_NAME": "********"}
    assert env_vars(sandbox, app_id) == {"DATA_TABLE_NAME": "prop-ie-sandbox-data-recovery", "API_KEY": SECRET}
    for text in (run.stdout, repr(run.events)):
        assert SECRET not in text and "prop-ie-sandbox-data-recovery" not in text

    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_playbook(play, check=check, diff=True)
        assert run.rc == 0, run.stdout
        assert run.result(TASK)["changed"] is False
        assert sandbox.mutating_since(seq) == []


def test_purge_and_throttling(sandbox, run_task):
    app_id = make_app(sandbox, False, domain=False)
    for op in ("GetBranch", "UpdateBranch"):
        sandbox.add_fault(service="amplify", operation=op, error_code="ThrottlingException",
                          http_status=400, count=2)
    run = run_task(task(TASK, "propie.rollback.amplify_branch", {
        "app_id": app_id, "branch_name": BLUE, "environment_variables": {"ONLY": "only-value"},
        "purge_environment_variables": True}))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["removed"] == ["DATA_TABLE_NAME"]
    assert env_vars(sandbox, app_id) == {"ONLY": "only-value"}


def test_unknown_branch_fails_without_mutating(sandbox, run_task):
    app_id = make_app(sandbox, True, domain=False)
    seq = sandbox.last_seq()
    run = run_task(task(TASK, "propie.rollback.amplify_branch", {
        "app_id": app_id, "branch_name": "nope", "environment_variables": {"A": "some-value"}}))
    assert run.rc != 0 and "has no branch 'nope'" in run.result(TASK)["msg"]
    assert sandbox.mutating_since(seq) == []
