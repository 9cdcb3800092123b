"""The one-command rollback's request check and incident record (plugins/filter/run.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.filter.run import rollback_record, rollback_request, rollback_who
from ansible_collections.propie.rollback.plugins.module_utils.common import ROLLBACK_ID_RE

RID = "rb-20261130T034501Z-9f2c1a"


@pytest.mark.parametrize("asked, expected", [
    ("data,traffic", ["traffic", "data"]),           # runbook order, whatever was typed
    ("traffic, frontend ,infra,data", ["traffic", "frontend", "infra", "data"]),
    (["infra"], ["infra"]),
])
def test_request_orders_components(asked, expected):
    assert rollback_request(asked, RID) == {"components": expected, "incident_id": RID, "minted": False}


@pytest.mark.parametrize("asked, message", [
    ("traffic,dns", "components=traffic,dns: unknown dns. Use a comma-separated subset of traffic,frontend,infra,data"),
    ("", "components=(empty): nothing selected"),
    (3, "components must be a comma-separated list"),
])
def test_request_rejects_bad_components(asked, message):
    with pytest.raises(AnsibleFilterError) as err:
        rollback_request(asked, "")
    assert message in str(err.value) and "Nothing was changed." in str(err.value)


def test_request_mints_an_incident_id_or_checks_the_given_one():
    minted = rollback_request("traffic", "")
    assert minted["minted"] and ROLLBACK_ID_RE.match(minted["incident_id"])
    with pytest.raises(AnsibleFilterError, match="incident_id='INC-1' is not an incident id"):
        rollback_request("traffic", "INC-1")


def test_who_names_the_awx_job_when_there_is_one():
    assert rollback_who("root", "42", "alice") == "awx job 42 (alice)"
    assert rollback_who("oncall") == "oncall"


PLAN = {
    "todo": ["traffic", "data"],
    "lines": ["traffic: ...", "infra: nothing to do", "data: ..."],
    "calls": 11,
    "components": {
        "traffic": {"todo": True, "from": {"": "green"}, "to": {"": "production"}},
        "infra": {"todo": False, "stacks": [{"stack_name": "s", "status": "UPDATE_COMPLETE", "action": "none"}]},
        "data": {"todo": True, "tables": [{"table": "t", "restore_point": "2026-11-30T03:15:00Z", "requested": "latest",
                                           "target_table": "t-pitr-" + RID, "swap_targets": [], "done": False}]},
    },
}
MARKS = [["start", "", "2026-11-30T03:45:00.000000Z"], ["plan", "", "2026-11-30T03:45:03.000000Z"],
         ["traffic back on blue", "traffic", "2026-11-30T03:45:09.000000Z"],
         ["restores started", "data", "2026-11-30T03:45:11.000000Z"]]


def test_record_of_a_finished_run():
    run = {"components": ["traffic", "infra", "data"], "incident_id": RID}
    marks = MARKS + [["verify and swap the data", "data", "2026-11-30T04:10:00.000000Z"],
                     ["record", "", "2026-11-30T04:10:02.000000Z"]]
    record = rollback_record(run, "production", "oncall", PLAN, marks,
                             {"traffic": {"to": {"": "production"}}, "data": [{"source_table": "t"}]}, None, "succeeded")
    assert [s["step"] for s in record["timeline"]] == ["plan", "traffic back on blue", "restores started",
                                                       "verify and swap the data", "record"]
    assert record["timeline"][1] == {"step": "traffic back on blue", "component": "traffic",
                                     "started": "2026-11-30T03:45:03.000000Z", "ended": "2026-11-30T03:45:09.000000Z",
                                     "status": "succeeded"}
    assert {n: c["status"] for n, c in record["components"].items()} == {
        "traffic": "succeeded", "infra": "nothing_to_do", "data": "succeeded"}
    assert record["components"]["traffic"]["after"] == {"": "production"}
    assert record["data"] == [{"table": "t", "restore_point": "2026-11-30T03:15:00Z", "requested": "latest",
                               "recovery_table": "t-pitr-" + RID, "rpo_seconds": 1800.0}]
    assert record["plan"]["restore_points"] == {"t": "2026-11-30T03:15:00Z"}
    assert record["finished"] == "2026-11-30T04:10:02.000000Z" and record["failures"] == []


def test_record_of_a_failed_run_names_the_failed_step():
    run = {"components": ["traffic", "data"], "incident_id": RID}
    failure = {"step": "Verify the recovery table", "msg": "canary missing"}
    marks = MARKS + [["record", "", "2026-11-30T04:00:00.000000Z"]]
    record = rollback_record(run, "production", "oncall", PLAN, marks, {}, {"decision": "rollback"}, "failed", failure)
    last = record["timeline"][-1]
    assert (last["step"], last["status"], last["detail"]) == ("Verify the recovery table", "failed", "canary missing")
    assert last["started"] == "2026-11-30T03:45:11.000000Z"
    assert record["failures"] == [failure] and record["trigger"] == {"decision": "rollback"}


def test_record_while_running_has_no_end():
    run = {"components": ["traffic", "data"], "incident_id": RID}
    record = rollback_record(run, "sandbox", "oncall", PLAN, MARKS[:2], {}, None, "running")
    assert record["status"] == "running" and record["finished"] is None
    assert record["components"]["data"]["status"] == "running"
