"""The trigger rules: validation messages, query building and the decision table."""

from __future__ import annotations

import pytest

from ansible_collections.propie.rollback.plugins.module_utils import triggers as rules

RATE = {
    "name": "5XX error rate", "action": "rollback", "threshold": 5, "window": 300,
    "expression": "100*errors/requests",
    "metrics": {
        "errors": {"namespace": "AWS/AmplifyHosting", "name": "5xxErrors", "statistic": "Sum",
                   "dimensions": {"App": "d1"}},
        "requests": {"namespace": "AWS/AmplifyHosting", "name": "Requests", "statistic": "Sum",
                     "dimensions": {"App": "d1"}},
    },
}
P99 = {"name": "Latency p99", "action": "alert", "threshold": 3000, "window": 300,
       "metric": {"namespace": "AWS/AmplifyHosting", "name": "Latency", "statistic": "p99"}}


def test_valid_triggers_have_no_problems():
    assert rules.validate_triggers([RATE, P99]) == []


@pytest.mark.parametrize("change,needle", [
    ({"metric": {**P99["metric"], "statistic": "p999x"}}, "unknown statistic 'p999x'"),
    ({"metric": {**P99["metric"], "statistic": "Median"}}, "unknown statistic 'Median'"),
    ({"threshold": None}, "missing or non-numeric 'threshold'"),
    ({"threshold": "high"}, "missing or non-numeric 'threshold'"),
    ({"window": 90}, "window must be whole minutes"),
    ({"window": 0}, "window must be whole minutes"),
    ({"window": "5m"}, "window must be whole minutes"),
    ({"action": "page"}, "action must be one of rollback, alert"),
    ({"comparison": "=="}, "comparison must be one of"),
    ({"colour": "red"}, "unknown key(s) colour"),
])
def test_bad_trigger_is_rejected_with_a_reason(change, needle):
    problems = rules.validate_triggers([{**P99, **change}])
    assert any(needle in p for p in problems), problems


def test_missing_threshold_key_and_expression_ids_are_reported():
    trig = {k: v for k, v in RATE.items() if k != "threshold"}
    trig["expression"] = "100*errors/total"
    problems = rules.validate_triggers([trig])
    assert any("threshold" in p for p in problems)
    assert any("undefined id(s) total" in p for p in problems)


def test_duplicate_names_and_metric_plus_expression_are_rejected():
    problems = rules.validate_triggers([P99, {**P99, "expression": "a"}])
    assert any("duplicate name" in p for p in problems)
    assert any("exactly one of 'metric' or 'expression'" in p for p in problems)
    assert rules.validate_triggers([]) == ["triggers must be a non-empty list"]


def test_queries_are_batched_per_window_with_expression_ids_rewritten():
    by_window = rules.build_queries([RATE, P99])
    assert list(by_window) == [300]
    queries = {q["Id"]: q for q in by_window[300]}
    assert queries["t0"]["Expression"] == "100*t0_errors/t0_requests"
    assert queries["t0_errors"]["ReturnData"] is False
    assert queries["t1"]["MetricStat"]["Stat"] == "p99"
    assert queries["t1"]["MetricStat"]["Period"] == 300


@pytest.mark.parametrize("values,decision", [
    ({"t0": 15.0, "t1": 100.0}, "rollback"),
    ({"t0": 15.0, "t1": 5000.0}, "rollback"),
    ({"t0": 1.0, "t1": 5000.0}, "alert"),
    ({"t0": None, "t1": 5000.0}, "inconclusive"),
    ({"t0": 1.0, "t1": None}, "healthy"),
    ({"t0": 5.0, "t1": 3000.0}, "healthy"),  # '>' is strict, as in the runbook's table
    ({}, "inconclusive"),
])
def test_decision_table(values, decision):
    results, got, reasons = rules.evaluate([RATE, P99], values)
    assert got == decision
    states = {r["name"]: r["state"] for r in results}
    assert states["5XX error rate"] == (
        "INSUFFICIENT_DATA" if values.get("t0") is None else
        "BREACHING" if values["t0"] > 5 else "OK")
    assert len(reasons) == sum(1 for r in results if r["state"] != "OK")


def test_all_alert_triggers_without_data_is_inconclusive():
    assert rules.evaluate([P99], {})[1] == "inconclusive"
