"""playbooks/alarms.yml: the env's triggers as CloudWatch alarms, idempotently."""

from __future__ import annotations

import yaml

from tests.conftest import REPO


def _sandbox_triggers():
    """The sandbox env's trigger table, with its one template resolved."""
    text = (REPO / "inventories/group_vars/all/triggers.yml").read_text()
    text = text.replace("{{ rollback_amplify_app_id }}", "d4cebxzd5u3ynb").replace("{{ rollback_env }}", "sandbox")
    return yaml.safe_load(text)["rollback_triggers"]


def _alarms(sandbox):
    return {a["AlarmName"]: a for a in sandbox.boto3_client("cloudwatch").describe_alarms()["MetricAlarms"]}


def test_alarms_play_provisions_the_runbook_table_idempotently(sandbox, run_playbook):
    check = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox"}, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert _alarms(sandbox) == {}
    predicted = check.result("Provision an alarm per trigger")
    assert predicted["changed"] and len(predicted["created"]) == 4
    assert predicted["diff"]["before"] == {}
    assert predicted["diff"]["after"]["propie-sandbox-Latency-p99"]["ExtendedStatistic"] == "p99"

    first = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox"})
    assert first.rc == 0, first.stdout
    assert "Provision an alarm per trigger" in first.changed_tasks
    alarms = _alarms(sandbox)
    assert sorted(alarms) == [
        "propie-sandbox-5XX-error-rate", "propie-sandbox-Authentication-failures",
        "propie-sandbox-Latency-p99", "propie-sandbox-Memory-usage"]
    rate = alarms["propie-sandbox-5XX-error-rate"]
    assert rate["Threshold"] == 5.0 and rate["ComparisonOperator"] == "GreaterThanThreshold"
    assert {m["Id"] for m in rate["Metrics"]} == {"errors", "requests", "decision"}
    assert next(m for m in rate["Metrics"] if m["Id"] == "decision")["Expression"] == "100*errors/requests"
    latency = alarms["propie-sandbox-Latency-p99"]
    assert latency["ExtendedStatistic"] == "p99" and latency["Period"] == 300
    assert latency["Dimensions"] == [{"Name": "App", "Value": "d4cebxzd5u3ynb"}]
    topic = "arn:aws:sns:us-east-1:123456789012:prop-ie-sandbox-rollback-alerts"
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms.values())

    seq = sandbox.last_seq()
    again = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox"})
    assert again.rc == 0, again.stdout
    assert again.changed_tasks == []
    assert sandbox.mutating_since(seq) == []

    # A changed threshold updates just that alarm, and the diff shows before and after.
    triggers = _sandbox_triggers()
    triggers[1]["threshold"] = 2500
    changed = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox", "rollback_triggers": triggers},
                           diff=True)
    result = changed.result("Provision an alarm per trigger")
    assert result["updated"] == ["propie-sandbox-Latency-p99"] and result["created"] == []
    assert result["diff"]["before"]["propie-sandbox-Latency-p99"]["Threshold"] == 3000.0
    assert result["diff"]["after"]["propie-sandbox-Latency-p99"]["Threshold"] == 2500.0
    assert _alarms(sandbox)["propie-sandbox-Latency-p99"]["Threshold"] == 2500.0


def test_bad_trigger_definitions_are_rejected_before_any_alarm(sandbox, run_playbook):
    seq = sandbox.last_seq()
    bad = [{"name": "p99", "action": "alert", "threshold": 1, "window": 90,
            "metric": {"namespace": "A", "name": "Latency", "statistic": "p99.9.9"}},
           {"name": "rate", "action": "rollback", "window": 300, "expression": "a/b",
            "metrics": {"a": {"namespace": "A", "name": "x", "statistic": "Sum"},
                        "b": {"namespace": "A", "name": "y", "statistic": "Sum"}}}]
    run = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox", "rollback_triggers": bad})
    assert run.rc != 0
    assert "window must be whole minutes" in run.stdout
    assert "unknown statistic 'p99.9.9'" in run.stdout
    assert "trigger 'rate': missing or non-numeric 'threshold'" in run.stdout
    assert sandbox.mutating_since(seq) == []


def test_unknown_env_is_a_clear_error(sandbox, run_playbook):
    run = run_playbook("playbooks/alarms.yml", extravars={"env": "prod"})
    assert run.rc != 0
    said = " ".join(run.stdout.split())
    assert "Environment prod is not in the inventory in use" in said
    assert "it holds production, sandbox, staging; pass -e env= with one of those" in said
    assert sandbox.requests() == []
