"""playbooks/shift.yml: blue/green shift gated by the rollback triggers, with automatic abort."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import yaml

from tests.conftest import REPO

APP = "prop-ie-app"
DOMAIN = "prop-ie-app.com"
TOPIC = "prop-ie-sandbox-rollback-alerts"
FAST = {"shift_decision": "", "traffic_shift_gate_interval": 2}
# GetMetricData calls per gate evaluation: one per distinct window of the env's trigger table.
WINDOWS = len({t["window"] for t in yaml.safe_load(
    (REPO / "inventories/group_vars/all/triggers.yml").read_text())["rollback_triggers"]})


def _estate(sandbox):
    """The app serving from blue, with a subscribed queue on the alerts topic."""
    sandbox.set_time_scale(0.005)
    amplify = sandbox.boto3_client("amplify")
    app_id = amplify.create_app(name=APP, repository="https://github.com/propie/app",
                                accessToken="t")["app"]["appId"]
    for branch in ("production", "green"):
        amplify.create_branch(appId=app_id, branchName=branch)
        sandbox.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": branch, "jobs": [
            {"status": "SUCCEED", "commitId": f"{branch}1", "minutes_ago": 30}]})
    amplify.create_domain_association(appId=app_id, domainName=DOMAIN, subDomainSettings=[
        {"prefix": "", "branchName": "production"}, {"prefix": "www", "branchName": "production"}])
    url = sandbox.sqs_subscribed_to(TOPIC, "inbox")[1]
    return app_id, sandbox.boto3_client("sqs"), url


def _traffic(sandbox, app_id, errors_per_min=2.0, latency_ms=200.0, minutes=8, env="sandbox"):
    """Publish a few minutes of Amplify hosting metrics and the app's own metrics."""
    cw = sandbox.boto3_client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    dims = [{"Name": "App", "Value": app_id}]
    data = []
    for m in range(minutes):
        stamp = now - dt.timedelta(minutes=m, seconds=5)
        data += [
            {"MetricName": "Requests", "Dimensions": dims, "Timestamp": stamp, "Value": 1000.0},
            {"MetricName": "5xxErrors", "Dimensions": dims, "Timestamp": stamp, "Value": errors_per_min},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": stamp,
             "Values": [100.0, latency_ms], "Counts": [900.0, 100.0]},
        ]
    cw.put_metric_data(Namespace="AWS/AmplifyHosting", MetricData=data)
    app_dims = [{"Name": "Environment", "Value": env}]
    cw.put_metric_data(Namespace="PropIE/Application", MetricData=[
        {"MetricName": "AuthenticationFailures", "Dimensions": app_dims, "Timestamp": now, "Value": 1.0},
        {"MetricName": "MemoryUtilization", "Dimensions": app_dims, "Timestamp": now, "Value": 40.0}])


def _mapping(sandbox, app_id):
    domain = sandbox.boto3_client("amplify").get_domain_association(appId=app_id, domainName=DOMAIN)
    return {s["subDomainSetting"]["prefix"]: s["subDomainSetting"]["branchName"]
            for s in domain["domainAssociation"]["subDomains"]}


def _events(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in got]


def test_healthy_shift_completes(sandbox, run_playbook):
    app_id, sqs, url = _estate(sandbox)
    _traffic(sandbox, app_id)
    run = run_playbook("playbooks/shift.yml", extravars={
        "env": "sandbox", **FAST, "traffic_shift_bake_seconds": 3})
    assert run.rc == 0, run.stdout
    assert _mapping(sandbox, app_id) == {"": "green", "www": "green"}
    gate = run.result("Bake and gate at 100")
    assert gate["decision"] == "healthy" and len(gate["evaluations"]) >= 2
    assert [e["event"] for e in _events(sqs, url)] == ["shift_step"]


def test_5xx_spike_during_bake_aborts_and_reverts_at_the_next_gate(sandbox, run_playbook):
    app_id, sqs, url = _estate(sandbox)
    _traffic(sandbox, app_id)

    def spike_once_the_gate_has_passed():
        # The sandbox logs a request when it arrives and stamps its status once it has answered.
        # A gate evaluation makes one GetMetricData per trigger window: once that many have been
        # answered, the first evaluation has read its (healthy) metrics, and the next one reads
        # a gate interval later. So the spike lands between the two.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(
                r["operation"] == "GetMetricData" and bool(r["status"]) for r in sandbox.requests()) < WINDOWS:
            time.sleep(0.05)  # a real poll: the playbook runs in another process
        _traffic(sandbox, app_id, errors_per_min=150.0, minutes=3)

    spiker = threading.Thread(target=spike_once_the_gate_has_passed)
    spiker.start()
    run = run_playbook("playbooks/shift.yml", extravars={
        "env": "sandbox", **FAST, "traffic_shift_bake_seconds": 120})
    spiker.join()
    assert run.rc != 0
    assert "Traffic shift ABORTED (gate decided rollback: 5XX error rate" in " ".join(run.stdout.split())
    assert _mapping(sandbox, app_id) == {"": "production", "www": "production"}
    evaluations = run.result("Bake and gate at 100")["evaluations"]
    # The first evaluation that could see the spike decided rollback: healthy until then.
    assert [e["decision"] for e in evaluations[:-1]] == ["healthy"] * (len(evaluations) - 1)
    assert evaluations[-1]["decision"] == "rollback" and len(evaluations) >= 2
    assert run.result("Point the domain back at the blue branch")["verified"] is True
    events = _events(sqs, url)
    assert [e["event"] for e in events] == ["shift_aborted"]
    assert events[0]["severity"] == "critical"
    assert [c["role"] for c in events[0]["escalate_to"]][0] == "DevOps Lead"


def test_p99_over_threshold_alerts_and_holds_then_abort_by_decision(sandbox, run_playbook):
    app_id, sqs, url = _estate(sandbox)
    _traffic(sandbox, app_id, latency_ms=4500.0)
    run = run_playbook("playbooks/shift.yml", extravars={
        "env": "sandbox", **FAST, "traffic_shift_bake_seconds": 30})
    assert run.rc != 0
    text = " ".join(run.stdout.split())
    assert "Traffic shift HELD at 100% green: gate decided alert (Latency p99: 4500 > 3000 over 300s)" in text
    assert "re-run with -e shift_decision=continue or -e shift_decision=abort" in text
    assert _mapping(sandbox, app_id) == {"": "green", "www": "green"}  # held where it is
    assert [(e["event"], e["severity"]) for e in _events(sqs, url)] == [("shift_held", "warning")]

    aborted = run_playbook("playbooks/shift.yml", extravars={"env": "sandbox", **FAST, "shift_decision": "abort"})
    assert aborted.rc != 0
    assert "aborted by decision" in aborted.stdout
    assert _mapping(sandbox, app_id) == {"": "production", "www": "production"}
    assert [e["event"] for e in _events(sqs, url)] == ["shift_aborted"]


def test_no_data_is_inconclusive_and_continue_finishes(sandbox, run_playbook):
    app_id, sqs, url = _estate(sandbox)
    run = run_playbook("playbooks/shift.yml", extravars={
        "env": "sandbox", **FAST, "traffic_shift_bake_seconds": 10})
    assert run.rc != 0
    assert "gate decided inconclusive" in " ".join(run.stdout.split())
    assert run.result("Bake and gate at 100")["evaluations"] == [
        {"elapsed": run.result("Bake and gate at 100")["evaluations"][0]["elapsed"], "decision": "inconclusive"}]
    assert _mapping(sandbox, app_id) == {"": "green", "www": "green"}

    seq = sandbox.last_seq()
    resumed = run_playbook("playbooks/shift.yml", extravars={"env": "sandbox", **FAST, "shift_decision": "continue"})
    assert resumed.rc == 0, resumed.stdout
    # Already green: the re-run changes no routing and evaluates no gate.
    assert not [r for r in sandbox.mutating_since(seq) if r["service"] == "amplify"]
    assert [e["event"] for e in _events(sqs, url)] == ["shift_held", "shift_step"]


def test_bad_triggers_are_rejected_before_traffic_moves(sandbox, run_playbook):
    app_id = _estate(sandbox)[0]
    seq = sandbox.last_seq()
    bad = [{"name": "rate", "action": "rollback", "threshold": 5, "window": 300,
            "metric": {"namespace": "A", "name": "x", "statistic": "Median"}}]
    run = run_playbook("playbooks/shift.yml", extravars={"env": "sandbox", "rollback_triggers": bad})
    assert run.rc != 0
    assert "unknown statistic 'Median'" in run.stdout
    assert sandbox.mutating_since(seq) == []
    assert _mapping(sandbox, app_id) == {"": "production", "www": "production"}
