"""The DR drill report (module_utils/drill.py, modules/drill_report.py): ids, the canary's key,
normalisation, redaction, Markdown, HTML and the module's writes."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from ansible_collections.propie.rollback.plugins.module_utils import drill as dr
from ansible_collections.propie.rollback.plugins.modules import drill_report
from tests.unit.fakes import Exit, Fail

DRILL_ID = "dr-20261130T030000Z-9f2c1a"
XSS = "</script><img src=x onerror=alert(1)>"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def table(keys, types):
    return {"TableName": "t", "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": types[k]} for k, _t in keys]}


def test_ids_and_scratch_names():
    assert dr.drill_id_from_rollback_id("rb-20261130T030000Z-9f2c1a") == DRILL_ID
    assert dr.rollback_id_of(DRILL_ID) == "rb-20261130T030000Z-9f2c1a"
    with pytest.raises(dr.DrillError, match="is not a drill id"):
        dr.rollback_id_of("dr-2026-bad")
    assert dr.scratch_table_name("data", DRILL_ID) == "data-" + DRILL_ID
    assert len(dr.scratch_table_name("x" * 300, DRILL_ID)) == dr.TABLE_NAME_MAX


def test_canary_keys_follow_the_key_schema():
    assert dr.canary_key(table([("pk", "HASH"), ("sk", "RANGE")], {"pk": "S", "sk": "S"}), DRILL_ID) == {
        "pk": "propie-drill-canary#" + DRILL_ID, "sk": "propie-drill-canary"}
    assert dr.canary_key(table([("id", "HASH"), ("at", "RANGE")], {"id": "N", "at": "N"}), DRILL_ID) == {
        "id": -int("20261130030000" + str(int("9f2c1a", 16))), "at": 0}
    with pytest.raises(dr.DrillError, match="key attribute pk is of type B"):
        dr.canary_key(table([("pk", "HASH")], {"pk": "B"}), DRILL_ID)
    with pytest.raises(dr.DrillError, match="has no key schema"):
        dr.canary_key({"TableName": "t"}, DRILL_ID)
    with pytest.raises(dr.DrillError, match="is not a drill id"):
        dr.canary_key(table([("pk", "HASH")], {"pk": "S"}), "rb-x")


def raw_report(**changes):
    report = {
        "drill_id": DRILL_ID, "env": "staging", "who": "alice", "full": False,
        "started": "2026-11-30T03:00:00Z", "finished": "2026-11-30T03:01:00.5+00:00",
        "rto_seconds": 42.25, "rpo_seconds": "300.5",
        "timeline": [
            {"step": "write a canary item to each live table", "started": "2026-11-30T03:00:00Z",
             "ended": "2026-11-30T03:00:02Z", "status": "succeeded"},
            {"step": "restore each table to its scratch table", "started": "2026-11-30T03:00:02Z",
             "ended": "2026-11-30T03:00:40Z", "status": "succeeded", "detail": "a | b"},
            {"step": "roll the environment back for real (drill_full)", "status": "skipped",
             "detail": "not asked (drill_full=false)"},
        ],
        "tables": [{"table": "prop-ie-staging-data", "scratch_table": "prop-ie-staging-data-" + DRILL_ID,
                    "canary_written_at": "2026-11-30T03:00:01.123456Z", "restore_point_reached": "2026-11-30T03:00:03Z",
                    "canary_covered": True, "canary_margin_s": 1.876544, "rpo_seconds": 300.5}],
        "plan": {"lines": ["traffic: prop-ie-app.com '' green -> staging", XSS], "todo": ["traffic"]},
        "cleanup": {"ok": True, "deleted": ["scratch table prop-ie-staging-data-" + DRILL_ID], "left_behind": []},
        "metrics": {"namespace": "PropIE/Rollback", "published": [{"name": "DrillPassed", "value": 1}]},
        "failures": [],
    }
    report.update(changes)
    return report


def test_normalise_times_figures_and_result():
    out = dr.build_report(raw_report())
    assert out["status"] == "succeeded" and out["kind"] == "dr_drill" and out["report_format"] == 1
    assert out["finished"] == "2026-11-30T03:01:00.5Z" and out["duration_s"] == 60.5
    assert out["rpo_seconds"] == 300.5 and out["rto_seconds"] == 42.25
    assert [s["duration_s"] for s in out["timeline"]] == [2, 38, None]
    assert out["tables"][0]["canary_margin_s"] == 1.877 and out["follow_ups"] == []
    derived = dr.build_report(raw_report(started=None, finished=None))
    assert derived["started"] == "2026-11-30T03:00:00Z" and derived["finished"] == "2026-11-30T03:00:40Z"


def test_what_failed_or_was_left_behind_makes_the_result_and_the_follow_ups():
    left = {"what": "scratch table x", "error": "AccessDenied", "command": "aws dynamodb delete-table --table-name x"}
    out = dr.build_report(raw_report(cleanup={"ok": False, "deleted": [], "left_behind": [left]}))
    assert out["status"] == "failed"
    assert out["follow_ups"] == [{"action": "Remove what the drill left behind: scratch table x", "status": "open",
                                  "command": left["command"]}]
    failed = dr.build_report(raw_report(failures=[{"step": "restore", "msg": "sabotaged"}]))
    assert failed["status"] == "failed" and failed["follow_ups"][0]["action"] == "Fix why the drill failed at restore: sabotaged"
    step_failed = raw_report()
    step_failed["timeline"][1]["status"] = "failed"
    assert dr.build_report(step_failed)["status"] == "failed"


@pytest.mark.parametrize("changes, message", [
    ({"drill_id": "rb-20261130T030000Z-9f2c1a"}, "is not a drill id"),
    ({"env": ""}, "report.env is required"),
    ({"status": "running"}, "report.status must be one of succeeded, failed"),
    ({"rto_seconds": "soon"}, "report.rto_seconds must be a number"),
    ({"rpo_seconds": float("inf")}, "must be a finite number"),
    ({"timeline": [{"step": "x", "status": "done"}]}, "status must be one of succeeded, failed, skipped"),
    ({"timeline": [{"step": "x", "status": "failed", "started": "2026-11-30T03:00:05Z",
                    "ended": "2026-11-30T03:00:01Z"}]}, "ends before it starts"),
    ({"tables": [{"scratch_table": "x"}]}, "tables[0] has no table"),
    ({"started": "noon"}, "is not an ISO 8601 time"),
])
def test_bad_reports_are_refused(changes, message):
    with pytest.raises(dr.DrillError, match=re.escape(message)):
        dr.build_report(raw_report(**changes))


def test_secrets_are_masked_and_collected():
    found = set()
    out = dr.build_report(raw_report(failures=[{"step": "publish", "msg": "signature with %s refused" % SECRET_KEY}],
                                     extra={"aws_secret_access_key": SECRET_KEY}), found)
    text = dr.render_json(out) + dr.render_markdown(out) + dr.render_html(out)
    assert SECRET_KEY not in text and SECRET_KEY in found and "********" in text


def test_markdown_has_every_step_the_figures_and_escapes_cells():
    out = dr.build_report(raw_report())
    md = dr.render_markdown(out)
    assert md.startswith("# DR drill %s: staging PASSED\n" % DRILL_ID)
    assert "| RTO (restore start to verified table) | 42.2s |" in md and "| RPO (canary write to restorable) | 300.5s (5m00s) |" in md
    assert "| 2 | restore each table to its scratch table |  | +2s | +40s | 38s | succeeded | a \\| b |" in md
    assert "| 3 | roll the environment back for real (drill_full) |  |  |  |  | skipped | not asked (drill_full=false) |" in md
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in md and XSS not in md
    assert "| prop-ie-staging-data | prop-ie-staging-data-%s | 2026-11-30T03:00:01.123456Z | 2026-11-30T03:00:03Z | yes |" % DRILL_ID in md
    assert "- deleted: scratch table prop-ie-staging-data-" + DRILL_ID in md
    failed = dr.render_markdown(dr.build_report(raw_report(cleanup={"left_behind": [
        {"what": "canary item k in t", "error": "denied", "command": "aws dynamodb delete-item x"}]})))
    assert "FAILED" in failed.splitlines()[0]
    assert "- **left behind**: canary item k in t (denied); remove it with: aws dynamodb delete-item x" in failed
    assert dr.render_markdown(out) == md  # deterministic


def test_html_is_self_contained_escaped_and_embeds_the_report_for_the_chart():
    out = dr.build_report(raw_report())
    page = dr.render_html(out)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in page
    assert XSS not in page and "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert re.search(r"<(link|iframe|img)\b", page) is None and "http://" not in page and "https://" not in page
    embedded = re.search(r'<script type="application/json" id="incident-record">(.*?)</script>', page, re.S).group(1)
    assert json.loads(embedded) == json.loads(dr.render_json(out))
    assert '<div id="timeline" role="img" aria-label="Timeline of the drill steps"></div>' in page
    assert page.count('<span class="badge s-succeeded">succeeded</span>') == 3  # header + two steps
    assert '<span class="badge s-skipped">skipped</span>' in page


# -- the module ---------------------------------------------------------------------------------


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()

    def fail_json(self, **kwargs):
        raise Fail(kwargs)

    def exit_json(self, **kwargs):
        raise Exit(kwargs)


def run(params, **kwargs):
    with pytest.raises(Exit) as done:
        drill_report.do(FakeModule(params, **kwargs))
    return done.value.result


def test_module_writes_three_files_atomically_once(tmp_path):
    dest = tmp_path / "drills" / "staging"
    params = {"report": raw_report(), "dest": str(dest)}
    predicted = run(params, check_mode=True)
    assert predicted["changed"] and len(predicted["files_changed"]) == 3 and not dest.exists()
    written = run(params, diff=True)
    names = sorted(os.listdir(dest))
    assert names == [DRILL_ID + ext for ext in (".html", ".json", ".md")]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o750
    assert all(stat.S_IMODE(os.stat(dest / n).st_mode) == 0o640 for n in names)
    assert written["paths"]["markdown"] == str(dest / (DRILL_ID + ".md"))
    assert json.loads((dest / (DRILL_ID + ".json")).read_text()) == written["report"]
    assert written["summary"] == ("%s staging: drill passed; RTO 42.25s; RPO 300.5s; rollback plan: traffic; "
                                  "left behind: nothing" % DRILL_ID)
    assert written["diff"]["before"] == "" and '"status": "succeeded"' in written["diff"]["after"]
    again = run(params)
    assert not again["changed"] and again["files_changed"] == []
    os.chmod(dest / (DRILL_ID + ".md"), 0o644)
    assert run(params)["files_changed"] == [str(dest / (DRILL_ID + ".md"))]
    assert stat.S_IMODE(os.stat(dest / (DRILL_ID + ".md")).st_mode) == 0o640


def test_module_refuses_bad_reports_and_a_file_as_dest(tmp_path):
    with pytest.raises(Fail, match="drill report: report.drill_id"):
        drill_report.do(FakeModule({"report": raw_report(drill_id="x"), "dest": str(tmp_path)}))
    (tmp_path / "file").write_text("x")
    with pytest.raises(Fail, match="not a directory"):
        drill_report.do(FakeModule({"report": raw_report(), "dest": str(tmp_path / "file")}))
