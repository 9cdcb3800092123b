# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DR drills (playbooks/dr_drill.yml): ids, the canary item, and the drill report (pure Python, no AWS).

- drill ids (``dr-YYYYMMDDTHHMMSSZ-xxxxxx``), the rollback id of the drill's restores (the same
  stamp as ``rb-...``) and the scratch table's name (``<table>-<drill id>``);
- the canary: its key, built from the table's key schema so that it can never be a real item's
  (``propie-drill-canary#<drill id>`` for a string hash key), and the attributes that mark it;
- the drill report: normalised and redacted like the incident record (module_utils/record.py,
  whose times, redaction, escaping, CSS and timeline chart it reuses), rendered as JSON,
  Markdown and one self-contained HTML page, and written atomically (mode 0640).
"""

from __future__ import annotations

import copy
import datetime
import math
import re

from ansible_collections.propie.rollback.plugins.module_utils import record as rec

REPORT_FORMAT = 1
DRILL_ID_RE = re.compile(r"^dr-([0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})$")
TABLE_NAME_MAX = 255
STEP_STATUSES = ("succeeded", "failed", "skipped")
STATUSES = ("succeeded", "failed")

# Attributes every canary carries: which drill wrote it and when (UTC ISO 8601 with microseconds).
CANARY_DRILL_ATTR = "propie_drill_id"
CANARY_WRITTEN_ATTR = "propie_drill_written_at"
CANARY_PREFIX = "propie-drill-canary#"
CANARY_SORT_VALUE = "propie-drill-canary"

# (name in paths, file extension)
OUTPUTS = (("json", "json"), ("markdown", "md"), ("html", "html"))


class DrillError(ValueError):
    """Bad input for a drill or its report; the message names the field and the fix."""


# -- ids ----------------------------------------------------------------------------------------


def drill_id_from_rollback_id(rollback_id: str) -> str:
    """rb-20261130T030000Z-9f2c1a -> dr-20261130T030000Z-9f2c1a."""
    return "dr-" + rollback_id[3:]


def rollback_id_of(drill_id: str) -> str:
    """The rollback id (rb-...) the drill's restores are tagged with: the drill id's stamp."""
    match = DRILL_ID_RE.match(drill_id or "")
    if not match:
        raise DrillError("drill_id %r is not a drill id (dr-YYYYMMDDTHHMMSSZ-xxxxxx, as a drill prints it "
                         "at its start)" % (drill_id,))
    return "rb-" + match.group(1)


def scratch_table_name(table: str, drill_id: str) -> str:
    """<table>-<drill id>, the source name shortened so that the whole fits DynamoDB's 255."""
    suffix = "-" + drill_id
    return table[:TABLE_NAME_MAX - len(suffix)] + suffix


# -- the canary ---------------------------------------------------------------------------------


def canary_key(table: dict, drill_id: str) -> dict:
    """The canary's primary key (plain values) for a DescribeTable `table`.

    A string hash key is ``propie-drill-canary#<drill id>``; a number hash key is the negative
    of the drill id's digits and hex (real keys are rarely negative and never that one); a
    string sort key is ``propie-drill-canary``, a number sort key 0. Binary keys are refused.
    """
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    match = DRILL_ID_RE.match(drill_id or "")
    if not match:
        raise DrillError("drill_id %r is not a drill id (dr-YYYYMMDDTHHMMSSZ-xxxxxx)" % (drill_id,))
    stamp, hex_part = match.group(1).split("-")
    key = {}
    for part in table.get("KeySchema", []):
        name, kind = part["AttributeName"], part["KeyType"]
        attr_type = types.get(name)
        if attr_type == "S":
            key[name] = CANARY_PREFIX + drill_id if kind == "HASH" else CANARY_SORT_VALUE
        elif attr_type == "N":
            key[name] = -int(re.sub(r"[^0-9]", "", stamp) + str(int(hex_part, 16))) if kind == "HASH" else 0
        else:
            raise DrillError("table %s: key attribute %s is of type %s; a canary needs string or number keys"
                             % (table.get("TableName"), name, attr_type))
    if not key:
        raise DrillError("table %s has no key schema" % table.get("TableName"))
    return key


def canary_check(key: dict, drill_id: str) -> dict:
    """The canary as a dynamodb_table_verify canary: present, and written by this drill."""
    return {"key": key, "present": True, "attributes": {CANARY_DRILL_ATTR: drill_id}}


# -- times --------------------------------------------------------------------------------------


def utc_text(value) -> str:
    """A datetime (or ISO text) as UTC ISO 8601 with a Z and microseconds when there are any."""
    return rec.format_time(rec.parse_time(value))


def seconds_between(start, end):
    """end - start in seconds (rounded to ms), None when either is missing."""
    a, b = rec.parse_time(start), rec.parse_time(end)
    if a is None or b is None:
        return None
    return rec._number(round((b - a).total_seconds(), 3))


def now_text() -> str:
    return utc_text(datetime.datetime.now(datetime.timezone.utc))


# -- the report: normalise -----------------------------------------------------------------------


def _number_or_none(value, where):
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DrillError("%s must be a number of seconds, not %r" % (where, value))
    if not math.isfinite(number):
        raise DrillError("%s must be a finite number, not %r" % (where, value))
    return rec._number(round(number, 3))


def _norm_table(value, index):
    where = "tables[%d]" % index
    entry = dict(rec._need_dict(value, where))
    if not entry.get("table"):
        raise DrillError("%s has no table" % where)
    for key in ("canary_written_at", "restore_point_reached", "window_latest"):
        if entry.get(key):
            try:
                entry[key] = utc_text(entry[key])
            except rec.RecordError as err:
                raise DrillError("%s.%s: %s" % (where, key, err))
    for key in ("rpo_seconds", "canary_margin_s"):
        entry[key] = _number_or_none(entry.get(key), "%s.%s" % (where, key))
    entry.setdefault("scratch_table", None)
    return entry


def _follow_ups(report):
    """What someone has to do after this drill: remove leftovers, fix what failed."""
    items = []
    for left in report["cleanup"].get("left_behind") or []:
        items.append({"action": "Remove what the drill left behind: %s" % left.get("what"),
                      "status": "open", "command": left.get("command")})
    for failure in report["failures"]:
        action = "Fix why the drill failed at %s: %s" % (failure.get("step") or "the run", failure.get("msg"))
        items.append({"action": action, "status": "open"})
    return items


def normalise_report(report):
    """The normalised report (a new dict). Raises DrillError naming the field."""
    out = copy.deepcopy(rec._need_dict(report, "report"))
    drill_id = out.get("drill_id")
    if not DRILL_ID_RE.match(str(drill_id or "")):
        raise DrillError("report.drill_id %r is not a drill id (dr-YYYYMMDDTHHMMSSZ-xxxxxx)" % (drill_id,))
    if not out.get("env"):
        raise DrillError("report.env is required")
    out["env"] = str(out["env"])
    who = out.get("who")
    out["who"] = who if isinstance(who, dict) else (str(who) if who not in (None, "") else "unknown")
    out["full"] = bool(out.get("full"))
    try:
        timeline = [rec._norm_step(s, i) for i, s in enumerate(rec._need_list(out.get("timeline"), "report.timeline"))]
        out["started"] = rec._norm_time(out.get("started"), "report.started")
        out["finished"] = rec._norm_time(out.get("finished"), "report.finished")
        out["failures"] = [rec._norm_failure(f, i) for i, f in enumerate(rec._need_list(out.get("failures"), "report.failures"))]
    except rec.RecordError as err:
        raise DrillError(str(err))
    for step in timeline:
        if step["status"] not in STEP_STATUSES:
            raise DrillError("timeline step %r: status must be one of %s, not %r"
                             % (step["step"], ", ".join(STEP_STATUSES), step["status"]))
    out["timeline"] = timeline
    starts = [s["started"] for s in timeline if s["started"]]
    ends = [s["ended"] for s in timeline if s["ended"]]
    out["started"] = out["started"] or (min(starts, key=rec.parse_time) if starts else None)
    out["finished"] = out["finished"] or (max(ends, key=rec.parse_time) if ends else None)
    out["tables"] = [_norm_table(t, i) for i, t in enumerate(rec._need_list(out.get("tables"), "report.tables"))]
    out["rto_seconds"] = _number_or_none(out.get("rto_seconds"), "report.rto_seconds")
    out["rpo_seconds"] = _number_or_none(out.get("rpo_seconds"), "report.rpo_seconds")
    cleanup = out.get("cleanup") or {}
    out["cleanup"] = dict(rec._need_dict(cleanup, "report.cleanup"))
    out["cleanup"].setdefault("left_behind", [])
    out["cleanup"].setdefault("deleted", [])
    out["plan"] = out.get("plan") or {}
    out["full_rollback"] = out.get("full_rollback") or None
    out["metrics"] = out.get("metrics") or {}
    status = rec._lower(out.get("status"), None)
    if status is None:
        failed = out["failures"] or any(s["status"] == "failed" for s in timeline) or out["cleanup"]["left_behind"]
        status = "failed" if failed else "succeeded"
    if status not in STATUSES:
        raise DrillError("report.status must be one of %s, not %r" % (", ".join(STATUSES), status))
    out["status"] = status
    out["duration_s"] = seconds_between(out["started"], out["finished"])
    out["follow_ups"] = _follow_ups(out)
    out["report_format"] = REPORT_FORMAT
    out["kind"] = "dr_drill"
    return out


def build_report(report, found=None):
    """normalise_report() then record.redact(): the report that is written and returned."""
    return rec.redact(normalise_report(report), found)


# -- the report: text ----------------------------------------------------------------------------


def _seconds_text(value):
    return "n/a" if value is None else rec.format_seconds(value)


def _left_text(report):
    left = report["cleanup"].get("left_behind") or []
    return "nothing" if not left else "; ".join(str(x.get("what")) for x in left)


def summary_line(report) -> str:
    plan = report.get("plan") or {}
    todo = plan.get("todo")
    parts = ["%s %s: drill %s" % (report["drill_id"], report["env"], "passed" if report["status"] == "succeeded" else "FAILED")]
    failed = next((s for s in report["timeline"] if s["status"] == "failed"), None)
    if failed:
        parts[0] += " at %s" % failed["step"]
    parts.append("RTO %s" % ("n/a" if report["rto_seconds"] is None else "%ss" % report["rto_seconds"]))
    parts.append("RPO %s" % ("n/a" if report["rpo_seconds"] is None else "%ss" % report["rpo_seconds"]))
    if todo is not None:
        parts.append("rollback plan: %s" % (", ".join(todo) or "nothing to do"))
    if report["full"]:
        full = report.get("full_rollback") or {}
        parts.append("full rollback %s" % (full.get("status") or "not run"))
    parts.append("left behind: %s" % _left_text(report))
    return "; ".join(parts)


def _offset(report, value):
    return rec._plus(seconds_between(report.get("started"), value) if value else None)


def _step_rows(report):
    return [(i + 1, s["step"], s.get("component"), _offset(report, s["started"]), _offset(report, s["ended"]),
             rec.format_seconds(s["duration_s"]) if s.get("duration_s") is not None else "",
             s["status"], s.get("detail")) for i, s in enumerate(report["timeline"])]


def _table_rows(report):
    return [(t["table"], t.get("scratch_table"), t.get("canary_written_at"), t.get("restore_point_reached"),
             {True: "yes", False: "NO"}.get(t.get("canary_covered"), "n/a"),
             _seconds_text(t.get("canary_margin_s")), _seconds_text(t.get("rpo_seconds")))
            for t in report["tables"]]


_TABLE_HEADERS = ("Table", "Scratch table", "Canary written", "Restore point reached", "Canary covered",
                  "Margin", "RPO")
_STEP_HEADERS = ("#", "Step", "Table", "Start", "End", "Duration", "Result", "Detail")


def _facts(report):
    full = report.get("full_rollback") or {}
    return [
        ("Drill", report["drill_id"]),
        ("Environment", report["env"]),
        ("Result", "passed" if report["status"] == "succeeded" else "failed"),
        ("Who", rec.who_text(report["who"])),
        ("Started", report.get("started")),
        ("Finished", report.get("finished") or "not finished"),
        ("RTO (restore start to verified table)", _seconds_text(report["rto_seconds"])),
        ("RPO (canary write to restorable)", _seconds_text(report["rpo_seconds"])),
        ("Full rollback", ("%s (incident %s)" % (full.get("status"), full.get("incident_id"))
                           if report["full"] else "not asked (drill_full=false)")),
        ("Left behind", _left_text(report)),
    ]


def render_markdown(report) -> str:
    r = report
    out = ["# DR drill %s: %s %s" % (rec.md_escape(r["drill_id"]), rec.md_escape(r["env"]),
                                     "PASSED" if r["status"] == "succeeded" else "FAILED"), ""]
    out += [rec.md_escape(summary_line(r)), ""]
    out += rec._md_table(("Field", "Value"), _facts(r))

    out += ["", "## Steps", ""]
    out += rec._md_table(_STEP_HEADERS, _step_rows(r)) if r["timeline"] else ["No steps recorded."]
    out += ["", "Start and end are seconds after the drill's start (%s)." % rec.md_escape(r.get("started") or "n/a")]

    out += ["", "## Tables", ""]
    out += rec._md_table(_TABLE_HEADERS, _table_rows(r)) if r["tables"] else ["No table was drilled."]

    plan = r.get("plan") or {}
    out += ["", "## Rollback plan (read-only)", ""]
    if plan.get("lines"):
        out += ["- %s" % rec.md_escape(line) for line in plan["lines"]]
    else:
        out.append("Not planned.")

    if r["full"]:
        full = r.get("full_rollback") or {}
        out += ["", "## Full rollback", ""]
        out += rec._md_table(("Field", "Value"), [(k, full.get(k)) for k in sorted(full)]) if full else ["Not run."]

    out += ["", "## Cleanup", ""]
    cleanup = r["cleanup"]
    out += ["- deleted: %s" % rec.md_escape(d) for d in cleanup.get("deleted") or []]
    for left in cleanup.get("left_behind") or []:
        out.append("- **left behind**: %s (%s); remove it with: %s" % (
            rec.md_escape(left.get("what")), rec.md_escape(left.get("error")), rec.md_escape(left.get("command"))))
    if not cleanup.get("deleted") and not cleanup.get("left_behind"):
        out.append("Nothing to clean up.")

    metrics = r.get("metrics") or {}
    out += ["", "## CloudWatch", ""]
    if metrics:
        out += rec._md_table(("Field", "Value"), [(k, metrics[k]) for k in sorted(metrics)])
    else:
        out.append("Nothing published.")

    out += ["", "## Failures", ""]
    out += (["- **%s**: %s" % (rec.md_escape(f.get("step") or "run"), rec.md_escape(f.get("msg"))) for f in r["failures"]]
            or ["None."])
    out += ["", "## Follow-ups", ""]
    out += ["- [ ] %s" % rec.md_escape(f["action"]) for f in r["follow_ups"]] or ["None."]
    return "\n".join(out).rstrip() + "\n"


def render_json(report) -> str:
    return rec.render_json(report)


def render_html(report) -> str:
    r = report
    passed = r["status"] == "succeeded"
    title = "DR drill %s: %s %s" % (r["drill_id"], r["env"], "passed" if passed else "failed")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % rec.h(rec.CSP),
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % rec.h(title), "<style>%s</style>" % rec._CSS, "</head>", "<body>",
        "<header>", "<h1>DR drill %s %s</h1>" % (rec.h(r["drill_id"]), rec._badge(r["status"])),
        "<p>%s</p>" % rec.h(summary_line(r)), "</header>", "<main>",
        '<section id="summary"><h2>Summary</h2><dl class="facts">',
    ]
    parts += ["<dt>%s</dt><dd>%s</dd>" % (rec.h(k), rec.h(v)) for k, v in _facts(r)]
    parts.append("</dl></section>")

    legend = "".join('<span><i class="s-%s"></i>%s</span>' % (c, rec.h(c)) for c in ("succeeded", "failed", "skipped"))
    parts += ['<section id="timeline-section"><h2>Steps</h2>', '<p class="legend">%s</p>' % legend,
              '<div id="timeline" role="img" aria-label="Timeline of the drill steps"></div>',
              "<noscript><p>The chart needs JavaScript; the table below has the same steps.</p></noscript>"]
    parts.append(rec._html_table(_STEP_HEADERS, [
        [rec.h(c) for c in row[:6]] + [rec._badge(row[6]), rec._html_value(row[7])] for row in _step_rows(r)], cls="steps"))
    parts.append("</section>")

    parts.append('<section id="tables"><h2>Tables</h2>')
    parts.append(rec._html_table(_TABLE_HEADERS, [[rec.h(c) for c in row] for row in _table_rows(r)])
                 if r["tables"] else "<p>No table was drilled.</p>")
    parts.append("</section>")

    plan = r.get("plan") or {}
    parts.append('<section id="plan"><h2>Rollback plan (read-only)</h2>')
    parts.append("<ul>%s</ul>" % "".join("<li><code>%s</code></li>" % rec.h(x) for x in plan["lines"])
                 if plan.get("lines") else "<p>Not planned.</p>")
    parts.append("</section>")

    if r["full"]:
        full = r.get("full_rollback") or {}
        parts.append('<section id="full-rollback"><h2>Full rollback</h2>')
        parts.append(rec._html_table(("Field", "Value"), [(rec.h(k), rec._html_value(full[k])) for k in sorted(full)])
                     if full else "<p>Not run.</p>")
        parts.append("</section>")

    cleanup = r["cleanup"]
    items = ["<li>deleted: %s</li>" % rec.h(d) for d in cleanup.get("deleted") or []]
    items += ["<li><strong>left behind</strong>: %s (%s); remove it with: <code>%s</code></li>"
              % (rec.h(x.get("what")), rec.h(x.get("error")), rec.h(x.get("command")))
              for x in cleanup.get("left_behind") or []]
    parts.append('<section id="cleanup"><h2>Cleanup</h2>%s</section>'
                 % ("<ul>%s</ul>" % "".join(items) if items else "<p>Nothing to clean up.</p>"))

    metrics = r.get("metrics") or {}
    parts.append('<section id="cloudwatch"><h2>CloudWatch</h2>%s</section>' % (
        rec._html_table(("Field", "Value"), [(rec.h(k), rec._html_value(metrics[k])) for k in sorted(metrics)])
        if metrics else "<p>Nothing published.</p>"))

    failures = "".join("<li><strong>%s</strong>: %s</li>" % (rec.h(f.get("step") or "run"), rec.h(f.get("msg")))
                       for f in r["failures"])
    parts.append('<section id="failures"><h2>Failures</h2>%s</section>'
                 % ("<ul>%s</ul>" % failures if failures else "<p>None.</p>"))
    follow = "".join("<li>%s</li>" % rec.h(f["action"]) for f in r["follow_ups"])
    parts.append('<section id="follow-ups"><h2>Follow-ups</h2>%s</section>'
                 % ("<ul>%s</ul>" % follow if follow else "<p>None.</p>"))
    parts += [
        "</main>",
        "<footer>Written by propie.rollback.drill_report (report format %s).</footer>" % rec.h(r.get("report_format")),
        # The chart script of the incident record reads the record from this element.
        '<script type="application/json" id="incident-record">%s</script>' % rec.script_json(r),
        "<script>%s</script>" % (rec._JS % {"classes": rec.script_json(rec.STATUS_CLASSES)}),
        "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def render(report):
    """{json, markdown, html} bytes of a normalised report."""
    return {"json": render_json(report).encode("utf-8"), "markdown": render_markdown(report).encode("utf-8"),
            "html": render_html(report).encode("utf-8")}
