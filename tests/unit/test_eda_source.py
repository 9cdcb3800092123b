"""The alarm listener's pieces without AWS: the event source's parsing, ack-after-enqueue, duplicate
suppression and backoff (botocore Stubber), the rulebook against the trigger table, and the
playbook's decision filter."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import sys
from pathlib import Path

import boto3
import jsonschema
import pytest
import yaml
from botocore.stub import Stubber

from ansible_collections.propie.rollback.plugins.filter import alarm as alarm_filter
from ansible_collections.propie.rollback.plugins.module_utils import record as records
from ansible_collections.propie.rollback.plugins.module_utils import triggers as rules
from tests.conftest import REPO

SOURCE_PATH = REPO / "extensions" / "eda" / "plugins" / "event_source" / "sqs_alarms.py"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/propie-production-rollback-alarms"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:prop-ie-production-rollback-alerts"


def _load_source():
    """The plugin as ansible-rulebook loads it: a file run on its own, not a package module."""
    spec = importlib.util.spec_from_file_location("propie_sqs_alarms", SOURCE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


src = _load_source()

# What CloudWatch publishes for a metric-math alarm (the shape of AWS's notification JSON).
NOTIFICATION = {
    "AlarmName": "propie-production-5XX-error-rate",
    "AlarmDescription": "propie.rollback trigger '5XX error rate' (action: rollback)",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2026-11-30T03:00:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": ("Threshold Crossed: 1 out of the last 1 datapoints [15.2 (30/11/26 04:43:00)] was greater than "
                       "the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."),
    "StateChangeTime": "2026-11-30T04:48:57.362+0000",
    "Region": "EU (Ireland)",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:propie-production-5XX-error-rate",
    "OldStateValue": "OK",
    "OKActions": [TOPIC], "AlarmActions": [TOPIC], "InsufficientDataActions": [],
    "Trigger": {
        "Period": 300, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 5.0, "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
        "Metrics": [
            {"Id": "errors", "ReturnData": False, "MetricStat": {
                "Metric": {"Dimensions": [{"value": "d1", "name": "App"}], "MetricName": "5xxErrors",
                           "Namespace": "AWS/AmplifyHosting"}, "Period": 300, "Stat": "Sum"}},
            {"Id": "requests", "ReturnData": False, "MetricStat": {
                "Metric": {"Dimensions": [{"value": "d1", "name": "App"}], "MetricName": "Requests",
                           "Namespace": "AWS/AmplifyHosting"}, "Period": 300, "Stat": "Sum"}},
            {"Id": "decision", "Expression": "100*errors/requests", "Label": "5XX error rate", "ReturnData": True},
        ],
    },
}
LATENCY = dict(NOTIFICATION, AlarmName="propie-production-Latency-p99", NewStateValue="OK", OldStateValue="ALARM",
               NewStateReason="Threshold Crossed: 1 datapoint [900.0 (30/11/26 04:43:00)] was not greater than the "
                              "threshold (3000.0).",
               Trigger={"MetricName": "Latency", "Namespace": "AWS/AmplifyHosting", "StatisticType": "ExtendedStatistic",
                        "ExtendedStatistic": "p99", "Unit": None, "Dimensions": [{"value": "d1", "name": "App"}],
                        "Period": 300, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold",
                        "Threshold": 3000.0, "TreatMissingData": "missing"})


def envelope(note: dict, message_id: str = "5f1c2e8a-0000-4000-8000-000000000001") -> str:
    return json.dumps({
        "Type": "Notification", "MessageId": message_id, "TopicArn": TOPIC,
        "Subject": 'ALARM: "%s" in EU (Ireland)' % note["AlarmName"],
        "Message": json.dumps(note), "Timestamp": "2026-11-30T04:48:57.410Z", "SignatureVersion": "1",
        "Signature": "abc", "SigningCertURL": "https://sns.example/cert.pem", "UnsubscribeURL": "https://sns.example/u",
    })


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def test_an_sns_envelope_becomes_one_alarm_event():
    event = src.parse_message(envelope(NOTIFICATION), "production", message_id="sqs-1")
    alarm = event["alarm"]
    assert event["env"] == "production"
    assert alarm["name"] == "propie-production-5XX-error-rate" and alarm["key"] == "5XX-error-rate"
    assert (alarm["old_state"], alarm["state"]) == ("OK", "ALARM")
    assert alarm["values"] == [15.2] and alarm["value"] == 15.2
    assert alarm["threshold"] == 5.0 and alarm["comparison"] == "GreaterThanThreshold"
    assert alarm["time"] == "2026-11-30T04:48:57.362Z"
    assert alarm["metric"]["expression"] == "100*errors/requests"
    assert alarm["metric"]["metrics"]["errors"] == {"namespace": "AWS/AmplifyHosting", "name": "5xxErrors",
                                                    "dimensions": {"App": "d1"}, "statistic": "Sum", "period": 300}
    assert event["message"] == {"id": "5f1c2e8a-0000-4000-8000-000000000001", "delivery": "sns", "topic": TOPIC,
                                "subject": 'ALARM: "propie-production-5XX-error-rate" in EU (Ireland)',
                                "sent": "2026-11-30T04:48:57.410Z"}


def test_raw_message_delivery_gives_the_same_alarm_and_the_same_key():
    raw = src.parse_message(json.dumps(NOTIFICATION), "production", message_id="sqs-2")
    wrapped = src.parse_message(envelope(NOTIFICATION), "production", message_id="sqs-3")
    assert raw["alarm"] == wrapped["alarm"]
    assert raw["message"] == {"id": "sqs-2", "delivery": "raw", "topic": None, "subject": None, "sent": None}
    assert src.event_key(raw) == src.event_key(wrapped) == \
        "propie-production-5XX-error-rate|2026-11-30T04:48:57.362Z|ALARM"


def test_a_single_metric_alarm_and_an_alarm_of_another_env():
    alarm = src.parse_message(json.dumps(LATENCY), "production")["alarm"]
    assert alarm["metric"] == {"namespace": "AWS/AmplifyHosting", "name": "Latency", "dimensions": {"App": "d1"},
                               "statistic": "p99", "period": 300}
    assert alarm["values"] == [900.0] and (alarm["old_state"], alarm["state"]) == ("ALARM", "OK")
    other = src.parse_message(json.dumps(LATENCY), "staging")["alarm"]
    assert other["key"] is None  # not propie-staging-...: no trigger of this env
    assert src.parse_message(json.dumps(LATENCY), "x", prefix="propie-production-")["alarm"]["key"] == "Latency-p99"


def test_an_eventbridge_alarm_state_change():
    body = {
        "version": "0", "id": "c4c1c1c9", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-11-30T04:48:57Z", "region": "eu-west-1",
        "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:propie-production-Latency-p99"],
        "detail": {"alarmName": "propie-production-Latency-p99",
                   "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [4200.0 (30/11/26 04:43:00)]",
                             "timestamp": "2026-11-30T04:48:57.362+0000"},
                   "previousState": {"value": "OK"},
                   "configuration": {"metrics": [{"id": "m1", "returnData": True, "metricStat": {
                       "metric": {"namespace": "AWS/AmplifyHosting", "name": "Latency", "dimensions": {"App": "d1"}},
                       "period": 300, "stat": "p99"}}]}},
    }
    event = src.parse_message(json.dumps(body), "production")
    assert event["message"]["delivery"] == "eventbridge"
    assert event["alarm"]["key"] == "Latency-p99" and event["alarm"]["values"] == [4200.0]
    assert event["alarm"]["metric"]["name"] == "Latency" and event["alarm"]["metric"]["statistic"] == "p99"


@pytest.mark.parametrize("body,malformed,needle", [
    ("not json at all", True, "message body is not JSON"),
    ("[1, 2]", True, "JSON but not an object"),
    (None, True, "not text"),
    (json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC, "Message": "plain text"}), False,
     "SNS message is not JSON"),
    (json.dumps({"source": "propie.rollback", "event": "rollback_finished"}), False, "not an alarm state change"),
    (json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": TOPIC}), False, "SubscriptionConfirmation"),
    (json.dumps({"AlarmName": "", "NewStateValue": "ALARM"}), True, "without an AlarmName"),
    (json.dumps({"AlarmName": "a", "NewStateValue": "EXPLODED"}), True, "NewStateValue 'EXPLODED'"),
    (json.dumps({"detail-type": "CloudWatch Alarm State Change", "detail": {"state": {}}}), True, "without detail"),
])
def test_bodies_that_are_no_alarm_are_dropped_with_a_reason(body, malformed, needle):
    with pytest.raises(src.Dropped) as caught:
        src.parse_message(body, "production")
    assert needle in str(caught.value) and caught.value.malformed is malformed


def test_no_body_crashes_the_parser():
    """Random mutations of a real notification: an event or Dropped, never another exception."""
    rand = random.Random(14)
    base = envelope(NOTIFICATION)
    for _round in range(400):
        chars = list(base)
        for _change in range(rand.randint(1, 8)):
            chars[rand.randrange(len(chars))] = rand.choice('{}[]":,0aZ\\ ')
        try:
            src.parse_message("".join(chars), "production")
        except src.Dropped:
            pass
    for value in (1, 2.5, True, {}, [], {"Type": "Notification", "Message": json.dumps([1])}):
        with pytest.raises(src.Dropped):
            src.parse_message(value if isinstance(value, (int, float)) else json.dumps(value), "production")


def test_templates_in_message_text_are_made_inert():
    note = dict(NOTIFICATION, NewStateReason="set by hand {{ lookup('pipe', 'id') }} {%raw%} {#c#} {{{x}}}")
    alarm = src.parse_message(json.dumps(note), "production")["alarm"]
    assert "{{" not in alarm["reason"] and "{%" not in alarm["reason"] and "{#" not in alarm["reason"]
    assert alarm["reason"] == "set by hand { { lookup('pipe', 'id') }} { %raw%} { #c#} { { {x}}}"
    assert src.defang("x" * 5000) == "x" * src.MAX_TEXT


def test_datapoints_and_times():
    assert src.datapoint_values("[15.2 (30/11/26 04:43:00), 3.0 (30/11/26 04:38:00)] was ...") == [15.2, 3.0]
    assert src.datapoint_values("Insufficient Data: 1 datapoint was unknown.") == []
    assert src.datapoint_values("[1e3 (x)]") == [1000.0]
    assert src.iso_time("2026-11-30T04:48:57.362+0000") == "2026-11-30T04:48:57.362Z"
    assert src.iso_time("2026-11-30T05:48:57+01:00") == "2026-11-30T04:48:57.000Z"
    assert src.iso_time("yesterday") is None and src.iso_time(None) is None


# ---------------------------------------------------------------------------
# The listener: ack after enqueue, duplicates, restarts, throttling
# ---------------------------------------------------------------------------


def _sqs():
    client = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    calls = []
    client.meta.events.register("before-parameter-build.sqs.DeleteMessage",
                                lambda params, **_: calls.append(("delete", params["ReceiptHandle"])))
    return client, calls


def _message(n: int, body: str) -> dict:
    return {"MessageId": "sqs-%d" % n, "ReceiptHandle": "rh-%d" % n, "MD5OfBody": "0" * 32, "Body": body}


def _receive(stubber, messages):
    stubber.add_response("receive_message", {"Messages": messages} if messages else {},
                         {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20,
                          "AttributeNames": ["ApproximateReceiveCount"]})


def _delete(stubber, n):
    stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-%d" % n})


class RecordingQueue(asyncio.Queue):
    """The rulebook's queue, noting when each event was put (next to the client's calls)."""

    def __init__(self, calls, maxsize=0):
        super().__init__(maxsize)
        self.calls = calls

    async def put(self, item):
        await super().put(item)
        self.calls.append(("put", item["alarm"]["name"]))


def test_a_message_is_deleted_only_after_its_event_is_on_the_queue(tmp_path):
    async def scenario():
        client, calls = _sqs()
        queue = RecordingQueue(calls, maxsize=1)
        await queue.put({"alarm": {"name": "already queued"}})  # the rulebook is busy: put blocks
        calls.clear()
        with Stubber(client) as stubber:
            _receive(stubber, [_message(1, envelope(NOTIFICATION))])
            _delete(stubber, 1)
            listener = src.Listener(client, QUEUE_URL, queue, "production", journal=src.Journal(str(tmp_path / "j.json")))
            poll = asyncio.create_task(listener.poll_once())
            for _tick in range(200):
                await asyncio.sleep(0.01)
            assert not poll.done() and calls == [], "no delete while the event is not on the queue"
            assert not (tmp_path / "j.json").exists()
            await queue.get()  # the rulebook takes the first event: ours goes on, then the delete
            assert await poll == 1
            stubber.assert_no_pending_responses()
        assert calls == [("put", "propie-production-5XX-error-rate"), ("delete", "rh-1")]
        assert json.loads((tmp_path / "j.json").read_text())["acknowledged"] == [
            "propie-production-5XX-error-rate|2026-11-30T04:48:57.362Z|ALARM"]
    asyncio.run(scenario())


def test_malformed_messages_are_deleted_and_the_next_one_still_arrives(caplog):
    async def scenario():
        client, calls = _sqs()
        queue = RecordingQueue(calls)
        with Stubber(client) as stubber:
            _receive(stubber, [_message(1, "{oops"), _message(2, json.dumps({"source": "propie.rollback"})),
                               _message(3, envelope(LATENCY))])
            for n in (1, 2, 3):
                _delete(stubber, n)
            listener = src.Listener(client, QUEUE_URL, queue, "production")
            assert await listener.poll_once() == 3
            stubber.assert_no_pending_responses()
        assert calls == [("delete", "rh-1"), ("delete", "rh-2"), ("put", "propie-production-Latency-p99"),
                         ("delete", "rh-3")]
        assert listener.stats == {"received": 3, "events": 1, "duplicates": 0, "dropped": 1, "malformed": 1}
    caplog.set_level("INFO", logger="propie.rollback.sqs_alarms")
    asyncio.run(scenario())
    assert "message sqs-1 dropped: message body is not JSON" in caplog.text


def test_a_redelivered_event_is_not_put_twice_even_after_a_restart(tmp_path):
    """SNS may deliver one alarm notification twice (two SQS messages), SQS may deliver a message
    again, and a listener may stop between enqueue and delete: one event per state change."""
    journal = str(tmp_path / "listener" / "acknowledged.json")

    async def run(messages):
        client, calls = _sqs()
        queue = RecordingQueue(calls)
        with Stubber(client) as stubber:
            _receive(stubber, messages)
            for m in messages:
                stubber.add_response("delete_message", {}, {"QueueUrl": QUEUE_URL, "ReceiptHandle": m["ReceiptHandle"]})
            listener = src.Listener(client, QUEUE_URL, queue, "production", journal=src.Journal(journal, size=50))
            await listener.poll_once()
            stubber.assert_no_pending_responses()
        return [c for c in calls if c[0] == "put"], listener.stats

    puts, stats = asyncio.run(run([_message(1, envelope(NOTIFICATION, "sns-a")),
                                   _message(2, envelope(NOTIFICATION, "sns-b"))]))
    assert len(puts) == 1 and stats["duplicates"] == 1
    # A new listener process (a restart) with the same journal: the acknowledged event again,
    # raw this time, and one new state change.
    puts, stats = asyncio.run(run([_message(3, json.dumps(NOTIFICATION)), _message(4, envelope(LATENCY))]))
    assert puts == [("put", "propie-production-Latency-p99")] and stats["duplicates"] == 1


def test_the_journal_keeps_the_last_keys_and_survives_a_bad_file(tmp_path):
    path = tmp_path / "j.json"
    journal = src.Journal(str(path), size=3)
    for key in "abcde":
        journal.add(key)
    assert json.loads(path.read_text())["acknowledged"] == ["c", "d", "e"]
    assert "a" not in src.Journal(str(path), size=3) and "e" in src.Journal(str(path), size=3)
    path.write_text("{half")
    assert src.Journal(str(path)).keys == []


def test_throttling_and_outages_back_off_and_the_listener_goes_on():
    async def scenario():
        client, calls = _sqs()
        pauses = []

        async def sleep(seconds):
            pauses.append(seconds)

        with Stubber(client) as stubber:
            for _failure in range(3):
                stubber.add_client_error("receive_message", service_error_code="ThrottlingException",
                                         http_status_code=400)
            _receive(stubber, [_message(1, envelope(NOTIFICATION))])
            _delete(stubber, 1)
            listener = src.Listener(client, QUEUE_URL, RecordingQueue(calls), "production", backoff_max=5, sleep=sleep)
            await listener.run(polls=4)
            stubber.assert_no_pending_responses()
        assert len(pauses) == 3 and all(0 <= p <= 5 for p in pauses)
        assert listener.failures == 0 and listener.stats["events"] == 1
    asyncio.run(scenario())


def test_a_failed_delete_is_logged_and_the_redelivery_dropped(tmp_path, caplog):
    async def scenario():
        client, calls = _sqs()
        listener = src.Listener(client, QUEUE_URL, RecordingQueue(calls), "production",
                                journal=src.Journal(str(tmp_path / "j.json")))
        with Stubber(client) as stubber:
            _receive(stubber, [_message(1, envelope(NOTIFICATION))])
            stubber.add_client_error("delete_message", service_error_code="ServiceUnavailable", http_status_code=503)
            _receive(stubber, [_message(2, envelope(NOTIFICATION))])  # back after the visibility timeout
            _delete(stubber, 2)
            await listener.run(polls=2)
            stubber.assert_no_pending_responses()
        assert [c for c in calls if c[0] == "put"] == [("put", "propie-production-5XX-error-rate")]
    caplog.set_level("INFO", logger="propie.rollback.sqs_alarms")
    asyncio.run(scenario())
    assert "could not delete message sqs-1" in caplog.text


def test_botocore_retries_throttling_itself_first():
    config = src.client_config()
    assert config.retries == {"mode": "adaptive", "max_attempts": 10}
    assert config.read_timeout > 20  # longer than a long poll
    assert src.backoff_delay(30, 60, rand=lambda: 1.0) == 60 and src.backoff_delay(1, 60, rand=lambda: 1.0) == 2


def test_a_queue_name_is_looked_up_and_a_missing_one_named():
    client, _calls = _sqs()
    with Stubber(client) as stubber:
        stubber.add_response("get_queue_url", {"QueueUrl": QUEUE_URL}, {"QueueName": "q"})
        assert src.resolve_queue_url(client, {"queue_name": "q"}) == QUEUE_URL
        stubber.add_client_error("get_queue_url", service_error_code="AWS.SimpleQueueService.NonExistentQueue")
        with pytest.raises(ValueError, match="queue q does not exist; create it with playbooks/alarms.yml"):
            src.resolve_queue_url(client, {"queue_name": "q", "env": "production"})
    assert src.resolve_queue_url(client, {"queue_url": QUEUE_URL}) == QUEUE_URL
    with pytest.raises(ValueError, match="needs queue_url or queue_name"):
        src.resolve_queue_url(client, {})


# ---------------------------------------------------------------------------
# The rulebooks against the trigger table
# ---------------------------------------------------------------------------


def _generator():
    spec = importlib.util.spec_from_file_location("eda_rulebook", REPO / "tools" / "eda_rulebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rulebooks_are_generated_from_the_trigger_table():
    gen = _generator()
    for path, text in gen.outputs(gen.load_triggers()).items():
        assert path.read_text() == text, "%s is out of date: run python tools/eda_rulebook.py" % path.name
    assert gen.main(["--check"]) == 0


@pytest.mark.parametrize("name,runs", [("rollback.yml", "run_playbook"), ("rollback_awx.yml", "run_job_template")])
def test_each_trigger_has_one_rule_with_its_action(name, runs):
    import ansible_rulebook

    rulebook = yaml.safe_load((REPO / "extensions" / "eda" / "rulebooks" / name).read_text())
    schema = json.loads((Path(ansible_rulebook.__file__).parent / "schema" / "ruleset_schema.json").read_text())
    jsonschema.validate(rulebook, schema)
    [ruleset] = rulebook
    assert ruleset["sources"][0]["propie.rollback.sqs_alarms"]["env"] == "{{ env }}"
    triggers = yaml.safe_load((REPO / "inventories/group_vars/all/triggers.yml").read_text())["rollback_triggers"]
    for trigger in triggers:
        key = rules.alarm_name(trigger, "")
        matching = [r for r in ruleset["rules"] if '"%s"' % key in str(r["condition"])]
        assert len(matching) == 1, trigger["name"]
        action = matching[0]["action"][runs]
        extra = action["extra_vars"] if runs == "run_playbook" else action["job_args"]["extra_vars"]
        assert extra["alarm_action"] == trigger["action"] and extra["alarm"] == "{{ event.alarm }}"
        assert 'event.alarm.state == "ALARM"' in matching[0]["condition"]
        if runs == "run_playbook":
            assert action["name"] == "propie.rollback.alarm_event"
    assert any(r["condition"] == 'event.alarm.state == "OK"' and "debug" in r["action"] for r in ruleset["rules"])


def test_a_changed_table_makes_the_check_fail(tmp_path):
    gen = _generator()
    triggers = gen.load_triggers() + [{"name": "Queue depth", "action": "rollback"}]
    assert 'event.alarm.key == "Queue-depth"' in gen.render(triggers)
    assert gen.render(triggers) != (REPO / "extensions/eda/rulebooks/rollback.yml").read_text()


# ---------------------------------------------------------------------------
# The playbook's decision (filter alarm_decision)
# ---------------------------------------------------------------------------

TABLE = [
    {"name": "5XX error rate", "action": "rollback", "threshold": 5, "comparison": ">", "window": 300},
    {"name": "Latency p99", "action": "alert", "threshold": 3000, "window": 300},
]
PREFIX = "propie-production-"


def _alarm(note=None):
    note = NOTIFICATION if note is None else note
    return src.parse_message(json.dumps(note), "production")["alarm"]


def test_a_rollback_triggers_alarm_rolls_back_with_the_alarm_in_the_record():
    decision = alarm_filter.alarm_decision(_alarm(), TABLE, PREFIX, "rollback", True)
    assert decision["action"] == "rollback" and decision["trigger"] == "5XX error rate" and not decision["problem"]
    record = decision["record"]
    assert record["alarm"] == "propie-production-5XX-error-rate" and record["state_changed"] == "2026-11-30T04:48:57.362Z"
    assert record["triggers"] == [{"name": "5XX error rate", "action": "rollback", "state": "BREACHING", "value": 15.2,
                                   "comparison": ">", "threshold": 5.0, "window": 300}]
    assert records.trigger_text(record).startswith("watcher decision rollback: 5XX error rate: Threshold Crossed")


@pytest.mark.parametrize("table,routed,confirmed,needle", [
    (TABLE, "alert", True, "the rulebook routed propie-production-5XX-error-rate as alert, this env's trigger table says rollback"),
    ([dict(TABLE[0], action="alert"), TABLE[1]], "rollback", True, "trigger table says alert"),
    (TABLE[1:], "rollback", True, "is not one of this env's triggers (alarm names propie-production-Latency-p99)"),
    (TABLE, "rollback", False, "listener was not started with confirm=<env>"),
])
def test_any_disagreement_alerts_and_holds(table, routed, confirmed, needle):
    decision = alarm_filter.alarm_decision(_alarm(), table, PREFIX, routed, confirmed)
    assert decision["action"] == "alert" and needle in decision["problem"]
    assert decision["record"]["reasons"][-1] == decision["problem"]


def test_an_alert_triggers_alarm_alerts_and_ok_does_nothing():
    latency = dict(LATENCY, NewStateValue="ALARM", OldStateValue="OK")
    assert alarm_filter.alarm_decision(_alarm(latency), TABLE, PREFIX, "alert")["action"] == "alert"
    assert alarm_filter.alarm_decision(_alarm(LATENCY), TABLE, PREFIX, "alert")["action"] == "ignore"
    with pytest.raises(Exception, match="alarm must be the listener's event alarm"):
        alarm_filter.alarm_decision(None, TABLE, PREFIX)
    assert alarm_filter.alarm_record_name(_alarm()) == \
        "2026-11-30T04-48-57.362Z-propie-production-5XX-error-rate-ALARM.json"
