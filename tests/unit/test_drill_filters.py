"""The DR drill's filters (plugins/filter/drill.py): the request check, cleanup, steps, RTO/RPO, report."""

from __future__ import annotations

import json
import shlex

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.filter import drill as f
from ansible_collections.propie.rollback.plugins.module_utils import drill as dr

DRILL_ID = "dr-20261130T030000Z-9f2c1a"
TABLES = [{"name": "prop-ie-staging-data", "swap_targets": [], "verify_min_item_count": 120,
           "verify_canaries": [{"key": {"pk": "PROPERTY#0001", "sk": "DETAILS"}}]}]
KEY = {"pk": "propie-drill-canary#" + DRILL_ID, "sk": "propie-drill-canary"}


def request(env="staging", **kwargs):
    args = dict(full=False, drill_id=DRILL_ID, tables=TABLES, refused_envs=["production"],
                requires_confirmation=False, confirm="", check_mode=False)
    args.update(kwargs)
    return f.drill_request(env, **args)


# -- the request ---------------------------------------------------------------------------------


def test_request_names_the_scratch_tables_after_the_drill_id():
    drill = request()
    assert drill["drill_id"] == DRILL_ID and drill["rollback_id"] == "rb-20261130T030000Z-9f2c1a"
    assert drill["tables"] == [{"name": "prop-ie-staging-data", "scratch_table": "prop-ie-staging-data-" + DRILL_ID,
                                "verify_min_item_count": 120, "verify_canaries": TABLES[0]["verify_canaries"]}]
    assert not drill["full"] and not drill["minted"]
    minted = request(drill_id="")
    assert minted["minted"] and dr.DRILL_ID_RE.match(minted["drill_id"])
    assert minted["rollback_id"] == "rb-" + minted["drill_id"][3:]
    long = request(tables=[{"name": "t" * 255}])
    assert len(long["tables"][0]["scratch_table"]) == 255 and long["tables"][0]["scratch_table"].endswith(DRILL_ID)


@pytest.mark.parametrize("refused", [["production"], [], None])
def test_drill_full_is_refused_for_production_whatever_the_inventory_says(refused):
    with pytest.raises(AnsibleFilterError) as err:
        request("production", full="true", refused_envs=refused, requires_confirmation=True, confirm="production")
    said = str(err.value)
    assert "drill_full=true is refused for production" in said and said.endswith("Nothing was called.")
    assert "-e env=staging -e drill_full=true" in said
    assert not request("production", full=False, requires_confirmation=True)["full"]  # a plain drill is fine


def test_drill_full_is_refused_for_listed_envs_and_needs_confirmation_where_the_env_does():
    with pytest.raises(AnsibleFilterError, match="refused for preprod"):
        request("preprod", full=True, refused_envs=["preprod"])
    with pytest.raises(AnsibleFilterError, match="needs confirmation: add -e confirm=uat. Nothing was called."):
        request("uat", full=True, requires_confirmation=True)
    with pytest.raises(AnsibleFilterError, match="confirm='prod' does not match"):
        request("uat", full=True, requires_confirmation="true", confirm="prod")
    assert request("uat", full=True, requires_confirmation=True, confirm="uat")["full"]
    assert request("staging", full="yes")["full"]


@pytest.mark.parametrize("kwargs, message", [
    ({"check_mode": True}, "does not run under --check"),
    ({"tables": []}, "rollback_dynamodb_tables of staging is empty"),
    ({"tables": [{"swap_targets": []}]}, "rollback_dynamodb_tables[0] of staging has no name"),
    ({"drill_id": "rb-20261130T030000Z-9f2c1a"}, "is not a drill id"),
    ({"full": "maybe"}, "drill_full must be true or false"),
])
def test_bad_requests_fail_before_any_call(kwargs, message):
    with pytest.raises(AnsibleFilterError) as err:
        request(**kwargs)
    assert message in str(err.value) and "Nothing was called." in str(err.value)


def test_verifications_add_the_drills_canary_to_the_envs_checks():
    drill = request()
    canaries = {"results": [{"item": drill["tables"][0], "key": KEY, "canary": dr.canary_check(KEY, DRILL_ID)}]}
    [table] = f.drill_verifications(drill, canaries)
    assert table["canaries"] == TABLES[0]["verify_canaries"] + [
        {"key": KEY, "present": True, "attributes": {"propie_drill_id": DRILL_ID}}]
    with pytest.raises(AnsibleFilterError, match="no canary was written to prop-ie-staging-data"):
        f.drill_verifications(drill, {"results": [dict(canaries["results"][0], failed=True)]})


# -- cleanup -------------------------------------------------------------------------------------


def test_cleanup_lists_what_it_deleted():
    drill = request()
    item = drill["tables"][0]
    cleanup = f.drill_cleanup(drill, {"results": [{"item": item, "changed": True, "deleted": True}]},
                              {"results": [{"item": item, "changed": True, "key": KEY}]}, "us-east-1")
    assert cleanup["ok"] and cleanup["left_behind"] == [] and f.cleanup_message(cleanup) == ""
    assert cleanup["deleted"] == ["scratch table prop-ie-staging-data-" + DRILL_ID,
                                  "canary item %s in table prop-ie-staging-data" % json.dumps(KEY, sort_keys=True)]
    nothing = f.drill_cleanup(drill, {"results": [{"item": item, "changed": False}]},
                              {"results": [{"item": item, "changed": False, "key": KEY}]}, "us-east-1")
    assert nothing["ok"] and nothing["deleted"] == []


def test_cleanup_says_exactly_what_it_left_behind_and_how_to_remove_it():
    drill = request()
    item = drill["tables"][0]
    rerun = "ansible-playbook playbooks/dr_drill.yml -e env=staging -e drill_id=" + DRILL_ID
    cleanup = f.drill_cleanup(
        drill, {"results": [{"item": item, "failed": True, "msg": "deleting table x: AccessDeniedException"}]},
        {"results": [{"item": item, "failed": True, "key": KEY, "msg": "throttled"}]}, "eu-west-1", rerun)
    assert not cleanup["ok"]
    scratch, canary = cleanup["left_behind"]
    assert scratch["what"] == "scratch table prop-ie-staging-data-" + DRILL_ID and "AccessDenied" in scratch["error"]
    first, second = scratch["command"].split("; ")
    assert shlex.split(second) == ["aws", "dynamodb", "delete-table", "--region", "eu-west-1", "--table-name",
                                   "prop-ie-staging-data-" + DRILL_ID]
    assert "--no-deletion-protection-enabled" in first
    words = shlex.split(canary["command"])
    assert words[:7] == ["aws", "dynamodb", "delete-item", "--region", "eu-west-1", "--table-name", "prop-ie-staging-data"]
    assert json.loads(words[words.index("--key") + 1]) == {"pk": {"S": KEY["pk"]}, "sk": {"S": KEY["sk"]}}
    assert json.loads(words[-1]) == {":d": {"S": DRILL_ID}} and "propie_drill_id = :d" in words
    message = f.cleanup_message(cleanup)
    assert message.startswith("The drill's cleanup left behind:")
    assert scratch["command"] in message and canary["command"] in message and rerun in message
    # A cleanup that never ran for a table says so, and names the re-run.
    unknown = f.drill_cleanup(drill, None, None, "us-east-1", rerun)
    assert [x["what"] for x in unknown["left_behind"]] == [
        "scratch table prop-ie-staging-data-%s (not checked)" % DRILL_ID,
        "canary item of drill %s in table prop-ie-staging-data (not checked)" % DRILL_ID]
    assert unknown["left_behind"][1]["command"] == rerun


# -- failures, the full rollback, the alarm ---------------------------------------------------------


def test_failure_messages_name_each_failed_item_and_give_up_reasons():
    assert f.failure_message({"msg": "boom"}) == "boom"
    looped = {"msg": "One or more items failed", "results": [
        {"item": {"name": "a"}, "failed": False}, {"item": {"name": "b"}, "failed": True, "msg": "no PITR"}]}
    assert f.failure_message(looped) == "b: no PITR"
    waited = {"failed": True, "attempts": 30, "progress": "the restorable window ends 3.0s before it"}
    assert f.failure_message(waited) == "30 attempts, the last: the restorable window ends 3.0s before it"
    ended = {"failed": True, "attempts": 4, "msg": "Module failed: Unknown error.",
             "progress": "all ended after 9s; failed: table x does not exist"}
    assert f.failure_message(ended) == ("Module failed: Unknown error. (4 attempts, the last: all ended after 9s; "
                                        "failed: table x does not exist)")
    assert f.failure_message("text") == "text" and f.failure_message({}) == "failed"


def test_full_result_from_what_rollback_run_leaves():
    drill = request(full=True)
    assert f.drill_full_result(request()) is None
    run = {"incident_id": "rb-20261130T031000Z-aaaaaa"}
    recorded = {"paths": {"json": "/s/x.json"}, "summary": "done", "record": {"status": "succeeded"}}
    ok = f.drill_full_result(drill, run, recorded, {"todo": ["data"]}, None, [["full", "2026-11-30T03:20:00Z"]])
    assert ok == {"incident_id": run["incident_id"], "record": {"json": "/s/x.json"}, "summary": "done",
                  "todo": ["data"], "ended": "2026-11-30T03:20:00Z", "status": "succeeded"}
    failed = f.drill_full_result(drill, run, recorded, {"todo": ["data"]}, {"msg": "The rollback failed at x"})
    assert failed["status"] == "failed" and failed["msg"] == "The rollback failed at x"
    idle = f.drill_full_result(drill, run, None, {"todo": []}, None, [], [["plan", "", "2026-11-30T03:11:00Z"]])
    assert idle["status"] == "nothing_to_do" and idle["ended"] == "2026-11-30T03:11:00Z"
    assert f.drill_full_result(drill, run, {"skipped": True}, None)["status"] == "failed"


@pytest.mark.parametrize("value, days", [(7, 7), ("3", 3), (1, 1)])
def test_alarm_days(value, days):
    assert f.alarm_days(value) == days


@pytest.mark.parametrize("value", [0, 8, "x", 2.5, None])
def test_alarm_days_outside_what_cloudwatch_evaluates(value):
    with pytest.raises(AnsibleFilterError, match="from 1 to 7"):
        f.alarm_days(value)


# -- the outcome: steps, RTO, RPO, metrics -----------------------------------------------------------

T = "2026-11-30T03:00:%02d.000000Z"


def registered(drill):
    item = drill["tables"][0]
    canaries = {"results": [{"item": item, "key": KEY, "written_at": "2026-11-30T03:00:01Z",
                             "canary": dr.canary_check(KEY, DRILL_ID)}]}
    restorable = {"results": [{"item": item, "restorable": True, "rpo_seconds": 300.5,
                               "restore_window": {"latest": "2026-11-30T03:00:02Z"}}]}
    started = {"results": [{"item": item, "restore_date_time": "2026-11-30T03:00:03Z"}]}
    return canaries, restorable, started


def cleaned(drill, ok=True):
    item = drill["tables"][0]
    scratch = {"item": item, "changed": True} if ok else {"item": item, "failed": True, "msg": "denied"}
    return f.drill_cleanup(drill, {"results": [scratch]}, {"results": [{"item": item, "changed": True, "key": KEY}]},
                           "us-east-1", "rerun")


def test_a_passing_drill_measures_rto_from_restore_start_to_verified_and_rpo_from_the_canary():
    drill = request()
    marks = [["start", T % 0], ["canary", T % 2], ["restorable", T % 7], ["restore", T % 20], ["verify", T % 31],
             ["plan", T % 33], ["cleanup", T % 36]]
    out = f.drill_outcome(drill, marks, *registered(drill), {"lines": ["data: ..."], "todo": ["data"]}, cleaned(drill))
    assert out["status"] == "succeeded" and out["failures"] == [] and out["failed_step"] is None
    assert [(s["key"], s["status"]) for s in out["timeline"]] == [
        ("canary", "succeeded"), ("restorable", "succeeded"), ("restore", "succeeded"), ("verify", "succeeded"),
        ("plan", "succeeded"), ("cleanup", "succeeded"), ("full", "skipped")]
    restore = out["timeline"][2]
    assert (restore["started"], restore["ended"]) == (T % 7, T % 20)
    assert out["rto_seconds"] == 24 and out["rpo_seconds"] == 300.5
    [table] = out["tables"]
    assert table["canary_covered"] and table["canary_margin_s"] == 2
    assert table["restore_point_reached"] == "2026-11-30T03:00:03Z" and table["scratch_table"].endswith(DRILL_ID)
    assert out["metrics"] == [{"name": "DrillPassed", "value": 1, "unit": "Count"},
                              {"name": "DrillRTO", "value": 24, "unit": "Seconds"},
                              {"name": "DrillRPO", "value": 300.5, "unit": "Seconds"}]
    assert out["plan"] == {"incident_id": drill["rollback_id"], "lines": ["data: ..."], "todo": ["data"]}
    assert out["published_from"] == T % 36


def test_a_failed_restore_fails_its_step_skips_the_rest_and_still_cleans_up():
    drill = request()
    marks = [["start", T % 0], ["canary", T % 2], ["restorable", T % 7], ["failed", T % 9], ["cleanup", T % 12]]
    canaries, restorable, _started = registered(drill)
    failure = {"step": "Start each scratch restore", "msg": "ValidationException: sabotaged"}
    out = f.drill_outcome(drill, marks, canaries, restorable, {"results": [{"item": drill["tables"][0], "failed": True}]},
                          None, cleaned(drill), failure)
    assert out["status"] == "failed" and out["failed_step"] == "restore each table to its scratch table"
    steps = dict((s["key"], s) for s in out["timeline"])
    assert steps["restore"]["status"] == "failed" and "sabotaged" in steps["restore"]["detail"]
    assert (steps["restore"]["started"], steps["restore"]["ended"]) == (T % 7, T % 9)
    assert steps["verify"]["status"] == steps["plan"]["status"] == "skipped"
    assert steps["cleanup"]["status"] == "succeeded" and steps["cleanup"]["started"] == T % 9
    assert out["rto_seconds"] is None and out["rpo_seconds"] == 300.5
    assert out["metrics"] == [{"name": "DrillPassed", "value": 0, "unit": "Count"},
                              {"name": "DrillRPO", "value": 300.5, "unit": "Seconds"}]
    assert out["failures"] == [{"step": "restore each table to its scratch table",
                                "msg": "Start each scratch restore: ValidationException: sabotaged"}]
    assert out["tables"][0]["canary_covered"] is None


def test_a_cleanup_that_leaves_something_fails_the_drill_even_when_every_step_passed():
    drill = request()
    marks = [["start", T % 0], ["canary", T % 1], ["restorable", T % 2], ["restore", T % 3], ["verify", T % 4],
             ["plan", T % 5], ["cleanup", T % 6]]
    out = f.drill_outcome(drill, marks, *registered(drill), {"lines": [], "todo": []}, cleaned(drill, ok=False))
    assert out["status"] == "failed" and out["rto_seconds"] == 2
    assert out["timeline"][5]["status"] == "failed" and "LEFT BEHIND scratch table" in out["timeline"][5]["detail"]
    assert "The drill's cleanup left behind:" in out["failures"][0]["msg"]
    assert out["metrics"][0] == {"name": "DrillPassed", "value": 0, "unit": "Count"}


def test_drill_full_steps():
    drill = request(full=True)
    marks = [["start", T % 0], ["canary", T % 1], ["restorable", T % 2], ["restore", T % 3], ["verify", T % 4],
             ["plan", T % 5], ["cleanup", T % 6]]
    full = {"incident_id": "rb-20261130T031000Z-aaaaaa", "status": "succeeded", "ended": T % 40}
    out = f.drill_outcome(drill, marks, *registered(drill), {"lines": [], "todo": []}, cleaned(drill), None, full)
    step = out["timeline"][6]
    assert step["status"] == "succeeded" and (step["started"], step["ended"]) == (T % 6, T % 40)
    assert out["status"] == "succeeded" and out["published_from"] == T % 40
    bad = f.drill_outcome(drill, marks, *registered(drill), {}, cleaned(drill), None, dict(full, status="failed", msg="x"))
    assert bad["status"] == "failed" and bad["failures"] == [{"step": f.LABELS["full"], "msg": "x"}]
    early = f.drill_outcome(drill, marks[:3] + [["failed", T % 4], ["cleanup", T % 5]], *registered(drill), None,
                            cleaned(drill), {"msg": "m"}, None)
    assert early["timeline"][6]["status"] == "skipped" and "drill failed" in early["timeline"][6]["detail"]


def test_report_adds_the_publishing_step_and_decides_the_result():
    drill = request()
    marks = [["start", T % 0], ["canary", T % 1], ["restorable", T % 2], ["restore", T % 3], ["verify", T % 4],
             ["plan", T % 5], ["cleanup", T % 6]]
    out = f.drill_outcome(drill, marks, *registered(drill), {"lines": [], "todo": []}, cleaned(drill))
    report = f.drill_report(out, "alice", {"changed": True}, {"name": "propie-drill-staging-overdue", "state_value": "OK"},
                            None, T % 9, "PropIE/Rollback", {"Environment": "staging"})
    assert report["status"] == "succeeded" and report["finished"] == T % 9 and report["who"] == "alice"
    publish = report["timeline"][-1]
    assert publish["key"] == "publish" and publish["status"] == "succeeded"
    assert (publish["started"], publish["ended"]) == (T % 6, T % 9)
    assert report["metrics"]["published"] == out["metrics"] and report["metrics"]["alarm"] == "propie-drill-staging-overdue"
    assert "metrics" not in out["timeline"][-1] and "published_from" not in report
    failed = f.drill_report(out, "alice", None, None, {"step": "Publish", "msg": "AccessDenied"}, T % 9, "PropIE/Rollback")
    assert failed["status"] == "failed" and failed["metrics"]["published"] == []
    assert failed["failures"] == [{"step": f.LABELS["publish"], "msg": "Publish: AccessDenied"}]
    assert dr.build_report(report)["status"] == "succeeded"  # what the module accepts
