# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the DR drill (playbooks/dr_drill.yml).

- drill_request: check `-e drill_full=`, `-e drill_id=` and the env's tables before any AWS call
  (drill_full is refused for production, and for an env that needs confirmation without it);
  mint the drill id; name each table's scratch table;
- drill_verifications: what the rollback's role verifies on each scratch table (the env's own
  checks plus the drill's canary);
- drill_cleanup: what the cleanup deleted and exactly what it left behind, with the command
  that removes each leftover;
- drill_full_result: how the real rollback of drill_full ended (tasks/rollback_run.yml's facts);
- drill_outcome: the steps (pass/fail each), RTO, RPO and the metrics to publish;
- drill_report: the drill report (propie.rollback.drill_report's input), with the publishing step.

RTO is the time from the start of the scratch restores to verified scratch tables. RPO is how
long after its write the canary became restorable: at the first read that finds the table's
LatestRestorableDateTime at or after the canary's time, the window had passed the canary
(latest - canary) seconds earlier, so RPO = (read time - (latest - canary)) - canary =
read time - latest (dynamodb_canary returns it). The restore to the latest restorable time then
holds the canary, which the role's verification checks.
"""

from __future__ import annotations

import json
import shlex

from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.filter.environment import bool_input
from ansible_collections.propie.rollback.plugins.module_utils import drill as dr
from ansible_collections.propie.rollback.plugins.module_utils.rollback_id import new_rollback_id

# An env by this name is never rolled back for real by a drill, whatever the inventory says.
ALWAYS_REFUSED = ("production",)

# The drill's steps, in order: (key, what the report calls it).
STEPS = (
    ("canary", "write a canary item to each live table"),
    ("restorable", "wait until each canary is restorable"),
    ("restore", "restore each table to its scratch table"),
    ("verify", "finish, re-apply and verify each scratch table (dynamodb_pitr_rollback)"),
    ("plan", "plan the full rollback (read-only)"),
    ("cleanup", "delete the scratch tables and the canaries"),
    ("full", "roll the environment back for real (drill_full)"),
    ("publish", "publish RTO, RPO and the result to CloudWatch, with the overdue alarm"),
)
DRILL_BLOCK = ("canary", "restorable", "restore", "verify", "plan")
LABELS = dict(STEPS)
METRICS = {"passed": "DrillPassed", "rto": "DrillRTO", "rpo": "DrillRPO"}


def _bool(value, name):
    try:
        return bool_input(value, name)
    except AnsibleFilterError as e:
        raise AnsibleFilterError("%s. Nothing was called." % e)


def drill_request(env, full=False, drill_id="", tables=None, refused_envs=None, requires_confirmation=True,
                  confirm="", check_mode=False):
    """{drill_id, rollback_id, env, full, minted, tables: [{name, scratch_table, ...}]} or an error."""
    env = str(env)
    full = _bool(full, "drill_full")
    refused = sorted(set(ALWAYS_REFUSED) | set(str(e) for e in (refused_envs or [])))
    if full and env in refused:
        raise AnsibleFilterError(
            "drill_full=true is refused for %s: a full drill rolls the environment back for real (traffic, "
            "frontend, stacks, data). Drill %s without drill_full (it restores to scratch tables only and "
            "never touches its traffic), and run the full drill on a non-production env, e.g. "
            "-e env=staging -e drill_full=true. Nothing was called." % (env, env))
    if _bool(check_mode, "ansible_check_mode"):
        raise AnsibleFilterError(
            "A DR drill does not run under --check: it has to write its canary and restore it to prove anything. "
            "For the rollback's plan alone run playbooks/rollback.yml -e env=%s --check. Nothing was called." % env)
    confirm = "" if confirm is None else str(confirm)
    if full and _bool(requires_confirmation, "rollback_env_requires_confirmation") and confirm != env:
        raise AnsibleFilterError(
            "drill_full=true rolls %s back for real and %s needs confirmation%s: add -e confirm=%s. "
            "Nothing was called." % (env, env, " (confirm=%r does not match)" % confirm if confirm else "", env))
    if not isinstance(tables, (list, tuple)) or not tables:
        raise AnsibleFilterError(
            "rollback_dynamodb_tables of %s is empty: a drill restores the env's tables, so there is nothing "
            "to drill. List them in inventories/group_vars/%s.yml. Nothing was called." % (env, env))
    names = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict) or not table.get("name"):
            raise AnsibleFilterError("rollback_dynamodb_tables[%d] of %s has no name: %r. Nothing was called."
                                     % (index, env, table))
        names.append(str(table["name"]))
    drill_id = "" if drill_id is None else str(drill_id).strip()
    minted = not drill_id
    if minted:
        drill_id = dr.drill_id_from_rollback_id(new_rollback_id())
    try:
        rollback_id = dr.rollback_id_of(drill_id)
    except dr.DrillError as err:
        raise AnsibleFilterError("%s; leave it out to start a new drill. Nothing was called." % err)
    out = []
    for table, name in zip(tables, names):
        out.append({
            "name": name,
            "scratch_table": dr.scratch_table_name(name, drill_id),
            "verify_min_item_count": int(table.get("verify_min_item_count") or 0),
            "verify_canaries": list(table.get("verify_canaries") or []),
        })
    return {"drill_id": drill_id, "rollback_id": rollback_id, "env": env, "full": full, "minted": minted,
            "tables": out}


# -- registered results --------------------------------------------------------------------------


def _results(registered):
    """The per-item results of a looped task's register (none when it did not run)."""
    if not isinstance(registered, dict):
        return []
    return [r for r in registered.get("results", []) if isinstance(r, dict) and not r.get("skipped")]


def _ok_by_table(registered):
    """{table name: result} of a looped task over drill.tables, failed items left out."""
    return dict((r["item"]["name"], r) for r in _results(registered)
                if isinstance(r.get("item"), dict) and "name" in r["item"] and not r.get("failed"))


def drill_verifications(drill, canaries):
    """Per table: the role's verification - the env's canaries plus this drill's, the minimum count."""
    written = _ok_by_table(canaries)
    out = []
    for table in drill["tables"]:
        mine = written.get(table["name"], {}).get("canary")
        if not mine:
            raise AnsibleFilterError("no canary was written to %s, so its scratch table cannot be checked for it"
                                     % table["name"])
        out.append(dict(table, canaries=list(table["verify_canaries"]) + [mine]))
    return out


# -- cleanup -------------------------------------------------------------------------------------


def _typed(value):
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    return {"S": str(value)}


def _quote(words):
    return " ".join(shlex.quote(str(w)) for w in words)


def _msg(result):
    return str(result.get("msg") or "failed").strip()


def drill_cleanup(drill, scratch_deleted, canaries_deleted, region, rerun_command=""):
    """{ok, deleted: [...], left_behind: [{kind, what, table, error, command}], commands: [...], rerun}."""
    scratch = dict((r["item"]["name"], r) for r in _results(scratch_deleted) if isinstance(r.get("item"), dict))
    canary = dict((r["item"]["name"], r) for r in _results(canaries_deleted) if isinstance(r.get("item"), dict))
    deleted, left = [], []
    for table in drill["tables"]:
        name, target = table["name"], table["scratch_table"]
        result = scratch.get(name)
        if result is None:
            left.append({"kind": "scratch_table", "table": target, "what": "scratch table %s (not checked)" % target,
                         "error": "the cleanup did not run for it"})
        elif result.get("failed"):
            left.append({"kind": "scratch_table", "table": target, "what": "scratch table %s" % target,
                         "error": _msg(result)})
        elif result.get("changed"):
            deleted.append("scratch table %s" % target)
        result = canary.get(name)
        key = (result or {}).get("key")
        what = "canary item %s in table %s" % (json.dumps(key, sort_keys=True) if key else "of drill " + drill["drill_id"], name)
        if result is None:
            left.append({"kind": "canary", "table": name, "key": key, "what": what + " (not checked)",
                         "error": "the cleanup did not run for it"})
        elif result.get("failed"):
            left.append({"kind": "canary", "table": name, "key": key, "what": what, "error": _msg(result)})
        elif result.get("changed"):
            deleted.append(what)
    for item in left:
        if item["kind"] == "scratch_table":
            item["command"] = (_quote(["aws", "dynamodb", "update-table", "--region", region, "--table-name", item["table"],
                                       "--no-deletion-protection-enabled"]) + "; "
                               + _quote(["aws", "dynamodb", "delete-table", "--region", region, "--table-name", item["table"]]))
        elif item.get("key"):
            item["command"] = _quote([
                "aws", "dynamodb", "delete-item", "--region", region, "--table-name", item["table"],
                "--key", json.dumps(dict((k, _typed(v)) for k, v in sorted(item["key"].items())), sort_keys=True),
                "--condition-expression", "%s = :d" % dr.CANARY_DRILL_ATTR,
                "--expression-attribute-values", json.dumps({":d": {"S": drill["drill_id"]}})])
        else:
            item["command"] = rerun_command or "re-run the drill with -e drill_id=%s" % drill["drill_id"]
    return {"ok": not left, "deleted": deleted, "left_behind": left, "commands": [x["command"] for x in left],
            "rerun": rerun_command}


def cleanup_message(cleanup):
    """The sentence that says what the cleanup left behind and how to remove it ('' when nothing)."""
    if not cleanup or cleanup.get("ok"):
        return ""
    lines = ["The drill's cleanup left behind:"]
    for item in cleanup["left_behind"]:
        lines.append("- %s (%s). Remove it with: %s" % (item["what"], item["error"], item["command"]))
    if cleanup.get("rerun"):
        lines.append("Or run the drill again with its id (it deletes its scratch tables first, runs again and cleans "
                     "up): %s" % cleanup["rerun"])
    return "\n".join(lines)


# -- the full rollback -----------------------------------------------------------------------------


def drill_full_result(drill, run=None, recorded=None, plan=None, failure=None, marks=None, rollback_marks=None):
    """How drill_full's real rollback (tasks/rollback_run.yml) ended; None when it was not asked.

    `run`, `recorded`, `plan` and `rollback_marks` are the facts tasks/rollback_run.yml leaves
    (rollback_run, rollback_recorded, rollback_plan, rollback_marks); `failure` is what the drill's
    rescue kept. A rollback with nothing to do ends its play early, after its plan.
    """
    if not drill.get("full"):
        return None
    run = run if isinstance(run, dict) else {}
    recorded = recorded if isinstance(recorded, dict) and not recorded.get("skipped") else {}
    plan = plan if isinstance(plan, dict) and not plan.get("skipped") else {}
    out = {"incident_id": run.get("incident_id"), "record": recorded.get("paths") or {},
           "summary": recorded.get("summary") or "", "todo": plan.get("todo")}
    times = _times(marks)
    out["ended"] = times.get("full")
    if failure:
        out.update(status="failed", msg=str(failure.get("msg") or "failed"))
    elif recorded.get("record"):
        out["status"] = recorded["record"].get("status") or "succeeded"
    elif plan and isinstance(plan.get("todo"), list) and not plan["todo"]:
        out.update(status="nothing_to_do", msg="every component was already where the rollback would put it")
        if rollback_marks:
            out["ended"] = rollback_marks[-1][2]
    else:
        out.update(status="failed", msg="the rollback ended without writing its incident record")
    return out


def failure_message(result):
    """A failed task's message; for a loop, each failed item's; for an until loop, its last progress."""
    if not isinstance(result, dict):
        return str(result)
    parts = []
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            label = item.get("_ansible_item_label") or item.get("item")
            if isinstance(label, dict):
                label = label.get("name") or label
            parts.append("%s: %s" % (label, failure_message(dict(item, results=[]))))
    if parts:
        return "; ".join(parts)
    msg = str(result.get("msg") or "").strip()
    if result.get("attempts") and result.get("progress"):
        # A polled task: its last progress line says what it saw (rollback_status's own failure list
        # reaches Ansible as a bare failed flag, "Unknown error").
        last = "%s attempts, the last: %s" % (result["attempts"], result["progress"])
        return "%s (%s)" % (msg, last) if msg else last
    return msg or "failed"


def alarm_days(value):
    """The alarm's number of one-day periods: 1 to 7 (CloudWatch evaluates at most 7 days)."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 7 or str(value).strip() != str(days):
        raise AnsibleFilterError("rollback_drill_alarm_days must be a whole number of days from 1 to 7 (CloudWatch "
                                 "evaluates an alarm over at most 7 one-day periods), got %r" % (value,))
    return days


# -- the outcome and the report ---------------------------------------------------------------------


def _times(marks):
    return dict((m[0], m[1]) for m in marks or [] if isinstance(m, (list, tuple)) and len(m) >= 2)


def _tables(drill, canaries, restorable, restore_start):
    written, seen, started = _ok_by_table(canaries), _ok_by_table(restorable), _ok_by_table(restore_start)
    out = []
    for table in drill["tables"]:
        name = table["name"]
        canary, window, start = written.get(name, {}), seen.get(name, {}), started.get(name, {})
        entry = {"table": name, "scratch_table": table["scratch_table"], "canary_key": canary.get("key"),
                 "canary_written_at": canary.get("written_at"),
                 "window_latest": (window.get("restore_window") or {}).get("latest"),
                 "rpo_seconds": window.get("rpo_seconds") if window.get("restorable") else None,
                 "restore_point_reached": start.get("restore_date_time"),
                 "canary_covered": None, "canary_margin_s": None}
        if entry["canary_written_at"] and entry["restore_point_reached"]:
            margin = dr.seconds_between(entry["canary_written_at"], entry["restore_point_reached"])
            entry["canary_margin_s"] = margin
            entry["canary_covered"] = margin >= -1  # AWS restores to whole seconds
        out.append(entry)
    return out


def _step(key, started, ended, status, detail=None, component=None):
    return {"step": LABELS[key], "key": key, "component": component, "started": started, "ended": ended,
            "status": status, "detail": detail}


def drill_outcome(drill, marks, canaries=None, restorable=None, restore_start=None, plan=None, cleanup=None,
                  failure=None, full=None):
    """Steps (pass/fail each), per-table figures, RTO, RPO, status and the metrics to publish."""
    times = _times(marks)
    previous = times.get("start")
    steps, failed_key = [], None
    for key in DRILL_BLOCK:
        if key in times and failed_key is None:
            steps.append(_step(key, previous, times[key], "succeeded"))
            previous = times[key]
        elif failure and failed_key is None:
            failed_key = key
            ended = times.get("failed")
            detail = "%s: %s" % (failure.get("step") or "a task", failure.get("msg"))
            steps.append(_step(key, previous, ended, "failed", detail))
            previous = ended or previous
        else:
            steps.append(_step(key, None, None, "skipped", "not run: %s failed" % LABELS.get(failed_key, "an earlier step")))
    cleanup = cleanup or {"ok": False, "deleted": [], "left_behind": [{"what": "unknown", "error": "no cleanup ran"}]}
    steps.append(_step("cleanup", previous, times.get("cleanup"), "succeeded" if cleanup.get("ok") else "failed",
                       "; ".join(["deleted " + d for d in cleanup.get("deleted") or []]
                                 + ["LEFT BEHIND " + x["what"] for x in cleanup.get("left_behind") or []]) or "nothing to delete"))
    previous = times.get("cleanup") or previous
    if not drill.get("full"):
        steps.append(_step("full", None, None, "skipped", "not asked (drill_full=false)"))
    elif full is None or failed_key:
        steps.append(_step("full", None, None, "skipped", "not run: the drill failed before it"))
    else:
        status = "failed" if full.get("status") == "failed" else "succeeded"
        steps.append(_step("full", previous, full.get("ended") or times.get("full"), status,
                           "incident %s: %s%s" % (full.get("incident_id"), full.get("status"),
                                                  ": " + full["msg"] if full.get("msg") else "")))
        previous = full.get("ended") or times.get("full") or previous
    tables = _tables(drill, canaries, restorable, restore_start)
    # A mark is set only when its step succeeded: a verify mark means every scratch table was verified.
    rto = dr.seconds_between(times.get("restorable"), times.get("verify")) if "verify" in times else None
    rpos = [t["rpo_seconds"] for t in tables if t["rpo_seconds"] is not None]
    rpo = max(rpos) if rpos and len(rpos) == len(tables) else None
    failures = [{"step": LABELS[failed_key], "msg": "%s: %s" % (failure.get("step") or "a task", failure.get("msg"))}] \
        if failed_key else []
    if not cleanup.get("ok"):
        failures.append({"step": LABELS["cleanup"], "msg": cleanup_message(cleanup) or "the cleanup failed"})
    if drill.get("full") and full is not None and full.get("status") == "failed":
        failures.append({"step": LABELS["full"], "msg": full.get("msg") or "the full rollback failed"})
    status = "failed" if failures else "succeeded"
    metrics = [{"name": METRICS["passed"], "value": 1 if status == "succeeded" else 0, "unit": "Count"}]
    if rto is not None:
        metrics.append({"name": METRICS["rto"], "value": rto, "unit": "Seconds"})
    if rpo is not None:
        metrics.append({"name": METRICS["rpo"], "value": rpo, "unit": "Seconds"})
    plan = plan if isinstance(plan, dict) and not plan.get("skipped") and not plan.get("failed") else {}
    return {
        "drill_id": drill["drill_id"], "env": drill["env"], "full": bool(drill.get("full")),
        "started": times.get("start"), "status": status, "failed_step": LABELS.get(failed_key),
        "rto_seconds": rto, "rpo_seconds": rpo, "timeline": steps, "tables": tables,
        "plan": {"incident_id": drill["rollback_id"], "lines": plan.get("lines") or [], "todo": plan.get("todo")}
        if plan else {}, "full_rollback": full, "cleanup": cleanup, "failures": failures, "metrics": metrics,
        "published_from": previous,
    }


def drill_report(outcome, who=None, published=None, alarm=None, publish_failure=None, ended=None, namespace=None,
                 dimensions=None):
    """The drill report (drill_report's `report`), with the publishing step and final status."""
    report = {k: v for k, v in outcome.items() if k not in ("metrics", "published_from", "failed_step")}
    report["timeline"] = list(outcome["timeline"])
    report["failures"] = list(outcome["failures"])
    report["who"] = who or "unknown"
    if publish_failure:
        msg = "%s: %s" % (publish_failure.get("step") or "a task", publish_failure.get("msg"))
        report["timeline"].append(_step("publish", outcome["published_from"], ended, "failed", msg))
        report["failures"].append({"step": LABELS["publish"], "msg": msg})
    else:
        report["timeline"].append(_step("publish", outcome["published_from"], ended, "succeeded",
                                        ", ".join("%s=%s" % (m["name"], m["value"]) for m in outcome["metrics"])))
    alarm = alarm if isinstance(alarm, dict) and not alarm.get("skipped") else {}
    report["metrics"] = {
        "namespace": namespace, "dimensions": dimensions or {},
        "published": outcome["metrics"] if isinstance(published, dict) and not published.get("failed") and not publish_failure
        else [],
        "alarm": alarm.get("name"), "alarm_state": alarm.get("state_value"),
    }
    report["finished"] = ended
    report["status"] = "failed" if report["failures"] else "succeeded"
    return report


class FilterModule:
    def filters(self):
        return {"drill_request": drill_request, "drill_verifications": drill_verifications,
                "drill_cleanup": drill_cleanup, "drill_cleanup_message": cleanup_message,
                "drill_full_result": drill_full_result, "drill_outcome": drill_outcome,
                "drill_report": drill_report, "drill_failure_message": failure_message,
                "drill_alarm_days": alarm_days}
