"""CloudFormation stack-recovery emulation on top of moto.

moto 5.2.5 creates and updates stacks synchronously to *_COMPLETE and has no RollbackStack,
ContinueUpdateRollback or CancelUpdateStack. This module keeps moto's template handling
(resources, parameters, outputs) and adds, at runtime:

- stack operations that pass through AWS's *_IN_PROGRESS statuses for an emulated duration
  (`phase_seconds`, default 20 s per in-progress status), derived lazily from the operation's
  start time and the sandbox time scale whenever a CloudFormation request arrives;
- one stack event (and one per-resource status) per transition, newest first as AWS returns them;
- the last known stable state of each stack (template, parameters, tags -> outputs), restored by
  rollbacks: RollbackStack, ContinueUpdateRollback, CancelUpdateStack and failed updates;
- AWS's state checks for UpdateStack, RollbackStack, ContinueUpdateRollback, CancelUpdateStack
  and DeleteStack, and "No updates are to be performed." for an update that changes nothing;
- ExecuteChangeSet run through the same emulation (SAM/CDK deploy with change sets);
- control routes (bad input -> 400 BadControlRequest):
    POST /_sandbox/cloudformation/next-update {"stack_name", "outcome", "failed_resources",
         "persistent", "seconds", "region"} - how the NEXT UpdateStack/ExecuteChangeSet of
         an existing stack ends: UPDATE_COMPLETE (default), UPDATE_IN_PROGRESS (until
         CancelUpdateStack, or `seconds`), UPDATE_FAILED (as with DisableRollback),
         UPDATE_ROLLBACK_COMPLETE (fails, rolls back; UPDATE_FAILED if the request has
         DisableRollback), UPDATE_ROLLBACK_FAILED (the rollback fails on failed_resources,
         which then sit in UPDATE_FAILED and can be skipped; with "persistent": true they
         fail again on every ContinueUpdateRollback that does not skip them).
         failed_resources: logical ids of the stack (default: the resources the update
         modifies, else its first resource). `seconds`: emulated length of each phase.
    POST /_sandbox/cloudformation/next-create {"stack_name", "outcome", "failed_resources",
         "seconds", "region"} - outcome CREATE_FAILED (as with DisableRollback) or
         ROLLBACK_COMPLETE (default failed resource: the template's first).
    GET|POST /_sandbox/cloudformation/config {"phase_seconds"}  (reset restores 20)
    GET /_sandbox/cloudformation/state - arrangements, statuses, pending transitions.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import (
    CloudFormationBackend,
    Event,
    Stack,
    cloudformation_backends,
)
from moto.cloudformation.parsing import OutputMap, ResourceMap, get_references_from_template
from moto.cloudformation.responses import CloudFormationResponse, StackResourceDTO
from moto.core.responses import ActionResult, EmptyResult

from sandbox.api import ACCOUNT_ID, Sandbox, require_moto
from sandbox.state import BadControlRequest, Clock

# The moto release the patches in this file (`_patch_moto`) were written against; checked at
# sandbox start (sandbox.api.check_moto_versions) and again before patching.
MOTO_VERSION = "5.2.5"
DEFAULT_REGION = "us-east-1"
DEFAULT_PHASE_SECONDS = 20.0

# States AWS calls "last known stable"; an update from one of them snapshots the stack first.
STABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                    "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
# A stack that failed with rollback disabled can be updated again to resume provisioning.
RESUMABLE = frozenset({"CREATE_FAILED", "UPDATE_FAILED"})
ROLLBACK_FROM = RESUMABLE
# DeleteStack waits for these to end (CREATE_IN_PROGRESS may be deleted: that cancels it).
UNDELETABLE = frozenset({"UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                         "UPDATE_ROLLBACK_IN_PROGRESS",
                         "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})

UPDATE_OUTCOMES = ("UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_FAILED",
                   "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED")
CREATE_OUTCOMES = ("CREATE_FAILED", "ROLLBACK_COMPLETE")

REASON_USER = "User Initiated"
REASON_CREATE_FAILED = "Resource creation failed (emulated by the sandbox)"
REASON_UPDATE_FAILED = "Resource update failed (emulated by the sandbox)"
REASON_ROLLBACK_FAILED = "Resource failed to roll back (emulated by the sandbox)"
REASON_CANCELLED = "Resource update cancelled"
REASON_SKIPPED = "Resource skipped during UPDATE_ROLLBACK (ContinueUpdateRollback ResourcesToSkip)"

# (logical id, or None for the stack itself; status; reason)
Mark = tuple[str | None, str, str | None]


@dataclass
class Snapshot:
    """What a rollback restores: the stack as it was in its last stable state."""

    body: Any
    template: dict[str, Any]
    inputs: dict[str, Any]
    tags: dict[str, str]


@dataclass
class Step:
    """One transition of an operation, `at` emulated seconds after it started (None: waits)."""

    at: float | None
    marks: list[Mark]
    action: Callable[[], None] | None = None


@dataclass
class Operation:
    start: dt.datetime
    steps: list[Step]
    token: str | None = None
    done: int = 0


@dataclass
class ResourceRecord:
    status: str
    reason: str | None
    timestamp: dt.datetime
    resource_type: str
    physical_id: str


@dataclass
class UpdateDirective:
    outcome: str
    failed_resources: list[str]
    persistent: bool = False
    seconds: float | None = None


@dataclass
class CreateDirective:
    outcome: str
    failed_resources: list[str]
    seconds: float | None = None


@dataclass
class Tracker:
    """The sandbox's side of one stack: its running operation and recovery bookkeeping."""

    stack: Stack
    op: Operation | None = None
    stable: Snapshot | None = None
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    # Resources the last update added or modified: a rollback deletes or reverts them.
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    # Resources whose rollback failed: the only ones ResourcesToSkip accepts.
    rollback_failed: set[str] = field(default_factory=set)
    # Resources arranged to keep failing their rollback until skipped.
    stuck: set[str] = field(default_factory=set)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    # moto keeps naive UTC datetimes and serialises them as UTC.
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _resource_ids(template: dict[str, Any]) -> list[str]:
    return list((template.get("Resources") or {}).keys())


def _effective_inputs(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Every template parameter's value: the given one, else the template default."""
    inputs: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in given:
            inputs[name] = given[name]
        elif isinstance(spec, dict) and "Default" in spec:
            inputs[name] = spec["Default"]
    return inputs


def _pristine(stack: Stack) -> dict[str, Any]:
    """The stack's template as written: moto adds keys to the parsed copy it works on."""
    if isinstance(stack.template, str):
        return Stack.parse_template(stack.template)
    return copy.deepcopy(stack.template_dict)


def _diff(old: dict[str, Any], old_inputs: dict[str, Any], new: dict[str, Any],
          new_inputs: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(added, modified, removed) logical ids, a parameter change modifying its users."""
    before, after = old.get("Resources") or {}, new.get("Resources") or {}
    changed_params = {k for k in set(old_inputs) | set(new_inputs)
                      if old_inputs.get(k) != new_inputs.get(k)}
    modified = [r for r in after if r in before and (
        after[r] != before[r] or changed_params & set(get_references_from_template(after[r])))]
    return ([r for r in after if r not in before], modified,
            [r for r in before if r not in after])


def _failed_list(names: list[str]) -> str:
    return f"The following resource(s) failed to update: [{', '.join(names)}]. "


class CloudFormationEmulator:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.phase_seconds = DEFAULT_PHASE_SECONDS
        self.trackers: dict[str, Tracker] = {}
        # Keyed by (region, stack name): consumed by the next CreateStack/UpdateStack.
        self.next_update: dict[tuple[str, str], UpdateDirective] = {}
        self.next_create: dict[tuple[str, str], CreateDirective] = {}

    def reset(self) -> None:
        with self.lock:
            self.trackers.clear()
            self.next_update.clear()
            self.next_create.clear()
            self.phase_seconds = DEFAULT_PHASE_SECONDS

    # -- time -----------------------------------------------------------------
    def tracker(self, stack: Stack) -> Tracker:
        tracker = self.trackers.get(stack.stack_id)
        if tracker is None or tracker.stack is not stack:
            tracker = self.trackers[stack.stack_id] = Tracker(stack)
        return tracker

    def advance_all(self) -> None:
        for tracker in list(self.trackers.values()):
            self._advance(tracker)

    def _advance(self, tracker: Tracker) -> None:
        op = tracker.op
        while op is not None and op.done < len(op.steps):
            step = op.steps[op.done]
            if step.at is None:
                return
            if step.at > 0 and self.clock.emulated_elapsed(op.start) < step.at:
                return
            when = op.start + dt.timedelta(seconds=self.clock.real_seconds(step.at))
            op.done += 1
            if step.action is not None:
                step.action()
            self._mark(tracker, step.marks, when, op.token)
        tracker.op = None

    def _run(self, tracker: Tracker, steps: list[Step], token: str | None) -> None:
        tracker.op = Operation(self.clock.now(), steps, token)
        self._advance(tracker)

    def _mark(self, tracker: Tracker, marks: list[Mark], when: dt.datetime,
              token: str | None) -> None:
        stack = tracker.stack
        for i, (logical_id, status, reason) in enumerate(marks):
            # Distinct microseconds keep the newest-first order stable for sorting clients.
            stamp = _naive_utc(when) + dt.timedelta(microseconds=i)
            if logical_id is None:
                stack.status = status
                stack.status_reason = reason
                kind, physical = "AWS::CloudFormation::Stack", stack.stack_id
                logical = stack.name
            else:
                kind, physical = self._describe_resource(tracker, logical_id)
                tracker.resources[logical_id] = ResourceRecord(status, reason, stamp, kind, physical)
                logical = logical_id
            event = Event(stack_id=stack.stack_id, stack_name=stack.name,
                          logical_resource_id=logical, physical_resource_id=physical,
                          resource_type=kind, resource_status=status,
                          resource_status_reason=reason, resource_properties=None)
            event.timestamp = stamp
            event.client_request_token = token
            event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
            stack.events.append(event)

    @staticmethod
    def _describe_resource(tracker: Tracker, logical_id: str) -> tuple[str, str]:
        stack = tracker.stack
        known = tracker.resources.get(logical_id)
        spec = (stack.template_dict.get("Resources") or {}).get(logical_id) or {}
        kind = spec.get("Type") or (known.resource_type if known else "")
        # Read moto's parsed resources directly: indexing the ResourceMap would create them.
        parsed = stack.resource_map._parsed_resources.get(logical_id)
        physical = getattr(parsed, "physical_resource_id", None)
        if physical is None:
            physical = known.physical_id if known else ""
        return kind, str(physical)

    def _phase(self, seconds: float | None) -> float:
        return seconds if seconds is not None else self.phase_seconds

    # -- stack state ------------------------------------------------------------
    @staticmethod
    def snapshot(stack: Stack) -> Snapshot:
        template = _pristine(stack)
        return Snapshot(body=stack.template, template=template,
                        inputs=_effective_inputs(template, stack.parameters),
                        tags=dict(stack.tags))

    @staticmethod
    def apply(stack: Stack, body: Any, template: dict[str, Any], inputs: dict[str, Any],
              tags: dict[str, str] | None) -> None:
        """Move a stack to a template/parameters with moto's own resource handling."""
        resource_map = stack.resource_map
        # moto never forgets parameters of an older template; start from a clean slate.
        resource_map.resolved_parameters = {}
        resource_map.update(template, inputs)
        resource_map.input_parameters = inputs
        stack.template = body
        stack.template_dict = template
        stack.description = template.get("Description")
        stack.parameters = dict(inputs)
        stack.output_map = stack._create_output_map()
        if tags is not None:
            stack.tags = tags

    def restore(self, tracker: Tracker) -> None:
        snap = tracker.stable
        if snap is not None:
            self.apply(tracker.stack, snap.body, copy.deepcopy(snap.template),
                       dict(snap.inputs), dict(snap.tags))

    @staticmethod
    def delete_resources(stack: Stack) -> None:
        """What a rollback without a stable state leaves: no resources, no outputs."""
        stack.resource_map.delete()
        empty = ResourceMap(stack.stack_id, stack.name, {}, {}, region_name=stack.region_name,
                            account_id=stack.account_id, template={},
                            cross_stack_resources=stack.cross_stack_resources)
        stack.resource_map = empty
        stack.output_map = OutputMap(empty, {}, stack.stack_id)

    # -- operations ---------------------------------------------------------------
    def start_create(self, stack: Stack, disable_rollback: bool, token: str | None) -> None:
        tracker = self.tracker(stack)
        directive = self.next_create.pop((stack.region_name, stack.name), None)
        ids = _resource_ids(stack.template_dict)
        started: list[Mark] = [(None, "CREATE_IN_PROGRESS", REASON_USER)]
        started += [(r, "CREATE_IN_PROGRESS", None) for r in ids]
        if directive is None:
            done: list[Mark] = [(r, "CREATE_COMPLETE", None) for r in ids]
            self._run(tracker, [Step(0, started),
                                Step(self.phase_seconds, done + [(None, "CREATE_COMPLETE", None)])],
                      token)
            return
        phase = self._phase(directive.seconds)
        failed = [r for r in directive.failed_resources if r in ids] or ids[:1]
        results: list[Mark] = [(r, "CREATE_FAILED", REASON_CREATE_FAILED) if r in failed
                               else (r, "CREATE_COMPLETE", None) for r in ids]
        reason = f"The following resource(s) failed to create: [{', '.join(failed)}]. "
        if directive.outcome == "CREATE_FAILED" or disable_rollback:
            stack.disable_rollback = True
            steps = [Step(0, started), Step(phase, results + [(None, "CREATE_FAILED", reason)])]
        else:
            steps = [Step(0, started),
                     Step(phase, results + [(None, "ROLLBACK_IN_PROGRESS",
                                             reason + "Rollback requested by user.")]),
                     *self._delete_steps(tracker, phase, ids)]
        self._run(tracker, steps, token)

    def _delete_steps(self, tracker: Tracker, offset: float, ids: list[str]) -> list[Step]:
        """Roll back to nothing: delete every resource, end in ROLLBACK_COMPLETE."""
        stack = tracker.stack
        return [Step(offset, [(r, "DELETE_IN_PROGRESS", None) for r in ids]),
                Step(offset + self.phase_seconds,
                     [(r, "DELETE_COMPLETE", None) for r in ids] + [(None, "ROLLBACK_COMPLETE", None)],
                     lambda: self.delete_resources(stack))]

    def _revert_steps(self, tracker: Tracker, offset: float) -> list[Step]:
        """Finish an update rollback: restore the stable state, then remove added resources."""
        if tracker.stable is None:
            # Nothing stable to go back to (an update resumed a failed create): delete.
            return self._delete_steps(tracker, offset, _resource_ids(tracker.stack.template_dict))
        reverted: list[Mark] = [(r, "UPDATE_COMPLETE", None) for r in tracker.modified]
        removed: list[Mark] = [(r, "DELETE_COMPLETE", None) for r in tracker.added]

        def finish() -> None:
            self.restore(tracker)
            tracker.rollback_failed.clear()
            tracker.stuck.clear()

        return [Step(offset, reverted + [(None, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None)],
                     finish),
                Step(offset + self.phase_seconds,
                     removed + [(None, "UPDATE_ROLLBACK_COMPLETE", None)])]

    @staticmethod
    def _outcome_marks(tracker: Tracker, failed: list[str], reason: str) -> list[Mark]:
        """Each changed resource at the end of the update: failed ones, or completed."""
        marks: list[Mark] = [(r, "CREATE_COMPLETE", None) for r in tracker.added]
        marks += [(r, "UPDATE_FAILED", reason) if r in failed else (r, "UPDATE_COMPLETE", None)
                  for r in tracker.modified]
        return marks

    def start_update(self, stack: Stack, body: Any, template: dict[str, Any],
                     inputs: dict[str, Any], tags: dict[str, str] | None,
                     disable_rollback: bool, token: str | None) -> None:
        tracker = self.tracker(stack)
        if stack.status in STABLE:
            tracker.stable = self.snapshot(stack)
        current = _pristine(stack)
        added, modified, removed = _diff(current, _effective_inputs(current, stack.parameters),
                                         template, inputs)
        directive = self.next_update.pop((stack.region_name, stack.name), None)
        outcome = directive.outcome if directive else "UPDATE_COMPLETE"
        succeeds = outcome in ("UPDATE_COMPLETE", "UPDATE_IN_PROGRESS")
        # Failures hit resources the stack already has (the control route checks the names).
        existing = [r for r in _resource_ids(template) if r not in added]
        failed = [] if succeeds else [
            r for r in directive.failed_resources if r in existing] or modified or existing[:1]
        self.apply(stack, body, template, inputs, tags)
        stack.last_updated_time = _naive_utc(self.clock.now())
        stack.disable_rollback = disable_rollback
        tracker.added = added
        tracker.modified = modified + [r for r in failed if r not in modified]
        tracker.rollback_failed.clear()
        tracker.stuck.clear()

        phase = self._phase(directive.seconds if directive else None)
        started: list[Mark] = [(None, "UPDATE_IN_PROGRESS", REASON_USER)]
        started += [(r, "CREATE_IN_PROGRESS", None) for r in added]
        started += [(r, "UPDATE_IN_PROGRESS", None) for r in tracker.modified]
        steps = [Step(0, started)]
        if succeeds:
            end = None if outcome == "UPDATE_IN_PROGRESS" and directive.seconds is None else phase
            done = self._outcome_marks(tracker, [], "")
            steps.append(Step(end, done + [(None, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None)]))
            cleanup: list[Mark] = [(r, "DELETE_COMPLETE", None) for r in removed]
            steps.append(Step(None if end is None else end + self.phase_seconds,
                              cleanup + [(None, "UPDATE_COMPLETE", None)]))
            self._run(tracker, steps, token)
            return

        results = self._outcome_marks(tracker, failed, REASON_UPDATE_FAILED)
        if outcome == "UPDATE_FAILED" or disable_rollback:
            stack.disable_rollback = True
            steps.append(Step(phase, results + [(None, "UPDATE_FAILED", _failed_list(failed))]))
        else:
            steps.append(Step(phase, results + [(None, "UPDATE_ROLLBACK_IN_PROGRESS",
                                                 _failed_list(failed))]))
            if outcome == "UPDATE_ROLLBACK_FAILED":
                steps.append(self._rollback_failure(tracker, 2 * phase, failed, directive.persistent))
            else:
                steps += self._revert_steps(tracker, 2 * phase)
        self._run(tracker, steps, token)

    def _rollback_failure(self, tracker: Tracker, at: float, failing: list[str],
                          persistent: bool) -> Step:
        def record() -> None:
            tracker.rollback_failed.update(failing)
            if persistent:
                tracker.stuck.update(failing)

        marks: list[Mark] = [(r, "UPDATE_FAILED", REASON_ROLLBACK_FAILED) for r in failing]
        return Step(at, marks + [(None, "UPDATE_ROLLBACK_FAILED", _failed_list(failing))], record)

    def start_rollback(self, stack: Stack, token: str | None) -> None:
        """RollbackStack from CREATE_FAILED/UPDATE_FAILED."""
        tracker = self.tracker(stack)
        if stack.status == "CREATE_FAILED" or tracker.stable is None:
            ids = _resource_ids(stack.template_dict)
            steps = [Step(0, [(None, "ROLLBACK_IN_PROGRESS", REASON_USER)]),
                     *self._delete_steps(tracker, 0, ids)]
        else:
            started: list[Mark] = [(None, "UPDATE_ROLLBACK_IN_PROGRESS", REASON_USER)]
            started += [(r, "UPDATE_IN_PROGRESS", None) for r in tracker.modified]
            started += [(r, "DELETE_IN_PROGRESS", None) for r in tracker.added]
            steps = [Step(0, started), *self._revert_steps(tracker, self.phase_seconds)]
        stack.last_updated_time = _naive_utc(self.clock.now())
        self._run(tracker, steps, token)

    def continue_rollback(self, stack: Stack, skip: list[str], force: bool,
                          token: str | None) -> None:
        tracker = self.tracker(stack)
        skipping = sorted(tracker.rollback_failed) if force else skip
        tracker.rollback_failed.difference_update(skipping)
        tracker.stuck.difference_update(skipping)
        started: list[Mark] = [(r, "UPDATE_COMPLETE", REASON_SKIPPED) for r in skipping]
        started.append((None, "UPDATE_ROLLBACK_IN_PROGRESS", REASON_USER))
        steps = [Step(0, started)]
        still = sorted(tracker.stuck)
        if still:
            steps.append(self._rollback_failure(tracker, self.phase_seconds, still, True))
        else:
            steps += self._revert_steps(tracker, self.phase_seconds)
        self._run(tracker, steps, token)

    def cancel_update(self, stack: Stack, token: str | None) -> None:
        tracker = self.tracker(stack)
        cancelled: list[Mark] = [(r, "UPDATE_FAILED", REASON_CANCELLED) for r in tracker.modified]
        cancelled += [(r, "CREATE_FAILED", "Resource creation cancelled") for r in tracker.added]
        cancelled.append((None, "UPDATE_ROLLBACK_IN_PROGRESS", "Stack update cancelled"))
        self._run(tracker, [Step(0, cancelled), *self._revert_steps(tracker, self.phase_seconds)],
                  token)

    # -- control routes ------------------------------------------------------------
    def control(self, method: str, data: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        route = query.get("path", "").strip("/")
        with self.lock:
            if route == "next-update" and method == "POST":
                return 200, self._arrange_update(data)
            if route == "next-create" and method == "POST":
                return 200, self._arrange_create(data)
            if route == "config" and method in ("GET", "POST"):
                if method == "POST":
                    self._configure(data)
                return 200, {"phase_seconds": self.phase_seconds}
            if route in ("", "state") and method == "GET":
                return 200, self.describe()
        raise BadControlRequest(
            f"unknown control route {method} /_sandbox/cloudformation/{route}; known: "
            "POST next-update, POST next-create, GET|POST config, GET state")

    def _configure(self, data: Any) -> None:
        if not isinstance(data, dict) or set(data) != {"phase_seconds"}:
            raise BadControlRequest(
                'cloudformation config accepts only {"phase_seconds": <emulated seconds>}')
        self.phase_seconds = _seconds(data["phase_seconds"], "phase_seconds")

    def _arrange_update(self, data: Any) -> dict[str, Any]:
        fields = {"stack_name", "outcome", "failed_resources", "persistent", "seconds", "region"}
        name, region = _common(data, fields, UPDATE_OUTCOMES)
        backend = cloudformation_backends[ACCOUNT_ID][region]
        stack = next((s for s in backend.stacks.values() if s.name == name), None)
        if stack is None:
            raise BadControlRequest(
                f"no stack named {name!r} in {region}; create it before arranging its next update")
        failed = _names(data.get("failed_resources", []))
        unknown = sorted(set(failed) - set(_resource_ids(stack.template_dict)))
        if unknown:
            raise BadControlRequest(
                f"failed_resources {unknown} are not resources of stack {name!r}; its resources: "
                f"{_resource_ids(stack.template_dict)}")
        persistent = data.get("persistent", False)
        if not isinstance(persistent, bool):
            raise BadControlRequest("'persistent' must be true or false")
        if persistent and data["outcome"] != "UPDATE_ROLLBACK_FAILED":
            raise BadControlRequest(
                "'persistent' (the failed resources keep failing their rollback until skipped) "
                "applies only to outcome UPDATE_ROLLBACK_FAILED")
        seconds = _seconds(data["seconds"], "seconds") if "seconds" in data else None
        directive = UpdateDirective(data["outcome"], failed, persistent, seconds)
        self.next_update[(region, name)] = directive
        return {"stack_name": name, "region": region, **asdict(directive)}

    def _arrange_create(self, data: Any) -> dict[str, Any]:
        fields = {"stack_name", "outcome", "failed_resources", "seconds", "region"}
        name, region = _common(data, fields, CREATE_OUTCOMES)
        failed = _names(data.get("failed_resources", []))
        seconds = _seconds(data["seconds"], "seconds") if "seconds" in data else None
        directive = CreateDirective(data["outcome"], failed, seconds)
        self.next_create[(region, name)] = directive
        return {"stack_name": name, "region": region, **asdict(directive)}

    def describe(self) -> dict[str, Any]:
        self.advance_all()
        stacks = {}
        for tracker in self.trackers.values():
            op = tracker.op
            stacks[tracker.stack.name] = {
                "stack_id": tracker.stack.stack_id,
                "status": tracker.stack.status,
                "pending_transitions": [
                    {"at": s.at, "status": next((m[1] for m in s.marks if m[0] is None), None)}
                    for s in op.steps[op.done:]] if op else [],
                "resources": {k: r.status for k, r in tracker.resources.items()},
                "skippable_resources": sorted(tracker.rollback_failed),
                "has_stable_state": tracker.stable is not None,
            }
        return {
            "phase_seconds": self.phase_seconds,
            "next_update": {f"{r}/{n}": asdict(d) for (r, n), d in self.next_update.items()},
            "next_create": {f"{r}/{n}": asdict(d) for (r, n), d in self.next_create.items()},
            "stacks": stacks,
        }


def _common(data: Any, fields: set[str], outcomes: tuple[str, ...]) -> tuple[str, str]:
    if not isinstance(data, dict):
        raise BadControlRequest("the body must be a JSON object")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise BadControlRequest(f"unknown field(s) {unknown}; allowed: {sorted(fields)}")
    name = data.get("stack_name")
    if not isinstance(name, str) or not name:
        raise BadControlRequest("'stack_name' (the stack's name) is required")
    if data.get("outcome") not in outcomes:
        raise BadControlRequest(f"'outcome' must be one of {list(outcomes)}, "
                                f"got {data.get('outcome')!r}")
    region = data.get("region", DEFAULT_REGION)
    if not isinstance(region, str) or not region:
        raise BadControlRequest("'region' must be a region name such as 'us-east-1'")
    return name, region


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadControlRequest("'failed_resources' must be a list of logical resource ids")
    return list(dict.fromkeys(value))


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise BadControlRequest(f"'{name}' must be a number of emulated seconds in (0, 86400]")
    return float(value)


# ---------------------------------------------------------------------------------
# Actions attached to moto's CloudFormationResponse (moto dispatches by method name).
# ---------------------------------------------------------------------------------

_emulator: CloudFormationEmulator | None = None


def _emu() -> CloudFormationEmulator:
    assert _emulator is not None, "sandbox.services.cloudformation is not installed"
    return _emulator


def _stack(backend: CloudFormationBackend, name: str) -> Stack:
    stack = backend.get_stack(name)
    if stack.status == "DELETE_COMPLETE":
        raise ValidationError(name)
    return stack


def _template_from_request(resp: CloudFormationResponse, stack: Stack) -> tuple[Any, dict[str, Any]]:
    body = resp._get_param("TemplateBody")
    url = resp._get_param("TemplateURL")
    previous = resp._get_bool_param("UsePreviousTemplate", False)
    if previous and (body or url):
        raise ValidationError(message="You cannot specify both usePreviousTemplate and "
                                      "Template Body/Template URL.")
    if previous:
        return stack.template, _pristine(stack)
    if not body and url:
        body = resp._get_stack_from_s3_url(url)
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    try:
        template = Stack.parse_template(body)
    except Exception as err:  # noqa: BLE001 - any parse failure is a template format error
        raise ValidationError(message=f"Template format error: {err}") from None
    if not isinstance(template, dict):
        raise ValidationError(message="Template format error: JSON not well-formed.")
    if not template.get("Resources"):
        raise ValidationError(
            message="Template format error: At least one Resources member must be defined.")
    return body, template


def _inputs_from_request(resp: CloudFormationResponse, stack: Stack,
                         template: dict[str, Any]) -> dict[str, Any]:
    previous = _effective_inputs(_pristine(stack), stack.parameters)
    given: dict[str, Any] = {}
    for param in resp._get_param("Parameters", []) or []:
        key = param["ParameterKey"]
        if param.get("UsePreviousValue"):
            if param.get("ParameterValue"):
                raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot "
                                              "specify usePreviousValue as true and non empty "
                                              "value for a parameter")
            if key not in previous:
                raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot "
                                              "specify usePreviousValue as true for a parameter "
                                              "key not in the previous template")
            given[key] = previous[key]
        else:
            given[key] = param.get("ParameterValue", "")
    declared = template.get("Parameters") or {}
    unknown = [k for k in given if k not in declared]
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the "
                                      "template")
    inputs = _effective_inputs(template, given)
    missing = [k for k in declared if k not in inputs]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    return inputs


def _update_stack(self: CloudFormationResponse) -> ActionResult:
    stack = _stack(self.cloudformation_backend, self._get_param("StackName"))
    _refuse_update(stack)
    body, template = _template_from_request(self, stack)
    inputs = _inputs_from_request(self, stack, template)
    tags = {t["Key"]: t["Value"] for t in self._get_param("Tags", []) or []} or None
    current = _pristine(stack)
    unchanged = (template == current
                 and inputs == _effective_inputs(current, stack.parameters)
                 and (tags is None or tags == stack.tags))
    # A failed stack may be updated with the same template to resume provisioning.
    if unchanged and stack.status in STABLE:
        raise ValidationError(message="No updates are to be performed.")
    if self._get_param("RoleARN"):
        stack.role_arn = self._get_param("RoleARN")
    if self._get_param("NotificationARNs"):
        stack.notification_arns = self._get_param("NotificationARNs")
    _emu().start_update(stack, body, template, inputs, tags,
                        self._get_bool_param("DisableRollback", False),
                        self._get_param("ClientRequestToken"))
    return ActionResult({"StackId": stack.stack_id})


def _rollback_stack(self: CloudFormationResponse) -> ActionResult:
    stack = _stack(self.cloudformation_backend, self._get_param("StackName"))
    if stack.status not in ROLLBACK_FROM:
        raise ValidationError(message=f"RollbackStack cannot be called from stack with "
                                      f"{stack.status} status; it rolls back only stacks in "
                                      "CREATE_FAILED or UPDATE_FAILED status")
    _emu().start_rollback(stack, self._get_param("ClientRequestToken"))
    return ActionResult({"StackId": stack.stack_id})


def _continue_update_rollback(self: CloudFormationResponse) -> EmptyResult:
    stack = _stack(self.cloudformation_backend, self._get_param("StackName"))
    if stack.status != "UPDATE_ROLLBACK_FAILED":
        raise ValidationError(message=f"ContinueUpdateRollback cannot be called from stack "
                                      f"with {stack.status} status")
    emu = _emu()
    tracker = emu.tracker(stack)
    skip = list(dict.fromkeys(self._get_param("ResourcesToSkip", []) or []))
    refused = [r for r in skip if r not in tracker.rollback_failed]
    if refused:
        states = ", ".join(
            f"{r} ({tracker.resources[r].status})" if r in tracker.resources else f"{r} (not found)"
            for r in refused)
        raise ValidationError(message=f"Resources to skip must be in UPDATE_FAILED state because "
                                      f"their rollback failed; these are not: [{states}]")
    emu.continue_rollback(stack, skip, bool(self._get_bool_param("ForceRollback", False)),
                          self._get_param("ClientRequestToken"))
    return EmptyResult()


def _cancel_update_stack(self: CloudFormationResponse) -> EmptyResult:
    stack = _stack(self.cloudformation_backend, self._get_param("StackName"))
    if stack.status != "UPDATE_IN_PROGRESS":
        raise ValidationError(message="CancelUpdateStack cannot be called from current stack "
                                      "status")
    _emu().cancel_update(stack, self._get_param("ClientRequestToken"))
    return EmptyResult()


def _resource_dto(tracker: Tracker | None, stack: Stack, resource: Any) -> StackResourceDTO:
    dto = StackResourceDTO(stack, resource)
    record = tracker.resources.get(dto.logical_resource_id) if tracker else None
    dto.resource_status = record.status if record else "CREATE_COMPLETE"
    dto.resource_status_reason = record.reason if record else None
    dto.timestamp = dto.last_updated_timestamp = record.timestamp if record else stack.creation_time
    return dto


def _describe_stack_resources(self: CloudFormationResponse) -> ActionResult:
    stack, resources = self.cloudformation_backend.describe_stack_resources(
        self._get_param("StackName"), self._get_param("LogicalResourceId"))
    tracker = _emu().trackers.get(stack.stack_id)
    return ActionResult({"StackResources": [_resource_dto(tracker, stack, r) for r in resources]})


def _describe_stack_resource(self: CloudFormationResponse) -> ActionResult:
    stack, resource = self.cloudformation_backend.describe_stack_resource(
        self._get_param("StackName"), self._get_param("LogicalResourceId"))
    tracker = _emu().trackers.get(stack.stack_id)
    return ActionResult({"StackResourceDetail": _resource_dto(tracker, stack, resource)})


def _list_stack_resources(self: CloudFormationResponse) -> ActionResult:
    stack, resources = self.cloudformation_backend.list_stack_resources(
        self._get_param("StackName"))
    tracker = _emu().trackers.get(stack.stack_id)
    summaries = []
    for resource in resources:
        dto = _resource_dto(tracker, stack, resource)
        summaries.append({"LogicalResourceId": dto.logical_resource_id,
                          "PhysicalResourceId": dto.physical_resource_id,
                          "ResourceType": dto.resource_type,
                          "ResourceStatus": dto.resource_status,
                          "ResourceStatusReason": dto.resource_status_reason,
                          "LastUpdatedTimestamp": dto.last_updated_timestamp})
    return ActionResult({"StackResourceSummaries": summaries})


def _wrap_create(original: Callable[[CloudFormationResponse], ActionResult]
                 ) -> Callable[[CloudFormationResponse], ActionResult]:
    def create_stack(self: CloudFormationResponse) -> ActionResult:
        result = original(self)
        stack = self.cloudformation_backend.get_stack(result.result["StackId"])  # type: ignore[index]
        # moto created the resources synchronously; replace its events with the emulated ones.
        stack.events.clear()
        disable = bool(self._get_bool_param("DisableRollback", False)
                       or self._get_param("OnFailure") == "DO_NOTHING")
        stack.disable_rollback = disable
        _emu().start_create(stack, disable, self._get_param("ClientRequestToken"))
        return result

    return create_stack


def _refuse_update(stack: Stack) -> None:
    if stack.status not in STABLE | RESUMABLE:
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and "
                                      "can not be updated.")


def _wrap_create_change_set(original: Callable[[CloudFormationResponse], ActionResult]
                            ) -> Callable[[CloudFormationResponse], ActionResult]:
    def create_change_set(self: CloudFormationResponse) -> ActionResult:
        if self._get_param("ChangeSetType", "UPDATE") == "UPDATE":
            _refuse_update(_stack(self.cloudformation_backend, self._get_param("StackName")))
        return original(self)

    return create_change_set


def _wrap_execute_change_set(original: Callable[[CloudFormationResponse], Any]
                             ) -> Callable[[CloudFormationResponse], Any]:
    """Run a change set like CreateStack/UpdateStack: emulated statuses, stable snapshot."""

    def execute_change_set(self: CloudFormationResponse) -> Any:
        backend = self.cloudformation_backend
        change_set = backend.describe_change_set(self._get_param("ChangeSetName"))
        assert change_set is not None
        if change_set.execution_status != "AVAILABLE":
            raise ValidationError(message=f"ChangeSet [{change_set.change_set_id}] cannot be "
                                          "executed in its current execution status of "
                                          f"[{change_set.execution_status}]")
        stack = change_set.stack
        token = self._get_param("ClientRequestToken")
        disable = bool(self._get_bool_param("DisableRollback", False))
        if change_set.change_set_type == "CREATE":
            kept = len(stack.events)  # REVIEW_IN_PROGRESS stays; moto's CREATE_* go
            result = original(self)
            del stack.events[kept:]
            # moto leaves the REVIEW_IN_PROGRESS stack's empty template parsed: no outputs.
            stack._parse_template()
            stack.description = stack.template_dict.get("Description")
            stack.parameters = dict(change_set.parameters or {})
            stack.output_map = stack._create_output_map()
            stack.disable_rollback = disable
            _emu().start_create(stack, disable, token)
            return result
        _refuse_update(stack)
        template = Stack.parse_template(change_set.template)
        inputs = _effective_inputs(template, change_set.parameters or {})
        _emu().start_update(stack, change_set.template, template, inputs,
                            change_set.tags or None, disable, token)
        change_set.execution_status = "EXECUTE_COMPLETE"
        return EmptyResult()

    return execute_change_set


def _wrap_delete(original: Callable[[CloudFormationResponse], Any]
                 ) -> Callable[[CloudFormationResponse], Any]:
    def delete_stack(self: CloudFormationResponse) -> Any:
        name = self._get_param("StackName")
        emu = _emu()
        try:
            stack = self.cloudformation_backend.get_stack(name)
        except ValidationError:
            return original(self)  # AWS answers success for a stack that does not exist
        if stack.status in UNDELETABLE:
            raise ValidationError(message=f"Stack [{name}] cannot be deleted while in status "
                                          f"{stack.status}")
        result = original(self)
        if stack.status == "DELETE_COMPLETE":
            emu.trackers.pop(stack.stack_id, None)
        return result

    return delete_stack


def _wrap_call_action(original: Callable[[CloudFormationResponse], Any]
                      ) -> Callable[[CloudFormationResponse], Any]:
    def call_action(self: CloudFormationResponse) -> Any:
        emu = _emu()
        # One CloudFormation action at a time, on stacks brought up to date first.
        with emu.lock:
            emu.advance_all()
            return original(self)

    call_action._sandbox_wrapped = True  # type: ignore[attr-defined]
    return call_action


def _patch_moto() -> None:
    """Every change this module makes to moto's classes (once per process); the patched
    actions reach the emulator through the module-global `_emulator` (set by install)."""
    require_moto(MOTO_VERSION, __file__)
    cls = CloudFormationResponse
    if getattr(cls.call_action, "_sandbox_wrapped", False):
        return  # a second install in the same process keeps the first patch
    Stack.parameter_list = property(_masked_parameter_list)
    cls.call_action = _wrap_call_action(cls.call_action)  # type: ignore[method-assign]
    cls.create_stack = _wrap_create(cls.create_stack)  # type: ignore[method-assign]
    cls.delete_stack = _wrap_delete(cls.delete_stack)  # type: ignore[method-assign]
    cls.create_change_set = _wrap_create_change_set(cls.create_change_set)  # type: ignore[method-assign]
    cls.execute_change_set = _wrap_execute_change_set(cls.execute_change_set)  # type: ignore[method-assign]
    cls.update_stack = _update_stack  # type: ignore[method-assign]
    cls.rollback_stack = _rollback_stack  # type: ignore[attr-defined]
    cls.continue_update_rollback = _continue_update_rollback  # type: ignore[attr-defined]
    cls.cancel_update_stack = _cancel_update_stack  # type: ignore[attr-defined]
    cls.describe_stack_resources = _describe_stack_resources  # type: ignore[method-assign]
    cls.describe_stack_resource = _describe_stack_resource  # type: ignore[method-assign]
    cls.list_stack_resources = _list_stack_resources  # type: ignore[method-assign]


def _masked_parameter_list(stack: Any) -> list[dict[str, Any]]:
    """DescribeStacks parameters with NoEcho values as AWS shows them ("****").

    moto 5.2.5 compares the value, not the key, with the NoEcho keys, so it shows them.
    """
    hidden = set(stack.resource_map.no_echo_parameter_keys)
    return [{"ParameterKey": key, "ParameterValue": "****" if key in hidden else value}
            for key, value in stack.resource_map.resolved_parameters.items()]


def install(sandbox: Sandbox) -> None:
    global _emulator
    _emulator = CloudFormationEmulator(sandbox.clock)
    _patch_moto()
    sandbox.control("cloudformation")(_emulator.control)
    sandbox.on_reset(_emulator.reset)
