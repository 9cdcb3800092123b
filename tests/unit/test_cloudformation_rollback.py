"""cloudformation_rollback: the decision table and edge cases the sandbox cannot produce (Stubber)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.modules import cloudformation_rollback as mod

STACK = "prop-ie-production-appsync-stack"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/%s/1111" % STACK
T0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)
RID = "rb-20261130T030000Z-abcdef"


# -- the decision table -----------------------------------------------------------------

@pytest.mark.parametrize("status, strategy, differs, has_snapshot, own, action", [
    ("CREATE_FAILED", "auto", None, False, None, "rollback"),
    ("UPDATE_FAILED", "auto", True, True, None, "rollback"),
    ("UPDATE_ROLLBACK_FAILED", "auto", None, False, None, "continue"),
    ("UPDATE_IN_PROGRESS", "auto", None, False, None, "cancel"),
    ("UPDATE_IN_PROGRESS", "auto", None, False, RID, "wait"),  # our own restore: never cancel
    ("UPDATE_IN_PROGRESS", "cancel", None, False, RID, "wait"),
    ("UPDATE_COMPLETE", "auto", True, True, None, "template"),
    ("UPDATE_ROLLBACK_COMPLETE", "auto", True, True, None, "template"),
    ("CREATE_COMPLETE", "auto", True, True, None, "template"),
    ("IMPORT_COMPLETE", "auto", True, True, None, "template"),
    ("UPDATE_COMPLETE", "auto", False, True, None, "none"),
    ("UPDATE_COMPLETE", "auto", None, False, None, "none"),
    ("ROLLBACK_COMPLETE", "auto", None, False, None, "error"),
    ("ROLLBACK_COMPLETE", "template", True, True, None, "error"),
    ("ROLLBACK_FAILED", "auto", None, False, None, "error"),
    ("DELETE_FAILED", "auto", None, False, None, "error"),
    ("DELETE_COMPLETE", "auto", None, False, None, "error"),
    ("REVIEW_IN_PROGRESS", "auto", None, False, None, "error"),
    ("IMPORT_ROLLBACK_FAILED", "auto", None, False, None, "error"),
    (None, "auto", None, False, None, "error"),
    ("UPDATE_ROLLBACK_IN_PROGRESS", "auto", None, False, None, "wait"),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "auto", None, False, None, "wait"),
    ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "auto", None, False, None, "wait"),
    ("CREATE_IN_PROGRESS", "auto", None, False, None, "wait"),
    ("ROLLBACK_IN_PROGRESS", "auto", None, False, None, "wait"),
    ("DELETE_IN_PROGRESS", "auto", None, False, None, "wait"),
    # forced strategies
    ("UPDATE_FAILED", "rollback", None, False, None, "rollback"),
    ("UPDATE_ROLLBACK_FAILED", "rollback", None, False, None, "error"),
    ("UPDATE_ROLLBACK_COMPLETE", "rollback", None, False, None, "none"),
    ("ROLLBACK_COMPLETE", "rollback", None, False, None, "none"),
    ("UPDATE_ROLLBACK_FAILED", "continue", None, False, None, "continue"),
    ("UPDATE_FAILED", "continue", None, False, None, "error"),
    ("UPDATE_ROLLBACK_COMPLETE", "continue", None, False, None, "none"),
    ("UPDATE_IN_PROGRESS", "cancel", None, False, None, "cancel"),
    ("UPDATE_COMPLETE", "cancel", None, False, None, "error"),
    ("UPDATE_ROLLBACK_IN_PROGRESS", "cancel", None, False, None, "wait"),
    ("UPDATE_COMPLETE", "template", True, True, None, "template"),
    ("UPDATE_COMPLETE", "template", False, True, None, "none"),
    ("UPDATE_FAILED", "template", True, True, None, "error"),
    ("UPDATE_IN_PROGRESS", "template", True, True, None, "wait"),
])
def test_decision_table(status, strategy, differs, has_snapshot, own, action):
    decision = cfn.decide(status, strategy, differs, has_snapshot, own_update=own)
    assert decision.action == action, decision
    assert decision.reason


def test_rollback_complete_says_delete_and_recreate():
    reason = cfn.decide("ROLLBACK_COMPLETE", "auto", None, False).reason
    assert "Delete the stack and create it again" in reason


def test_predictions():
    assert cfn.predicted_status("rollback", "CREATE_FAILED") == "ROLLBACK_COMPLETE"
    assert cfn.predicted_status("rollback", "UPDATE_FAILED") == "UPDATE_ROLLBACK_COMPLETE"
    assert cfn.predicted_status("cancel", "UPDATE_IN_PROGRESS") == "UPDATE_ROLLBACK_COMPLETE"
    assert cfn.predicted_status("template", "UPDATE_ROLLBACK_COMPLETE") == "UPDATE_COMPLETE"
    assert cfn.predicted_status("wait", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS") == "UPDATE_COMPLETE"


def test_tokens_round_trip():
    assert cfn.token_rollback_id(cfn.client_token(RID, "template")) == (RID, "template")
    assert cfn.token_rollback_id("Console-UpdateStack-1234") is None
    assert cfn.token_rollback_id(None) is None


# -- comparing and restoring ----------------------------------------------------------------

def entry(template_body, params, tags=None, **extra):
    return dict({"stack_name": STACK, "stack_id": STACK_ID, "status": "UPDATE_COMPLETE", "healthy": True,
                 "template_body": template_body, "parameters": params, "capabilities": [],
                 "tags": tags or {}, "outputs": {}}, **extra)


def p(key, value, masked=False):
    return {"key": key, "value": None if masked else value, "masked": masked}


def test_json_templates_compare_by_content_and_masked_values_are_not_differences():
    live = entry({"Resources": {"A": {"Type": "X"}}, "Outputs": {}},
                 [p("Stage", "blue"), p("DbPassword", None, masked=True)])
    snap = entry('{\n  "Outputs": {},\n  "Resources": {"A": {"Type": "X"}}\n}',
                 [p("Stage", "blue"), p("DbPassword", None, masked=True)])
    changes = cfn.compare(live, snap)
    assert changes["template"] is False and changes["parameters"] == {} and changes["differs"] is False


def test_yaml_templates_compare_by_text_ignoring_trailing_space():
    assert cfn.compare(entry("a: 1   \nb: !Ref X\n", []), entry("a: 1\nb: !Ref X", []))["differs"] is False
    assert cfn.compare(entry("a: 1\n", []), entry("a: 2\n", []))["template"] is True


def test_parameter_and_tag_differences():
    changes = cfn.compare(entry("t", [p("Stage", "green"), p("New", "x")], {"rev": "2", "app": "a"}),
                          entry("t", [p("Stage", "blue")], {"rev": "1", "app": "a"}))
    assert changes["parameters"] == {"Stage": {"before": "green", "after": "blue"},
                                     "New": {"before": "x", "after": None}}
    assert changes["tags"] == {"rev": {"before": "2", "after": "1"}}
    assert changes["differs"] is True


def test_tags_alone_do_not_trigger_a_restore():
    assert cfn.compare(entry("t", [], {"a": "1"}), entry("t", [], {"a": "2"}))["differs"] is False


def test_update_request_keeps_noecho_values_and_clears_tags():
    target = entry("body", [p("Stage", "blue"), p("DbPassword", None, masked=True)],
                   capabilities=["CAPABILITY_IAM"], role_arn="arn:aws:iam::1:role/cfn")
    request = cfn.update_stack_request(target, token=RID + "-template")
    assert request["Parameters"] == [{"ParameterKey": "Stage", "ParameterValue": "blue"},
                                     {"ParameterKey": "DbPassword", "UsePreviousValue": True}]
    assert request["Tags"] == []  # the snapshot had none: remove the deploy's tags
    assert request["Capabilities"] == ["CAPABILITY_IAM"]
    assert request["RoleARN"] == "arn:aws:iam::1:role/cfn"
    assert request["ClientRequestToken"] == RID + "-template"


def test_render_state_masks_noecho_and_shows_template_lines():
    text = cfn.render_state(entry("line1\nline2", [p("DbPassword", None, masked=True)]))
    assert "  DbPassword: ****" in text and "  line1\n  line2\n" in text


# -- snapshots on disk -----------------------------------------------------------------------

def write(directory, name, taken_at, healthy, body="t"):
    doc = {"format": 1, "snapshot_id": name, "taken_at": taken_at,
           "stacks": {STACK: entry(body, [], healthy=healthy, status="UPDATE_COMPLETE" if healthy else "UPDATE_FAILED")}}
    (directory / (name + ".json")).write_text(json.dumps(doc))
    return doc


def test_find_snapshot_picks_the_newest_healthy(tmp_path):
    write(tmp_path, "20261128T000000.000000Z", "2026-11-28T00:00:00+00:00", True, "old")
    write(tmp_path, "20261129T000000.000000Z", "2026-11-29T00:00:00+00:00", True, "good")
    write(tmp_path, "20261130T000000.000000Z", "2026-11-30T00:00:00+00:00", False, "bad")
    (tmp_path / "notes.json").write_text("[1, 2]")  # not a snapshot: ignored
    (tmp_path / "latest.json").symlink_to("20261130T000000.000000Z.json")
    source, _doc, found = cfn.find_snapshot(str(tmp_path), STACK)
    assert source.endswith("20261129T000000.000000Z.json") and found["template_body"] == "good"
    _source, _doc, found = cfn.find_snapshot(str(tmp_path), STACK, healthy_only=False)
    assert found["template_body"] == "bad"
    assert cfn.find_snapshot(str(tmp_path), "another-stack") is None


def test_find_snapshot_file_without_the_stack(tmp_path):
    write(tmp_path, "s", "2026-11-29T00:00:00+00:00", True)
    with pytest.raises(cfn.SnapshotError, match="no entry for stack other.*holds: %s" % STACK):
        cfn.find_snapshot(str(tmp_path / "s.json"), "other")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(cfn.SnapshotError, match="cannot read snapshot"):
        cfn.find_snapshot(str(tmp_path / "broken.json"), STACK)


def test_validate_entry_names_the_other_stack():
    problems = cfn.validate_entry(dict(entry("t", []), stack_name="other"), STACK)
    assert problems == ["the snapshot is of stack 'other', not '%s'; pass that stack's snapshot" % STACK]
    assert cfn.validate_entry(dict(entry("", [])), STACK) == ["the snapshot has no template_body"]


# -- AWS reads and the module's run (Stubber) ---------------------------------------------------

def _stack(status="UPDATE_COMPLETE", outputs=None, params=None):
    return {"StackName": STACK, "StackId": STACK_ID, "StackStatus": status, "CreationTime": T0,
            "Parameters": params or [{"ParameterKey": "Stage", "ParameterValue": "green"}],
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
            "Tags": [], "Capabilities": []}


def _event(n, status, logical=STACK, token=None, when=None):
    event = {"StackId": STACK_ID, "EventId": "e%d" % n, "StackName": STACK, "LogicalResourceId": logical,
             "ResourceType": "AWS::CloudFormation::Stack" if logical == STACK else "AWS::SQS::Queue",
             "Timestamp": when or T0 + dt.timedelta(seconds=n), "ResourceStatus": status}
    if token:
        event["ClientRequestToken"] = token
    return event


@pytest.fixture
def stubbed():
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, aws_retry), stubber
        stubber.assert_no_pending_responses()


def test_events_since_pages_until_the_marker(stubbed):
    client, stub = stubbed
    stub.add_response("describe_stack_events", {"StackEvents": [_event(9, "UPDATE_COMPLETE"), _event(8, "X")],
                                                "NextToken": "t"}, {"StackName": STACK})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(7, "Y"), _event(6, "MARK"), _event(5, "OLD")],
                                                "NextToken": "u"}, {"StackName": STACK, "NextToken": "t"})
    events = cfn.events_since(client, STACK, "e6", T0)
    assert [e["event_id"] for e in events] == ["e9", "e8", "e7"]


def test_events_since_without_a_marker_stops_at_the_start_time(stubbed):
    client, stub = stubbed
    started = T0 + dt.timedelta(minutes=10)
    stub.add_response("describe_stack_events", {"StackEvents": [
        _event(3, "CREATE_COMPLETE", when=started + dt.timedelta(seconds=5)),
        _event(2, "CREATE_IN_PROGRESS", when=started - dt.timedelta(seconds=30)),  # within clock skew
        _event(1, "OLD", when=started - dt.timedelta(minutes=5))]}, {"StackName": STACK})
    assert [e["event_id"] for e in cfn.events_since(client, STACK, None, started)] == ["e3", "e2"]


def test_missing_stack_reads_as_none(stubbed):
    client, stub = stubbed
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    assert cfn.describe_stack(client, "nope") is None


def test_json_template_body_is_returned_as_text(stubbed):
    client, stub = stubbed
    # botocore hands back a JSON TemplateBody as a dict.
    stub.add_response("get_template", {"TemplateBody": '{"Resources": {}}'}, {"StackName": STACK, "TemplateStage": "Original"})
    body = cfn.get_template_body(client, STACK)
    assert isinstance(body, str) and json.loads(body) == {"Resources": {}}


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = dict({"stack_name": STACK, "strategy": "auto", "snapshot": None, "snapshot_path": None,
                            "resources_to_skip": [], "role_arn": None, "rollback_id": RID, "wait": True,
                            "wait_timeout": 30, "wait_delay": 1}, **params)
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def log(self, msg):
        pass


SNAP = {"format": 1, "taken_at": "2026-11-29T00:00:00+00:00",
        "stacks": {STACK: entry("good-template", [p("Stage", "blue")], outputs={"Stage": "blue"})}}


def _run(client, **params):
    module = FakeModule(params)
    run = mod.Run(module, client)
    run.load_snapshot()
    return run, module


def test_update_that_finishes_between_two_reads_is_recognised_by_its_events(stubbed):
    """UPDATE_COMPLETE -> UpdateStack -> UPDATE_COMPLETE again, the in-progress never seen."""
    client, stub = stubbed
    token = RID + "-template"
    stub.add_response("describe_stacks", {"Stacks": [_stack()]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE")]})  # start marker
    stub.add_response("get_template", {"TemplateBody": "bad-template"})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE")]})  # action marker
    stub.add_response("update_stack", {"StackId": STACK_ID}, {
        "StackName": STACK_ID, "TemplateBody": "good-template",
        "Parameters": [{"ParameterKey": "Stage", "ParameterValue": "blue"}],
        "Capabilities": [], "Tags": [], "ClientRequestToken": token})
    stub.add_response("describe_stacks", {"Stacks": [_stack(outputs={"Stage": "blue"})]})
    done_events = {"StackEvents": [_event(3, "UPDATE_COMPLETE", token=token),
                                   _event(2, "UPDATE_IN_PROGRESS", token=token), _event(1, "UPDATE_COMPLETE")]}
    stub.add_response("describe_stack_events", done_events)  # the done() check
    stub.add_response("describe_stack_events", done_events)  # events for the result
    run, _module = _run(client, snapshot=SNAP)
    result = run.run()
    assert (result["action"], result["changed"], result["final_status"]) == ("template", True, "UPDATE_COMPLETE")
    assert result["outputs"] == {"Stage": "blue"}
    assert [e["event_id"] for e in result["events"]] == ["e3", "e2"]


def test_no_updates_to_be_performed_is_unchanged(stubbed):
    client, stub = stubbed
    stub.add_response("describe_stacks", {"Stacks": [_stack()]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE")]})
    stub.add_response("get_template", {"TemplateBody": "bad-template"})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE")]})
    stub.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE")]})
    run, _module = _run(client, snapshot=SNAP)
    result = run.run()
    assert (result["action"], result["changed"], result["api_call"]) == ("none", False, None)


def test_cancel_refused_because_the_update_finished_is_decided_again(stubbed):
    client, stub = stubbed
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_IN_PROGRESS")]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_IN_PROGRESS")]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_IN_PROGRESS", token="Console-1")]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_IN_PROGRESS")]})
    stub.add_client_error("cancel_update_stack", "ValidationError",
                          "CancelUpdateStack cannot be called from current stack status")
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE")]})  # why was it refused?
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE")]})  # next round
    stub.add_response("describe_stack_events", {"StackEvents": [_event(2, "UPDATE_COMPLETE"), _event(1, "X")]})
    run, module = _run(client)
    result = run.run()
    assert (result["action"], result["changed"], result["final_status"]) == ("none", False, "UPDATE_COMPLETE")
    assert "no snapshot" in result["reason"]


def test_check_mode_predicts_through_a_cleanup_phase(stubbed):
    client, stub = stubbed
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")]})
    stub.add_response("get_template", {"TemplateBody": "bad-template"})
    stub.add_response("get_template", {"TemplateBody": "bad-template"})
    module = FakeModule({"snapshot": SNAP}, check_mode=True, diff=True)
    run = mod.Run(module, client)
    run.load_snapshot()
    result = run.run()
    assert result["waited_for"] == ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"]
    assert (result["action"], result["final_status"], result["predicted"]) == ("template", "UPDATE_COMPLETE", True)
    assert "good-template" in result["diff"]["after"] and "bad-template" in result["diff"]["before"]


def test_wait_timeout_reports_progress_and_how_to_resume(stubbed, monkeypatch):
    client, stub = stubbed
    monkeypatch.setattr(mod.time, "monotonic", iter(range(0, 1000, 7)).__next__)
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_ROLLBACK_IN_PROGRESS")]})
    stub.add_response("describe_stack_events", {"StackEvents": [_event(1, "UPDATE_ROLLBACK_IN_PROGRESS")]})
    for _poll in range(10):
        stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_ROLLBACK_IN_PROGRESS")]})
    run, _module = _run(client, wait_timeout=2, wait_delay=1)
    with pytest.raises(mod.Failed) as err:
        run.run()
    assert "timed out" in err.value.msg and "re-run" in err.value.msg
    assert err.value.extra["final_status"] == "UPDATE_ROLLBACK_IN_PROGRESS"
    stub._queue.clear()  # the timeout may leave unread polls


def test_wait_false_on_a_busy_stack_does_nothing(stubbed):
    client, stub = stubbed
    stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_ROLLBACK_IN_PROGRESS")]})
    stub.add_response("describe_stack_events", {"StackEvents": []})
    run, _module = _run(client, wait=False)
    with pytest.raises(mod.Failed, match="wait=false, so nothing was done"):
        run.run()


def test_noecho_parameters_are_found_in_yaml_with_short_tags_and_json():
    yaml_body = ("Parameters:\n  ApiKey:\n    Type: String\n    NoEcho: true\n  Stage:\n    Type: String\n"
                 "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub '${Stage}-t'\n")
    assert cfn.noecho_parameters(yaml_body) == {"ApiKey"}
    assert cfn.noecho_parameters(json.dumps({"Parameters": {"K": {"Type": "String", "NoEcho": "true"}}})) == {"K"}
    assert cfn.noecho_parameters("not: [valid") == set()
    stack = _stack(params=[{"ParameterKey": "ApiKey", "ParameterValue": "leaked"},
                           {"ParameterKey": "Stage", "ParameterValue": "blue"}])
    assert cfn.stack_state(stack, yaml_body)["parameters"] == [p("ApiKey", None, masked=True), p("Stage", "blue")]
