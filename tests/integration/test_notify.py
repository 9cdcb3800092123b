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
  module_defaults:
    group/propie.rollback.rollback:
      aws_config: "{{ rollback_aws_config | default(omit) }}"
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


def test_a_rerun_of_the_same_incident_sends_nothing_again(sandbox, run_playbook):
    topic, sqs, url = _subscribed_queue(sandbox)
    event = {"event": "rollback_started", "summary": "5XX rate 15% > 5%: rolling back", "topic": topic,
             "contacts": CONTACTS, "at": "2026-11-30T03:00:00Z"}
    seq = sandbox.last_seq()
    check = run_playbook(PLAY, extravars=event, check=True)
    assert check.rc == 0 and "would be sent" in check.stdout, check.stdout
    assert sandbox.mutating_since(seq) == []
    first = run_playbook(PLAY, extravars=event)
    again = run_playbook(PLAY, extravars=event)
    assert first.rc == 0 and again.rc == 0, again.stdout
    assert "CRITICAL rollback_started sent to" in " ".join(first.stdout.split())
    assert "CRITICAL rollback_started already sent at 20" in " ".join(again.stdout.split())
    assert [r["operation"] for r in sandbox.mutating_since(seq)] == ["Publish"]
    assert len(_messages(sqs, url)) == 1  # (ReceiveMessage is in the log from here on)
    # The next step of the same incident is a new message.
    later = run_playbook(PLAY, extravars={**event, "event": "rollback_finished", "summary": "Rolled back"})
    assert later.rc == 0, later.stdout
    assert [r["operation"] for r in sandbox.mutating_since(seq) if r["service"] == "sns"] == ["Publish", "Publish"]


def test_a_fifo_topic_drops_the_send_repeated_after_a_lost_answer(sandbox, run_playbook):
    """The answer to Publish held past the client's read timeout: the client sends again, SNS
    (deduplication id from the notification id) delivers one message."""
    sns, sqs = sandbox.boto3_client("sns"), sandbox.boto3_client("sqs")
    topic = sns.create_topic(Name="alerts.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName="inbox.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sandbox.add_fault(service="sns", operation="Publish", response_delay_ms=3000, count=1)
    seq = sandbox.last_seq()
    run = run_playbook(PLAY, extravars={"event": "rollback_started", "summary": "rolling back", "topic": topic,
                                        "contacts": CONTACTS, "at": "2026-11-30T03:00:00Z",
                                        "rollback_aws_config": {"read_timeout": 1}})
    assert run.rc == 0, run.stdout
    publishes = [r for r in sandbox.requests(seq) if r["operation"] == "Publish"]
    assert len(publishes) >= 2, publishes  # the lost answer made the client send again
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(got) == 1, got
