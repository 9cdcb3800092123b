# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for escalation and traffic: who is on hours now, trigger checks, prefix mappings."""

from __future__ import annotations

import datetime as dt
import re

from ansible.errors import AnsibleFilterError

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python < 3.9 controllers are not supported by ansible-core 2.19 anyway
    ZoneInfo = None

from ansible_collections.propie.rollback.plugins.module_utils.triggers import validate_triggers

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


def point_prefixes(prefixes, branch_name):
    """amplify_domain sub_domains that point every prefix at one branch."""
    return [{"prefix": prefix, "branch_name": branch_name} for prefix in prefixes]


class FilterModule(object):
    def filters(self):
        return {
            "oncall_contacts": oncall_contacts,
            "trigger_problems": validate_triggers,
            "point_prefixes": point_prefixes,
        }
