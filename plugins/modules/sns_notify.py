#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sns_notify
short_description: Publish a rollback notification to SNS once per notification id
version_added: 0.4.0
description:
  - Publishes O(body) with O(subject) to the SNS topic O(topic_arn) (C(Publish)), through the collection's
    retry policy (throttling included).
  - With O(notification_id) and O(record_dir), a notification is sent once per id - a re-run of the same
    incident (a resumed rollback, a repeated drill step) finds the record of the earlier send and sends
    nothing (C(changed=false)). The record is written when SNS has accepted the message.
  - A FIFO topic (its name ends in C(.fifo)) gets C(MessageDeduplicationId) from the notification id, so a
    send that is repeated because its answer was lost (a timeout after SNS accepted it) is dropped by SNS
    within its five-minute deduplication window - exactly once.
  - A standard topic cannot tell a repeat from a new message; a send whose answer is lost is repeated (an
    alert twice rather than none). Every message carries the message attribute C(notification_id) so that
    subscribers (an SQS queue, a Lambda, a pager integration) can drop repeats.
  - Everything is checked before the call - a topic that is not an SNS topic ARN, a subject SNS would
    refuse, an empty or oversized message fail the task and nothing is sent.
author:
  - PropIE platform team (@propie)
options:
  topic_arn:
    description: The SNS topic ARN.
    type: str
    required: true
  subject:
    description: The subject (e-mail subscriptions show it) - 1 to 100 characters, one line.
    type: str
    required: true
  body:
    description: The message body (text; a JSON document for machine subscribers), at most 256 KiB.
    type: str
    required: true
  notification_id:
    description:
      - What makes this notification this one, for example V(rb-20261130T034501Z-9f2c1a:rollback_started).
      - Names the send record and the FIFO deduplication id. Without it every run sends.
    type: str
  record_dir:
    description: Directory of send records (one JSON file per notification id); without it every run sends.
    type: path
  message_group_id:
    description: The FIFO message group (ignored for a standard topic); messages of one group are delivered in order.
    type: str
    default: propie-rollback
attributes:
  check_mode:
    description: Checks the inputs and the send record; reports whether it would send; sends nothing.
  diff_mode:
    description: The send record before and after (no message body).
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Tell the on-call engineers the rollback started (once per incident)
  propie.rollback.sns_notify:
    topic_arn: "{{ rollback_sns_topic_arns.alerts }}"
    subject: "[CRITICAL] production: rollback started"
    body: "{{ {'event': 'rollback_started', 'rollback_id': rollback_id} | to_json }}"
    notification_id: "{{ rollback_id }}:rollback_started"
    record_dir: "{{ lookup('propie.rollback.state_dir', 'notifications') }}"
  no_log: true  # the body carries contact details
"""

RETURN = r"""
sent:
  description: Whether this run published (false in check mode and when the record shows an earlier send).
  returned: always
  type: bool
message_id:
  description: SNS's id of the message (this run's, or the earlier send's from its record); null in check mode.
  returned: always
  type: str
fifo:
  description: Whether the topic is a FIFO topic (deduplicated by SNS).
  returned: always
  type: bool
notification_id:
  description: The notification id, or null.
  returned: always
  type: str
record:
  description: Path of the send record, or null without O(notification_id) and O(record_dir).
  returned: always
  type: str
sent_at:
  description: When the message was accepted (UTC ISO 8601, this run's or the earlier send's); null when not sent.
  returned: always
  type: str
"""

import datetime
import hashlib
import json
import os
import re
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import files
from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional

TOPIC_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
MAX_SUBJECT = 100
MAX_MESSAGE = 256 * 1024  # bytes, UTF-8
MAX_ID = 128  # FIFO MessageDeduplicationId and MessageGroupId


class NotifyError(ValueError):
    """An input SNS would refuse; nothing was sent."""


def check(params: Dict[str, Any]) -> None:
    """Every input, as SNS checks it, before any call."""
    if not TOPIC_ARN_RE.match(params["topic_arn"] or ""):
        raise NotifyError("topic_arn %r is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); set "
                          "rollback_sns_topic_arns in the env's group_vars" % (params["topic_arn"] or "")[:120])
    subject = params["subject"] or ""
    if not subject.strip() or len(subject) > MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise NotifyError("subject must be 1-%d characters on one line, got %d characters" % (MAX_SUBJECT, len(subject)))
    size = len((params["body"] or "").encode("utf-8"))
    if not size or size > MAX_MESSAGE:
        raise NotifyError("body must be 1 byte to 256 KiB, got %d bytes" % size)
    group = params["message_group_id"] or ""
    if not re.match(r"^[A-Za-z0-9!-/:-@\[-`{-~]{1,128}$", group):
        raise NotifyError("message_group_id %r must be 1-%d printable ASCII characters" % (group, MAX_ID))


def record_path(record_dir: Optional[str], notification_id: Optional[str]) -> Optional[str]:
    """One file per notification id; the name is the id made safe, plus a hash so that two ids never share it."""
    if not (record_dir and notification_id):
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", notification_id)[:80]
    digest = hashlib.sha256(notification_id.encode("utf-8")).hexdigest()[:12]
    return os.path.join(record_dir, "%s-%s.json" % (safe, digest))


def earlier_send(path: Optional[str], topic_arn: str, notification_id: Optional[str]) -> Optional[Dict[str, Any]]:
    """The record of an earlier send of this notification to this topic, or None (an unreadable record is none:
    sending again is the safe side for an alert)."""
    if not path:
        return None
    try:
        found = json.loads(files.read_file(path)[0] or b"null")
    except (IOError, OSError, ValueError):
        return None
    if isinstance(found, dict) and found.get("notification_id") == notification_id and found.get("topic_arn") == topic_arn:
        return found
    return None


def publish_request(params: Dict[str, Any]) -> Dict[str, Any]:
    request = {"TopicArn": params["topic_arn"], "Subject": params["subject"], "Message": params["body"]}
    if params["notification_id"]:
        request["MessageAttributes"] = {"notification_id": {"DataType": "String", "StringValue": params["notification_id"]}}
    if params["topic_arn"].endswith(".fifo"):
        basis = params["notification_id"] or params["body"]
        request["MessageDeduplicationId"] = hashlib.sha256(basis.encode("utf-8")).hexdigest()
        request["MessageGroupId"] = params["message_group_id"]
    return request


def do(module: AnsibleAWSModule) -> None:
    p = module.params
    try:
        check(p)
    except NotifyError as err:
        module.fail_json(msg="SNS notification: %s; nothing was sent" % err)
    path = record_path(p["record_dir"], p["notification_id"])
    before = earlier_send(path, p["topic_arn"], p["notification_id"])
    result = {"changed": before is None, "sent": False, "fifo": p["topic_arn"].endswith(".fifo"),
              "notification_id": p["notification_id"], "record": path,
              "message_id": before and before.get("message_id"), "sent_at": before and before.get("sent_at")}
    if before is None and not module.check_mode:
        client = module.client("sns", retry_decorator=aws_retry)
        try:
            answer = client.publish(aws_retry=True, **publish_request(p))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            module.fail_json_aws(err, msg="Publish to %s failed" % p["topic_arn"])
        result.update(sent=True, message_id=answer.get("MessageId"),
                      sent_at=rec.format_time(datetime.datetime.now(datetime.timezone.utc)))
        if path:
            sent = {"notification_id": p["notification_id"], "topic_arn": p["topic_arn"],
                    "message_id": result["message_id"], "sent_at": result["sent_at"]}
            files.make_dirs(os.path.dirname(path), 0o700)
            files.write_atomic(path, (json.dumps(sent, sort_keys=True) + "\n").encode("utf-8"), 0o600)
    if module._diff:
        after = before or {"notification_id": p["notification_id"], "topic_arn": p["topic_arn"],
                           "message_id": result["message_id"], "sent_at": result["sent_at"]}
        result["diff"] = {"before": before or {}, "after": after}
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        topic_arn=dict(type="str", required=True),
        subject=dict(type="str", required=True),
        body=dict(type="str", required=True),
        notification_id=dict(type="str"),
        record_dir=dict(type="path"),
        message_group_id=dict(type="str", default="propie-rollback"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
