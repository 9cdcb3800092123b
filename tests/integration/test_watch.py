"""playbooks/watch.yml on the seeded incident: the triggers decide, the watch acts."""

from __future__ import annotations

import json

from sandbox.scenarios import propie_incident as incident
from tests.integration.test_rollback_playbook import _estate, _seed

PLAYBOOK = "playbooks/watch.yml"


def test_a_breaching_rollback_trigger_starts_the_rollback_with_the_trigger_recorded(sandbox, run_playbook, tmp_path):
    _seed(sandbox)  # 5XX at 15 % over the last minutes: above the runbook's 5 %
    seq = sandbox.last_seq()
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "watch_minutes": "1"})
    assert run.rc == 0, run.stdout
    assert run.result("Say what the watch decided")["msg"].startswith("sandbox: rollback: 5XX error rate: 15")
    after = _estate(sandbox)
    assert after["traffic"] == {"": "production", "www": "production"} and after["stack"] == "UPDATE_ROLLBACK_COMPLETE"
    assert after["table"] == incident.TABLE  # data is not restored on a trigger
    ops = [r["operation"] for r in sandbox.mutating_since(seq) if r["status"] < 400]
    assert "RestoreTableToPointInTime" not in ops and ops.count("StartJob") == 1
    records = list((tmp_path / "state" / "incidents" / "sandbox").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["trigger"]["decision"] == "rollback"
    assert any(t["name"] == "5XX error rate" and t["state"] == "BREACHING" for t in record["trigger"]["triggers"])
    assert set(record["components"]) == {"traffic", "frontend", "infra"}


def test_an_alert_trigger_alone_notifies_and_holds(sandbox, run_playbook):
    _seed(sandbox)
    topic, queue = sandbox.sqs_subscribed_to(incident.TOPIC, "watch-inbox")
    # 5XX tolerated up to 50 % here, latency above 100 ms alerts: only an alert trigger breaches.
    overrides = {"5XX error rate": {"threshold": 50}, "Latency p99": {"threshold": 100}}
    seq = sandbox.last_seq()
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "watch_minutes": "1", "rollback_trigger_overrides": overrides,
                                            "rollback_sns_topic_arns": {"alerts": topic}})
    assert run.rc == 0, run.stdout
    assert run.result("Say what the watch decided")["msg"].startswith("sandbox: alert: Latency p99")
    assert [r["operation"] for r in sandbox.mutating_since(seq)] == ["Publish"]
    messages = sandbox.boto3_client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert body["event"] == "trigger_breach" and body["details"]["decision"] == "alert"
    assert _estate(sandbox)["traffic"] == {"": "green", "www": "green"}  # held for a person


def test_watch_minutes_must_be_a_whole_number(sandbox, run_playbook):
    run = run_playbook(PLAYBOOK, extravars={"env": "sandbox", "watch_minutes": "soon"})
    assert run.rc != 0
    assert "watch_minutes must be a whole number of minutes of at least 1, got soon" in " ".join(run.stdout.split())
    assert sandbox.requests() == []
