"""playbooks/shift.yml with a weighted layer: Route 53 weighted records moved in steps, a gate
per step, the Amplify domain switched at 100 %, abort back to blue, hold and resume."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.integration.test_shift import DOMAIN, _estate, _mapping, _traffic

RECORD = "app.prop-ie-app.com"
BLUE_CF, GREEN_CF = "d111blue.cloudfront.net", "d222green.cloudfront.net"
LAYER = {"zone": DOMAIN, "record": RECORD, "type": "CNAME", "ttl": 60,
         "blue_value": BLUE_CF, "green_value": GREEN_CF, "steps": [10, 50, 100]}
FAST = {"env": "sandbox", "shift_decision": "", "traffic_shift_gate_interval": 2,
        "traffic_shift_domain_delay": 1, "rollback_weighted_layer": LAYER}
BLUE_ONLY = {"": "production", "www": "production"}
GREEN_ONLY = {"": "green", "www": "green"}


def _zone(sandbox, weights=(100, 0)):
    """The env's own weighted layer: blue and green CloudFront names behind one host name."""
    r53 = sandbox.boto3_client("route53")
    zone_id = r53.create_hosted_zone(Name=DOMAIN, CallerReference="shift")["HostedZone"]["Id"]
    changes = [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": RECORD, "Type": "CNAME", "TTL": 60, "SetIdentifier": ident, "Weight": weight,
        "ResourceRecords": [{"Value": value}]}}
        for ident, value, weight in (("blue", BLUE_CF, weights[0]), ("green", GREEN_CF, weights[1]))]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id


def _setup(sandbox, traffic=True):
    """The shift tests' estate plus the weighted layer, with healthy traffic unless told not."""
    app_id, sqs, url = _estate(sandbox)
    _zone(sandbox)
    if traffic:
        _traffic(sandbox, app_id)
    return app_id, sqs, url


def _once_at(percent, sandbox, app_id, **traffic):
    """A GateWatcher callback: publish `traffic` once, when the gate at `percent` % runs."""
    def publish(state):
        if state[1] == percent and not publish.done.is_set():
            publish.done.set()
            _traffic(sandbox, app_id, **traffic)
    publish.done = threading.Event()
    return publish


def _weights(sandbox) -> dict[str, int]:
    r53 = sandbox.boto3_client("route53")
    zone_id = r53.list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"][0]["Id"]
    sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {s["SetIdentifier"]: s["Weight"] for s in sets
            if s["Name"] == RECORD + "." and "SetIdentifier" in s}


class GateWatcher(threading.Thread):
    """Reads the weights and the domain mapping back from the sandbox each time a gate starts
    evaluating (a GetMetricData in the request log): what traffic the gate was judging."""

    def __init__(self, sandbox, app_id, on_gate=None):
        super().__init__(daemon=True)
        self.sandbox, self.app_id, self.on_gate = sandbox, app_id, on_gate
        self.seen: list[tuple[int, int, dict]] = []
        self.stop = threading.Event()
        self.seq = sandbox.last_seq()

    def run(self):
        while not self.stop.is_set():
            new = self.sandbox.requests(self.seq)
            if new:
                self.seq = new[-1]["seq"]
            if any(r["operation"] == "GetMetricData" for r in new):
                weights = _weights(self.sandbox)
                state = (weights.get("blue"), weights.get("green"), _mapping(self.sandbox, self.app_id))
                if not self.seen or self.seen[-1] != state:
                    self.seen.append(state)
                if self.on_gate:
                    self.on_gate(state)
            time.sleep(0.05)  # a real poll of the request log: the playbook runs in another process

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


def _events(sqs, url) -> list[dict]:
    """The alerts published since the last call (received and deleted, so never seen twice)."""
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    for message in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in got]


def _gated(run, percent) -> bool:
    """Whether the run evaluated the gate at this step (skipped steps still report the task)."""
    return any(r["_event"] != "runner_on_skipped" for r in run.task_results.get(f"Bake and gate at {percent}", []))


def _ops(sandbox, seq, service):
    return [r["operation"] for r in sandbox.mutating_since(seq) if r["service"] == service]


def test_healthy_weighted_shift_goes_10_50_100_and_switches_the_domain_at_100(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox)
    # Route 53 throttles: the route53 module retries and the shift goes on.
    sandbox.add_fault(service="route53", operation="ChangeResourceRecordSets",
                      error_code="Throttling", http_status=400, count=2)
    with GateWatcher(sandbox, app_id) as watcher:
        run = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 4})
    assert run.rc == 0, run.stdout
    # Each gate judged the step's weights; the domain stayed on blue until the 100 % step.
    assert watcher.seen == [(90, 10, BLUE_ONLY), (50, 50, BLUE_ONLY), (0, 100, GREEN_ONLY)]
    for percent in (10, 50, 100):
        gate = run.result(f"Bake and gate at {percent}")
        assert gate["decision"] == "healthy" and len(gate["evaluations"]) >= 2
    assert _weights(sandbox) == {"blue": 0, "green": 100}
    assert _mapping(sandbox, app_id) == GREEN_ONLY
    events = _events(sqs, url)
    assert [e["event"] for e in events] == ["shift_step"]
    # The incident record carries the weights the role read back from Route 53 at each step.
    assert [(s["percent"], s["weights"], s["decision"]) for s in events[0]["details"]["steps"]] == [
        (10, {"blue": 90, "green": 10}, "healthy"), (50, {"blue": 50, "green": 50}, "healthy"),
        (100, {"blue": 0, "green": 100}, "healthy")]

    # Done: a check-mode re-run predicts nothing to change and writes nothing.
    seq = sandbox.last_seq()
    again = run_playbook("playbooks/shift.yml", extravars=FAST, check=True)
    assert again.rc == 0, again.stdout
    assert sandbox.mutating_since(seq) == []
    assert "Set the weighted records to green 100%" not in again.changed_tasks


def test_spike_at_50_aborts_weights_back_to_blue_domain_untouched(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox)
    spike = _once_at(50, sandbox, app_id, errors_per_min=150.0, minutes=3)
    seq = sandbox.last_seq()
    with GateWatcher(sandbox, app_id, spike) as watcher:
        run = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 10})
    assert spike.done.is_set() and run.rc != 0
    text = " ".join(run.stdout.split())
    assert "Traffic shift ABORTED (gate decided rollback: 5XX error rate" in text
    assert "weights blue=100 green=0" in text
    assert watcher.seen[:2] == [(90, 10, BLUE_ONLY), (50, 50, BLUE_ONLY)]
    assert [e["decision"] for e in run.result("Bake and gate at 50")["evaluations"]][-1] == "rollback"
    assert not _gated(run, 100)
    assert _weights(sandbox) == {"blue": 100, "green": 0}
    # The domain was never moved: no Amplify write in the whole run.
    assert _mapping(sandbox, app_id) == BLUE_ONLY
    assert _ops(sandbox, seq, "amplify") == []
    events = _events(sqs, url)
    assert [(e["event"], e["severity"]) for e in events] == [("shift_aborted", "critical")]
    assert events[0]["details"]["weights"] == {"blue": 100, "green": 0}
    assert events[0]["details"]["steps"][-1]["percent"] == 50


def test_hold_at_10_then_continue_resumes_at_50_not_10(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox, traffic=False)
    # No metrics yet: the gate at 10 % cannot judge and holds.
    held = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 10})
    assert held.rc != 0
    assert "Traffic shift HELD at 10% green: gate decided inconclusive" in " ".join(held.stdout.split())
    assert _weights(sandbox) == {"blue": 90, "green": 10}
    assert _mapping(sandbox, app_id) == BLUE_ONLY
    assert [(e["event"], e["details"]["weights"]) for e in _events(sqs, url)] == [
        ("shift_held", {"blue": 90, "green": 10})]

    _traffic(sandbox, app_id)
    with GateWatcher(sandbox, app_id) as watcher:
        resumed = run_playbook("playbooks/shift.yml", extravars={
            **FAST, "shift_decision": "continue", "traffic_shift_bake_seconds": 4})
    assert resumed.rc == 0, resumed.stdout
    assert "green has 10% of traffic now (weights blue=90 green=10)" in " ".join(resumed.stdout.split())
    # The held 10 % step was accepted, not re-gated; 50 % and 100 % were gated.
    assert not _gated(resumed, 10) and _gated(resumed, 50) and _gated(resumed, 100)
    assert watcher.seen == [(50, 50, BLUE_ONLY), (0, 100, GREEN_ONLY)]
    assert _weights(sandbox) == {"blue": 0, "green": 100}
    assert _mapping(sandbox, app_id) == GREEN_ONLY
    assert [e["event"] for e in _events(sqs, url)] == ["shift_step"]


def test_hold_at_10_then_abort_by_decision_puts_blue_back(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox, traffic=False)
    held = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 10})
    assert held.rc != 0 and _weights(sandbox) == {"blue": 90, "green": 10}
    assert [e["event"] for e in _events(sqs, url)] == ["shift_held"]

    seq = sandbox.last_seq()
    aborted = run_playbook("playbooks/shift.yml", extravars={**FAST, "shift_decision": "abort"})
    assert aborted.rc != 0
    assert ("Traffic shift ABORTED (aborted by decision (traffic_shift_decision=abort)); traffic is back"
            " on production (verified: True, weights blue=100 green=0)") in " ".join(aborted.stdout.split())
    assert _weights(sandbox) == {"blue": 100, "green": 0}
    assert _mapping(sandbox, app_id) == BLUE_ONLY
    # No gate, no Amplify write (the domain was never moved); only the records and the alert.
    assert not any(_gated(aborted, p) for p in (10, 50, 100))
    assert {(r["service"], r["operation"]) for r in sandbox.mutating_since(seq)} == {
        ("route53", "ChangeResourceRecordSets"), ("sns", "Publish")}
    events = _events(sqs, url)
    assert [(e["event"], e["severity"]) for e in events] == [("shift_aborted", "critical")]
    assert events[0]["details"]["weights"] == {"blue": 100, "green": 0}


def test_hold_at_50_rerun_keeps_50_and_continue_gates_the_next_step(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox)
    with GateWatcher(sandbox, app_id, _once_at(50, sandbox, app_id, latency_ms=4500.0, minutes=3)):
        held = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 10})
    assert held.rc != 0
    assert "Traffic shift HELD at 50% green: gate decided alert (Latency p99" in " ".join(held.stdout.split())
    assert _weights(sandbox) == {"blue": 50, "green": 50}

    # No decision yet: the re-run re-gates where traffic is (50 %), it never drops back to 10 %.
    seq = sandbox.last_seq()
    again = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 4})
    assert again.rc != 0 and "HELD at 50% green" in " ".join(again.stdout.split())
    assert not _gated(again, 10) and _gated(again, 50)
    assert _ops(sandbox, seq, "route53") == [] and _weights(sandbox) == {"blue": 50, "green": 50}

    # continue accepts 50 % only: 100 % is gated again and holds on the same alert.
    with GateWatcher(sandbox, app_id) as watcher:
        cont = run_playbook("playbooks/shift.yml", extravars={
            **FAST, "shift_decision": "continue", "traffic_shift_bake_seconds": 4})
    assert cont.rc != 0 and "HELD at 100% green" in " ".join(cont.stdout.split())
    assert watcher.seen == [(0, 100, GREEN_ONLY)]

    # A second continue accepts 100 %: the shift completes without another write or gate.
    seq = sandbox.last_seq()
    done = run_playbook("playbooks/shift.yml", extravars={**FAST, "shift_decision": "continue"})
    assert done.rc == 0, done.stdout
    assert [r for r in sandbox.mutating_since(seq) if r["service"] != "sns"] == []
    assert not _gated(done, 100)
    assert [e["event"] for e in _events(sqs, url)] == ["shift_held", "shift_held", "shift_held", "shift_step"]


# Each validation message is a unit test of shift_layer_problems (tests/unit/test_shift_plan.py);
# here one of them, then what only a run shows: the role's argument spec (an unknown key, a bad
# type) and Route 53 (a zone that does not exist), each refused before anything changes.
BAD_LAYERS = {
    "missing zone": ({k: v for k, v in LAYER.items() if k != "zone"}, "zone is required"),
    "unknown key": ({**LAYER, "weights": [90, 10]}, "weights"),
    "bad type": ({**LAYER, "type": "TXT"}, "TXT"),
    "zone not in Route 53": ({**LAYER, "zone": "example.net", "record": "app.example.net"},
                             "Zone example.net. does not exist in Route53"),
}


@pytest.mark.parametrize("case", list(BAD_LAYERS))
def test_bad_weighted_settings_are_rejected_before_anything_changes(sandbox, run_playbook, case):
    _setup(sandbox)
    layer, message = BAD_LAYERS[case]
    seq = sandbox.last_seq()
    run = run_playbook("playbooks/shift.yml", extravars={**FAST, "rollback_weighted_layer": layer})
    assert run.rc != 0
    assert message in " ".join(run.stdout.split())
    assert sandbox.mutating_since(seq) == []
    assert _weights(sandbox) == {"blue": 100, "green": 0}


def test_check_mode_predicts_the_steps_and_changes_nothing(sandbox, run_playbook):
    app_id, sqs, url = _setup(sandbox)
    seq = sandbox.last_seq()
    run = run_playbook("playbooks/shift.yml", extravars={**FAST, "traffic_shift_bake_seconds": 600},
                       check=True, diff=True)
    assert run.rc == 0, run.stdout
    assert sandbox.mutating_since(seq) == []
    assert _weights(sandbox) == {"blue": 100, "green": 0}
    assert _mapping(sandbox, app_id) == BLUE_ONLY
    # Each step's change is predicted, and each gate evaluated once instead of baking.
    assert {"Set the weighted records to green 10%", "Set the weighted records to green 50%",
            "Point the domain at the green branch"} <= set(run.changed_tasks)
    assert [len(run.result(f"Bake and gate at {p}")["evaluations"]) for p in (10, 50, 100)] == [1, 1, 1]
    assert _events(sqs, url) == []
