#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_metric_data
short_description: Publish custom metric data points to CloudWatch (PutMetricData)
version_added: 0.3.0
description:
  - Sends O(metrics) to CloudWatch under O(namespace) with C(PutMetricData), in requests of at most 1000
    data points, each call through the collection's retry policy (throttling included).
  - Every data point carries O(dimensions) merged with its own (its own win), a timestamp (now unless given)
    and a unit. Everything is checked before the first call - a bad namespace, name, value, unit, timestamp or
    dimension fails the task and nothing is sent.
  - CloudWatch keeps every data point it is sent and cannot tell a repeat from a new one, so each run that is
    not in check mode adds its points and reports C(changed). Statistics (C(Maximum), C(Average)) over a
    period are what to alarm on.
author:
  - PropIE platform team (@propie)
options:
  namespace:
    description: The custom namespace, for example V(PropIE/Rollback). Names starting with C(AWS/) are AWS's own.
    type: str
    required: true
  dimensions:
    description: Dimensions (name to value) of every data point.
    type: dict
    default: {}
  metrics:
    description: The data points.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The metric name.
        type: str
        required: true
      value:
        description: The value (a finite number).
        type: float
        required: true
      unit:
        description: The unit.
        type: str
        default: None
        choices: [Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes, Bits,
                  Kilobits, Megabits, Gigabits, Terabits, Percent, Count, Bytes/Second, Kilobytes/Second,
                  Megabytes/Second, Gigabytes/Second, Terabytes/Second, Bits/Second, Kilobits/Second,
                  Megabits/Second, Gigabits/Second, Terabits/Second, Count/Second, None]
      dimensions:
        description: Dimensions of this data point, on top of O(dimensions).
        type: dict
        default: {}
      timestamp:
        description: When the value was measured (ISO 8601, UTC when it has no offset); now when omitted.
          CloudWatch takes times from two weeks ago to two hours ahead.
        type: str
      storage_resolution:
        description: V(60) for standard resolution, V(1) for high resolution (per-second) storage.
        type: int
        default: 60
        choices: [1, 60]
attributes:
  check_mode:
    description: Checks the data points and returns what would be sent; sends nothing.
  diff_mode:
    description: Nothing before, the data points after.
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Publish a drill's RTO and RPO
  propie.rollback.cloudwatch_metric_data:
    namespace: PropIE/Rollback
    dimensions:
      Environment: staging
    metrics:
      - {name: DrillPassed, value: 1, unit: Count}
      - {name: DrillRTO, value: 1312.5, unit: Seconds}
      - {name: DrillRPO, value: 301.2, unit: Seconds}
"""

RETURN = r"""
namespace:
  description: The namespace.
  returned: always
  type: str
metrics:
  description: The data points as sent (or as they would be, in check mode) - C(name), C(value), C(unit),
    C(dimensions), C(timestamp) (UTC ISO 8601) and C(storage_resolution).
  returned: always
  type: list
  elements: dict
requests:
  description: How many PutMetricData requests were made (0 in check mode).
  returned: always
  type: int
"""

import datetime
import math
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List

UNITS = ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"]
BATCH = 1000  # data points per PutMetricData request
MAX_DIMENSIONS = 30
MAX_NAME = 255
MAX_DIMENSION_TEXT = 1024
PAST = datetime.timedelta(days=14)
FUTURE = datetime.timedelta(hours=2)


class DataError(ValueError):
    """A data point CloudWatch would refuse; the message names it."""


def _dimensions(merged: Dict[str, Any], where: str) -> List[Dict[str, str]]:
    if len(merged) > MAX_DIMENSIONS:
        raise DataError("%s has %d dimensions; CloudWatch takes at most %d" % (where, len(merged), MAX_DIMENSIONS))
    out = []
    for name in sorted(merged):
        value = "" if merged[name] is None else str(merged[name])
        if not str(name) or not value or len(str(name)) > MAX_NAME or len(value) > MAX_DIMENSION_TEXT:
            raise DataError("%s: dimension %r=%r needs a name of 1-%d and a value of 1-%d characters"
                            % (where, name, value, MAX_NAME, MAX_DIMENSION_TEXT))
        out.append({"Name": str(name), "Value": value})
    return out


def data_points(namespace: str, dimensions: Dict[str, Any], metrics: List[Dict[str, Any]],
                now: datetime.datetime) -> List[Dict[str, Any]]:
    """The PutMetricData MetricData entries, checked the way CloudWatch checks them."""
    if not namespace or len(namespace) > MAX_NAME or namespace.startswith("AWS/") or namespace.startswith(":"):
        raise DataError("namespace %r: use 1-%d characters, not starting with AWS/ (AWS's own) or ':'"
                        % (namespace, MAX_NAME))
    out = []
    for index, metric in enumerate(metrics):
        where = "metrics[%d] (%s)" % (index, metric.get("name"))
        if not metric.get("name") or len(metric["name"]) > MAX_NAME:
            raise DataError("%s: the name needs 1-%d characters" % (where, MAX_NAME))
        value = float(metric["value"])
        if not math.isfinite(value):
            raise DataError("%s: value %r is not a finite number" % (where, metric["value"]))
        unit = metric.get("unit") or "None"
        if unit not in UNITS:
            raise DataError("%s: unit %r is not one of %s" % (where, unit, ", ".join(UNITS)))
        try:
            stamp = rec.parse_time(metric.get("timestamp"), where + ".timestamp") or now
        except rec.RecordError as err:
            raise DataError(str(err))
        if not now - PAST <= stamp <= now + FUTURE:
            raise DataError("%s: timestamp %s is outside what CloudWatch takes (two weeks ago to two hours ahead)"
                            % (where, rec.format_time(stamp)))
        merged = dict(dimensions or {})
        merged.update(metric.get("dimensions") or {})
        out.append({"MetricName": metric["name"], "Value": value, "Unit": unit, "Timestamp": stamp,
                    "Dimensions": _dimensions(merged, where),
                    "StorageResolution": int(metric.get("storage_resolution") or 60)})
    return out


def put(client: Any, namespace: str, points: List[Dict[str, Any]]) -> int:
    requests = 0
    for start in range(0, len(points), BATCH):
        client.put_metric_data(Namespace=namespace, MetricData=points[start:start + BATCH], aws_retry=True)
        requests += 1
    return requests


def described(points: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{"name": p["MetricName"], "value": rec._number(p["Value"]), "unit": p["Unit"],
             "dimensions": dict((d["Name"], d["Value"]) for d in p["Dimensions"]),
             "timestamp": rec.format_time(p["Timestamp"]), "storage_resolution": p["StorageResolution"]}
            for p in points]


def do(module: AnsibleAWSModule) -> None:
    p = module.params
    try:
        points = data_points(p["namespace"], p["dimensions"], p["metrics"], datetime.datetime.now(datetime.timezone.utc))
    except (DataError, TypeError, ValueError) as err:
        module.fail_json(msg="CloudWatch metric data: %s; nothing was sent" % err)
    result = {"changed": bool(points), "namespace": p["namespace"], "metrics": described(points), "requests": 0}
    if module._diff:
        result["diff"] = {"before": {}, "after": {"namespace": p["namespace"], "metrics": result["metrics"]}}
    if points and not module.check_mode:
        client = module.client("cloudwatch", retry_decorator=aws_retry)
        try:
            result["requests"] = put(client, p["namespace"], points)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            module.fail_json_aws(err, msg="PutMetricData to %s failed" % p["namespace"])
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        namespace=dict(type="str", required=True),
        dimensions=dict(type="dict", default={}),
        metrics=dict(
            type="list", elements="dict", required=True,
            options=dict(
                name=dict(type="str", required=True),
                value=dict(type="float", required=True),
                unit=dict(type="str", default="None", choices=UNITS),
                dimensions=dict(type="dict", default={}),
                timestamp=dict(type="str"),
                storage_resolution=dict(type="int", default=60, choices=[1, 60]),
            ),
        ),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
