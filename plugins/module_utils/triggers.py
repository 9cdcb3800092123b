# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollback triggers as data: validation, CloudWatch queries, and the decision.

A trigger is a dict (see the rollback_triggers module's documentation):
  name, action (rollback|alert), threshold, comparison, window (seconds), and either
  metric {namespace, name, dimensions, statistic} or
  expression + metrics {id: {namespace, name, dimensions, statistic}}.
Kept free of Ansible and boto3 so the rules can be unit-tested and reused by playbooks.
"""

from __future__ import annotations

import re

ACTIONS = ("rollback", "alert")
COMPARISONS = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}
# CloudWatch alarm names for the same comparisons (used by the alarms role).
ALARM_COMPARISONS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
# pNN / pNN.NN percentiles (CloudWatch extended statistics).
PERCENTILE_RE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
METRIC_ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

OK = "OK"
BREACHING = "BREACHING"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


def valid_statistic(stat):
    return stat in BASIC_STATISTICS or bool(PERCENTILE_RE.match(str(stat)))


def _check_metric(where, metric, problems):
    if not isinstance(metric, dict):
        problems.append("%s: must be a mapping with namespace, name, statistic" % where)
        return
    for key in ("namespace", "name", "statistic"):
        if not metric.get(key):
            problems.append("%s: missing '%s'" % (where, key))
    stat = metric.get("statistic")
    if stat and not valid_statistic(stat):
        problems.append(
            "%s: unknown statistic %r; use one of %s or a percentile such as p99"
            % (where, stat, ", ".join(BASIC_STATISTICS))
        )
    dims = metric.get("dimensions", {})
    if not isinstance(dims, dict):
        problems.append("%s: 'dimensions' must be a mapping of name: value" % where)
    unknown = sorted(set(metric) - {"namespace", "name", "statistic", "dimensions", "unit"})
    if unknown:
        problems.append("%s: unknown key(s) %s" % (where, ", ".join(unknown)))


def validate_triggers(triggers):
    """Every problem with a trigger list, as readable sentences (empty when valid)."""
    problems = []
    if not isinstance(triggers, list) or not triggers:
        return ["triggers must be a non-empty list"]
    names = set()
    for index, trig in enumerate(triggers):
        if not isinstance(trig, dict):
            problems.append("trigger #%d: must be a mapping" % (index + 1))
            continue
        name = trig.get("name")
        where = "trigger %r" % name if name else "trigger #%d" % (index + 1)
        if not name:
            problems.append("%s: missing 'name'" % where)
        elif name in names:
            problems.append("%s: duplicate name" % where)
        names.add(name)
        if trig.get("action") not in ACTIONS:
            problems.append("%s: action must be one of %s, got %r" % (where, ", ".join(ACTIONS), trig.get("action")))
        threshold = trig.get("threshold")
        if threshold is None or isinstance(threshold, bool) or not _is_number(threshold):
            problems.append("%s: missing or non-numeric 'threshold'" % where)
        if trig.get("comparison", ">") not in COMPARISONS:
            problems.append("%s: comparison must be one of %s" % (where, " ".join(COMPARISONS)))
        window = trig.get("window")
        if isinstance(window, bool) or not isinstance(window, int) or window < 60 or window % 60 or window > 86400:
            problems.append(
                "%s: window must be whole minutes in seconds, 60 to 86400 (e.g. 300), got %r" % (where, window)
            )
        has_metric = "metric" in trig
        has_expression = "expression" in trig
        if has_metric == has_expression:
            problems.append("%s: give exactly one of 'metric' or 'expression' (+ 'metrics')" % where)
        elif has_metric:
            _check_metric(where, trig["metric"], problems)
        else:
            metrics = trig.get("metrics")
            if not isinstance(metrics, dict) or not metrics:
                problems.append("%s: an expression needs 'metrics', a mapping of id: metric" % where)
            else:
                for mid, metric in metrics.items():
                    if not METRIC_ID_RE.match(str(mid)):
                        problems.append("%s: metric id %r must start with a lower-case letter" % (where, mid))
                    _check_metric("%s metric %s" % (where, mid), metric, problems)
                used = set(re.findall(r"[a-z][a-zA-Z0-9_]*", trig["expression"] or ""))
                missing = sorted(used - set(metrics) - _MATH_FUNCTIONS)
                if missing:
                    problems.append("%s: expression uses undefined id(s) %s" % (where, ", ".join(missing)))
        unknown = sorted(set(trig) - _TRIGGER_KEYS)
        if unknown:
            problems.append("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    return problems


_TRIGGER_KEYS = {"name", "action", "threshold", "comparison", "window", "metric", "expression",
                 "metrics", "description", "unit"}
_MATH_FUNCTIONS = set()  # lower-case function names allowed in expressions (none yet)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _metric_stat(metric, window):
    return {
        "Metric": {
            "Namespace": metric["namespace"],
            "MetricName": metric["name"],
            "Dimensions": [{"Name": k, "Value": str(v)} for k, v in sorted((metric.get("dimensions") or {}).items())],
        },
        "Period": window,
        "Stat": metric["statistic"],
    }


def build_queries(triggers):
    """GetMetricData queries for all triggers, grouped by window (one call per window).

    Returns {window: [query, ...]}; each trigger's result has Id "t<index>".
    """
    by_window = {}
    for index, trig in enumerate(triggers):
        window = trig["window"]
        queries = by_window.setdefault(window, [])
        qid = "t%d" % index
        if "metric" in trig:
            queries.append({"Id": qid, "MetricStat": _metric_stat(trig["metric"], window), "ReturnData": True})
            continue
        expression = trig["expression"]
        for mid, metric in trig["metrics"].items():
            sub_id = "%s_%s" % (qid, mid)
            queries.append({"Id": sub_id, "MetricStat": _metric_stat(metric, window), "ReturnData": False})
            expression = re.sub(r"\b%s\b" % re.escape(mid), sub_id, expression)
        queries.append({"Id": qid, "Expression": expression, "Label": trig["name"], "ReturnData": True})
    return by_window


def evaluate(triggers, values):
    """Judge each trigger from {query id: newest value or None}; return (results, decision, reasons)."""
    results = []
    for index, trig in enumerate(triggers):
        value = values.get("t%d" % index)
        comparison = trig.get("comparison", ">")
        threshold = float(trig["threshold"])
        if value is None:
            state = INSUFFICIENT_DATA
        elif COMPARISONS[comparison](value, threshold):
            state = BREACHING
        else:
            state = OK
        results.append({
            "name": trig["name"],
            "action": trig["action"],
            "state": state,
            "value": value,
            "threshold": threshold,
            "comparison": comparison,
            "window": trig["window"],
        })
    decision, reasons = decide(results)
    return results, decision, reasons


def decide(results):
    """One decision from the trigger states.

    rollback     a rollback trigger breaches;
    inconclusive a rollback trigger (or every trigger) has too little data: the automatic
                 safety net is blind, so a human decides (takes precedence over alerts);
    alert        only alert triggers breach;
    healthy      everything has data and nothing breaches (alert triggers without data do not
                 block: they are informational and are listed in the reasons).
    """
    def names(action, state):
        return [r["name"] for r in results if r["action"] == action and r["state"] == state]

    reasons = []
    for r in results:
        if r["state"] == BREACHING:
            reasons.append("%s: %s %s %s over %ds" % (r["name"], _fmt(r["value"]), r["comparison"], _fmt(r["threshold"]), r["window"]))
        elif r["state"] == INSUFFICIENT_DATA:
            reasons.append("%s: no data in the last %ds" % (r["name"], r["window"]))
    if names("rollback", BREACHING):
        return "rollback", reasons
    if names("rollback", INSUFFICIENT_DATA) or all(r["state"] == INSUFFICIENT_DATA for r in results):
        return "inconclusive", reasons
    if names("alert", BREACHING):
        return "alert", reasons
    return "healthy", reasons


def _fmt(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")


def alarm_name(trigger, prefix):
    return "%s%s" % (prefix, re.sub(r"[^A-Za-z0-9_.-]+", "-", trigger["name"]).strip("-"))


def _api_metric(metric):
    return {
        "Namespace": metric["namespace"],
        "MetricName": metric["name"],
        "Dimensions": [{"Name": k, "Value": str(v)} for k, v in sorted((metric.get("dimensions") or {}).items())],
    }


def alarm_request(trigger, prefix, actions):
    """PutMetricAlarm parameters that watch the same trigger in CloudWatch."""
    window = trigger["window"]
    request = {
        "AlarmName": alarm_name(trigger, prefix),
        "AlarmDescription": "propie.rollback trigger %r (action: %s)" % (trigger["name"], trigger["action"]),
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "OKActions": list(actions),
        "InsufficientDataActions": [],
        "ComparisonOperator": ALARM_COMPARISONS[trigger.get("comparison", ">")],
        "Threshold": float(trigger["threshold"]),
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "TreatMissingData": "missing",
    }
    if "metric" in trigger:
        metric = trigger["metric"]
        request.update(_api_metric(metric))
        request["Period"] = window
        stat_key = "ExtendedStatistic" if PERCENTILE_RE.match(metric["statistic"]) else "Statistic"
        request[stat_key] = metric["statistic"]
        return request
    queries = [
        {"Id": mid, "ReturnData": False,
         "MetricStat": {"Metric": _api_metric(metric), "Period": window, "Stat": metric["statistic"]}}
        for mid, metric in sorted(trigger["metrics"].items())
    ]
    queries.append({"Id": "decision", "Expression": trigger["expression"], "Label": trigger["name"],
                    "ReturnData": True})
    request["Metrics"] = queries
    return request


# The fields of a described alarm that PutMetricAlarm sets (the rest is state).
ALARM_CONFIG_KEYS = (
    "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
    "ComparisonOperator", "Threshold", "EvaluationPeriods", "DatapointsToAlarm", "TreatMissingData",
    "Namespace", "MetricName", "Dimensions", "Period", "Statistic", "ExtendedStatistic", "Metrics",
)


def alarm_config(alarm):
    """A described alarm (or a PutMetricAlarm request) reduced to comparable configuration."""
    config = {}
    for key in ALARM_CONFIG_KEYS:
        value = alarm.get(key)
        if value in (None, [], ""):
            continue
        if key == "Metrics":
            value = [_clean_query(q) for q in value]
        config[key] = value
    return config


def _clean_query(query):
    clean = {k: v for k, v in query.items() if v not in (None, [], "") and k != "AccountId"}
    if "ReturnData" not in clean:
        clean["ReturnData"] = True
    return clean
