#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_triggers
short_description: Evaluate rollback triggers over CloudWatch metrics and decide
version_added: 0.1.0
description:
  - Evaluates a list of rollback triggers (the runbook's "Automated Rollback Triggers" table as
    data) over their windows with CloudWatch C(GetMetricData), one batched call per distinct
    window, and returns each trigger's state and one decision.
  - Per trigger C(OK), C(BREACHING) or C(INSUFFICIENT_DATA) with the observed value.
  - "Decision: V(rollback) when a rollback trigger breaches; V(inconclusive) when a rollback
    trigger (or every trigger) has no data, so the automatic safety net cannot judge and a
    human decides; V(alert) when only alert triggers breach; V(healthy) otherwise."
  - Read-only; runs in check mode too. Invalid trigger definitions are rejected before any AWS call.
author:
  - PropIE platform team (@propie)
options:
  triggers:
    description:
      - The triggers. Each is a mapping with C(name), C(action) (V(rollback) or V(alert)),
        C(threshold) (number), C(comparison) (V(>), V(>=), V(<), V(<=); default V(>)),
        C(window) (seconds, whole minutes, 60 to 86400), and either C(metric) or
        C(expression) with C(metrics).
      - C(metric) is a mapping with C(namespace), C(name), C(statistic) (V(SampleCount),
        V(Average), V(Sum), V(Minimum), V(Maximum) or a percentile such as V(p99)) and
        optional C(dimensions) (a mapping of name to value).
      - C(expression) is CloudWatch metric math over the ids of C(metrics), a mapping of id to
        a metric as above, for example C(100*errors/requests) for an error rate in percent.
      - The whole window is one period, so the value is the statistic over the window.
    type: list
    elements: dict
    required: true
  end_time:
    description:
      - End of the evaluation windows, ISO-8601. Defaults to the time of each evaluation.
      - Mutually exclusive with O(watch_seconds).
    type: str
  watch_seconds:
    description:
      - Keep evaluating every O(interval) seconds for this long (a bake period), returning as
        soon as the decision is not V(healthy). V(0) evaluates once.
      - The time from a breach reaching CloudWatch to a V(rollback) decision is then at most
        one O(interval).
    type: int
    default: 0
  interval:
    description:
      - Seconds between evaluations when O(watch_seconds) is set.
    type: int
    default: 60
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
attributes:
  check_mode:
    support: full
    description: Read-only; evaluates in check mode as well.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
notes:
  - Amplify hosting publishes C(Requests), C(5xxErrors), C(4xxErrors) and C(Latency) in the
    C(AWS/AmplifyHosting) namespace with an C(App) dimension.
"""

EXAMPLES = r"""
- name: Evaluate the runbook's triggers
  propie.rollback.rollback_triggers:
    triggers:
      - name: 5XX error rate
        action: rollback
        expression: 100*errors/requests
        metrics:
          errors: {namespace: AWS/AmplifyHosting, name: 5xxErrors, statistic: Sum, dimensions: {App: d1abc}}
          requests: {namespace: AWS/AmplifyHosting, name: Requests, statistic: Sum, dimensions: {App: d1abc}}
        threshold: 5
        window: 300
      - name: Latency p99
        action: alert
        metric: {namespace: AWS/AmplifyHosting, name: Latency, statistic: p99, dimensions: {App: d1abc}}
        threshold: 3000
        window: 300
  register: gate

- name: Stop when the gate says roll back
  ansible.builtin.fail:
    msg: "{{ gate.reasons | join('; ') }}"
  when: gate.decision == 'rollback'
"""

RETURN = r"""
decision:
  description: V(rollback), V(alert), V(inconclusive) or V(healthy).
  returned: always
  type: str
  sample: rollback
reasons:
  description: One sentence per breaching trigger or trigger without data.
  returned: always
  type: list
  elements: str
  sample: ["5XX error rate: 15 > 5 over 300s"]
triggers:
  description: Each trigger's evaluation.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Trigger name., type: str, returned: always}
    action: {description: "V(rollback) or V(alert).", type: str, returned: always}
    state: {description: "V(OK), V(BREACHING) or V(INSUFFICIENT_DATA).", type: str, returned: always}
    value: {description: "Observed value over the window; null without data.", type: float, returned: always}
    threshold: {description: Threshold., type: float, returned: always}
    comparison: {description: Comparison operator., type: str, returned: always}
    window: {description: Window in seconds., type: int, returned: always}
progress:
  description: One line, the decision and why (what a watch prints at each evaluation).
  returned: always
  type: str
  sample: "rollback: 5XX error rate: 15 > 5 over 300s"
evaluations:
  description: Each evaluation made (one unless O(watch_seconds) is set), oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"elapsed": 0.0, "decision": "healthy"}, {"elapsed": 60.1, "decision": "rollback"}]
window_end:
  description: End of the evaluation windows of the last evaluation (UTC, ISO-8601).
  returned: always
  type: str
  sample: "2026-11-30T03:05:00Z"
api_calls:
  description: Number of GetMetricData calls made (one per distinct window and page).
  returned: always
  type: int
  sample: 1
"""

import datetime as dt
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils import triggers as rules


def parse_end_time(module, text):
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        module.fail_json(msg="end_time %r is not ISO-8601 (e.g. 2026-11-30T03:05:00Z)" % text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def newest_values(client, queries, start, end):
    """{query id: newest value or None} for one window's queries, following NextToken."""
    values = {q["Id"]: None for q in queries if q.get("ReturnData", True)}
    calls = 0
    # GetMetricData takes at most 500 queries per call.
    for offset in range(0, len(queries), 500):
        chunk = queries[offset:offset + 500]
        token = None
        while True:
            kwargs = {"MetricDataQueries": chunk, "StartTime": start, "EndTime": end,
                      "ScanBy": "TimestampDescending"}
            if token:
                kwargs["NextToken"] = token
            page = client.get_metric_data(aws_retry=True, **kwargs)
            calls += 1
            for result in page.get("MetricDataResults", []):
                if result.get("Values") and values.get(result["Id"]) is None:
                    values[result["Id"]] = float(result["Values"][0])
            token = page.get("NextToken")
            if not token:
                break
    return values, calls


def do(module):
    triggers = module.params["triggers"]
    problems = rules.validate_triggers(triggers)
    if problems:
        module.fail_json(msg="Invalid rollback triggers (nothing was evaluated): " + "; ".join(problems),
                         problems=problems)
    watch, interval = module.params["watch_seconds"], module.params["interval"]
    if watch < 0 or interval < 1:
        module.fail_json(msg="watch_seconds must be >= 0 and interval >= 1 (seconds)")
    if watch and module.params["end_time"]:
        module.fail_json(msg="end_time and watch_seconds are mutually exclusive")
    client = module.client("cloudwatch", retry_decorator=aws_retry)
    queries = rules.build_queries(triggers)
    started = time.monotonic()
    evaluations = []
    calls = 0
    while True:
        end = parse_end_time(module, module.params["end_time"])
        values = {}
        try:
            for window, window_queries in queries.items():
                got, n = newest_values(client, window_queries, end - dt.timedelta(seconds=window), end)
                values.update(got)
                calls += n
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not read CloudWatch metrics for the rollback triggers")
        results, decision, reasons = rules.evaluate(triggers, values)
        elapsed = round(time.monotonic() - started, 2)
        evaluations.append({"elapsed": elapsed, "decision": decision})
        module.log("rollback triggers: %s after %.1fs" % (decision, elapsed))
        if decision != "healthy" or elapsed + interval > watch:
            break
        time.sleep(interval)
    progress = "%s: %s" % (decision, "; ".join(reasons) if reasons else "every trigger within its threshold")
    module.exit_json(changed=False, decision=decision, reasons=reasons, triggers=results, progress=progress,
                     evaluations=evaluations, window_end=iso(end), api_calls=calls)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            triggers=dict(type="list", elements="dict", required=True),
            end_time=dict(type="str"),
            watch_seconds=dict(type="int", default=0),
            interval=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    do(module)


if __name__ == "__main__":
    main()
