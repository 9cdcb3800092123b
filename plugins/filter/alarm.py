# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the alarm listener (playbooks/alarm_event.yml, fed by the EDA rulebook).

- alarm_decision: what one CloudWatch alarm state change does for an env, judged against the
  env's own trigger table (with its overrides): roll back, alert and hold, or nothing; and the
  trigger as the incident record keeps it;
- alarm_record_name: the file name an alarm's state change is recorded under.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.module_utils.triggers import alarm_name

ROLLBACK = "rollback"
ALERT = "alert"
IGNORE = "ignore"
_COMPARISON_SIGNS = {
    "GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<=",
}


def _text(value):
    return "" if value is None else str(value)


def alarm_decision(alarm, triggers, prefix, routed=ALERT, confirmed=True):
    """{action, trigger, problem, summary, record} for one alarm event.

    action: rollback only when the alarm is in ALARM, names one of the env's `rollback` triggers,
    the rulebook routed it as a rollback too (`routed`) and the run may change the env
    (`confirmed`); alert (notify and hold for a person) when it names an `alert` trigger, or
    when anything disagrees: the safe side of every doubt; ignore for other states.
    record: the incident record's trigger (decision, alarm, reasons, values and the trigger row).
    """
    if not isinstance(alarm, dict) or not alarm.get("name"):
        raise AnsibleFilterError("alarm must be the listener's event alarm (a dict with name, state, reason, ...); "
                                 "got %r. Pass it as the rulebook does: -e @alarm.yml with alarm: {name: ..., state: "
                                 "ALARM, ...}. Nothing was changed." % (alarm,))
    if routed not in (ROLLBACK, ALERT):
        raise AnsibleFilterError("alarm_action must be rollback or alert, not %r: -e alarm_action=rollback or "
                                 "-e alarm_action=alert, as the rulebook routes the alarm. Nothing was changed."
                                 % (routed,))
    name, state = _text(alarm["name"]), _text(alarm.get("state"))
    row = next((t for t in triggers or [] if alarm_name(t, prefix) == name), None)
    problem = ""
    if state != "ALARM":
        action = IGNORE
    elif row is None:
        action = ALERT
        problem = ("alarm %s is not one of this env's triggers (alarm names %s); the rulebook and the inventory "
                   "disagree: regenerate the rulebook (tools/eda_rulebook.py)"
                   % (name, ", ".join(alarm_name(t, prefix) for t in triggers or []) or "none"))
    elif row.get("action") != routed:
        action = ALERT
        problem = ("the rulebook routed %s as %s, this env's trigger table says %s: holding for a person; "
                   "regenerate the rulebook (tools/eda_rulebook.py)" % (name, routed, row.get("action")))
    elif routed == ROLLBACK and not confirmed:
        action = ALERT
        problem = ("this env needs confirmation and the listener was not started with confirm=<env>: "
                   "holding for a person, who can run playbooks/rollback.yml with -e confirm")
    else:
        action = routed
    values = alarm.get("values") or []
    value = alarm.get("value", values[0] if values else None)
    trigger_name = row.get("name") if row else name
    reason = _text(alarm.get("reason")) or "no reason given"
    summary = "%s %s -> %s: %s" % (name, _text(alarm.get("old_state")) or "?", state, reason)
    record = {
        "decision": action,
        "source": "CloudWatch alarm %s (EDA listener)" % name,
        "alarm": name,
        "alarm_state": state,
        "alarm_previous_state": alarm.get("old_state"),
        "state_changed": alarm.get("time"),
        "reasons": ["%s: %s" % (trigger_name, reason)] + ([problem] if problem else []),
        "values": values,
        "triggers": [{
            "name": trigger_name,
            "action": row.get("action") if row else None,
            "state": "BREACHING" if state == "ALARM" else state,
            "value": value,
            "comparison": row.get("comparison", ">") if row else _COMPARISON_SIGNS.get(_text(alarm.get("comparison"))),
            "threshold": float(row["threshold"]) if row and row.get("threshold") is not None else alarm.get("threshold"),
            "window": row.get("window") if row else (alarm.get("metric") or {}).get("period"),
        }],
    }
    return {"action": action, "trigger": row.get("name") if row else None, "problem": problem,
            "summary": summary, "record": record}


def alarm_record_name(alarm):
    """'<state change time>-<alarm name>-<state>.json', safe as a file name."""
    if not isinstance(alarm, dict):
        raise AnsibleFilterError("alarm must be the listener's event alarm, got %r" % (alarm,))
    parts = [_text(alarm.get("time")) or "unknown-time", _text(alarm.get("name")), _text(alarm.get("state"))]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts)).strip("-") + ".json"


class FilterModule(object):
    def filters(self):
        return {"alarm_decision": alarm_decision, "alarm_record_name": alarm_record_name}
