"""Alarms: state, history, SNS actions, on-demand evaluation (control route), DescribeAlarmHistory."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import botocore.session
from moto.cloudwatch import models as cw_models

from sandbox.api import ACCOUNT_ID, Call, ServiceError
from sandbox.services.cloudwatch.common import COMPARISONS, TREAT_MISSING, _LOCK, _backend, _iso, _naive, _utcnow
from sandbox.services.cloudwatch.metric_math import ExpressionError, _validate_queries, evaluate_queries
from sandbox.services.cloudwatch.statistics import Grid, MetricRef, _NUM, _check_period, metric_series, stat_function
from sandbox.state import BadControlRequest


# ---------------------------------------------------------------------------
# Alarms: state changes, history, actions
# ---------------------------------------------------------------------------

def _history(backend: cw_models.CloudWatchBackend) -> list[dict[str, Any]]:
    # Kept on the backend so that moto's reset clears it with the alarms.
    return backend.__dict__.setdefault("_sandbox_alarm_history", [])


def _backend_of(alarm: cw_models.Alarm) -> cw_models.CloudWatchBackend:
    account = alarm.alarm_arn.split(":")[4]
    return cw_models.cloudwatch_backends[account][alarm.region_name]


def _add_history(alarm: cw_models.Alarm, kind: str, summary: str, data: dict[str, Any],
                 stamp: dt.datetime | None = None) -> None:
    _history(_backend_of(alarm)).append({
        "AlarmName": alarm.name,
        "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
        "Timestamp": stamp or _utcnow(),
        "HistoryItemType": kind,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    })


def _region_name(region: str) -> str:
    """AWS's display name of a region, as alarm notifications show it."""
    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region].get("description", region)
    return region


_STAT_UPPER = {"SampleCount": "SAMPLE_COUNT", "Average": "AVERAGE", "Sum": "SUM",
               "Minimum": "MINIMUM", "Maximum": "MAXIMUM"}


def _query_dict(q: cw_models.MetricDataQuery) -> dict[str, Any]:
    """A moto MetricDataQuery back in API shape."""
    out: dict[str, Any] = {"Id": q.id}
    if q.expression:
        out["Expression"] = q.expression
    if q.metric_stat is not None:
        ms = q.metric_stat
        metric = {"Namespace": ms.metric.namespace, "MetricName": ms.metric.metric_name,
                  "Dimensions": [{"Name": d.name, "Value": d.value} for d in ms.metric.dimensions]}
        out["MetricStat"] = {"Metric": metric, "Period": int(ms.period), "Stat": ms.stat}
        if ms.unit:
            out["MetricStat"]["Unit"] = ms.unit
    if q.label:
        out["Label"] = q.label
    if q.return_data is not None:
        out["ReturnData"] = q.return_data in (True, "true", "True")
    if q.period:
        out["Period"] = int(q.period)
    return out


def _message_metric(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": q["Id"]}
    if "Expression" in q:
        out["Expression"] = q["Expression"]
    if "Label" in q:
        out["Label"] = q["Label"]
    if "MetricStat" in q:
        ms = q["MetricStat"]
        out["MetricStat"] = {
            "Metric": {"Dimensions": [{"value": d["Value"], "name": d["Name"]}
                                      for d in ms["Metric"]["Dimensions"]],
                       "MetricName": ms["Metric"]["MetricName"],
                       "Namespace": ms["Metric"]["Namespace"]},
            "Period": ms["Period"], "Stat": ms["Stat"]}
        if ms.get("Unit"):
            out["MetricStat"]["Unit"] = ms["Unit"]
    out["ReturnData"] = q.get("ReturnData", True)
    return out


def _trigger(alarm: cw_models.Alarm) -> dict[str, Any]:
    trigger: dict[str, Any] = {}
    if alarm.metric_data_queries:
        if alarm.period:
            trigger["Period"] = int(alarm.period)
    else:
        trigger.update({"MetricName": alarm.metric_name, "Namespace": alarm.namespace})
        if alarm.extended_statistic:
            trigger.update({"StatisticType": "ExtendedStatistic",
                            "ExtendedStatistic": alarm.extended_statistic})
        else:
            trigger.update({"StatisticType": "Statistic",
                            "Statistic": _STAT_UPPER.get(alarm.statistic, alarm.statistic)})
        trigger.update({"Unit": alarm.unit,
                        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
                        "Period": int(alarm.period)})
    trigger["EvaluationPeriods"] = int(alarm.evaluation_periods)
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    trigger.update({"ComparisonOperator": alarm.comparison_operator,
                    "Threshold": float(alarm.threshold),
                    "TreatMissingData": alarm.treat_missing_data or "",
                    "EvaluateLowSampleCountPercentile":
                        alarm.evaluate_low_sample_count_percentile or ""})
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_message_metric(_query_dict(q)) for q in alarm.metric_data_queries]
    return trigger


def alarm_message(alarm: cw_models.Alarm, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS actions."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": alarm.alarm_arn.split(":")[4],
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(alarm.state_updated_timestamp),
        "Region": _region_name(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": _trigger(alarm),
    }


def _run_actions(alarm: cw_models.Alarm, old_state: str) -> list[dict[str, Any]]:
    from moto.sns.models import sns_backends

    targets = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
               "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[alarm.state_value]
    if not targets or not alarm.actions_enabled:
        return []
    message = json.dumps(alarm_message(alarm, old_state))
    subject = f'{alarm.state_value}: "{alarm.name}" in {_region_name(alarm.region_name)}'[:100]
    outcomes = []
    for arn in targets:
        parts = arn.split(":")
        outcome: dict[str, Any] = {"arn": arn}
        try:
            if len(parts) < 6 or parts[2] != "sns":
                raise RuntimeError("the sandbox only executes SNS alarm actions")
            sns_backends[parts[4]][parts[3]].publish(message, arn=arn, subject=subject)
            outcome["status"] = "Succeeded"
            summary = f"Successfully executed action {arn}"
            data = {"actionState": "Succeeded", "notificationResource": arn,
                    "stateUpdateTimestamp": int(alarm.state_updated_timestamp.replace(
                        tzinfo=dt.timezone.utc).timestamp() * 1000),
                    "publishedMessage": message}
        except Exception as err:  # noqa: BLE001 - AWS records a failed action, it does not raise
            outcome.update(status="Failed", error=str(err) or type(err).__name__)
            summary = f"Failed to execute action {arn}"
            data = {"actionState": "Failed", "notificationResource": arn,
                    "error": outcome["error"]}
        _add_history(alarm, "Action", summary, data)
        outcomes.append(outcome)
    return outcomes


_original_update_state = cw_models.Alarm.update_state


def _update_state(self: cw_models.Alarm, reason: str, reason_data: str | None,
                  state_value: str) -> None:
    """Every state change (evaluation or SetAlarmState) records history and runs actions."""
    with _LOCK:
        old_state, old_reason = self.state_value, self.state_reason
        _original_update_state(self, reason, reason_data, state_value)
        self.sandbox_last_actions = []
        if state_value == old_state:
            return
        self.state_transitioned_timestamp = self.state_updated_timestamp
        new_state: dict[str, Any] = {"stateValue": state_value, "stateReason": reason}
        if reason_data:
            try:
                new_state["stateReasonData"] = json.loads(reason_data)
            except ValueError:
                pass
        _add_history(self, "StateUpdate", f"Alarm updated from {old_state} to {state_value}",
                     {"version": "1.0",
                      "oldState": {"stateValue": old_state, "stateReason": old_reason},
                      "newState": new_state},
                     self.state_updated_timestamp)
        self.sandbox_last_actions = _run_actions(self, old_state)


_original_put_metric_alarm = cw_models.CloudWatchBackend.put_metric_alarm


def _put_metric_alarm(self: cw_models.CloudWatchBackend, *args: Any,
                      **kwargs: Any) -> cw_models.Alarm:
    """AWS: a new alarm starts in INSUFFICIENT_DATA; an update keeps the alarm's state."""
    name = kwargs["name"] if "name" in kwargs else args[0]
    with _LOCK:
        existing = self.alarms.get(name)
        alarm = _original_put_metric_alarm(self, *args, **kwargs)
        if existing is not None:
            for attr in ("state_value", "state_reason", "state_reason_data",
                         "state_updated_timestamp", "history"):
                setattr(alarm, attr, getattr(existing, attr))
            alarm.state_transitioned_timestamp = getattr(
                existing, "state_transitioned_timestamp", existing.state_updated_timestamp)
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
            alarm.state_updated_timestamp = alarm.configuration_updated_timestamp
            alarm.state_transitioned_timestamp = alarm.configuration_updated_timestamp
        verb = "updated" if existing is not None else "created"
        _add_history(alarm, "ConfigurationUpdate", f'Alarm "{name}" {verb}',
                     {"type": "Update" if existing is not None else "Create", "version": "1.0"},
                     alarm.configuration_updated_timestamp)
    return alarm


def put_metric_alarm(call: Call) -> None:
    """AWS's checks that moto skips; the alarm itself is stored by moto."""
    p = call.params
    metrics = p.get("Metrics") or []
    if metrics and (p.get("MetricName") or p.get("Namespace")):
        raise ServiceError("InvalidParameterCombination",
                           "The parameters MetricName/Namespace and Metrics are mutually "
                           "exclusive and you have specified both.")
    if not metrics and not (p.get("MetricName") and p.get("Namespace")):
        if not p.get("ThresholdMetricId"):
            raise ServiceError("ValidationError",
                               "Either MetricName and Namespace, or Metrics must be specified.")
    if not metrics:
        if bool(p.get("Statistic")) == bool(p.get("ExtendedStatistic")):
            raise ServiceError("InvalidParameterCombination",
                               "Exactly one of the parameters Statistic and ExtendedStatistic "
                               "must be specified.")
        if p.get("ExtendedStatistic") and stat_function(p["ExtendedStatistic"]) is None:
            raise ServiceError("InvalidParameterValue",
                               f"The value {p['ExtendedStatistic']} for parameter "
                               "ExtendedStatistic is not supported.")
        if p.get("Period") is None:
            raise ServiceError("ValidationError", "Period must be specified.")
        _check_period(p["Period"], "Period")
    else:
        _validate_queries(metrics, "ValidationError")
        returning = [m for m in metrics if m.get("ReturnData", True)]
        if len(returning) != 1:
            raise ServiceError("ValidationError",
                               "Exactly one element of the metrics list should return data.")
    dta = p.get("DatapointsToAlarm")
    if dta is not None and dta > p["EvaluationPeriods"]:
        raise ServiceError("ValidationError",
                           "DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    tmd = p.get("TreatMissingData")
    if tmd is not None and tmd not in TREAT_MISSING:
        raise ServiceError("ValidationError",
                           f"Option {tmd} is not supported. Supported options for parameter "
                           "TreatMissingData are breaching, notBreaching, ignore and missing.")
    return None


# ---------------------------------------------------------------------------
# Alarm evaluation
# ---------------------------------------------------------------------------

@dataclass
class Period:
    start: dt.datetime
    value: float | None
    sample_count: float | None = None


def _alarm_periods(alarm: cw_models.Alarm, now: dt.datetime) -> tuple[list[Period], int]:
    """The alarm's latest EvaluationPeriods periods, oldest first, ending now."""
    backend = _backend_of(alarm)
    n = int(alarm.evaluation_periods)
    if alarm.metric_data_queries:
        queries = [_query_dict(q) for q in alarm.metric_data_queries]
        periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
        period = int(alarm.period or max(periods or [60]))
        grid = Grid(now - dt.timedelta(seconds=n * period), period, n)
        evaluator = evaluate_queries(backend, queries, lambda _p: grid)
        target = next(q["Id"] for q in queries if q.get("ReturnData", True))
        series = evaluator.result(target)[0][1]
        return [Period(t, series.get(t)) for t in grid.starts()], period
    period = int(alarm.period)
    grid = Grid(now - dt.timedelta(seconds=n * period), period, n)
    ref = MetricRef(alarm.namespace, alarm.metric_name,
                    frozenset((d.name, d.value) for d in alarm.dimensions), alarm.unit)
    stat = alarm.extended_statistic or alarm.statistic
    series, aggs = metric_series(backend, ref, stat, grid)
    return [Period(t, series.get(t), aggs[t].count if t in aggs else None)
            for t in grid.starts()], period


def _points(periods: list[Period]) -> str:
    return ", ".join(f"{p.value!r} ({p.start:%d/%m/%y %H:%M:%S})" for p in periods)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass
class Verdict:
    state: str | None  # None: leave the state as it is
    reason: str = ""
    note: str = ""


def judge(alarm: cw_models.Alarm, periods: list[Period]) -> Verdict:
    """AWS's M-out-of-N evaluation with its missing-data treatments."""
    n = len(periods)
    m = int(alarm.datapoints_to_alarm or n)
    threshold = float(alarm.threshold)
    op_text, breaches = COMPARISONS[alarm.comparison_operator]
    treat = alarm.treat_missing_data or "missing"
    if alarm.namespace == "AWS/DynamoDB":
        treat = "ignore"  # AWS: DynamoDB-namespace alarms always ignore missing data
    present = [p for p in periods if p.value is not None]
    old = alarm.state_value
    if treat in ("breaching", "notBreaching"):
        filled = treat == "breaching"
        if not present:
            word = "Breaching" if filled else "NonBreaching"
            state = "ALARM" if filled and n >= m else "OK"
            return Verdict(state, f"Threshold Crossed: no datapoints were received for "
                                  f"{_plural(n, 'period')} and {_plural(n, 'missing datapoint')} "
                                  f"{'was' if n == 1 else 'were'} treated as [{word}].")
        flags = [breaches(p.value, threshold) if p.value is not None else filled for p in periods]
    else:
        if not present:
            if treat == "ignore":
                return Verdict(None, note="no data; missing data is ignored")
            return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {_plural(n, 'datapoint')} "
                                                f"{'was' if n == 1 else 'were'} unknown.")
        flags = [breaches(p.value, threshold) if p.value is not None else None for p in periods]
    count = sum(1 for f in flags if f)
    alarming = count >= m or (treat in ("missing", "ignore") and _premature_alarm(flags, m))
    considered = n if treat in ("breaching", "notBreaching") else len(present)
    if alarming:
        listed = [p for p, f in zip(periods, flags) if f and p.value is not None][::-1]
        k, verb, need, new = count, op_text, m, "ALARM"
    else:
        listed = [p for p, f in zip(periods, flags) if f is False and p.value is not None][::-1]
        k = sum(1 for f in flags if f is False)
        verb, need, new = f"not {op_text}", max(1, n - m + 1), "OK"
    if considered == 1 and n == 1:
        reason = (f"Threshold Crossed: 1 datapoint [{_points(listed)}] was {verb} the threshold "
                  f"({threshold!r}).")
    else:
        reason = (f"Threshold Crossed: {k} out of the last {considered} datapoints "
                  f"[{_points(listed)}] {'was' if k == 1 else 'were'} {verb} the threshold "
                  f"({threshold!r}) (minimum {_plural(need, 'datapoint')} for {old} -> {new} "
                  "transition).")
    return Verdict(new, reason)


def _premature_alarm(flags: list[bool | None], m: int) -> bool:
    """AWS goes to ALARM early when the oldest breaching datapoint is at least M periods old
    and every more recent datapoint is breaching or missing."""
    newest_first = flags[::-1]
    oldest = max((i for i, f in enumerate(newest_first) if f), default=None)
    if oldest is None or oldest + 1 < m:
        return False
    return all(f is not False for f in newest_first[:oldest])


def _low_sample_count(alarm: cw_models.Alarm, periods: list[Period]) -> bool:
    """EvaluateLowSampleCountPercentile=ignore: a percentile from fewer than
    10/(1-percentile) samples is not statistically significant."""
    match = re.match(rf"^p({_NUM})$", alarm.extended_statistic or "")
    if alarm.evaluate_low_sample_count_percentile != "ignore" or not match:
        return False
    fraction = float(match.group(1)) / 100
    needed = math.inf if fraction >= 1 else 10 / (1 - fraction)
    return any(p.sample_count is not None and p.sample_count < needed for p in periods)


def evaluate_alarm(alarm: cw_models.Alarm, now: dt.datetime) -> dict[str, Any]:
    report: dict[str, Any] = {"alarm_name": alarm.name, "region": alarm.region_name}
    if alarm.rule:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": "composite alarms are not evaluated by the sandbox"}
    if alarm.comparison_operator not in COMPARISONS:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": f"{alarm.comparison_operator} (anomaly detection) is not evaluated"}
    try:
        periods, period = _alarm_periods(alarm, now)
    except ExpressionError as err:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": f"the alarm's expression cannot be evaluated: {err}"}
    verdict = judge(alarm, periods)
    if verdict.state is not None and _low_sample_count(alarm, periods):
        verdict = Verdict(None, note="too few samples for the percentile; ignored")
    if verdict.state is None:
        return {**report, "state": alarm.state_value, "changed": False, "note": verdict.note}
    present = [p for p in periods if p.value is not None]
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now),
                            "startDate": _iso(periods[0].start)}
    if not alarm.metric_data_queries:
        data["statistic"] = alarm.extended_statistic or alarm.statistic
        if alarm.unit:
            data["unit"] = alarm.unit
    data.update({"period": period, "recentDatapoints": [p.value for p in present],
                 "threshold": float(alarm.threshold)})
    evaluated = []
    for p in present[::-1]:
        point: dict[str, Any] = {"timestamp": _iso(p.start)}
        if p.sample_count is not None:
            point["sampleCount"] = p.sample_count
        point["value"] = p.value
        evaluated.append(point)
    data["evaluatedDatapoints"] = evaluated
    reason_data = json.dumps(data)
    old = alarm.state_value
    if verdict.state == old:
        if alarm.state_reason.startswith("Unchecked"):
            # The first evaluation replaces the creation reason without a transition.
            alarm.state_reason, alarm.state_reason_data = verdict.reason, reason_data
            alarm.state_updated_timestamp = _utcnow()
        return {**report, "state": old, "changed": False}
    alarm.update_state(verdict.reason, reason_data, verdict.state)
    return {**report, "state": verdict.state, "changed": True, "old_state": old,
            "new_state": verdict.state, "reason": verdict.reason, "reason_data": data,
            "actions": getattr(alarm, "sandbox_last_actions", [])}


def control(method: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
    if query.get("path") != "evaluate-alarms" or method != "POST":
        raise BadControlRequest(
            "cloudwatch control routes: POST /_sandbox/cloudwatch/evaluate-alarms "
            "{\"alarm_names\": [optional names], \"region\": optional}")
    if not isinstance(body, dict) or set(body) - {"alarm_names", "region"}:
        raise BadControlRequest("evaluate-alarms accepts {\"alarm_names\": [...], \"region\": "
                                "\"us-east-1\"}; both are optional")
    names = body.get("alarm_names")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise BadControlRequest("'alarm_names' must be a list of alarm names")
    region = body.get("region")
    account = cw_models.cloudwatch_backends[ACCOUNT_ID]
    if region is not None:
        if not isinstance(region, str) or region not in account:
            raise BadControlRequest(f"unknown region {region!r}")
        backends = [account[region]]
    else:
        backends = list(account.values())
    now = _utcnow()
    evaluated = []
    with _LOCK:
        alarms = [a for b in backends for a in b.alarms.values()
                  if names is None or a.name in names]
        missing = sorted(set(names or []) - {a.name for a in alarms})
        if missing:
            raise BadControlRequest(f"no such alarm(s): {missing}")
        for alarm in alarms:
            evaluated.append(evaluate_alarm(alarm, now))
    transitions = [e for e in evaluated if e["changed"]]
    return 200, {"evaluated_at": _iso(now), "evaluated": evaluated, "transitions": transitions}


# ---------------------------------------------------------------------------
# DescribeAlarmHistory
# ---------------------------------------------------------------------------

def describe_alarm_history(call: Call) -> dict[str, Any]:
    p = call.params
    types = p.get("AlarmTypes") or ["MetricAlarm"]
    start = _naive(p["StartDate"]) if p.get("StartDate") else None
    end = _naive(p["EndDate"]) if p.get("EndDate") else None
    with _LOCK:
        items = [dict(item) for item in _history(_backend(call))]
    items = [i for i in items
             if (not p.get("AlarmName") or i["AlarmName"] == p["AlarmName"])
             and (not p.get("HistoryItemType") or i["HistoryItemType"] == p["HistoryItemType"])
             and i["AlarmType"] in types
             and (start is None or i["Timestamp"] >= start)
             and (end is None or i["Timestamp"] <= end)]
    items.sort(key=lambda i: i["Timestamp"],
               reverse=(p.get("ScanBy") or "TimestampDescending") == "TimestampDescending")
    token = p.get("NextToken") or "0"
    if not token.isdigit():
        raise ServiceError("InvalidNextToken", "The service returned an invalid NextToken.")
    offset, size = int(token), int(p.get("MaxRecords") or 100)
    page = items[offset:offset + size]
    out: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + size < len(items):
        out["NextToken"] = str(offset + size)
    return out
