#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_plan
short_description: Read the estate and say what a one-command rollback would do, per component
version_added: 0.1.0
description:
  - The preflight and plan of C(playbooks/rollback.yml). In one module call it reads the current
    state of every selected component and says, per component, what the rollback would do
    (from and to), or fails with a message naming the bad input or resource and the fix.
  - The module only reads. It makes no mutating call, in check mode or not.
  - B(traffic) - the custom domain's sub-domain mapping (C(GetDomainAssociation)) and what the
    blue branch serves (its health, as M(propie.rollback.amplify_branch_info) decides it).
    Every prefix of O(amplify.prefixes) that does not point at O(amplify.blue_branch) moves.
  - B(frontend) - the build M(propie.rollback.amplify_deployment) would rebuild on the blue
    branch (its last known-good build, the same decision), and how (C(RETRY), or
    C(StartDeployment) for an app without a repository). C(ListJobs) pages are read only until
    the decision (and the blue health) is made; C(GetJob) only for the jobs whose steps decide
    the health.
  - B(infra) - for each of O(stacks), the first action M(propie.rollback.cloudformation_rollback)
    with O(snapshot_dir) as its C(snapshot_path) would take (strategy C(auto)). A missing stack,
    or a status no recovery API accepts safely, fails.
  - B(data) - for each of O(tables), the restore M(propie.rollback.dynamodb_pitr_restore) would
    start or resume - a concrete restore point (V(latest) resolved to the source's
    C(LatestRestorableDateTime) now, unless O(recorded_restore_points) has one for the table),
    the recovery table (C(<source>-pitr-<incident_id>), see O(target_table_naming)), the restore
    window, the source's encryption, the verification - and the current value of each swap target.
  - B(Calls) - C(GetApp), C(GetBranch), C(GetDomainAssociation), C(ListJobs), C(GetJob);
    C(DescribeStacks), C(GetTemplate) (with a snapshot), C(DescribeStackEvents) (for
    C(UPDATE_IN_PROGRESS)); C(DescribeTable), C(DescribeContinuousBackups),
    C(ListTagsOfResource) (an existing recovery table); C(GetParameter),
    C(GetFunctionConfiguration), C(GetDataSource). Listing calls are made only to name the
    choices in a failure message. Every call goes through the collection's retry policy.
author:
  - PropIE platform team (@propie)
options:
  incident_id:
    description:
      - The incident's rollback id (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)). It names the recovery
        tables and recognises this incident's earlier work.
    type: str
    required: true
  components:
    description:
      - The components to plan.
    type: list
    elements: str
    choices: [traffic, frontend, infra, data]
    required: true
  amplify:
    description:
      - The Amplify app, as in the inventory (C(rollback_amplify_*)). Required when V(traffic)
        or V(frontend) is selected.
    type: dict
    suboptions:
      app_id:
        description: The Amplify app id.
        type: str
        required: true
      blue_branch:
        description: The blue (production) branch; traffic moves to it, the frontend rebuilds it.
        type: str
        required: true
      green_branch:
        description: The green branch. Not read; traffic moves from whatever each prefix points at now.
        type: str
      domain:
        description: The custom domain. Required for V(traffic).
        type: str
      prefixes:
        description: The sub-domain prefixes that move to the blue branch; the empty string is
          the apex. Required for V(traffic).
        type: list
        elements: str
      job_id:
        description:
          - The job V(frontend) rebuilds, as the O(propie.rollback.amplify_deployment#module:job_id)
            of the rebuild; empty (the default) plans the branch's last known-good build.
        type: str
  stacks:
    description:
      - The CloudFormation stacks of V(infra).
    type: list
    elements: str
    default: []
  strategy:
    description:
      - The O(propie.rollback.cloudformation_rollback#module:strategy) the stacks are recovered with;
        V(auto) takes the action that fits each stack's status, the others force one.
    type: str
    choices: [auto, rollback, continue, cancel, template]
    default: auto
  snapshot_dir:
    description:
      - A directory of snapshots written by the C(propie.rollback.rollback_snapshot) role (or a
        snapshot file). It may not exist; then no stack has a snapshot.
    type: path
  tables:
    description:
      - The DynamoDB tables of V(data), as in the inventory's C(rollback_dynamodb_tables) - each
        a dict with C(name), C(swap_targets) (C(type) V(amplify_branch_env) with C(app_id),
        C(branch_name), C(variable); V(lambda_env) with C(function_name), C(variable);
        V(ssm_parameter) with C(name); V(appsync_datasource) with C(api_id), C(name)),
        C(verify_min_item_count), C(verify_canaries) and optionally C(target_table) (a DynamoDB
        table name, 3 to 255 characters of V(A-Z a-z 0-9 _ - .)).
    type: list
    elements: dict
    default: []
  target_table_naming:
    description:
      - How a table without C(target_table) names its recovery table.
      - V(incident_id) - C(<source>-pitr-<incident_id>) whatever the restore point (C(playbooks/rollback.yml)).
      - V(restore_point) - as M(propie.rollback.dynamodb_pitr_restore) derives it -
        C(<source>-pitr-<restore point as YYYYMMDDTHHMMSSZ>), or C(<source>-pitr-<incident_id>) for
        V(latest) (C(playbooks/dynamodb_rollback.yml), whose restores that module names).
    type: str
    choices: [incident_id, restore_point]
    default: incident_id
  restore_point:
    description:
      - V(latest), or an ISO-8601 time such as V(2026-11-30T03:45:00Z) (UTC when it has no
        offset). Required when V(data) is selected.
    type: str
  recorded_restore_points:
    description:
      - Table name to the ISO-8601 restore point an earlier run of the same incident resolved.
        When a table has one it wins over O(restore_point), so a re-run never moves the point.
    type: dict
    default: {}
extends_documentation_fragment: [propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Plan the rollback
  propie.rollback.rollback_plan:
    incident_id: rb-20261130T034501Z-9f2c1a
    components: [traffic, frontend, infra, data]
    amplify:
      app_id: "{{ rollback_amplify_app_id }}"
      blue_branch: "{{ rollback_amplify_blue_branch }}"
      green_branch: "{{ rollback_amplify_green_branch }}"
      domain: "{{ rollback_amplify_domain }}"
      prefixes: "{{ rollback_amplify_prefixes }}"
    stacks: "{{ rollback_cloudformation_stacks }}"
    snapshot_dir: "{{ rollback_state_dir }}/snapshots"
    tables: "{{ rollback_dynamodb_tables }}"
    restore_point: "{{ restore_point }}"
    recorded_restore_points: "{{ incident.restore_points | default({}) }}"
  register: plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ plan.lines }}"
"""

RETURN = r"""
components:
  description: One entry per selected component.
  returned: always
  type: dict
  contains:
    traffic:
      description:
        - C(todo), C(from) and C(to) (prefix to branch now and after), C(moves) (list of
          C({prefix, from, to})), C(blue_branch), C(blue_health) (V(good), V(unknown) or
          V(none)), C(blue_health_reason), C(blue_serving_job) (job id or null),
          C(domain_status), C(reason).
      type: dict
      returned: when V(traffic) is selected
    frontend:
      description:
        - C(todo), C(action) (V(start), V(resume) or V(none)), C(method) (V(RETRY) or
          V(StartDeployment)), C(from_job) (the branch's newest job, failed rollbacks
          skipped), C(target_job) (the job rebuilt), C(reason).
      type: dict
      returned: when V(frontend) is selected
    infra:
      description:
        - C(todo), C(stacks) - a list of C({stack_name, status, action, reason, snapshot}),
          C(action) one of V(rollback), V(continue), V(cancel), V(template), V(wait), V(none).
      type: dict
      returned: when V(infra) is selected
    data:
      description:
        - C(todo), C(tables) - a list of C({table, restore_point, requested, target_table,
          exists, resumable, target_status, window, sse, recovery_sse, swap_targets, verify, done}).
        - C(done) is true when the table needs nothing (its restore is ACTIVE and every swap
          target names it); C(already_restored) is true when the swap targets already name an
          earlier restore of the source to the same point (then C(target_table) is that table).
        - C(restore_point) is a concrete ISO-8601 UTC time; C(window) is C({earliest, latest});
          C(sse) is C({type, kms_key_arn}) (V(KMS) or V(AWS_OWNED)) and C(recovery_sse), in the same
          shape, the encryption of the recovery table - the source's, which the restore keeps, or
          that of the restore that exists already; a line names its key. C(swap_targets) a list of
          C({id, type, current, to}); C(verify) is C({min_item_count, canaries}).
      type: dict
      returned: when V(data) is selected
  sample:
    traffic:
      todo: true
      from: {"": green, www: green}
      to: {"": production, www: production}
      moves: [{prefix: "", from: green, to: production}, {prefix: www, from: green, to: production}]
      blue_branch: production
      blue_health: good
      blue_health_reason: "Branch production serves job 4 (SUCCEED, RELEASE of a1b2c34) ..."
      blue_serving_job: "4"
      domain_status: AVAILABLE
      reason: "'' and 'www' of prop-ie-app.com point at green; they move to production, which serves job 4 (good)"
lines:
  description: The plan as a person reads it, one or more lines per component.
  returned: always
  type: list
  elements: str
  sample:
    - "traffic: prop-ie-app.com '' and 'www' green -> production (blue serves job 4, good)"
    - "frontend: RETRY of job 4 on production (newest job 5 FAILED)"
todo:
  description: The selected components that have something to do.
  returned: always
  type: list
  elements: str
  sample: [traffic, frontend, infra, data]
traffic_first:
  description: Whether traffic has something to do and the blue branch serves a good build
    (traffic can move at once, before any rebuild).
  returned: always
  type: bool
calls:
  description: How many AWS calls the module made (retries included).
  returned: always
  type: int
  sample: 11
"""

import os
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils import amplify as amp
from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils.common import ROLLBACK_ID_RE
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

COMPONENTS = ("traffic", "frontend", "infra", "data")
SWAP_FIELDS = {
    "amplify_branch_env": ("app_id", "branch_name", "variable"),
    "lambda_env": ("function_name", "variable"),
    "ssm_parameter": ("name",),
    "appsync_datasource": ("api_id", "name"),
}
MASK = "********"
# Where an input comes from in the inventory, for failure messages.
INVENTORY = {"amplify.app_id": "rollback_amplify_app_id", "amplify.blue_branch": "rollback_amplify_blue_branch"}
NOTHING_CHANGED = "nothing was changed"


class PlanFailed(Exception):
    """Stop with fail_json: a message naming the input and the fix."""

    def __init__(self, msg: str, **extra):
        super(PlanFailed, self).__init__(msg)
        self.msg = msg
        self.extra = extra


def quoted(prefixes) -> str:
    """"'' and 'www'" for lines."""
    words = ["'%s'" % p for p in prefixes]
    return words[0] if len(words) == 1 else "%s and %s" % (", ".join(words[:-1]), words[-1])


def fix_of(what: str) -> str:
    """'fix amplify.app_id (rollback_amplify_app_id in the inventory)'."""
    if what.startswith("tables["):  # a table's swap target: "tables[0].swap_targets[1] (ssm_parameter:...)"
        return "fix %s (rollback_dynamodb_tables in the inventory)" % what.split(" ", 1)[0]
    return "fix %s" % what + (" (%s in the inventory)" % INVENTORY[what] if what in INVENTORY else "")


def _key_words(sse: Dict[str, Any]) -> str:
    """'KMS key arn:...' or 'the AWS owned key', for the data lines."""
    if sse["type"] != "KMS":
        return "the AWS owned key"
    return "KMS key %s" % sse["kms_key_arn"] if sse["kms_key_arn"] else "a KMS key"


def swap_id(spec: Dict[str, Any]) -> str:
    kind = spec["type"]
    if kind == "amplify_branch_env":
        return "%s:%s/%s:%s" % (kind, spec["app_id"], spec["branch_name"], spec["variable"])
    if kind == "lambda_env":
        return "%s:%s:%s" % (kind, spec["function_name"], spec["variable"])
    if kind == "appsync_datasource":
        return "%s:%s/%s" % (kind, spec["api_id"], spec["name"])
    return "%s:%s" % (kind, spec["name"])


class Planner(object):
    """One module run: validated inputs, counted clients, the plan being built."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.params = module.params
        self.selected = [c for c in COMPONENTS if c in module.params["components"]]
        self.calls = 0
        self.now = ddb.utcnow()
        self._clients = {}  # type: Dict[str, Any]
        self._apps = {}  # type: Dict[str, Any]
        self._branches = {}  # type: Dict[Any, Any]
        self._histories = {}  # type: Dict[Any, Any]
        self.components = {}  # type: Dict[str, Dict[str, Any]]
        self.lines = []  # type: List[str]
        self.point = None  # the parsed restore_point option

    # -- clients and reads -------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            client = self.module.client(service, retry_decorator=aws_retry)
            raw = getattr(client, "client", client)  # RetryingBotoClientWrapper keeps the boto3 client
            # Emitted once per API call (and per retry of it), before the request is built.
            raw.meta.events.register("before-parameter-build", self._count)
            self._clients[service] = client
        return self._clients[service]

    def _count(self, **kwargs) -> None:
        self.calls += 1

    def app(self, app_id: str, what: str) -> Dict[str, Any]:
        """GetApp once per app; a missing app fails naming `what` (the input)."""
        if app_id not in self._apps:
            self._apps[app_id] = amp.find_app(self.module, self.client("amplify"), app_id)
        app = self._apps[app_id]
        if app is None:
            message = amp.missing_app_message(self.module, self.client("amplify"), app_id)
            raise PlanFailed("%s: %s; %s; %s" % (what, message, fix_of(what), NOTHING_CHANGED), app_id=app_id)
        return app

    def branch(self, app_id: str, branch_name: str, what: str) -> Dict[str, Any]:
        """GetBranch once per branch; a missing app or branch fails naming `what`."""
        key = (app_id, branch_name)
        if key not in self._branches:
            self._branches[key] = amp.get_branch(self.module, self.client("amplify"), app_id, branch_name)
        branch = self._branches[key]
        if branch is None:
            app = self.app(app_id, what)
            known = amp.list_branch_names(self.module, self.client("amplify"), app_id)
            raise PlanFailed(
                "%s: Amplify app %s (%s) has no branch %r (its branches: %s); %s; %s"
                % (what, app_id, app.get("name"), branch_name, ", ".join(known) or "none", fix_of(what), NOTHING_CHANGED),
                app_id=app_id, branch_name=branch_name,
            )
        return branch

    # -- inputs ---------------------------------------------------------------------------

    def validate(self) -> None:
        """Every input check that needs no AWS call, before the first one."""
        p = self.params
        if not ROLLBACK_ID_RE.match(p["incident_id"] or ""):
            raise PlanFailed(
                "incident_id %r is not a rollback id of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx (for example "
                "rb-20261130T034501Z-9f2c1a); pass the incident's id; %s" % (p["incident_id"], NOTHING_CHANGED)
            )
        if not self.selected:
            raise PlanFailed("components is empty: select at least one of %s" % ", ".join(COMPONENTS))
        if "traffic" in self.selected or "frontend" in self.selected:
            amplify = p["amplify"]
            if not amplify:
                raise PlanFailed("amplify (app_id, blue_branch, domain, prefixes) is required for the traffic and "
                                 "frontend components (rollback_amplify_* in the inventory); %s" % NOTHING_CHANGED)
            if "traffic" in self.selected:
                if not amplify.get("domain"):
                    raise PlanFailed("amplify.domain is required for the traffic component "
                                     "(rollback_amplify_domain in the inventory); %s" % NOTHING_CHANGED)
                if not amplify.get("prefixes"):
                    raise PlanFailed("amplify.prefixes is required for the traffic component: the sub-domain "
                                     "prefixes that move, '' for the apex (rollback_amplify_prefixes in the "
                                     "inventory); %s" % NOTHING_CHANGED)
        if "infra" in self.selected and not p["stacks"]:
            raise PlanFailed("stacks is empty: the infra component needs the CloudFormation stacks "
                             "(rollback_cloudformation_stacks in the inventory); %s" % NOTHING_CHANGED)
        if "data" in self.selected:
            self.validate_data()

    def validate_data(self) -> None:
        p = self.params
        if p["restore_point"] is None or not str(p["restore_point"]).strip():
            raise PlanFailed(
                "restore_point is required for the data component: pass -e restore_point=<ISO-8601 time, "
                "for example 2026-11-30T03:45:00Z> or -e restore_point=latest; %s" % NOTHING_CHANGED
            )
        try:
            self.point = ddb.parse_restore_point(p["restore_point"])
        except ddb.RestorePointError as e:
            raise PlanFailed("%s; fix -e restore_point=; %s" % (e, NOTHING_CHANGED))
        if not p["tables"]:
            raise PlanFailed("tables is empty: the data component needs the DynamoDB tables "
                             "(rollback_dynamodb_tables in the inventory); %s" % NOTHING_CHANGED)
        for name, text in sorted((p["recorded_restore_points"] or {}).items()):
            try:
                point = ddb.parse_restore_point(str(text))
            except ddb.RestorePointError as e:
                raise PlanFailed("recorded_restore_points[%s]: %s; %s" % (name, e, NOTHING_CHANGED))
            if point == "latest":
                raise PlanFailed("recorded_restore_points[%s] is 'latest'; a recorded point must be the concrete "
                                 "time an earlier run resolved; %s" % (name, NOTHING_CHANGED))
        for index, table in enumerate(p["tables"]):
            where = "tables[%d]" % index
            if not isinstance(table, dict) or not table.get("name"):
                raise PlanFailed("%s has no name: each table is a dict with name and swap_targets "
                                 "(rollback_dynamodb_tables in the inventory); %s" % (where, NOTHING_CHANGED))
            target = table.get("target_table")
            why = ddb.table_name_problem(str(target)) if target else None
            if why:
                raise PlanFailed("%s.target_table %s (table %s) is not a DynamoDB table name: %s; a table name is %d "
                                 "to %d characters of A-Z a-z 0-9 _ - . - fix it (target_table in "
                                 "rollback_dynamodb_tables, or -e dynamodb_pitr_rollback_target_table=) or leave it "
                                 "out for the derived name; %s"
                                 % (where, ddb.shown_name(str(target)), table["name"], why, ddb.TABLE_NAME_MIN,
                                    ddb.TABLE_NAME_MAX, NOTHING_CHANGED))
            if not isinstance(table.get("swap_targets") or [], list):
                raise PlanFailed("%s.swap_targets (table %s) must be a list of swap targets, got %s; %s"
                                 % (where, table["name"], type(table["swap_targets"]).__name__, NOTHING_CHANGED))
            for number, spec in enumerate(table.get("swap_targets") or []):
                what = "%s.swap_targets[%d]" % (where, number)
                kind = spec.get("type") if isinstance(spec, dict) else None
                if kind not in SWAP_FIELDS:
                    raise PlanFailed("%s (table %s): type %r is not one of %s; %s"
                                     % (what, table["name"], kind, ", ".join(sorted(SWAP_FIELDS)), NOTHING_CHANGED))
                missing = [f for f in SWAP_FIELDS[kind] if not spec.get(f)]
                if missing:
                    raise PlanFailed("%s (table %s, %s) needs %s; %s"
                                     % (what, table["name"], kind, ", ".join(missing), NOTHING_CHANGED))

    # -- the plan -------------------------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        self.validate()
        if "traffic" in self.selected or "frontend" in self.selected:
            self.plan_amplify()
        if "infra" in self.selected:
            self.plan_infra()
        if "data" in self.selected:
            self.plan_data()
        todo = [c for c in self.selected if self.components[c]["todo"]]
        traffic = self.components.get("traffic")
        return dict(
            changed=False,
            components=self.components,
            lines=self.lines,
            todo=todo,
            traffic_first=bool(traffic and traffic["todo"] and traffic["blue_health"] == amp.HEALTH_GOOD),
            calls=self.calls,
        )

    def plan_amplify(self) -> None:
        amplify = self.params["amplify"]
        app_id, blue = amplify["app_id"], amplify["blue_branch"]
        traffic, frontend = "traffic" in self.selected, "frontend" in self.selected
        client = self.client("amplify")
        app = self.app(app_id, "amplify.app_id")
        self.branch(app_id, blue, "amplify.blue_branch")
        domain = None
        if traffic:
            domain = amp.find_domain(self.module, client, app_id, amplify["domain"])
            if domain is None:
                known = amp.list_domain_names(self.module, client, app_id)
                raise PlanFailed(
                    "amplify.domain: Amplify app %s (%s) has no domain association %r (its domains: %s); fix "
                    "amplify.domain (rollback_amplify_domain in the inventory); %s"
                    % (app_id, app.get("name"), amplify["domain"], ", ".join(known) or "none", NOTHING_CHANGED),
                    app_id=app_id, domain=amplify["domain"],
                )

        def enough(jobs: List[Dict[str, Any]]) -> bool:
            # Traffic needs the jobs newer than the serving build; the frontend its decision.
            if traffic and not any(j.get("status") == "SUCCEED" for j in jobs):
                return False
            return not frontend or amp.history_decides(jobs, amplify.get("job_id") or None)

        jobs = amp.list_jobs(self.module, client, app_id, blue, limit=amp.MAX_HISTORY, until=enough)
        history = self._histories[(app_id, blue)] = amp.JobHistory(jobs)
        if traffic:
            self.plan_traffic(app_id, blue, domain, history)
        if frontend:
            self.plan_frontend(app, blue, history)

    def plan_traffic(self, app_id: str, blue: str, domain: Dict[str, Any], history: amp.JobHistory) -> None:
        amplify = self.params["amplify"]
        steps = {}  # type: Dict[str, List[Dict[str, Any]]]
        for job in amp.health_jobs(history):
            steps[job["jobId"]] = amp.get_job(self.module, self.client("amplify"), app_id, blue, job["jobId"]).get("steps") or []
        verdict = amp.serving_health(history, steps, blue)
        mapping = amp.sub_domain_mapping(domain)
        prefixes = []  # type: List[str]
        for prefix in amplify["prefixes"]:
            if prefix not in prefixes:
                prefixes.append(prefix)
        before = dict((p, mapping.get(p)) for p in prefixes)
        after = dict((p, blue) for p in prefixes)
        moves = [dict(prefix=p, to=blue, **{"from": before[p]}) for p in prefixes if before[p] != blue]
        serving = verdict["job_id"] if verdict["health"] == amp.HEALTH_GOOD else None
        name = amplify["domain"]
        if verdict["health"] == amp.HEALTH_GOOD:
            blue_words = "blue serves job %s, good" % serving
        else:
            blue_words = "blue health %s: %s" % (verdict["health"], verdict["reason"])
        if moves:
            groups = []  # type: List[str]
            for source in sorted(set(m["from"] or "" for m in moves)):
                moved = [m["prefix"] for m in moves if (m["from"] or "") == source]
                groups.append("%s %s" % (quoted(moved), source or "(not set)"))
            reason = "%s of %s point at %s; they move to %s (%s)" % (
                quoted([m["prefix"] for m in moves]), name, "/".join(sorted(set(m["from"] or "(not set)" for m in moves))),
                blue, blue_words)
            self.lines.append("traffic: %s %s -> %s (%s)" % (name, "; ".join(groups), blue, blue_words))
        else:
            reason = "%s of %s already point at %s" % (quoted(prefixes), name, blue)
            self.lines.append("traffic: nothing to do: %s (%s)" % (reason, blue_words))
        self.components["traffic"] = {
            "todo": bool(moves),
            "from": before,
            "to": after,
            "moves": moves,
            "blue_branch": blue,
            "blue_health": verdict["health"],
            "blue_health_reason": verdict["reason"],
            "blue_serving_job": serving,
            "domain_status": domain.get("domainStatus"),
            "reason": reason,
        }

    def plan_frontend(self, app: Dict[str, Any], blue: str, history: amp.JobHistory) -> None:
        try:
            decision = amp.plan_last_known_good(history, self.params["amplify"].get("job_id") or None, blue)
        except amp.PlanError as e:
            raise PlanFailed("frontend (amplify.blue_branch %s): %s; %s" % (blue, e.msg, NOTHING_CHANGED), **e.extra)
        connected = bool(app.get("repository"))
        method = "RETRY" if connected else "StartDeployment"
        head, target = decision.head, decision.target
        if decision.action == "start" and not connected and not target.get("sourceUrl"):
            raise PlanFailed(
                "frontend (amplify.blue_branch %s): %s has no sourceUrl (it was deployed from an upload): Amplify "
                "cannot redeploy it for an app without a repository; upload the artifact again; %s"
                % (blue, amp.short(target), NOTHING_CHANGED)
            )
        newest = "newest job %s %s" % (head.get("jobId"), head.get("status"))
        if decision.action == "start":
            self.lines.append("frontend: %s of job %s on %s (%s)" % (method, target["jobId"], blue, newest))
        elif decision.action == "resume":
            self.lines.append("frontend: job %s on %s is already rebuilding job %s (%s): wait for it"
                              % (head["jobId"], blue, target["jobId"], method))
        else:
            self.lines.append("frontend: nothing to do: %s already serves the build of job %s (%s)"
                              % (blue, target["jobId"], newest))
        self.components["frontend"] = {
            "todo": decision.action != "none",
            "action": decision.action,
            "method": method,
            "from_job": head.get("jobId"),
            "target_job": target.get("jobId"),
            "reason": decision.reason,
        }

    def plan_infra(self) -> None:
        snapshot_dir = self.params["snapshot_dir"]
        path = snapshot_dir if snapshot_dir and os.path.exists(snapshot_dir) else None
        client = self.client("cloudformation")
        stacks = []  # type: List[Dict[str, Any]]
        for name in self.params["stacks"]:
            try:
                found = cfn.plan_stack(client, name, path, self.params.get("strategy") or "auto")
            except cfn.SnapshotError as e:
                raise PlanFailed("snapshot_dir: %s; fix or remove that snapshot, or pass another snapshot_dir; %s"
                                 % (e, NOTHING_CHANGED), stack_name=name)
            decision = found["decision"]
            if found["stack"] is None:
                raise PlanFailed(
                    "stacks: stack %s does not exist in region %s; fix stacks (rollback_cloudformation_stacks in the "
                    "inventory); %s" % (name, self.module.region, NOTHING_CHANGED), stack_name=name)
            if decision.action == "error":
                raise PlanFailed("infra: %s: %s; %s" % (name, decision.reason, NOTHING_CHANGED),
                                 stack_name=name, status=found["status"])
            status = found["status"]
            stacks.append({"stack_name": name, "status": status, "action": decision.action,
                           "reason": decision.reason, "snapshot": found["snapshot"]})
            if decision.action in cfn.ACTION_API:
                extra = " from snapshot %s" % found["snapshot"] if decision.action == "template" else ""
                self.lines.append("infra: %s %s -> %s%s" % (name, status, cfn.ACTION_API[decision.action], extra))
            elif decision.action == "wait":
                self.lines.append("infra: %s %s -> wait for it to settle, then decide again" % (name, status))
            else:
                self.lines.append("infra: %s %s: nothing to do (%s)" % (name, status, decision.reason))
        self.components["infra"] = {"todo": any(s["action"] != "none" for s in stacks), "stacks": stacks}

    # -- data -----------------------------------------------------------------------------

    def plan_data(self) -> None:
        client = self.client("dynamodb")
        tables = []  # type: List[Dict[str, Any]]
        todo = False
        for index, spec in enumerate(self.params["tables"]):
            table, done = self.plan_table(client, "tables[%d]" % index, spec)
            tables.append(table)
            todo = todo or not done
        self.components["data"] = {"todo": todo, "tables": tables}

    def resolve_point(self, name: str) -> Any:
        """(point to use, requested text): the recorded point wins over restore_point."""
        requested = self.point
        recorded = (self.params["recorded_restore_points"] or {}).get(name)
        if recorded is None:
            return requested, False
        point = ddb.parse_restore_point(str(recorded))
        if requested != "latest" and not ddb.same_time(point, requested):
            self.module.warn("table %s: restore_point %s is ignored; this incident already restores to %s "
                             "(recorded_restore_points)" % (name, ddb.iso(requested), ddb.iso(point)))
        return point, True

    def plan_table(self, client: Any, where: str, spec: Dict[str, Any]):
        incident = self.params["incident_id"]
        name = spec["name"]
        source = ddb.describe_table(client, name)
        if source is None:
            raise PlanFailed("%s: source table %s does not exist in region %s; fix tables (rollback_dynamodb_tables "
                             "in the inventory); %s" % (where, name, self.module.region, NOTHING_CHANGED), table=name)
        window = ddb.restore_window(
            client.describe_continuous_backups(TableName=name, aws_retry=True)["ContinuousBackupsDescription"])
        point, recorded = self.resolve_point(name)
        named_by = point if self.params.get("target_table_naming") == "restore_point" else "latest"
        target_name = spec.get("target_table") or ddb.default_target_name(name, named_by, incident)
        if target_name == name:
            raise PlanFailed("%s.target_table must differ from the source table %s: a restore always creates a new "
                             "table; %s" % (where, name, NOTHING_CHANGED))
        target = ddb.describe_table(client, target_name)
        resumable = False
        if target is not None:
            tags = ddb.list_tags(client, target["TableArn"])
            why = ddb.recognise_restore(target, tags, source, point, incident)
            if why:
                fix = ("choose another %s.target_table" % where) if spec.get("target_table") else (
                    "delete that table or use a new incident_id")
                if point != "latest" and recorded:
                    fix += ", or drop the recorded restore point"
                raise PlanFailed("%s: %s, so it is not this incident's (%s) restore; %s; %s"
                                 % (where, why, incident, fix, NOTHING_CHANGED), table=name, target_table=target_name)
            resumable = True
            if point == "latest":
                point = ddb.restore_time(target) or window["latest"]
        if not resumable:
            try:
                ddb.check_restore_point(name, point, window, self.now)
            except ddb.RestorePointError as e:
                fix = "recorded_restore_points[%s]" % name if recorded else "-e restore_point="
                raise PlanFailed("%s: %s; fix %s; %s" % (where, e, fix, NOTHING_CHANGED), table=name,
                                 window={"earliest": ddb.iso(window["earliest"]), "latest": ddb.iso(window["latest"])})
            if point == "latest" and window["latest"] is not None:
                # Whole seconds (AWS restores to the second), never after the latest restorable time.
                point = window["latest"].replace(microsecond=0)
        if point == "latest" or point is None:
            raise PlanFailed("%s: source table %s reports no LatestRestorableDateTime, so 'latest' cannot be resolved; "
                             "pass -e restore_point=<ISO-8601 time>; %s" % (where, name, NOTHING_CHANGED))
        point_text = ddb.iso(point)
        swaps = [self.read_swap(where, number, s, target_name)
                 for number, s in enumerate(spec.get("swap_targets") or [])]
        # A variable that names the recovery table is live only once a build started after it was
        # set (a run killed between UpdateBranch and StartJob leaves it set, not built).
        unbuilt = [s["id"] for s in swaps if s["spec"] and s["current"] == target_name
                   and not self.serving_current(s["spec"][0], s["spec"][1], "%s.swap_targets" % where)]
        rebuilds = [s["spec"] for s in swaps if s["spec"] and (s["current"] != target_name or s["id"] in unbuilt)]
        sse = source.get("SSEDescription") or {}
        target_sse = (target.get("SSEDescription") or {}) if target is not None else sse
        canaries = spec.get("verify_canaries") or []
        verify = {"min_item_count": int(spec.get("verify_min_item_count") or 0), "canaries": len(canaries)}
        status = target["TableStatus"] if target is not None else None
        table = {
            "table": name,
            "restore_point": point_text,
            "requested": "latest" if self.point == "latest" else ddb.iso(self.point),
            "target_table": target_name,
            "exists": target is not None,
            "resumable": resumable,
            "target_status": status,
            "window": {"earliest": ddb.iso(window["earliest"]), "latest": ddb.iso(window["latest"])},
            # No SSEDescription: the AWS owned key (the default).
            "sse": {"type": sse.get("SSEType") or "AWS_OWNED", "kms_key_arn": sse.get("KMSMasterKeyArn")},
            # The restore keeps the source's encryption (dynamodb_pitr_restore's default); a
            # restore that exists already has its own.
            "recovery_sse": {"type": target_sse.get("SSEType") or "AWS_OWNED",
                             "kms_key_arn": target_sse.get("KMSMasterKeyArn")},
            "swap_targets": swaps,
            "verify": verify,
        }
        for swap in swaps:
            swap.pop("spec", None)
        pending = [s["id"] for s in swaps if s["current"] != target_name]
        done = resumable and status == "ACTIVE" and not pending and not unbuilt
        if not resumable and swaps:
            earlier = self.earlier_restore(client, where, source, point, swaps, target_name)
            if earlier:
                # The application already reads a restore of the source to this very point
                # (an earlier incident's): nothing to do, and no second restore.
                table.update(target_table=earlier, exists=True, target_status="ACTIVE", already_restored=True)
                for swap in swaps:
                    swap["to"] = earlier
                self.lines.append("data: nothing to do: the application already reads %s, a restore of %s to %s"
                                  % (earlier, name, point_text))
                table["done"] = True
                return table, True
        table["done"] = done
        self.table_lines(table, pending, rebuilds, done)
        return table, done

    def earlier_restore(self, client: Any, where: str, source: Dict[str, Any], point: Any,
                        swaps: List[Dict[str, Any]], target_name: str) -> Optional[str]:
        """The table the swap targets name when it is an earlier restore of the source to `point`.

        None when they still name the source (a normal rollback). Fails when they name another
        table: a restore of the source to another time (swap back first, or ask for that time),
        or anything else (fix the target) - a second restore would only make things worse.
        """
        name = source["TableName"]
        others = sorted({s["current"] for s in swaps if s["current"] not in (name, target_name)})
        if not others:
            return None
        if len(others) > 1 or any(s["current"] == name for s in swaps):
            raise PlanFailed("%s: the swap targets name different tables (%s); the application is half swapped. Make "
                             "them name one table (swap back with the record of the earlier rollback), then re-run; %s"
                             % (where, ", ".join("%s=%s" % (s["id"], s["current"]) for s in swaps), NOTHING_CHANGED),
                             table=name)
        other = others[0]
        found = ddb.describe_table(client, other)
        restored_from = ddb.restore_source_arn(found) if found else None
        if found is None or restored_from != source["TableArn"]:
            raise PlanFailed("%s: the swap targets name %s, which is %s, not %s or a restore of it; fix the swap "
                             "targets (or the inventory's table) first; %s"
                             % (where, other, "missing" if found is None else "another table", name, NOTHING_CHANGED),
                             table=name)
        restored_to = ddb.restore_time(found)
        if point != "latest" and ddb.same_time(restored_to, point) and found.get("TableStatus") == "ACTIVE":
            return other
        raise PlanFailed("%s: the application already reads %s, a restore of %s to %s, not to %s. Swap back first "
                         "(dynamodb_rollback.yml -e swap_back=<its swap record>) or pass -e restore_point=%s; %s"
                         % (where, other, name, ddb.iso(restored_to), "latest" if point == "latest" else ddb.iso(point),
                            ddb.iso(restored_to), NOTHING_CHANGED), table=name, current=other)

    def table_lines(self, table: Dict[str, Any], pending: List[str], rebuilds: List[Any], done: bool) -> None:
        verify = table["verify"]
        checks = "verify min %d items, %d canar%s" % (
            verify["min_item_count"], verify["canaries"], "y" if verify["canaries"] == 1 else "ies")
        if done:
            self.lines.append("data: nothing to do: %s is restored to %s as %s (ACTIVE) and every swap target names it"
                              % (table["table"], table["restore_point"], table["target_table"]))
            return
        if table["resumable"]:
            head = "resume the restore of %s to %s as %s (%s)" % (
                table["table"], table["restore_point"], table["target_table"], table["target_status"])
        else:
            head = "restore %s to %s as %s" % (table["table"], table["restore_point"], table["target_table"])
        self.lines.append("data: %s; %s" % (head, checks))
        source_key, key = table["sse"], table["recovery_sse"]
        if key == source_key:
            self.lines.append("data: %s %s encrypted with %s (as the source)" % (
                table["target_table"], "is" if table["exists"] else "will be", _key_words(key)))
        else:
            self.lines.append("data: %s is encrypted with %s, the source with %s" % (
                table["target_table"], _key_words(key), _key_words(source_key)))
        for swap in table["swap_targets"]:
            if swap["id"] in pending:
                self.lines.append("data: swap %s %s -> %s" % (swap["id"], swap["current"], swap["to"]))
            else:
                self.lines.append("data: %s already names %s" % (swap["id"], swap["to"]))
        amplify = self.params["amplify"] or {}
        frontend = self.components.get("frontend")
        for app_id, branch, variable in rebuilds:
            if frontend and frontend["todo"] and app_id == amplify.get("app_id") and branch == amplify.get("blue_branch"):
                self.lines.append(
                    "data: %s is rebuilt once more after the swap, after the frontend's %s of job %s (%s is read at "
                    "build time)" % (branch, frontend["method"], frontend["target_job"], variable))
            else:
                self.lines.append("data: branch %s of app %s is rebuilt after the swap (%s is read at build time)"
                                  % (branch, app_id, variable))

    def serving_current(self, app_id: str, branch_name: str, what: str) -> bool:
        """Whether the branch serves a build that started after the branch's last change."""
        branch = self.branch(app_id, branch_name, what)
        key = (app_id, branch_name)
        if key not in self._histories:
            jobs = amp.list_jobs(self.module, self.client("amplify"), app_id, branch_name, limit=amp.MAX_HISTORY,
                                 until=lambda jobs: any(j.get("status") == "SUCCEED" for j in jobs))
            self._histories[key] = amp.JobHistory(jobs)
        serving = self._histories[key].serving()
        return serving is not None and amp.started_after(serving, branch.get("updateTime"))

    def read_swap(self, where: str, number: int, spec: Dict[str, Any], to: str) -> Dict[str, Any]:
        """{id, type, current, to} of one swap target; a missing one fails naming it."""
        what = "%s.swap_targets[%d] (%s)" % (where, number, swap_id(spec))
        kind = spec["type"]
        fix = "fix %s.swap_targets[%d] (rollback_dynamodb_tables in the inventory); %s" % (where, number, NOTHING_CHANGED)
        key = None
        if kind == "amplify_branch_env":
            branch = self.branch(spec["app_id"], spec["branch_name"], what)
            variables = branch.get("environmentVariables") or {}
            if spec["variable"] not in variables:
                raise PlanFailed("%s: branch %s of Amplify app %s has no environment variable %s (it has: %s); %s"
                                 % (what, spec["branch_name"], spec["app_id"], spec["variable"],
                                    ", ".join(sorted(variables)) or "none", fix))
            current = variables[spec["variable"]]
            key = (spec["app_id"], spec["branch_name"], spec["variable"])
        elif kind == "lambda_env":
            try:
                config = self.client("lambda").get_function_configuration(FunctionName=spec["function_name"],
                                                                          aws_retry=True)
            except is_boto3_error_code("ResourceNotFoundException"):
                raise PlanFailed("%s: Lambda function %s does not exist in region %s; %s"
                                 % (what, spec["function_name"], self.module.region, fix))
            variables = (config.get("Environment") or {}).get("Variables") or {}
            if spec["variable"] not in variables:
                raise PlanFailed("%s: Lambda function %s has no environment variable %s (it has: %s); %s"
                                 % (what, spec["function_name"], spec["variable"], ", ".join(sorted(variables)) or "none",
                                    fix))
            current = variables[spec["variable"]]
        elif kind == "ssm_parameter":
            try:
                param = self.client("ssm").get_parameter(Name=spec["name"], WithDecryption=False,
                                                         aws_retry=True)["Parameter"]
            except is_boto3_error_code("ParameterNotFound"):
                raise PlanFailed("%s: SSM parameter %s does not exist in region %s; %s"
                                 % (what, spec["name"], self.module.region, fix))
            current = MASK if param.get("Type") == "SecureString" else param.get("Value")
        else:
            current = self.read_data_source(what, spec, fix)
        return {"id": swap_id(spec), "type": kind, "current": current, "to": to, "spec": key}

    def read_data_source(self, what: str, spec: Dict[str, Any], fix: str) -> Optional[str]:
        client = self.client("appsync")
        try:
            source = client.get_data_source(apiId=spec["api_id"], name=spec["name"], aws_retry=True)["dataSource"]
        except is_boto3_error_code("NotFoundException"):
            try:
                client.get_graphql_api(apiId=spec["api_id"], aws_retry=True)
            except is_boto3_error_code("NotFoundException"):
                raise PlanFailed("%s: AppSync API %s does not exist in region %s; %s"
                                 % (what, spec["api_id"], self.module.region, fix))
            raise PlanFailed("%s: AppSync API %s has no data source %s; %s" % (what, spec["api_id"], spec["name"], fix))
        if source.get("type") != "AMAZON_DYNAMODB":
            raise PlanFailed("%s: data source %s is of type %s, not AMAZON_DYNAMODB; %s"
                             % (what, spec["name"], source.get("type"), fix))
        return (source.get("dynamodbConfig") or {}).get("tableName")


def do(module: AnsibleAWSModule) -> None:
    planner = Planner(module)
    try:
        result = planner.run()
    except PlanFailed as e:
        module.fail_json(msg=e.msg, calls=planner.calls, lines=planner.lines, **e.extra)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the estate to plan the rollback (%s)" % NOTHING_CHANGED,
                             calls=planner.calls)
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        incident_id=dict(type="str", required=True),
        components=dict(type="list", elements="str", required=True, choices=list(COMPONENTS)),
        amplify=dict(
            type="dict",
            options=dict(
                app_id=dict(type="str", required=True),
                blue_branch=dict(type="str", required=True),
                green_branch=dict(type="str"),
                domain=dict(type="str"),
                prefixes=dict(type="list", elements="str"),
                job_id=dict(type="str"),
            ),
        ),
        stacks=dict(type="list", elements="str", default=[]),
        strategy=dict(type="str", default="auto", choices=["auto", "rollback", "continue", "cancel", "template"]),
        snapshot_dir=dict(type="path"),
        tables=dict(type="list", elements="dict", default=[]),
        restore_point=dict(type="str"),
        recorded_restore_points=dict(type="dict", default={}),
        target_table_naming=dict(type="str", default="incident_id", choices=["incident_id", "restore_point"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
