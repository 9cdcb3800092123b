# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: CloudWatch alarm state changes from an SQS queue.

The queue is subscribed to the env's alerts topic (role propie.rollback.rollback_alarms with
rollback_alarms_listener_queue=true). Each message is unwrapped (SNS envelope, SNS raw message
delivery, or an EventBridge "CloudWatch Alarm State Change") into one event; a message is
deleted only after its event is on ansible-rulebook's queue (ack after enqueue). Parsing is
done by the pure functions below, unit-tested without AWS.

The file is loaded by ansible-rulebook with runpy (as propie.rollback.sqs_alarms): it imports
nothing from the collection.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Receive CloudWatch alarm state changes from an SQS queue
description:
  - An ansible-rulebook event source plugin (C(propie.rollback.sqs_alarms)). It long-polls an SQS
    queue subscribed to an SNS topic that CloudWatch alarms publish to, and puts one event per
    alarm state change on the rulebook's queue.
  - Understands SNS envelopes, SNS raw message delivery and EventBridge
    C(CloudWatch Alarm State Change) events. Other messages (for example the collection's own
    notifications on the same topic) and malformed bodies are logged and deleted.
  - A message is deleted only after its event was put on the rulebook's queue. The key of every
    acknowledged event (alarm name, state change time, new state) is kept in O(journal), so a
    message that SQS delivers again (at-least-once delivery, a restart between enqueue and
    delete) is deleted without a second event.
  - Throttling and transient errors are retried by botocore (O(retry_mode)); when a call still
    fails the plugin logs it and tries again after an exponential, jittered backoff, so the
    listener keeps running through an AWS outage.
  - Works against AWS (no endpoint) and against any endpoint botocore is given (O(endpoint_url),
    or E(AWS_ENDPOINT_URL)).
options:
  env:
    description: The environment the queue belongs to; carried in every event.
    type: str
    required: true
  queue_url:
    description: URL of the queue. One of O(queue_url) and O(queue_name) is required.
    type: str
  queue_name:
    description: Name of the queue, looked up with GetQueueUrl at start.
    type: str
  region:
    description: AWS region; defaults to E(AWS_REGION) or E(AWS_DEFAULT_REGION).
    type: str
  endpoint_url:
    description:
      - Endpoint to call instead of AWS's; empty means AWS's regional endpoint (botocore still
        honours E(AWS_ENDPOINT_URL)).
    type: str
  profile:
    description: AWS profile name; credentials otherwise come from the usual chain.
    type: str
  alarm_prefix:
    description:
      - Alarm-name prefix of the env's triggers; an event's C(alarm.key) is the name without it
        (null for alarms without it). Defaults to C(propie-<env>-), the alarms role's default.
    type: str
  wait_seconds:
    description: Long-poll time of each ReceiveMessage call (0 to 20 seconds).
    type: int
    default: 20
  max_messages:
    description: Messages per ReceiveMessage call (1 to 10).
    type: int
    default: 10
  visibility_timeout:
    description: Seconds a received message stays hidden; the queue's setting when not given.
    type: int
  journal:
    description:
      - JSON file with the keys of the last acknowledged events (created when missing). Empty
        turns duplicate suppression across restarts off.
    type: str
    default: ""
  journal_size:
    description: How many keys the journal keeps.
    type: int
    default: 1000
  retry_mode:
    description: botocore retry mode of every call.
    type: str
    choices: [standard, adaptive]
    default: adaptive
  max_attempts:
    description: botocore attempts per call, the first included.
    type: int
    default: 10
  backoff_max:
    description: Longest pause, in seconds, between two failed polls.
    type: float
    default: 60
"""

EXAMPLES = r"""
- name: CloudWatch alarms of the production env
  hosts: all
  sources:
    - propie.rollback.sqs_alarms:
        env: production
        queue_name: propie-production-rollback-alarms
        region: eu-west-1
        journal: /var/lib/propie-rollback/listener/production/acknowledged.json
  rules:
    - name: Show every alarm
      condition: event.alarm is defined
      action:
        debug:
          msg: "{{ event.alarm.name }}: {{ event.alarm.old_state }} -> {{ event.alarm.state }}"
"""

import asyncio
import datetime
import json
import logging
import os
import random
import re
import tempfile
import typing

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    boto3 = None

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Awaitable
    from typing import Callable
    from typing import Dict
    from typing import List
    from typing import Optional

LOG = logging.getLogger("propie.rollback.sqs_alarms")

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
EVENTBRIDGE_DETAIL_TYPE = "CloudWatch Alarm State Change"
# Messages on the alerts topic that are known not to be alarms (logged at info, not warned).
IGNORED_SNS_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
# The longest text field kept in an event (an alarm reason is a few hundred characters).
MAX_TEXT = 2000
_DELIMITER_RE = re.compile(r"\{(?=[{%#])")
_DATAPOINTS_RE = re.compile(r"\[([^\]]*)\]")
_NUMBER_BEFORE_PAREN_RE = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?) \(")


class Dropped(Exception):
    """A message that yields no event; the text says why (it is logged, the message deleted)."""

    def __init__(self, reason: str, malformed: bool = True) -> None:
        super(Dropped, self).__init__(reason)
        self.malformed = malformed


# ---------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------


def defang(value: Any) -> Any:
    """Text from a message, made inert for Jinja: '{{', '{%' and '{#' are broken up.

    Events become playbook extra vars, which Ansible templates; an alarm reason can be set by
    anyone allowed SetAlarmState, so it must never be able to run a template.
    """
    if value is None:
        return None
    text = str(value)[:MAX_TEXT]
    return _DELIMITER_RE.sub("{ ", text)


def iso_time(value: Any) -> Optional[str]:
    """CloudWatch's '2026-11-30T04:48:57.362+0000' (or any ISO 8601) as UTC '...Z'; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    stamp = stamp.astimezone(datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stamp.microsecond // 1000)


def datapoint_values(reason: Optional[str]) -> List[float]:
    """The datapoints an alarm reason lists, newest first: '[15.2 (30/11/26 04:48:00), ...]'."""
    match = _DATAPOINTS_RE.search(reason or "")
    if not match:
        return []
    return [float(v) for v in _NUMBER_BEFORE_PAREN_RE.findall(match.group(1) + " ")]


def _dimensions(items: Any) -> Dict[str, str]:
    """[{name|Name, value|Value}] as {name: value}."""
    out = {}
    for item in items or []:
        if isinstance(item, dict):
            name = item.get("name", item.get("Name"))
            if name is not None:
                out[defang(name)] = defang(item.get("value", item.get("Value")))
    return out


def _metric_stat(stat: Dict[str, Any]) -> Dict[str, Any]:
    metric = stat.get("Metric") or stat.get("metric") or {}
    return {
        "namespace": defang(metric.get("Namespace", metric.get("namespace"))),
        "name": defang(metric.get("MetricName", metric.get("name"))),
        "dimensions": _dimensions(metric.get("Dimensions", metric.get("dimensions"))),
        "statistic": defang(stat.get("Stat", stat.get("stat"))),
        "period": stat.get("Period", stat.get("period")),
    }


def metric_of(trigger: Dict[str, Any]) -> Dict[str, Any]:
    """What an alarm watches, from the notification's Trigger: one metric, or metric math."""
    metrics = trigger.get("Metrics")
    if isinstance(metrics, list) and metrics:
        out = {"expression": None, "metrics": {}}  # type: Dict[str, Any]
        for query in metrics:
            if not isinstance(query, dict):
                continue
            if query.get("Expression") and query.get("ReturnData", True):
                out["expression"] = defang(query["Expression"])
                out["label"] = defang(query.get("Label"))
            elif isinstance(query.get("MetricStat"), dict):
                out["metrics"][defang(query.get("Id"))] = _metric_stat(query["MetricStat"])
        return out
    stat = trigger.get("ExtendedStatistic") or trigger.get("Statistic")
    return {
        "namespace": defang(trigger.get("Namespace")),
        "name": defang(trigger.get("MetricName")),
        "dimensions": _dimensions(trigger.get("Dimensions")),
        "statistic": defang(stat),
        "period": trigger.get("Period"),
    }


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _alarm_key(name: str, prefix: str) -> Optional[str]:
    return name[len(prefix):] if prefix and name.startswith(prefix) and len(name) > len(prefix) else None


def alarm_from_notification(note: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    """The alarm part of an event from the JSON CloudWatch publishes to SNS."""
    name, state = note.get("AlarmName"), note.get("NewStateValue")
    if not isinstance(name, str) or not name:
        raise Dropped("alarm notification without an AlarmName")
    if state not in ALARM_STATES:
        raise Dropped("alarm notification for %s with NewStateValue %r" % (name, state))
    trigger = note.get("Trigger") if isinstance(note.get("Trigger"), dict) else {}
    reason = defang(note.get("NewStateReason"))
    values = datapoint_values(reason)
    return {
        "name": defang(name),
        "key": defang(_alarm_key(name, prefix)),
        "state": state,
        "old_state": note.get("OldStateValue") if note.get("OldStateValue") in ALARM_STATES else None,
        "reason": reason,
        "values": values,
        "value": values[0] if values else None,
        "metric": metric_of(trigger),
        "threshold": _number(trigger.get("Threshold")),
        "comparison": defang(trigger.get("ComparisonOperator")),
        "time": iso_time(note.get("StateChangeTime")),
        "region": defang(note.get("Region")),
        "account": defang(note.get("AWSAccountId")),
        "arn": defang(note.get("AlarmArn")),
    }


def alarm_from_eventbridge(message: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    """The alarm part of an event from an EventBridge 'CloudWatch Alarm State Change'."""
    detail = message.get("detail") if isinstance(message.get("detail"), dict) else {}
    name = detail.get("alarmName")
    new = detail.get("state") if isinstance(detail.get("state"), dict) else {}
    old = detail.get("previousState") if isinstance(detail.get("previousState"), dict) else {}
    if not isinstance(name, str) or not name:
        raise Dropped("EventBridge alarm event without detail.alarmName")
    if new.get("value") not in ALARM_STATES:
        raise Dropped("EventBridge alarm event for %s with state %r" % (name, new.get("value")))
    config = detail.get("configuration") if isinstance(detail.get("configuration"), dict) else {}
    queries = config.get("metrics") if isinstance(config.get("metrics"), list) else []
    metric = {"expression": None, "metrics": {}}  # type: Dict[str, Any]
    for query in queries:
        if not isinstance(query, dict):
            continue
        if query.get("expression") and query.get("returnData", True):
            metric["expression"] = defang(query["expression"])
        elif isinstance(query.get("metricStat"), dict):
            metric["metrics"][defang(query.get("id"))] = _metric_stat(query["metricStat"])
    if len(metric["metrics"]) == 1 and not metric["expression"]:
        metric = list(metric["metrics"].values())[0]
    reason = defang(new.get("reason"))
    values = datapoint_values(reason)
    resources = message.get("resources") if isinstance(message.get("resources"), list) else []
    return {
        "name": defang(name),
        "key": defang(_alarm_key(name, prefix)),
        "state": new["value"],
        "old_state": old.get("value") if old.get("value") in ALARM_STATES else None,
        "reason": reason,
        "values": values,
        "value": values[0] if values else None,
        "metric": metric,
        "threshold": None,
        "comparison": None,
        "time": iso_time(new.get("timestamp")) or iso_time(message.get("time")),
        "region": defang(message.get("region")),
        "account": defang(message.get("account")),
        "arn": defang(resources[0]) if resources else None,
    }


def _json_object(text: Any, what: str) -> Dict[str, Any]:
    if not isinstance(text, str):
        raise Dropped("%s is not text" % what)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise Dropped("%s is not JSON (%s): %r" % (what, e, text[:80]))
    if not isinstance(value, dict):
        raise Dropped("%s is JSON but not an object: %r" % (what, text[:80]))
    return value


def parse_message(body: Any, env: str, prefix: Optional[str] = None, message_id: Optional[str] = None) -> Dict[str, Any]:
    """One SQS message body as an event, or Dropped saying why it is none.

    The event: {env, alarm: {name, key, state, old_state, reason, values, value, metric,
    threshold, comparison, time, region, account, arn}, message: {id, delivery, topic,
    subject, sent}}; `key` names the event for duplicate suppression (see event_key).
    """
    prefix = "propie-%s-" % env if prefix is None else prefix
    outer = _json_object(body, "message body")
    message = {"id": message_id, "delivery": "raw", "topic": None, "subject": None, "sent": None}
    kind = outer.get("Type")
    if kind in IGNORED_SNS_TYPES:
        raise Dropped("SNS %s for %s (no alarm)" % (kind, outer.get("TopicArn")), malformed=False)
    if kind == "Notification" and "Message" in outer:
        message.update(delivery="sns", id=outer.get("MessageId") or message_id, topic=defang(outer.get("TopicArn")),
                       subject=defang(outer.get("Subject")), sent=iso_time(outer.get("Timestamp")))
        try:
            inner = _json_object(outer["Message"], "SNS message")
        except Dropped as e:
            raise Dropped("%s (topic %s)" % (e, outer.get("TopicArn")), malformed=False)
    else:
        inner = outer
    if inner.get("detail-type") == EVENTBRIDGE_DETAIL_TYPE:
        message["delivery"] = "eventbridge" if message["delivery"] == "raw" else message["delivery"]
        alarm = alarm_from_eventbridge(inner, prefix)
    elif "AlarmName" in inner and "NewStateValue" in inner:
        alarm = alarm_from_notification(inner, prefix)
    else:
        source = inner.get("source") or inner.get("event") or sorted(inner)[:5]
        raise Dropped("not an alarm state change (%s)" % (source,), malformed=False)
    return {"env": env, "alarm": alarm, "message": message}


def event_key(event: Dict[str, Any]) -> str:
    """What makes an event the same event, whatever delivered it: alarm, state change time, state."""
    alarm = event["alarm"]
    if alarm.get("time"):
        return "%s|%s|%s" % (alarm["name"], alarm["time"], alarm["state"])
    return "message|%s" % (event.get("message", {}).get("id"),)


# ---------------------------------------------------------------------------
# The journal of acknowledged events
# ---------------------------------------------------------------------------


class Journal(object):
    """The keys of the last `size` acknowledged events, in a JSON file written atomically.

    With no path it only remembers the keys of this run. A journal that cannot be read is
    logged and started afresh: losing duplicate suppression is better than a dead listener.
    """

    def __init__(self, path: Optional[str], size: int = 1000) -> None:
        self.path = path or None
        self.size = max(1, int(size))
        self.keys = []  # type: List[str]
        if self.path and os.path.exists(self.path):
            try:
                with open(self.path) as handle:
                    data = json.load(handle)
                keys = data.get("acknowledged", []) if isinstance(data, dict) else []
                self.keys = [str(k) for k in keys][-self.size:]
            except (IOError, OSError, ValueError) as e:
                LOG.warning("journal %s unreadable (%s): starting a new one", self.path, e)
        self._known = set(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self._known

    def add(self, key: str) -> None:
        if key in self._known:
            return
        self.keys.append(key)
        self._known.add(key)
        if len(self.keys) > self.size:
            for old in self.keys[:-self.size]:
                self._known.discard(old)
            self.keys = self.keys[-self.size:]
        if self.path:
            self._write()

    def _write(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".journal-")
            with os.fdopen(fd, "w") as handle:
                json.dump({"acknowledged": self.keys}, handle)
            os.replace(tmp, self.path)
        except (IOError, OSError) as e:
            LOG.warning("could not write journal %s (%s): duplicates after a restart are possible", self.path, e)


# ---------------------------------------------------------------------------
# The listener
# ---------------------------------------------------------------------------


def backoff_delay(failures: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: up to min(cap, 2**failures) seconds."""
    return rand() * min(float(cap), 2.0 ** min(failures, 16))


def client_config(retry_mode: str = "adaptive", max_attempts: int = 10, wait_seconds: int = 20) -> Any:
    """botocore config: throttling retried (adaptive also rate-limits), reads outlast the long poll."""
    return botocore.config.Config(retries={"mode": retry_mode, "max_attempts": max_attempts},
                                  connect_timeout=10, read_timeout=wait_seconds + 20)


def make_client(args: Dict[str, Any]) -> Any:
    if boto3 is None:
        raise RuntimeError("propie.rollback.sqs_alarms needs boto3 and botocore (pip install boto3)")
    session = boto3.session.Session(profile_name=args.get("profile") or None)
    region = args.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return session.client(
        "sqs", region_name=region or None, endpoint_url=args.get("endpoint_url") or None,
        config=client_config(args.get("retry_mode") or "adaptive", int(args.get("max_attempts") or 10),
                             int(args.get("wait_seconds", 20))))


class Listener(object):
    """Polls the queue and feeds the rulebook. The client is a boto3 SQS client; blocking calls
    run in a worker thread so the rulebook's event loop never waits on AWS."""

    def __init__(self, client: Any, queue_url: str, queue: Any, env: str, prefix: Optional[str] = None,
                 journal: Optional[Journal] = None, wait_seconds: int = 20, max_messages: int = 10,
                 visibility_timeout: Optional[int] = None, backoff_max: float = 60.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.queue_url = queue_url
        self.queue = queue
        self.env = env
        self.prefix = prefix
        self.journal = journal if journal is not None else Journal(None)
        self.wait_seconds = max(0, min(20, int(wait_seconds)))
        self.max_messages = max(1, min(10, int(max_messages)))
        self.visibility_timeout = visibility_timeout
        self.backoff_max = float(backoff_max)
        self.sleep = sleep
        self.failures = 0
        self.stats = {"received": 0, "events": 0, "duplicates": 0, "dropped": 0, "malformed": 0}

    async def _call(self, method: str, **params: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, method), **params)

    async def receive(self) -> List[Dict[str, Any]]:
        params = dict(QueueUrl=self.queue_url, MaxNumberOfMessages=self.max_messages,
                      WaitTimeSeconds=self.wait_seconds, AttributeNames=["ApproximateReceiveCount"])
        if self.visibility_timeout is not None:
            params["VisibilityTimeout"] = int(self.visibility_timeout)
        return (await self._call("receive_message", **params)).get("Messages", [])

    async def delete(self, message: Dict[str, Any]) -> bool:
        try:
            await self._call("delete_message", QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            # It comes back after the visibility timeout; the journal then deletes it without an event.
            LOG.warning("could not delete message %s (%s); it will be delivered again and dropped as a duplicate",
                        message.get("MessageId"), e)
            return False
        return True

    async def handle(self, message: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """One message: event on the queue, then the key in the journal, then delete. Returns the event."""
        self.stats["received"] += 1
        try:
            event = parse_message(message.get("Body"), self.env, self.prefix, message.get("MessageId"))
        except Dropped as e:
            self.stats["malformed" if e.malformed else "dropped"] += 1
            log = LOG.warning if e.malformed else LOG.info
            log("message %s dropped: %s", message.get("MessageId"), e)
            await self.delete(message)
            return None
        key = event_key(event)
        if key in self.journal:
            self.stats["duplicates"] += 1
            LOG.info("message %s repeats acknowledged event %s: deleted, no second event", message.get("MessageId"), key)
            await self.delete(message)
            return None
        await self.queue.put(event)
        self.stats["events"] += 1
        self.journal.add(key)
        LOG.info("event %s (%s -> %s) on the queue", key, event["alarm"]["old_state"], event["alarm"]["state"])
        await self.delete(message)
        return event

    async def poll_once(self) -> int:
        """One ReceiveMessage and its messages; a failed call is logged and paused after."""
        try:
            messages = await self.receive()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.failures += 1
            pause = backoff_delay(self.failures, self.backoff_max)
            LOG.warning("receiving from %s failed (%d in a row): %s; next try in %.1fs",
                        self.queue_url, self.failures, e, pause)
            await self.sleep(pause)
            return 0
        if self.failures:
            LOG.warning("receiving from %s works again after %d failures", self.queue_url, self.failures)
        self.failures = 0
        for message in messages:
            await self.handle(message)
        return len(messages)

    async def run(self, polls: Optional[int] = None) -> None:
        """Poll until cancelled (or `polls` times)."""
        done = 0
        while polls is None or done < polls:
            await self.poll_once()
            done += 1


def resolve_queue_url(client: Any, args: Dict[str, Any]) -> str:
    if args.get("queue_url"):
        return str(args["queue_url"])
    name = args.get("queue_name")
    if not name:
        raise ValueError("propie.rollback.sqs_alarms needs queue_url or queue_name")
    try:
        return client.get_queue_url(QueueName=name)["QueueUrl"]
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code:
            raise ValueError("queue %s does not exist; create it with playbooks/alarms.yml -e env=%s "
                             "-e rollback_alarms_listener_queue=true" % (name, args.get("env"))) from None
        raise


async def main(queue: Any, args: Dict[str, Any]) -> None:
    """ansible-rulebook's entry point."""
    env = args.get("env")
    if not env:
        raise ValueError("propie.rollback.sqs_alarms needs env (the environment the queue belongs to)")
    client = make_client(args)
    queue_url = await asyncio.to_thread(resolve_queue_url, client, args)
    listener = Listener(
        client, queue_url, queue, str(env), args.get("alarm_prefix") or None,
        Journal(args.get("journal") or None, int(args.get("journal_size") or 1000)),
        wait_seconds=int(args.get("wait_seconds", 20)), max_messages=int(args.get("max_messages") or 10),
        visibility_timeout=args.get("visibility_timeout"), backoff_max=float(args.get("backoff_max") or 60))
    LOG.warning("propie.rollback.sqs_alarms: listening on %s for env %s (long poll %ss)",
                queue_url, env, listener.wait_seconds)
    await listener.run()


if __name__ == "__main__":

    class _PrintQueue(object):
        """Print events instead of feeding a rulebook (a manual check against a queue)."""

        async def put(self, event: Dict[str, Any]) -> None:
            print(json.dumps(event, indent=2, sort_keys=True))

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {"env": os.environ.get("EDA_ENV", "sandbox"),
                                     "queue_name": os.environ.get("EDA_QUEUE", "propie-sandbox-rollback-alarms")}))
