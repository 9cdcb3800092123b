# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for escalation and alarms: who is on hours now, and triggers as alarm options."""

from __future__ import annotations

import datetime as dt
import re

from ansible.errors import AnsibleFilterError

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python < 3.9 controllers are not supported by ansible-core 2.19 anyway
    ZoneInfo = None

from ansible_collections.propie.rollback.plugins.module_utils.triggers import ALARM_COMPARISONS, PERCENTILE_RE

SEVERITIES = ("info", "warning", "critical")
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")


def _minutes(text):
    match = _CLOCK_RE.match(text.strip().lower())
    if not match:
        raise AnsibleFilterError("bad time of day %r in contact hours (use 9am, 17:00, 5:30pm)" % text)
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half == "pm" and hour != 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    if hour > 24 or minute > 59:
        raise AnsibleFilterError("bad time of day %r in contact hours" % text)
    return hour * 60 + minute


def on_hours(hours, local_now):
    """Whether `hours` ("24/7", "9am-5pm", "Mon-Fri 09:00-17:00") covers local_now."""
    text = str(hours).strip().lower()
    if text in ("24/7", "always"):
        return True
    days = _DAYS[:]
    parts = text.split()
    if len(parts) == 2:
        first, last = (parts[0].split("-") + [None])[:2]
        if first not in _DAYS or (last and last not in _DAYS):
            raise AnsibleFilterError("bad day range %r in contact hours (use Mon-Fri)" % parts[0])
        start_day = _DAYS.index(first)
        end_day = _DAYS.index(last) if last else start_day
        days = [_DAYS[(start_day + i) % 7] for i in range((end_day - start_day) % 7 + 1)]
        text = parts[1]
    elif len(parts) != 1:
        raise AnsibleFilterError("bad contact hours %r (use 24/7, 9am-5pm or Mon-Fri 09:00-17:00)" % hours)
    if "-" not in text:
        raise AnsibleFilterError("bad contact hours %r (use 24/7, 9am-5pm or Mon-Fri 09:00-17:00)" % hours)
    start, end = (_minutes(t) for t in text.split("-", 1))
    now = local_now.hour * 60 + local_now.minute
    if _DAYS[local_now.weekday()] not in days:
        return False
    return start <= now < end if start <= end else (now >= start or now < end)


def oncall_contacts(contacts, severity, time_zone="UTC", now=None):
    """Contacts to escalate to now: those whose severities include `severity` and who are on hours.

    contacts: list of {role, name, contact, hours, severities}; now: ISO-8601 (tests) or None.
    """
    if severity not in SEVERITIES:
        raise AnsibleFilterError("severity must be one of %s, got %r" % (", ".join(SEVERITIES), severity))
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AnsibleFilterError("unknown time zone %r (use an IANA name such as Europe/Dublin)" % time_zone)
    moment = dt.datetime.fromisoformat(now.replace("Z", "+00:00")) if now else dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    local = moment.astimezone(zone)
    chosen = []
    for contact in contacts or []:
        if severity in (contact.get("severities") or SEVERITIES) and on_hours(contact.get("hours", "24/7"), local):
            chosen.append(contact)
    return chosen


def _dimensions(metric):
    return dict((k, str(v)) for k, v in sorted((metric.get("dimensions") or {}).items()))


def trigger_alarm(trigger, name_prefix, alarm_actions=None, ok_actions=None):
    """Options for amazon.aws.cloudwatch_metric_alarm that watch the same trigger in AWS."""
    window = trigger["window"]
    options = {
        "name": "%s%s" % (name_prefix, re.sub(r"[^A-Za-z0-9_.-]+", "-", trigger["name"]).strip("-")),
        "description": "propie.rollback trigger %r (action: %s)" % (trigger["name"], trigger["action"]),
        "comparison": ALARM_COMPARISONS[trigger.get("comparison", ">")],
        "threshold": float(trigger["threshold"]),
        "evaluation_periods": 1,
        "treat_missing_data": "missing",
        "alarm_actions": list(alarm_actions or []),
        "ok_actions": list(ok_actions or []),
    }
    if "metric" in trigger:
        metric = trigger["metric"]
        options.update(namespace=metric["namespace"], metric_name=metric["name"],
                       dimensions=_dimensions(metric), period=window)
        if PERCENTILE_RE.match(metric["statistic"]):
            options["extended_statistic"] = metric["statistic"]
        else:
            options["statistic"] = metric["statistic"]
        return options
    queries = []
    for mid, metric in trigger["metrics"].items():
        queries.append({
            "id": mid, "return_data": False,
            "metric_stat": {
                "metric": {"namespace": metric["namespace"], "metric_name": metric["name"],
                           "dimensions": [{"name": k, "value": v} for k, v in _dimensions(metric).items()]},
                "period": window, "stat": metric["statistic"],
            },
        })
    queries.append({"id": "decision", "expression": trigger["expression"], "label": trigger["name"],
                    "return_data": True})
    options["metrics"] = queries
    return options


class FilterModule(object):
    def filters(self):
        return {"oncall_contacts": oncall_contacts, "trigger_alarm": trigger_alarm}
