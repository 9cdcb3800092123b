# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudFormation plumbing shared by cloudformation_rollback and rollback_snapshot_info.

- reading a stack (status, template, parameters, capabilities, tags, outputs) into the
  snake_case shape the snapshots store;
- the status table: which recovery API accepts which status (DESIGN.md), and the decision
  the `auto` strategy takes;
- comparing a stack with its snapshot, and building the UpdateStack call that restores it;
- stack events since an action started;
- finding the latest snapshot taken while a stack was healthy.

Nothing here makes a mutating call; the module decides and calls.
"""

from __future__ import annotations

import datetime
import glob
import json
import os

try:
    from botocore.exceptions import ClientError
except ImportError:  # AnsibleAWSModule reports a missing botocore itself
    ClientError = Exception

try:
    import yaml
except ImportError:  # ansible-core requires PyYAML; guard for import sanity only
    yaml = None

from ansible_collections.propie.rollback.plugins.module_utils import rollback_id as rbid
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils.common import parse_iso

# AWS masks NoEcho parameter values with this in DescribeStacks.
MASKED_VALUE = "****"
SNAPSHOT_FORMAT = 1
# A snapshot directory holds <snapshot id>.json files and this link to the newest (module_utils.snapshot writes them).
SNAPSHOT_LATEST = "latest.json"
# How a snapshot without a readable taken_at sorts: older than any.
_NO_TIME = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

# Which status each recovery API accepts (DESIGN.md, AWS API reference).
ROLLBACK_STATUSES = ("CREATE_FAILED", "UPDATE_FAILED")
CONTINUE_STATUSES = ("UPDATE_ROLLBACK_FAILED",)
CANCEL_STATUSES = ("UPDATE_IN_PROGRESS",)
# UpdateStack with a template: any settled, updatable state. ROLLBACK_COMPLETE is a failed
# create and cannot be updated; it must be deleted.
TEMPLATE_STATUSES = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
)
# A snapshot is "healthy" for a stack that was settled in one of these (not ROLLBACK_*).
HEALTHY_STATUSES = TEMPLATE_STATUSES

ACTION_API = {
    "rollback": "RollbackStack",
    "continue": "ContinueUpdateRollback",
    "cancel": "CancelUpdateStack",
    "template": "UpdateStack",
}
STRATEGY_STATUSES = {
    "rollback": ROLLBACK_STATUSES,
    "continue": CONTINUE_STATUSES,
    "cancel": CANCEL_STATUSES,
    "template": TEMPLATE_STATUSES,
}

# What an in-progress operation normally settles into; check mode predicts with it.
EXPECTED_SETTLED = {
    "CREATE_IN_PROGRESS": "CREATE_COMPLETE",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS": "DELETE_COMPLETE",
    "UPDATE_IN_PROGRESS": "UPDATE_COMPLETE",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_IN_PROGRESS": "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_IN_PROGRESS": "IMPORT_ROLLBACK_COMPLETE",
}

# A ClientRequestToken this collection sends: "<rollback id>-<action>" (rollback_id.py).
TOKEN_RE = rbid.TOKEN_RE
client_token = rbid.client_token
token_rollback_id = rbid.token_rollback_id


class Decision(object):
    """What to do with a stack: an action, a wait, nothing, or a refusal (error)."""

    def __init__(self, action, reason, error=None):
        self.action = action  # rollback | continue | cancel | template | wait | none | error
        self.reason = reason
        self.error = error

    def __repr__(self):
        return "Decision(%r, %r)" % (self.action, self.reason)


def is_in_progress(status):
    return bool(status) and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def is_settled(status):
    return not is_in_progress(status)


def is_healthy(status):
    return status in HEALTHY_STATUSES


# --------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------


def decide(status, strategy, differs, has_snapshot, own_update=None):
    """The one action that fits `status` (pure; unit-tested row by row).

    differs: whether the stack's template/parameters differ from the snapshot (None when
    there is no snapshot). own_update: the rollback id when an UPDATE_IN_PROGRESS was started
    by this collection (a template restore must be waited for, never cancelled).
    """
    if status is None:
        return Decision("error", "stack does not exist", error="missing")
    if status == "ROLLBACK_COMPLETE" and strategy in ("auto", "template"):
        return Decision(
            "error",
            "the stack is in ROLLBACK_COMPLETE: its creation failed and it was rolled back; "
            "CloudFormation cannot update, roll back or cancel it. Delete the stack and create "
            "it again (from the snapshot's template), then re-run",
            error="no_safe_action",
        )
    if status == "UPDATE_IN_PROGRESS" and own_update and strategy in ("auto", "template", "cancel"):
        return Decision(
            "wait",
            "an update started by rollback %s is in progress; waiting for it instead of "
            "cancelling it" % own_update,
        )
    if strategy == "auto":
        return _decide_auto(status, differs, has_snapshot)
    return _decide_forced(status, strategy, differs)


def _decide_auto(status, differs, has_snapshot):
    if status in ROLLBACK_STATUSES:
        return Decision("rollback", "%s: RollbackStack returns the stack to its last stable state" % status)
    if status in CONTINUE_STATUSES:
        return Decision("continue", "%s: ContinueUpdateRollback finishes the failed rollback" % status)
    if status in CANCEL_STATUSES:
        return Decision("cancel", "%s: CancelUpdateStack stops the update and rolls it back" % status)
    if is_in_progress(status):
        return Decision("wait", "%s: another operation is running; wait for it to settle first" % status)
    if status in TEMPLATE_STATUSES:
        if not has_snapshot:
            return Decision("none", "%s and no snapshot to compare with: nothing to roll back" % status)
        if differs:
            return Decision("template", "%s but template/parameters differ from the snapshot: "
                            "UpdateStack restores the snapshot" % status)
        return Decision("none", "%s and already at the snapshot" % status)
    return _no_safe_action(status)


def _decide_forced(status, strategy, differs):
    accepted = STRATEGY_STATUSES[strategy]
    if status in accepted:
        if strategy == "template" and not differs:
            return Decision("none", "%s and already at the snapshot" % status)
        return Decision(strategy, "%s accepts %s (strategy %s)" % (status, ACTION_API[strategy], strategy))
    if is_in_progress(status):
        # Another operation (or, for cancel, one that cannot be cancelled) runs: its end
        # state decides.
        return Decision("wait", "%s: another operation is running; wait for it to settle first" % status)
    if strategy in ("rollback", "continue", "cancel") and status in ("UPDATE_ROLLBACK_COMPLETE",):
        return Decision("none", "%s: already rolled back" % status)
    if strategy == "rollback" and status == "ROLLBACK_COMPLETE":
        return Decision("none", "ROLLBACK_COMPLETE: the failed create is already rolled back "
                        "(delete and recreate the stack to use it again)")
    return Decision(
        "error",
        "strategy %s calls %s, which accepts only %s; the stack is %s"
        % (strategy, ACTION_API[strategy], "/".join(accepted), status),
        error="no_safe_action",
    )


def _no_safe_action(status):
    return Decision(
        "error",
        "the stack is %s and no recovery API applies safely (RollbackStack needs %s, "
        "ContinueUpdateRollback %s, CancelUpdateStack %s, UpdateStack a *_COMPLETE stack); "
        "resolve it in the console and re-run"
        % (status, "/".join(ROLLBACK_STATUSES), "/".join(CONTINUE_STATUSES), "/".join(CANCEL_STATUSES)),
        error="no_safe_action",
    )


def success_statuses(action, from_status):
    """Settled statuses that mean `action` succeeded."""
    if action == "rollback":
        return ("ROLLBACK_COMPLETE",) if from_status == "CREATE_FAILED" else ("UPDATE_ROLLBACK_COMPLETE",)
    if action in ("continue", "cancel"):
        return ("UPDATE_ROLLBACK_COMPLETE",)
    if action == "template":
        return ("UPDATE_COMPLETE",)
    return ()


def predicted_status(action, from_status):
    """The settled status check mode predicts after `action` (or a wait)."""
    if action == "wait":
        return EXPECTED_SETTLED.get(from_status, from_status)
    ok = success_statuses(action, from_status)
    return ok[0] if ok else from_status


# --------------------------------------------------------------------------------------
# Reading a stack
# --------------------------------------------------------------------------------------


def is_missing_stack_error(err):
    """DescribeStacks/GetTemplate on an unknown stack: ValidationError '... does not exist'."""
    error = getattr(err, "response", {}).get("Error", {})
    return error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", "")


def describe_stack(client, stack_name):
    """The raw Stack dict, or None when the stack does not exist."""
    try:
        stacks = client.describe_stacks(StackName=stack_name, aws_retry=True)["Stacks"]
    except ClientError as err:
        if is_missing_stack_error(err):
            return None
        raise
    return stacks[0] if stacks else None


def get_template_body(client, stack_name):
    """The stack's original template as text.

    botocore decodes a JSON TemplateBody into a dict; it is dumped back to JSON text.
    """
    body = client.get_template(StackName=stack_name, TemplateStage="Original", aws_retry=True)["TemplateBody"]
    if isinstance(body, (dict, list)):
        return json.dumps(body, indent=2)
    return body


def normalise_template(body):
    """A comparable form: JSON templates by content, YAML templates by text."""
    if isinstance(body, (dict, list)):
        return json.dumps(body, sort_keys=True, separators=(",", ":"))
    text = (body or "").strip()
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return "\n".join(line.rstrip() for line in text.splitlines())


def _template_document(body):
    """The template as data (JSON or YAML with CloudFormation's short-form tags), or None."""
    if isinstance(body, dict):
        return body
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        pass
    if yaml is None:
        return None

    class _Loader(yaml.SafeLoader):
        pass

    # !Ref, !Sub, !GetAtt...: their values do not matter here, only that they load.
    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        return yaml.load(body, Loader=_Loader)  # nosec - SafeLoader subclass
    except yaml.YAMLError:
        return None


def noecho_parameters(template_body):
    """Names of the template's NoEcho parameters."""
    document = _template_document(template_body)
    params = document.get("Parameters") if isinstance(document, dict) else None
    if not isinstance(params, dict):
        return set()
    return set(k for k, v in params.items() if isinstance(v, dict) and str(v.get("NoEcho")).lower() == "true")


def stack_parameters(stack, noecho=()):
    """[{key, value, masked}] in the stack's order.

    AWS returns NoEcho values as '****'; a parameter the template declares NoEcho is masked
    even if an endpoint returns its value, so a secret never reaches a snapshot or a result.
    """
    params = []
    for param in stack.get("Parameters") or []:
        value = param.get("ParameterValue")
        masked = value == MASKED_VALUE or param["ParameterKey"] in noecho
        params.append({"key": param["ParameterKey"], "value": None if masked else value, "masked": masked})
    return params


def stack_state(stack, template_body):
    """The snapshot entry for one stack: what UpdateStack needs to restore it, and more."""
    status = stack.get("StackStatus")
    return {
        "stack_name": stack["StackName"],
        "stack_id": stack.get("StackId"),
        "status": status,
        "healthy": is_healthy(status),
        "template_body": template_body,
        "parameters": stack_parameters(stack, noecho_parameters(template_body) if template_body else ()),
        "capabilities": list(stack.get("Capabilities") or []),
        "tags": dict((t["Key"], t["Value"]) for t in stack.get("Tags") or []),
        "outputs": dict((o["OutputKey"], o.get("OutputValue")) for o in stack.get("Outputs") or []),
        "role_arn": stack.get("RoleARN"),
        "notification_arns": list(stack.get("NotificationARNs") or []),
        "creation_time": iso(stack.get("CreationTime")),
        "last_updated_time": iso(stack.get("LastUpdatedTime")),
    }


def read_stack_state(client, stack_name):
    """stack_state() of a live stack, or None when it does not exist."""
    stack = describe_stack(client, stack_name)
    if stack is None:
        return None
    return stack_state(stack, get_template_body(client, stack_name))


# --------------------------------------------------------------------------------------
# Comparing with a snapshot and restoring it
# --------------------------------------------------------------------------------------


def _param_map(params):
    return dict((p["key"], p) for p in params or [])


def compare(current, target):
    """What differs between a live stack state and a snapshot entry.

    Returns {"template": bool, "parameters": {key: {"before", "after"}}, "tags": {...},
    "capabilities": bool, "differs": bool}. Masked (NoEcho) values cannot be compared; they
    are kept as they are (UsePreviousValue) and never reported as a difference.
    """
    template = normalise_template(current["template_body"]) != normalise_template(target["template_body"])
    before, after = _param_map(current["parameters"]), _param_map(target["parameters"])
    params = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old and new and (old["masked"] or new["masked"]):
            continue
        old_value = old["value"] if old else None
        new_value = new["value"] if new else None
        if old_value != new_value:
            params[key] = {"before": old_value, "after": new_value}
    tags = {}
    for key in sorted(set(current["tags"]) | set(target["tags"])):
        if current["tags"].get(key) != target["tags"].get(key):
            tags[key] = {"before": current["tags"].get(key), "after": target["tags"].get(key)}
    return {
        "template": template,
        "parameters": params,
        "tags": tags,
        "capabilities": sorted(current["capabilities"]) != sorted(target["capabilities"]),
        # The issue: template or parameters decide whether the stack is at the snapshot.
        "differs": bool(template or params),
    }


def update_stack_request(target, token=None, role_arn=None):
    """UpdateStack kwargs that restore a snapshot entry."""
    params = []
    for param in target["parameters"]:
        if param["masked"]:
            # A NoEcho value cannot be read back; keep what the stack has.
            params.append({"ParameterKey": param["key"], "UsePreviousValue": True})
        else:
            params.append({"ParameterKey": param["key"], "ParameterValue": param["value"]})
    request = {
        "StackName": target["stack_name"],
        "TemplateBody": target["template_body"],
        "Parameters": params,
        "Capabilities": list(target["capabilities"]),
        # An empty list removes tags, as the snapshot says.
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(target["tags"].items())],
    }
    if role_arn or target.get("role_arn"):
        request["RoleARN"] = role_arn or target["role_arn"]
    if target.get("notification_arns"):
        request["NotificationARNs"] = list(target["notification_arns"])
    if token:
        request["ClientRequestToken"] = token
    return request


def render_state(state, extra=None):
    """A readable text form of a stack state for --diff (line-diffable template)."""
    lines = ["stack: %s" % state.get("stack_name"), "status: %s" % state.get("status")]
    for key, value in sorted((extra or {}).items()):
        lines.append("%s: %s" % (key, value))
    if "parameters" in state:
        lines.append("parameters:")
        for param in state["parameters"]:
            lines.append("  %s: %s" % (param["key"], MASKED_VALUE if param["masked"] else param["value"]))
        lines.append("capabilities: [%s]" % ", ".join(sorted(state.get("capabilities") or [])))
        lines.append("tags:")
        for key, value in sorted((state.get("tags") or {}).items()):
            lines.append("  %s: %s" % (key, value))
    if "template_body" in state:
        lines.append("template: |")
        lines.extend("  " + line for line in (state["template_body"] or "").splitlines())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------


def newest_event_id(client, stack_name):
    """The id of the stack's newest event (a marker: later events belong to our action)."""
    events = client.describe_stack_events(StackName=stack_name, aws_retry=True).get("StackEvents") or []
    return events[0]["EventId"] if events else None


def events_since(client, stack_name, after_event_id, started_at, limit=500):
    """Stack events newer than `after_event_id` (newest first, paginated).

    Stops at the marker event; without one (a brand-new stack), at `started_at` less a minute
    of clock skew.
    """
    floor = started_at - datetime.timedelta(seconds=60)
    found = []
    token = None
    while True:
        kwargs = {"StackName": stack_name}
        if token:
            kwargs["NextToken"] = token
        page = client.describe_stack_events(aws_retry=True, **kwargs)
        for event in page.get("StackEvents") or []:
            if after_event_id and event.get("EventId") == after_event_id:
                return found
            stamp = event.get("Timestamp")
            if not after_event_id and isinstance(stamp, datetime.datetime) and _aware(stamp) < floor:
                return found
            found.append(event_record(event))
            if len(found) >= limit:
                return found
        token = page.get("NextToken")
        if not token:
            return found


def _aware(stamp):
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def event_record(event):
    return {
        "timestamp": iso(event.get("Timestamp")),
        "logical_resource_id": event.get("LogicalResourceId"),
        "resource_type": event.get("ResourceType"),
        "resource_status": event.get("ResourceStatus"),
        "resource_status_reason": event.get("ResourceStatusReason"),
        "client_request_token": event.get("ClientRequestToken"),
        "event_id": event.get("EventId"),
    }


def failed_resources(events):
    """Logical ids whose latest event (newest first) is a failure, excluding the stack."""
    seen = {}
    for event in events:
        if event["resource_type"] == "AWS::CloudFormation::Stack":
            continue
        seen.setdefault(event["logical_resource_id"], event)
    return sorted(k for k, e in seen.items() if (e["resource_status"] or "").endswith("_FAILED"))


def in_progress_token(client, stack_name):
    """The ClientRequestToken of the operation now running on the stack, if it had one."""
    page = client.describe_stack_events(StackName=stack_name, aws_retry=True).get("StackEvents") or []
    for event in page:
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get(
            "LogicalResourceId"
        ) == stack_name:
            return event.get("ClientRequestToken")
    return None


# --------------------------------------------------------------------------------------
# Snapshots on disk
# --------------------------------------------------------------------------------------


class SnapshotError(Exception):
    pass


def load_snapshot_file(path):
    try:
        with open(path) as handle:
            document = json.load(handle)
    except (OSError, ValueError) as err:
        raise SnapshotError("cannot read snapshot %s: %s" % (path, err))
    if not isinstance(document, dict) or "stacks" not in document:
        raise SnapshotError("%s is not a rollback snapshot (no 'stacks' key)" % path)
    return document


def snapshot_files(directory):
    """Snapshot files in a directory, newest first by their taken_at (file name as tie-break).

    taken_at is compared as a time, not as text: snapshots taken before results used one format
    say +00:00 where newer ones say Z, and text order is wrong within one second across the two
    (and between 03:45:01Z and 03:45:01.5Z). A snapshot without a readable taken_at is oldest.
    """
    paths = [p for p in glob.glob(os.path.join(directory, "*.json")) if os.path.basename(p) != SNAPSHOT_LATEST]
    dated = []
    for path in paths:
        try:
            document = load_snapshot_file(path)
        except SnapshotError:
            continue  # a stray file is not a snapshot
        taken = parse_iso(document.get("taken_at")) or _NO_TIME
        dated.append((taken, os.path.basename(path), path, document))
    dated.sort(reverse=True)
    return [(path, document) for _taken, _name, path, document in dated]


def stack_entry(document, stack_name):
    """A snapshot document's entry for one stack; a bare entry is returned as it is.

    A document without an entry for the stack raises SnapshotError naming what it holds; a
    bare entry of another stack is caught by validate_entry().
    """
    if "stacks" not in document:
        return document
    stacks = document["stacks"] or {}
    if isinstance(stacks, list):
        stacks = dict((s.get("stack_name"), s) for s in stacks)
    if stack_name not in stacks:
        raise SnapshotError(
            "the snapshot has no entry for stack %s (it holds: %s)"
            % (stack_name, ", ".join(sorted(stacks)) or "no stacks")
        )
    return stacks[stack_name]


def find_snapshot(path, stack_name, healthy_only=True):
    """(source path, document, entry) for a stack.

    A file: that snapshot (its entry for the stack must exist). A directory: the newest
    snapshot in which the stack was healthy (or merely present, healthy_only=False).
    Returns None when a directory holds no usable snapshot.
    """
    if os.path.isdir(path):
        for source, document in snapshot_files(path):
            try:
                entry = stack_entry(document, stack_name)
            except SnapshotError:
                continue
            if entry.get("exists", True) and (entry.get("healthy") or not healthy_only):
                return source, document, entry
        return None
    document = load_snapshot_file(path)
    try:
        return path, document, stack_entry(document, stack_name)
    except SnapshotError as err:
        raise SnapshotError("%s: %s" % (path, err))


def validate_entry(entry, stack_name):
    """Problems that make a snapshot entry unusable for `stack_name` (list of messages)."""
    problems = []
    if entry.get("stack_name") != stack_name:
        problems.append(
            "the snapshot is of stack %r, not %r; pass that stack's snapshot"
            % (entry.get("stack_name"), stack_name)
        )
    if entry.get("exists") is False:
        problems.append("the stack did not exist when the snapshot was taken")
    if not entry.get("template_body"):
        problems.append("the snapshot has no template_body")
    for param in entry.get("parameters") or []:
        if not isinstance(param, dict) or "key" not in param or "masked" not in param:
            problems.append("snapshot parameters must be {key, value, masked} items")
            break
    return problems


# --------------------------------------------------------------------------------------
# The first decision, read-only (rollback_plan)
# --------------------------------------------------------------------------------------


def plan_stack(client, stack_name, snapshot_path=None, strategy="auto"):
    """The decision cloudformation_rollback takes first for a stack, from reads only.

    Reads the snapshot (a file, or the newest healthy one in a directory) like the module's
    snapshot_path, DescribeStacks, GetTemplate when there is a snapshot to compare with, and the
    stack's events when it is UPDATE_IN_PROGRESS (whose update it is). Returns
    {"stack": raw stack or None, "status", "decision": Decision, "snapshot": source path or
    None, "changes": compare() or {}}. An unusable snapshot raises SnapshotError.
    """
    found = find_snapshot(snapshot_path, stack_name) if snapshot_path else None
    entry = None
    source = None
    if found is not None:
        source, _document, entry = found
        problems = validate_entry(entry, stack_name)
        if problems:
            raise SnapshotError("unusable snapshot for %s (%s): %s" % (stack_name, source, "; ".join(problems)))
    stack = describe_stack(client, stack_name)
    status = stack["StackStatus"] if stack else None
    changes = {}
    if stack is not None and entry is not None:
        changes = compare(stack_state(stack, get_template_body(client, stack_name)), entry)
    own_update = None
    if status == "UPDATE_IN_PROGRESS":
        parsed = token_rollback_id(in_progress_token(client, stack_name))
        own_update = parsed[0] if parsed else None
    decision = decide(status, strategy, changes.get("differs") if entry is not None else None, entry is not None,
                      own_update=own_update)
    return {"stack": stack, "status": status, "decision": decision, "snapshot": source, "changes": changes}
