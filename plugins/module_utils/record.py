# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident record of a rollback run: normalise, redact, render (pure Python, no AWS).

- normalise_record(): validate the input record, normalise times to UTC ``...Z`` text, derive
  what is missing (timings, failures, the runbook's post-rollback follow-ups with owners taken
  from the contacts table, never their contact details); unknown keys are kept.
- redact(): mask secret-looking keys and AWS-credential-looking values anywhere in a value.
- render_json() / render_markdown() / render_html(): the three files; deterministic, so a
  re-run with the same record produces the same bytes.

The HTML page is self-contained: inline CSS and JS, a Content-Security-Policy that forbids
every network load, the record embedded as JSON with ``<``, ``>`` and ``&`` escaped, and a
script that draws the timeline with DOM text nodes only (never markup from the record).
"""

from __future__ import annotations

import copy
import datetime
import html
import json
import re

RECORD_FORMAT = 1
MASK = "********"
STATUSES = ("succeeded", "failed", "running", "planned")

# -- redaction ---------------------------------------------------------------------------------

# Key names that look secret, compared case-insensitively as substrings with "-", "_", " " and
# "." removed (so AccessKeyId, aws_access_key_id and X-Amz-Security-Token all match).
SECRET_KEY_PARTS = (
    "password", "passwd", "secret", "token", "access_key", "secret_key", "session_token",
    "authorization", "credential", "private_key",
)
_SECRET_KEY_SQUASHED = tuple(p.replace("_", "") for p in SECRET_KEY_PARTS)
_SQUASH_RE = re.compile(r"[-_ .]")

# AWS access key ids (long-term AKIA, temporary ASIA).
_ACCESS_KEY_ID_RE = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# A run of exactly 40 base64 characters (secret access keys) or of 100+ (session tokens).
_SECRET_KEY_RE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SESSION_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])")
# "password=..." / "token: ..." inside free text.
_INLINE_SECRET_RE = re.compile(
    r"(?i)\b([A-Za-z0-9_-]*(?:%s)[A-Za-z0-9_-]*)(\"?'?\s*[:=]\s*\"?'?)([^\s\"',;&]+)"
    % "|".join(re.escape(p) for p in SECRET_KEY_PARTS + ("accesskey", "secretkey", "sessiontoken")))


def is_secret_key(name) -> bool:
    """Whether a mapping key's name looks like it holds a secret."""
    squashed = _SQUASH_RE.sub("", str(name).lower())
    return any(part in squashed for part in _SECRET_KEY_SQUASHED)


def _random_looking(text: str) -> bool:
    """Mixed case plus a digit, and not plain hex (a git commit id is 40 hex characters)."""
    return (any(c.isupper() for c in text) and any(c.islower() for c in text)
            and any(c.isdigit() for c in text) and not re.match(r"^[0-9a-fA-F]+$", text))


def redact_text(text: str, found=None) -> str:
    """Mask AWS access key ids, secret keys, session tokens and ``secret=value`` pairs."""

    def keep(value):
        if found is not None:
            found.add(value)
        return MASK

    def whole(match):
        return keep(match.group(0)) if _random_looking(match.group(0)) else match.group(0)

    def inline(match):
        if match.group(3) == MASK:
            return match.group(0)
        return match.group(1) + match.group(2) + keep(match.group(3))

    text = _ACCESS_KEY_ID_RE.sub(lambda m: keep(m.group(0)), text)
    text = _SESSION_TOKEN_RE.sub(whole, text)
    text = _SECRET_KEY_RE.sub(whole, text)
    return _INLINE_SECRET_RE.sub(inline, text)


def redact(value, found=None):
    """A copy of `value` with secrets masked as ``********``, at any depth.

    The value of a key whose name looks secret (see SECRET_KEY_PARTS) is replaced whole
    (null stays null: there is nothing to hide); strings elsewhere are scanned for AWS key
    ids, secret keys and session tokens. The masked strings are added to `found` (a set)
    when given, so that a caller can keep them out of its own output too.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if is_secret_key(key) and item is not None:
                _collect_strings(item, found)
                out[key] = MASK
            else:
                out[key] = redact(item, found)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, found) for item in value]
    if isinstance(value, str):
        return redact_text(value, found)
    return value


def _collect_strings(value, found):
    if found is None:
        return
    if isinstance(value, dict):
        for item in value.values():
            _collect_strings(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_strings(item, found)
    elif isinstance(value, str) and value and value != MASK:
        found.add(value)


# -- times -------------------------------------------------------------------------------------

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$")


class RecordError(ValueError):
    """The record cannot be normalised (the message says which field and why)."""


def parse_time(value, field="time"):
    """An ISO 8601 text (or epoch seconds, or a datetime) as an aware UTC datetime; None stays None.

    Naive times are taken as UTC. Raises RecordError for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, bool):
        raise RecordError("%s: %r is not an ISO 8601 time" % (field, value))
    elif isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    else:
        match = _ISO_RE.match(str(value).strip())
        if not match:
            raise RecordError("%s: %r is not an ISO 8601 time (e.g. 2026-11-30T03:04:05Z)" % (field, value))
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            parsed = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                       int(second or 0), micro)
        except ValueError as err:
            raise RecordError("%s: %r is not a valid time: %s" % (field, value, err))
        if zone and zone not in ("Z", "z"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            parsed = parsed.replace(tzinfo=datetime.timezone(sign * offset))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def format_time(value) -> str:
    """UTC ISO 8601 with a ``Z``: 2026-11-30T03:04:05Z (microseconds only when non-zero)."""
    if value is None:
        return None
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += (".%06d" % value.microsecond).rstrip("0")
    return text + "Z"


def _norm_time(value, field):
    return format_time(parse_time(value, field))


def _seconds(start, end):
    if start is None or end is None:
        return None
    return _number((parse_time(end) - parse_time(start)).total_seconds())


def _number(value):
    """Whole floats as ints (so 95.0 is written 95)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- follow-ups --------------------------------------------------------------------------------

# The runbook's "Post-Rollback Actions", in its order.
POST_ROLLBACK_ACTIONS = (
    ("document", "Document the incident: record what happened and why the rollback was needed"),
    ("root_cause", "Analyse the root cause: investigate what caused the issue"),
    ("fix", "Fix the issues: address the root cause in the development environment"),
    ("tests", "Improve tests: add tests to prevent similar issues"),
    ("monitoring", "Update monitoring: adjust it if the issue was not caught early enough"),
    ("procedure", "Update the rollback procedure: close any gaps found in the rollback process"),
)
DEFAULT_FOLLOW_UP_OWNERS = {
    "document": "DevOps Lead",
    "root_cause": "Backend Lead",
    "fix": "Backend Lead",
    "tests": "Frontend Lead",
    "monitoring": "DevOps Lead",
    "procedure": "DevOps Lead",
}
FOLLOW_UP_STATUSES = ("open", "done")


def _owner_of(role, contacts):
    """{role, name} of the contact with this role, else of the first contact; never contact details."""
    wanted = (role or "").strip().lower()
    chosen = next((c for c in contacts if str(c.get("role") or "").strip().lower() == wanted), None)
    fallback = chosen is None
    if chosen is None and contacts:
        chosen = contacts[0]
    if chosen is None:
        return {"role": role, "name": None}, False
    return {"role": chosen.get("role"), "name": chosen.get("name")}, fallback and bool(role)


def follow_up_owner_roles(overrides=None):
    """DEFAULT_FOLLOW_UP_OWNERS with `overrides` merged in; unknown action keys are an error."""
    roles = dict(DEFAULT_FOLLOW_UP_OWNERS)
    unknown = sorted(set(overrides or {}) - set(roles))
    if unknown:
        raise RecordError("follow_up_owners: unknown action(s) %s; known: %s"
                          % (", ".join(unknown), ", ".join(k for k, dummy in POST_ROLLBACK_ACTIONS)))
    roles.update({k: v for k, v in (overrides or {}).items() if v})
    return roles


def generate_follow_ups(contacts=None, owners=None):
    """The runbook's six post-rollback actions; "document" is done (by this record), the rest open."""
    contacts = list(contacts or [])
    roles = follow_up_owner_roles(owners)
    items = []
    for key, action in POST_ROLLBACK_ACTIONS:
        owner, fallback = _owner_of(roles[key], contacts)
        item = {
            "id": key,
            "action": action,
            "status": "done" if key == "document" else "open",
            "owner": owner,
        }
        if key == "document":
            item["note"] = "done by this incident record"
        if fallback:
            item["requested_role"] = roles[key]
        items.append(item)
    return items


def _norm_follow_up(item, index, contacts):
    where = "follow_ups[%d]" % index
    if isinstance(item, str):
        item = {"action": item}
    if not isinstance(item, dict):
        raise RecordError("%s must be a dict or a text, not %s" % (where, type(item).__name__))
    out = dict(item)
    action = out.pop("title", None) if "action" not in out else out.get("action")
    if not action:
        raise RecordError("%s has no action" % where)
    out["action"] = str(action)
    status = str(out.get("status") or "open").lower()
    if status in ("closed", "complete", "completed"):
        status = "done"
    if status not in FOLLOW_UP_STATUSES:
        raise RecordError("%s: status must be one of %s, not %r" % (where, ", ".join(FOLLOW_UP_STATUSES), status))
    out["status"] = status
    owner = out.get("owner")
    if isinstance(owner, dict):
        # Only who, never how to reach them.
        out["owner"] = {"role": owner.get("role"), "name": owner.get("name")}
    elif owner:
        text = str(owner)
        match = next((c for c in contacts if str(c.get("role") or "").lower() == text.lower()), None)
        out["owner"] = ({"role": match.get("role"), "name": match.get("name")} if match
                        else {"role": None, "name": text})
    else:
        out["owner"] = None
    return out


# -- normalisation -----------------------------------------------------------------------------

_INCIDENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _need_dict(value, where):
    if not isinstance(value, dict):
        raise RecordError("%s must be a dict, not %s" % (where, type(value).__name__))
    return dict(value)


def _need_list(value, where):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise RecordError("%s must be a list, not %s" % (where, type(value).__name__))
    return list(value)


def _lower(value, default):
    return str(value).strip().lower() if value not in (None, "") else default


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def _norm_component(name, value):
    where = "components.%s" % name
    comp = _need_dict(value if value is not None else {}, where)
    comp.pop("name", None)
    comp["status"] = _lower(comp.get("status"), "unknown")
    comp["changed"] = _bool(comp.get("changed", False))
    comp.setdefault("before", None)
    comp.setdefault("after", None)
    comp["started"] = _norm_time(comp.get("started"), where + ".started")
    comp["ended"] = _norm_time(comp.get("ended"), where + ".ended")
    comp["duration_s"] = _seconds(comp["started"], comp["ended"])
    return comp


def _norm_step(value, index):
    where = "timeline[%d]" % index
    step = _need_dict(value, where)
    if step.get("step") in (None, ""):
        raise RecordError("%s has no step name" % where)
    step["step"] = str(step["step"])
    step["component"] = None if step.get("component") in (None, "") else str(step["component"])
    step["status"] = _lower(step.get("status"), "unknown")
    step["started"] = _norm_time(step.get("started"), where + ".started")
    step["ended"] = _norm_time(step.get("ended"), where + ".ended")
    if step["started"] and step["ended"] and parse_time(step["ended"]) < parse_time(step["started"]):
        raise RecordError("%s (%s) ends before it starts" % (where, step["step"]))
    step.setdefault("detail", None)
    step["duration_s"] = _seconds(step["started"], step["ended"])
    return step


def _norm_data(value, index):
    where = "data[%d]" % index
    entry = _need_dict(value, where)
    if not entry.get("table"):
        raise RecordError("%s has no table" % where)
    try:
        entry["restore_point"] = _norm_time(entry.get("restore_point"), where + ".restore_point")
    except RecordError:
        pass  # kept as given: "latest" and the like
    entry.setdefault("recovery_table", None)
    rpo = entry.get("rpo_seconds")
    if rpo not in (None, ""):
        try:
            entry["rpo_seconds"] = _number(float(rpo))
        except (TypeError, ValueError):
            raise RecordError("%s.rpo_seconds must be a number, not %r" % (where, rpo))
    else:
        entry["rpo_seconds"] = None
    return entry


def _norm_failure(value, index):
    if isinstance(value, str):
        return {"step": None, "msg": value}
    failure = _need_dict(value, "failures[%d]" % index)
    failure.setdefault("step", None)
    failure["msg"] = "" if failure.get("msg") is None else str(failure["msg"])
    return failure


def _traffic_restored_at(components, timeline):
    traffic = components.get("traffic")
    if traffic and traffic.get("status") not in ("failed", "planned", "running") and traffic.get("ended"):
        return traffic["ended"]
    ends = [s["ended"] for s in timeline
            if s.get("component") == "traffic" and s.get("status") == "succeeded" and s.get("ended")]
    return max(ends, key=parse_time) if ends else None


def normalise_record(record, contacts=None, follow_up_owners=None):
    """The normalised record (a new dict; the input is not changed). Raises RecordError.

    Not redacted: call redact() on the result (build_record() does both).
    """
    rec = copy.deepcopy(_need_dict(record, "record"))
    contacts = [c for c in (contacts or []) if isinstance(c, dict)]

    incident_id = rec.get("incident_id")
    if not incident_id or not _INCIDENT_ID_RE.match(str(incident_id)):
        raise RecordError("record.incident_id %r must be 1-128 letters, digits, '.', '_' or '-' "
                          "(it names the files), starting with a letter or digit" % (incident_id,))
    rec["incident_id"] = str(incident_id)
    if not rec.get("env"):
        raise RecordError("record.env is required")
    rec["env"] = str(rec["env"])
    who = rec.get("who")
    rec["who"] = who if isinstance(who, dict) else (str(who) if who not in (None, "") else "unknown")
    trigger = rec.get("trigger")
    if trigger is not None and not isinstance(trigger, dict):
        raise RecordError("record.trigger must be a dict or null, not %s" % type(trigger).__name__)
    rec["trigger"] = trigger

    components = rec.get("components") or {}
    if isinstance(components, (list, tuple)):
        listed = {}
        for index, comp in enumerate(components):
            comp = _need_dict(comp, "components[%d]" % index)
            if not comp.get("name"):
                raise RecordError("components[%d] has no name" % index)
            listed[str(comp["name"])] = comp
        components = listed
    components = _need_dict(components, "record.components")
    rec["components"] = {str(name): _norm_component(name, comp) for name, comp in components.items()}

    timeline = [_norm_step(s, i) for i, s in enumerate(_need_list(rec.get("timeline"), "record.timeline"))]
    # Chronological, steps without a start last; equal starts keep their order.
    timeline.sort(key=lambda s: (s["started"] is None, parse_time(s["started"]) or _EPOCH))
    rec["timeline"] = timeline
    rec["data"] = [_norm_data(d, i) for i, d in enumerate(_need_list(rec.get("data"), "record.data"))]

    starts = [s["started"] for s in timeline if s["started"]]
    starts += [c["started"] for c in rec["components"].values() if c["started"]]
    ends = [s["ended"] for s in timeline if s["ended"]]
    ends += [c["ended"] for c in rec["components"].values() if c["ended"]]
    rec["started"] = _norm_time(rec.get("started"), "record.started") or (min(starts, key=parse_time) if starts else None)
    rec["finished"] = _norm_time(rec.get("finished"), "record.finished")

    if "failures" in rec and rec["failures"] is not None:
        rec["failures"] = [_norm_failure(f, i) for i, f in enumerate(_need_list(rec["failures"], "record.failures"))]
    else:
        rec["failures"] = [{"step": s["step"], "msg": str(s["detail"] or "failed")}
                           for s in timeline if s["status"] == "failed"]

    status = _lower(rec.get("status"), None)
    if status is None:
        status = "failed" if rec["failures"] else ("succeeded" if rec["finished"] else "running")
    if status not in STATUSES:
        raise RecordError("record.status must be one of %s, not %r" % (", ".join(STATUSES), status))
    rec["status"] = status
    if rec["finished"] is None and status in ("succeeded", "failed") and ends:
        rec["finished"] = max(ends, key=parse_time)

    for key in ("time_to_traffic_restored_s", "time_to_all_done_s"):
        if rec.get(key) not in (None, ""):
            try:
                rec[key] = _number(float(rec[key]))
            except (TypeError, ValueError):
                raise RecordError("record.%s must be a number of seconds, not %r" % (key, rec[key]))
        else:
            rec[key] = None
    if rec["time_to_traffic_restored_s"] is None:
        rec["time_to_traffic_restored_s"] = _seconds(rec["started"], _traffic_restored_at(rec["components"], timeline))
    if rec["time_to_all_done_s"] is None and status in ("succeeded", "failed"):
        rec["time_to_all_done_s"] = _seconds(rec["started"], rec["finished"])

    given = _need_list(rec.get("follow_ups"), "record.follow_ups")
    if given:
        rec["follow_ups"] = [_norm_follow_up(f, i, contacts) for i, f in enumerate(given)]
    else:
        rec["follow_ups"] = generate_follow_ups(contacts, follow_up_owners)
    rec["record_format"] = RECORD_FORMAT
    return rec


def build_record(record, contacts=None, follow_up_owners=None, found=None):
    """normalise_record() then redact(): the record that is written and returned."""
    return redact(normalise_record(record, contacts, follow_up_owners), found)


# -- text helpers ------------------------------------------------------------------------------


def format_seconds(value) -> str:
    """95 -> "95s", 1840 -> "1840s (30m40s)"; None -> "n/a"."""
    if value is None:
        return "n/a"
    value = _number(round(float(value), 1))
    text = "%ss" % value
    if value >= 60:
        minutes, seconds = divmod(int(round(value)), 60)
        hours, minutes = divmod(minutes, 60)
        text += " (%s)" % ("%dh%02dm%02ds" % (hours, minutes, seconds) if hours else "%dm%02ds" % (minutes, seconds))
    return text


def _compact(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
    return str(value)


def who_text(who) -> str:
    if isinstance(who, dict):
        return ", ".join("%s: %s" % (k, _compact(v)) for k, v in sorted(who.items()) if v not in (None, ""))
    return str(who)


def trigger_text(trigger) -> str:
    """One line about what started the rollback."""
    if not trigger:
        return "manual (no watcher decision)"
    parts = []
    if trigger.get("decision"):
        parts.append("watcher decision %s" % trigger["decision"])
    reasons = trigger.get("reasons")
    if isinstance(reasons, (list, tuple)) and reasons:
        parts.append("; ".join(str(r) for r in reasons))
    elif trigger.get("reason"):
        parts.append(str(trigger["reason"]))
    return ": ".join(parts) if parts else _compact(trigger)


def open_follow_ups(record) -> int:
    return sum(1 for f in record.get("follow_ups") or [] if f.get("status") != "done")


def summary_line(record) -> str:
    return "%s %s: %s; traffic restored in %s; all done in %s; %d follow-ups open" % (
        record["incident_id"], record["env"], record["status"],
        _short_seconds(record.get("time_to_traffic_restored_s")),
        _short_seconds(record.get("time_to_all_done_s")), open_follow_ups(record))


def _short_seconds(value):
    return "n/a" if value is None else "%ss" % _number(round(float(value), 1))


def owner_text(owner) -> str:
    if not owner:
        return "unassigned"
    role, name = owner.get("role"), owner.get("name")
    if role and name:
        return "%s (%s)" % (role, name)
    return str(role or name or "unassigned")


def _offset(record, value):
    return _seconds(record.get("started"), value) if value else None


# Status -> colour class; the HTML's CSS and its script use the same table.
STATUS_CLASSES = {
    "succeeded": "succeeded", "success": "succeeded", "ok": "succeeded", "done": "succeeded",
    "changed": "succeeded", "unchanged": "succeeded", "complete": "succeeded", "completed": "succeeded",
    "failed": "failed", "error": "failed", "timeout": "failed", "timed_out": "failed",
    "running": "running", "in_progress": "running", "started": "running",
    "planned": "planned", "pending": "planned", "skipped": "skipped", "not_run": "skipped",
}
STATUS_COLOURS = {
    "succeeded": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
    "planned": "#9e9e9e", "skipped": "#bdbdbd", "other": "#f9a825",
}


def status_class(status) -> str:
    return STATUS_CLASSES.get(str(status or "").lower(), "other")


def _field_rows(before, after):
    """(field, from, to) rows: one per key when both sides are dicts, else one "state" row."""
    if isinstance(before, dict) or isinstance(after, dict):
        before_d = before if isinstance(before, dict) else {}
        after_d = after if isinstance(after, dict) else {}
        if (before is None or isinstance(before, dict)) and (after is None or isinstance(after, dict)):
            keys = sorted(set(before_d) | set(after_d), key=str)
            return [(str(k) if k != "" else "(empty)", before_d.get(k), after_d.get(k)) for k in keys] or [("state", None, None)]
    return [("state", before, after)]


_COMPONENT_KEYS = ("status", "changed", "before", "after", "started", "ended", "duration_s")
_STEP_KEYS = ("step", "component", "started", "ended", "status", "detail", "duration_s")
_DATA_KEYS = ("table", "restore_point", "recovery_table", "rpo_seconds")
_TRIGGER_ROW_KEYS = ("name", "action", "state", "value", "comparison", "threshold", "window")


def _extras(item, known):
    return [(k, item[k]) for k in sorted(item, key=str) if k not in known and item[k] not in (None, "", [], {})]


# -- Markdown ----------------------------------------------------------------------------------


def md_escape(value) -> str:
    """Text safe inside a Markdown table cell: no HTML, no cell breaks, no code spans."""
    text = _compact(value)
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|").replace("`", "\\`")
    return re.sub(r"\s*[\r\n]+\s*", " ", text)


def _md_table(headers, rows):
    lines = ["| %s |" % " | ".join(md_escape(h) for h in headers),
             "|%s|" % "|".join("---" for dummy in headers)]
    lines += ["| %s |" % " | ".join(md_escape(c) for c in row) for row in rows]
    return lines


def render_markdown(record) -> str:
    rec = record
    out = ["# Incident %s: %s %s" % (md_escape(rec["incident_id"]), md_escape(rec["env"]), md_escape(rec["status"].upper())), ""]
    out += [md_escape(summary_line(rec)), ""]
    out += _md_table(("Field", "Value"), [
        ("Incident", rec["incident_id"]),
        ("Environment", rec["env"]),
        ("Status", rec["status"]),
        ("Who", who_text(rec["who"])),
        ("Trigger", trigger_text(rec.get("trigger"))),
        ("Started", rec.get("started")),
        ("Finished", rec.get("finished") or "not finished"),
        ("Traffic restored in", format_seconds(rec.get("time_to_traffic_restored_s"))),
        ("All done in", format_seconds(rec.get("time_to_all_done_s"))),
    ])
    trigger = rec.get("trigger")
    if trigger:
        out += ["", "## Trigger", ""]
        rows = trigger.get("triggers")
        scalars = [(k, v) for k, v in sorted(trigger.items()) if k != "triggers"]
        out += _md_table(("Field", "Value"), scalars)
        if isinstance(rows, list) and rows:
            out += [""] + _md_table(("Trigger", "Action", "State", "Value", "Comparison", "Threshold", "Window (s)"),
                                    [[r.get(k) for k in _TRIGGER_ROW_KEYS] if isinstance(r, dict) else [r] + [""] * 6
                                     for r in rows])

    out += ["", "## Components", ""]
    if not rec["components"]:
        out.append("No components recorded.")
    for name in sorted(rec["components"]):
        comp = rec["components"][name]
        out += ["### %s: %s%s" % (md_escape(name), md_escape(comp["status"]), " (changed)" if comp["changed"] else ""), ""]
        out += _md_table(("Field", "From", "To"), _field_rows(comp.get("before"), comp.get("after")))
        timing = "Started %s, ended %s, took %s." % (comp.get("started") or "n/a", comp.get("ended") or "n/a",
                                                     format_seconds(comp.get("duration_s")))
        out += ["", md_escape(timing)]
        extras = _extras(comp, _COMPONENT_KEYS)
        if extras:
            out += [""] + ["- %s: %s" % (md_escape(k), md_escape(v)) for k, v in extras]
        out.append("")

    out += ["## Timeline", ""]
    if rec["timeline"]:
        out += _md_table(
            ("#", "Step", "Component", "Start", "End", "Duration", "Status", "Detail"),
            [(i + 1, s["step"], s.get("component"), _plus(_offset(rec, s["started"])), _plus(_offset(rec, s["ended"])),
              format_seconds(s.get("duration_s")) if s.get("duration_s") is not None else "",
              s["status"], s.get("detail")) for i, s in enumerate(rec["timeline"])])
        out += ["", "Start and end are seconds after the incident start (%s)." % md_escape(rec.get("started") or "n/a")]
    else:
        out.append("No timeline steps recorded.")

    out += ["", "## Data", ""]
    if rec["data"]:
        out += _md_table(("Table", "Restore point", "Recovery table", "RPO", "Other"),
                         [(d["table"], d.get("restore_point"), d.get("recovery_table"),
                           format_seconds(d.get("rpo_seconds")) if d.get("rpo_seconds") is not None else "n/a",
                           "; ".join("%s: %s" % (k, _compact(v)) for k, v in _extras(d, _DATA_KEYS)))
                          for d in rec["data"]])
    else:
        out.append("No table was restored.")

    out += ["", "## Failures", ""]
    if rec["failures"]:
        out += ["- **%s**: %s" % (md_escape(f.get("step") or "run"), md_escape(f.get("msg"))) for f in rec["failures"]]
    else:
        out.append("None.")

    out += ["", "## Follow-ups", ""]
    for item in rec["follow_ups"]:
        line = "- [%s] %s; owner: %s" % ("x" if item.get("status") == "done" else " ", md_escape(item.get("action")),
                                         md_escape(owner_text(item.get("owner"))))
        if item.get("note"):
            line += " (%s)" % md_escape(item["note"])
        out.append(line)
    if not rec["follow_ups"]:
        out.append("None.")
    return "\n".join(out).rstrip() + "\n"


def _plus(value):
    return "" if value is None else "+%ss" % value


# -- JSON --------------------------------------------------------------------------------------


def render_json(record) -> str:
    return json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def script_json(value) -> str:
    """JSON that is safe inside <script>: no "<", ">" or "&" (so no "</script>", no "<!--")."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# -- HTML --------------------------------------------------------------------------------------


def h(value) -> str:
    return html.escape(_compact(value), quote=True)


# Nothing may be loaded: no network, no frames, no forms; only the inline style and script.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_CSS = """
:root { --ok: %(succeeded)s; --bad: %(failed)s; --run: %(running)s; --plan: %(planned)s; --skip: %(skipped)s; --other: %(other)s; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 16px 24px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
main { padding: 8px 24px 32px; max-width: 1400px; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%%; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #eaeef2; padding: 4px 8px; }
th { background: #f6f8fa; font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 12px; }
.s-succeeded { background: var(--ok); } .s-failed { background: var(--bad); } .s-running { background: var(--run); }
.s-planned { background: var(--plan); } .s-skipped { background: var(--skip); color: #1f2328; } .s-other { background: var(--other); color: #1f2328; }
#timeline { position: relative; margin-bottom: 12px; }
#timeline .axis { position: relative; height: 20px; margin-left: 260px; border-bottom: 1px solid #8c959f; }
#timeline .tick { position: absolute; top: 0; font-size: 11px; color: #57606a; transform: translateX(-50%%); white-space: nowrap; }
#timeline .row { display: flex; align-items: center; height: 30px; border-bottom: 1px solid #f0f2f4; }
#timeline .label { width: 260px; flex: none; padding-right: 10px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#timeline .label .comp { color: #57606a; font-size: 12px; margin-left: 4px; }
#timeline .track { position: relative; flex: 1; height: 100%%; }
#timeline .bar { position: absolute; top: 5px; height: 20px; min-width: 3px; border-radius: 3px; color: #fff; font-size: 11px;
  line-height: 20px; padding: 0 4px; overflow: hidden; white-space: nowrap; }
#timeline .bar.succeeded { background: var(--ok); } #timeline .bar.failed { background: var(--bad); }
#timeline .bar.running { background: var(--run); } #timeline .bar.planned { background: var(--plan); }
#timeline .bar.skipped { background: var(--skip); color: #1f2328; } #timeline .bar.other { background: var(--other); color: #1f2328; }
#timeline .bar.unscheduled { opacity: .5; }
.legend span { margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 4px; vertical-align: -2px; }
ul.follow-ups { list-style: none; padding: 0; margin: 0; }
ul.follow-ups li { padding: 3px 0; }
.done { color: #57606a; text-decoration: line-through; }
footer { color: #57606a; font-size: 12px; padding: 0 24px 24px; }
""" % STATUS_COLOURS

# Draws one .bar per timeline step into #timeline. Only textContent and attributes are set
# from record data, so nothing in the record becomes markup.
_JS = """
(function () {
  "use strict";
  var STATUS_CLASSES = %(classes)s;
  var box = document.getElementById("timeline");
  var record;
  try {
    record = JSON.parse(document.getElementById("incident-record").textContent);
  } catch (err) {
    box.textContent = "The embedded record could not be read: " + err;
    return;
  }
  function secs(text) {
    if (!text) { return null; }
    var ms = Date.parse(text);
    return isNaN(ms) ? null : ms / 1000;
  }
  function cls(status) {
    var key = String(status || "").toLowerCase();
    return Object.prototype.hasOwnProperty.call(STATUS_CLASSES, key) ? STATUS_CLASSES[key] : "other";
  }
  function round(v) { return Math.round(v * 1000) / 1000; }
  function human(v) {
    v = Math.round(v);
    var m = Math.floor(Math.abs(v) / 60), s = Math.abs(v) %% 60;
    return (v < 0 ? "-" : "") + (m ? m + "m" + (s < 10 ? "0" : "") + s + "s" : s + "s");
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  var steps = record.timeline || [];
  if (!steps.length) {
    box.appendChild(el("p", "empty", "No timeline steps recorded."));
    return;
  }
  var starts = [], ends = [];
  steps.forEach(function (step) {
    var a = secs(step.started), b = secs(step.ended);
    if (a !== null) { starts.push(a); ends.push(a); }
    if (b !== null) { ends.push(b); }
  });
  var t0 = secs(record.started);
  if (t0 === null) { t0 = starts.length ? Math.min.apply(null, starts) : 0; }
  var finished = secs(record.finished);
  if (finished !== null) { ends.push(finished); }
  var tEnd = ends.length ? Math.max.apply(null, ends) : t0;
  var span = Math.max(tEnd - t0, 1);

  var axis = el("div", "axis");
  var nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
  var every = nice[nice.length - 1];
  for (var i = 0; i < nice.length; i++) { if (span / nice[i] <= 10) { every = nice[i]; break; } }
  for (var t = 0; t <= span + 1e-9; t += every) {
    var tick = el("span", "tick", "+" + human(t));
    tick.style.left = round(t / span * 100) + "%%";
    axis.appendChild(tick);
  }
  box.appendChild(axis);

  steps.forEach(function (step) {
    var status = String(step.status || "unknown");
    var start = secs(step.started), end = secs(step.ended);
    var unscheduled = start === null;
    if (unscheduled) { start = t0; }
    if (end === null) { end = status.toLowerCase() === "running" ? tEnd : start; }
    var left = Math.min(Math.max((start - t0) / span * 100, 0), 100);
    var width = Math.max((end - start) / span * 100, 0.4);
    if (left + width > 100) { left = Math.max(100 - width, 0); }
    var row = el("div", "row");
    var label = el("div", "label", step.step);
    if (step.component) { label.appendChild(el("span", "comp", step.component)); }
    label.title = step.step;
    var track = el("div", "track");
    var bar = el("div", "bar " + cls(status) + (unscheduled ? " unscheduled" : ""));
    bar.style.left = round(left) + "%%";
    bar.style.width = round(width) + "%%";
    bar.setAttribute("data-step", step.step);
    bar.setAttribute("data-start", unscheduled ? "" : String(round(start - t0)));
    bar.setAttribute("data-end", step.ended ? String(round(end - t0)) : "");
    bar.setAttribute("data-status", status);
    bar.title = step.step + " (" + status + "): +" + human(start - t0) + " \\u2192 +" + human(end - t0)
      + (step.detail ? " \\u2014 " + step.detail : "");
    bar.appendChild(el("span", "bar-text", human(end - start) + " " + status));
    track.appendChild(bar);
    row.appendChild(label);
    row.appendChild(track);
    box.appendChild(row);
  });
})();
"""


def _html_value(value) -> str:
    if isinstance(value, (dict, list, tuple)):
        return "<code>%s</code>" % h(value)
    return h(value)


def _html_table(headers, rows, cls=None):
    out = ['<table%s>' % (' class="%s"' % h(cls) if cls else ""), "<thead><tr>"]
    out += ["<th>%s</th>" % h(x) for x in headers]
    out += ["</tr></thead>", "<tbody>"]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % cell for cell in row))
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _badge(status) -> str:
    return '<span class="badge s-%s">%s</span>' % (status_class(status), h(status))


def render_html(record) -> str:
    rec = record
    title = "Incident %s: %s %s" % (rec["incident_id"], rec["env"], rec["status"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % h(CSP),
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % h(title),
        "<style>%s</style>" % _CSS,
        "</head>",
        "<body>",
        "<header>",
        "<h1>Incident %s %s</h1>" % (h(rec["incident_id"]), _badge(rec["status"])),
        "<p>%s</p>" % h(summary_line(rec)),
        "</header>",
        "<main>",
        '<section id="summary"><h2>Summary</h2><dl class="facts">',
    ]
    for label, value in (
        ("Environment", rec["env"]), ("Status", rec["status"]), ("Who", who_text(rec["who"])),
        ("Trigger", trigger_text(rec.get("trigger"))), ("Started", rec.get("started")),
        ("Finished", rec.get("finished") or "not finished"),
        ("Traffic restored in", format_seconds(rec.get("time_to_traffic_restored_s"))),
        ("All done in", format_seconds(rec.get("time_to_all_done_s"))),
    ):
        parts.append("<dt>%s</dt><dd>%s</dd>" % (h(label), h(value)))
    parts.append("</dl></section>")

    trigger = rec.get("trigger")
    if trigger:
        parts.append('<section id="trigger"><h2>Trigger</h2>')
        parts.append(_html_table(("Field", "Value"), [(h(k), _html_value(v)) for k, v in sorted(trigger.items())
                                                      if k != "triggers"]))
        rows = trigger.get("triggers")
        if isinstance(rows, list) and rows:
            parts.append(_html_table(
                ("Trigger", "Action", "State", "Value", "Comparison", "Threshold", "Window (s)"),
                [[_html_value(r.get(k)) for k in _TRIGGER_ROW_KEYS] if isinstance(r, dict) else [_html_value(r)] + [""] * 6
                 for r in rows]))
        parts.append("</section>")

    legend = "".join('<span><i class="s-%s"></i>%s</span>' % (c, h(c)) for c in STATUS_COLOURS)
    parts += [
        '<section id="timeline-section"><h2>Timeline</h2>',
        '<p class="legend">%s</p>' % legend,
        '<div id="timeline" role="img" aria-label="Timeline of the rollback steps"></div>',
        "<noscript><p>The chart needs JavaScript; the table below has the same steps.</p></noscript>",
    ]
    parts.append(_html_table(
        ("#", "Step", "Component", "Start", "End", "Duration", "Status", "Detail"),
        [(h(i + 1), h(s["step"]), h(s.get("component")), h(_plus(_offset(rec, s["started"]))),
          h(_plus(_offset(rec, s["ended"]))),
          h(format_seconds(s.get("duration_s")) if s.get("duration_s") is not None else ""),
          _badge(s["status"]), _html_value(s.get("detail"))) for i, s in enumerate(rec["timeline"])],
        cls="steps"))
    parts.append("</section>")

    parts.append('<section id="components"><h2>Components</h2>')
    rows = []
    for name in sorted(rec["components"]):
        comp = rec["components"][name]
        changes = "<br>".join("%s: %s &rarr; %s" % (h(f), _html_value(a), _html_value(b))
                              for f, a, b in _field_rows(comp.get("before"), comp.get("after")))
        extras = "<br>".join("%s: %s" % (h(k), _html_value(v)) for k, v in _extras(comp, _COMPONENT_KEYS))
        rows.append((h(name), _badge(comp["status"]), h(comp["changed"]), changes, h(comp.get("started")),
                     h(comp.get("ended")), h(format_seconds(comp.get("duration_s"))), extras))
    parts.append(_html_table(("Component", "Status", "Changed", "From \u2192 to", "Started", "Ended", "Took", "Detail"),
                             rows) if rows else "<p>No components recorded.</p>")
    parts.append("</section>")

    parts.append('<section id="data"><h2>Data restore points</h2>')
    parts.append(_html_table(
        ("Table", "Restore point", "Recovery table", "RPO", "Other"),
        [(h(d["table"]), h(d.get("restore_point")), h(d.get("recovery_table")),
          h(format_seconds(d.get("rpo_seconds"))),
          "<br>".join("%s: %s" % (h(k), _html_value(v)) for k, v in _extras(d, _DATA_KEYS))) for d in rec["data"]])
        if rec["data"] else "<p>No table was restored.</p>")
    parts.append("</section>")

    parts.append('<section id="failures"><h2>Failures</h2>')
    if rec["failures"]:
        items = ["<li><strong>%s</strong>: %s</li>" % (h(f.get("step") or "run"), h(f.get("msg"))) for f in rec["failures"]]
        parts.append("<ul>%s</ul>" % "".join(items))
    else:
        parts.append("<p>None.</p>")
    parts.append("</section>")

    parts.append('<section id="follow-ups"><h2>Follow-ups</h2><ul class="follow-ups">')
    for item in rec["follow_ups"]:
        done = item.get("status") == "done"
        parts.append('<li><input type="checkbox" disabled%s> <span class="%s">%s</span>; owner: %s%s</li>' % (
            " checked" if done else "", "done" if done else "open", h(item.get("action")),
            h(owner_text(item.get("owner"))), " (%s)" % h(item["note"]) if item.get("note") else ""))
    parts.append("</ul></section>")
    parts += [
        "</main>",
        "<footer>Written by propie.rollback.incident_record (record format %s).</footer>" % h(rec.get("record_format")),
        '<script type="application/json" id="incident-record">%s</script>' % script_json(rec),
        "<script>%s</script>" % (_JS % {"classes": script_json(STATUS_CLASSES)}),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
