"""rollback_notify: one SNS message per event, severity, escalation, no contact details in logs."""

from __future__ import annotations

import json

CONTACTS = [
    {"role": "DevOps Lead", "name": "Dana", "contact": "+353-1-555-0101", "hours": "24/7",
     "severities": ["warning", "critical"]},
    {"role": "Backend Lead", "name": "Bo", "contact": "+353-1-555-0102", "hours": "9am-5pm",
     "severities": ["critical"]},
    {"role": "Frontend Lead", "name": "Fi", "contact": "+353-1-555-0103", "hours": "Mon-Fri 09:00-17:00",
     "severities": ["critical"]},
    {"role": "AWS Support", "name": "AWS", "contact": "AWS Support Portal", "hours": "24/7",
     "severities": ["critical"]},
]

PLAY = """
- name: Notify
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Send the event
      ansible.builtin.include_role:
        name: propie.rollback.rollback_notify
      vars:
        rollback_notify_event: "{{ event }}"
        rollback_notify_summary: "{{ summary }}"
        rollback_notify_details: {decision: rollback, value: 15.0}
        rollback_notify_topic_arn: "{{ topic }}"
        rollback_notify_contacts: "{{ contacts }}"
        rollback_notify_time_zone: Europe/Dublin
        rollback_notify_env: sandbox
        rollback_notify_rollback_id: rb-20261130T030000Z-abcdef
        rollback_notify_now: "{{ at }}"
"""


def _subscribed_queue(sandbox):
    topic, url = sandbox.sqs_subscribed_to("alerts", "alerts-inbox")
    return topic, sandbox.boto3_client("sqs"), url


def _messages(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_critical_at_night_escalates_to_24x7_contacts_only(sandbox, run_playbook):
    topic, sqs, url = _subscribed_queue(sandbox)
    run = run_playbook(PLAY, extravars={
        "event": "rollback_started", "summary": "5XX rate 15% > 5%: rolling back",
        "topic": topic, "contacts": CONTACTS, "at": "2026-11-30T03:00:00Z"})
    assert run.rc == 0, run.stdout
    [envelope] = _messages(sqs, url)
    assert envelope["Subject"] == "[CRITICAL] sandbox: 5XX rate 15% > 5%: rolling back"
    body = json.loads(envelope["Message"])
    assert body["severity"] == "critical" and body["event"] == "rollback_started"
    assert body["rollback_id"] == "rb-20261130T030000Z-abcdef"
    assert body["details"] == {"decision": "rollback", "value": 15.0}
    assert [c["role"] for c in body["escalate_to"]] == ["DevOps Lead", "AWS Support"]
    assert body["escalate_to"][0]["contact"] == "+353-1-555-0101"
    # Contact details go to SNS only, never into the job output.
    for contact in CONTACTS:
        assert contact["contact"] not in run.stdout
        assert contact["contact"] not in json.dumps([e.get("event_data", {}) for e in run.events])
    assert "escalate to DevOps Lead, AWS Support" in run.stdout


def test_office_hours_in_the_env_time_zone(sandbox, run_playbook):
    topic, sqs, url = _subscribed_queue(sandbox)
    # 10:30 in Dublin on a Monday (UTC+0 in winter): everyone critical is on hours.
    run = run_playbook(PLAY, extravars={
        "event": "rollback_failed", "summary": "Rollback failed", "topic": topic,
        "contacts": CONTACTS, "at": "2026-11-30T10:30:00Z"})
    assert run.rc == 0, run.stdout
    body = json.loads(_messages(sqs, url)[0]["Message"])
    assert [c["role"] for c in body["escalate_to"]] == [
        "DevOps Lead", "Backend Lead", "Frontend Lead", "AWS Support"]
    # Saturday 10:30: the weekday-only contact is off, the plain 9am-5pm one is on.
    run = run_playbook(PLAY, extravars={
        "event": "rollback_failed", "summary": "Rollback failed", "topic": topic,
        "contacts": CONTACTS, "at": "2026-12-05T10:30:00Z"})
    body = json.loads(_messages(sqs, url)[0]["Message"])
    assert [c["role"] for c in body["escalate_to"]] == ["DevOps Lead", "Backend Lead", "AWS Support"]


def test_info_event_goes_to_nobody_and_says_so(sandbox, run_playbook):
    topic, sqs, url = _subscribed_queue(sandbox)
    run = run_playbook(PLAY, extravars={
        "event": "shift_step", "summary": "Traffic at 50% green", "topic": topic,
        "contacts": CONTACTS, "at": "2026-11-30T10:30:00Z"})
    assert run.rc == 0, run.stdout
    body = json.loads(_messages(sqs, url)[0]["Message"])
    assert body["severity"] == "info" and body["escalate_to"] == []
    assert "nobody on hours" in run.stdout


def test_unknown_event_is_rejected_before_publishing(sandbox, run_playbook):
    topic, sqs, url = _subscribed_queue(sandbox)
    seq = sandbox.last_seq()
    run = run_playbook(PLAY, extravars={
        "event": "party", "summary": "x", "topic": topic, "contacts": CONTACTS,
        "at": "2026-11-30T10:30:00Z"})
    assert run.rc != 0
    assert "party" in run.stdout and "rollback_notify_event" in run.stdout
    assert sandbox.mutating_since(seq) == []
