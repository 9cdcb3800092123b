"""propie.rollback.cloudformation_rollback and the cloudformation_rollback role, against the sandbox.

One test per row of the status -> action table, each driven into that status through the
sandbox's control routes, then: check mode (names the action, writes nothing) -> apply ->
re-run (unchanged). Bad input fails clearly without a mutating call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import emulated

STACK = "prop-ie-sandbox-appsync-stack"
OTHER = "prop-ie-other-stack"
OWN_TOKEN = "rb-20261130T034501Z-9f2c1a-template"

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: PropIE AppSync stack ({rev})
Parameters:
  Stage:
    Type: String
  Revision:
    Type: String
    Default: {rev}
Resources:
  Api:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: {name}-api
  Resolver:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: {name}-resolver-{rev}
Outputs:
  Stage:
    Value:
      Ref: Stage
  SchemaRevision:
    Value: {rev}
"""


def template(rev: str, name: str = STACK) -> str:
    return TEMPLATE.format(rev=rev, name=name)


def stack_status(cfn, name: str) -> str:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def wait_settled(cfn, name: str) -> str:
    """The stack's status once it leaves *_IN_PROGRESS (5 emulated s between reads; a phase lasts 20)."""
    return emulated.wait(cfn, lambda: stack_status(cfn, name), lambda status: not status.endswith("_IN_PROGRESS"),
                         f"stack {name}", step=5)[0]


def wait_status(cfn, name: str, wanted: str) -> None:
    emulated.wait(cfn, lambda: stack_status(cfn, name), lambda status: status == wanted,
                  f"stack {name} to reach {wanted}", step=5)


def create(cfn, name: str = STACK, rev: str = "r1", stage: str = "blue", settle: bool = True,
           **extra) -> None:
    cfn.create_stack(
        StackName=name,
        TemplateBody=template(rev, name),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        Tags=[{"Key": "app", "Value": "prop-ie"}, {"Key": "revision", "Value": rev}],
        **extra,
    )
    if settle:
        wait_settled(cfn, name)


def update(cfn, name: str = STACK, rev: str = "r2", stage: str = "green", **extra) -> None:
    cfn.update_stack(
        StackName=name,
        TemplateBody=template(rev, name),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        Tags=[{"Key": "app", "Value": "prop-ie"}, {"Key": "revision", "Value": rev}],
        **extra,
    )


def outputs(cfn, name: str = STACK) -> dict:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def status(cfn, name: str = STACK) -> str:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


MODULE, TASK = "cloudformation_rollback", "Recover the stack"


def play(task: dict, name: str = TASK) -> str:
    """A one-task playbook; options are JSON (which is YAML)."""
    return (
        "- name: Test\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - name: {name}\n"
        f"      propie.rollback.cloudformation_rollback: {json.dumps(task)}\n"
    )


def recover(**options) -> dict:
    """The module's options for STACK (for run_module, or play() for a playbook run)."""
    return {"stack_name": STACK, "wait_delay": 1, "wait_timeout": 120, **options}


@pytest.fixture
def cfn(sandbox):
    sandbox.set_time_scale(0.01)  # a 20 s emulated phase takes 0.2 s
    return sandbox.boto3_client("cloudformation")


@pytest.fixture
def take_snapshot(run_playbook, tmp_path):
    """Run the rollback_snapshot role for STACK into tmp_path/snapshots; return the dir."""
    directory = tmp_path / "snapshots"

    def take(stacks=(STACK,)) -> Path:
        run = run_playbook(
            "playbooks/snapshot.yml",
            extravars={
                "env": "sandbox",
                "rollback_snapshot_dir": str(directory),
                "rollback_snapshot_stacks": list(stacks),
                "rollback_snapshot_amplify_app_id": "",
                "rollback_snapshot_dynamodb_tables": [],
            },
        )
        assert run.rc == 0, run.stdout
        return directory

    return take


def mutating_calls(sandbox, seq: int) -> list[str]:
    return [r["operation"] for r in sandbox.mutating_since(seq)]


def check_apply_rerun(sandbox, run_module, options: dict, action: str, api: str,
                      before: str, after: str) -> dict:
    """check mode -> apply -> check mode -> apply, asserting each step; returns the apply result."""
    seq = sandbox.last_seq()
    run = run_module(MODULE, options, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result("Recover the stack")
    assert res["changed"] is True
    assert (res["action"], res["api_call"], res["predicted"]) == (action, api, True)
    assert (res["initial_status"], res["final_status"]) == (before, after)
    assert mutating_calls(sandbox, seq) == [], "check mode must not write"
    assert "status: %s" % before in res["diff"]["before"]
    assert "status: %s" % after in res["diff"]["after"]

    seq = sandbox.last_seq()
    run = run_module(MODULE, options, diff=True)
    assert run.rc == 0, run.stdout
    applied = run.result("Recover the stack")
    assert applied["changed"] is True
    assert (applied["action"], applied["api_call"], applied["predicted"]) == (action, api, False)
    assert (applied["initial_status"], applied["final_status"]) == (before, after)
    assert mutating_calls(sandbox, seq) == [api]
    token = applied["client_request_token"]
    assert token == "%s-%s" % (applied["rollback_id"], action)
    stack_events = [e for e in applied["events"] if e["logical_resource_id"] == STACK]
    assert stack_events[0]["resource_status"] == after, applied["events"]
    assert all(e["client_request_token"] == token for e in stack_events), stack_events
    assert applied["timings"]["duration_seconds"] >= applied["timings"]["wait_seconds"] > 0
    assert applied["progress"][-1]["status"] == after

    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_module(MODULE, options, check=check)
        assert run.rc == 0, run.stdout
        again = run.result("Recover the stack")
        assert again["changed"] is False, again
        assert again["action"] == "none"
        assert again["final_status"] == after
        assert mutating_calls(sandbox, seq) == []
    return applied


# -- *_COMPLETE + snapshot -> UpdateStack ------------------------------------------------


def test_template_strategy_restores_the_snapshot_and_its_outputs(sandbox, cfn, run_module, take_snapshot):
    create(cfn)
    snapshots = take_snapshot()
    update(cfn)  # a bad deploy: new template, new parameter value, new tag
    assert wait_settled(cfn, STACK) == "UPDATE_COMPLETE"
    assert outputs(cfn) == {"Stage": "green", "SchemaRevision": "r2"}

    options = recover(snapshot_path=str(snapshots))
    seq = sandbox.last_seq()
    run = run_module(MODULE, options, check=True, diff=True)
    res = run.result("Recover the stack")
    assert res["changes"]["template"] is True
    assert res["changes"]["parameters"] == {"Stage": {"before": "green", "after": "blue"},
                                            "Revision": {"before": "r2", "after": "r1"}}
    assert res["changes"]["tags"] == {"revision": {"before": "r2", "after": "r1"}}
    assert "  Stage: green" in res["diff"]["before"] and "  Stage: blue" in res["diff"]["after"]
    assert "resolver-r2" in res["diff"]["before"] and "resolver-r1" in res["diff"]["after"]
    assert res["outputs"] == {"Stage": "blue", "SchemaRevision": "r1"}  # predicted from the snapshot
    assert res["snapshot"]["healthy"] is True
    assert mutating_calls(sandbox, seq) == []

    applied = check_apply_rerun(sandbox, run_module, options, "template", "UpdateStack",
                                "UPDATE_COMPLETE", "UPDATE_COMPLETE")
    assert applied["outputs_before"] == {"Stage": "green", "SchemaRevision": "r2"}
    assert applied["outputs"] == {"Stage": "blue", "SchemaRevision": "r1"}
    assert outputs(cfn) == {"Stage": "blue", "SchemaRevision": "r1"}
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"app": "prop-ie", "revision": "r1"}
    assert "resolver-r1" in cfn.get_template(StackName=STACK)["TemplateBody"]


def test_stack_already_at_snapshot_is_unchanged(sandbox, cfn, run_module, take_snapshot):
    create(cfn)
    snapshots = take_snapshot()
    seq = sandbox.last_seq()
    for check in (True, False):
        run = run_module(MODULE, recover(snapshot_path=str(snapshots)), check=check, diff=True)
        assert run.rc == 0, run.stdout
        res = run.result("Recover the stack")
        assert (res["changed"], res["action"], res["final_status"]) == (False, "none", "CREATE_COMPLETE")
        assert res["changes"]["differs"] is False
        assert res["diff"]["before"] == res["diff"]["after"]
    assert mutating_calls(sandbox, seq) == []


# -- CREATE_FAILED / UPDATE_FAILED -> RollbackStack --------------------------------------


def test_update_failed_is_rolled_back(sandbox, cfn, run_module, take_snapshot):
    create(cfn)
    snapshots = take_snapshot()
    sandbox.control("POST", "cloudformation/next-update",
                    {"stack_name": STACK, "outcome": "UPDATE_FAILED", "failed_resources": ["Resolver"]})
    update(cfn)
    assert wait_settled(cfn, STACK) == "UPDATE_FAILED"
    applied = check_apply_rerun(sandbox, run_module, recover(snapshot_path=str(snapshots)),
                                "rollback", "RollbackStack", "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE")
    assert applied["outputs"] == {"Stage": "blue", "SchemaRevision": "r1"}


def test_create_failed_is_rolled_back_then_must_be_recreated(sandbox, cfn, run_module):
    sandbox.control("POST", "cloudformation/next-create", {"stack_name": STACK, "outcome": "CREATE_FAILED"})
    create(cfn)
    assert status(cfn) == "CREATE_FAILED"
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover(), check=True)
    res = run.result("Recover the stack")
    assert (res["action"], res["final_status"], res["changed"]) == ("rollback", "ROLLBACK_COMPLETE", True)
    assert mutating_calls(sandbox, seq) == []

    run = run_module(MODULE, recover())
    assert run.rc == 0, run.stdout
    res = run.result("Recover the stack")
    assert (res["action"], res["initial_status"], res["final_status"]) == (
        "rollback", "CREATE_FAILED", "ROLLBACK_COMPLETE")
    assert any("must be deleted" in w for w in res.get("warnings", [])), res

    # ROLLBACK_COMPLETE: no API can recover it; the re-run says so and touches nothing.
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover())
    assert run.rc != 0
    res = run.result("Recover the stack")
    assert "ROLLBACK_COMPLETE" in res["msg"] and "Delete the stack and create it again" in res["msg"]
    assert mutating_calls(sandbox, seq) == []


# -- UPDATE_ROLLBACK_FAILED -> ContinueUpdateRollback --------------------------------------


def test_update_rollback_failed_continues_skipping_the_stuck_resource(sandbox, cfn, run_module):
    create(cfn)
    sandbox.control("POST", "cloudformation/next-update",
                    {"stack_name": STACK, "outcome": "UPDATE_ROLLBACK_FAILED",
                     "failed_resources": ["Resolver"], "persistent": True})
    update(cfn)
    assert wait_settled(cfn, STACK) == "UPDATE_ROLLBACK_FAILED"

    # Skipping a resource that did not fail its rollback: refused before any call.
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover(resources_to_skip=["Api"]))
    assert run.rc != 0
    res = run.result("Recover the stack")
    assert "only resources in UPDATE_FAILED can be skipped" in res["msg"] and "Resolver" in res["msg"]
    assert mutating_calls(sandbox, seq) == []

    # Without skipping, the stuck resource fails again: the error names it and the way out.
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover())
    assert run.rc != 0
    res = run.result("Recover the stack")
    assert res["action"] == "continue" and res["final_status"] == "UPDATE_ROLLBACK_FAILED"
    assert res["failed_resources"] == ["Resolver"]
    assert "resources_to_skip" in res["msg"] and "Resolver" in res["msg"]
    assert mutating_calls(sandbox, seq) == ["ContinueUpdateRollback"]

    applied = check_apply_rerun(sandbox, run_module, recover(resources_to_skip=["Resolver"]),
                                "continue", "ContinueUpdateRollback",
                                "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE")
    assert applied["resources_skipped"] == ["Resolver"]
    assert applied["failed_resources"] == ["Resolver"]  # what was stuck when it started
    skipped = [e for e in applied["events"] if e["logical_resource_id"] == "Resolver"]
    assert skipped and "skipped" in (skipped[-1]["resource_status_reason"] or "").lower()


# -- UPDATE_IN_PROGRESS -> CancelUpdateStack ------------------------------------------------


def test_update_in_progress_is_cancelled(sandbox, cfn, run_module):
    create(cfn)
    sandbox.control("POST", "cloudformation/next-update", {"stack_name": STACK, "outcome": "UPDATE_IN_PROGRESS"})
    update(cfn)
    wait_status(cfn, STACK, "UPDATE_IN_PROGRESS")
    applied = check_apply_rerun(sandbox, run_module, recover(), "cancel", "CancelUpdateStack",
                                "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE")
    assert applied["outputs"] == {"Stage": "blue", "SchemaRevision": "r1"}


def test_own_template_restore_in_progress_is_waited_for_not_cancelled(sandbox, cfn, run_module):
    create(cfn)
    sandbox.control("POST", "cloudformation/next-update", {"stack_name": STACK, "outcome": "UPDATE_IN_PROGRESS"})
    update(cfn, ClientRequestToken=OWN_TOKEN)  # as a killed rollback run left it
    wait_status(cfn, STACK, "UPDATE_IN_PROGRESS")
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover(wait_timeout=3))
    assert run.rc != 0
    res = run.result("Recover the stack")
    assert "timed out" in res["msg"] and "re-run" in res["msg"]
    assert "rb-20261130T034501Z-9f2c1a" in res["reason"]
    assert res["waited_for"] == ["UPDATE_IN_PROGRESS"]
    assert mutating_calls(sandbox, seq) == []


# -- *_IN_PROGRESS -> wait, then decide ------------------------------------------------------


def test_other_in_progress_status_is_waited_out_then_decided(sandbox, cfn, run_module):
    sandbox.control("POST", "cloudformation/next-create",
                    {"stack_name": STACK, "outcome": "CREATE_FAILED", "seconds": 1500})  # 15 s: room for a slow ansible start
    create(cfn, settle=False)
    run = run_module(MODULE, recover())
    assert run.rc == 0, run.stdout
    res = run.result("Recover the stack")
    assert res["initial_status"] == "CREATE_IN_PROGRESS"
    assert res["waited_for"] == ["CREATE_IN_PROGRESS"]
    assert (res["action"], res["final_status"]) == ("rollback", "ROLLBACK_COMPLETE")
    statuses = [p["status"] for p in res["progress"]]
    assert statuses[0] == "CREATE_IN_PROGRESS" and "CREATE_FAILED" in statuses
    assert [r["operation"] for r in sandbox.mutating_since(0)] == ["CreateStack", "RollbackStack"]


# -- forced strategies ----------------------------------------------------------------------


def test_forced_strategy_that_the_status_does_not_accept_fails_without_a_call(sandbox, cfn, run_module):
    create(cfn)
    seq = sandbox.last_seq()
    for strategy, api in (("continue", "ContinueUpdateRollback"), ("cancel", "CancelUpdateStack")):
        run = run_module(MODULE, recover(strategy=strategy))
        assert run.rc != 0
        msg = run.result("Recover the stack")["msg"]
        assert api in msg and "CREATE_COMPLETE" in msg
    run = run_module(MODULE, recover(strategy="template"))
    assert run.rc != 0
    assert "needs a snapshot" in run.result("Recover the stack")["msg"]
    assert mutating_calls(sandbox, seq) == []


def test_forced_rollback_on_update_failed(sandbox, cfn, run_module):
    create(cfn)
    sandbox.control("POST", "cloudformation/next-update", {"stack_name": STACK, "outcome": "UPDATE_FAILED"})
    update(cfn)
    assert wait_settled(cfn, STACK) == "UPDATE_FAILED"
    check_apply_rerun(sandbox, run_module, recover(strategy="rollback"), "rollback", "RollbackStack",
                      "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE")


# -- bad input ------------------------------------------------------------------------------


def test_unknown_stack_fails_clearly(sandbox, cfn, run_module):
    seq = sandbox.last_seq()
    run = run_module(MODULE, recover(stack_name="no-such-stack"))
    assert run.rc != 0
    assert "no-such-stack does not exist" in run.result("Recover the stack")["msg"]
    assert mutating_calls(sandbox, seq) == []


def test_snapshot_of_another_stack_is_refused(sandbox, cfn, run_module, take_snapshot):
    create(cfn, name=OTHER)
    create(cfn)
    snapshots = take_snapshot(stacks=(OTHER,))
    update(cfn)
    wait_settled(cfn, STACK)
    latest = snapshots / "latest.json"
    entry = json.loads(latest.read_text())["stacks"][OTHER]
    seq = sandbox.last_seq()
    cases = [
        ({"snapshot_path": str(latest)}, f"no entry for stack {STACK}"),
        ({"snapshot": entry}, f"the snapshot is of stack '{OTHER}', not '{STACK}'"),
        ({"snapshot_path": str(snapshots), "strategy": "template"}, "needs a snapshot"),
    ]
    for options, message in cases:
        run = run_module(MODULE, recover(**options))
        assert run.rc != 0
        assert message in run.result("Recover the stack")["msg"], options
    assert mutating_calls(sandbox, seq) == []


def test_status_with_no_safe_action_fails_without_a_call(sandbox, cfn, run_module):
    sandbox.control("POST", "cloudformation/next-create", {"stack_name": STACK, "outcome": "ROLLBACK_COMPLETE"})
    create(cfn)
    assert status(cfn) == "ROLLBACK_COMPLETE"
    seq = sandbox.last_seq()
    for check in (True, False):
        run = run_module(MODULE, recover(), check=check)
        assert run.rc != 0
        msg = run.result("Recover the stack")["msg"]
        assert "ROLLBACK_COMPLETE" in msg and "Delete the stack" in msg and "nothing was changed" in msg
    assert mutating_calls(sandbox, seq) == []


def test_bad_options_fail_before_any_call(sandbox, cfn, run_module):
    create(cfn)
    seq = sandbox.last_seq()
    for options, message in (
        ({"strategy": "template", "resources_to_skip": ["Api"]}, "resources_to_skip is only for"),
        ({"rollback_id": "yesterday"}, "is not of the form"),
        ({"snapshot_path": "/nonexistent/snap.json"}, "cannot read snapshot"),
    ):
        run = run_module(MODULE, recover(**options))
        assert run.rc != 0
        assert message in run.result("Recover the stack")["msg"]
    assert mutating_calls(sandbox, seq) == []


# -- throttling -----------------------------------------------------------------------------


def test_throttling_is_retried(sandbox, cfn, run_module, take_snapshot):
    create(cfn)
    snapshots = take_snapshot()
    update(cfn)
    wait_settled(cfn, STACK)
    for operation in ("DescribeStacks", "UpdateStack", "DescribeStackEvents"):
        sandbox.add_fault(service="cloudformation", operation=operation,
                          error_code="ThrottlingException", http_status=400, count=2)
    run = run_module(MODULE, recover(snapshot_path=str(snapshots)))
    assert run.rc == 0, run.stdout
    res = run.result("Recover the stack")
    assert (res["action"], res["final_status"]) == ("template", "UPDATE_COMPLETE")
    throttled = [r for r in sandbox.requests() if r["error_code"] == "ThrottlingException"]
    assert len(throttled) == 6
    assert outputs(cfn)["SchemaRevision"] == "r1"


# -- the role -------------------------------------------------------------------------------

ROLE_PLAY = """
- name: Test
  hosts: localhost
  gather_facts: false
  roles:
    - role: propie.rollback.cloudformation_rollback
      cloudformation_rollback_env: sandbox
      cloudformation_rollback_stacks: [{stack}]
      cloudformation_rollback_snapshot_dir: {dir}
      cloudformation_rollback_wait_delay: 1
"""


def test_role_uses_the_latest_snapshot_taken_while_healthy(sandbox, cfn, run_playbook, take_snapshot):
    create(cfn)
    snapshots = take_snapshot()
    healthy = json.loads((snapshots / "latest.json").read_text())
    # A later snapshot taken mid-incident (stack unhealthy, on r3) must be passed over.
    later = json.loads(json.dumps(healthy))
    later["snapshot_id"] = "29990101T000000.000000Z"
    later["taken_at"] = "2999-01-01T00:00:00+00:00"
    later["stacks"][STACK].update(status="UPDATE_ROLLBACK_FAILED", healthy=False, template_body=template("r3"))
    (snapshots / "29990101T000000.000000Z.json").write_text(json.dumps(later))
    update(cfn)
    wait_settled(cfn, STACK)

    run = run_playbook(ROLE_PLAY.format(dir=snapshots, stack=STACK))
    assert run.rc == 0, run.stdout
    res = run.result("Recover each stack")["results"][0]
    assert (res["action"], res["final_status"]) == ("template", "UPDATE_COMPLETE")
    assert res["snapshot"]["taken_at"] == healthy["taken_at"]
    assert outputs(cfn) == {"Stage": "blue", "SchemaRevision": "r1"}
    assert run.result("Record what was done to each stack")["ansible_facts"][
        "cloudformation_rollback_results"][0]["action"] == "template"


def test_role_takes_a_snapshot_when_none_exists(sandbox, cfn, run_playbook, tmp_path):
    create(cfn)
    snapshots = tmp_path / "empty"
    run = run_playbook(ROLE_PLAY.format(dir=snapshots, stack=STACK),
                       extravars={"rollback_amplify_app_id": "", "rollback_dynamodb_tables": []})
    assert run.rc == 0, run.stdout
    assert (snapshots / "latest.json").is_file()
    res = run.result("Recover each stack")["results"][0]
    assert (res["changed"], res["action"]) == (False, "none")
    assert res["snapshot"]["source"].startswith(str(snapshots))


def test_noecho_parameters_stay_masked_and_are_kept_on_restore(sandbox, cfn, run_playbook, take_snapshot):
    secret_template = template("r1").replace(
        "Parameters:\n", "Parameters:\n  ApiKey:\n    Type: String\n    NoEcho: true\n")
    cfn.create_stack(StackName=STACK, TemplateBody=secret_template,
                     Parameters=[{"ParameterKey": "Stage", "ParameterValue": "blue"},
                                 {"ParameterKey": "ApiKey", "ParameterValue": "s3cr3t-value"}])
    wait_settled(cfn, STACK)
    snapshots = take_snapshot()
    text = (snapshots / "latest.json").read_text()
    assert "s3cr3t-value" not in text
    entry = json.loads(text)["stacks"][STACK]
    assert {"key": "ApiKey", "value": None, "masked": True} in entry["parameters"]

    cfn.update_stack(StackName=STACK, TemplateBody=secret_template.replace("r1", "r2"),
                     Parameters=[{"ParameterKey": "Stage", "ParameterValue": "green"},
                                 {"ParameterKey": "ApiKey", "UsePreviousValue": True}])
    wait_settled(cfn, STACK)
    run = run_playbook(play(recover(snapshot_path=str(snapshots))), diff=True)
    assert run.rc == 0, run.stdout
    res = run.result("Recover the stack")
    assert res["action"] == "template" and "ApiKey" not in res["changes"]["parameters"]
    assert "s3cr3t-value" not in run.stdout and "s3cr3t-value" not in json.dumps(res)
    assert outputs(cfn) == {"Stage": "blue", "SchemaRevision": "r1"}
