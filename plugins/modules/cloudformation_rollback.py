#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudformation_rollback
version_added: 1.0.0
short_description: Recover a CloudFormation stack with the one action its status allows
description:
  - Reads the stack's status and takes the one recovery action that fits it.
  - V(CREATE_FAILED) or V(UPDATE_FAILED) - C(RollbackStack).
  - V(UPDATE_ROLLBACK_FAILED) - C(ContinueUpdateRollback), skipping O(resources_to_skip).
  - V(UPDATE_IN_PROGRESS) - C(CancelUpdateStack). An update started by a propie.rollback
    template restore (recognised by its client request token) is waited for, never cancelled.
  - A settled V(*_COMPLETE) stack whose template or parameters differ from O(snapshot) -
    C(UpdateStack) with the snapshot's template, parameters, capabilities and tags.
    A stack already at the snapshot is left unchanged.
  - V(ROLLBACK_COMPLETE) (a failed create) - an error saying the stack must be deleted and
    created again. Statuses no API accepts safely (V(ROLLBACK_FAILED), V(DELETE_FAILED),
    V(REVIEW_IN_PROGRESS), ...) - an error. Errors make no mutating call.
  - Any other V(*_IN_PROGRESS) status - wait for it to settle, then decide.
  - Waits until the stack settles, then returns the final status, the action taken and the
    stack events since the module started.
  - Every mutating call carries the client request token C(<rollback_id>-<action>), which
    CloudFormation stamps on the stack events of that operation.
author:
  - PropIE platform team (@propie)
options:
  stack_name:
    description:
      - Name (or stack id) of the stack to recover.
    type: str
    required: true
  strategy:
    description:
      - V(auto) takes the action that fits the stack's status (see the description).
      - V(rollback), V(continue), V(cancel) and V(template) force C(RollbackStack),
        C(ContinueUpdateRollback), C(CancelUpdateStack) or C(UpdateStack) from the snapshot.
        A forced strategy fails without a mutating call when the stack's status does not
        accept it, and is unchanged when the stack is already where that action leads.
    type: str
    choices: [auto, rollback, continue, cancel, template]
    default: auto
  snapshot:
    description:
      - A snapshot to restore and compare with, as written by the C(propie.rollback.rollback_snapshot)
        role - the whole document (the entry for O(stack_name) is used) or one stack's entry.
      - Mutually exclusive with O(snapshot_path).
    type: dict
  snapshot_path:
    description:
      - A snapshot file, or a snapshot directory.
      - For a directory, the newest snapshot in which the stack was healthy (settled in a
        V(*_COMPLETE) status other than V(ROLLBACK_COMPLETE)) is used; a directory without one
        means no snapshot (a warning).
    type: path
  resources_to_skip:
    description:
      - Logical ids of resources that C(ContinueUpdateRollback) skips. Only resources in
        V(UPDATE_FAILED) can be skipped (checked before the call); use
        C(NestedStackName.LogicalId) for resources of nested stacks.
      - Only used by the V(continue) action; with O(strategy=auto) and another action they are
        ignored with a warning.
    type: list
    elements: str
    default: []
  role_arn:
    description:
      - IAM role CloudFormation assumes for the action. Defaults to the stack's role (for
        V(template), the snapshot's role).
    type: str
  rollback_id:
    description:
      - The rollback this action belongs to (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)). A new one is made
        when omitted.
    type: str
  wait:
    description:
      - Wait for the stack to settle after the action (and for a running operation to settle
        before deciding). With O(wait=false) a busy stack is an error.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait in all. On timeout the operation continues in AWS; a re-run resumes.
    type: int
    default: 1800
  wait_delay:
    description:
      - Seconds between two status reads while waiting.
    type: int
    default: 10
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
attributes:
  check_mode:
    description: Names the action it would take and predicts the final status without any mutating call.
  diff_mode:
    description: Shows the status change and, for V(template), the template and parameter changes.
notes:
  - botocore's CloudFormation waiters do not fit every action (V(StackRollbackComplete) does not
    accept the V(ROLLBACK_COMPLETE) a create rollback ends in), so the module polls
    C(DescribeStacks) until the stack leaves V(*_IN_PROGRESS), recording each status seen.
  - NoEcho parameter values cannot be read back from AWS; a template restore keeps the stack's
    current value for them (C(UsePreviousValue)).
"""

EXAMPLES = r"""
- name: Recover the AppSync stack with whatever its status allows
  propie.rollback.cloudformation_rollback:
    stack_name: prop-ie-production-appsync-stack
    snapshot_path: "{{ playbook_dir }}/../snapshots/production"
  register: cfn

- name: Finish a failed rollback, skipping a resource deleted outside CloudFormation
  propie.rollback.cloudformation_rollback:
    stack_name: prop-ie-production-appsync-stack
    strategy: continue
    resources_to_skip: [GraphQLResolver]

- name: Put the stack back on the last-known-good template
  propie.rollback.cloudformation_rollback:
    stack_name: prop-ie-production-appsync-stack
    strategy: template
    snapshot: "{{ lookup('ansible.builtin.file', 'snapshots/production/latest.json') | from_json }}"
    rollback_id: "{{ rollback_id }}"
    wait_timeout: 3600
"""

RETURN = r"""
stack_name:
  description: The stack's name.
  returned: always
  type: str
  sample: prop-ie-production-appsync-stack
stack_id:
  description: The stack's id.
  returned: when the stack exists
  type: str
action:
  description:
    - The action taken (or, in check mode, that would be taken) -
      V(rollback), V(continue), V(cancel), V(template) or V(none).
  returned: always
  type: str
  sample: continue
api_call:
  description: The CloudFormation API the action calls; null for V(none).
  returned: always
  type: str
  sample: ContinueUpdateRollback
reason:
  description: Why this action fits the stack's status.
  returned: always
  type: str
initial_status:
  description: The stack's status when the module started.
  returned: always
  type: str
  sample: UPDATE_ROLLBACK_FAILED
waited_for:
  description: In-progress statuses that were waited out before deciding.
  returned: always
  type: list
  elements: str
final_status:
  description: The settled status at the end (predicted in check mode).
  returned: always
  type: str
  sample: UPDATE_ROLLBACK_COMPLETE
predicted:
  description: True when RV(final_status) is a check-mode prediction.
  returned: always
  type: bool
resources_skipped:
  description: Resources passed to C(ContinueUpdateRollback) as ResourcesToSkip.
  returned: always
  type: list
  elements: str
failed_resources:
  description:
    - Logical ids of the resources in a V(*_FAILED) status when the module started (for a
      stack in a V(*_FAILED) status), or of those that made the action fail.
  returned: always
  type: list
  elements: str
changes:
  description: How the stack differs from the snapshot (empty without a snapshot).
  returned: always
  type: dict
  contains:
    template:
      description: Whether the templates differ.
      type: bool
    parameters:
      description: Differing parameter values as C(key) to C(before) and C(after); NoEcho values are not compared.
      type: dict
    tags:
      description: Differing tags as C(key) to C(before) and C(after).
      type: dict
    differs:
      description: Whether template or parameters differ (what decides V(template)).
      type: bool
snapshot:
  description: The snapshot used - its source, when it was taken and whether the stack was healthy then.
  returned: when a snapshot was given or found
  type: dict
  sample: {"source": "snapshots/production/20261130T034501.123456Z.json", "taken_at": "2026-11-30T03:45:01Z", "healthy": true}
outputs_before:
  description: The stack's outputs when the module started.
  returned: always
  type: dict
outputs:
  description: The stack's outputs at the end (the snapshot's outputs, predicted, in check mode for V(template)).
  returned: always
  type: dict
events:
  description: Stack events since the module started, newest first.
  returned: always
  type: list
  elements: dict
  sample: [{"timestamp": "2026-11-30T03:47:12Z", "logical_resource_id": "prop-ie-production-appsync-stack",
            "resource_type": "AWS::CloudFormation::Stack", "resource_status": "UPDATE_ROLLBACK_COMPLETE",
            "resource_status_reason": null, "client_request_token": "rb-20261130T034501Z-9f2c1a-continue",
            "event_id": "..."}]
progress:
  description: Each status seen while waiting, with seconds since the wait began.
  returned: always
  type: list
  elements: dict
rollback_id:
  description: The rollback id the action carries.
  returned: always
  type: str
  sample: rb-20261130T034501Z-9f2c1a
client_request_token:
  description: The ClientRequestToken sent with the mutating call (null when none was made).
  returned: always
  type: str
  sample: rb-20261130T034501Z-9f2c1a-continue
timings:
  description: C(started) and C(finished) (UTC ISO 8601), C(duration_seconds) and C(wait_seconds).
  returned: always
  type: dict
"""

import datetime
import time
import typing

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils.common import new_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import paginate
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

# Decide, wait, decide again: a wait is followed by at most one more decision, and a call
# refused because the status moved under us gets one more look.
MAX_ROUNDS = 4


class Failed(Exception):
    """Stop with fail_json: a message plus the result gathered so far."""

    def __init__(self, msg, **extra):
        super(Failed, self).__init__(msg)
        self.msg = msg
        self.extra = extra


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# -- AWS calls (each a small function) ----------------------------------------------------


def _rollback_stack(client, stack_name: str, token: str, role_arn: Optional[str]) -> None:
    kwargs = {"StackName": stack_name, "ClientRequestToken": token}
    if role_arn:
        kwargs["RoleARN"] = role_arn
    client.rollback_stack(aws_retry=True, **kwargs)


def _continue_update_rollback(client, stack_name: str, token: str, role_arn: Optional[str],
                              skip: List[str]) -> None:
    kwargs = {"StackName": stack_name, "ClientRequestToken": token}
    if skip:
        kwargs["ResourcesToSkip"] = list(skip)
    if role_arn:
        kwargs["RoleARN"] = role_arn
    client.continue_update_rollback(aws_retry=True, **kwargs)


def _cancel_update_stack(client, stack_name: str, token: str) -> None:
    client.cancel_update_stack(StackName=stack_name, ClientRequestToken=token, aws_retry=True)


def _update_stack(client, request: Dict[str, Any]) -> None:
    client.update_stack(aws_retry=True, **request)


def _list_resources(client, stack_name: str) -> Dict[str, Dict[str, Any]]:
    summaries = paginate(client, "list_stack_resources", "StackResourceSummaries", StackName=stack_name)
    return dict((res["LogicalResourceId"], res) for res in summaries)


# -- the run -------------------------------------------------------------------------------


class Run(object):
    """One module run: the stack, the snapshot, the decision and the result being built."""

    def __init__(self, module: AnsibleAWSModule, client) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.stack_name = module.params["stack_name"]
        self.started = _now()
        self.started_mono = time.monotonic()
        self.wait_seconds = 0.0
        self.deadline = self.started_mono + module.params["wait_timeout"]
        self.rollback_id = module.params["rollback_id"] or new_rollback_id()
        self.target = None  # the snapshot's entry for the stack
        self.snapshot_info = None
        self.marker = None
        self.progress = []  # type: List[Dict[str, Any]]
        self.waited_for = []  # type: List[str]
        self.result = {
            "changed": False,
            "stack_name": self.stack_name,
            "action": "none",
            "api_call": None,
            "reason": "",
            "initial_status": None,
            "waited_for": self.waited_for,
            "final_status": None,
            "predicted": False,
            "resources_skipped": [],
            "failed_resources": [],
            "changes": {},
            "outputs_before": {},
            "outputs": {},
            "events": [],
            "progress": self.progress,
            "rollback_id": self.rollback_id,
            "client_request_token": None,
        }

    # -- inputs -------------------------------------------------------------------------

    def load_snapshot(self) -> None:
        """Resolve and check the snapshot before any AWS call."""
        params = self.params
        found = None
        try:
            if params["snapshot"] is not None:
                found = ("snapshot option", params["snapshot"], cfn.stack_entry(params["snapshot"], self.stack_name))
            elif params["snapshot_path"]:
                found = cfn.find_snapshot(params["snapshot_path"], self.stack_name)
                if found is None:
                    self.module.warn(
                        "no snapshot in %s in which %s was healthy; comparing with none"
                        % (params["snapshot_path"], self.stack_name)
                    )
        except cfn.SnapshotError as err:
            raise Failed(str(err))
        if found is None:
            if params["strategy"] == "template":
                raise Failed("strategy template needs a snapshot of %s (snapshot or snapshot_path)" % self.stack_name)
            return
        source, document, entry = found
        problems = cfn.validate_entry(entry, self.stack_name)
        if problems:
            raise Failed("unusable snapshot for %s: %s" % (self.stack_name, "; ".join(problems)))
        if not entry.get("healthy", False):
            self.module.warn(
                "the snapshot (%s) was taken while %s was %s, not healthy"
                % (source, self.stack_name, entry.get("status"))
            )
        self.target = entry
        self.snapshot_info = {
            "source": source,
            "taken_at": document.get("taken_at"),
            "healthy": bool(entry.get("healthy")),
            "status": entry.get("status"),
        }
        self.result["snapshot"] = self.snapshot_info

    # -- reading ------------------------------------------------------------------------

    def read(self) -> Optional[Dict[str, Any]]:
        return cfn.describe_stack(self.client, self.stack_name)

    def current_state(self, stack: Dict[str, Any], with_template: bool) -> Dict[str, Any]:
        body = cfn.get_template_body(self.client, self.stack_name) if with_template else None
        state = cfn.stack_state(stack, body)
        if not with_template:
            del state["template_body"]
        return state

    def own_update(self, status: str) -> Optional[str]:
        if status != "UPDATE_IN_PROGRESS":
            return None
        parsed = cfn.token_rollback_id(cfn.in_progress_token(self.client, self.stack_name))
        return parsed[0] if parsed else None

    # -- waiting ------------------------------------------------------------------------

    def wait_settled(self, what: str, from_status: str, event_marker: Optional[str]) -> Dict[str, Any]:
        """Poll until the stack leaves *_IN_PROGRESS (having moved from `from_status`)."""
        seen = {"moved": cfn.is_in_progress(from_status)}

        def read():
            stack = self.read()
            return stack or {"StackStatus": "DELETE_COMPLETE"}

        def done(status):
            if cfn.is_in_progress(status):
                seen["moved"] = True
                return False
            if seen["moved"] or status != from_status:
                return True
            # Still at the starting status: did our operation finish between two reads?
            events = cfn.events_since(self.client, self.stack_name, event_marker, self.started, limit=50)
            return any(
                e["logical_resource_id"] == self.stack_name and e["resource_status"] == status for e in events
            )

        remaining = max(0, int(self.deadline - time.monotonic()))
        began = time.monotonic()
        try:
            stack, progress = wait_for(
                read,
                lambda s: s["StackStatus"],
                done,
                remaining,
                self.params["wait_delay"],
                what,
                log=self.module.log,
            )
        except WaitTimeout as err:
            self.progress.extend(err.progress)
            self.wait_seconds += time.monotonic() - began
            raise Failed(str(err), final_status=err.last.get("StackStatus"))
        self.wait_seconds += time.monotonic() - began
        self.progress.extend(progress)
        return stack

    # -- acting -------------------------------------------------------------------------

    def resource_failures(self) -> Dict[str, Optional[str]]:
        """Resources now in a *_FAILED status, with their reasons."""
        resources = _list_resources(self.client, self.stack_name)
        return dict((k, r.get("ResourceStatusReason")) for k, r in sorted(resources.items())
                    if (r.get("ResourceStatus") or "").endswith("_FAILED"))

    def check_skip(self, status: str) -> None:
        """ResourcesToSkip must name resources in UPDATE_FAILED (AWS refuses others)."""
        skip = self.params["resources_to_skip"]
        if not skip:
            return
        resources = _list_resources(self.client, self.stack_name)
        failed = sorted(k for k, r in resources.items() if r.get("ResourceStatus") == "UPDATE_FAILED")
        bad = [name for name in skip if "." not in name and name not in failed]
        if bad:
            raise Failed(
                "resources_to_skip %s: only resources in UPDATE_FAILED can be skipped; in %s the "
                "UPDATE_FAILED resources are: %s" % (bad, self.stack_name, ", ".join(failed) or "none"),
                final_status=status,
            )

    def call(self, action: str, stack: Dict[str, Any]) -> None:
        token = cfn.client_token(self.rollback_id, action)
        self.result["client_request_token"] = token
        role_arn = self.params["role_arn"]
        if action == "rollback":
            _rollback_stack(self.client, self.stack_name, token, role_arn)
        elif action == "continue":
            self.result["resources_skipped"] = list(self.params["resources_to_skip"])
            _continue_update_rollback(self.client, self.stack_name, token, role_arn,
                                      self.params["resources_to_skip"])
        elif action == "cancel":
            _cancel_update_stack(self.client, self.stack_name, token)
        else:
            request = cfn.update_stack_request(self.target, token=token, role_arn=role_arn)
            # Restore the live stack (by id), not whatever the snapshot's name resolves to.
            request["StackName"] = stack["StackId"]
            _update_stack(self.client, request)

    # -- the whole thing ----------------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        stack = self.read()
        if stack is None:
            raise Failed("stack %s does not exist (in this account and region); nothing was changed"
                         % self.stack_name)
        self.result["stack_id"] = stack["StackId"]
        self.result["initial_status"] = stack["StackStatus"]
        self.result["outputs_before"] = cfn.stack_state(stack, None)["outputs"]
        if stack["StackStatus"].endswith("_FAILED"):
            # For the record, and to tell which resources ContinueUpdateRollback may skip.
            self.result["failed_resources"] = sorted(self.resource_failures())
        if self.target and self.target.get("stack_id") and self.target["stack_id"] != stack["StackId"]:
            self.module.warn("the snapshot is of an earlier stack named %s (%s); the stack was "
                             "recreated since" % (self.stack_name, self.target["stack_id"]))
        self.marker = cfn.newest_event_id(self.client, self.stack_name)
        before = None
        decision = None
        for _round in range(MAX_ROUNDS):
            status = stack["StackStatus"]
            state = self.current_state(stack, with_template=bool(self.target) or self.module._diff)
            if before is None:
                before = state
            differs = None
            if self.target:
                self.result["changes"] = cfn.compare(state, self.target)
                differs = self.result["changes"]["differs"]
            decision = cfn.decide(status, self.params["strategy"], differs, bool(self.target),
                                  own_update=self.own_update(status))
            self.result["reason"] = decision.reason
            if decision.action == "error":
                raise Failed("%s: %s; nothing was changed" % (self.stack_name, decision.reason),
                             final_status=status)
            if decision.action == "wait":
                self.waited_for.append(status)
                if self.module.check_mode:
                    # Predict the settled state instead of blocking a dry run.
                    stack = dict(stack, StackStatus=cfn.predicted_status("wait", status))
                    continue
                if not self.params["wait"]:
                    raise Failed("%s is %s; another operation is running and wait=false, so nothing "
                                 "was done; re-run later or with wait=true" % (self.stack_name, status),
                                 final_status=status)
                stack = self.wait_settled("%s to settle" % self.stack_name, status, None)
                continue
            if decision.action == "none":
                self.finish_unchanged(stack, before)
                return self.result
            if decision.action != "continue" and self.params["resources_to_skip"]:
                self.module.warn("resources_to_skip is ignored: the action is %s, not continue"
                                 % decision.action)
            stack = self.act(decision.action, stack, before)
            if stack is not None:
                return self.result
            stack = self.read()  # the call was refused because the status moved: look again
            if stack is None:
                raise Failed("stack %s disappeared while deciding" % self.stack_name)
        raise Failed("%s kept changing status (%s); nothing more was done, re-run to continue"
                     % (self.stack_name, ", ".join(self.waited_for)), final_status=stack["StackStatus"])

    def act(self, action: str, stack: Dict[str, Any], before: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Take `action`; None when AWS refused because the stack's status moved meanwhile."""
        status = stack["StackStatus"]
        self.result.update(action=action, api_call=cfn.ACTION_API[action], changed=True)
        if action == "continue":
            self.check_skip(status)
            self.result["resources_skipped"] = list(self.params["resources_to_skip"])
        if self.module.check_mode:
            self.result["predicted"] = True
            self.result["final_status"] = cfn.predicted_status(action, status)
            self.result["outputs"] = (dict(self.target.get("outputs") or {}) if action == "template"
                                      else self.result["outputs_before"])
            self.set_diff(before, action, self.result["final_status"])
            return stack
        event_marker = cfn.newest_event_id(self.client, self.stack_name)
        try:
            self.call(action, stack)
        except ClientError as err:
            refused = err.response.get("Error", {}).get("Code") == "ValidationError"
            if action == "template" and refused and "No updates are to be performed" in str(err):
                self.result.update(action="none", api_call=None, changed=False,
                                   reason="UpdateStack: no updates are to be performed")
                self.finish_unchanged(stack, before)
                return stack
            latest = self.read()
            if refused and latest is not None and latest["StackStatus"] != status:
                self.result.update(action="none", api_call=None, changed=False)
                return None
            raise
        final = stack
        if self.params["wait"]:
            final = self.wait_settled("%s %s" % (self.stack_name, cfn.ACTION_API[action]), status, event_marker)
        else:
            final = self.read() or {"StackStatus": "DELETE_COMPLETE"}
        self.result["final_status"] = final["StackStatus"]
        self.result["outputs"] = cfn.stack_state(final, None)["outputs"] if "StackId" in final else {}
        self.collect_events()
        self.set_diff(before, action, final["StackStatus"])
        if self.params["wait"] and final["StackStatus"] not in cfn.success_statuses(action, status):
            raise Failed(self.failure_message(action, status, final["StackStatus"]),
                         final_status=final["StackStatus"])
        if final["StackStatus"] == "ROLLBACK_COMPLETE":
            self.module.warn("%s is rolled back to ROLLBACK_COMPLETE (a failed create); it cannot be "
                             "updated and must be deleted and created again" % self.stack_name)
        return final

    def failure_message(self, action: str, from_status: str, final_status: str) -> str:
        failed = cfn.failed_resources(self.result["events"])
        self.result["failed_resources"] = failed
        msg = "%s %s: %s -> %s, not %s" % (
            cfn.ACTION_API[action], self.stack_name, from_status, final_status,
            "/".join(cfn.success_statuses(action, from_status)))
        if failed:
            reasons = dict((e["logical_resource_id"], e["resource_status_reason"]) for e in reversed(self.result["events"]))
            msg += "; failed resources: %s" % "; ".join("%s (%s)" % (k, reasons.get(k)) for k in failed)
        if final_status == "UPDATE_ROLLBACK_FAILED":
            msg += ("; fix or check those resources, then re-run with resources_to_skip listing the "
                    "ones that cannot be rolled back")
        elif action == "cancel" and final_status == "UPDATE_COMPLETE":
            msg += "; the update completed before the cancel took effect: re-run with a snapshot to restore"
        return msg

    def finish_unchanged(self, stack: Dict[str, Any], before: Dict[str, Any]) -> None:
        status = stack["StackStatus"]
        self.result["final_status"] = status
        self.result["predicted"] = bool(self.module.check_mode and self.waited_for)
        self.result["outputs"] = cfn.stack_state(stack, None)["outputs"]
        self.set_diff(before, "none", status)
        if not self.module.check_mode:
            self.collect_events()

    def set_diff(self, before: Dict[str, Any], action: str, final_status: str) -> None:
        if not self.module._diff:
            return
        # A template restore ends at the snapshot; anything else only changes the status.
        after = dict(self.target if action == "template" else before, status=final_status)
        self.result["diff"] = {
            "before": cfn.render_state(before),
            "after": cfn.render_state(after),
            "before_header": "%s (%s)" % (self.stack_name, before.get("status")),
            "after_header": "%s (%s)" % (self.stack_name, action),
        }

    def collect_events(self) -> None:
        self.result["events"] = cfn.events_since(self.client, self.stack_name, self.marker, self.started)

    def timings(self) -> Dict[str, Any]:
        return {
            "started": iso(self.started),
            "finished": iso(_now()),
            "duration_seconds": round(time.monotonic() - self.started_mono, 2),
            "wait_seconds": round(self.wait_seconds, 2),
        }


def do(module: AnsibleAWSModule) -> None:
    validate_rollback_id(module, module.params["rollback_id"])
    if module.params["wait_timeout"] < 0 or module.params["wait_delay"] < 1:
        module.fail_json(msg="wait_timeout must be >= 0 and wait_delay >= 1")
    if module.params["resources_to_skip"] and module.params["strategy"] not in ("auto", "continue"):
        module.fail_json(msg="resources_to_skip is only for ContinueUpdateRollback (strategy auto or "
                             "continue), not strategy %s" % module.params["strategy"])
    client = module.client("cloudformation", retry_decorator=aws_retry)
    run = Run(module, client)
    try:
        run.load_snapshot()
        result = run.run()
    except Failed as err:
        result = dict(run.result, **err.extra)
        result["timings"] = run.timings()
        if run.marker is not None or result.get("initial_status"):
            try:
                run.collect_events()
                result["events"] = run.result["events"]
            except (BotoCoreError, ClientError):
                pass  # the failure message matters more than the events
        module.fail_json(msg=err.msg, **result)
    except (BotoCoreError, ClientError) as err:
        module.fail_json_aws(err, msg="CloudFormation call failed for %s" % run.stack_name,
                             **dict(run.result, timings=run.timings()))
    result["timings"] = run.timings()
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        stack_name=dict(type="str", required=True),
        strategy=dict(type="str", default="auto", choices=["auto", "rollback", "continue", "cancel", "template"]),
        snapshot=dict(type="dict"),
        snapshot_path=dict(type="path"),
        resources_to_skip=dict(type="list", elements="str", default=[]),
        role_arn=dict(type="str"),
        rollback_id=dict(type="str"),
        **wait_options(1800, 10),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["snapshot", "snapshot_path"]],
    )
    do(module)


if __name__ == "__main__":
    main()
