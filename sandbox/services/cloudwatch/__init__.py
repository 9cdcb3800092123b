"""CloudWatch fidelity on top of moto: statistics, metric math, alarm evaluation.

The package: `statistics` (PutMetricData storage, statistics, GetMetricStatistics),
`metric_math` (expression parser and evaluator, GetMetricData), `alarms` (alarm state,
history, SNS actions, evaluation, the control route, DescribeAlarmHistory) and `common`
(the lock, the clock and constants they share). This file is the one place that patches
moto (`_patch_moto`) and installs the handlers.

moto 5.2.5 stores metric data but computes no percentiles, evaluates metric math only for
a bare query id, aligns buckets to the first datapoint, and never evaluates alarms (a new
alarm even starts in OK). This module keeps moto's storage and alarm objects and adds:

- PutMetricData storage that keeps `Values`/`Counts` as one weighted sample set (no
  per-count expansion) and enforces AWS's timestamp window;
- GetMetricStatistics / GetMetricData served here, from moto's stored data, with exact
  dimension matching, AWS's StartTime rounding, percentiles and trimmed statistics, and a
  small metric-math evaluator (no `eval`);
- alarms that start in INSUFFICIENT_DATA, keep their state across PutMetricAlarm updates,
  record history (DescribeAlarmHistory) and publish AWS's alarm JSON to SNS actions on
  every state change (SetAlarmState included);
- `POST /_sandbox/cloudwatch/evaluate-alarms {"alarm_names": [...]}`: evaluates metric
  alarms on demand over their latest periods and returns the transitions.

Percentiles use the nearest-rank method over the raw samples (weighted by Counts): pX is
the smallest value whose cumulative weight reaches X% of the total. AWS computes them
from the same samples (its sketches are exact at the sizes tests use). As on AWS,
percentiles are unavailable when a value is negative or when a StatisticValues set is
not a single repeated value (Min == Max and Sum == Min * SampleCount).
"""

from __future__ import annotations

from moto.cloudwatch import models as cw_models

from sandbox.api import Sandbox, require_moto
from sandbox.services.cloudwatch import common
from sandbox.services.cloudwatch.alarms import (
    _put_metric_alarm, _update_state, control, describe_alarm_history, put_metric_alarm)
from sandbox.services.cloudwatch.metric_math import get_metric_data
from sandbox.services.cloudwatch.statistics import _put_metric_data, get_metric_statistics

# The moto release the patches below (`_patch_moto`) were written against; checked at
# sandbox start (sandbox.api.check_moto_versions) and again before patching.
MOTO_VERSION = "5.2.5"


def _patch_moto() -> None:
    """Every change this package makes to moto's classes (once per process)."""
    require_moto(MOTO_VERSION, __file__)
    if getattr(cw_models.CloudWatchBackend, "_sandbox_patched", False):
        return
    cw_models.CloudWatchBackend.put_metric_data = _put_metric_data  # type: ignore[method-assign]
    cw_models.CloudWatchBackend.put_metric_alarm = _put_metric_alarm  # type: ignore[method-assign]
    cw_models.Alarm.update_state = _update_state  # type: ignore[method-assign]
    cw_models.CloudWatchBackend._sandbox_patched = True  # type: ignore[attr-defined]


def install(sandbox: Sandbox) -> None:
    common.use_clock(sandbox.clock)
    _patch_moto()
    sandbox.handle("cloudwatch", "GetMetricStatistics")(get_metric_statistics)
    sandbox.handle("cloudwatch", "GetMetricData")(get_metric_data)
    sandbox.handle("cloudwatch", "PutMetricAlarm")(put_metric_alarm)
    sandbox.handle("cloudwatch", "DescribeAlarmHistory")(describe_alarm_history)
    sandbox.control("cloudwatch")(control)
