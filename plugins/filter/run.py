# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the one-command rollback (playbooks/rollback.yml).

- rollback_request: check `-e components=` and `-e incident_id=` (minting the id when none is
  given), before any AWS call, with errors that name the variable and the fix;
- rollback_who: who runs this (the AWX job and user, else the controller's user);
- rollback_record: the incident record (propie.rollback.incident_record's input) from the
  run's plan, its step marks and the results of each component;
- rebuild_branches / data_results: the data component's Amplify branches to rebuild, and its
  per-table results, from the looped restore, verify and swap tasks.
"""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.module_utils.branches import merge_branches
from ansible_collections.propie.rollback.plugins.module_utils.rollback_id import ROLLBACK_ID_RE, new_rollback_id

# The runbook's order: traffic first (fastest relief), then the rest.
COMPONENTS = ("traffic", "frontend", "infra", "data")


def rollback_request(components, incident_id=None):
    """{components: [...] in runbook order, incident_id, minted} or an error naming the input."""
    if isinstance(components, str):
        asked = [c.strip() for c in components.split(",") if c.strip()]
    elif isinstance(components, (list, tuple)):
        asked = [str(c).strip() for c in components]
    else:
        raise AnsibleFilterError("components must be a comma-separated list such as traffic,data; got %r. "
                                 "Nothing was changed." % (components,))
    unknown = [c for c in asked if c not in COMPONENTS]
    if unknown or not asked:
        raise AnsibleFilterError(
            "components=%s: %s. Use a comma-separated subset of %s, e.g. -e components=traffic,frontend. "
            "Nothing was changed." % (",".join(asked) or "(empty)",
                                      "unknown " + ", ".join(unknown) if unknown else "nothing selected",
                                      ",".join(COMPONENTS)))
    incident_id = "" if incident_id is None else str(incident_id).strip()
    minted = not incident_id
    if minted:
        incident_id = new_rollback_id()
    elif not ROLLBACK_ID_RE.match(incident_id):
        raise AnsibleFilterError(
            "incident_id=%r is not an incident id (rb-YYYYMMDDTHHMMSSZ-xxxxxx, as a run prints it at its "
            "start); leave it out to start a new incident. Nothing was changed." % incident_id)
    return {"components": [c for c in COMPONENTS if c in asked], "incident_id": incident_id, "minted": minted}


def rollback_who(variables_user, awx_job_id=None, awx_user=None):
    """'awx job 42 (alice)' when AWX runs this, else the controller user's name."""
    if awx_job_id:
        return "awx job %s%s" % (awx_job_id, " (%s)" % awx_user if awx_user else "")
    return str(variables_user or "unknown")


def _time(text):
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _timeline(marks, failure):
    """Steps from the marks [step, component, ended]: each starts when the one before ended.

    After a failure the last mark is the record written in `always`: that step is the one that
    failed (it ran from the last good mark until then).
    """
    steps = [{"step": name, "component": component or None, "started": before, "ended": ended, "status": "succeeded"}
             for (_n, _c, before), (name, component, ended) in zip(marks, marks[1:])]
    if failure and steps:
        steps[-1].update(step=failure.get("step") or "(unknown step)", status="failed", detail=failure.get("msg"))
    return steps


def _component(name, planned, marks, result, status):
    ends = [m[2] for m in marks if m[1] == name]
    comp = {"status": status, "planned": planned, "changed": bool(planned.get("todo")),
            "started": marks[1][2] if len(marks) > 1 else marks[0][2], "ended": ends[-1] if ends else None}
    if name == "traffic":
        comp["before"] = planned.get("from")
        comp["after"] = (result or {}).get("to") or (result or {}).get("mapping") or (
            planned.get("to") if status == "planned" else None)
    elif name == "frontend":
        comp["before"] = {"newest_job": planned.get("from_job")}
        job = (result or {}).get("job") or {}
        comp["after"] = {"job": job.get("job_id"), "rebuilds": planned.get("target_job"), "method": planned.get("method")}
    elif name == "infra":
        comp["before"] = {s["stack_name"]: s.get("status") for s in planned.get("stacks", [])}
        comp["after"] = (result or {}).get("stacks") or None
    elif name == "data":
        comp["before"] = {t["table"]: t.get("swap_targets") for t in planned.get("tables", [])}
        comp["after"] = [{"table": r.get("source_table"), "recovery_table": r.get("recovery_table"),
                          "status": r.get("status"), "swap": r.get("swap")} for r in (result or [])] or None
    return comp


def rollback_record(run, env, who, plan, marks, results, trigger=None, status="running", failure=None):
    """The incident record of a playbooks/rollback.yml run (normalised by incident_record)."""
    results = results or {}
    parts = plan.get("components", {})
    todo = plan.get("todo", [])
    wait = results.get("wait") or {}
    components = {}
    for name in run["components"]:
        planned = parts.get(name, {})
        if name not in todo:
            state = "nothing_to_do"
        elif status == "running":
            state = "running"
        elif failure:
            state = "failed" if not any(m[1] == name for m in marks) else "succeeded"
        else:
            state = "succeeded"
        result = {"traffic": results.get("traffic"), "frontend": results.get("frontend"),
                  "infra": {"stacks": wait.get("states", {}).get("stacks")}, "data": results.get("data")}.get(name)
        components[name] = _component(name, planned, marks, result, state)
    started = _time(marks[0][2])
    data = []
    for table in parts.get("data", {}).get("tables", []) if "data" in todo else []:
        point = table.get("restore_point")
        rpo = (started - _time(point)).total_seconds() if point and point != "latest" else None
        data.append({"table": table["table"], "restore_point": point, "requested": table.get("requested"),
                     "recovery_table": table.get("target_table"), "rpo_seconds": rpo})
    record = {
        "incident_id": run["incident_id"], "env": env, "who": who, "trigger": trigger or None,
        "started": marks[0][2], "status": status,
        "finished": marks[-1][2] if status in ("succeeded", "failed") else None,
        "plan": {"lines": plan.get("lines", []), "todo": todo,
                 "restore_points": {t["table"]: t.get("restore_point") for t in parts.get("data", {}).get("tables", [])}},
        "components": components,
        "timeline": _timeline(marks, failure),
        "data": data,
        "failures": [failure] if failure else [],
        "aws_calls": {"plan": plan.get("calls")},
    }
    return record


def procedure_id(given, name="rollback_id"):
    """The rollback id of a per-procedure run: `given` checked, or a new one."""
    given = str(given or "").strip()
    if given and not ROLLBACK_ID_RE.match(given):
        raise AnsibleFilterError("%s %r is not of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx: pass the id an earlier run "
                                 "printed, or leave it out for a new one. Nothing was changed." % (name, given))
    return given or new_rollback_id()


def _by_table(registered):
    """{source table: result} of a looped task's register (skipped items left out)."""
    return dict((r["item"]["table"], r) for r in (registered or {}).get("results", [])
                if isinstance(r, dict) and not r.get("skipped") and "item" in r)


def rebuild_branches(swapped):
    """The Amplify branches of every table's swap, once each; variables_changed if any swap changed them."""
    return merge_branches(branch for result in _by_table(swapped).values()
                          for branch in result.get("amplify_branches", []))


def data_results(restored, verified, swapped, rebuilds=None):
    """One entry per table, as the dynamodb_pitr_rollback role's result: restore, verification, swap."""
    verified, swapped = _by_table(verified), _by_table(swapped)
    entries = []
    for table, restore in _by_table(restored).items():
        swap = swapped.get(table)
        entries.append({
            "component": "data", "rollback_id": restore.get("rollback_id"), "source_table": table,
            "recovery_table": restore.get("target_table"), "restore_point": restore.get("restore_point"),
            "restore_date_time": restore.get("restore_date_time"), "status": restore.get("status"),
            "timings": restore.get("timings"), "reapplied": restore.get("reapplied"),
            "verification": verified.get(table, {}).get("checks", []),
            "swap": {"record": swap["record"], "swap_back_command": swap["swap_back_command"],
                     "targets": swap["targets"],
                     "amplify": [r for r in rebuilds or [] if any(
                         (b["app_id"], b["branch_name"]) == (r["app_id"], r["branch_name"])
                         for b in swap.get("amplify_branches", []))]} if swap else {},
        })
    return entries


class FilterModule:
    def filters(self):
        return {"rollback_request": rollback_request, "rollback_who": rollback_who,
                "rollback_record": rollback_record, "rebuild_branches": rebuild_branches, "procedure_id": procedure_id,
                "data_results": data_results}
