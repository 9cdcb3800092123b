#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alarm_queue
short_description: An SQS queue subscribed to SNS topics, for the alarm listener
version_added: 0.2.0
description:
  - Makes the SQS queue that the Event-Driven Ansible listener (event source
    C(propie.rollback.sqs_alarms)) reads, and subscribes it to the SNS topics that the env's
    CloudWatch alarms publish to, so that C(playbooks/alarms.yml) sets up the whole chain
    alarm -> SNS -> SQS.
  - The queue gets a long-poll wait, a visibility timeout and a retention period, and a queue
    policy statement (Sid C(propie-rollback-sns)) that lets exactly those topics send to it;
    other statements of an existing policy are kept.
  - Reads the queue and each topic's subscriptions, then writes only what differs, so a re-run
    changes nothing. Subscriptions of the queue to topics not listed are left alone.
  - With O(state=absent), unsubscribes the queue from the listed topics and deletes it.
author:
  - PropIE platform team (@propie)
options:
  queue_name:
    description: Name of the queue, a standard queue (not FIFO), as SNS standard topics need.
    type: str
    required: true
  topic_arns:
    description: SNS topics whose messages the queue receives.
    type: list
    elements: str
    default: []
  raw_message_delivery:
    description:
      - Deliver the bare message instead of the SNS envelope (the listener reads both).
    type: bool
    default: false
  receive_wait_seconds:
    description: Long-poll time of the queue (C(ReceiveMessageWaitTimeSeconds)), 0 to 20.
    type: int
    default: 20
  visibility_timeout:
    description: Seconds a received message stays hidden before it is delivered again.
    type: int
    default: 60
  message_retention_seconds:
    description: How long an unread message is kept (60 to 1209600); a stopped listener finds them on restart.
    type: int
    default: 345600
  state:
    description: V(present) makes the queue and subscriptions, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
attributes:
  check_mode:
    description: Reads the queue and the subscriptions and reports what it would create or change, writing nothing.
  diff_mode:
    description: The queue's managed attributes and the subscriptions, before and after.
notes:
  - The topics must be in the module's region. Encrypted topics or queues with customer KMS keys
    need key policies that this module does not manage.
"""

EXAMPLES = r"""
- name: The listener's queue, subscribed to the env's alerts topic
  propie.rollback.alarm_queue:
    queue_name: propie-production-rollback-alarms
    topic_arns: ["{{ rollback_sns_topic_arns.alerts }}"]

- name: Remove it
  propie.rollback.alarm_queue:
    queue_name: propie-production-rollback-alarms
    topic_arns: ["{{ rollback_sns_topic_arns.alerts }}"]
    state: absent
"""

RETURN = r"""
queue_url:
  description: URL of the queue (null when it does not exist, or would be created in check mode).
  returned: always
  type: str
  sample: https://sqs.eu-west-1.amazonaws.com/123456789012/propie-production-rollback-alarms
queue_arn:
  description: ARN of the queue (predicted in check mode).
  returned: always
  type: str
queue_created:
  description: Whether the queue was (would be) created.
  returned: always
  type: bool
attributes_changed:
  description: Queue attributes that were (would be) set.
  returned: always
  type: list
  elements: str
  sample: [Policy, VisibilityTimeout]
subscriptions:
  description: The queue's subscription to each listed topic after the task.
  returned: always
  type: list
  elements: dict
  contains:
    topic_arn:
      description: The topic.
      type: str
      returned: always
    subscription_arn:
      description: The subscription (null when it would be created in check mode, or after V(absent)).
      type: str
      returned: always
    raw_message_delivery:
      description: Whether the bare message is delivered.
      type: bool
      returned: always
subscribed:
  description: Topics the queue was (would be) subscribed to.
  returned: always
  type: list
  elements: str
unsubscribed:
  description: Topics the queue was (would be) unsubscribed from (V(absent)).
  returned: always
  type: list
  elements: str
"""

import json
import typing

try:
    import botocore.exceptions

    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import paginate

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

POLICY_SID = "propie-rollback-sns"
MISSING_QUEUE = ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"]


# ---------------------------------------------------------------------------
# What the queue should look like (pure)
# ---------------------------------------------------------------------------


def queue_arn_for(region: str, topic_arns: List[str], name: str) -> Optional[str]:
    """The ARN a new queue will have: same account as the topics (None without topics)."""
    for arn in topic_arns:
        parts = arn.split(":")
        if len(parts) >= 6 and parts[4]:
            return "arn:%s:sqs:%s:%s:%s" % (parts[1], region, parts[4], name)
    return None


def policy_statement(queue_arn: str, topic_arns: List[str]) -> Dict[str, Any]:
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": sorted(topic_arns)}},
    }


def wanted_policy(current: Optional[str], queue_arn: Optional[str], topic_arns: List[str]) -> Optional[Dict[str, Any]]:
    """The queue policy: the existing one's other statements plus ours (None when none is needed)."""
    try:
        policy = json.loads(current) if current else {}
    except ValueError:
        policy = {}
    others = [s for s in policy.get("Statement", []) if isinstance(s, dict) and s.get("Sid") != POLICY_SID]
    statements = others + ([policy_statement(queue_arn, topic_arns)] if topic_arns and queue_arn else [])
    if not statements:
        return None
    return {"Version": policy.get("Version", "2012-10-17"), "Statement": statements}


def wanted_attributes(params: Dict[str, Any]) -> Dict[str, str]:
    return {
        "ReceiveMessageWaitTimeSeconds": str(params["receive_wait_seconds"]),
        "VisibilityTimeout": str(params["visibility_timeout"]),
        "MessageRetentionPeriod": str(params["message_retention_seconds"]),
    }


def attribute_changes(current: Dict[str, str], wanted: Dict[str, str], policy: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """The attributes to set (Policy compared as JSON, not as text)."""
    changes = dict((k, v) for k, v in wanted.items() if current.get(k) != v)
    try:
        have = json.loads(current["Policy"]) if current.get("Policy") else None
    except ValueError:
        have = None
    if policy is not None and have != policy:
        changes["Policy"] = json.dumps(policy, sort_keys=True)
    return changes


def view(attributes: Dict[str, str]) -> Dict[str, Any]:
    """The managed attributes, readable (for diff)."""
    out = dict((k, attributes[k]) for k in ("ReceiveMessageWaitTimeSeconds", "VisibilityTimeout",
                                            "MessageRetentionPeriod") if k in attributes)
    if attributes.get("Policy"):
        try:
            out["Policy"] = json.loads(attributes["Policy"])
        except ValueError:
            out["Policy"] = attributes["Policy"]
    return out


# ---------------------------------------------------------------------------
# AWS calls
# ---------------------------------------------------------------------------


def find_queue(module: Any, sqs: Any, name: str) -> Optional[Dict[str, Any]]:
    """{url, attributes} of the queue, or None."""
    try:
        url = sqs.get_queue_url(aws_retry=True, QueueName=name)["QueueUrl"]
    except is_boto3_error_code(MISSING_QUEUE):
        return None
    except AWS_ERRORS as e:
        module.fail_json_aws(e, msg="Could not look up queue %s" % name)
    try:
        attributes = sqs.get_queue_attributes(aws_retry=True, QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except AWS_ERRORS as e:
        module.fail_json_aws(e, msg="Could not read the attributes of queue %s" % name)
    return {"url": url, "attributes": attributes}


def queue_subscription(module: Any, sns: Any, topic_arn: str, queue_arn: Optional[str]) -> Optional[Dict[str, Any]]:
    """The topic's SQS subscription to the queue: {arn, raw}; None when there is none."""
    if not queue_arn:
        return None
    try:
        subs = paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)
    except AWS_ERRORS as e:
        module.fail_json_aws(e, msg="Could not list the subscriptions of topic %s" % topic_arn)
    for sub in subs:
        if sub.get("Protocol") == "sqs" and sub.get("Endpoint") == queue_arn and sub.get("SubscriptionArn", "").startswith("arn:"):
            try:
                attributes = sns.get_subscription_attributes(aws_retry=True, SubscriptionArn=sub["SubscriptionArn"])
            except AWS_ERRORS as e:
                module.fail_json_aws(e, msg="Could not read subscription %s" % sub["SubscriptionArn"])
            raw = attributes.get("Attributes", {}).get("RawMessageDelivery", "false").lower() == "true"
            return {"arn": sub["SubscriptionArn"], "raw": raw}
    return None


# ---------------------------------------------------------------------------
# present / absent
# ---------------------------------------------------------------------------


def ensure_present(module: Any, sqs: Any, sns: Any) -> Dict[str, Any]:
    p = module.params
    topics = list(dict.fromkeys(p["topic_arns"]))
    found = find_queue(module, sqs, p["queue_name"])
    current = found["attributes"] if found else {}
    queue_arn = current.get("QueueArn") or queue_arn_for(module.region, topics, p["queue_name"])
    policy = wanted_policy(current.get("Policy"), queue_arn, topics)
    wanted = wanted_attributes(p)
    changes = attribute_changes(current, wanted, policy) if found else {}
    url = found["url"] if found else None
    if not module.check_mode:
        if found is None:
            try:
                url = sqs.create_queue(aws_retry=True, QueueName=p["queue_name"], Attributes=wanted)["QueueUrl"]
                queue_arn = sqs.get_queue_attributes(aws_retry=True, QueueUrl=url,
                                                     AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            except AWS_ERRORS as e:
                module.fail_json_aws(e, msg="Could not create queue %s" % p["queue_name"])
            policy = wanted_policy(None, queue_arn, topics)
            changes = {"Policy": json.dumps(policy, sort_keys=True)} if policy else {}
        if changes:
            try:
                sqs.set_queue_attributes(aws_retry=True, QueueUrl=url, Attributes=changes)
            except AWS_ERRORS as e:
                module.fail_json_aws(e, msg="Could not set %s on queue %s" % (", ".join(sorted(changes)), p["queue_name"]))
    after_attributes = dict(current, **wanted)
    if policy is not None:
        after_attributes["Policy"] = json.dumps(policy)
    subscriptions, subscribed, resubscribed, before_subs, after_subs = [], [], [], {}, {}
    for topic in topics:
        sub = queue_subscription(module, sns, topic, current.get("QueueArn")) if found else None
        before_subs[topic] = {"raw_message_delivery": sub["raw"]} if sub else None
        after_subs[topic] = {"raw_message_delivery": p["raw_message_delivery"]}
        arn = sub["arn"] if sub else None
        if sub is None:
            subscribed.append(topic)
            if not module.check_mode:
                try:
                    arn = sns.subscribe(aws_retry=True, TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                                        Attributes={"RawMessageDelivery": str(p["raw_message_delivery"]).lower()},
                                        ReturnSubscriptionArn=True)["SubscriptionArn"]
                except AWS_ERRORS as e:
                    module.fail_json_aws(e, msg="Could not subscribe queue %s to topic %s" % (p["queue_name"], topic))
        elif sub["raw"] != p["raw_message_delivery"]:
            resubscribed.append(topic)
            if not module.check_mode:
                try:
                    sns.set_subscription_attributes(aws_retry=True, SubscriptionArn=arn, AttributeName="RawMessageDelivery",
                                                    AttributeValue=str(p["raw_message_delivery"]).lower())
                except AWS_ERRORS as e:
                    module.fail_json_aws(e, msg="Could not set raw message delivery on %s" % arn)
        subscriptions.append({"topic_arn": topic, "subscription_arn": arn, "raw_message_delivery": p["raw_message_delivery"]})
    attributes_changed = sorted(changes) if found else sorted(set(wanted) | ({"Policy"} if policy else set()))
    changed = found is None or bool(changes) or bool(subscribed) or bool(resubscribed)
    result = dict(changed=changed, queue_url=url, queue_arn=queue_arn, queue_created=found is None,
                  attributes_changed=attributes_changed, subscriptions=subscriptions, subscribed=subscribed,
                  unsubscribed=[])
    if module._diff:
        result["diff"] = {
            "before": {"queue": view(current) if found else None, "subscriptions": before_subs},
            "after": {"queue": view(after_attributes), "subscriptions": after_subs},
        }
    return result


def ensure_absent(module: Any, sqs: Any, sns: Any) -> Dict[str, Any]:
    p = module.params
    topics = list(dict.fromkeys(p["topic_arns"]))
    found = find_queue(module, sqs, p["queue_name"])
    queue_arn = found["attributes"].get("QueueArn") if found else None
    unsubscribed, before_subs = [], {}
    for topic in topics:
        sub = queue_subscription(module, sns, topic, queue_arn)
        before_subs[topic] = {"raw_message_delivery": sub["raw"]} if sub else None
        if sub is None:
            continue
        unsubscribed.append(topic)
        if not module.check_mode:
            try:
                sns.unsubscribe(aws_retry=True, SubscriptionArn=sub["arn"])
            except AWS_ERRORS as e:
                module.fail_json_aws(e, msg="Could not unsubscribe %s" % sub["arn"])
    if found and not module.check_mode:
        try:
            sqs.delete_queue(aws_retry=True, QueueUrl=found["url"])
        except is_boto3_error_code(MISSING_QUEUE):
            pass
        except AWS_ERRORS as e:
            module.fail_json_aws(e, msg="Could not delete queue %s" % p["queue_name"])
    result = dict(changed=bool(found or unsubscribed), queue_url=None, queue_arn=queue_arn, queue_created=False,
                  attributes_changed=[], subscriptions=[dict(topic_arn=t, subscription_arn=None, raw_message_delivery=False)
                                                        for t in topics],
                  subscribed=[], unsubscribed=unsubscribed)
    if module._diff:
        result["diff"] = {
            "before": {"queue": view(found["attributes"]) if found else None, "subscriptions": before_subs},
            "after": {"queue": None, "subscriptions": dict((t, None) for t in topics)},
        }
    return result


def do(module: Any) -> None:
    p = module.params
    if not 0 <= p["receive_wait_seconds"] <= 20:
        module.fail_json(msg="receive_wait_seconds must be 0 to 20, not %d" % p["receive_wait_seconds"])
    if not 60 <= p["message_retention_seconds"] <= 1209600:
        module.fail_json(msg="message_retention_seconds must be 60 to 1209600, not %d" % p["message_retention_seconds"])
    if not 0 <= p["visibility_timeout"] <= 43200:
        module.fail_json(msg="visibility_timeout must be 0 to 43200, not %d" % p["visibility_timeout"])
    if p["queue_name"].endswith(".fifo"):
        module.fail_json(msg="queue_name %s is a FIFO queue; SNS standard topics need a standard queue" % p["queue_name"])
    bad = [t for t in p["topic_arns"] if not t.startswith("arn:") or t.split(":")[2:3] != ["sns"]]
    if bad:
        module.fail_json(msg="topic_arns must be SNS topic ARNs (arn:aws:sns:REGION:ACCOUNT:NAME), not %s" % ", ".join(bad))
    sqs = module.client("sqs", retry_decorator=aws_retry)
    sns = module.client("sns", retry_decorator=aws_retry)
    if p["state"] == "absent":
        module.exit_json(**ensure_absent(module, sqs, sns))
    module.exit_json(**ensure_present(module, sqs, sns))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            queue_name=dict(type="str", required=True),
            topic_arns=dict(type="list", elements="str", default=[]),
            raw_message_delivery=dict(type="bool", default=False),
            receive_wait_seconds=dict(type="int", default=20),
            visibility_timeout=dict(type="int", default=60),
            message_retention_seconds=dict(type="int", default=345600),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    do(module)


if __name__ == "__main__":
    main()
