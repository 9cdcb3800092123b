"""CloudFormation stack recovery in the sandbox, through boto3 over HTTP.

Checks AWS's documented behaviour: which stack statuses each recovery API accepts
(RollbackStack: CREATE_FAILED/UPDATE_FAILED; ContinueUpdateRollback: UPDATE_ROLLBACK_FAILED;
CancelUpdateStack: UPDATE_IN_PROGRESS; UpdateStack: not ROLLBACK_COMPLETE), the statuses they
pass through and end in, the restored template/parameters/outputs, and the stack events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.client import SandboxClient
from tests import emulated

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Value:
    Type: String
    Default: v1
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /propie/appsync/version
      Type: String
      Value: !Ref Value
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  Version:
    Value: !Ref Value
  ParamName:
    Value: !Ref Param
"""
# A second template: what a bad deploy changes, and what a rollback must undo.
TEMPLATE_V2 = TEMPLATE.replace("Outputs:\n", "  Extra:\n    Type: AWS::SNS::Topic\nOutputs:\n"
                               "  Extra:\n    Value: !Ref Extra\n")
SCALE = 0.005  # 20 emulated seconds per in-progress status -> 0.1 s
STACK = "prop-ie-test-appsync-stack"


@pytest.fixture
def cf(sandbox: SandboxClient) -> Any:
    sandbox.set_time_scale(SCALE)
    return sandbox.boto3_client("cloudformation")


def status(cf: Any, name: str = STACK) -> str:
    return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def settle(cf: Any, name: str = STACK) -> tuple[str, list[str]]:
    """Read DescribeStacks until the stack leaves *_IN_PROGRESS, 5 emulated seconds passing
    between reads (a status lasts 20): (final, statuses seen)."""
    return emulated.wait(cf, lambda: status(cf, name), lambda current: not current.endswith("_IN_PROGRESS"),
                         f"stack {name}", step=5)


def outputs(cf: Any, name: str = STACK) -> dict[str, str]:
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def parameters(cf: Any, name: str = STACK) -> dict[str, str]:
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def resource_status(cf: Any, logical_id: str, name: str = STACK) -> str:
    res = cf.describe_stack_resource(StackName=name, LogicalResourceId=logical_id)
    return res["StackResourceDetail"]["ResourceStatus"]


def create(cf: Any, name: str = STACK) -> str:
    cf.create_stack(StackName=name, TemplateBody=TEMPLATE)
    assert settle(cf, name)[0] == "CREATE_COMPLETE"
    return cf.describe_stacks(StackName=name)["Stacks"][0]["StackId"]


def bad_update(cf: Any, name: str = STACK, **kwargs: Any) -> None:
    """The deploy that goes wrong: new template, new parameter value."""
    cf.update_stack(StackName=name, TemplateBody=TEMPLATE_V2,
                    Parameters=[{"ParameterKey": "Value", "ParameterValue": "v2"}], **kwargs)


def arrange(sandbox: SandboxClient, route: str, **body: Any) -> dict[str, Any]:
    return sandbox.control("POST", f"cloudformation/{route}", {"stack_name": STACK, **body})


def bring_to(cf: Any, sandbox: SandboxClient, target: str) -> None:
    """Put the stack in `target` through the public API and the control routes."""
    if target in ("CREATE_FAILED", "ROLLBACK_COMPLETE"):
        arrange(sandbox, "next-create", outcome=target, failed_resources=["Param"])
        cf.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
        assert settle(cf)[0] == target
        return
    create(cf)
    if target == "CREATE_COMPLETE":
        return
    if target != "UPDATE_COMPLETE":
        outcome = "UPDATE_ROLLBACK_COMPLETE" if target == "UPDATE_ROLLBACK_COMPLETE" else target
        arrange(sandbox, "next-update", outcome=outcome, failed_resources=["Param"])
    bad_update(cf)
    if target == "UPDATE_IN_PROGRESS":
        sandbox.advance(60)  # several emulated phases: it must still be running
        assert status(cf) == "UPDATE_IN_PROGRESS"
        return
    assert settle(cf)[0] == target


def assert_validation_error(err: pytest.ExceptionInfo[ClientError], *fragments: str) -> None:
    error = err.value.response["Error"]
    assert error["Code"] == "ValidationError", error
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for fragment in fragments:
        assert fragment in error["Message"], error


def assert_restored(cf: Any, sandbox: SandboxClient) -> None:
    """The stack is back to its last stable state: template, parameters, outputs, resources."""
    assert outputs(cf) == {"Version": "v1", "ParamName": "/propie/appsync/version"}
    assert parameters(cf) == {"Value": "v1"}
    assert cf.get_template(StackName=STACK)["TemplateBody"] == TEMPLATE
    ssm = sandbox.boto3_client("ssm")
    assert ssm.get_parameter(Name="/propie/appsync/version")["Parameter"]["Value"] == "v1"
    ids = {r["LogicalResourceId"] for r in cf.list_stack_resources(StackName=STACK)
           ["StackResourceSummaries"]}
    assert ids == {"Param", "Topic"}


STATUSES = ["CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "UPDATE_COMPLETE",
            "UPDATE_FAILED", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED"]


# -- the status -> API matrix ---------------------------------------------------------

@pytest.mark.parametrize("start", STATUSES)
def test_rollback_stack_accepts_only_failed_create_or_update(cf: Any, sandbox: SandboxClient,
                                                             start: str) -> None:
    bring_to(cf, sandbox, start)
    if start not in ("CREATE_FAILED", "UPDATE_FAILED"):
        with pytest.raises(ClientError) as err:
            cf.rollback_stack(StackName=STACK)
        assert_validation_error(err, start)
        assert status(cf) == start
        return
    stack_id = cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    assert cf.rollback_stack(StackName=STACK)["StackId"] == stack_id
    final, seen = settle(cf)
    if start == "CREATE_FAILED":
        # No last known stable state: every resource is deleted.
        assert seen == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
        assert outputs(cf) == {}
        ssm = sandbox.boto3_client("ssm")
        with pytest.raises(ClientError) as gone:
            ssm.get_parameter(Name="/propie/appsync/version")
        assert gone.value.response["Error"]["Code"] == "ParameterNotFound"
    else:
        assert seen[0] == "UPDATE_ROLLBACK_IN_PROGRESS"
        assert final == "UPDATE_ROLLBACK_COMPLETE"
        assert_restored(cf, sandbox)


# API -> (the one status it accepts, AWS's refusal for any other status)
UPDATE_RECOVERY = {
    "continue_update_rollback": ("UPDATE_ROLLBACK_FAILED",
                                 "ContinueUpdateRollback cannot be called from stack with "
                                 "{start} status"),
    "cancel_update_stack": ("UPDATE_IN_PROGRESS",
                            "CancelUpdateStack cannot be called from current stack status"),
}


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("api", sorted(UPDATE_RECOVERY))
def test_update_recovery_apis_accept_only_their_status(cf: Any, sandbox: SandboxClient,
                                                       api: str, start: str) -> None:
    accepted, refusal = UPDATE_RECOVERY[api]
    bring_to(cf, sandbox, start)
    if start != accepted:
        with pytest.raises(ClientError) as err:
            getattr(cf, api)(StackName=STACK)
        assert_validation_error(err, refusal.format(start=start))
        assert status(cf) == start
        return
    if start == "UPDATE_ROLLBACK_FAILED":
        assert outputs(cf)["Version"] == "v2"  # the failed update is still in place
    getattr(cf, api)(StackName=STACK)
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_ROLLBACK_IN_PROGRESS" and final == "UPDATE_ROLLBACK_COMPLETE"
    assert_restored(cf, sandbox)


@pytest.mark.parametrize("start", STATUSES)
def test_update_stack_refused_unless_stable_or_resumable(cf: Any, sandbox: SandboxClient,
                                                         start: str) -> None:
    bring_to(cf, sandbox, start)
    stack_id = cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    update = {"StackName": STACK, "TemplateBody": TEMPLATE,
              "Parameters": [{"ParameterKey": "Value", "ParameterValue": "v3"}]}
    if start in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "UPDATE_IN_PROGRESS"):
        with pytest.raises(ClientError) as err:
            cf.update_stack(**update)
        assert_validation_error(err, f"Stack:{stack_id} is in {start} state and can not be updated.")
        assert status(cf) == start
        return
    assert cf.update_stack(**update)["StackId"] == stack_id
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_IN_PROGRESS" and final == "UPDATE_COMPLETE"
    assert outputs(cf)["Version"] == "v3"


# -- the individual behaviours ----------------------------------------------------------

def test_create_and_update_pass_through_in_progress_statuses(cf: Any) -> None:
    cf.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
    final, seen = settle(cf)
    assert seen == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert outputs(cf) == {"Version": "v1", "ParamName": "/propie/appsync/version"}
    bad_update(cf)
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_IN_PROGRESS" and final == "UPDATE_COMPLETE"
    assert outputs(cf)["Version"] == "v2" and "Extra" in outputs(cf)
    stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["LastUpdatedTime"] >= stack["CreationTime"]


def test_in_progress_duration_follows_time_scale_and_config(cf: Any,
                                                            sandbox: SandboxClient) -> None:
    assert sandbox.control("GET", "cloudformation/config") == {"phase_seconds": 20.0}
    sandbox.set_time_scale(0.05)  # 20 emulated s = 1 real s
    cf.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
    sandbox.advance(10)
    assert status(cf) == "CREATE_IN_PROGRESS"
    sandbox.advance(14)
    assert status(cf) == "CREATE_COMPLETE"
    sandbox.control("POST", "cloudformation/config", {"phase_seconds": 2})
    bad_update(cf)
    sandbox.advance(4)
    assert status(cf) == "UPDATE_COMPLETE"
    # Two 2-second phases at 0.05 real s per emulated s, as the stack's own events show.
    events = cf.describe_stack_events(StackName=STACK)["StackEvents"]
    stack_events = {e["ResourceStatus"]: e["Timestamp"] for e in events
                    if e["LogicalResourceId"] == STACK}
    took = (stack_events["UPDATE_COMPLETE"] - stack_events["UPDATE_IN_PROGRESS"]).total_seconds()
    assert abs(took - 0.2) < 0.002


def test_stack_events_record_every_transition_newest_first(cf: Any,
                                                           sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_FAILED", failed_resources=["Param"])
    bad_update(cf, ClientRequestToken="deploy-42")
    assert settle(cf)[0] == "UPDATE_FAILED"
    cf.rollback_stack(StackName=STACK, ClientRequestToken="rollback-42")
    assert settle(cf)[0] == "UPDATE_ROLLBACK_COMPLETE"
    events = cf.describe_stack_events(StackName=STACK)["StackEvents"]
    stamps = [e["Timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True)
    stack_events = [e["ResourceStatus"] for e in events
                    if e["ResourceType"] == "AWS::CloudFormation::Stack"][::-1]
    assert stack_events == [
        "CREATE_IN_PROGRESS", "CREATE_COMPLETE",
        "UPDATE_IN_PROGRESS", "UPDATE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE"]
    failed = [e for e in events if e["LogicalResourceId"] == "Param"
              and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert len(failed) == 1 and failed[0]["ResourceStatusReason"]
    assert failed[0]["ClientRequestToken"] == "deploy-42"
    assert failed[0]["PhysicalResourceId"] == "/propie/appsync/version"
    assert events[0]["ClientRequestToken"] == "rollback-42"
    assert events[0]["LogicalResourceId"] == STACK
    assert events[0]["PhysicalResourceId"] == events[0]["StackId"]
    added = [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "Extra"][::-1]
    assert added[:2] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_failed_update_rolls_back_by_itself_unless_rollback_disabled(
        cf: Any, sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_ROLLBACK_COMPLETE")
    bad_update(cf)
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_IN_PROGRESS" and final == "UPDATE_ROLLBACK_COMPLETE"
    assert "UPDATE_ROLLBACK_IN_PROGRESS" in seen
    assert_restored(cf, sandbox)
    # The same failure with DisableRollback stops in UPDATE_FAILED, keeping the new state.
    arrange(sandbox, "next-update", outcome="UPDATE_ROLLBACK_COMPLETE",
            failed_resources=["Topic"])
    bad_update(cf, DisableRollback=True)
    assert settle(cf)[0] == "UPDATE_FAILED"
    stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["DisableRollback"] is True
    assert "Topic" in stack["StackStatusReason"]
    assert resource_status(cf, "Topic") == "UPDATE_FAILED"
    assert resource_status(cf, "Param") == "UPDATE_COMPLETE"
    assert outputs(cf)["Version"] == "v2"


def test_continue_update_rollback_with_resources_to_skip(cf: Any,
                                                         sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_ROLLBACK_FAILED",
            failed_resources=["Param"], persistent=True)
    bad_update(cf)
    final, seen = settle(cf)
    assert final == "UPDATE_ROLLBACK_FAILED" and "UPDATE_ROLLBACK_IN_PROGRESS" in seen
    assert resource_status(cf, "Param") == "UPDATE_FAILED"
    assert resource_status(cf, "Topic") != "UPDATE_FAILED"
    # Only resources whose rollback failed may be skipped.
    for refused in (["Topic"], ["NoSuchResource"], ["Param", "Topic"]):
        with pytest.raises(ClientError) as err:
            cf.continue_update_rollback(StackName=STACK, ResourcesToSkip=refused)
        assert_validation_error(err, refused[-1])
        assert status(cf) == "UPDATE_ROLLBACK_FAILED"
    # Not skipping a resource that keeps failing ends where it started.
    cf.continue_update_rollback(StackName=STACK)
    final, seen = settle(cf)
    assert seen == ["UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"]
    cf.continue_update_rollback(StackName=STACK, ResourcesToSkip=["Param"])
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_ROLLBACK_IN_PROGRESS" and final == "UPDATE_ROLLBACK_COMPLETE"
    assert outputs(cf) == {"Version": "v1", "ParamName": "/propie/appsync/version"}
    assert cf.get_template(StackName=STACK)["TemplateBody"] == TEMPLATE
    assert resource_status(cf, "Param") == "UPDATE_COMPLETE"
    reasons = [e.get("ResourceStatusReason") or ""
               for e in cf.describe_stack_events(StackName=STACK)["StackEvents"]
               if e["LogicalResourceId"] == "Param" and e["ResourceStatus"] == "UPDATE_COMPLETE"]
    assert sum("skipped" in r for r in reasons) == 1


def test_continue_update_rollback_force_rollback_skips_every_failing_resource(
        cf: Any, sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_ROLLBACK_FAILED",
            failed_resources=["Param", "Topic"], persistent=True)
    bad_update(cf)
    assert settle(cf)[0] == "UPDATE_ROLLBACK_FAILED"
    cf.continue_update_rollback(StackName=STACK, ForceRollback=True)
    assert settle(cf)[0] == "UPDATE_ROLLBACK_COMPLETE"
    assert outputs(cf)["Version"] == "v1"


def test_update_in_progress_ends_by_itself_after_arranged_seconds(
        cf: Any, sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_IN_PROGRESS", seconds=100)
    bad_update(cf)
    sandbox.advance(60)
    assert status(cf) == "UPDATE_IN_PROGRESS"
    final, seen = settle(cf)
    assert final == "UPDATE_COMPLETE"
    assert outputs(cf)["Version"] == "v2"


def test_change_sets_run_like_stack_operations(cf: Any, sandbox: SandboxClient) -> None:
    cf.create_change_set(StackName=STACK, ChangeSetName="create", ChangeSetType="CREATE",
                         TemplateBody=TEMPLATE)
    cf.execute_change_set(StackName=STACK, ChangeSetName="create")
    final, seen = settle(cf)
    assert seen == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert outputs(cf) == {"Version": "v1", "ParamName": "/propie/appsync/version"}
    arrange(sandbox, "next-update", outcome="UPDATE_ROLLBACK_COMPLETE")
    cf.create_change_set(StackName=STACK, ChangeSetName="deploy", ChangeSetType="UPDATE",
                         TemplateBody=TEMPLATE_V2,
                         Parameters=[{"ParameterKey": "Value", "ParameterValue": "v2"}])
    cf.execute_change_set(StackName=STACK, ChangeSetName="deploy")
    final, seen = settle(cf)
    assert seen[0] == "UPDATE_IN_PROGRESS" and final == "UPDATE_ROLLBACK_COMPLETE"
    assert_restored(cf, sandbox)
    described = cf.describe_change_set(StackName=STACK, ChangeSetName="deploy")
    assert described["ExecutionStatus"] == "EXECUTE_COMPLETE"
    with pytest.raises(ClientError) as err:
        cf.execute_change_set(StackName=STACK, ChangeSetName="deploy")
    assert_validation_error(err, "cannot be executed", "EXECUTE_COMPLETE")


def test_change_set_refused_on_a_stack_that_cannot_be_updated(
        cf: Any, sandbox: SandboxClient) -> None:
    bring_to(cf, sandbox, "ROLLBACK_COMPLETE")
    with pytest.raises(ClientError) as err:
        cf.create_change_set(StackName=STACK, ChangeSetName="retry", ChangeSetType="UPDATE",
                             TemplateBody=TEMPLATE_V2)
    assert_validation_error(err, "is in ROLLBACK_COMPLETE state and can not be updated.")


def test_no_update_when_nothing_changes(cf: Any) -> None:
    create(cf)
    for kwargs in ({"TemplateBody": TEMPLATE},
                   {"TemplateBody": TEMPLATE,
                    "Parameters": [{"ParameterKey": "Value", "ParameterValue": "v1"}]},
                   {"UsePreviousTemplate": True,
                    "Parameters": [{"ParameterKey": "Value", "UsePreviousValue": True}]}):
        with pytest.raises(ClientError) as err:
            cf.update_stack(StackName=STACK, **kwargs)
        assert_validation_error(err, "No updates are to be performed.")
    assert status(cf) == "CREATE_COMPLETE"
    # A tag change is a change.
    cf.update_stack(StackName=STACK, UsePreviousTemplate=True,
                    Tags=[{"Key": "rollback-id", "Value": "rb-1"}])
    assert settle(cf)[0] == "UPDATE_COMPLETE"


def test_update_parameter_validation(cf: Any) -> None:
    create(cf)
    with pytest.raises(ClientError) as err:
        cf.update_stack(StackName=STACK, TemplateBody=TEMPLATE,
                        Parameters=[{"ParameterKey": "Nope", "ParameterValue": "x"}])
    assert_validation_error(err, "Nope")
    with pytest.raises(ClientError) as err:
        cf.update_stack(StackName="no-such-stack", TemplateBody=TEMPLATE)
    assert_validation_error(err, "does not exist")
    # A parameter left out takes the template default, not the previous value.
    cf.update_stack(StackName=STACK, TemplateBody=TEMPLATE,
                    Parameters=[{"ParameterKey": "Value", "ParameterValue": "v9"}])
    assert settle(cf)[0] == "UPDATE_COMPLETE"
    cf.update_stack(StackName=STACK, TemplateBody=TEMPLATE_V2)
    assert settle(cf)[0] == "UPDATE_COMPLETE"
    assert parameters(cf) == {"Value": "v1"}


def test_rollback_complete_stack_can_only_be_deleted(cf: Any, sandbox: SandboxClient) -> None:
    bring_to(cf, sandbox, "ROLLBACK_COMPLETE")
    events = cf.describe_stack_events(StackName=STACK)["StackEvents"]
    rollback = [e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS"]
    assert "[Param]" in rollback[0]["ResourceStatusReason"]
    assert [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "Param"][0] == \
        "DELETE_COMPLETE"
    assert cf.describe_stack_resources(StackName=STACK)["StackResources"] == []
    with pytest.raises(ClientError) as err:
        cf.update_stack(StackName=STACK, TemplateBody=TEMPLATE_V2)
    assert_validation_error(err, "is in ROLLBACK_COMPLETE state and can not be updated.")
    with pytest.raises(ClientError) as err:
        cf.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"
    cf.delete_stack(StackName=STACK)
    create(cf)


def test_delete_waits_for_an_update_to_finish(cf: Any, sandbox: SandboxClient) -> None:
    bring_to(cf, sandbox, "UPDATE_IN_PROGRESS")
    with pytest.raises(ClientError) as err:
        cf.delete_stack(StackName=STACK)
    assert_validation_error(err, "cannot be deleted while in status UPDATE_IN_PROGRESS")
    cf.cancel_update_stack(StackName=STACK)
    assert settle(cf)[0] == "UPDATE_ROLLBACK_COMPLETE"
    cf.delete_stack(StackName=STACK)
    summaries = cf.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries if s["StackName"] == STACK] == ["DELETE_COMPLETE"]


def test_cancel_marks_resources_cancelled_and_is_logged(
        cf: Any, sandbox: SandboxClient) -> None:
    since = sandbox.last_seq()
    bring_to(cf, sandbox, "UPDATE_IN_PROGRESS")
    cf.cancel_update_stack(StackName=STACK)
    assert status(cf) == "UPDATE_ROLLBACK_IN_PROGRESS"
    assert resource_status(cf, "Param") == "UPDATE_FAILED"
    assert settle(cf)[0] == "UPDATE_ROLLBACK_COMPLETE"
    ops = [(r["operation"], r["status"]) for r in sandbox.mutating_since(since)]
    assert ("CancelUpdateStack", 200) in ops and ("UpdateStack", 200) in ops


@pytest.mark.parametrize("route, body, message", [
    ("next-update", {"outcome": "UPDATE_FAILED"}, "stack_name"),
    ("next-update", {"stack_name": "ghost", "outcome": "UPDATE_FAILED"}, "no stack named"),
    ("next-update", {"stack_name": STACK, "outcome": "EXPLODE"}, "outcome"),
    ("next-update", {"stack_name": STACK, "outcome": "UPDATE_FAILED",
                     "failed_resources": ["Nope"]}, "Nope"),
    ("next-update", {"stack_name": STACK, "outcome": "UPDATE_FAILED", "persistent": True},
     "persistent"),
    ("next-update", {"stack_name": STACK, "outcome": "UPDATE_IN_PROGRESS", "seconds": -1},
     "seconds"),
    ("next-update", {"stack_name": STACK, "outcome": "UPDATE_FAILED", "colour": "red"},
     "colour"),
    ("next-create", {"stack_name": STACK, "outcome": "UPDATE_FAILED"}, "outcome"),
    ("next-create", {"stack_name": STACK, "outcome": "CREATE_FAILED",
                     "failed_resources": "Param"}, "failed_resources"),
    ("config", {"phase_seconds": "fast"}, "phase_seconds"),
    ("nowhere", {}, "unknown control route"),
])
def test_control_routes_reject_bad_input(cf: Any, sandbox: SandboxClient, route: str,
                                         body: dict[str, Any], message: str) -> None:
    create(cf)
    with pytest.raises(RuntimeError) as err:
        sandbox.control("POST", f"cloudformation/{route}", body)
    assert ": 400 " in str(err.value) and message in str(err.value)


def test_reset_forgets_arrangements(cf: Any, sandbox: SandboxClient) -> None:
    create(cf)
    arrange(sandbox, "next-update", outcome="UPDATE_FAILED")
    state = sandbox.control("GET", "cloudformation/state")
    assert state["next_update"][f"us-east-1/{STACK}"]["outcome"] == "UPDATE_FAILED"
    assert state["stacks"][STACK]["status"] == "CREATE_COMPLETE"
    sandbox.reset()
    sandbox.set_time_scale(SCALE)
    assert sandbox.control("GET", "cloudformation/state")["next_update"] == {}
    create(cf)
    bad_update(cf)
    assert settle(cf)[0] == "UPDATE_COMPLETE"


def test_describe_stacks_masks_noecho_parameters(sandbox):
    cfn = sandbox.boto3_client("cloudformation")
    template = {
        "Parameters": {"Secret": {"Type": "String", "NoEcho": True}, "Plain": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    sandbox.set_time_scale(0.005)
    cfn.create_stack(StackName="noecho", TemplateBody=json.dumps(template), Parameters=[
        {"ParameterKey": "Secret", "ParameterValue": "hunter2"},
        {"ParameterKey": "Plain", "ParameterValue": "visible"}])
    params = {p["ParameterKey"]: p["ParameterValue"]
              for p in cfn.describe_stacks(StackName="noecho")["Stacks"][0]["Parameters"]}
    assert params == {"Secret": "****", "Plain": "visible"}
