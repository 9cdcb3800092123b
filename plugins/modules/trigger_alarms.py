#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: trigger_alarms
short_description: Keep CloudWatch alarms in step with a list of rollback triggers
version_added: 0.1.0
description:
  - Makes one CloudWatch alarm per rollback trigger (plain metric, percentile or metric math),
    named O(name_prefix) plus the trigger name, whose alarm and OK actions publish to SNS, so
    AWS watches the triggers between runs.
  - Reads all alarms with the prefix in one call and writes only those whose configuration
    differs, so a re-run changes nothing. With O(purge=true), alarms with the prefix that no
    longer match a trigger are deleted.
  - Invalid triggers are rejected before any AWS call.
  - C(amazon.aws.cloudwatch_metric_alarm) reports metric-math alarms as changed on every run,
    which is why this module exists.
author:
  - PropIE platform team (@propie)
options:
  triggers:
    description: Triggers in the format of M(propie.rollback.rollback_triggers).
    type: list
    elements: dict
    required: true
  name_prefix:
    description: Prefix of every alarm name, for example C(propie-production-).
    type: str
    required: true
  rollback_topic_arns:
    description: SNS topics notified by the alarms of V(rollback) triggers.
    type: list
    elements: str
    default: []
  alert_topic_arns:
    description: SNS topics notified by the alarms of V(alert) triggers.
    type: list
    elements: str
    default: []
  purge:
    description: Delete alarms with O(name_prefix) that match no trigger.
    type: bool
    default: true
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
attributes:
  check_mode:
    description: Reports the alarms it would create, update or delete without writing.
  diff_mode:
    description: Shows each alarm's configuration before and after.
"""

EXAMPLES = r"""
- name: Watch the env's triggers in CloudWatch
  propie.rollback.trigger_alarms:
    triggers: "{{ rollback_triggers }}"
    name_prefix: propie-production-
    rollback_topic_arns: ["{{ rollback_sns_topic_arns.alerts }}"]
    alert_topic_arns: ["{{ rollback_sns_topic_arns.alerts }}"]
"""

RETURN = r"""
alarms:
  description: Name of each trigger's alarm.
  returned: always
  type: list
  elements: str
  sample: ["propie-production-5XX-error-rate"]
created:
  description: Alarms created.
  returned: always
  type: list
  elements: str
updated:
  description: Alarms whose configuration was changed.
  returned: always
  type: list
  elements: str
deleted:
  description: Alarms deleted by O(purge).
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import paginate
from ansible_collections.propie.rollback.plugins.module_utils import triggers as rules


def existing_alarms(client, prefix):
    alarms = paginate(client, "describe_alarms", "MetricAlarms", AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])
    return dict((a["AlarmName"], a) for a in alarms)


def do(module):
    params = module.params
    problems = rules.validate_triggers(params["triggers"])
    if problems:
        module.fail_json(msg="Invalid rollback triggers (no alarm was changed): " + "; ".join(problems),
                         problems=problems)
    client = module.client("cloudwatch", retry_decorator=aws_retry)
    try:
        current = existing_alarms(client, params["name_prefix"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not list alarms with prefix %s" % params["name_prefix"])
    wanted = {}
    for trig in params["triggers"]:
        topics = params["rollback_topic_arns"] if trig["action"] == "rollback" else params["alert_topic_arns"]
        request = rules.alarm_request(trig, params["name_prefix"], topics)
        wanted[request["AlarmName"]] = request
    created, updated = [], []
    before, after = {}, {}
    for name, request in wanted.items():
        desired = rules.alarm_config(request)
        if name in current:
            existing = rules.alarm_config(current[name])
            if existing == desired:
                continue
            updated.append(name)
            before[name] = existing
        else:
            created.append(name)
        after[name] = desired
        if not module.check_mode:
            try:
                client.put_metric_alarm(aws_retry=True, **request)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg="Could not put alarm %s" % name)
    deleted = sorted(set(current) - set(wanted)) if params["purge"] else []
    for name in deleted:
        before[name] = rules.alarm_config(current[name])
    if deleted and not module.check_mode:
        try:
            client.delete_alarms(aws_retry=True, AlarmNames=deleted)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not delete alarms %s" % ", ".join(deleted))
    changed = bool(created or updated or deleted)
    result = dict(changed=changed, alarms=sorted(wanted), created=created, updated=updated, deleted=deleted)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            triggers=dict(type="list", elements="dict", required=True),
            name_prefix=dict(type="str", required=True),
            rollback_topic_arns=dict(type="list", elements="str", default=[]),
            alert_topic_arns=dict(type="list", elements="str", default=[]),
            purge=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    do(module)


if __name__ == "__main__":
    main()
