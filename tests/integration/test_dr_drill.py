"""`playbooks/dr_drill.yml -e env=NAME` against the sandbox: the drill passes with RTO/RPO in its report and
in CloudWatch; it fails, cleans up and says so when the restore is sabotaged; production never gets a full drill.

The sandbox runs at time scale 0.01: its restorable window lags 300 emulated seconds (3 s; 6 s in the passing
drill), a restore stays CREATING for `restore_seconds` emulated seconds. Figures are checked against those emulated durations
(lower bounds the sandbox guarantees), never against wall-clock windows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time

import pytest

from sandbox.scenarios import propie_incident as incident
from tests.integration.test_environments import _production_like

PLAYBOOK = "playbooks/dr_drill.yml"
SCALE = 0.01
RESTORE_SECONDS = 600  # emulated: 6 s at SCALE
LAG = 300  # the sandbox's LatestRestorableDateTime lag, emulated seconds
LONG_LAG = 2 * LAG  # set through POST /_sandbox/dynamodb/lag
NAMESPACE = "PropIE/Rollback"
DIMENSIONS = [{"Name": "Environment", "Value": "sandbox"}]
ALARM = "propie-drill-sandbox-overdue"
# What a drill may change: its canary, its scratch table (restore, re-applied settings, deletion), its
# metrics and alarm, the SNS summary. Never the application's traffic, build, stack or configuration.
DRILL_WRITES = {"PutItem", "DeleteItem", "RestoreTableToPointInTime", "UpdateContinuousBackups", "UpdateTimeToLive",
                "TagResource", "UpdateTable", "DeleteTable", "PutMetricData", "PutMetricAlarm", "Publish"}


def _seed(sandbox, healed: bool = True) -> None:
    """The PropIE estate; `healed`: the live table holds good data again (the incident's data was fixed)."""
    sandbox.set_time_scale(SCALE)
    incident.seed(sandbox)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": RESTORE_SECONDS})
    if healed:
        incident._put_items(sandbox.boto3_client("dynamodb"),
                            [incident._property(n, 250_000 + n * 1000, "FOR_SALE") for n in range(incident.GOOD_ITEMS)])


def _drill_id(run) -> str:
    return run.result("Check the request and fix the drill id")["ansible_facts"]["drill"]["drill_id"]


def _report(tmp_path, drill_id: str) -> dict:
    return json.loads((tmp_path / "state" / "drills" / "sandbox" / f"{drill_id}.json").read_text())


def _stats(run) -> dict:
    return next(e["event_data"]["artifact_data"] for e in run.events if e.get("event") == "playbook_on_stats")


def _tables(sandbox) -> list[str]:
    return sorted(sandbox.boto3_client("dynamodb").list_tables()["TableNames"])


def _canary(sandbox, drill_id: str, table: str = incident.TABLE):
    key = {"pk": {"S": f"propie-drill-canary#{drill_id}"}, "sk": {"S": "propie-drill-canary"}}
    return sandbox.boto3_client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def _metric(sandbox, name: str) -> list[float]:
    now = dt.datetime.now(dt.timezone.utc)
    stats = sandbox.boto3_client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE, MetricName=name, Dimensions=DIMENSIONS, StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5), Period=3600, Statistics=["Maximum", "SampleCount"])
    return [p["Maximum"] for p in stats["Datapoints"]]


def _alarm_state(sandbox) -> str:
    sandbox.control("POST", "cloudwatch/evaluate-alarms", {"alarm_names": [ALARM]})
    return sandbox.boto3_client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"]


def _said(run) -> str:
    return " ".join(run.stdout.split())


def test_drill_passes_with_rto_and_rpo_in_its_report_and_in_cloudwatch(sandbox, run_playbook, tmp_path):
    _seed(sandbox)
    # The window lags twice as much here, 6 s: the canary's wait polls (and shows its progress)
    # before the window passes the canary, however slow the machine.
    sandbox.control("POST", "dynamodb/lag", {"seconds": LONG_LAG})
    topic, inbox = sandbox.sqs_subscribed_to(incident.TOPIC, "drill-inbox")
    before = _tables(sandbox)
    seq = sandbox.last_seq()
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox"})
    assert run.rc == 0, run.stdout
    drill_id = _drill_id(run)

    # Progress at every poll: the canary's wait, then the restore's.
    assert "... rollback-sandbox: canary written" in run.stdout and "the restorable window ends" in run.stdout
    assert f"restore {incident.TABLE}-{drill_id} CREATING" in run.stdout

    report = _report(tmp_path, drill_id)
    assert report["status"] == "succeeded" and report["env"] == "sandbox" and report["failures"] == []
    assert {s["key"]: s["status"] for s in report["timeline"]} == {
        "canary": "succeeded", "restorable": "succeeded", "restore": "succeeded", "verify": "succeeded",
        "plan": "succeeded", "cleanup": "succeeded", "full": "skipped", "publish": "succeeded"}
    # RTO spans the restore (CREATING for RESTORE_SECONDS) and the verification; RPO is the window's lag.
    assert report["rto_seconds"] >= RESTORE_SECONDS * SCALE
    assert report["rpo_seconds"] >= LONG_LAG * SCALE - 0.5
    [table] = report["tables"]
    assert table["table"] == incident.TABLE and table["scratch_table"] == f"{incident.TABLE}-{drill_id}"
    assert table["canary_covered"] and table["canary_margin_s"] >= 0
    assert table["restore_point_reached"] >= table["canary_written_at"][:19]
    # The rollback's plan, read-only, is kept: all four components of the seeded incident.
    assert report["plan"]["todo"] == ["traffic", "frontend", "infra", "data"]
    assert any(line.startswith("data: restore " + incident.TABLE) for line in report["plan"]["lines"])
    for ext in ("md", "html"):
        text = (tmp_path / "state" / "drills" / "sandbox" / f"{drill_id}.{ext}").read_text()
        assert drill_id in text and "passed" in text.lower()
    assert "RTO (restore start to verified table)" in (tmp_path / "state" / "drills" / "sandbox" / f"{drill_id}.md").read_text()

    # CloudWatch holds the same figures, and the overdue alarm is OK after a pass.
    names = {m["MetricName"] for m in sandbox.boto3_client("cloudwatch").list_metrics(
        Namespace=NAMESPACE, Dimensions=DIMENSIONS)["Metrics"]}
    assert names == {"DrillPassed", "DrillRTO", "DrillRPO"}
    assert _metric(sandbox, "DrillPassed") == [1]
    assert _metric(sandbox, "DrillRTO") == [pytest.approx(report["rto_seconds"])]
    assert _metric(sandbox, "DrillRPO") == [pytest.approx(report["rpo_seconds"])]
    alarm = sandbox.boto3_client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "DrillPassed", "Maximum", "LessThanThreshold", 1.0)
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (
        86400, 7, 7, "breaching")
    assert alarm["Dimensions"] == DIMENSIONS and alarm["AlarmActions"] == [topic]
    assert _alarm_state(sandbox) == "OK"

    # Nothing left behind, the live table as it was, no traffic/build/stack/config change.
    assert _tables(sandbox) == before and _canary(sandbox, drill_id) is None
    items = sandbox.boto3_client("dynamodb").scan(TableName=incident.TABLE)["Items"]
    assert len(items) == incident.GOOD_ITEMS and not any("propie_drill_id" in i for i in items)
    writes = {r["operation"] for r in sandbox.mutating_since(seq) if r["status"] < 400}
    assert writes <= DRILL_WRITES, writes - DRILL_WRITES
    assert {r["service"] for r in sandbox.mutating_since(seq)} <= {"dynamodb", "monitoring", "cloudwatch", "sns"}

    # AWX sees the outcome; the on-call channel got the summary.
    stats = _stats(run)["dr_drill"]
    assert stats["drill_id"] == drill_id and stats["status"] == "succeeded" and stats["passed"]
    assert stats["rto_seconds"] == report["rto_seconds"] and stats["rpo_seconds"] == report["rpo_seconds"]
    assert stats["report"]["json"].endswith(f"drills/sandbox/{drill_id}.json") and stats["left_behind"] == []
    messages = sandbox.boto3_client("sqs").receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    envelopes = [json.loads(m["Body"]) for m in messages]
    [sent] = [e for e in envelopes if "DR drill" in e.get("Subject", "")]
    assert sent["Subject"].startswith("[INFO] sandbox: DR drill passed")
    body = json.loads(sent["Message"])
    assert body["details"]["kind"] == "dr_drill" and body["details"]["drill_id"] == drill_id


def test_drill_fails_and_cleans_up_when_the_restore_is_faulted(sandbox, run_playbook, tmp_path):
    _seed(sandbox)
    before = _tables(sandbox)
    sandbox.add_fault(service="dynamodb", operation="RestoreTableToPointInTime", error_code="ValidationException",
                      message="Injected by the sandbox: restore sabotaged")
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox"})
    assert run.rc != 0
    assert run.failed_tasks[-1] == "Fail the run, the drill failed", run.stdout
    drill_id = _drill_id(run)
    said = _said(run)
    assert f"DR drill {drill_id} of sandbox failed" in said and "restore sabotaged" in said
    assert "The cleanup removed everything the drill made." in said

    report = _report(tmp_path, drill_id)
    steps = {s["key"]: s for s in report["timeline"]}
    assert report["status"] == "failed"
    assert steps["restore"]["status"] == "failed" and "restore sabotaged" in steps["restore"]["detail"]
    assert steps["verify"]["status"] == steps["plan"]["status"] == "skipped"
    assert steps["cleanup"]["status"] == "succeeded" and report["cleanup"]["left_behind"] == []
    assert report["rto_seconds"] is None and report["rpo_seconds"] >= LAG * SCALE - 0.5
    assert _tables(sandbox) == before and _canary(sandbox, drill_id) is None
    # A failed drill is published as not passed: with no pass in the alarm's 7 days it is in ALARM.
    assert _metric(sandbox, "DrillPassed") == [0] and _metric(sandbox, "DrillRTO") == []
    assert _alarm_state(sandbox) == "ALARM"
    assert _stats(run)["dr_drill"]["status"] == "failed"


def test_drill_fails_when_the_canary_is_gone_from_the_scratch_table_and_says_what_it_left(
        sandbox, run_playbook, run_printed, tmp_path):
    """A fault rule holds the verification's canary read for 3 s (the only BatchGetItem of a drill); in that
    time the canary is deleted from the scratch table. DeleteTable is refused, so the cleanup leaves it."""
    _seed(sandbox)
    sandbox.add_fault(service="dynamodb", operation="BatchGetItem", latency_ms=3000, count=1)
    sandbox.add_fault(service="dynamodb", operation="DeleteTable", error_code="AccessDeniedException",
                      message="Injected by the sandbox: no DeleteTable")
    seq = sandbox.last_seq()
    result = {}
    drill = threading.Thread(target=lambda: result.update(run=run_playbook(PLAYBOOK, extravars={"env": "sandbox"})))
    drill.start()
    deadline = time.monotonic() + 300
    while not any(r["operation"] == "BatchGetItem" for r in sandbox.requests(seq)):
        assert drill.is_alive() and time.monotonic() < deadline, "the drill never read its canary"
        time.sleep(0.05)  # a real poll of the request log: the playbook runs in another process
    [scratch] = [t for t in _tables(sandbox) if "-dr-" in t]
    drill_id = scratch[len(incident.TABLE) + 1:]
    sandbox.boto3_client("dynamodb").delete_item(
        TableName=scratch, Key={"pk": {"S": f"propie-drill-canary#{drill_id}"}, "sk": {"S": "propie-drill-canary"}})
    drill.join(600)
    run = result["run"]
    assert run.rc != 0 and _drill_id(run) == drill_id

    said = _said(run)
    assert "canaries: 2 of 3 as expected" in said and f"propie-drill-canary#{drill_id}" in said
    report = _report(tmp_path, drill_id)
    steps = {s["key"]: s for s in report["timeline"]}
    assert steps["verify"]["status"] == "failed" and "should be present" in steps["verify"]["detail"]
    assert steps["cleanup"]["status"] == "failed" and report["rto_seconds"] is None
    # Exactly what is left, and how to remove it.
    [left] = report["cleanup"]["left_behind"]
    assert left["what"] == f"scratch table {scratch}" and "AccessDeniedException" in left["error"]
    assert f"aws dynamodb delete-table --region us-east-1 --table-name {scratch}" in left["command"]
    assert f"scratch table {scratch} (" in said and left["command"] in said
    assert scratch in _tables(sandbox) and _canary(sandbox, drill_id) is None  # the live canary is deleted
    md = (tmp_path / "state" / "drills" / "sandbox" / f"{drill_id}.md").read_text()
    assert "**left behind**: scratch table " + scratch in md and _stats(run)["dr_drill"]["left_behind"] == [left["what"]]

    # The printed re-run (faults gone) removes the scratch table, drills again and passes.
    sandbox.clear_faults()
    rerun = re.search(r"Or run the drill again with its id \(.*?\): (ansible-playbook .*?drill_id=\S+)",
                      run.result("Say what the cleanup left behind")["msg"][-1]).group(1)
    done = run_printed(rerun)
    assert done.returncode == 0, done.stdout
    assert scratch not in _tables(sandbox) and _canary(sandbox, drill_id) is None
    assert _report(tmp_path, drill_id)["status"] == "succeeded"


def test_production_drill_full_is_refused_before_any_call(sandbox, run_playbook, tmp_path):
    _seed(sandbox)
    inventory = _production_like(tmp_path)
    seq = sandbox.last_seq()
    run = run_playbook(PLAYBOOK, inventory=str(inventory),
                       extravars={"env": "production", "drill_full": True, "confirm": "production"})
    assert run.rc != 0
    assert sandbox.mutating_since(seq) == [] and sandbox.requests(seq) == []
    said = _said(run)
    assert "drill_full=true is refused for production" in said and "Nothing was called." in said
    assert not (tmp_path / "state" / "drills").exists()


def test_drill_full_rolls_a_non_production_env_back_end_to_end(sandbox, run_playbook, tmp_path):
    _seed(sandbox)
    sandbox.control("POST", "amplify/config", {"job_durations": {"PENDING": 2, "PROVISIONING": 10, "RUNNING": 288},
                                               "domain_update_seconds": 30})
    sandbox.control("POST", "cloudformation/config", {"phase_seconds": 60})
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "drill_full": "true"})
    assert run.rc == 0, run.stdout
    drill_id = _drill_id(run)
    report = _report(tmp_path, drill_id)
    full = report["full_rollback"]
    assert report["status"] == "succeeded" and full["status"] == "succeeded"
    assert {s["key"]: s["status"] for s in report["timeline"]}["full"] == "succeeded"
    # The real rollback ran end to end, with its own incident record naming the drill as its trigger.
    record = json.loads((tmp_path / "state" / "incidents" / "sandbox" / f"{full['incident_id']}.json").read_text())
    assert record["status"] == "succeeded" and record["trigger"]["decision"] == "drill"
    assert drill_id in record["trigger"]["reason"] and full["record"]["json"].endswith(f"{full['incident_id']}.json")
    domain = sandbox.boto3_client("amplify").get_domain_association(appId="d4cebxzd5u3ynb", domainName=incident.DOMAIN)
    assert {s["subDomainSetting"]["branchName"] for s in domain["domainAssociation"]["subDomains"]} == {"production"}
    stack = sandbox.boto3_client("cloudformation").describe_stacks(StackName=incident.STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    table = sandbox.boto3_client("ssm").get_parameter(Name=incident.TABLE_PARAMETER)["Parameter"]["Value"]
    assert table == f"{incident.TABLE}-pitr-{full['incident_id']}"
    # The drill's own scratch table and canary are gone all the same.
    assert not [t for t in _tables(sandbox) if "-dr-" in t]
    assert _stats(run)["dr_drill"]["full_rollback"]["incident_id"] == full["incident_id"]
